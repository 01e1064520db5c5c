/* campaign_preview.c — rendering a message for one user outside any campaign (see
 * campaign_preview.h): a run of one unnamed step handed to campaign_render. */
#include "core/messaging/campaign_preview.h"

#include <stdio.h>
#include <string.h>

#include "core/index/identity.h"
#include "core/workspace/workspace_int.h"
#include "util/timeutil.h"

enum cd_err campaign_preview(struct app *app, struct workspace *ws, const struct webhook_message *m,
                             const char *external_id, struct webhook_request *req,
                             struct campaign_fault *fault) {
    memset(req, 0, sizeof *req);
    enum cd_err err = campaign_message_check(m, fault);
    if (err != CD_OK)
        return err;
    workspace_read_begin(ws);
    uint32_t uid = identity_by_external(&ws->ident, external_id, NULL);
    bool live = uid && identity_is_live(&ws->ident, uid);
    workspace_read_end(ws);
    if (!live)
        return CD_E_NOT_FOUND;
    json_t *webhook = webhook_message_json(m);
    if (!webhook)
        return CD_E_NOMEM;
    struct campaign_run run = {.ws = ws,
                               .kind = CAMPAIGN_KIND_CAMPAIGN,
                               .public_id = CAMPAIGN_PREVIEW_ID,
                               .name = CAMPAIGN_PREVIEW_NAME,
                               .dispatch_id = CAMPAIGN_PREVIEW_ID,
                               .variation_id = CAMPAIGN_PREVIEW_ID,
                               .variation_name = CAMPAIGN_PREVIEW_NAME,
                               .step_id = CAMPAIGN_PREVIEW_ID,
                               .step_name = CAMPAIGN_PREVIEW_NAME,
                               .next_delay_ms = -1,
                               .webhook = webhook};
    err = campaign_render(app, &run, uid, req);
    json_decref(webhook);
    req->method = webhook_method_name(m->method); /* it pointed into webhook: a static text */
    if (err == CD_OK)
        snprintf(req->idempotency_key, sizeof req->idempotency_key, "preview.%s.%lld",
                 req->braze_id, (long long)time_now_ms());
    return err;
}
