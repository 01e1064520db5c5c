/*
 * dispatcher.h — delivery of outbox events to every Current (CONTRACT.md §4): one background
 * thread reads each active Current's events after its position, batches them as
 * {"events":[…]}, POSTs the batches concurrently with libcurl's multi interface (one reused
 * connection per Current), and applies the retry rules per status. Each Current moves on its
 * own: a slow endpoint delays only its own Current. Any number of Currents is served. A
 * position moves only after a 2xx was recorded or the events became dead letters (in the same
 * store transaction), so delivery is at-least-once across crashes and store failures, and event
 * ids never change.
 */
#ifndef COHORTD_WORKERS_DISPATCHER_H
#define COHORTD_WORKERS_DISPATCHER_H

#include <stdint.h>

#include "store/store.h"

struct currents_config {
    int64_t poll_ms;         /* how often idle Currents look for new events */
    int64_t retry_base_ms;   /* first backoff after 5xx / 429 / network errors */
    int64_t retry_max_ms;    /* backoff cap */
    int64_t auth_retry_ms;   /* retry delay after 401 / 403 / 404 (jittered up to 2.5x) */
    int64_t horizon_ms;      /* undeliverable this long → dead letter (default 24 h) */
    int64_t auth_horizon_ms; /* the same for auth failures (default 48 h) */
    int64_t timeout_ms;      /* one request, connecting included */
    /* Several nodes on one store: whether this node owns workspace ws (only its Currents are
     * delivered here; core/workspace/leases.h). NULL: every workspace is this node's. */
    bool (*owns)(void *ctx, int64_t ws);
    /* Several nodes: called first in every transaction that moves a Current's position or
     * counters (a delivery recorded, dead letters, a skip): CD_OK while this node still holds
     * ws's lease, which then cannot change hands before the commit; otherwise the transaction
     * is rolled back and the new owner sends the batch again. NULL: no check. */
    enum cd_err (*check_lease)(void *ctx, struct store_txn *t, int64_t ws);
    void *owns_ctx;
};

struct currents;

/* Starts the dispatcher thread over the store (borrowed). NULL when it cannot start. */
struct currents *currents_start(struct store *s, const struct currents_config *cfg);
/* Stops the thread and frees everything. Requests still in flight are abandoned: their
 * positions did not move, so their events are sent again after the next start. */
void currents_stop(struct currents *c);

#endif
