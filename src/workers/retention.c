/*
 * retention.c — the retention worker loop (see retention.h). One pass prunes each table whose
 * retention is not 0, RETENTION_BATCH rows per store call (one transaction each), until a call
 * finds fewer rows than that, an error, or a stop. Heap page records go before the sync records
 * (a sync record takes its pages along anyway). The thread is a periodic.h one, so
 * retention_stop ends its wait at once.
 *
 * May touch the store (its retention ops), metrics and the log. Cost: a pass with nothing to
 * delete is a few indexed reads per workspace on a read connection.
 */
#include "workers/retention.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"
#include "workers/periodic.h"

#define METRIC_DELETED "cohortd_retention_deleted_rows_total"

static const char *const table_names[STORE_PRUNE_N_TABLES] = {
    [STORE_PRUNE_OUTBOX] = "outbox",
    [STORE_PRUNE_DELIVERIES] = "deliveries",
    [STORE_PRUNE_DEAD_LETTERS] = "dead_letters",
    [STORE_PRUNE_HEAP_PAGES] = "heap_pages",
    [STORE_PRUNE_HEAP_SYNCS] = "heap_syncs",
};

struct retention {
    struct store *store;
    struct retention_config cfg;
    struct periodic *thread;
};

/* The rule of table at time now, or false when the table is kept forever. */
static bool rule_of(const struct retention_config *cfg, enum store_prune_table table, int64_t now,
                    struct store_prune_rule *rule) {
    int64_t keep = 0;
    switch (table) {
    case STORE_PRUNE_OUTBOX:
        keep = cfg->outbox_ms;
        break;
    case STORE_PRUNE_DELIVERIES:
        keep = cfg->deliveries_ms;
        break;
    case STORE_PRUNE_DEAD_LETTERS:
        keep = cfg->dead_letters_ms;
        break;
    case STORE_PRUNE_HEAP_PAGES:
    case STORE_PRUNE_HEAP_SYNCS:
        keep = cfg->heap_pages_ms;
        break;
    }
    if (keep <= 0)
        return false;
    int64_t idle = keep > cfg->currents_horizon_ms ? keep : cfg->currents_horizon_ms;
    *rule = (struct store_prune_rule){
        .before = now - keep, .idle_before = now - idle, .keep = cfg->heap_syncs_keep};
    return true;
}

/* One pass of thread p; deleted[] gets the rows deleted per table. */
static void pass(struct periodic *p, struct retention *r, int64_t *deleted) {
    const struct store_ops *ops = STORE_OPS(r->store);
    int64_t now = time_now_ms();
    if (!ops->retention) /* a backend without retention keeps everything */
        return;
    if (r->cfg.should_run && !r->cfg.should_run(r->cfg.should_run_ctx))
        return; /* another node prunes the shared store */
    for (int t = 0; t < STORE_PRUNE_N_TABLES && !periodic_stopping(p); t++) {
        struct store_prune_rule rule;
        if (!rule_of(&r->cfg, (enum store_prune_table)t, now, &rule))
            continue;
        int64_t n = 0;
        do {
            enum cd_err err = ops->retention->prune(r->store, (enum store_prune_table)t, &rule,
                                                    RETENTION_BATCH, &n);
            if (err != CD_OK) {
                log_warn("retention", "table=%s error=%s result=retry_next_pass", table_names[t],
                         cd_err_name(err));
                break;
            }
            deleted[t] += n;
            if (n > 0) {
                char labels[64];
                snprintf(labels, sizeof labels, "table=\"%s\"", table_names[t]);
                metrics_add(METRIC_DELETED, labels, (double)n);
            }
        } while (n == RETENTION_BATCH && !periodic_stopping(p));
    }
}

/* A pass and its log line, then one interval (from its end) before the next. */
static int64_t run(struct periodic *p, void *arg) {
    struct retention *r = arg;
    int64_t t0 = time_now_ms(), deleted[STORE_PRUNE_N_TABLES] = {0}, total = 0;
    pass(p, r, deleted);
    for (int t = 0; t < STORE_PRUNE_N_TABLES; t++)
        total += deleted[t];
    if (total > 0)
        log_info("retention",
                 "deleted outbox=%lld deliveries=%lld dead_letters=%lld heap_pages=%lld "
                 "heap_syncs=%lld ms=%lld",
                 (long long)deleted[STORE_PRUNE_OUTBOX], (long long)deleted[STORE_PRUNE_DELIVERIES],
                 (long long)deleted[STORE_PRUNE_DEAD_LETTERS],
                 (long long)deleted[STORE_PRUNE_HEAP_PAGES],
                 (long long)deleted[STORE_PRUNE_HEAP_SYNCS], (long long)(time_now_ms() - t0));
    return r->cfg.interval_ms;
}

struct retention *retention_start(struct store *s, const struct retention_config *cfg) {
    if (cfg->interval_ms < 1)
        return NULL;
    struct retention *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->store = s;
    r->cfg = *cfg;
    metrics_describe(METRIC_DELETED, METRIC_COUNTER,
                     "rows deleted by retention, by table (outbox, deliveries, dead_letters, "
                     "heap_pages, heap_syncs)");
    for (int t = 0; t < STORE_PRUNE_N_TABLES; t++) { /* every series exists from the start */
        char labels[64];
        snprintf(labels, sizeof labels, "table=\"%s\"", table_names[t]);
        metrics_add(METRIC_DELETED, labels, 0);
    }
    r->thread = periodic_start("cd-retention", r->cfg.interval_ms, run,
                               r); /* the first pass one interval on */
    if (!r->thread) {
        free(r);
        return NULL;
    }
    return r;
}

void retention_stop(struct retention *r) {
    if (!r)
        return;
    periodic_join(r->thread);
    free(r);
}
