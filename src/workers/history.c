/*
 * history.c — the daily history worker loop (see history.h). Its periodic.h thread waits
 * until the next sample is due (the interval, or the first second of the next UTC day when that
 * comes sooner), so history_stop ends the wait at once. A failed sample is logged and retried
 * at the next one.
 */
#include "workers/history.h"

#include <stdlib.h>

#include "core/messaging/daily_history.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "workers/periodic.h"

struct history {
    struct app *app;
    int64_t interval_ms;
    struct periodic *thread;
};

static void sample(struct app *app, int64_t t0) {
    enum cd_err err = daily_history_sample(app, t0);
    if (err != CD_OK)
        log_warn("history", "op=sample result=%s", cd_err_name(err));
    else
        log_debug("history", "op=sample ms=%lld", (long long)(time_now_ms() - t0));
}

/* When the sample after one taken (or a start) at t0 is due: one interval later, or the first
 * second of the next UTC day when that comes sooner. */
static int64_t next_due(const struct history *h, int64_t t0) {
    int64_t next = t0 + h->interval_ms;
    int64_t midnight = (t0 / DAILY_HISTORY_DAY_MS + 1) * DAILY_HISTORY_DAY_MS + 1000;
    return midnight < next ? midnight : next;
}

/* Takes a sample and says how long until the next (the last is history_stop's). */
static int64_t run(struct periodic *p, void *arg) {
    (void)p;
    struct history *h = arg;
    int64_t t0 = time_now_ms();
    sample(h->app, t0);
    return next_due(h, t0) - time_now_ms();
}

struct history *history_start(struct app *app, int64_t interval_ms) {
    if (interval_ms < 1)
        return NULL;
    struct history *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->app = app;
    h->interval_ms = interval_ms;
    int64_t t0 = time_now_ms();
    h->thread = periodic_start("cd-history", next_due(h, t0) - t0, run, h);
    if (!h->thread) {
        free(h);
        return NULL;
    }
    return h;
}

void history_stop(struct history *h) {
    if (!h)
        return;
    periodic_join(h->thread);
    sample(h->app, time_now_ms()); /* the day's last values, however short the run was */
    free(h);
}
