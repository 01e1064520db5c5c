/* health.c — GET /healthz: 200 {"status":"ok"} when the store answers and has room; 503 with
 * the reason otherwise ("store full" while the last write failed for lack of space, "store
 * unavailable" when the store does not answer or a sync failed). No authentication. */
#include "api/api.h"

#include "core/workspace/auth.h"

void api_healthz(void *vctx, const struct http_request *req, struct http_response *res) {
    (void)req;
    struct api_ctx *ctx = vctx;
    switch (app_health(ctx->app)) {
    case APP_HEALTH_OK:
        http_reply_json(res, 200, json_pack("{s:s}", "status", "ok"));
        break;
    case APP_HEALTH_STORE_FULL:
        http_reply_json(res, 503, json_pack("{s:s}", "status", "store full"));
        break;
    case APP_HEALTH_STORE_UNAVAILABLE:
        http_reply_json(res, 503, json_pack("{s:s}", "status", "store unavailable"));
        break;
    }
}
