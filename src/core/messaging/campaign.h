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
 * The verbs take and give C structs; reading Braze's request JSON and writing Braze's answers
 * (CONTRACT.md §3.10–3.11) is api/'s. A request the domain refuses is CD_E_INVALID with a
 * struct campaign_fault saying which rule failed and where (step, part of the message, header,
 * recipient); api/ turns it into Braze's text or a message naming the field. Nothing is stored
 * then. Strings in the input structs are borrowed for the call; any length is kept whole.
 */
#ifndef COHORTD_CORE_MESSAGING_CAMPAIGN_H
#define COHORTD_CORE_MESSAGING_CAMPAIGN_H

#include <jansson.h>
#include <roaring/roaring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/messaging/template.h"
#include "core/segments/segment_filter.h"
#include "core/users/users.h"
#include "core/workspace/workspace.h"

#define CAMPAIGN_MAX_STEPS 20
#define CAMPAIGN_MAX_RECIPIENTS 50
#define CAMPAIGN_MAX_PROPERTIES_BYTES ((size_t)50 * 1024)
#define CAMPAIGN_MAX_MESSAGE_BYTES ((size_t)64 * 1024)
#define CAMPAIGN_MAX_DELAY_SECONDS (30LL * 86400)
#define CAMPAIGN_MAX_RATE_PER_MINUTE 1000000
#define CAMPAIGN_MAX_SEND_ID 64
#define CAMPAIGN_DISPATCH_ID_LEN 24 /* hex characters, as Braze's */

enum webhook_method { WEBHOOK_GET, WEBHOOK_POST, WEBHOOK_PUT, WEBHOOK_PATCH, WEBHOOK_DELETE };

/* "GET" … "DELETE". */
const char *webhook_method_name(enum webhook_method m);

enum schedule_type {
    SCHEDULE_IMMEDIATE,
    SCHEDULE_AT,
    SCHEDULE_API_TRIGGERED,
    SCHEDULE_COHORT_ENTRY,
};

/* "immediate", "at", "api_triggered", "cohort_entry". */
const char *schedule_type_name(enum schedule_type t);

struct webhook_header {
    const char *name;
    const char *value; /* a template */
};

struct webhook_message {
    const char *url; /* a template */
    enum webhook_method method;
    const struct webhook_header *headers;
    size_t n_headers;
    const char *body; /* a template; "" when none */
};

struct campaign_step {
    const char *id; /* set by the store on details; ignored on create */
    const char *name;
    int64_t delay_seconds;
    struct webhook_message message;
};

struct campaign_schedule {
    enum schedule_type type;
    int64_t time_ms;       /* SCHEDULE_AT */
    const char *partner;   /* SCHEDULE_COHORT_ENTRY */
    const char *cohort_id; /* SCHEDULE_COHORT_ENTRY */
};

/* A campaign (one step, named as the campaign) or a Canvas. */
struct campaign_def {
    const char *name;
    const char *segment_id;
    struct campaign_schedule schedule;
    bool has_rate_limit;
    int64_t rate_limit_per_minute; /* when has_rate_limit */
    const struct campaign_step *steps;
    size_t n_steps;
};

/* Domain refusals; api/ maps each to its text (Braze's where Braze has one). */
enum campaign_fault_code {
    CAMPAIGN_FAULT_NONE,
    CAMPAIGN_FAULT_UNKNOWN,             /* no campaign / Canvas with that id */
    CAMPAIGN_FAULT_ARCHIVED,            /* an archived campaign cannot be triggered */
    CAMPAIGN_FAULT_NOT_API_TRIGGERED,   /* its schedule is not api_triggered */
    CAMPAIGN_FAULT_NO_RECIPIENTS,       /* neither broadcast nor recipients */
    CAMPAIGN_FAULT_TOO_MANY_RECIPIENTS, /* over CAMPAIGN_MAX_RECIPIENTS */
    CAMPAIGN_FAULT_BROADCAST_AND_RECIPIENTS,
    CAMPAIGN_FAULT_SEND_ID,      /* send_id empty or over CAMPAIGN_MAX_SEND_ID */
    CAMPAIGN_FAULT_NAME,         /* empty name (of the campaign, or of step `step`) */
    CAMPAIGN_FAULT_NO_SEGMENT,   /* segment_id names no segment */
    CAMPAIGN_FAULT_RATE,         /* rate limit outside 1 … CAMPAIGN_MAX_RATE_PER_MINUTE */
    CAMPAIGN_FAULT_TIME_PAST,    /* an `at` time more than a minute ago */
    CAMPAIGN_FAULT_COHORT,       /* cohort_entry without partner or cohort_id */
    CAMPAIGN_FAULT_NO_PARTNER,   /* cohort_entry partner unknown */
    CAMPAIGN_FAULT_STEPS,        /* not 1 … CAMPAIGN_MAX_STEPS steps */
    CAMPAIGN_FAULT_DELAY,        /* delay outside 0 … CAMPAIGN_MAX_DELAY_SECONDS */
    CAMPAIGN_FAULT_URL,          /* not http:// or https:// */
    CAMPAIGN_FAULT_HEADER,       /* a bad header name, or a value with a line break */
    CAMPAIGN_FAULT_MESSAGE_SIZE, /* url + body over CAMPAIGN_MAX_MESSAGE_BYTES */
    CAMPAIGN_FAULT_TEMPLATE,     /* a bad tag in `part`: see tmpl */
    CAMPAIGN_FAULT_ATTRIBUTES,   /* recipient `recipient`'s attributes fail with `minor` */
    CAMPAIGN_FAULT_NO_SCHEDULE,  /* no pending schedule of the campaign has that schedule id */
};

/* The part of a message a fault is in. */
enum message_part { MESSAGE_PART_URL, MESSAGE_PART_HEADER, MESSAGE_PART_BODY };

struct campaign_fault {
    enum campaign_fault_code code;
    size_t step;            /* the step a definition fault is in */
    enum message_part part; /* CAMPAIGN_FAULT_URL, _HEADER, _MESSAGE_SIZE, _TEMPLATE */
    size_t header;          /* index of the header, for MESSAGE_PART_HEADER */
    struct tmpl_fault tmpl; /* CAMPAIGN_FAULT_TEMPLATE: points into the definition */
    size_t recipient;       /* CAMPAIGN_FAULT_ATTRIBUTES: index in the request's recipients */
    enum user_minor minor;  /* CAMPAIGN_FAULT_ATTRIBUTES: what core found wrong with them */
};

/* POST /campaigns/create and /canvas/create: validates def whole and stores it; an immediate or
 * `at` schedule starts its dispatch. public_id gets the new id. */
enum cd_err campaign_create(struct app *app, struct workspace *ws, enum campaign_kind kind,
                            const struct campaign_def *def, char public_id[37],
                            struct campaign_fault *fault);

/* One item of GET /campaigns/list and /canvas/list; borrowed for the callback. */
struct campaign_summary {
    const char *public_id;
    const char *name;
    enum schedule_type schedule;
    bool archived;
    int64_t created_at;
    int64_t last_edited; /* archived, else created */
};

/* The page of campaigns (or Canvases) q selects, in its order (Braze's pages of 100: the
 * caller sets q's offset and limit). */
enum cd_err campaign_list(struct app *app, struct workspace *ws, enum campaign_kind kind,
                          const struct campaign_list_query *q,
                          void (*cb)(void *ctx, const struct campaign_summary *), void *ctx);

/* GET /campaigns/details and /canvas/details: definition, audience size now, counters. */
struct campaign_info {
    const char *public_id;
    int64_t created_at;
    bool archived;
    struct campaign_def def; /* steps carry their ids */
    const char *variation_id;
    const char *variation_name;
    int64_t audience_size; /* -1 when the segment is gone */
    int64_t n_entered;     /* users that entered (Canvas) or were targeted (campaign) */
    int64_t n_sent;
    int64_t n_failed;
    void *priv; /* what the strings point into */
};

/* CD_E_INVALID with CAMPAIGN_FAULT_UNKNOWN when there is none. Free info with
 * campaign_info_free. */
enum cd_err campaign_details(struct app *app, struct workspace *ws, enum campaign_kind kind,
                             const char *public_id, struct campaign_info *info,
                             struct campaign_fault *fault);
void campaign_info_free(struct campaign_info *info);

/* POST /campaigns/archive and /canvas/archive: no new dispatches, and unfinished ones stop.
 * CAMPAIGN_FAULT_UNKNOWN when none is live with that id. */
enum cd_err campaign_archive(struct app *app, struct workspace *ws, enum campaign_kind kind,
                             const char *public_id, struct campaign_fault *fault);

/* How a trigger recipient names its user. */
enum recipient_ref {
    RECIPIENT_NONE,  /* none of the ways below */
    RECIPIENT_EMAIL, /* by email only (id): the user its prioritization picks */
    RECIPIENT_EXTERNAL_ID,
    RECIPIENT_ALIAS,
    RECIPIENT_BRAZE_ID,
};

struct trigger_recipient {
    enum recipient_ref ref;
    const char *id;          /* external id or braze id */
    const char *alias_label; /* RECIPIENT_ALIAS */
    const char *alias_name;
    /* RECIPIENT_EMAIL: which of several users with the email (none: identified first, then the
     * most recently updated, as /users/track) */
    enum user_priority prioritization[USER_PRIORITIES_MAX];
    size_t n_prioritization;
    /* This recipient's properties, overriding the trigger's key by key: a JSON object, or NULL.
     * Trigger properties are arbitrary JSON by definition (templates insert any value), so they
     * stay json_t; core only stores them. */
    const json_t *properties;
};

/* POST /campaigns/trigger/send and /canvas/trigger/send. */
struct campaign_trigger_req {
    const char *public_id; /* NULL: none given */
    bool broadcast;        /* the whole segment; no recipients then */
    const struct trigger_recipient *recipients;
    size_t n_recipients;
    const char *send_id;      /* NULL when none */
    const json_t *properties; /* a JSON object (arbitrary values), or NULL */
    /* Recipients' `attributes`, applied as /users/track's attributes in the same write before
     * the recipients are looked up: object i belongs to recipient attribute_recipients[i]
     * (its ref and update_existing_only say who and whether it may be created). NULL: none. */
    const struct track_request *attributes;
    const size_t *attribute_recipients;
    /* A connected audience as a segment filter, evaluated after the attributes: only its users
     * are sent to (the recipients among them, or without recipients all of it that is in the
     * segment when the step starts). NULL: none. */
    const struct seg_node *audience;
    /* 0: send now. Else a schedule (/trigger/schedule/create): the dispatch is due then (ms),
     * recipients and audience are resolved now, and the result carries a schedule id.
     * CAMPAIGN_FAULT_TIME_PAST when more than a minute ago. */
    int64_t schedule_ms;
};

/* A recipient that named no live user: not fatal, the others are sent to. */
enum recipient_error {
    RECIPIENT_NO_SUCH_USER,
    RECIPIENT_EMAIL_AMBIGUOUS, /* several users have the email; the prioritization picks none */
    RECIPIENT_NEEDS_AN_ID,     /* no external_user_id, user_alias or braze_id */
};

struct recipient_fault {
    size_t index;
    enum recipient_error error;
};

struct campaign_trigger_result {
    char dispatch_id[CAMPAIGN_DISPATCH_ID_LEN + 1];
    bool archived_canvas;           /* a Canvas that is archived: accepted, nothing sent */
    struct recipient_fault *errors; /* malloc'd; free with campaign_trigger_result_free */
    size_t n_errors;
    uint64_t n_recipients; /* users the dispatch is for (0 for broadcast) */
    char schedule_id[37];  /* a schedule's id (a UUID); "" when sent now */
};

enum cd_err campaign_trigger(struct app *app, struct workspace *ws, enum campaign_kind kind,
                             const struct campaign_trigger_req *req,
                             struct campaign_trigger_result *result, struct campaign_fault *fault);
void campaign_trigger_result_free(struct campaign_trigger_result *result);

/* POST /campaigns/trigger/schedule/update and …/delete (and the Canvas ones): moves a schedule
 * that has not started to time_ms, or cancels it. CAMPAIGN_FAULT_UNKNOWN / _NOT_API_TRIGGERED
 * for the campaign, _NO_SCHEDULE when none of its pending schedules has the id (one that has
 * started sending, or was deleted, is not pending), _TIME_PAST for an update. */
enum cd_err campaign_schedule_change(struct app *app, struct workspace *ws, enum campaign_kind kind,
                                     const char *public_id, const char *schedule_id, bool cancel,
                                     int64_t time_ms, struct campaign_fault *fault);

/* One send not started yet (GET /messages/scheduled_broadcasts); borrowed for the callback. */
struct scheduled_send {
    enum campaign_kind kind;
    const char *public_id;
    const char *name;
    const char *dispatch_id;
    const char *schedule_id; /* NULL: the campaign's own `at` schedule */
    int64_t send_at;         /* ms: when its first step is due, without that step's delay */
};

/* Every send of a live campaign or Canvas not started yet whose step is due by until_ms, by
 * time. */
enum cd_err campaign_scheduled(struct app *app, struct workspace *ws, int64_t until_ms,
                               void (*cb)(void *ctx, const struct scheduled_send *), void *ctx);

/* Inside a workspace write: starts a dispatch to `added` for every live cohort_entry campaign
 * or Canvas on (partner, cohort_id). Called by the cohort import with its net adds. */
enum cd_err campaign_cohort_entry_locked(struct app *app, struct workspace *ws, const char *partner,
                                         const char *cohort_id, const roaring_bitmap_t *added,
                                         int64_t now);

#endif
