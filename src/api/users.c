/*
 * users.c — the Braze-compatible users API (/users/track, /users/alias/new, /users/identify,
 * /users/delete, /users/export/ids) and our /devices/track. Authenticates, parses, calls
 * core/users.h, and answers 201 (writes) or 200 (export).
 */
#include "api/api.h"

#include "core/users.h"

typedef enum cd_err (*users_call)(struct app *, struct workspace *, const json_t *, json_t **,
                                  struct cd_msg *);

static void run(void *vctx, const struct http_request *req, struct http_response *res,
                users_call call, int ok_status) {
    struct api_ctx *ctx = vctx;
    json_t *body = api_json_body(req, res);
    if (!body)
        return;
    struct workspace *ws = api_auth_rest(ctx, req, body, res);
    if (ws) {
        struct cd_msg msg = {{0}};
        json_t *out = NULL;
        enum cd_err err = call(ctx->app, ws, body, &out, &msg);
        if (err == CD_OK)
            http_reply_json(res, ok_status, out);
        else
            api_reply_err(res, err, msg.text);
    }
    json_decref(body);
}

void api_users_track(void *ctx, const struct http_request *req, struct http_response *res) {
    run(ctx, req, res, users_track, 201);
}

void api_users_alias_new(void *ctx, const struct http_request *req, struct http_response *res) {
    run(ctx, req, res, users_alias_new, 201);
}

void api_users_identify(void *ctx, const struct http_request *req, struct http_response *res) {
    run(ctx, req, res, users_identify, 201);
}

void api_users_delete(void *ctx, const struct http_request *req, struct http_response *res) {
    run(ctx, req, res, users_delete, 201);
}

void api_users_export_ids(void *ctx, const struct http_request *req, struct http_response *res) {
    run(ctx, req, res, users_export_ids, 200);
}

void api_devices_track(void *ctx, const struct http_request *req, struct http_response *res) {
    run(ctx, req, res, users_device_track, 201);
}
