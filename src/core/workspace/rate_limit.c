/*
 * rate_limit.c — fixed-window request counters per REST API key (see rate_limit.h). A key's id
 * maps (strmap) to a slot of a growable array; a slot holds its limit, period, window start and
 * count. Everything is under one mutex, held only for the lookup and the count: no store call,
 * no allocation but the growth when a key is first seen. Memory: one slot (~40 bytes plus the
 * id) per rate-limited key used since the start; keys are created by operators, so their number
 * is small, and a revoked key's slot simply stays.
 */
#include "core/workspace/rate_limit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/index/strmap.h"

struct window {
    int64_t limit;
    int64_t period_s;
    int64_t start_s; /* UNIX seconds, a multiple of period_s */
    int64_t count;
};

struct rate_limiter {
    pthread_mutex_t lock;
    struct strmap ids; /* key id -> index in windows */
    struct window *windows;
    size_t n_windows;
    size_t windows_cap;
};

struct rate_limiter *rate_limiter_new(void) {
    struct rate_limiter *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    pthread_mutex_init(&rl->lock, NULL);
    strmap_init(&rl->ids);
    return rl;
}

void rate_limiter_free(struct rate_limiter *rl) {
    if (!rl)
        return;
    strmap_free(&rl->ids);
    free(rl->windows);
    pthread_mutex_destroy(&rl->lock);
    free(rl);
}

/* The window of id, added when new; NULL when memory ran out. Caller holds the lock. */
static struct window *window_of(struct rate_limiter *rl, const char *id) {
    size_t len = strlen(id);
    uint32_t at;
    if (strmap_get(&rl->ids, id, len, &at))
        return &rl->windows[at];
    if (rl->n_windows == rl->windows_cap) {
        size_t cap = rl->windows_cap ? rl->windows_cap * 2 : 16;
        struct window *w = realloc(rl->windows, cap * sizeof *w);
        if (!w)
            return NULL;
        rl->windows = w;
        rl->windows_cap = cap;
    }
    if (rl->n_windows >= UINT32_MAX || strmap_put(&rl->ids, id, len, (uint32_t)rl->n_windows) != 0)
        return NULL;
    struct window *w = &rl->windows[rl->n_windows++];
    memset(w, 0, sizeof *w);
    return w;
}

bool rate_limiter_take(struct rate_limiter *rl, const char *id, int64_t limit, int64_t period_s,
                       int64_t now_ms, struct rate_state *st) {
    if (period_s < 1)
        period_s = 1;
    int64_t now_s = now_ms / 1000;
    int64_t start = now_s - now_s % period_s;
    st->limit = limit;
    st->reset_s = start + period_s;
    pthread_mutex_lock(&rl->lock);
    struct window *w = window_of(rl, id);
    bool ok = false;
    if (w) {
        if (w->start_s != start || w->limit != limit || w->period_s != period_s) {
            w->limit = limit;
            w->period_s = period_s;
            w->start_s = start;
            w->count = 0;
        }
        ok = w->count < limit;
        if (ok)
            w->count++;
        st->remaining = limit - w->count;
    } else {
        st->remaining = 0;
    }
    pthread_mutex_unlock(&rl->lock);
    return ok;
}
