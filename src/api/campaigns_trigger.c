/*
 * campaigns_trigger.c — Braze's POST /campaigns/trigger/send and /canvas/trigger/send
 * (CONTRACT.md §3.10–3.11): the request JSON becomes a struct campaign_trigger_req, every field
 * is checked against limits.h before core is called, and core's faults and per-recipient errors
 * become Braze's texts.
 */
#include "api/api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/limits.h"
#include "api/users_int.h"
#include "core/messaging/campaign.h"

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
};

static void trigger_read_free(struct trigger_read *t) {
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
        if (!v || json_is_null(v))
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

static bool read_recipient(struct http_response *res, enum campaign_kind kind, size_t i,
                           const json_t *r, struct trigger_read *t) {
    struct trigger_recipient *out = &t->recipients[i];
    if (!json_is_object(r))
        return api_refuse(res, "recipients[%zu]: must be an object", i);
    if (json_object_size(json_object_get(r, "attributes")) > 0) /* never half-apply a request */
        return api_refuse(res,
                          "recipients[%zu].attributes: not supported; send them with /users/track "
                          "first",
                          i);
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
    if (ext) {
        out->ref = RECIPIENT_EXTERNAL_ID;
        out->id = ext;
        snprintf(field, sizeof field, "recipients[%zu].external_user_id", i);
        return api_limit_len(res, field, ext, LIMIT_EXTERNAL_ID);
    }
    if (json_is_object(alias) && label && name) {
        out->ref = RECIPIENT_ALIAS;
        out->alias_label = label;
        out->alias_name = name;
        snprintf(field, sizeof field, "recipients[%zu].user_alias.alias_label", i);
        if (!api_limit_len(res, field, label, LIMIT_ALIAS_LABEL))
            return false;
        snprintf(field, sizeof field, "recipients[%zu].user_alias.alias_name", i);
        return api_limit_len(res, field, name, LIMIT_ALIAS_NAME);
    }
    if (bid) {
        out->ref = RECIPIENT_BRAZE_ID;
        out->id = bid;
        snprintf(field, sizeof field, "recipients[%zu].braze_id", i);
        return api_limit_len(res, field, bid, LIMIT_BRAZE_ID);
    }
    const char *email = str_of(r, "email");
    out->ref = email ? RECIPIENT_EMAIL : RECIPIENT_NONE;
    out->id = email;
    const json_t *pri = json_object_get(r, "prioritization");
    if (email && !api_user_email_valid(email))
        return api_refuse(res, "recipients[%zu].email: must be an email address", i);
    if (pri && !json_is_null(pri) &&
        api_user_parse_priorities(pri, out->prioritization, &out->n_prioritization))
        return api_refuse(res,
                          "recipients[%zu].prioritization: must be a non-empty array of "
                          "identified, unidentified, most_recently_updated and "
                          "least_recently_updated, with at most one of identified and unidentified",
                          i);
    return true;
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
        !(json_is_object(audience) && json_object_size(audience) == 0))
        return api_refuse(res, "audience: connected audiences are not supported; target a segment");
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
    if (!t->recipients || !t->recipient_props) {
        api_reply_err(res, CD_E_NOMEM, NULL);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if (!read_recipient(res, kind, i, json_array_get(recipients, i), t))
            return false;
    req->recipients = t->recipients;
    req->n_recipients = n;
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
    default:
        api_reply_err(res, CD_E_INVALID, NULL);
    }
}

static json_t *result_json(const struct campaign_trigger_req *req,
                           const struct campaign_trigger_result *r) {
    json_t *out = json_pack("{s:s, s:s}", "dispatch_id", r->dispatch_id, "message", "success");
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

static void trigger(void *vctx, const struct http_request *req, struct http_response *res,
                    enum campaign_kind kind) {
    struct api_ctx *ctx = vctx;
    json_t *body = api_json_body(req, res);
    struct workspace *ws = body ? api_auth_rest(ctx, req, body, res) : NULL;
    struct trigger_read t = {0};
    if (ws && read_trigger(res, kind, body, &t)) {
        struct campaign_trigger_result r;
        struct campaign_fault fault;
        enum cd_err err = campaign_trigger(ctx->app, ws, kind, &t.req, &r, &fault);
        if (err == CD_E_INVALID) {
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
    trigger(ctx, req, res, CAMPAIGN_KIND_CAMPAIGN);
}

void api_canvas_trigger(void *ctx, const struct http_request *req, struct http_response *res) {
    trigger(ctx, req, res, CAMPAIGN_KIND_CANVAS);
}
