/*
 * metrics.c — GET /metrics: every figure of util/metrics.h in Prometheus' text format
 * (version 0.0.4), and the table of every series cohortd exposes (name, type, help), which is
 * also the list the README gives. The series themselves are recorded where their figures are
 * (http/server.c, core/cohorts/, api/heap_webhook.c, store/sqlite_sync.c, workers/); the
 * per-workspace gauges are read here at scrape time from core.
 *
 * Access: no user data is exposed, but workspaces and Currents are named by their API ids, so
 * when --metrics-token is set a scrape must send it as a Bearer token (401 otherwise); without
 * it the endpoint is open to whoever can reach the listen address (127.0.0.1 by default).
 */
#include "api/api.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/workspace/workspace_stats.h"
#include "util/crypto.h"
#include "util/metrics.h"

static const struct {
    const char *name;
    enum metric_type type;
    const char *help;
} series[] = {
    {"cohortd_build_info", METRIC_GAUGE, "Always 1; the version label says which build runs."},
    {"cohortd_process_start_time_seconds", METRIC_GAUGE, "When the server started (UNIX time)."},
    {"cohortd_http_requests_total", METRIC_COUNTER,
     "Requests answered, by route pattern (\"unmatched\" for 404, 405 and 413) and status."},
    {"cohortd_http_request_duration_seconds", METRIC_HISTOGRAM,
     "Time from a request's arrival to its answer being queued, by route pattern."},
    {"cohortd_cohort_ids_received_total", METRIC_COUNTER,
     "Ids received by cohort imports (source partner_import) and Heap webhook pages (source "
     "heap_webhook), by workspace and partner."},
    {"cohortd_cohort_ids_matched_total", METRIC_COUNTER, "Of those, ids that matched a user."},
    {"cohortd_cohort_ids_unmatched_total", METRIC_COUNTER,
     "Of those, ids that matched nobody (reported per cohort by /cohorts/details)."},
    {"cohortd_workspace_users", METRIC_GAUGE, "Live users of a workspace."},
    {"cohortd_workspace_cohorts", METRIC_GAUGE, "Partner cohorts of a workspace."},
    {"cohortd_workspace_cohort_members", METRIC_GAUGE,
     "Memberships of a workspace's cohorts (a user in two cohorts counts twice)."},
    {"cohortd_workspace_cohort_bitmap_bytes", METRIC_GAUGE,
     "Bytes held by the containers of a workspace's cohort bitmaps."},
    {"cohortd_workspace_index_bytes", METRIC_GAUGE,
     "Bytes held by each in-memory index of a workspace (label index: user_table, live, "
     "external_ids, aliases, devices, contacts, attributes, events, cohort_bitmaps)."},
    {"cohortd_workspace_loaded", METRIC_GAUGE,
     "1 when a workspace's indexes are built, 0 while it answers 503 and retries its load."},
    {"cohortd_store_commit_seconds", METRIC_HISTOGRAM,
     "Time a committed write waits until it is durable (its share of a group commit)."},
    {"cohortd_store_sync_seconds", METRIC_HISTOGRAM, "Duration of one fdatasync of the WAL."},
    {"cohortd_store_group_commit_size", METRIC_HISTOGRAM,
     "Commits made durable by one fdatasync (group commit)."},
    {"cohortd_current_pending_events", METRIC_GAUGE,
     "Events of a Current's types in the outbox after its position: not yet delivered."},
    {"cohortd_current_lag_seconds", METRIC_GAUGE,
     "Age of a Current's oldest undelivered event (0 when none)."},
    {"cohortd_current_dead_letters", METRIC_GAUGE, "Events of a Current that became dead letters."},
    {"cohortd_current_delivered_events_total", METRIC_COUNTER,
     "Events a Current delivered (2xx) since start."},
    {"cohortd_current_failed_requests_total", METRIC_COUNTER,
     "Currents requests that failed (network error or non-2xx) since start."},
    {"cohortd_webhook_sends_total", METRIC_COUNTER,
     "Campaign and Canvas webhook messages sent (2xx), by kind and campaign_id (a Canvas's id "
     "for a Canvas)."},
    {"cohortd_webhook_failures_total", METRIC_COUNTER,
     "Webhook messages that failed for good (after the last attempt)."},
    {"cohortd_webhook_retries_total", METRIC_COUNTER,
     "Webhook attempts that failed and will be retried."},
    {"cohortd_heap_pages_applied_total", METRIC_COUNTER, "Heap sync pages applied."},
    {"cohortd_heap_pages_refused_total", METRIC_COUNTER,
     "Heap webhook pages not applied, by reason: signature, unknown_integration, malformed, "
     "duplicate, ignored (another action type), busy (429), unavailable (5xx)."},
};

static void describe_all(void) {
    for (size_t i = 0; i < sizeof series / sizeof series[0]; i++)
        metrics_describe(series[i].name, series[i].type, series[i].help);
}

static void set_workspace(void *ctx, const struct workspace_stats *st) {
    (void)ctx;
    char id[160], labels[192];
    snprintf(labels, sizeof labels, "workspace_id=\"%s\"",
             metrics_label(id, sizeof id, st->public_id));
    metrics_set("cohortd_workspace_loaded", labels, st->loaded ? 1 : 0);
    if (!st->loaded)
        return;
    metrics_set("cohortd_workspace_users", labels, (double)st->users);
    metrics_set("cohortd_workspace_cohorts", labels, (double)st->cohorts);
    metrics_set("cohortd_workspace_cohort_members", labels, (double)st->cohort_members);
    metrics_set("cohortd_workspace_cohort_bitmap_bytes", labels, (double)st->cohort_bitmap_bytes);
    for (int i = 0; i < WS_INDEX_KINDS; i++) {
        char il[256];
        snprintf(il, sizeof il, "%s,index=\"%s\"", labels, index_kind_name((enum index_kind)i));
        metrics_set("cohortd_workspace_index_bytes", il, (double)st->index_bytes[i]);
    }
}

static bool authorized(const struct api_ctx *ctx, const struct http_request *req) {
    const char *token = ctx->cfg.metrics_token;
    if (!token || !*token)
        return true;
    const char *auth = http_header(req, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    return crypto_equal(auth + 7, strlen(auth + 7), token, strlen(token));
}

void api_metrics(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    if (!authorized(ctx, req)) {
        http_add_header(res, "WWW-Authenticate", "Bearer");
        http_reply_error(res, 401, "Unauthorized",
                         "send the metrics token as 'Authorization: Bearer <token>'");
        return;
    }
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, describe_all);
    app_workspace_stats(ctx->app, set_workspace, NULL);
    size_t len = 0;
    char *text = metrics_render(&len);
    if (!text) {
        http_reply_message(res, 500, "Internal Server Error");
        return;
    }
    http_reply_raw(res, 200, "text/plain; version=0.0.4", text, len);
}
