/*
 * retention.h — the retention worker: one background thread that, every interval, deletes the
 * outbox events, deliveries, dead letters and Heap sync records older than their retention
 * (store.h's retention ops say which rows no reader needs: those are the only ones that go),
 * in transactions of RETENTION_BATCH rows so a writer never waits long behind it. Counts go to
 * cohortd_retention_deleted_rows_total{table="…"}; a pass that deleted something logs one line.
 */
#ifndef COHORTD_WORKERS_RETENTION_H
#define COHORTD_WORKERS_RETENTION_H

#include <stdint.h>

#include "store/store.h"

/* Rows per delete transaction. */
#define RETENTION_BATCH 1000

struct retention_config {
    /* How long rows are kept, ms; 0 keeps them forever. */
    int64_t outbox_ms;       /* events every live Current of the workspace has passed */
    int64_t deliveries_ms;   /* outcomes of finished dispatches */
    int64_t dead_letters_ms; /* dead letters not queued for replay */
    int64_t heap_pages_ms;   /* Heap page and sync records (the newest syncs of a cohort stay) */
    /* The longest Currents horizon: events of a workspace without a Current are kept at least
     * this long (and at least outbox_ms). */
    int64_t currents_horizon_ms;
    int heap_syncs_keep; /* syncs per cohort always kept (what a cohort's details show) */
    int64_t interval_ms; /* between passes; the first pass runs one interval after start */
    /* Several nodes on one store: whether this node runs the passes now (one node does: the
     * owner of the oldest workspace). NULL: always. */
    bool (*should_run)(void *ctx);
    void *should_run_ctx;
};

struct retention;

/* Starts the thread over the store (borrowed). NULL when it cannot start. */
struct retention *retention_start(struct store *s, const struct retention_config *cfg);
/* Stops the thread (a pass in progress ends after its current transaction) and frees it. */
void retention_stop(struct retention *r);

#endif
