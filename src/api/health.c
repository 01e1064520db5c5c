/* health.c — GET /healthz: 200 when the store answers, 503 otherwise. No authentication. */
#include "api/api.h"

#include "core/workspace/auth.h"

void api_healthz(void *vctx, const struct http_request *req, struct http_response *res) {
    (void)req;
    struct api_ctx *ctx = vctx;
    if (app_healthy(ctx->app))
        http_reply_json(res, 200, json_pack("{s:s}", "status", "ok"));
    else
        http_reply_json(res, 503, json_pack("{s:s}", "status", "store unavailable"));
}
