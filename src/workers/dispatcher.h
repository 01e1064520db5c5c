/*
 * dispatcher.h — delivery of outbox events to every Current (CONTRACT.md §4): one background
 * thread reads each active Current's events after its position, batches them as
 * {"events":[…]}, POSTs the batches concurrently with libcurl's multi interface (one reused
 * connection per Current), and applies the retry rules per status. A position moves only after
 * a 2xx or a dead letter, so delivery is at-least-once across crashes and event ids never change.
 */
#ifndef COHORTD_WORKERS_DISPATCHER_H
#define COHORTD_WORKERS_DISPATCHER_H

#include <stdint.h>

#include "store/store.h"

struct currents_config {
    int64_t poll_ms;         /* how often idle Currents look for new events */
    int64_t retry_base_ms;   /* first backoff after 5xx / 429 / network errors */
    int64_t retry_max_ms;    /* backoff cap */
    int64_t auth_retry_ms;   /* retry delay after 401 / 403 (jittered up to 2.5x) */
    int64_t horizon_ms;      /* undeliverable this long → dead letter (default 24 h) */
    int64_t auth_horizon_ms; /* the same for auth failures (default 48 h) */
    int64_t timeout_ms;      /* one request */
};

struct currents;

/* Starts the dispatcher thread over the store (borrowed). NULL when it cannot start. */
struct currents *currents_start(struct store *s, const struct currents_config *cfg);
/* Stops the thread after the requests in flight; frees everything. */
void currents_stop(struct currents *c);

#endif
