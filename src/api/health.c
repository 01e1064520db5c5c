/* health.c — GET /healthz: 200 {"status":"ok"} when the store answers and has room; 503 with
 * the reason otherwise ("store full" while the last write failed for lack of space, "store
 * unavailable" when the store does not answer or a sync failed). A node on a shared store
 * (several nodes, core/workspace/leases.h) adds its "node" id, "lease_ms" and the
 * "workspaces" it serves now (public ids, the ones whose lease it holds); a server on a store
 * of its own answers just the status (it serves every workspace). No authentication. */
#include "api/api.h"

#include "core/workspace/auth.h"
#include "core/workspace/leases.h"

static void add_owned(void *ctx, const char *public_id) {
    json_array_append_new(ctx, json_string(public_id));
}

void api_healthz(void *vctx, const struct http_request *req, struct http_response *res) {
    (void)req;
    struct api_ctx *ctx = vctx;
    const char *status = "ok";
    int code = 200;
    switch (app_health(ctx->app)) {
    case APP_HEALTH_OK:
        break;
    case APP_HEALTH_STORE_FULL:
        status = "store full";
        code = 503;
        break;
    case APP_HEALTH_STORE_UNAVAILABLE:
        status = "store unavailable";
        code = 503;
        break;
    }
    json_t *body = json_pack("{s:s}", "status", status);
    if (body && app_leased(ctx->app)) {
        json_t *owned = json_array();
        app_owned_each(ctx->app, add_owned, owned);
        json_object_set_new(body, "node", json_string(app_node_id(ctx->app)));
        json_object_set_new(body, "lease_ms", json_integer(app_lease_ms(ctx->app)));
        json_object_set_new(body, "workspaces", owned);
    }
    http_reply_json(res, code, body);
}
