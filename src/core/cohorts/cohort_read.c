/* cohort_read.c — the cohort list and details (see cohort_read.h). */
#include "core/cohorts/cohort_read.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/index/cohort.h"
#include "core/workspace/workspace.h"
#include "core/workspace/workspace_int.h"

static void fill(const struct cohort *c, struct cohort_info *info) {
    *info = (struct cohort_info){
        .partner = c->partner,
        .cohort_id = c->cohort_id,
        .name = c->name,
        .size = roaring_bitmap_get_cardinality(c->members),
        .created_at = c->created_at,
        .changed_at = c->changed_at,
        .n_ids_received = c->n_ids_received,
        .n_ids_matched = c->n_ids_matched,
        .n_ids_unmatched = c->n_ids_unmatched,
    };
}

void cohort_list(struct app *app, struct workspace *ws,
                 void (*cb)(void *ctx, const struct cohort_info *info), void *ctx) {
    (void)app;
    workspace_read_begin(ws);
    for (size_t i = 0; i < ws->cohorts.n; i++) {
        struct cohort_info info;
        fill(ws->cohorts.v[i], &info);
        cb(ctx, &info);
    }
    workspace_read_end(ws);
}

/* Rows copied out of store callbacks; `failed` when memory ran out. */
struct collect {
    struct cohort_info *info;
    bool failed;
};

static void add_miss(void *vctx, const struct cohort_miss_row *r) {
    struct collect *ctx = vctx;
    struct cohort_info *info = ctx->info;
    struct cohort_miss *v = realloc(info->misses, (info->n_misses + 1) * sizeof *v);
    if (!v) {
        ctx->failed = true;
        return;
    }
    info->misses = v;
    struct cohort_miss *m = &v[info->n_misses];
    *m = (struct cohort_miss){strdup(r->identifier), strdup(r->reason), r->at};
    info->n_misses++;
    if (!m->identifier || !m->reason)
        ctx->failed = true;
}

static void add_sync(void *vctx, const struct heap_sync_row *r) {
    struct collect *ctx = vctx;
    struct cohort_info *info = ctx->info;
    struct cohort_heap_sync *v = realloc(info->syncs, (info->n_syncs + 1) * sizeof *v);
    if (!v) {
        ctx->failed = true;
        return;
    }
    info->syncs = v;
    struct cohort_heap_sync *s = &v[info->n_syncs];
    *s = (struct cohort_heap_sync){
        strdup(r->sync_task_id), r->pages_seen, r->total_pages, r->started_at,
        r->completed_at,         r->n_added,    r->n_removed};
    info->n_syncs++;
    if (!s->sync_task_id)
        ctx->failed = true;
}

/* strdup of a string that may be NULL; *failed when memory ran out. */
static char *dup_or_null(const char *s, bool *failed) {
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *failed = true;
    return d;
}

enum cd_err cohort_details(struct app *app, struct workspace *ws, const char *partner,
                           const char *cohort_id, struct cohort_info *out) {
    memset(out, 0, sizeof *out);
    bool failed = false;
    workspace_read_begin(ws);
    const struct cohort *c = cohort_find(&ws->cohorts, partner, cohort_id);
    int64_t row_id = c ? c->id : 0;
    if (c) {
        fill(c, out);
        out->partner = dup_or_null(c->partner, &failed);
        out->cohort_id = dup_or_null(c->cohort_id, &failed);
        out->name = dup_or_null(c->name, &failed);
    }
    workspace_read_end(ws);
    if (!c)
        return CD_E_NOT_FOUND;
    struct store *st = app->store;
    struct collect col = {out, failed};
    enum cd_err err = STORE_OPS(st)->cohorts->misses_list(st, row_id, add_miss, &col);
    if (err == CD_OK && strcmp(partner, "heap") == 0)
        err = STORE_OPS(st)->heap->syncs_of_cohort(st, ws->id, cohort_id, COHORT_DETAILS_SYNCS,
                                                   add_sync, &col);
    if (err == CD_OK && col.failed)
        err = CD_E_NOMEM;
    if (err != CD_OK)
        cohort_info_free(out);
    return err;
}

void cohort_info_free(struct cohort_info *info) {
    free((char *)info->partner);
    free((char *)info->cohort_id);
    free((char *)info->name);
    for (size_t i = 0; i < info->n_misses; i++) {
        free(info->misses[i].identifier);
        free(info->misses[i].reason);
    }
    free(info->misses);
    for (size_t i = 0; i < info->n_syncs; i++)
        free(info->syncs[i].sync_task_id);
    free(info->syncs);
    memset(info, 0, sizeof *info);
}
