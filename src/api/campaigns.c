/*
 * campaigns.c — the campaigns and Canvases API (REST API key): create, list, details, archive
 * and Braze's /campaigns/trigger/send and /canvas/trigger/send (CONTRACT.md §3.10–3.11).
 */
#include "api/api.h"

#include "core/campaign.h"

void api_campaigns_create(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, campaign_create, 201);
}

void api_canvas_create(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, canvas_create, 201);
}

void api_campaigns_archive(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, campaign_archive, 201);
}

void api_canvas_archive(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, canvas_archive, 201);
}

void api_campaigns_trigger(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, campaign_trigger, 201);
}

void api_canvas_trigger(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, canvas_trigger, 201);
}

static void list(void *vctx, const struct http_request *req, struct http_response *res,
                 enum campaign_kind kind) {
    struct api_ctx *ctx = vctx;
    struct workspace *ws = api_auth_rest(ctx, req, NULL, res);
    json_t *out = NULL;
    if (!ws)
        return;
    enum cd_err err = campaign_list(ctx->app, ws, kind, &out);
    api_reply_result(res, err, 200, out, NULL);
}

void api_campaigns_list(void *ctx, const struct http_request *req, struct http_response *res) {
    list(ctx, req, res, CAMPAIGN_KIND_CAMPAIGN);
}

void api_canvas_list(void *ctx, const struct http_request *req, struct http_response *res) {
    list(ctx, req, res, CAMPAIGN_KIND_CANVAS);
}

static void details(void *vctx, const struct http_request *req, struct http_response *res,
                    enum campaign_kind kind, const char *id_arg) {
    struct api_ctx *ctx = vctx;
    struct workspace *ws = api_auth_rest(ctx, req, NULL, res);
    if (!ws)
        return;
    struct cd_msg msg = {{0}};
    json_t *out = NULL;
    enum cd_err err = campaign_details(ctx->app, ws, kind, http_query(req, id_arg), &out, &msg);
    api_reply_result(res, err, 200, out, &msg);
}

void api_campaigns_details(void *ctx, const struct http_request *req, struct http_response *res) {
    details(ctx, req, res, CAMPAIGN_KIND_CAMPAIGN, "campaign_id");
}

void api_canvas_details(void *ctx, const struct http_request *req, struct http_response *res) {
    details(ctx, req, res, CAMPAIGN_KIND_CANVAS, "canvas_id");
}
