/*
 * import_keys.c — a workspace's data import keys (the client_secret partners send) over HTTP:
 * GET /import_keys/get?partner=P, POST /import_keys/rotate and /import_keys/invalidate, as
 * `cohortd import-key show|rotate|invalidate` does them (core/workspace/admin.h), for a REST
 * key or a dashboard session (an admin's, for the two writes). Each answer carries the REST
 * endpoint partners are given: --public-url.
 */
#include "api/api.h"

#include <stdio.h>
#include <string.h>

#include "core/workspace/app_admin.h"

/* Checks the partner: true, or false having replied 400 / 404 / the store's error. */
static bool known_partner(struct api_ctx *ctx, const char *partner, struct http_response *res) {
    if (!partner || !*partner || strlen(partner) > 64)
        return api_refuse(res, "'partner' must name a partner (e.g. heap)");
    enum cd_err err = app_partner_exists(ctx->app, partner);
    if (err == CD_E_NOT_FOUND) {
        char text[128];
        snprintf(text, sizeof text, "no partner '%s'", partner);
        http_reply_message(res, 404, text);
        return false;
    }
    if (err != CD_OK) {
        api_reply_err(res, err, NULL);
        return false;
    }
    return true;
}

static void reply_key(struct api_ctx *ctx, struct http_response *res, int status,
                      const char *partner, const char *key) {
    http_reply_json(res, status,
                    json_pack("{s:s, s:s, s:s?, s:s}", "message", "success", "partner", partner,
                              "data_import_key", key, "rest_endpoint",
                              ctx->cfg.public_url ? ctx->cfg.public_url : ""));
}

void api_import_keys_get(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct workspace *ws = api_auth(ctx, req, NULL, res, NULL);
    const char *partner = http_query(req, "partner");
    if (!ws || !known_partner(ctx, partner, res))
        return;
    char key[ADMIN_KEY_LEN];
    enum cd_err err = app_import_key_active(ctx->app, ws, partner, key);
    if (err == CD_OK || err == CD_E_NOT_FOUND)
        reply_key(ctx, res, 200, partner, err == CD_OK ? key : NULL);
    else
        api_reply_err(res, err, NULL);
}

/* The workspace and partner of a write, or NULL having replied; *body to release. */
static struct workspace *write_target(struct api_ctx *ctx, const struct http_request *req,
                                      struct http_response *res, json_t **body,
                                      const char **partner) {
    *body = api_json_body(req, res);
    struct api_caller who;
    struct workspace *ws = *body ? api_auth(ctx, req, *body, res, &who) : NULL;
    if (ws && who.session && who.user.role != DASH_ROLE_ADMIN) {
        http_reply_message(res, 403, "only an admin may do this");
        return NULL;
    }
    *partner = json_string_value(json_object_get(*body, "partner"));
    return ws && known_partner(ctx, *partner, res) ? ws : NULL;
}

void api_import_keys_rotate(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    json_t *body = NULL;
    const char *partner = NULL;
    struct workspace *ws = write_target(ctx, req, res, &body, &partner);
    if (ws) {
        char key[ADMIN_KEY_LEN];
        enum cd_err err = app_import_key_rotate(ctx->app, ws, partner, key);
        if (err == CD_OK)
            reply_key(ctx, res, 201, partner, key);
        else
            api_reply_err(res, err, NULL);
    }
    json_decref(body);
}

void api_import_keys_invalidate(void *vctx, const struct http_request *req,
                                struct http_response *res) {
    struct api_ctx *ctx = vctx;
    json_t *body = NULL;
    const char *partner = NULL;
    struct workspace *ws = write_target(ctx, req, res, &body, &partner);
    if (ws) {
        enum cd_err err = app_import_key_invalidate(ctx->app, ws, partner);
        if (err == CD_E_NOT_FOUND) {
            char text[128];
            snprintf(text, sizeof text, "no active data import key for '%s'", partner);
            http_reply_message(res, 404, text);
        } else if (err == CD_OK) {
            http_reply_message(res, 201, "success");
        } else {
            api_reply_err(res, err, NULL);
        }
    }
    json_decref(body);
}
