/*
 * currents_api.c — the Currents configuration API (REST API key): POST /currents/create,
 * GET /currents/list, GET /currents/details, POST /currents/pause, /resume, /delete, /replay.
 */
#include "api/api.h"

#include "core/currents_config.h"

static enum cd_err create(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                          struct cd_msg *msg) {
    return currents_create(app->store, ws->id, body, out, msg);
}

#define CURRENTS_VERB(fn, verb)                                                                    \
    static enum cd_err fn(struct app *app, struct workspace *ws, const json_t *body, json_t **out, \
                          struct cd_msg *msg) {                                                    \
        return currents_act(app->store, ws->id, verb, body, out, msg);                             \
    }
CURRENTS_VERB(pause, "pause")
CURRENTS_VERB(resume, "resume")
CURRENTS_VERB(delete_current, "delete")
CURRENTS_VERB(replay, "replay")

void api_currents_create(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, create, 201);
}

void api_currents_pause(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, pause, 201);
}

void api_currents_resume(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, resume, 201);
}

void api_currents_delete(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, delete_current, 201);
}

void api_currents_replay(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, replay, 201);
}

void api_currents_list(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct workspace *ws = api_auth_rest(ctx, req, NULL, res);
    if (!ws)
        return;
    json_t *out = NULL;
    enum cd_err err = currents_list(ctx->app->store, ws->id, &out);
    api_reply_result(res, err, 200, out, NULL);
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
    api_reply_result(res, err, 200, out, &msg);
}
