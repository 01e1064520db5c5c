/*
 * cohorts.c — our own read API over partner cohorts (REST API key):
 * GET /cohorts/list and GET /cohorts/details?partner=P&cohort_id=C (a cohort is named by its id
 * until a name arrives). Reads memory under the
 * workspace read lock, and the unmatched sample and Heap syncs from the store.
 */
#include "api/api.h"

#include <string.h>

#include "core/index/cohort.h"
#include "util/timeutil.h"

static json_t *time_or_null(int64_t ms) {
    if (!ms)
        return json_null();
    char buf[32];
    time_format_iso8601(ms, buf, sizeof buf);
    return json_string(buf);
}

static json_t *cohort_json(const struct cohort *c) {
    return json_pack("{s:s, s:s, s:o, s:I, s:o, s:o, s:I, s:I, s:I}", "partner", c->partner,
                     "cohort_id", c->cohort_id, "name",
                     json_string(c->name ? c->name : c->cohort_id), "size",
                     (json_int_t)roaring_bitmap_get_cardinality(c->members), "created_at",
                     time_or_null(c->created_at), "last_changed_at", time_or_null(c->changed_at),
                     "ids_received", (json_int_t)c->n_ids_received, "ids_matched",
                     (json_int_t)c->n_ids_matched, "ids_unmatched", (json_int_t)c->n_ids_unmatched);
}

void api_cohorts_list(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct workspace *ws = api_auth_rest(ctx, req, NULL, res);
    if (!ws)
        return;
    json_t *arr = json_array();
    workspace_read_begin(ws);
    for (size_t i = 0; i < ws->cohorts.n; i++)
        json_array_append_new(arr, cohort_json(ws->cohorts.v[i]));
    workspace_read_end(ws);
    http_reply_json(res, 200, json_pack("{s:s, s:o}", "message", "success", "cohorts", arr));
}

static void add_miss(void *ctx, const struct cohort_miss_row *r) {
    json_array_append_new(ctx, json_pack("{s:s, s:s, s:o}", "id", r->identifier, "reason",
                                         r->reason, "at", time_or_null(r->at)));
}

static void add_sync(void *ctx, const struct heap_sync_row *r) {
    json_array_append_new(
        ctx, json_pack("{s:s, s:I, s:I, s:o, s:o, s:I, s:I}", "sync_task_id", r->sync_task_id,
                       "pages_seen", (json_int_t)r->pages_seen, "total_pages",
                       (json_int_t)r->total_pages, "started_at", time_or_null(r->started_at),
                       "completed_at", time_or_null(r->completed_at), "ids_to_add",
                       (json_int_t)r->n_added, "ids_to_remove", (json_int_t)r->n_removed));
}

void api_cohorts_details(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct workspace *ws = api_auth_rest(ctx, req, NULL, res);
    if (!ws)
        return;
    const char *partner = http_query(req, "partner");
    const char *cohort_id = http_query(req, "cohort_id");
    if (!partner || !cohort_id) {
        http_reply_message(res, 400, "'partner' and 'cohort_id' query arguments are required");
        return;
    }
    workspace_read_begin(ws);
    struct cohort *c = cohort_find(&ws->cohorts, partner, cohort_id);
    json_t *out = c ? cohort_json(c) : NULL;
    int64_t row_id = c ? c->id : 0;
    workspace_read_end(ws);
    if (!out) {
        http_reply_message(res, 404, "Not Found");
        return;
    }
    struct store *st = ctx->app->store;
    json_t *misses = json_array(), *syncs = json_array();
    enum cd_err err = STORE_OPS(st)->cohorts->misses_list(st, row_id, add_miss, misses);
    if (err == CD_OK && strcmp(partner, "heap") == 0)
        err = STORE_OPS(st)->heap->syncs_of_cohort(st, ws->id, cohort_id, 20, add_sync, syncs);
    json_object_set_new(out, "unmatched_sample", misses);
    if (strcmp(partner, "heap") == 0)
        json_object_set_new(out, "heap_syncs", syncs);
    else
        json_decref(syncs);
    json_object_set_new(out, "message", json_string("success"));
    if (err == CD_OK)
        http_reply_json(res, 200, out);
    else {
        json_decref(out);
        api_reply_err(res, err, NULL);
    }
}
