/*
 * snapshotter.c — the snapshot worker loop (see snapshotter.h). A pass walks the registry and
 * asks core to save each workspace (workspace_snapshot_save decides whether memory changed);
 * the thread is a periodic.h one, so snapshotter_stop ends its wait at once.
 */
#include "workers/snapshotter.h"

#include <stdbool.h>
#include <stdlib.h>

#include "core/workspace/auth.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"
#include "workers/periodic.h"

struct snapshotter {
    struct app *app;
    int64_t interval_ms;
    struct periodic *thread;
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

/* A pass, then one interval (from its end) before the next. */
static int64_t run(struct periodic *p, void *arg) {
    (void)p;
    struct snapshotter *w = arg;
    pass(w->app);
    return w->interval_ms;
}

void snapshotter_pass(struct app *app) {
    pass(app);
}

struct snapshotter *snapshotter_start(struct app *app, int64_t interval_ms, int64_t first_ms) {
    struct snapshotter *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->app = app;
    w->interval_ms = interval_ms > 0 ? interval_ms : 1;
    metrics_describe("cohortd_snapshot_writes_total", METRIC_COUNTER,
                     "start-up snapshots written (result=written) or not (result=failed)");
    w->thread = periodic_start("cd-snapshot", first_ms, run, w);
    if (!w->thread) {
        free(w);
        return NULL;
    }
    return w;
}

void snapshotter_stop(struct snapshotter *w) {
    if (!w)
        return;
    periodic_join(w->thread);
    free(w);
}
