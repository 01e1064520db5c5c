/*
 * campaign_failures.c — GET /campaigns/failures and /canvas/failures (REST API key): the last
 * failed deliveries of a campaign or Canvas, newest first, each with its user and the reason
 * recorded when it failed (core/messaging/campaign_failures.h). `limit` is 1 to
 * CAMPAIGN_FAILURES_MAX (CAMPAIGN_FAILURES_DEFAULT when absent); an unknown id answers Braze's
 * "Invalid Campaign ID" / "Invalid Canvas ID", as the details do.
 */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

#include "api/limits.h"
#include "core/messaging/campaign_failures.h"
#include "util/timeutil.h"

static enum cd_err read_limit(const struct http_request *req, int64_t *limit, struct cd_msg *msg) {
    const char *text = http_query(req, "limit");
    *limit = CAMPAIGN_FAILURES_DEFAULT;
    if (!text)
        return CD_OK;
    char *stop = NULL;
    long n = strtol(text, &stop, 10);
    if (!*text || stop == text || *stop || n < 1 || n > CAMPAIGN_FAILURES_MAX)
        return cd_invalid(msg, "limit: must be a whole number from 1 to %d, not '%.64s'",
                          CAMPAIGN_FAILURES_MAX, text);
    *limit = n;
    return CD_OK;
}

static json_t *failure_json(enum campaign_kind kind, const struct campaign_failure *f) {
    char at[40];
    time_format_iso8601(f->at, at, sizeof at);
    json_t *o =
        json_pack("{s:s?, s:s, s:s, s:I}", "external_id", *f->external_id ? f->external_id : NULL,
                  "reason", f->reason, "at", at, "attempts", (json_int_t)f->attempts);
    if (o && kind == CAMPAIGN_KIND_CANVAS &&
        (json_object_set_new(o, "step", json_integer(f->step + 1)) ||
         json_object_set_new(o, "step_name",
                             f->step_name ? json_string(f->step_name) : json_null()))) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

static enum cd_err failures(struct app *app, struct workspace *ws, enum campaign_kind kind,
                            const struct http_request *req, json_t **out, struct cd_msg *msg) {
    const char *key = kind == CAMPAIGN_KIND_CANVAS ? "canvas_id" : "campaign_id";
    const char *invalid =
        kind == CAMPAIGN_KIND_CANVAS ? "Invalid Canvas ID" : "Invalid Campaign ID";
    const char *id = http_query(req, key);
    int64_t limit;
    enum cd_err err = read_limit(req, &limit, msg);
    if (err != CD_OK)
        return err;
    if (!id || !*id || strlen(id) > LIMIT_OBJECT_ID)
        return cd_invalid(msg, "%s", invalid);
    struct campaign_failure_list l;
    err = campaign_failures(app, ws, kind, id, limit, &l);
    if (err == CD_E_NOT_FOUND)
        return cd_invalid(msg, "%s", invalid);
    if (err != CD_OK)
        return err;
    json_t *items = json_array();
    for (size_t i = 0; items && i < l.n; i++)
        if (json_array_append_new(items, failure_json(kind, &l.items[i]))) {
            json_decref(items);
            items = NULL;
        }
    campaign_failure_list_free(&l);
    *out = items ? json_pack("{s:s, s:o}", "message", "success", "last_failures", items) : NULL;
    return *out ? CD_OK : CD_E_NOMEM;
}

static enum cd_err campaigns_failures(struct app *app, struct workspace *ws,
                                      const struct http_request *req, json_t **out,
                                      struct cd_msg *msg) {
    return failures(app, ws, CAMPAIGN_KIND_CAMPAIGN, req, out, msg);
}

static enum cd_err canvas_failures(struct app *app, struct workspace *ws,
                                   const struct http_request *req, json_t **out,
                                   struct cd_msg *msg) {
    return failures(app, ws, CAMPAIGN_KIND_CANVAS, req, out, msg);
}

void api_campaigns_failures(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_get(ctx, req, res, campaigns_failures);
}

void api_canvas_failures(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_get(ctx, req, res, canvas_failures);
}
