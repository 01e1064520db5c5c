/*
 * campaigns_trigger.c — Braze's POST /campaigns/trigger/send and /canvas/trigger/send
 * (CONTRACT.md §3.10–3.11) and their schedules (…/trigger/schedule/create, update, delete): the
 * request JSON becomes a struct campaign_trigger_req, every field is checked against limits.h
 * before core is called, and core's faults and per-recipient errors become Braze's texts.
 * Recipients' `attributes` are read by /users/track's reader (users_int.h) into one track request
 * core applies in the trigger's write; `audience` is read by connected_audience.h into a segment
 * filter.
 */
#include "api/api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/connected_audience.h"
#include "api/limits.h"
#include "api/users_int.h"
#include "core/messaging/campaign.h"
#include "util/timeutil.h"

static const char *const kind_id_key[] = {"campaign_id", "canvas_id"};

static const char *str_of(const json_t *obj, const char *key) {
    return json_string_value(json_object_get(obj, key));
}

static bool invalid_id(struct http_response *res, enum campaign_kind kind) {
    http_reply_message(res, 400,
                       kind == CAMPAIGN_KIND_CANVAS ? "Invalid Canvas ID" : "Invalid Campaign ID");
    return false;
}

/* A trigger read from a body; strings point into the body, properties are owned. */
struct trigger_read {
    struct campaign_trigger_req req;
    struct trigger_recipient *recipients;
    json_t *properties;
    json_t **recipient_props; /* one per recipient, NULL when none */
    size_t n_props;
    json_t *attr_objs;          /* what the track request borrows: the objects, profile values */
    struct track_request track; /* recipients' attributes */
    size_t *attr_recipients;    /* track object i is recipient attr_recipients[i]'s */
    struct seg_node *audience;
};

static void trigger_read_free(struct trigger_read *t) {
    api_track_request_free(&t->track);
    json_decref(t->attr_objs);
    free(t->attr_recipients);
    segment_filter_free(t->audience);
    json_decref(t->properties);
    for (size_t i = 0; i < t->n_props; i++)
        json_decref(t->recipient_props[i]);
    free(t->recipient_props);
    free(t->recipients);
}

/*
 * The properties of a trigger object: campaigns read trigger_properties; Canvases read
 * canvas_entry_properties and context, merged with context winning. Values are arbitrary JSON.
 * where is "" or "recipients[i].". NULL when it replied 400.
 */
static json_t *read_props(struct http_response *res, enum campaign_kind kind, const json_t *obj,
                          const char *where) {
    static const char *const campaign_keys[] = {"trigger_properties", NULL};
    static const char *const canvas_keys[] = {"canvas_entry_properties", "context", NULL};
    json_t *props = json_object();
    if (!props) {
        api_reply_err(res, CD_E_NOMEM, NULL);
        return NULL;
    }
    for (const char *const *k = kind == CAMPAIGN_KIND_CANVAS ? canvas_keys : campaign_keys; *k;
         k++) {
        const json_t *v = json_object_get(obj, *k);
        /* "" is what Braze's own example sends for "no properties" */
        if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
            continue;
        if (!json_is_object(v)) {
            json_decref(props);
            api_refuse(res, "%s%s: must be an object", where, *k);
            return NULL;
        }
        json_object_update(props, (json_t *)v);
    }
    char *text = json_dumps(props, JSON_COMPACT);
    size_t len = text ? strlen(text) : SIZE_MAX;
    free(text);
    if (len > LIMIT_PROPERTIES_BYTES) { /* the existing rule's text */
        json_decref(props);
        api_refuse(res, "%sproperties: at most 50 KB", where);
        return NULL;
    }
    return props;
}

/* The /users/track object of a recipient's attributes: the attributes, the recipient's
 * identifier and whether the user may be created. New reference, NULL on NOMEM. */
static json_t *track_object(const json_t *attrs, const json_t *r,
                            const struct trigger_recipient *out, bool only_existing) {
    json_t *obj = json_copy((json_t *)attrs);
    static const char *const ids[] = {"external_id", "user_alias", "braze_id",
                                      "_update_existing_only", NULL};
    for (int k = 0; obj && ids[k]; k++)
        json_object_del(obj, ids[k]);
    const char *key = out->ref == RECIPIENT_EXTERNAL_ID ? "external_id"
                      : out->ref == RECIPIENT_ALIAS     ? "user_alias"
                                                        : "braze_id";
    json_t *id = out->ref == RECIPIENT_ALIAS ? json_incref(json_object_get(r, "user_alias"))
                                             : json_string(out->id);
    json_t *flag = json_boolean(only_existing);
    int bad = !obj || !id || json_object_set(obj, key, id) != 0 ||
              json_object_set(obj, "_update_existing_only", flag) != 0;
    json_decref(id);
    json_decref(flag);
    if (bad) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* A recipient's `attributes` and `send_to_existing_only` into the trigger's track request. */
static bool read_recipient_attributes(struct http_response *res, size_t i, const json_t *r,
                                      struct trigger_read *t) {
    const struct trigger_recipient *out = &t->recipients[i];
    const json_t *attrs = json_object_get(r, "attributes");
    const json_t *existing = json_object_get(r, "send_to_existing_only");
    if (attrs && !json_is_null(attrs) && !json_is_object(attrs))
        return api_refuse(res, "recipients[%zu].attributes: must be an object", i);
    if (existing && !json_is_null(existing) && !json_is_boolean(existing))
        return api_refuse(res, "recipients[%zu].send_to_existing_only: must be a boolean", i);
    bool only_existing = !json_is_false(existing);
    if (!only_existing && json_object_size(attrs) == 0) /* Braze's rule */
        return api_refuse(
            res, "recipients[%zu].attributes: required when send_to_existing_only is false", i);
    if (!only_existing && out->ref == RECIPIENT_ALIAS)
        return api_refuse(
            res, "recipients[%zu].send_to_existing_only: cannot be false for a user_alias", i);
    if (json_object_size(attrs) == 0 ||
        (out->ref != RECIPIENT_EXTERNAL_ID && out->ref != RECIPIENT_ALIAS &&
         out->ref != RECIPIENT_BRAZE_ID)) /* no user to apply them to: answered per recipient */
        return true;
    json_t *obj = track_object(attrs, r, out, only_existing);
    bool kept = obj && json_array_append(t->attr_objs, obj) == 0;
    json_decref(obj); /* the array holds it for the request */
    if (!kept) {
        api_reply_err(res, CD_E_NOMEM, NULL);
        return false;
    }
    char path[48];
    snprintf(path, sizeof path, "recipients[%zu].attributes", i);
    struct cd_msg msg = {{0}};
    if (api_track_attributes_check(obj, path, &msg) != CD_OK)
        return api_refuse(res, "%s", msg.text);
    struct track_attributes *ta = &t->track.attributes[t->track.n_attributes];
    if (api_track_attributes_parse(obj, ta, t->attr_objs) != CD_OK) {
        api_reply_err(res, CD_E_NOMEM, NULL);
        return false;
    }
    t->attr_recipients[t->track.n_attributes++] = i;
    if (ta->invalid)
        return api_refuse(res, "%s: %s", path,
                          api_user_minor_text(ta->invalid, USER_ARRAY_ATTRIBUTES));
    return true;
}

static bool read_recipient(struct http_response *res, enum campaign_kind kind, size_t i,
                           const json_t *r, struct trigger_read *t) {
    struct trigger_recipient *out = &t->recipients[i];
    if (!json_is_object(r))
        return api_refuse(res, "recipients[%zu]: must be an object", i);
    char where[40];
    snprintf(where, sizeof where, "recipients[%zu].", i);
    json_t *props = read_props(res, kind, r, where);
    if (!props)
        return false;
    t->recipient_props[t->n_props++] = props;
    out->properties = props;
    const char *ext = str_of(r, "external_user_id");
    const json_t *alias = json_object_get(r, "user_alias");
    const char *label = str_of(alias, "alias_label"), *name = str_of(alias, "alias_name");
    const char *bid = str_of(r, "braze_id");
    char field[64];
    bool ok = true;
    if (ext) {
        out->ref = RECIPIENT_EXTERNAL_ID;
        out->id = ext;
        snprintf(field, sizeof field, "recipients[%zu].external_user_id", i);
        ok = api_limit_len(res, field, ext, LIMIT_EXTERNAL_ID);
    } else if (json_is_object(alias) && label && name) {
        out->ref = RECIPIENT_ALIAS;
        out->alias_label = label;
        out->alias_name = name;
        snprintf(field, sizeof field, "recipients[%zu].user_alias.alias_label", i);
        ok = api_limit_len(res, field, label, LIMIT_ALIAS_LABEL);
        snprintf(field, sizeof field, "recipients[%zu].user_alias.alias_name", i);
        ok = ok && api_limit_len(res, field, name, LIMIT_ALIAS_NAME);
    } else if (bid) {
        out->ref = RECIPIENT_BRAZE_ID;
        out->id = bid;
        snprintf(field, sizeof field, "recipients[%zu].braze_id", i);
        ok = api_limit_len(res, field, bid, LIMIT_BRAZE_ID);
    } else if (str_of(r, "email")) {
        const char *email = str_of(r, "email");
        out->ref = RECIPIENT_EMAIL;
        out->id = email;
        const json_t *pri = json_object_get(r, "prioritization");
        if (!api_user_email_valid(email))
            return api_refuse(res, "recipients[%zu].email: must be an email address", i);
        if (pri && !json_is_null(pri) &&
            api_user_parse_priorities(pri, out->prioritization, &out->n_prioritization))
            return api_refuse(res,
                              "recipients[%zu].prioritization: must be a non-empty array of "
                              "identified, unidentified, most_recently_updated and "
                              "least_recently_updated, with at most one of identified and "
                              "unidentified",
                              i);
    } else {
        out->ref = RECIPIENT_NONE;
    }
    return ok;
}

/* Reads and checks the shape and limits of a trigger body. False when it replied 400. */
static bool read_trigger(struct http_response *res, enum campaign_kind kind, const json_t *body,
                         struct trigger_read *t) {
    struct campaign_trigger_req *req = &t->req;
    req->public_id = str_of(body, kind_id_key[kind]);
    if (req->public_id && strlen(req->public_id) > LIMIT_OBJECT_ID)
        return invalid_id(res, kind); /* names nothing, as an unknown id */
    const json_t *broadcast = json_object_get(body, "broadcast");
    const json_t *recipients = json_object_get(body, "recipients");
    const json_t *audience = json_object_get(body, "audience");
    const json_t *send_id = json_object_get(body, "send_id");
    if (broadcast && !json_is_boolean(broadcast))
        return api_refuse(res, "broadcast: must be a boolean");
    req->broadcast = json_is_true(broadcast);
    if (recipients && !json_is_null(recipients) && !json_is_array(recipients))
        return api_refuse(res, "recipients: must be an array");
    if (json_array_size(recipients) > LIMIT_TRIGGER_RECIPIENTS) /* Braze's text */
        return api_refuse(res, "The max number of ids per request was exceeded");
    if (audience && !json_is_null(audience) &&
        !(json_is_object(audience) && json_object_size(audience) == 0)) {
        char err[1024];
        if (!(t->audience = api_connected_audience_parse(audience, err, sizeof err)))
            return api_refuse(res, "%s", err);
        req->audience = t->audience;
    }
    if (send_id && !json_is_null(send_id) &&
        (!json_is_string(send_id) || json_string_length(send_id) == 0 ||
         json_string_length(send_id) > CAMPAIGN_MAX_SEND_ID))
        return api_refuse(res, "send_id: must be a string of 1 to 64 characters");
    req->send_id = json_string_value(send_id);
    if (!(t->properties = read_props(res, kind, body, "")))
        return false;
    req->properties = t->properties;
    size_t n = json_array_size(recipients);
    t->recipients = calloc(n ? n : 1, sizeof *t->recipients);
    t->recipient_props = calloc(n ? n : 1, sizeof(json_t *));
    t->attr_objs = json_array();
    t->track.attributes = calloc(n + 1, sizeof *t->track.attributes);
    t->attr_recipients = calloc(n + 1, sizeof *t->attr_recipients);
    if (!t->recipients || !t->recipient_props || !t->attr_objs || !t->track.attributes ||
        !t->attr_recipients) {
        api_reply_err(res, CD_E_NOMEM, NULL);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if (!read_recipient(res, kind, i, json_array_get(recipients, i), t) ||
            !read_recipient_attributes(res, i, json_array_get(recipients, i), t))
            return false;
    req->recipients = t->recipients;
    req->n_recipients = n;
    if (t->track.n_attributes) {
        req->attributes = &t->track;
        req->attribute_recipients = t->attr_recipients;
    }
    return true;
}

static const char *recipient_error_text(enum recipient_error e) {
    switch (e) {
    case RECIPIENT_EMAIL_AMBIGUOUS:
        return "more than one user has this email; give a prioritization that picks one";
    case RECIPIENT_NEEDS_AN_ID:
        return "a recipient needs external_user_id, user_alias or braze_id";
    default:
        return "no such user";
    }
}

static void reply_fault(struct http_response *res, enum campaign_kind kind,
                        const struct campaign_fault *f) {
    switch (f->code) {
    case CAMPAIGN_FAULT_UNKNOWN:
    case CAMPAIGN_FAULT_ARCHIVED:
    case CAMPAIGN_FAULT_NOT_API_TRIGGERED:
        invalid_id(res, kind);
        break;
    case CAMPAIGN_FAULT_NO_RECIPIENTS:
        http_reply_message(res, 400, "No Recipients");
        break;
    case CAMPAIGN_FAULT_TOO_MANY_RECIPIENTS:
        http_reply_message(res, 400, "The max number of ids per request was exceeded");
        break;
    case CAMPAIGN_FAULT_BROADCAST_AND_RECIPIENTS:
        http_reply_message(res, 400, "broadcast cannot be combined with recipients");
        break;
    case CAMPAIGN_FAULT_SEND_ID:
        http_reply_message(res, 400, "send_id: must be a string of 1 to 64 characters");
        break;
    case CAMPAIGN_FAULT_NO_SCHEDULE:
        http_reply_message(res, 400, "Invalid Schedule ID");
        break;
    case CAMPAIGN_FAULT_ATTRIBUTES:
        api_refuse(res, "recipients[%zu].attributes: %s", f->recipient,
                   api_user_minor_text(f->minor, USER_ARRAY_ATTRIBUTES));
        break;
    default:
        api_reply_err(res, CD_E_INVALID, NULL);
    }
}

static json_t *result_json(const struct campaign_trigger_req *req,
                           const struct campaign_trigger_result *r) {
    json_t *out = req->schedule_ms ? json_pack("{s:s, s:s, s:s}", "dispatch_id", r->dispatch_id,
                                               "schedule_id", r->schedule_id, "message", "success")
                                   : json_pack("{s:s, s:s}", "dispatch_id", r->dispatch_id,
                                               "message", "success");
    if (out && req->send_id)
        json_object_set_new(out, "send_id", json_string(req->send_id));
    if (out && r->archived_canvas)
        json_object_set_new(out, "notice",
                            json_string("The Canvas is archived. Unarchive the Canvas to ensure "
                                        "trigger requests will take effect."));
    if (out && r->n_errors) {
        json_t *errors = json_array();
        for (size_t i = 0; i < r->n_errors; i++)
            json_array_append_new(errors,
                                  json_pack("{s:s, s:s, s:I}", "type",
                                            recipient_error_text(r->errors[i].error), "input_array",
                                            "recipients", "index", (json_int_t)r->errors[i].index));
        json_object_set_new(out, "errors", errors);
    }
    return out;
}

/*
 * A schedule object {"time": ISO-8601, "in_local_time"?, "at_optimal_time"?} into *ms. Times
 * are UTC: local and optimal time are refused when true. False when it replied 400; *text is
 * the time as given (for the "in the past" answer).
 */
static bool read_schedule(struct http_response *res, const json_t *body, int64_t *ms,
                          const char **text) {
    const json_t *sched = json_object_get(body, "schedule");
    if (!json_is_object(sched))
        return api_refuse(res, "schedule: must be an object with a time");
    static const char *const unsupported[] = {"in_local_time", "at_optimal_time", NULL};
    for (int i = 0; unsupported[i]; i++) {
        const json_t *v = json_object_get(sched, unsupported[i]);
        if (v && !json_is_null(v) && !json_is_boolean(v))
            return api_refuse(res, "schedule.%s: must be a boolean", unsupported[i]);
        if (json_is_true(v))
            return api_refuse(res, "schedule.%s: not supported; times are UTC", unsupported[i]);
    }
    *text = str_of(sched, "time");
    if (!*text || time_parse_iso8601(*text, ms) != 0)
        return api_refuse(res, "schedule.time: must be an ISO-8601 time");
    if (*ms <= 0) /* 0 means "now" to core */
        return api_refuse(res, "schedule.time: %s is in the past", *text);
    return true;
}

/* Trigger now (schedule false) or schedule/create. */
static void trigger(void *vctx, const struct http_request *req, struct http_response *res,
                    enum campaign_kind kind, bool schedule) {
    struct api_ctx *ctx = vctx;
    json_t *body = api_json_body(req, res);
    struct workspace *ws = body ? api_auth_rest(ctx, req, body, res) : NULL;
    struct trigger_read t = {0};
    const char *time_text = NULL;
    bool ok = ws && read_trigger(res, kind, body, &t);
    if (ok && schedule && t.track.n_attributes) /* applied when sent, not when scheduled */
        ok = api_refuse(res,
                        "recipients[%zu].attributes: not supported in a schedule; send them with "
                        "/users/track",
                        t.attr_recipients[0]);
    if (ok && schedule)
        ok = read_schedule(res, body, &t.req.schedule_ms, &time_text);
    if (ok) {
        struct campaign_trigger_result r;
        struct campaign_fault fault;
        enum cd_err err = campaign_trigger(ctx->app, ws, kind, &t.req, &r, &fault);
        if (err == CD_E_INVALID && fault.code == CAMPAIGN_FAULT_TIME_PAST) {
            api_refuse(res, "schedule.time: %s is in the past", time_text);
        } else if (err == CD_E_INVALID) {
            reply_fault(res, kind, &fault);
        } else if (err != CD_OK) {
            api_reply_err(res, err, NULL);
        } else {
            json_t *out = result_json(&t.req, &r);
            api_reply_result(res, out ? CD_OK : CD_E_NOMEM, 201, out, NULL);
        }
        if (err == CD_OK)
            campaign_trigger_result_free(&r);
    }
    trigger_read_free(&t);
    json_decref(body);
}

void api_campaigns_trigger(void *ctx, const struct http_request *req, struct http_response *res) {
    trigger(ctx, req, res, CAMPAIGN_KIND_CAMPAIGN, false);
}

void api_canvas_trigger(void *ctx, const struct http_request *req, struct http_response *res) {
    trigger(ctx, req, res, CAMPAIGN_KIND_CANVAS, false);
}

void api_campaigns_schedule_create(void *ctx, const struct http_request *req,
                                   struct http_response *res) {
    trigger(ctx, req, res, CAMPAIGN_KIND_CAMPAIGN, true);
}

void api_canvas_schedule_create(void *ctx, const struct http_request *req,
                                struct http_response *res) {
    trigger(ctx, req, res, CAMPAIGN_KIND_CANVAS, true);
}

/* schedule/update (a new time) and schedule/delete. */
static void schedule_change(void *vctx, const struct http_request *req, struct http_response *res,
                            enum campaign_kind kind, bool cancel) {
    struct api_ctx *ctx = vctx;
    json_t *body = api_json_body(req, res);
    struct workspace *ws = body ? api_auth_rest(ctx, req, body, res) : NULL;
    const char *id = str_of(body, kind_id_key[kind]);
    const char *schedule_id = str_of(body, "schedule_id");
    const char *time_text = NULL;
    int64_t ms = 0;
    bool ok = ws != NULL;
    if (ok && (!id || strlen(id) > LIMIT_OBJECT_ID))
        ok = invalid_id(res, kind);
    if (ok && (!schedule_id || !*schedule_id))
        ok = api_refuse(res, "schedule_id: is required");
    if (ok && !cancel)
        ok = read_schedule(res, body, &ms, &time_text);
    if (ok) {
        struct campaign_fault fault;
        enum cd_err err =
            campaign_schedule_change(ctx->app, ws, kind, id, schedule_id, cancel, ms, &fault);
        if (err == CD_E_INVALID && fault.code == CAMPAIGN_FAULT_TIME_PAST)
            api_refuse(res, "schedule.time: %s is in the past", time_text);
        else if (err == CD_E_INVALID)
            reply_fault(res, kind, &fault);
        else if (err != CD_OK)
            api_reply_err(res, err, NULL);
        else
            http_reply_message(res, 201, "success");
    }
    json_decref(body);
}

void api_campaigns_schedule_update(void *ctx, const struct http_request *req,
                                   struct http_response *res) {
    schedule_change(ctx, req, res, CAMPAIGN_KIND_CAMPAIGN, false);
}

void api_campaigns_schedule_delete(void *ctx, const struct http_request *req,
                                   struct http_response *res) {
    schedule_change(ctx, req, res, CAMPAIGN_KIND_CAMPAIGN, true);
}

void api_canvas_schedule_update(void *ctx, const struct http_request *req,
                                struct http_response *res) {
    schedule_change(ctx, req, res, CAMPAIGN_KIND_CANVAS, false);
}

void api_canvas_schedule_delete(void *ctx, const struct http_request *req,
                                struct http_response *res) {
    schedule_change(ctx, req, res, CAMPAIGN_KIND_CANVAS, true);
}
