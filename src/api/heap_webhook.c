/*
 * heap_webhook.c — POST /heap/webhooks/{integration_id}: Heap's segment.users.sync pages
 * (CONTRACT.md §2). This file reads the body into a struct heap_page and answers; core's
 * heap_page_apply checks, in this order, that the integration exists (404), that the Heap-Hash
 * signature over the raw bytes verifies within the time window (403, never echoing the
 * expected HMAC), and that the body is a sync page (400 with the reason; other action types
 * are acknowledged with 200 "ignored" and counted, since Heap retries any non-2xx forever),
 * then records and applies the page in one transaction, so a page seen before is acknowledged
 * and not applied again, and no 200 is ever sent for a page that is not durable. Too many
 * pages in flight → 429. Logs name the integration (the path's public id), never body values.
 */
#include "api/api.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/limits.h"
#include "core/cohorts/heap_sync.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"

/* An id of a Heap list becomes an external id, a device id or an alias name, as the
 * integration maps it; api/ does not know which, so it holds every id to the smallest. */
#define HEAP_ID_LIMIT LIMIT_EXTERNAL_ID
_Static_assert(LIMIT_DEVICE_ID >= HEAP_ID_LIMIT && LIMIT_ALIAS_NAME >= HEAP_ID_LIMIT,
               "HEAP_ID_LIMIT is the smallest limit a Heap id can meet");

_Static_assert(API_HEAP_REASON_LEN > JSON_ERROR_TEXT_LENGTH + 64,
               "a reason holds jansson's whole message");

static atomic_int in_flight;

/* One page not applied, counted by why. */
static void refused(const char *reason) {
    char labels[64];
    snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
    metrics_add("cohortd_heap_pages_refused_total", labels, 1);
}

static void reply_error(struct http_response *res, int status, const char *text) {
    http_reply_json(res, status, json_pack("{s:s}", "error", text));
}

static enum cd_err malformed(struct heap_page *page, char *reason, const char *text) {
    page->kind = HEAP_PAGE_MALFORMED;
    snprintf(reason, API_HEAP_REASON_LEN, "%s", text);
    return CD_OK;
}

static bool positive_int(const json_t *v) {
    return json_is_integer(v) && json_integer_value(v) >= 1;
}

/* Reads a list of {"id": non-empty string} at data.<key>; false (reason set) when it is not
 * one or an id is over its limit. */
static bool read_list(const json_t *arr, const char *key, struct heap_page_list *list, char *reason,
                      bool *nomem) {
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v) {
        const char *id = json_string_value(json_object_get(v, "id"));
        if (!json_is_object(v) || !id || !*id) {
            snprintf(reason, API_HEAP_REASON_LEN, "%s",
                     "'data.add' and 'data.remove' must be arrays of {\"id\": string}");
            return false;
        }
        if (strlen(id) > HEAP_ID_LIMIT) {
            snprintf(reason, API_HEAP_REASON_LEN, "data.%s[%zu].id is longer than %d bytes", key, i,
                     HEAP_ID_LIMIT);
            return false;
        }
    }
    size_t n = json_array_size(arr);
    const char **ids = calloc(n ? n : 1, sizeof *ids);
    if (!ids) {
        *nomem = true;
        return false;
    }
    json_array_foreach(arr, i, v) ids[i] = json_string_value(json_object_get(v, "id"));
    list->ids = ids;
    list->n_ids = n;
    return true;
}

enum cd_err api_heap_page_read(const json_t *body, struct heap_page *page,
                               char reason[API_HEAP_REASON_LEN]) {
    page->kind = HEAP_PAGE_SYNC;
    page->n_lists = 0;
    page->name = NULL;
    page->has_sync_info = false;
    reason[0] = '\0';
    const json_t *action = json_object_get(body, "action_type");
    if (!json_is_string(action))
        return malformed(page, reason, "'action_type' must be a string");
    if (strcmp(json_string_value(action), "segment.users.sync") != 0) {
        page->kind = HEAP_PAGE_OTHER;
        return CD_OK;
    }
    const json_t *data = json_object_get(body, "data");
    if (!json_is_object(data))
        return malformed(page, reason, "'data' must be an object");
    const json_t *segment = json_object_get(data, "segment");
    const json_t *seg_id = json_object_get(segment, "id");
    if (!json_is_object(segment) || !json_is_integer(seg_id) || json_integer_value(seg_id) <= 0)
        return malformed(page, reason, "'data.segment.id' must be a positive integer");
    snprintf(page->cohort_id, sizeof page->cohort_id, "%" JSON_INTEGER_FORMAT,
             json_integer_value(seg_id));
    const json_t *name = json_object_get(segment, "name");
    if (name && !json_is_null(name) && (!json_is_string(name) || !*json_string_value(name)))
        return malformed(page, reason, "'data.segment.name' must be a non-empty string");
    if (json_is_string(name) && strlen(json_string_value(name)) > LIMIT_COHORT_NAME) {
        snprintf(reason, API_HEAP_REASON_LEN, "data.segment.name is longer than %d bytes",
                 LIMIT_COHORT_NAME);
        page->kind = HEAP_PAGE_MALFORMED;
        return CD_OK;
    }
    page->name = json_string_value(name);
    const json_t *info = json_object_get(data, "sync_info");
    if (info && !json_is_null(info)) {
        const json_t *task = json_object_get(info, "sync_task_id");
        const json_t *pn = json_object_get(info, "page_number");
        const json_t *tp = json_object_get(info, "total_pages");
        if (!json_is_object(info) || !json_is_string(task) || !*json_string_value(task) ||
            !positive_int(pn) || !positive_int(tp) ||
            json_integer_value(pn) > json_integer_value(tp))
            return malformed(page, reason,
                             "'data.sync_info' must hold a non-empty 'sync_task_id' and integers "
                             "1 <= 'page_number' <= 'total_pages'");
        if (strlen(json_string_value(task)) > LIMIT_HEAP_SYNC_TASK_ID) {
            snprintf(reason, API_HEAP_REASON_LEN,
                     "data.sync_info.sync_task_id is longer than %d bytes",
                     LIMIT_HEAP_SYNC_TASK_ID);
            page->kind = HEAP_PAGE_MALFORMED;
            return CD_OK;
        }
        page->has_sync_info = true;
        page->sync_task_id = json_string_value(task);
        page->page_number = json_integer_value(pn);
        page->total_pages = json_integer_value(tp);
    }
    /* add and remove apply in the order the body lists them */
    const char *key;
    const json_t *v;
    bool nomem = false;
    size_t n_ids = 0;
    json_object_foreach((json_t *)data, key, v) {
        bool is_add = strcmp(key, "add") == 0, is_remove = strcmp(key, "remove") == 0;
        if ((!is_add && !is_remove) || json_is_null(v))
            continue;
        if (!json_is_array(v))
            return malformed(page, reason,
                             "'data.add' and 'data.remove' must be arrays of {\"id\": string}");
        struct heap_page_list *list = &page->lists[page->n_lists];
        list->remove = is_remove;
        if (!read_list(v, key, list, reason, &nomem)) {
            page->kind = HEAP_PAGE_MALFORMED;
            return nomem ? CD_E_NOMEM : CD_OK;
        }
        page->n_lists++;
        n_ids += list->n_ids;
    }
    if (page->n_lists == 0)
        return malformed(page, reason, "'data.add' or 'data.remove' is required");
    if (n_ids > LIMIT_HEAP_PAGE_IDS) {
        snprintf(reason, API_HEAP_REASON_LEN, "a page holds at most %d ids", LIMIT_HEAP_PAGE_IDS);
        page->kind = HEAP_PAGE_MALFORMED;
    }
    return CD_OK;
}

void api_heap_page_release(struct heap_page *page) {
    for (int l = 0; l < page->n_lists; l++) {
        free((void *)page->lists[l].ids);
        page->lists[l].ids = NULL;
    }
    page->n_lists = 0;
}

static void handle(struct api_ctx *ctx, const struct http_request *req, struct http_response *res) {
    const char *integration_id = http_param(req, 0);
    struct heap_page page = {0};
    char reason[API_HEAP_REASON_LEN] = "";
    page.signature = http_header(req, "Heap-Hash");
    page.body = http_body(req, &page.body_len);
    page.now_ms = time_now_ms();
    page.window = (struct heap_sig_window){ctx->cfg.heap_max_past_ms, ctx->cfg.heap_max_future_ms};
    json_error_t jerr;
    json_t *root = json_loadb(page.body, page.body_len, 0, &jerr);
    enum cd_err err = CD_OK;
    if (!json_is_object(root)) {
        page.kind = HEAP_PAGE_MALFORMED;
        snprintf(reason, sizeof reason, "invalid JSON: %s", root ? "not an object" : jerr.text);
    } else {
        err = api_heap_page_read(root, &page, reason);
    }
    struct heap_page_result r;
    memset(&r, 0, sizeof r);
    if (err == CD_OK)
        err = heap_page_apply(ctx->app, integration_id, &page, &r);
    if (err == CD_E_MOVED) {
        /* another node owns the workspace: it applies the page, under its own in-flight limit,
         * and answers; this node does not count the page while it waits */
        atomic_fetch_sub(&in_flight, 1);
        api_reply_unavailable(ctx, req, res, err, &r.msg);
        atomic_fetch_add(&in_flight, 1);
        goto done;
    }
    if (err == CD_E_BUSY) { /* the workspace's write queue is full: as too many pages at once */
        http_add_header(res, "Retry-After", API_BUSY_RETRY_AFTER);
        reply_error(res, 429, "Too many requests");
        goto done;
    }
    if (err != CD_OK) {
        refused("unavailable");
        if (err == CD_E_FULL)
            http_add_header(res, "Retry-After", API_FULL_RETRY_AFTER);
        reply_error(res, err == CD_E_NOMEM ? 500 : 503, "Service unavailable");
        goto done;
    }
    switch (r.outcome) {
    case HEAP_PAGE_NO_INTEGRATION:
        refused("unknown_integration");
        reply_error(res, 404, "Unknown integration");
        break;
    case HEAP_PAGE_BAD_SIGNATURE:
        refused("signature");
        log_warn("heap", "req=%lu integration_id=%s result=rejected reason=\"%s\"",
                 http_request_id(req), log_q(integration_id), heap_sig_result_name(r.sig));
        reply_error(res, 403, "Invalid signature");
        break;
    case HEAP_PAGE_REFUSED:
        refused("malformed");
        reply_error(res, 400, reason);
        break;
    case HEAP_PAGE_IGNORED:
        refused("ignored");
        log_info("heap", "req=%lu integration_id=%s result=ignored", http_request_id(req),
                 log_q(integration_id));
        http_reply_json(res, 200, json_pack("{s:s}", "status", "ignored"));
        break;
    case HEAP_PAGE_DUPLICATE:
        refused("duplicate");
        log_info("heap", "req=%lu integration_id=%s result=duplicate", http_request_id(req),
                 log_q(integration_id));
        http_reply_json(res, 200, json_pack("{s:s}", "status", "duplicate"));
        break;
    case HEAP_PAGE_APPLIED:
        metrics_add("cohortd_heap_pages_applied_total", "", 1);
        log_info("heap", "req=%lu integration_id=%s result=applied matched=%lld unmatched=%lld",
                 http_request_id(req), log_q(integration_id), (long long)r.counts.matched,
                 (long long)r.counts.unmatched);
        http_reply_json(res, 200, api_cohort_counts("status", "ok", &r.counts));
        break;
    }
done:
    api_heap_page_release(&page);
    json_decref(root);
}

void api_heap_webhook(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    if (atomic_fetch_add(&in_flight, 1) >= ctx->cfg.heap_max_in_flight) {
        atomic_fetch_sub(&in_flight, 1);
        refused("busy");
        http_add_header(res, "Retry-After", "1");
        reply_error(res, 429, "Too many requests");
        return;
    }
    handle(ctx, req, res);
    atomic_fetch_sub(&in_flight, 1);
}
