/*
 * campaigns.c — the campaigns and Canvases API (REST API key): create, list, details, archive
 * and Braze's /campaigns/trigger/send and /canvas/trigger/send (CONTRACT.md §3.10–3.11).
 */
#include "api/api.h"

#include "core/messaging/campaign.h"

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

static enum cd_err campaigns_list(struct app *app, struct workspace *ws,
                                  const struct http_request *req, json_t **out,
                                  struct cd_msg *msg) {
    (void)req;
    (void)msg;
    return campaign_list(app, ws, CAMPAIGN_KIND_CAMPAIGN, out);
}

static enum cd_err canvases_list(struct app *app, struct workspace *ws,
                                 const struct http_request *req, json_t **out, struct cd_msg *msg) {
    (void)req;
    (void)msg;
    return campaign_list(app, ws, CAMPAIGN_KIND_CANVAS, out);
}

static enum cd_err campaigns_details(struct app *app, struct workspace *ws,
                                     const struct http_request *req, json_t **out,
                                     struct cd_msg *msg) {
    return campaign_details(app, ws, CAMPAIGN_KIND_CAMPAIGN, http_query(req, "campaign_id"), out,
                            msg);
}

static enum cd_err canvas_details(struct app *app, struct workspace *ws,
                                  const struct http_request *req, json_t **out,
                                  struct cd_msg *msg) {
    return campaign_details(app, ws, CAMPAIGN_KIND_CANVAS, http_query(req, "canvas_id"), out, msg);
}

void api_campaigns_list(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_get(ctx, req, res, campaigns_list);
}

void api_canvas_list(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_get(ctx, req, res, canvases_list);
}

void api_campaigns_details(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_get(ctx, req, res, campaigns_details);
}

void api_canvas_details(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_get(ctx, req, res, canvas_details);
}
