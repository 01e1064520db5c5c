/*
 * campaign_run.h — running dispatches (campaign.h), for the sender thread: which dispatches are
 * due, who a step goes to, the personalised request for one user, and recording outcomes with
 * their message events.
 *
 * A run is one step of one dispatch. Starting it fixes its targets durably (the dispatch's
 * audience ∩ the segment now; users outside it are not sent to, or leave a Canvas). `remaining` is
 * the targets without a recorded outcome, so a run started again after a restart resumes where
 * the last one stopped. Outcomes are recorded in one workspace write per batch: the delivery row
 * and its users.messages.webhook.Send or .Failure event (after a users.canvas.Entry event for a
 * Canvas's first step) are durable together. A run's writes change only the store
 * (workspace_store_write_begin), so no reader of the workspace waits for them.
 */
#ifndef COHORTD_CORE_MESSAGING_CAMPAIGN_RUN_H
#define COHORTD_CORE_MESSAGING_CAMPAIGN_RUN_H

#include <jansson.h>
#include <roaring/roaring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/messaging/liquid/liquid.h"
#include "core/workspace/workspace.h"

struct campaign_run {
    int64_t dispatch; /* dispatch row id */
    int64_t campaign; /* campaign row id */
    struct workspace *ws;
    enum campaign_kind kind;
    /* owned copies, whole whatever their length */
    char *public_id;
    char *name;
    char *dispatch_id;
    char *send_id; /* NULL when none */
    char *variation_id;
    char *variation_name;
    int64_t step;
    char *step_id;
    char *step_name;
    int64_t next_delay_ms;   /* delay of the next step; -1 after the last */
    int64_t rate_per_minute; /* 0: unlimited */
    json_t *webhook;         /* {url, method, headers, body} of this step */
    /* its templates parsed once for every user (NULL: render the text; see tmpl_parse_stored) */
    struct liquid_tree *url_tree, *body_tree;
    struct liquid_tree **header_trees; /* one per header, in the object's order */
    json_t *props;                     /* {"all": {…}, "users": {"<uid>": {…}}}, or NULL */
    roaring_bitmap_t *targets;
    roaring_bitmap_t *remaining; /* targets with no recorded outcome; the sender takes from it */
    /* the next recipients' profiles, read ahead in one store read (campaign_run.c); NULL: each
     * render reads its user alone */
    struct campaign_profiles *profiles;
    /* the properties of its Send and (Canvas) Entry events as members text
     * (event_members_text), made once when the run starts; NULL: built per event */
    char *send_members, *entry_members;
    /* what every render of the run shares, made once when it starts (NULL: made per render):
     * the campaign.${…} or canvas.${…} object, and an empty object for no trigger properties */
    json_t *about, *no_props;
};

/* Whether a personalised request is to be sent. */
enum webhook_skip {
    WEBHOOK_SEND,
    WEBHOOK_ABORTED,       /* the template ran {% abort_message %}: skip_reason is its text */
    WEBHOOK_RENDER_FAILED, /* rendering passed a bound (liquid.h): skip_reason says which */
};

/* One personalised request. */
struct webhook_request {
    uint32_t uid;
    char braze_id[25];
    char *external_id; /* owned, "" when none */
    char *url;
    const char *method;
    char **headers; /* "Name: value" lines */
    size_t n_headers;
    char *body;
    char idempotency_key[80]; /* dispatch_id.step.braze_id: the same on every attempt */
    enum webhook_skip skip;   /* not WEBHOOK_SEND: nothing is sent; the outcome is recorded */
    char *skip_reason;        /* owned */
};

struct webhook_outcome {
    const struct webhook_request *req;
    int status;    /* HTTP status; 0 when there was no response */
    int attempts;  /* attempts made, this one included */
    bool terminal; /* 2xx, or the last attempt */
    int64_t duration_ms;
    const char *response; /* body, truncated; or the transport error when status is 0 */
    int64_t content_length;
};

/*
 * Starts up to `max` due dispatches that running(ctx, dispatch) says are not running yet.
 * Runs go into out[] (*n set). Dispatches of archived campaigns are finished instead.
 */
enum cd_err campaign_runs_due(struct app *app, int64_t now, size_t max,
                              bool (*running)(void *ctx, int64_t dispatch), void *ctx,
                              struct campaign_run **out, size_t *n);

/* The request for uid. CD_E_NOT_FOUND when the user no longer exists (it is skipped). A
 * template that aborts or fails for this user gives CD_OK with req->skip set (url, body and
 * headers then hold what was rendered, url at least the step's template). */
enum cd_err campaign_render(struct app *app, const struct campaign_run *run, uint32_t uid,
                            struct webhook_request *req);
void webhook_request_free(struct webhook_request *req);

/* Records n outcomes of run in one write: final ones durably with their event; a non-final
 * failure as a Failure event with is_terminal false. A skipped request (req->skip) is final: an
 * abort is recorded as DELIVERY_ABORTED without a message event or a count (the sender logs its
 * reason), a render failure as a Failure whose raw_response is the reason. */
enum cd_err campaign_record(struct app *app, struct campaign_run *run,
                            const struct webhook_outcome *o, size_t n);

/* Ends the step after every target has an outcome: schedules the next step for them, or
 * finishes the dispatch. */
enum cd_err campaign_step_done(struct app *app, struct campaign_run *run, int64_t now);

/* False once the run's campaign is archived (its dispatch is finished when next started). */
bool campaign_run_live(struct app *app, const struct campaign_run *run);

void campaign_run_free(struct campaign_run *run);

#endif
