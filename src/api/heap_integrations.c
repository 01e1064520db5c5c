/*
 * heap_integrations.c — REST API for Heap segment-sync integrations:
 * POST /integrations/heap/create, GET /integrations/heap/list,
 * POST /integrations/heap/rotate_secret, POST /integrations/heap/delete.
 */
#include "api/api.h"

#include "core/cohorts/heap_integration.h"

static enum cd_err create(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                          struct cd_msg *msg) {
    return heap_integration_create(app->store, ws->id, body, out, msg);
}

void api_heap_integration_create(void *ctx, const struct http_request *req,
                                 struct http_response *res) {
    api_run_post(ctx, req, res, create, 201);
}

void api_heap_integration_list(void *vctx, const struct http_request *req,
                               struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct workspace *ws = api_auth_rest(ctx, req, NULL, res);
    if (!ws)
        return;
    json_t *out = NULL;
    enum cd_err err = heap_integration_list(ctx->app->store, ws->id, &out);
    api_reply_result(res, err, 200, out, NULL);
}

/* Shared by rotate_secret and delete: authenticates and reads "integration_id". */
static const char *integration_arg(struct api_ctx *ctx, const struct http_request *req,
                                   struct http_response *res, json_t **body,
                                   struct workspace **ws) {
    *body = api_json_body(req, res);
    *ws = *body ? api_auth_rest(ctx, req, *body, res) : NULL;
    if (!*ws)
        return NULL;
    const char *id = json_string_value(json_object_get(*body, "integration_id"));
    if (!id || !*id) {
        http_reply_message(res, 400, "'integration_id' must be a non-empty string");
        return NULL;
    }
    return id;
}

void api_heap_integration_rotate(void *vctx, const struct http_request *req,
                                 struct http_response *res) {
    struct api_ctx *ctx = vctx;
    json_t *body;
    struct workspace *ws;
    const char *id = integration_arg(ctx, req, res, &body, &ws);
    if (id) {
        json_t *out = NULL;
        enum cd_err err = heap_integration_rotate(ctx->app->store, ws->id, id, &out);
        api_reply_result(res, err, 201, out, NULL);
    }
    json_decref(body);
}

void api_heap_integration_delete(void *vctx, const struct http_request *req,
                                 struct http_response *res) {
    struct api_ctx *ctx = vctx;
    json_t *body;
    struct workspace *ws;
    const char *id = integration_arg(ctx, req, res, &body, &ws);
    if (id) {
        enum cd_err err = heap_integration_delete(ctx->app->store, ws->id, id);
        if (err == CD_OK)
            http_reply_message(res, 201, "success");
        else
            api_reply_err(res, err, NULL);
    }
    json_decref(body);
}
