/*
 * campaign.h — campaigns and Canvases: webhook messages sent to a segment's audience now
 * (`immediate`), once at a time (`at`), on /campaigns/trigger/send or /canvas/trigger/send
 * (`api_triggered`), or to each user a partner cohort import adds (`cohort_entry`). A Canvas is
 * an ordered list of steps, each sent a delay after the previous one; a campaign is one step.
 *
 * Every send belongs to a dispatch (store.h): who it is for is decided and stored when a step
 * starts (the dispatch's audience ∩ the segment then), and each user's outcome is stored with
 * its message event, so sending survives restarts without skipping or repeating a user. The
 * sending itself is campaign_run.h's, driven by the sender thread.
 *
 * Calls take parsed JSON and answer JSON in Braze's shapes where Braze has them (CONTRACT.md
 * §3.10–3.11). A bad request is CD_E_INVALID with msg set, and nothing is stored.
 */
#ifndef COHORTD_CORE_MESSAGING_CAMPAIGN_H
#define COHORTD_CORE_MESSAGING_CAMPAIGN_H

#include <jansson.h>
#include <roaring/roaring.h>
#include <stdint.h>

#include "core/workspace/workspace.h"

#define CAMPAIGN_MAX_STEPS 20
#define CAMPAIGN_MAX_RECIPIENTS 50
#define CAMPAIGN_MAX_PROPERTIES_BYTES ((size_t)50 * 1024)
#define CAMPAIGN_MAX_MESSAGE_BYTES ((size_t)64 * 1024)

/* POST /campaigns/create and /canvas/create → {"campaign_id" | "canvas_id", "message"}. */
enum cd_err campaign_create(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                            struct cd_msg *msg);
enum cd_err canvas_create(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                          struct cd_msg *msg);

/* GET /campaigns/list and /canvas/list. */
enum cd_err campaign_list(struct app *app, struct workspace *ws, enum campaign_kind kind,
                          json_t **out);

/* GET /campaigns/details and /canvas/details: definition, audience size now, counters.
 * CD_E_NOT_FOUND (msg set) when unknown. */
enum cd_err campaign_details(struct app *app, struct workspace *ws, enum campaign_kind kind,
                             const char *public_id, json_t **out, struct cd_msg *msg);

/* POST /campaigns/archive and /canvas/archive {"campaign_id" | "canvas_id"}: no new
 * dispatches, and unfinished ones stop. */
enum cd_err campaign_archive(struct app *app, struct workspace *ws, const json_t *body,
                             json_t **out, struct cd_msg *msg);
enum cd_err canvas_archive(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                           struct cd_msg *msg);

/* POST /campaigns/trigger/send and /canvas/trigger/send → {"dispatch_id", "message"}. */
enum cd_err campaign_trigger(struct app *app, struct workspace *ws, const json_t *body,
                             json_t **out, struct cd_msg *msg);
enum cd_err canvas_trigger(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                           struct cd_msg *msg);

/* Inside a workspace write: starts a dispatch to `added` for every live cohort_entry campaign
 * or Canvas on (partner, cohort_id). Called by the cohort import with its net adds. */
enum cd_err campaign_cohort_entry_locked(struct app *app, struct workspace *ws, const char *partner,
                                         const char *cohort_id, const roaring_bitmap_t *added,
                                         int64_t now);

#endif
