/*
 * snapshotter.c — the snapshot worker loop (see snapshotter.h). A pass walks the registry and
 * asks core to save each workspace (workspace_snapshot_save decides whether memory changed);
 * it sleeps on a condition variable between passes, so snapshotter_stop wakes it at once.
 * Takes its own lock only for the stopping flag (a leaf).
 */
#include "workers/snapshotter.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "core/workspace/auth.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"

struct snapshotter {
    struct app *app;
    int64_t interval_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping; /* under lock */
};

static void pass(struct app *app) {
    size_t n = 0;
    struct workspace **v = app_workspaces(app, &n);
    for (size_t i = 0; i < n; i++) {
        int64_t t0 = time_now_ms();
        bool written = false;
        uint64_t bytes = 0;
        char why[512] = "";
        enum cd_err err = workspace_snapshot_save(app, v[i], &written, &bytes, why, sizeof why);
        if (err != CD_OK) {
            metrics_add("cohortd_snapshot_writes_total", "result=\"failed\"", 1);
            log_warn("snapshot", "op=write workspace=%s result=%s reason=\"%s\"",
                     workspace_public_id(v[i]), cd_err_name(err), why);
        } else if (written) {
            metrics_add("cohortd_snapshot_writes_total", "result=\"written\"", 1);
            log_info("snapshot", "op=write workspace=%s result=written bytes=%llu ms=%lld",
                     workspace_public_id(v[i]), (unsigned long long)bytes,
                     (long long)(time_now_ms() - t0));
        }
    }
    free(v);
}

static void *run(void *arg) {
    struct snapshotter *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        pthread_mutex_unlock(&w->lock);
        pass(w->app);
        pthread_mutex_lock(&w->lock);
        int64_t next = time_now_ms() + w->interval_ms;
        struct timespec until = {(time_t)(next / 1000), (long)(next % 1000) * 1000000L};
        int rc = 0;
        while (!w->stopping && rc == 0)
            rc = pthread_cond_timedwait(&w->wake, &w->lock, &until);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

struct snapshotter *snapshotter_start(struct app *app, int64_t interval_ms) {
    struct snapshotter *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->app = app;
    w->interval_ms = interval_ms > 0 ? interval_ms : 1;
    metrics_describe("cohortd_snapshot_writes_total", METRIC_COUNTER,
                     "start-up snapshots written (result=written) or not (result=failed)");
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    if (pthread_create(&w->thread, NULL, run, w) != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    return w;
}

void snapshotter_stop(struct snapshotter *w) {
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
