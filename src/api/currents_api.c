/*
 * currents_api.c — the Currents configuration API (REST API key): POST /currents/create,
 * GET /currents/list, GET /currents/details, POST /currents/pause, /resume, /delete, /replay.
 * The request JSON becomes a struct current_def, every field is checked against limits.h before
 * core is called, and core's faults become the texts of the contract.
 */
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/limits.h"
#include "core/messaging/currents_config.h"
#include "util/log.h"
#include "util/timeutil.h"

#define NAME_TEXT "name: must be a string of 1 to 200 characters"
#define ENDPOINT_TEXT "endpoint: must be an http:// or https:// URL"
#define TOKEN_TEXT "bearer_token: must be a non-empty string without spaces"
#define TYPES_TEXT "event_types: must be a non-empty array"
#define BATCH_TEXT "batch_size: must be an integer from 1 to 10000"

static bool unknown_type(struct http_response *res, size_t i) {
    return api_refuse(res, "event_types[%zu]: unknown event type", i);
}

/* Reads a create body into def (strings point into body; *types is malloc'd). False when it
 * replied 400. Limits that an existing check answered keep that check's text. */
static bool read_def(struct http_response *res, const json_t *body, struct current_def *def,
                     const char ***types) {
    def->name = json_string_value(json_object_get(body, "name"));
    const char *type = json_string_value(json_object_get(body, "type"));
    def->endpoint = json_string_value(json_object_get(body, "endpoint"));
    const json_t *token = json_object_get(body, "bearer_token");
    const json_t *list = json_object_get(body, "event_types");
    const json_t *batch = json_object_get(body, "batch_size");
    if (!def->name || strlen(def->name) > LIMIT_OBJECT_NAME)
        return api_refuse(res, "%s", NAME_TEXT);
    if (!type || (strcmp(type, "heap") != 0 && strcmp(type, "custom_http") != 0))
        return api_refuse(res, "type: must be \"heap\" or \"custom_http\"");
    def->type = strcmp(type, "heap") == 0 ? CURRENT_HEAP : CURRENT_CUSTOM_HTTP;
    if (!def->endpoint || strlen(def->endpoint) > LIMIT_URL)
        return api_refuse(res, "%s", ENDPOINT_TEXT);
    if (token && !json_is_null(token) &&
        (!json_is_string(token) || strlen(json_string_value(token)) > LIMIT_TOKEN))
        return api_refuse(res, "%s", TOKEN_TEXT);
    def->bearer_token = json_string_value(token);
    if (!json_is_array(list) || json_array_size(list) == 0)
        return api_refuse(res, "%s", TYPES_TEXT);
    size_t n = json_array_size(list);
    *types = calloc(n, sizeof **types);
    if (!*types) {
        api_reply_err(res, CD_E_NOMEM, NULL);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        (*types)[i] = json_string_value(json_array_get(list, i));
        if (!(*types)[i] || strlen((*types)[i]) > LIMIT_EVENT_NAME)
            return unknown_type(res, i);
    }
    def->event_types = *types;
    def->n_event_types = n;
    if (batch && !json_is_null(batch) && (!json_is_integer(batch) || json_integer_value(batch) < 1))
        return api_refuse(res, "%s", BATCH_TEXT);
    def->batch_size = json_integer_value(batch);
    return true;
}

static void reply_fault(struct http_response *res, const struct current_fault *f) {
    switch (f->code) {
    case CURRENT_FAULT_NAME:
        api_refuse(res, "%s", NAME_TEXT);
        break;
    case CURRENT_FAULT_ENDPOINT:
        api_refuse(res, "%s", ENDPOINT_TEXT);
        break;
    case CURRENT_FAULT_TOKEN:
        api_refuse(res, "%s", TOKEN_TEXT);
        break;
    case CURRENT_FAULT_NO_TYPES:
        api_refuse(res, "%s", TYPES_TEXT);
        break;
    case CURRENT_FAULT_EVENT_TYPE:
        unknown_type(res, f->index);
        break;
    case CURRENT_FAULT_BATCH:
        api_refuse(res, "%s", BATCH_TEXT);
        break;
    case CURRENT_FAULT_NO_ID:
        api_refuse(res, "current_id: must be a non-empty string");
        break;
    default:
        api_reply_err(res, CD_E_INVALID, NULL);
    }
}

/* {"result", "status", "error", "checked_at"} of a credential probe, or null. */
static json_t *probe_json(const struct current_probe *p) {
    if (!p)
        return json_null();
    char at[40];
    time_format_iso8601(p->at, at, sizeof at);
    return json_pack("{s:s, s:o, s:o, s:s}", "result",
                     current_probe_result_name(current_probe_result_of(p)), "status",
                     p->status ? json_integer(p->status) : json_null(), "error",
                     p->error[0] ? json_string(p->error) : json_null(), "checked_at", at);
}

/* The answer to a created Current: its id, and the answer to the empty batch sent to it as a
 * credential check (kept for details). The Current exists whatever that answer was. */
static void reply_created(struct api_ctx *ctx, struct workspace *ws, const struct current_def *def,
                          const char *id, struct http_response *res) {
    json_t *out = json_pack("{s:s, s:s}", "current_id", id, "message", "success");
    if (ctx->cfg.currents_probe && out) {
        struct current_probe p;
        ctx->cfg.currents_probe(def->endpoint, def->bearer_token,
                                ctx->cfg.currents_probe_timeout_ms, &p);
        enum cd_err err = currents_probe_record(ctx->app, ws, id, &p);
        if (err != CD_OK)
            log_warn("currents", "current_id=%s op=probe_record error=%s", id, cd_err_name(err));
        json_object_set_new(out, "credential_check", probe_json(&p));
    }
    if (out)
        http_reply_json(res, 201, out);
    else
        api_reply_err(res, CD_E_NOMEM, NULL);
}

void api_currents_create(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    json_t *body = api_json_body(req, res);
    struct workspace *ws = body ? api_auth_rest(ctx, req, body, res) : NULL;
    struct current_def def = {0};
    const char **types = NULL;
    if (ws && read_def(res, body, &def, &types)) {
        char id[37];
        struct current_fault fault;
        enum cd_err err = currents_create(ctx->app, ws, &def, id, &fault);
        if (err == CD_E_INVALID)
            reply_fault(res, &fault);
        else if (err != CD_OK)
            api_reply_err(res, err, NULL);
        else
            reply_created(ctx, ws, &def, id, res);
    }
    free(types);
    json_decref(body);
}

static void act(void *vctx, const struct http_request *req, struct http_response *res,
                enum current_verb verb) {
    struct api_ctx *ctx = vctx;
    json_t *body = api_json_body(req, res);
    struct workspace *ws = body ? api_auth_rest(ctx, req, body, res) : NULL;
    if (ws) {
        const char *id = json_string_value(json_object_get(body, "current_id"));
        int64_t n = 0;
        struct current_fault fault;
        enum cd_err err = id && strlen(id) > LIMIT_OBJECT_ID
                              ? CD_E_NOT_FOUND /* names nothing, as an unknown id */
                              : currents_act(ctx->app, ws, verb, id, &n, &fault);
        if (err == CD_E_INVALID)
            reply_fault(res, &fault);
        else if (err != CD_OK)
            api_reply_err(res, err, NULL);
        else if (verb == CURRENT_REPLAY)
            http_reply_json(
                res, 201, json_pack("{s:s, s:I}", "message", "success", "replayed", (json_int_t)n));
        else
            http_reply_json(res, 201, json_pack("{s:s}", "message", "success"));
    }
    json_decref(body);
}

void api_currents_pause(void *ctx, const struct http_request *req, struct http_response *res) {
    act(ctx, req, res, CURRENT_PAUSE);
}

void api_currents_resume(void *ctx, const struct http_request *req, struct http_response *res) {
    act(ctx, req, res, CURRENT_RESUME);
}

void api_currents_delete(void *ctx, const struct http_request *req, struct http_response *res) {
    act(ctx, req, res, CURRENT_DELETE);
}

void api_currents_replay(void *ctx, const struct http_request *req, struct http_response *res) {
    act(ctx, req, res, CURRENT_REPLAY);
}

/* A Current's summary, as list and details answer it. */
static json_t *summary(const struct current_info *c) {
    json_t *types = json_array();
    for (size_t i = 0; types && i < c->n_event_types; i++)
        json_array_append_new(types, json_string(c->event_types[i]));
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:s, s:b}", "current_id", c->current_id,
                     "name", c->name, "type", c->type, "endpoint", c->endpoint, "event_types",
                     types ? types : json_array(), "batch_size", (json_int_t)c->batch_size, "state",
                     c->state, "has_bearer_token", c->has_bearer_token);
}

static void list_item(void *ctx, const struct current_info *c) {
    json_array_append_new(ctx, summary(c));
}

static void details_item(void *ctx, const struct current_info *c) {
    json_t *o = summary(c);
    json_object_set_new(o, "delivered", json_integer(c->delivered));
    json_object_set_new(o, "retried", json_integer(c->retried));
    json_object_set_new(o, "dead_lettered", json_integer(c->dead_lettered));
    json_object_set_new(o, "last_error", c->last_error ? json_string(c->last_error) : json_null());
    json_object_set_new(o, "oldest_undelivered_age_s",
                        c->oldest_undelivered_age_s >= 0 ? json_integer(c->oldest_undelivered_age_s)
                                                         : json_null());
    json_object_set_new(o, "credential_check", probe_json(c->probe));
    json_object_set_new(o, "message", json_string("success"));
    *(json_t **)ctx = o;
}

void api_currents_list(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct workspace *ws = api_auth_rest(ctx, req, NULL, res);
    if (!ws)
        return;
    json_t *arr = json_array();
    enum cd_err err = arr ? currents_list(ctx->app, ws, list_item, arr) : CD_E_NOMEM;
    json_t *out =
        err == CD_OK ? json_pack("{s:s, s:O}", "message", "success", "currents", arr) : NULL;
    json_decref(arr);
    api_reply_result(res, err == CD_OK && !out ? CD_E_NOMEM : err, 200, out, NULL);
}

void api_currents_details(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct workspace *ws = api_auth_rest(ctx, req, NULL, res);
    if (!ws)
        return;
    const char *id = http_query(req, "current_id");
    json_t *out = NULL;
    struct current_fault fault;
    enum cd_err err = id && strlen(id) > LIMIT_OBJECT_ID
                          ? CD_E_NOT_FOUND
                          : currents_details(ctx->app, ws, id, details_item, &out, &fault);
    if (err == CD_E_INVALID) {
        reply_fault(res, &fault);
        return;
    }
    if (err == CD_OK && !out)
        err = CD_E_NOMEM;
    api_reply_result(res, err, 200, out, NULL);
}
