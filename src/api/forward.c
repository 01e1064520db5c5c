/*
 * forward.c — a request for a workspace this node does not own (several nodes on one store,
 * core/workspace/leases.h): sent to the owner's advertised address and its answer relayed, so
 * a client (Heap, which does not follow redirects on POST) never sees where it went. A request
 * that another node forwarded here is never forwarded again: it gets 503 naming the owner, so a
 * disagreement about who owns a workspace can never loop.
 */
#include "api/api.h"

#include <stdio.h>

#include "core/workspace/leases.h"
#include "util/log.h"
#include "util/metrics.h"

void api_reply_unavailable(struct api_ctx *ctx, const struct http_request *req,
                           struct http_response *res, enum cd_err err, const struct cd_msg *msg) {
    if (err != CD_E_MOVED) {
        api_reply_unloaded(res, err, msg);
        return;
    }
    char owner[STORE_LEASE_ADDRESS_MAX + 1];
    const char *why = lease_moved_owner(msg, owner, sizeof owner);
    const char *hop = http_header(req, HTTP_FORWARDED_HEADER);
    const char *me = app_node_id(ctx->app);
    if (hop || !owner[0] || !ctx->cfg.forward) {
        char text[1200];
        snprintf(text, sizeof text, "%s%s%s%s; this node (%s) does not own it%s", why,
                 hop ? " (forwarded here by node " : "", hop ? hop : "", hop ? ")" : "", me,
                 hop ? " and does not forward a forwarded request again" : "");
        http_add_header(res, "Retry-After", "1");
        http_reply_error(res, 503, "Service Unavailable", text);
        metrics_add("cohortd_forwards_total", "result=\"refused\"", 1);
        return;
    }
    bool reached = false;
    ctx->cfg.forward(owner, me, req, res, ctx->cfg.forward_timeout_ms, &reached);
    metrics_add("cohortd_forwards_total", reached ? "result=\"relayed\"" : "result=\"unreachable\"",
                1);
    log_debug("forward", "req=%lu to=%s status=%d", http_request_id(req), owner, res->status);
}
