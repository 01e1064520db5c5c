/*
 * sender.h — the webhook sender: one background thread that starts due dispatches
 * (core/campaign_run.h), sends one personalised request per recipient through libcurl's multi
 * interface with bounded concurrency and each campaign's rate limit, and retries anything but a
 * 2xx with exponential backoff; a second thread (outcome_recorder.h) records every outcome with
 * its message event, so sending never waits for the store.
 *
 * Stopping lets the requests in flight finish and records them, so a graceful restart neither
 * skips nor repeats a recipient. After a crash, a request whose answer arrived but was not yet
 * recorded is sent again (at-least-once); every attempt carries the same Idempotency-Key header
 * so a receiver can drop the repeat.
 */
#ifndef COHORTD_WORKERS_SENDER_H
#define COHORTD_WORKERS_SENDER_H

#include <stdint.h>

#include "core/workspace/workspace.h"

struct sender_config {
    int64_t poll_ms;       /* how often due dispatches are looked for */
    int concurrency;       /* requests in flight at once, all campaigns together */
    int max_attempts;      /* attempts per recipient before the send fails */
    int64_t retry_base_ms; /* first retry delay; doubled on each attempt */
    int64_t timeout_ms;    /* one request */
};

struct sender;

/* Starts the thread over app (borrowed). NULL when it cannot start. */
struct sender *sender_start(struct app *app, const struct sender_config *cfg);
/* Stops taking new sends, waits for the requests in flight, records them, frees everything. */
void sender_stop(struct sender *s);

#endif
