/*
 * campaign_preview.h — a campaign message rendered for one user without a campaign: what the
 * dashboard's wizard shows ("Preview") and sends once ("Send a test"). The request is the one a
 * send would make (campaign_render: profile, custom attributes, URL encoding, safe headers);
 * nothing is stored. The campaign.* tags have placeholders, as no campaign exists yet:
 * campaign.api_id and campaign.dispatch_id are "preview", campaign.name is "Preview".
 */
#ifndef COHORTD_CORE_MESSAGING_CAMPAIGN_PREVIEW_H
#define COHORTD_CORE_MESSAGING_CAMPAIGN_PREVIEW_H

#include "core/messaging/campaign.h"
#include "core/messaging/campaign_run.h"

#define CAMPAIGN_PREVIEW_ID "preview"
#define CAMPAIGN_PREVIEW_NAME "Preview"

/* The request of m for the user with external_id. CD_E_INVALID: m would be refused by
 * campaign_create (*fault says why). CD_E_NOT_FOUND: no such user. CD_OK: *req as
 * campaign_render fills it (req->skip set when the template aborts or fails); its
 * Idempotency-Key is "preview.<braze_id>.<ms now>", new on each call. */
enum cd_err campaign_preview(struct app *app, struct workspace *ws, const struct webhook_message *m,
                             const char *external_id, struct webhook_request *req,
                             struct campaign_fault *fault);

#endif
