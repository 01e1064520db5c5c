/*
 * currents_api.c — the Currents configuration API (REST API key): POST /currents/create,
 * GET /currents/list, GET /currents/details, POST /currents/pause, /resume, /delete, /replay.
 */
#include "api/api.h"

#include <string.h>

#include "core/currents_config.h"

void api_currents_create(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    json_t *body = api_json_body(req, res);
    struct workspace *ws = body ? api_auth_rest(ctx, req, body, res) : NULL;
    if (ws) {
        struct cd_msg msg = {{0}};
        json_t *out = NULL;
        enum cd_err err = currents_create(ctx->app->store, ws->id, body, &out, &msg);
        if (err == CD_OK)
            http_reply_json(res, 201, out);
        else
            api_reply_err(res, err, msg.text);
    }
    json_decref(body);
}

void api_currents_list(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct workspace *ws = api_auth_rest(ctx, req, NULL, res);
    json_t *out = NULL;
    enum cd_err err = ws ? currents_list(ctx->app->store, ws->id, &out) : CD_OK;
    if (ws && err == CD_OK)
        http_reply_json(res, 200, out);
    else if (ws)
        api_reply_err(res, err, NULL);
}

void api_currents_details(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct workspace *ws = api_auth_rest(ctx, req, NULL, res);
    if (!ws)
        return;
    struct cd_msg msg = {{0}};
    json_t *out = NULL;
    enum cd_err err =
        currents_details(ctx->app->store, ws->id, http_query(req, "current_id"), &out, &msg);
    if (err == CD_OK)
        http_reply_json(res, 200, out);
    else
        api_reply_err(res, err, msg.text);
}

static void act(void *vctx, const struct http_request *req, struct http_response *res,
                const char *verb) {
    struct api_ctx *ctx = vctx;
    json_t *body = api_json_body(req, res);
    struct workspace *ws = body ? api_auth_rest(ctx, req, body, res) : NULL;
    if (ws) {
        struct cd_msg msg = {{0}};
        json_t *out = NULL;
        enum cd_err err = currents_act(ctx->app->store, ws->id, verb, body, &out, &msg);
        if (err == CD_OK)
            http_reply_json(res, 201, out);
        else
            api_reply_err(res, err, msg.text);
    }
    json_decref(body);
}

void api_currents_pause(void *ctx, const struct http_request *req, struct http_response *res) {
    act(ctx, req, res, "pause");
}

void api_currents_resume(void *ctx, const struct http_request *req, struct http_response *res) {
    act(ctx, req, res, "resume");
}

void api_currents_delete(void *ctx, const struct http_request *req, struct http_response *res) {
    act(ctx, req, res, "delete");
}

void api_currents_replay(void *ctx, const struct http_request *req, struct http_response *res) {
    act(ctx, req, res, "replay");
}
