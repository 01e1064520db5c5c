/*
 * heap_webhook.c — POST /heap/webhooks/{integration_id}: Heap's segment.users.sync pages
 * (CONTRACT.md §2). Order of checks: the integration exists (404), the Heap-Hash signature over
 * the raw bytes verifies within the time window (403, never echoing the expected HMAC), the body
 * is a sync page (400 with the reason; other action types are acknowledged with 200 "ignored"
 * and counted, since Heap retries any non-2xx forever). A page is applied in the same
 * transaction that records it, so a page seen before is acknowledged and not applied again, and
 * no 200 is ever sent for a page that is not durable. Too many pages in flight → 429.
 */
#include "api/api.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cohorts/cohort_import.h"
#include "core/cohorts/heap_signature.h"
#include "core/cohorts/heap_sync.h"
#include "util/log.h"
#include "util/timeutil.h"

static atomic_int in_flight;

struct integration {
    int found;
    int64_t id;
    int64_t ws;
    enum heap_mapping mapping;
    char alias_label[256];
    char secret[128];
};

static void copy_integration(void *ctx, const struct heap_integration_row *r) {
    struct integration *in = ctx;
    in->found = 1;
    in->id = r->id;
    in->ws = r->workspace_id;
    in->mapping = r->mapping;
    snprintf(in->alias_label, sizeof in->alias_label, "%s", r->alias_label ? r->alias_label : "");
    snprintf(in->secret, sizeof in->secret, "%s", r->secret);
}

static void reply_error(struct http_response *res, int status, const char *text) {
    http_reply_json(res, status, json_pack("{s:s}", "error", text));
}

/* Turns the page's lists into cohort changes; ids has room for every id of the page. */
static void build_changes(const struct heap_sync_page *p, const struct integration *in,
                          struct cohort_change *changes, struct cohort_ident *ids) {
    size_t n = 0;
    for (int l = 0; l < p->n_lists; l++) {
        struct cohort_ident *start = ids + n;
        size_t i;
        const json_t *v;
        json_array_foreach(p->lists[l].ids, i, v) {
            const char *id = json_string_value(json_object_get(v, "id"));
            if (in->mapping == HEAP_MAP_ALIAS)
                ids[n++] = (struct cohort_ident){COHORT_ID_ALIAS, in->alias_label, id};
            else if (in->mapping == HEAP_MAP_DEVICE_ID)
                ids[n++] = (struct cohort_ident){COHORT_ID_DEVICE, id, NULL};
            else
                ids[n++] = (struct cohort_ident){COHORT_ID_EXTERNAL, id, NULL};
        }
        changes[l] = (struct cohort_change){p->lists[l].remove, start, (size_t)(ids + n - start)};
    }
}

/* Applies a page in one write; *duplicate when it was seen before. */
static enum cd_err apply_page(struct api_ctx *ctx, struct workspace *ws,
                              const struct integration *in, const struct heap_sync_page *p,
                              bool *duplicate, struct cohort_apply_result *r) {
    struct store *st = ctx->app->store;
    int64_t now = time_now_ms();
    struct cohort_change changes[2];
    struct cohort_ident *ids = calloc((size_t)(p->n_add + p->n_remove) + 1, sizeof *ids);
    if (!ids)
        return CD_E_NOMEM;
    build_changes(p, in, changes, ids);
    enum cd_err err = workspace_write_begin(ctx->app, ws);
    if (err != CD_OK) {
        free(ids);
        return err;
    }
    *duplicate = false;
    if (p->has_sync_info)
        err = STORE_OPS(st)->heap->page_record(st, in->id, p->sync_task_id, p->cohort_id,
                                               p->page_number, p->total_pages, p->n_add,
                                               p->n_remove, now, duplicate);
    if (err == CD_OK && !*duplicate && p->name)
        err = cohort_name_locked(ctx->app, ws, "heap", p->cohort_id, p->name, now);
    if (err == CD_OK && !*duplicate)
        err = cohort_apply_locked(ctx->app, ws, "heap", p->cohort_id, changes, (size_t)p->n_lists,
                                  now, r);
    err = workspace_write_end(ctx->app, ws, err);
    free(ids);
    return err;
}

static void handle(struct api_ctx *ctx, const struct http_request *req, struct http_response *res) {
    struct store *st = ctx->app->store;
    const char *integration_id = http_param(req, 0);
    struct integration in = {0};
    enum cd_err err = STORE_OPS(st)->heap->get(st, integration_id, copy_integration, &in);
    if (err == CD_E_NOT_FOUND) {
        reply_error(res, 404, "Unknown integration");
        return;
    }
    if (err != CD_OK) {
        reply_error(res, 503, "Service unavailable");
        return;
    }
    size_t len;
    const char *body = http_body(req, &len);
    struct heap_sig_window window = {ctx->cfg.heap_max_past_ms, ctx->cfg.heap_max_future_ms};
    enum heap_sig_result sig = heap_sig_verify(http_header(req, "Heap-Hash"), in.secret, body, len,
                                               time_now_ms(), &window);
    if (sig != HEAP_SIG_OK) {
        log_warn("heap", "req=%lu integration=%s result=rejected reason=\"%s\"",
                 http_request_id(req), log_q(integration_id), heap_sig_result_name(sig));
        reply_error(res, 403, "Invalid signature");
        return;
    }
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!json_is_object(root)) {
        char reason[200];
        snprintf(reason, sizeof reason, "invalid JSON: %s", root ? "not an object" : jerr.text);
        json_decref(root);
        reply_error(res, 400, reason);
        return;
    }
    struct heap_sync_page page;
    char reason[256];
    enum heap_sync_parse parsed = heap_sync_parse(root, &page, reason, sizeof reason);
    if (parsed == HEAP_SYNC_IGNORED) {
        log_info("heap", "req=%lu integration=%s result=ignored", http_request_id(req),
                 log_q(integration_id));
        err = STORE_OPS(st)->heap->count_ignored(st, in.id);
        if (err == CD_OK)
            http_reply_json(res, 200, json_pack("{s:s}", "status", "ignored"));
        else
            reply_error(res, 503, "Service unavailable");
    } else if (parsed == HEAP_SYNC_INVALID) {
        reply_error(res, 400, reason);
    } else {
        struct workspace *ws = NULL;
        struct cohort_apply_result r = {0};
        bool duplicate = false;
        err = app_workspace(ctx->app, in.ws, &ws);
        if (err == CD_OK)
            err = apply_page(ctx, ws, &in, &page, &duplicate, &r);
        if (err != CD_OK) {
            reply_error(res, err == CD_E_NOMEM ? 500 : 503, "Service unavailable");
        } else if (duplicate) {
            log_info("heap", "req=%lu integration=%s result=duplicate", http_request_id(req),
                     log_q(integration_id));
            http_reply_json(res, 200, json_pack("{s:s}", "status", "duplicate"));
        } else {
            log_info("heap", "req=%lu integration=%s result=applied matched=%lld unmatched=%lld",
                     http_request_id(req), log_q(integration_id), (long long)r.matched,
                     (long long)r.unmatched);
            http_reply_json(res, 200, api_cohort_counts("status", "ok", &r));
        }
    }
    json_decref(root);
}

void api_heap_webhook(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    if (atomic_fetch_add(&in_flight, 1) >= ctx->cfg.heap_max_in_flight) {
        atomic_fetch_sub(&in_flight, 1);
        http_add_header(res, "Retry-After", "1");
        reply_error(res, 429, "Too many requests");
        return;
    }
    handle(ctx, req, res);
    atomic_fetch_sub(&in_flight, 1);
}
