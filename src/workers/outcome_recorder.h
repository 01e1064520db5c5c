/*
 * outcome_recorder.h — the webhook sender's recording thread: it records the sender's finished
 * outcomes (campaign_record) and ends its complete steps (campaign_step_done), in the order they
 * were handed over, so the sending thread never waits for a store write or its sync.
 *
 * The sender hands over jobs (recorder_push) and takes them back once done
 * (recorder_take_done), both on its own thread: everything a job points to (the run, the
 * outcomes and the requests they name) belongs to the sender and must stay alive and unchanged
 * until the job is back. While the thread writes one batch, the next ones queue: the jobs of one
 * run waiting together are recorded in one write (up to RECORDER_MERGE_MAX outcomes), so a slow
 * sync makes the next write larger, not later.
 */
#ifndef COHORTD_WORKERS_OUTCOME_RECORDER_H
#define COHORTD_WORKERS_OUTCOME_RECORDER_H

#include <stddef.h>

#include "core/messaging/campaign_run.h"
#include "util/err.h"

#define RECORDER_MERGE_MAX 4096

enum recorder_job_kind {
    RECORDER_RECORD,    /* campaign_record(run, o, n) */
    RECORDER_STEP_DONE, /* campaign_step_done(run, now) */
};

struct recorder_job {
    enum recorder_job_kind kind;
    struct campaign_run *run;  /* borrowed from the sender */
    struct webhook_outcome *o; /* owned by the sender, n of them */
    size_t n;
    void *owner;     /* the sender's own data for this job, untouched */
    enum cd_err err; /* set when done */
    struct recorder_job *next;
};

struct recorder;

/* Starts the thread over app (borrowed); wake(ctx) is called, from the recording thread, each
 * time jobs are done. NULL when it cannot start. */
struct recorder *recorder_start(struct app *app, void (*wake)(void *ctx), void *ctx);
/* Queues job (which stays the caller's) behind the ones pushed before. */
void recorder_push(struct recorder *r, struct recorder_job *job);
/* The jobs done since the last call, in the order they were pushed (a list through next), or
 * NULL. */
struct recorder_job *recorder_take_done(struct recorder *r);
/* Does every job queued, then stops the thread and frees r. Jobs done but not taken are lost to
 * the caller: take them before. */
void recorder_stop(struct recorder *r);

#endif
