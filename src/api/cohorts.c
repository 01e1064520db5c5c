/*
 * cohorts.c — our own read API over partner cohorts (REST API key):
 * GET /cohorts/list and GET /cohorts/details?partner=P&cohort_id=C (a cohort is named by its id
 * until a name arrives). core copies what it reads (cohort_read.h); this file shapes it.
 */
#include "api/api.h"

#include <string.h>

#include "core/cohorts/cohort_read.h"
#include "util/timeutil.h"

static json_t *time_or_null(int64_t ms) {
    if (!ms)
        return json_null();
    char buf[32];
    time_format_iso8601(ms, buf, sizeof buf);
    return json_string(buf);
}

static json_t *cohort_json(const struct cohort_info *c) {
    return json_pack(
        "{s:s, s:s, s:o, s:I, s:o, s:o, s:I, s:I, s:I}", "partner", c->partner, "cohort_id",
        c->cohort_id, "name", json_string(c->name ? c->name : c->cohort_id), "size",
        (json_int_t)c->size, "created_at", time_or_null(c->created_at), "last_changed_at",
        time_or_null(c->changed_at), "ids_received", (json_int_t)c->n_ids_received, "ids_matched",
        (json_int_t)c->n_ids_matched, "ids_unmatched", (json_int_t)c->n_ids_unmatched);
}

static void add_cohort(void *ctx, const struct cohort_info *info) {
    json_array_append_new(ctx, cohort_json(info));
}

void api_cohorts_list(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct workspace *ws = api_auth_rest(ctx, req, NULL, res);
    if (!ws)
        return;
    json_t *arr = json_array();
    cohort_list(ctx->app, ws, add_cohort, arr);
    http_reply_json(res, 200, json_pack("{s:s, s:o}", "message", "success", "cohorts", arr));
}

static json_t *misses_json(const struct cohort_info *c) {
    json_t *arr = json_array();
    for (size_t i = 0; i < c->n_misses; i++) {
        const struct cohort_miss *m = &c->misses[i];
        json_array_append_new(arr, json_pack("{s:s, s:s, s:o}", "id", m->identifier, "reason",
                                             m->reason, "at", time_or_null(m->at)));
    }
    return arr;
}

static json_t *syncs_json(const struct cohort_info *c) {
    json_t *arr = json_array();
    for (size_t i = 0; i < c->n_syncs; i++) {
        const struct cohort_heap_sync *s = &c->syncs[i];
        json_array_append_new(
            arr, json_pack("{s:s, s:I, s:I, s:o, s:o, s:I, s:I}", "sync_task_id", s->sync_task_id,
                           "pages_seen", (json_int_t)s->pages_seen, "total_pages",
                           (json_int_t)s->total_pages, "started_at", time_or_null(s->started_at),
                           "completed_at", time_or_null(s->completed_at), "ids_to_add",
                           (json_int_t)s->n_added, "ids_to_remove", (json_int_t)s->n_removed));
    }
    return arr;
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
    struct cohort_info c;
    enum cd_err err = cohort_details(ctx->app, ws, partner, cohort_id, &c);
    if (err == CD_E_NOT_FOUND) {
        http_reply_message(res, 404, "Not Found");
        return;
    }
    if (err != CD_OK) {
        api_reply_err(res, err, NULL);
        return;
    }
    json_t *out = cohort_json(&c);
    json_object_set_new(out, "unmatched_sample", misses_json(&c));
    if (strcmp(partner, "heap") == 0)
        json_object_set_new(out, "heap_syncs", syncs_json(&c));
    json_object_set_new(out, "message", json_string("success"));
    cohort_info_free(&c);
    http_reply_json(res, 200, out);
}
