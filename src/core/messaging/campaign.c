/*
 * campaign.c — defining campaigns and Canvases, and starting their dispatches (see campaign.h).
 * A definition is validated whole and stored normalised, as one list of steps for both kinds:
 *
 *   {"variation": {"id", "name"}, "schedule": {"type", …}, "rate_limit_per_minute"?: n,
 *    "steps": [{"id", "name", "delay_seconds", "message": {"webhook": {url, method, headers,
 *    body}}}]}
 */
#include "core/messaging/campaign.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/index/bitmap.h"
#include "core/segments/segments.h"
#include "core/messaging/template.h"
#include "core/workspace/workspace_int.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/timeutil.h"

#define NAME_MAX_LEN 256
#define SEND_ID_MAX_LEN 64
#define MAX_DELAY_SECONDS (30LL * 86400)
#define AT_MAX_PAST_MS 60000

static const char *const kind_word[] = {"campaign", "canvas"};

static const char *invalid_id(enum campaign_kind kind) {
    return kind == CAMPAIGN_KIND_CANVAS ? "Invalid Canvas ID" : "Invalid Campaign ID";
}

static const char *str_of(const json_t *obj, const char *key) {
    return json_string_value(json_object_get(obj, key));
}

/* ---- validation ---- */

static bool header_name_ok(const char *name) {
    if (!*name)
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-.^_`|~", *p))
            return false;
    return true;
}

/* Checks a template text at `where`; prefixes msg with the place. */
static enum cd_err check_text(const char *text, enum tmpl_scope scope, const char *where,
                              struct cd_msg *msg) {
    struct cd_msg why = {{0}};
    if (tmpl_check(text, scope, &why) == CD_OK)
        return CD_OK;
    return cd_invalid(msg, "%s: %.200s", where, why.text);
}

/* Validates {"webhook": {...}} at `where`; *out is the normalised webhook object. */
static enum cd_err parse_message(const json_t *m, enum tmpl_scope scope, const char *where,
                                 json_t **out, struct cd_msg *msg) {
    char at[96];
    const json_t *wh = json_object_get(m, "webhook");
    if (!json_is_object(m) || !json_is_object(wh))
        return cd_invalid(
            msg, "%s: must be {\"webhook\": {\"url\", \"method\", \"headers\", \"body\"}}", where);
    const char *url = str_of(wh, "url");
    snprintf(at, sizeof at, "%s.webhook.url", where);
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return cd_invalid(msg, "%s: must be an http:// or https:// URL", at);
    if (check_text(url, scope, at, msg) != CD_OK)
        return CD_E_INVALID;
    const json_t *method = json_object_get(wh, "method");
    const char *mtext = method ? json_string_value(method) : "POST";
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    size_t mi = 0;
    while (mtext && mi < 5 && strcmp(mtext, methods[mi]) != 0)
        mi++;
    if (!mtext || mi == 5)
        return cd_invalid(msg, "%s.webhook.method: must be GET, POST, PUT, PATCH or DELETE", where);
    const json_t *headers = json_object_get(wh, "headers");
    if (headers && !json_is_null(headers) && !json_is_object(headers))
        return cd_invalid(msg, "%s.webhook.headers: must be an object of strings", where);
    const char *hname;
    const json_t *hval;
    json_object_foreach((json_t *)headers, hname, hval) {
        snprintf(at, sizeof at, "%s.webhook.headers.%s", where, hname);
        if (!header_name_ok(hname) || !json_is_string(hval) ||
            strpbrk(json_string_value(hval), "\r\n"))
            return cd_invalid(msg, "%s: must be a header name with a one-line string value", at);
        if (check_text(json_string_value(hval), scope, at, msg) != CD_OK)
            return CD_E_INVALID;
    }
    const json_t *body = json_object_get(wh, "body");
    if (body && !json_is_null(body) && !json_is_string(body))
        return cd_invalid(msg, "%s.webhook.body: must be a string (the request body template)",
                          where);
    const char *btext = json_is_string(body) ? json_string_value(body) : "";
    snprintf(at, sizeof at, "%s.webhook.body", where);
    if (strlen(btext) + strlen(url) > CAMPAIGN_MAX_MESSAGE_BYTES)
        return cd_invalid(msg, "%s: the url and body may hold 65536 bytes", at);
    if (check_text(btext, scope, at, msg) != CD_OK)
        return CD_E_INVALID;
    *out =
        json_pack("{s:s, s:s, s:o, s:s}", "url", url, "method", methods[mi], "headers",
                  json_is_object(headers) ? json_deep_copy(headers) : json_object(), "body", btext);
    return *out ? CD_OK : CD_E_NOMEM;
}

/* Validates the schedule (default_type when absent); *out is the normalised object. */
static enum cd_err parse_schedule(struct app *app, const json_t *s, const char *default_type,
                                  int64_t now, json_t **out, struct cd_msg *msg) {
    if (!s && default_type) {
        *out = json_pack("{s:s}", "type", default_type);
        return CD_OK;
    }
    const char *type = str_of(s, "type");
    if (!json_is_object(s) || !type)
        return cd_invalid(msg,
                          "schedule: must be an object with a type (immediate, at, api_triggered "
                          "or cohort_entry)");
    if (strcmp(type, "immediate") == 0 || strcmp(type, "api_triggered") == 0) {
        *out = json_pack("{s:s}", "type", type);
        return CD_OK;
    }
    if (strcmp(type, "at") == 0) {
        const char *t = str_of(s, "time");
        int64_t ms;
        if (!t || time_parse_iso8601(t, &ms) != 0)
            return cd_invalid(msg, "schedule.time: must be an ISO-8601 time");
        if (ms < now - AT_MAX_PAST_MS)
            return cd_invalid(msg, "schedule.time: %s is in the past", t);
        char iso[40];
        time_format_iso8601(ms, iso, sizeof iso);
        *out = json_pack("{s:s, s:s}", "type", type, "time", iso);
        return CD_OK;
    }
    if (strcmp(type, "cohort_entry") == 0) {
        const char *partner = str_of(s, "partner"), *cohort = str_of(s, "cohort_id");
        enum key_check check;
        if (!partner || !cohort || !*cohort)
            return cd_invalid(msg,
                              "schedule: cohort_entry needs \"partner\" and \"cohort_id\" strings");
        if (STORE_OPS(app->store)->admin->partner_get(app->store, partner, &check) != CD_OK)
            return cd_invalid(msg, "schedule.partner: no partner '%s'", partner);
        *out = json_pack("{s:s, s:s, s:s}", "type", type, "partner", partner, "cohort_id", cohort);
        return CD_OK;
    }
    return cd_invalid(
        msg, "schedule.type: '%s' is not immediate, at, api_triggered or cohort_entry", type);
}

static bool uuid_into(json_t *obj, const char *key) {
    char id[37];
    return crypto_uuid4(id) == 0 && json_object_set_new(obj, key, json_string(id)) == 0;
}

static enum cd_err parse_steps(const json_t *steps, json_t *out_steps, struct cd_msg *msg) {
    if (!json_is_array(steps) || json_array_size(steps) == 0 ||
        json_array_size(steps) > CAMPAIGN_MAX_STEPS)
        return cd_invalid(msg, "steps: must be an array of 1 to 20 steps");
    size_t i;
    const json_t *st;
    json_array_foreach(steps, i, st) {
        char where[32];
        snprintf(where, sizeof where, "steps[%zu]", i);
        const char *name = str_of(st, "name");
        const json_t *delay = json_object_get(st, "delay_seconds");
        if (!name || !*name || strlen(name) > NAME_MAX_LEN)
            return cd_invalid(msg, "%s.name: must be a string of 1 to 256 characters", where);
        if (delay && (!json_is_integer(delay) || json_integer_value(delay) < 0 ||
                      json_integer_value(delay) > MAX_DELAY_SECONDS))
            return cd_invalid(msg, "%s.delay_seconds: must be an integer from 0 to 2592000", where);
        json_t *wh = NULL;
        char message_at[48];
        snprintf(message_at, sizeof message_at, "%s.message", where);
        if (parse_message(json_object_get(st, "message"), TMPL_CANVAS, message_at, &wh, msg) !=
            CD_OK)
            return CD_E_INVALID;
        json_t *step = json_pack("{s:s, s:I, s:{s:o}}", "name", name, "delay_seconds",
                                 (json_int_t)(delay ? json_integer_value(delay) : 0), "message",
                                 "webhook", wh);
        if (!step || !uuid_into(step, "id") || json_array_append_new(out_steps, step) != 0)
            return CD_E_NOMEM;
    }
    return CD_OK;
}

/* ---- create ---- */

/* Users enter when a dispatch is created; the first step waits for its own delay. */
static int64_t first_delay_ms(const json_t *def) {
    const json_t *step = json_array_get(json_object_get(def, "steps"), 0);
    return json_integer_value(json_object_get(step, "delay_seconds")) * 1000;
}

/* A dispatch id: 24 hex characters, as Braze's. */
static enum cd_err new_dispatch_id(char id[25]) {
    uint8_t raw[12];
    if (crypto_random(raw, sizeof raw) != 0)
        return CD_E_INTERNAL;
    crypto_hex(raw, sizeof raw, id);
    return CD_OK;
}

static enum cd_err add_dispatch(struct app *app, struct workspace *ws, int64_t campaign,
                                const char *send_id, const json_t *props,
                                const roaring_bitmap_t *audience, int64_t due_at, int64_t now,
                                char dispatch_id[25]) {
    if (new_dispatch_id(dispatch_id) != CD_OK)
        return CD_E_INTERNAL;
    char *ptext = props ? json_dumps(props, JSON_COMPACT) : NULL;
    size_t blob_len = 0;
    void *blob = audience ? bitmap_to_blob(audience, &blob_len) : NULL;
    enum cd_err err = CD_E_NOMEM;
    if ((!props || ptext) && (!audience || blob)) {
        struct dispatch_row row = {.workspace_id = ws->id,
                                   .campaign = campaign,
                                   .dispatch_id = dispatch_id,
                                   .send_id = send_id,
                                   .properties = ptext,
                                   .due_at = due_at,
                                   .audience = blob,
                                   .audience_len = blob_len,
                                   .created_at = now};
        err = STORE_OPS(app->store)->campaigns->dispatch_add(app->store, &row, NULL);
    }
    free(ptext);
    free(blob);
    return err;
}

static enum cd_err create(struct app *app, struct workspace *ws, enum campaign_kind kind,
                          const json_t *body, json_t **out, struct cd_msg *msg) {
    int64_t now = time_now_ms();
    const char *name = str_of(body, "name"), *segment_id = str_of(body, "segment_id");
    if (!name || !*name || strlen(name) > NAME_MAX_LEN)
        return cd_invalid(msg, "name: must be a string of 1 to 256 characters");
    if (!segment_id)
        return cd_invalid(msg, "segment_id: must be the id of a segment");
    if (segments_exists(app, ws, segment_id) != CD_OK)
        return cd_invalid(msg, "segment_id: no segment '%s'", segment_id);
    const json_t *rate = json_object_get(body, "rate_limit_per_minute");
    if (rate && (!json_is_integer(rate) || json_integer_value(rate) < 1 ||
                 json_integer_value(rate) > 1000000))
        return cd_invalid(msg, "rate_limit_per_minute: must be an integer from 1 to 1000000");

    json_t *def = json_object(), *steps = json_array(), *schedule = NULL;
    enum cd_err err =
        parse_schedule(app, json_object_get(body, "schedule"),
                       kind == CAMPAIGN_KIND_CANVAS ? "api_triggered" : NULL, now, &schedule, msg);
    if (err == CD_OK && kind == CAMPAIGN_KIND_CANVAS) {
        err = parse_steps(json_object_get(body, "steps"), steps, msg);
    } else if (err == CD_OK) {
        json_t *wh = NULL;
        err = parse_message(json_object_get(body, "message"), TMPL_CAMPAIGN, "message", &wh, msg);
        json_t *step = err == CD_OK ? json_pack("{s:s, s:i, s:{s:o}}", "name", name,
                                                "delay_seconds", 0, "message", "webhook", wh)
                                    : NULL;
        if (err == CD_OK && (!step || !uuid_into(step, "id") || json_array_append_new(steps, step)))
            err = CD_E_NOMEM;
    }
    json_t *variation = json_pack("{s:s}", "name", "Variant 1");
    if (err == CD_OK && (!uuid_into(variation, "id") ||
                         json_object_set_new(def, "variation", json_incref(variation)) != 0 ||
                         json_object_set(def, "schedule", schedule) != 0 ||
                         json_object_set(def, "steps", steps) != 0 ||
                         (rate && json_object_set(def, "rate_limit_per_minute", (json_t *)rate))))
        err = CD_E_NOMEM;
    json_decref(variation);
    char *def_text = err == CD_OK ? json_dumps(def, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    char public_id[37];
    if (err == CD_OK && (!def_text || crypto_uuid4(public_id) != 0))
        err = CD_E_NOMEM;
    const char *type = str_of(schedule, "type");
    if (err == CD_OK) {
        struct campaign_row row = {.workspace_id = ws->id,
                                   .kind = kind,
                                   .public_id = public_id,
                                   .name = name,
                                   .segment_id = segment_id,
                                   .definition = def_text,
                                   .schedule_type = type,
                                   .entry_partner = str_of(schedule, "partner"),
                                   .entry_cohort = str_of(schedule, "cohort_id"),
                                   .created_at = now};
        int64_t id = 0;
        err = workspace_write_begin(app, ws);
        if (err == CD_OK) {
            enum cd_err werr = STORE_OPS(app->store)->campaigns->create(app->store, &row, &id);
            int64_t due = now;
            if (werr == CD_OK && strcmp(type, "at") == 0)
                time_parse_iso8601(str_of(schedule, "time"), &due);
            char dispatch_id[25];
            if (werr == CD_OK && (strcmp(type, "immediate") == 0 || strcmp(type, "at") == 0))
                werr = add_dispatch(app, ws, id, NULL, NULL, NULL, due + first_delay_ms(def), now,
                                    dispatch_id);
            err = workspace_write_end(app, ws, werr);
        }
    }
    if (err == CD_OK) {
        log_info("campaign", "ws=%s created %s=%s name=\"%s\" schedule=%s segment=%s",
                 ws->public_id, kind_word[kind], public_id, name, type, segment_id);
        *out = json_pack("{s:s, s:s}", kind == CAMPAIGN_KIND_CANVAS ? "canvas_id" : "campaign_id",
                         public_id, "message", "success");
    }
    free(def_text);
    json_decref(def);
    json_decref(steps);
    json_decref(schedule);
    return err;
}

enum cd_err campaign_create(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                            struct cd_msg *msg) {
    return create(app, ws, CAMPAIGN_KIND_CAMPAIGN, body, out, msg);
}

enum cd_err canvas_create(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                          struct cd_msg *msg) {
    return create(app, ws, CAMPAIGN_KIND_CANVAS, body, out, msg);
}

/* ---- reading ---- */

struct found {
    int64_t id;
    json_t *row; /* {"public_id", "name", "segment_id", "definition", "schedule_type", …} */
};

static void copy_campaign(void *ctx, const struct campaign_row *r) {
    struct found *f = ctx;
    f->id = r->id;
    f->row = json_pack("{s:s, s:s, s:s, s:o*, s:s, s:I, s:b, s:I, s:I, s:I}", "public_id",
                       r->public_id, "name", r->name, "segment_id", r->segment_id, "definition",
                       json_loads(r->definition, 0, NULL), "schedule_type", r->schedule_type,
                       "created_at", (json_int_t)r->created_at, "archived", r->archived_at != 0,
                       "n_entered", (json_int_t)r->n_entered, "n_sent", (json_int_t)r->n_sent,
                       "n_failed", (json_int_t)r->n_failed);
}

static void list_item(void *ctx, const struct campaign_row *r) {
    char iso[40];
    time_format_iso8601(r->created_at, iso, sizeof iso);
    json_t *item = json_pack("{s:s, s:s, s:s, s:b, s:s, s:[]}", "id", r->public_id, "name", r->name,
                             "schedule_type", r->schedule_type, "archived", r->archived_at != 0,
                             "last_edited", iso, "tags");
    if (r->kind == CAMPAIGN_KIND_CAMPAIGN)
        json_object_set_new(item, "is_api_campaign",
                            json_boolean(strcmp(r->schedule_type, "api_triggered") == 0));
    json_array_append_new(ctx, item);
}

enum cd_err campaign_list(struct app *app, struct workspace *ws, enum campaign_kind kind,
                          json_t **out) {
    json_t *items = json_array();
    enum cd_err err =
        STORE_OPS(app->store)->campaigns->list(app->store, ws->id, kind, list_item, items);
    if (err != CD_OK) {
        json_decref(items);
        return err;
    }
    *out = json_pack("{s:o, s:s}", kind == CAMPAIGN_KIND_CANVAS ? "canvases" : "campaigns", items,
                     "message", "success");
    return CD_OK;
}

/* A campaign or Canvas by public id; CD_E_INVALID with Braze's "Invalid … ID" when unknown. */
static enum cd_err find(struct app *app, struct workspace *ws, enum campaign_kind kind,
                        const char *public_id, struct found *f, struct cd_msg *msg) {
    f->row = NULL;
    enum cd_err err =
        public_id ? STORE_OPS(app->store)
                        ->campaigns->get(app->store, ws->id, kind, public_id, 0, copy_campaign, f)
                  : CD_E_NOT_FOUND;
    if (err == CD_OK && !f->row)
        err = CD_E_NOMEM;
    if (err == CD_E_NOT_FOUND)
        err = cd_invalid(msg, "%s", invalid_id(kind));
    return err;
}

enum cd_err campaign_details(struct app *app, struct workspace *ws, enum campaign_kind kind,
                             const char *public_id, json_t **out, struct cd_msg *msg) {
    struct found f;
    enum cd_err err = find(app, ws, kind, public_id, &f, msg);
    if (err != CD_OK)
        return err;
    json_t *r = f.row, *def = json_object_get(r, "definition");
    roaring_bitmap_t *aud = NULL;
    const char *segment_id = str_of(r, "segment_id");
    bool has_segment = segments_audience(app, ws, segment_id, &aud) == CD_OK;
    char iso[40];
    time_format_iso8601(json_integer_value(json_object_get(r, "created_at")), iso, sizeof iso);
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:O, s:s, s:O, s:O*}", "message", "success", "name",
                  str_of(r, "name"), "created_at", iso, "archived", json_object_get(r, "archived"),
                  "segment_id", segment_id, "schedule", json_object_get(def, "schedule"),
                  "rate_limit_per_minute", json_object_get(def, "rate_limit_per_minute"));
    json_object_set_new(o, "audience_size",
                        has_segment ? json_integer((json_int_t)roaring_bitmap_get_cardinality(aud))
                                    : json_null());
    json_t *steps = json_object_get(def, "steps"), *variation = json_object_get(def, "variation");
    if (kind == CAMPAIGN_KIND_CANVAS) {
        json_object_set_new(o, "canvas_id", json_string(public_id));
        json_object_set_new(o, "variants", json_pack("[O]", variation));
        json_object_set(o, "steps", steps);
        json_object_set(o, "entries", json_object_get(r, "n_entered"));
    } else {
        json_object_set_new(o, "campaign_id", json_string(public_id));
        json_object_set_new(o, "channels", json_pack("[s]", "webhook"));
        const json_t *message = json_object_get(json_array_get(steps, 0), "message");
        json_t *wh = json_deep_copy(json_object_get(message, "webhook"));
        json_object_set_new(wh, "channel", json_string("webhook"));
        json_object_set_new(wh, "name", json_string(str_of(variation, "name")));
        json_object_set_new(o, "messages", json_pack("{s:o}", str_of(variation, "id"), wh));
        json_object_set(o, "targeted", json_object_get(r, "n_entered"));
    }
    json_object_set(o, "sends", json_object_get(r, "n_sent"));
    json_object_set(o, "failures", json_object_get(r, "n_failed"));
    if (has_segment)
        roaring_bitmap_free(aud);
    json_decref(r);
    *out = o;
    return CD_OK;
}

static enum cd_err archive(struct app *app, struct workspace *ws, enum campaign_kind kind,
                           const json_t *body, json_t **out, struct cd_msg *msg) {
    const char *key = kind == CAMPAIGN_KIND_CANVAS ? "canvas_id" : "campaign_id";
    const char *id = str_of(body, key);
    enum cd_err err =
        id ? STORE_OPS(app->store)->campaigns->archive(app->store, ws->id, kind, id, time_now_ms())
           : CD_E_NOT_FOUND;
    if (err == CD_E_NOT_FOUND) {
        return cd_invalid(msg, "%s", invalid_id(kind));
    }
    if (err == CD_OK) {
        log_info("campaign", "ws=%s archived %s=%s", ws->public_id, kind_word[kind], id);
        *out = json_pack("{s:s}", "message", "success");
    }
    return err;
}

enum cd_err campaign_archive(struct app *app, struct workspace *ws, const json_t *body,
                             json_t **out, struct cd_msg *msg) {
    return archive(app, ws, CAMPAIGN_KIND_CAMPAIGN, body, out, msg);
}

enum cd_err canvas_archive(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                           struct cd_msg *msg) {
    return archive(app, ws, CAMPAIGN_KIND_CANVAS, body, out, msg);
}

/* ---- triggers ---- */

/* Properties of a trigger object: campaigns read trigger_properties; Canvases read
 * canvas_entry_properties and context, merged with context winning. NULL (msg set) when a
 * value is not an object. Returns a new object. */
static json_t *trigger_props(enum campaign_kind kind, const json_t *obj, const char *where,
                             struct cd_msg *msg) {
    static const char *const campaign_keys[] = {"trigger_properties", NULL};
    static const char *const canvas_keys[] = {"canvas_entry_properties", "context", NULL};
    json_t *props = json_object();
    for (const char *const *k = kind == CAMPAIGN_KIND_CANVAS ? canvas_keys : campaign_keys; *k;
         k++) {
        const json_t *v = json_object_get(obj, *k);
        if (!v || json_is_null(v))
            continue;
        if (!json_is_object(v)) {
            snprintf(msg->text, sizeof msg->text, "%s%s: must be an object", where, *k);
            json_decref(props);
            return NULL;
        }
        json_object_update(props, (json_t *)v);
    }
    char *text = json_dumps(props, JSON_COMPACT);
    size_t len = text ? strlen(text) : SIZE_MAX;
    free(text);
    if (len > CAMPAIGN_MAX_PROPERTIES_BYTES) {
        snprintf(msg->text, sizeof msg->text, "%sproperties: at most 50 KB", where);
        json_decref(props);
        return NULL;
    }
    return props;
}

/* The uid a recipient names (external_user_id, user_alias, braze_id; in that order), or 0 with
 * *why set. Under the read lock. */
static uint32_t recipient_uid(struct workspace *ws, const json_t *r, const char **why) {
    const char *ext = str_of(r, "external_user_id");
    const json_t *alias = json_object_get(r, "user_alias");
    const char *bid = str_of(r, "braze_id");
    uint32_t uid = 0;
    if (ext)
        uid = identity_by_external(&ws->ident, ext, NULL);
    else if (json_is_object(alias) && str_of(alias, "alias_label") && str_of(alias, "alias_name"))
        uid = identity_by_alias(&ws->ident, str_of(alias, "alias_label"),
                                str_of(alias, "alias_name"), NULL);
    else if (bid)
        uid = identity_by_braze_id(&ws->ident, bid);
    else {
        *why = str_of(r, "email") ? "recipients by email are not supported"
                                  : "a recipient needs external_user_id, user_alias or braze_id";
        return 0;
    }
    if (!uid || !identity_is_live(&ws->ident, uid))
        *why = "no such user";
    return uid && identity_is_live(&ws->ident, uid) ? uid : 0;
}

/* Reads recipients into audience and per-user properties; unknown ones become minor errors. */
static enum cd_err read_recipients(struct workspace *ws, enum campaign_kind kind,
                                   const json_t *recipients, roaring_bitmap_t *audience,
                                   json_t *users, json_t *errors, struct cd_msg *msg) {
    size_t i;
    const json_t *r;
    enum cd_err err = CD_OK;
    workspace_read_begin(ws);
    json_array_foreach(recipients, i, r) {
        char where[40];
        snprintf(where, sizeof where, "recipients[%zu].", i);
        if (!json_is_object(r)) {
            err = cd_invalid(msg, "recipients[%zu]: must be an object", i);
            break;
        }
        const json_t *attrs = json_object_get(r, "attributes");
        if (json_object_size(attrs) > 0) { /* never half-apply a request: refuse it whole */
            err = cd_invalid(msg,
                             "recipients[%zu].attributes: not supported; send them with "
                             "/users/track first",
                             i);
            break;
        }
        json_t *props = trigger_props(kind, r, where, msg);
        if (!props) {
            err = CD_E_INVALID;
            break;
        }
        const char *why = NULL;
        uint32_t uid = recipient_uid(ws, r, &why);
        if (uid) {
            char key[16];
            snprintf(key, sizeof key, "%u", uid);
            roaring_bitmap_add(audience, uid);
            json_object_set(users, key, props);
        } else {
            json_array_append_new(errors, json_pack("{s:s, s:s, s:I}", "type", why, "input_array",
                                                    "recipients", "index", (json_int_t)i));
        }
        json_decref(props);
    }
    workspace_read_end(ws);
    return err;
}

static enum cd_err trigger(struct app *app, struct workspace *ws, enum campaign_kind kind,
                           const json_t *body, json_t **out, struct cd_msg *msg) {
    int64_t now = time_now_ms();
    struct found f = {0};
    const char *id_key = kind == CAMPAIGN_KIND_CANVAS ? "canvas_id" : "campaign_id";
    enum cd_err err = find(app, ws, kind, str_of(body, id_key), &f, msg);
    if (err != CD_OK)
        return err;
    bool archived = json_is_true(json_object_get(f.row, "archived"));
    if (strcmp(str_of(f.row, "schedule_type"), "api_triggered") != 0 ||
        (archived && kind == CAMPAIGN_KIND_CAMPAIGN)) {
        json_decref(f.row);
        return cd_invalid(msg, "%s", invalid_id(kind));
    }
    const json_t *broadcast = json_object_get(body, "broadcast");
    const json_t *recipients = json_object_get(body, "recipients");
    const json_t *audience_filter = json_object_get(body, "audience");
    const json_t *send_id = json_object_get(body, "send_id");
    json_t *props = NULL, *users = json_object(), *errors = json_array();
    roaring_bitmap_t *audience = roaring_bitmap_create();
    if (broadcast && !json_is_boolean(broadcast))
        err = cd_invalid(msg, "broadcast: must be a boolean");
    else if (recipients && !json_is_null(recipients) && !json_is_array(recipients))
        err = cd_invalid(msg, "recipients: must be an array");
    else if (json_array_size(recipients) > CAMPAIGN_MAX_RECIPIENTS)
        err = cd_invalid(msg, "The max number of ids per request was exceeded");
    else if (json_is_true(broadcast) && json_array_size(recipients) > 0)
        err = cd_invalid(msg, "broadcast cannot be combined with recipients");
    else if (!json_is_true(broadcast) && json_array_size(recipients) == 0)
        err = cd_invalid(msg, "No Recipients");
    else if (audience_filter && !json_is_null(audience_filter) &&
             !(json_is_object(audience_filter) && json_object_size(audience_filter) == 0))
        err = cd_invalid(msg, "audience: connected audiences are not supported; target a segment");
    else if (send_id && !json_is_null(send_id) &&
             (!json_is_string(send_id) || json_string_length(send_id) == 0 ||
              json_string_length(send_id) > SEND_ID_MAX_LEN))
        err = cd_invalid(msg, "send_id: must be a string of 1 to 64 characters");
    else if (!(props = trigger_props(kind, body, "", msg)))
        err = CD_E_INVALID;
    if (err == CD_OK && recipients)
        err = read_recipients(ws, kind, recipients, audience, users, errors, msg);
    json_t *stored = err == CD_OK ? json_pack("{s:O, s:O}", "all", props, "users", users) : NULL;
    char dispatch_id[25] = "";
    const char *notice = NULL;
    bool sends = json_is_true(broadcast) || !roaring_bitmap_is_empty(audience);
    if (err == CD_OK && archived)
        notice = "The Canvas is archived. Unarchive the Canvas to ensure trigger requests will "
                 "take effect.";
    if (err == CD_OK && sends && !archived) {
        err = workspace_write_begin(app, ws);
        if (err == CD_OK)
            err = workspace_write_end(
                app, ws,
                add_dispatch(app, ws, f.id, json_string_value(send_id), stored,
                             json_is_true(broadcast) ? NULL : audience,
                             now + first_delay_ms(json_object_get(f.row, "definition")), now,
                             dispatch_id));
    } else if (err == CD_OK) { /* nothing to send; the answer still carries an id, as Braze's */
        err = new_dispatch_id(dispatch_id);
    }
    if (err == CD_OK) {
        log_info("campaign", "ws=%s triggered %s=%s dispatch=%s recipients=%llu broadcast=%d",
                 ws->public_id, kind_word[kind], str_of(f.row, "public_id"), dispatch_id,
                 (unsigned long long)roaring_bitmap_get_cardinality(audience),
                 json_is_true(broadcast));
        *out = json_pack("{s:s, s:s}", "dispatch_id", dispatch_id, "message", "success");
        if (json_is_string(send_id))
            json_object_set(*out, "send_id", (json_t *)send_id);
        if (notice)
            json_object_set_new(*out, "notice", json_string(notice));
        if (json_array_size(errors))
            json_object_set(*out, "errors", errors);
    }
    json_decref(stored);
    json_decref(props);
    json_decref(users);
    json_decref(errors);
    json_decref(f.row);
    roaring_bitmap_free(audience);
    return err;
}

enum cd_err campaign_trigger(struct app *app, struct workspace *ws, const json_t *body,
                             json_t **out, struct cd_msg *msg) {
    return trigger(app, ws, CAMPAIGN_KIND_CAMPAIGN, body, out, msg);
}

enum cd_err canvas_trigger(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                           struct cd_msg *msg) {
    return trigger(app, ws, CAMPAIGN_KIND_CANVAS, body, out, msg);
}

/* ---- cohort entry ---- */

struct entry {
    int64_t id;
    int64_t delay_ms;
};

struct entry_list {
    struct entry *v;
    size_t n, cap;
    bool failed;
};

static void collect_entry(void *ctx, const struct campaign_row *r) {
    struct entry_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct entry *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->failed = true;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    json_t *def = json_loads(r->definition, 0, NULL);
    l->v[l->n++] = (struct entry){r->id, first_delay_ms(def)};
    json_decref(def);
}

enum cd_err campaign_cohort_entry_locked(struct app *app, struct workspace *ws, const char *partner,
                                         const char *cohort_id, const roaring_bitmap_t *added,
                                         int64_t now) {
    if (roaring_bitmap_is_empty(added))
        return CD_OK;
    struct entry_list l = {NULL, 0, 0, false};
    enum cd_err err =
        STORE_OPS(app->store)
            ->campaigns->on_cohort(app->store, ws->id, partner, cohort_id, collect_entry, &l);
    if (err == CD_OK && l.failed)
        err = CD_E_NOMEM;
    for (size_t i = 0; err == CD_OK && i < l.n; i++) {
        char dispatch_id[25];
        err = add_dispatch(app, ws, l.v[i].id, NULL, NULL, added, now + l.v[i].delay_ms, now,
                           dispatch_id);
    }
    free(l.v);
    return err;
}
