/*
 * currents_api.c — the Currents configuration API (REST API key): POST /currents/create,
 * GET /currents/list, GET /currents/details, POST /currents/pause, /resume, /delete, /replay.
 */
#include "api/api.h"

#include "core/messaging/currents_config.h"
/* temporary, until this file reads no workspace or app field (the workspace is opaque) */
#include "core/workspace/workspace_int.h"

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

static enum cd_err list(struct app *app, struct workspace *ws, const struct http_request *req,
                        json_t **out, struct cd_msg *msg) {
    (void)req;
    (void)msg;
    return currents_list(app->store, ws->id, out);
}

static enum cd_err details(struct app *app, struct workspace *ws, const struct http_request *req,
                           json_t **out, struct cd_msg *msg) {
    return currents_details(app->store, ws->id, http_query(req, "current_id"), out, msg);
}

void api_currents_list(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_get(ctx, req, res, list);
}

void api_currents_details(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_get(ctx, req, res, details);
}
