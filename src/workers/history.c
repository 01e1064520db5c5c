/*
 * history.c — the daily history worker loop (see history.h). Sleeps on a condition variable
 * until the next sample is due (the interval, or the first second of the next UTC day when that
 * comes sooner), so history_stop wakes it at once. A failed sample is logged and retried at the
 * next one. Takes its own lock only for the stopping flag (a leaf).
 */
#include "workers/history.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "core/messaging/daily_history.h"
#include "util/log.h"
#include "util/timeutil.h"

struct history {
    struct app *app;
    int64_t interval_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping; /* under lock */
};

static void sample(struct app *app, int64_t t0) {
    enum cd_err err = daily_history_sample(app, t0);
    if (err != CD_OK)
        log_warn("history", "op=sample result=%s", cd_err_name(err));
    else
        log_debug("history", "op=sample ms=%lld", (long long)(time_now_ms() - t0));
}

void history_sample_now(struct app *app) {
    sample(app, time_now_ms());
}

/* Waits for the next sample (the start's was taken by history_sample_now), takes it, again. */
static void *run(void *arg) {
    struct history *h = arg;
    int64_t t0 = time_now_ms();
    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        int64_t next = t0 + h->interval_ms;
        int64_t midnight = (t0 / DAILY_HISTORY_DAY_MS + 1) * DAILY_HISTORY_DAY_MS + 1000;
        if (midnight < next)
            next = midnight;
        struct timespec until = {(time_t)(next / 1000), (long)(next % 1000) * 1000000L};
        int rc = 0;
        while (!h->stopping && rc == 0)
            rc = pthread_cond_timedwait(&h->wake, &h->lock, &until);
        if (h->stopping)
            break;
        pthread_mutex_unlock(&h->lock);
        t0 = time_now_ms();
        sample(h->app, t0);
        pthread_mutex_lock(&h->lock);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

struct history *history_start(struct app *app, int64_t interval_ms) {
    if (interval_ms < 1)
        return NULL;
    struct history *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->app = app;
    h->interval_ms = interval_ms;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->wake, NULL);
    if (pthread_create(&h->thread, NULL, run, h) != 0) {
        pthread_cond_destroy(&h->wake);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return NULL;
    }
    return h;
}

void history_stop(struct history *h) {
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    pthread_cond_signal(&h->wake);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->thread, NULL);
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
