/*
 * rate_limit.h — the per-key request limiter of REST API keys: N requests per fixed window of
 * a period (a second, minute, hour or day), the windows aligned on the UNIX clock so that a
 * window's end is what Braze's X-RateLimit-Reset names. In memory only (a restart starts every
 * window afresh), one table for the process, thread-safe; a take is O(1) (one hash lookup
 * under one mutex held for a few instructions).
 */
#ifndef COHORTD_CORE_WORKSPACE_RATE_LIMIT_H
#define COHORTD_CORE_WORKSPACE_RATE_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct rate_limiter;

/* The state of a key's window after a take, as the X-RateLimit-* headers report it. */
struct rate_state {
    int64_t limit;     /* requests allowed in the window */
    int64_t remaining; /* left in the window after this request (0 when refused) */
    int64_t reset_s;   /* UNIX seconds at which the window ends */
};

/* A new, empty limiter (NULL when memory ran out); free it with rate_limiter_free. */
struct rate_limiter *rate_limiter_new(void);
void rate_limiter_free(struct rate_limiter *rl);

/*
 * Counts one request of the key `id` against limit requests per period_s seconds at now_ms
 * and fills st. True when the request is within the limit; false when the window is used up
 * (the request is not counted then) or when memory ran out for a key never seen before (then
 * st says 0 remaining). A key whose limit or period changed starts a new window.
 */
bool rate_limiter_take(struct rate_limiter *rl, const char *id, int64_t limit, int64_t period_s,
                       int64_t now_ms, struct rate_state *st);

#endif
