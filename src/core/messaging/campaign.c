/*
 * campaign.c — defining campaigns and Canvases, and starting their dispatches (see campaign.h).
 * A definition is validated whole and stored normalised, as one list of steps for both kinds:
 *
 *   {"variation": {"id", "name"}, "schedule": {"type", …}, "rate_limit_per_minute"?: n,
 *    "steps": [{"id", "name", "delay_seconds", "message": {"webhook": {url, method, headers,
 *    body}}}]}
 *
 * That JSON is the store's format only; callers see struct campaign_def.
 */
#include "core/messaging/campaign.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/index/bitmap.h"
#include "core/segments/segments.h"
#include "core/workspace/workspace_int.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/timeutil.h"

#define AT_MAX_PAST_MS 60000

static const char *const kind_word[] = {"campaign", "canvas"};

static const char *const method_names[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
static const char *const schedule_names[] = {"immediate", "at", "api_triggered", "cohort_entry"};

const char *webhook_method_name(enum webhook_method m) {
    return (unsigned)m < 5 ? method_names[m] : "POST";
}

const char *schedule_type_name(enum schedule_type t) {
    return (unsigned)t < 4 ? schedule_names[t] : "immediate";
}

static int name_index(const char *const *names, size_t n, const char *text) {
    for (size_t i = 0; text && i < n; i++)
        if (strcmp(names[i], text) == 0)
            return (int)i;
    return -1;
}

static const char *str_of(const json_t *obj, const char *key) {
    return json_string_value(json_object_get(obj, key));
}

static enum cd_err refuse(struct campaign_fault *fault, enum campaign_fault_code code) {
    fault->code = code;
    return CD_E_INVALID;
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

static enum cd_err check_text(const char *text, enum tmpl_scope scope, enum message_part part,
                              struct campaign_fault *fault) {
    fault->part = part;
    if (tmpl_check(text, scope, &fault->tmpl) == CD_OK)
        return CD_OK;
    return refuse(fault, CAMPAIGN_FAULT_TEMPLATE);
}

static enum cd_err check_message(const struct webhook_message *m, enum tmpl_scope scope,
                                 struct campaign_fault *fault) {
    const char *url = m->url ? m->url : "";
    fault->part = MESSAGE_PART_URL;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return refuse(fault, CAMPAIGN_FAULT_URL);
    if (check_text(url, scope, MESSAGE_PART_URL, fault) != CD_OK)
        return CD_E_INVALID;
    for (size_t i = 0; i < m->n_headers; i++) {
        const struct webhook_header *h = &m->headers[i];
        fault->part = MESSAGE_PART_HEADER;
        fault->header = i;
        if (!h->name || !h->value || !header_name_ok(h->name) || strpbrk(h->value, "\r\n"))
            return refuse(fault, CAMPAIGN_FAULT_HEADER);
        if (check_text(h->value, scope, MESSAGE_PART_HEADER, fault) != CD_OK)
            return CD_E_INVALID;
    }
    const char *body = m->body ? m->body : "";
    fault->part = MESSAGE_PART_BODY;
    if (strlen(body) + strlen(url) > CAMPAIGN_MAX_MESSAGE_BYTES)
        return refuse(fault, CAMPAIGN_FAULT_MESSAGE_SIZE);
    return check_text(body, scope, MESSAGE_PART_BODY, fault);
}

enum cd_err campaign_message_check(const struct webhook_message *m, struct campaign_fault *fault) {
    memset(fault, 0, sizeof *fault);
    return check_message(m, TMPL_CAMPAIGN, fault);
}

static enum cd_err check_schedule(struct app *app, const struct campaign_schedule *s, int64_t now,
                                  struct campaign_fault *fault) {
    if (s->type == SCHEDULE_AT && s->time_ms < now - AT_MAX_PAST_MS)
        return refuse(fault, CAMPAIGN_FAULT_TIME_PAST);
    if (s->type == SCHEDULE_COHORT_ENTRY) {
        enum key_check check;
        if (!s->partner || !s->cohort_id || !*s->cohort_id)
            return refuse(fault, CAMPAIGN_FAULT_COHORT);
        if (STORE_OPS(app->store)->admin->partner_get(app->store, s->partner, &check) != CD_OK)
            return refuse(fault, CAMPAIGN_FAULT_NO_PARTNER);
    }
    return CD_OK;
}

/* The rules of a definition, in the order their faults are reported. */
static enum cd_err check_def(struct app *app, struct workspace *ws, enum campaign_kind kind,
                             const struct campaign_def *def, int64_t now,
                             struct campaign_fault *fault) {
    if (!def->name || !*def->name)
        return refuse(fault, CAMPAIGN_FAULT_NAME);
    if (!def->segment_id || segments_exists(app, ws, def->segment_id) != CD_OK)
        return refuse(fault, CAMPAIGN_FAULT_NO_SEGMENT);
    if (def->has_rate_limit && (def->rate_limit_per_minute < 1 ||
                                def->rate_limit_per_minute > CAMPAIGN_MAX_RATE_PER_MINUTE))
        return refuse(fault, CAMPAIGN_FAULT_RATE);
    if (check_schedule(app, &def->schedule, now, fault) != CD_OK)
        return CD_E_INVALID;
    if (def->n_steps == 0 || def->n_steps > CAMPAIGN_MAX_STEPS ||
        (kind == CAMPAIGN_KIND_CAMPAIGN && def->n_steps != 1))
        return refuse(fault, CAMPAIGN_FAULT_STEPS);
    enum tmpl_scope scope = kind == CAMPAIGN_KIND_CANVAS ? TMPL_CANVAS : TMPL_CAMPAIGN;
    for (size_t i = 0; i < def->n_steps; i++) {
        const struct campaign_step *st = &def->steps[i];
        fault->step = i;
        if (kind == CAMPAIGN_KIND_CANVAS && (!st->name || !*st->name))
            return refuse(fault, CAMPAIGN_FAULT_NAME);
        if (st->delay_seconds < 0 || st->delay_seconds > CAMPAIGN_MAX_DELAY_SECONDS)
            return refuse(fault, CAMPAIGN_FAULT_DELAY);
        if (check_message(&st->message, scope, fault) != CD_OK)
            return CD_E_INVALID;
    }
    return CD_OK;
}

/* ---- the stored form ---- */

static bool uuid_into(json_t *obj, const char *key) {
    char id[37];
    return crypto_uuid4(id) == 0 && json_object_set_new(obj, key, json_string(id)) == 0;
}

static json_t *schedule_json(const struct campaign_schedule *s) {
    switch (s->type) {
    case SCHEDULE_AT: {
        char iso[40];
        time_format_iso8601(s->time_ms, iso, sizeof iso);
        return json_pack("{s:s, s:s}", "type", "at", "time", iso);
    }
    case SCHEDULE_COHORT_ENTRY:
        return json_pack("{s:s, s:s, s:s}", "type", "cohort_entry", "partner", s->partner,
                         "cohort_id", s->cohort_id);
    default:
        return json_pack("{s:s}", "type", schedule_type_name(s->type));
    }
}

json_t *webhook_message_json(const struct webhook_message *m) {
    json_t *headers = json_object();
    for (size_t i = 0; headers && i < m->n_headers; i++) {
        if (json_object_set_new(headers, m->headers[i].name, json_string(m->headers[i].value))) {
            json_decref(headers);
            headers = NULL;
        }
    }
    return headers ? json_pack("{s:s, s:s, s:o, s:s}", "url", m->url, "method",
                               webhook_method_name(m->method), "headers", headers, "body",
                               m->body ? m->body : "")
                   : NULL;
}

static json_t *step_json(const struct campaign_step *st, const char *name) {
    json_t *webhook = webhook_message_json(&st->message);
    json_t *step = webhook ? json_pack("{s:s, s:I, s:{s:o}}", "name", name, "delay_seconds",
                                       (json_int_t)st->delay_seconds, "message", "webhook", webhook)
                           : NULL;
    if (step && !uuid_into(step, "id")) {
        json_decref(step);
        step = NULL;
    }
    return step;
}

/* The stored definition of a valid def (a campaign's one step is named as the campaign). */
static json_t *def_json(enum campaign_kind kind, const struct campaign_def *def) {
    json_t *steps = json_array();
    for (size_t i = 0; steps && i < def->n_steps; i++) {
        const char *name = kind == CAMPAIGN_KIND_CANVAS ? def->steps[i].name : def->name;
        if (json_array_append_new(steps, step_json(&def->steps[i], name)) != 0) {
            json_decref(steps);
            steps = NULL;
        }
    }
    json_t *variation = json_pack("{s:s}", "name", "Variant 1");
    json_t *schedule = schedule_json(&def->schedule);
    json_t *out = json_object();
    bool ok = steps && variation && schedule && out && uuid_into(variation, "id") &&
              json_object_set(out, "variation", variation) == 0 &&
              json_object_set(out, "schedule", schedule) == 0 &&
              json_object_set(out, "steps", steps) == 0 &&
              (!def->has_rate_limit ||
               json_object_set_new(out, "rate_limit_per_minute",
                                   json_integer(def->rate_limit_per_minute)) == 0);
    json_decref(steps);
    json_decref(variation);
    json_decref(schedule);
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---- create ---- */

/* Users enter when a dispatch is created; the first step waits for its own delay. */
static int64_t first_delay_ms(const json_t *def) {
    const json_t *step = json_array_get(json_object_get(def, "steps"), 0);
    return json_integer_value(json_object_get(step, "delay_seconds")) * 1000;
}

/* A dispatch id: 24 hex characters, as Braze's. */
static enum cd_err new_dispatch_id(char id[CAMPAIGN_DISPATCH_ID_LEN + 1]) {
    uint8_t raw[CAMPAIGN_DISPATCH_ID_LEN / 2];
    if (crypto_random(raw, sizeof raw) != 0)
        return CD_E_INTERNAL;
    crypto_hex(raw, sizeof raw, id);
    return CD_OK;
}

static enum cd_err add_dispatch(struct app *app, struct workspace *ws, int64_t campaign,
                                const char *send_id, const json_t *props,
                                const roaring_bitmap_t *audience, int64_t due_at, int64_t now,
                                char dispatch_id[CAMPAIGN_DISPATCH_ID_LEN + 1],
                                const char *schedule_id) {
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
                                   .created_at = now,
                                   .schedule_id = schedule_id};
        err = STORE_OPS(app->store)->campaigns->dispatch_add(workspace_txn(ws), &row, NULL);
    }
    free(ptext);
    free(blob);
    return err;
}

enum cd_err campaign_create(struct app *app, struct workspace *ws, enum campaign_kind kind,
                            const struct campaign_def *def, char public_id[37],
                            struct campaign_fault *fault) {
    memset(fault, 0, sizeof *fault);
    int64_t now = time_now_ms();
    if (check_def(app, ws, kind, def, now, fault) != CD_OK)
        return CD_E_INVALID;
    json_t *stored = def_json(kind, def);
    char *def_text = stored ? json_dumps(stored, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    enum cd_err err = def_text && crypto_uuid4(public_id) == 0 ? CD_OK : CD_E_NOMEM;
    const struct campaign_schedule *s = &def->schedule;
    bool cohort = s->type == SCHEDULE_COHORT_ENTRY;
    if (err == CD_OK) {
        struct campaign_row row = {.workspace_id = ws->id,
                                   .kind = kind,
                                   .public_id = public_id,
                                   .name = def->name,
                                   .segment_id = def->segment_id,
                                   .definition = def_text,
                                   .schedule_type = schedule_type_name(s->type),
                                   .entry_partner = cohort ? s->partner : NULL,
                                   .entry_cohort = cohort ? s->cohort_id : NULL,
                                   .created_at = now};
        int64_t id = 0;
        err = workspace_write_begin(app, ws);
        if (err == CD_OK) {
            enum cd_err werr =
                STORE_OPS(app->store)->campaigns->create(workspace_txn(ws), &row, &id);
            int64_t due = s->type == SCHEDULE_AT ? s->time_ms : now;
            char dispatch_id[CAMPAIGN_DISPATCH_ID_LEN + 1];
            if (werr == CD_OK && (s->type == SCHEDULE_IMMEDIATE || s->type == SCHEDULE_AT))
                werr = add_dispatch(app, ws, id, NULL, NULL, NULL, due + first_delay_ms(stored),
                                    now, dispatch_id, NULL);
            err = workspace_write_end(app, ws, werr);
            if (err == CD_OK && (s->type == SCHEDULE_IMMEDIATE || s->type == SCHEDULE_AT) &&
                due + first_delay_ms(stored) <= now)
                app_dispatch_due(app); /* sent from now on, not from the sender's next poll */
        }
    }
    if (err == CD_OK) /* the name came from the request: it is not logged */
        log_info("campaign", "workspace_id=%s created %s_id=%s schedule=%s segment_id=%s steps=%zu",
                 ws->public_id, kind_word[kind], public_id, schedule_type_name(s->type),
                 def->segment_id, def->n_steps);
    free(def_text);
    json_decref(stored);
    return err;
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

static enum schedule_type schedule_of(const char *name) {
    int i = name_index(schedule_names, 4, name);
    return i < 0 ? SCHEDULE_IMMEDIATE : (enum schedule_type)i;
}

struct list_ctx {
    void (*cb)(void *ctx, const struct campaign_summary *);
    void *ctx;
};

static void list_item(void *ctx, const struct campaign_row *r) {
    struct list_ctx *l = ctx;
    struct campaign_summary item = {r->public_id,
                                    r->name,
                                    schedule_of(r->schedule_type),
                                    r->archived_at != 0,
                                    r->created_at,
                                    r->archived_at > r->created_at ? r->archived_at
                                                                   : r->created_at};
    l->cb(l->ctx, &item);
}

enum cd_err campaign_list(struct app *app, struct workspace *ws, enum campaign_kind kind,
                          const struct campaign_list_query *q,
                          void (*cb)(void *ctx, const struct campaign_summary *), void *ctx) {
    struct list_ctx l = {cb, ctx};
    return STORE_OPS(app->store)->campaigns->list(app->store, ws->id, kind, q, list_item, &l);
}

/* A campaign or Canvas by public id; CD_E_INVALID with CAMPAIGN_FAULT_UNKNOWN when unknown. */
static enum cd_err find(struct app *app, struct workspace *ws, enum campaign_kind kind,
                        const char *public_id, struct found *f, struct campaign_fault *fault) {
    f->row = NULL;
    enum cd_err err =
        public_id ? STORE_OPS(app->store)
                        ->campaigns->get(app->store, ws->id, kind, public_id, 0, copy_campaign, f)
                  : CD_E_NOT_FOUND;
    if (err == CD_OK && !f->row)
        err = CD_E_NOMEM;
    if (err == CD_E_NOT_FOUND)
        err = refuse(fault, CAMPAIGN_FAULT_UNKNOWN);
    return err;
}

struct info_priv {
    json_t *row;
    struct campaign_step *steps;
    struct webhook_header *headers;
};

/* Fills def from a stored definition; strings point into it. */
static enum cd_err def_from_json(const json_t *row, struct info_priv *p, struct campaign_def *def) {
    const json_t *stored = json_object_get(row, "definition");
    const json_t *steps = json_object_get(stored, "steps"),
                 *sched = json_object_get(stored, "schedule");
    def->name = str_of(row, "name");
    def->segment_id = str_of(row, "segment_id");
    def->schedule.type = schedule_of(str_of(sched, "type"));
    if (def->schedule.type == SCHEDULE_AT)
        time_parse_iso8601(str_of(sched, "time"), &def->schedule.time_ms);
    def->schedule.partner = str_of(sched, "partner");
    def->schedule.cohort_id = str_of(sched, "cohort_id");
    const json_t *rate = json_object_get(stored, "rate_limit_per_minute");
    def->has_rate_limit = rate != NULL;
    def->rate_limit_per_minute = json_integer_value(rate);
    size_t n_steps = json_array_size(steps), n_headers = 0, i;
    const json_t *st;
    json_array_foreach(steps, i, st) {
        n_headers += json_object_size(
            json_object_get(json_object_get(json_object_get(st, "message"), "webhook"), "headers"));
    }
    p->steps = calloc(n_steps ? n_steps : 1, sizeof *p->steps);
    p->headers = calloc(n_headers ? n_headers : 1, sizeof *p->headers);
    if (!p->steps || !p->headers)
        return CD_E_NOMEM;
    size_t h = 0;
    json_array_foreach(steps, i, st) {
        const json_t *wh = json_object_get(json_object_get(st, "message"), "webhook");
        struct campaign_step *out = &p->steps[i];
        out->id = str_of(st, "id");
        out->name = str_of(st, "name");
        out->delay_seconds = json_integer_value(json_object_get(st, "delay_seconds"));
        out->message.url = str_of(wh, "url");
        int m = name_index(method_names, 5, str_of(wh, "method"));
        out->message.method = m < 0 ? WEBHOOK_POST : (enum webhook_method)m;
        out->message.body = str_of(wh, "body");
        out->message.headers = &p->headers[h];
        const char *name;
        const json_t *value;
        json_object_foreach((json_t *)json_object_get(wh, "headers"), name, value) {
            p->headers[h++] = (struct webhook_header){name, json_string_value(value)};
            out->message.n_headers++;
        }
    }
    def->steps = p->steps;
    def->n_steps = n_steps;
    return CD_OK;
}

enum cd_err campaign_details(struct app *app, struct workspace *ws, enum campaign_kind kind,
                             const char *public_id, struct campaign_info *info,
                             struct campaign_fault *fault) {
    memset(info, 0, sizeof *info);
    memset(fault, 0, sizeof *fault);
    struct found f;
    enum cd_err err = find(app, ws, kind, public_id, &f, fault);
    if (err != CD_OK)
        return err;
    struct info_priv *p = calloc(1, sizeof *p);
    if (!p) {
        json_decref(f.row);
        return CD_E_NOMEM;
    }
    p->row = f.row;
    info->priv = p;
    const json_t *r = f.row, *stored = json_object_get(r, "definition");
    err = def_from_json(r, p, &info->def);
    if (err != CD_OK) {
        campaign_info_free(info);
        return err;
    }
    info->public_id = str_of(r, "public_id");
    info->created_at = json_integer_value(json_object_get(r, "created_at"));
    info->archived = json_is_true(json_object_get(r, "archived"));
    const json_t *variation = json_object_get(stored, "variation");
    info->variation_id = str_of(variation, "id");
    info->variation_name = str_of(variation, "name");
    info->n_entered = json_integer_value(json_object_get(r, "n_entered"));
    info->n_sent = json_integer_value(json_object_get(r, "n_sent"));
    info->n_failed = json_integer_value(json_object_get(r, "n_failed"));
    roaring_bitmap_t *aud = NULL;
    info->audience_size = -1;
    if (segments_audience(app, ws, info->def.segment_id, &aud) == CD_OK) {
        info->audience_size = (int64_t)roaring_bitmap_get_cardinality(aud);
        roaring_bitmap_free(aud);
    }
    return CD_OK;
}

void campaign_info_free(struct campaign_info *info) {
    struct info_priv *p = info->priv;
    if (p) {
        json_decref(p->row);
        free(p->steps);
        free(p->headers);
        free(p);
    }
    memset(info, 0, sizeof *info);
}

enum cd_err campaign_archive(struct app *app, struct workspace *ws, enum campaign_kind kind,
                             const char *public_id, struct campaign_fault *fault) {
    memset(fault, 0, sizeof *fault);
    enum cd_err err =
        public_id ? STORE_OPS(app->store)
                        ->campaigns->archive(app->store, ws->id, kind, public_id, time_now_ms())
                  : CD_E_NOT_FOUND;
    if (err == CD_E_NOT_FOUND)
        return refuse(fault, CAMPAIGN_FAULT_UNKNOWN);
    if (err == CD_OK)
        log_info("campaign", "workspace_id=%s archived %s_id=%s", ws->public_id, kind_word[kind],
                 public_id);
    return err;
}

/* ---- triggers ---- */

/* The uid a recipient names, or 0 with *why set. Under the read lock. */
static enum cd_err recipient_uid(struct app *app, struct workspace *ws,
                                 const struct trigger_recipient *r, enum recipient_error *why,
                                 uint32_t *out) {
    uint32_t uid = 0;
    size_t n_left = 0;
    enum cd_err err = CD_OK;
    *out = 0;
    switch (r->ref) {
    case RECIPIENT_EXTERNAL_ID:
        uid = identity_by_external(&ws->ident, r->id, NULL);
        break;
    case RECIPIENT_ALIAS:
        uid = identity_by_alias(&ws->ident, r->alias_label, r->alias_name, NULL);
        break;
    case RECIPIENT_BRAZE_ID:
        uid = identity_by_braze_id(&ws->ident, r->id);
        break;
    case RECIPIENT_EMAIL:
        err = users_by_contact(app, ws, false, r->id, r->prioritization, r->n_prioritization, &uid,
                               &n_left);
        if (err != CD_OK || n_left > 1) {
            *why = RECIPIENT_EMAIL_AMBIGUOUS;
            return err;
        }
        break;
    default:
        *why = RECIPIENT_NEEDS_AN_ID;
        return CD_OK;
    }
    if (!uid || !identity_is_live(&ws->ident, uid)) {
        *why = RECIPIENT_NO_SUCH_USER;
        return CD_OK;
    }
    *out = uid;
    return CD_OK;
}

/* Reads recipients into audience and per-user properties; unknown ones become minor errors.
 * Inside the trigger's write (which holds the write lock, so the indexes are stable). */
static enum cd_err read_recipients(struct app *app, struct workspace *ws,
                                   const struct campaign_trigger_req *req,
                                   roaring_bitmap_t *audience, json_t *users,
                                   struct campaign_trigger_result *res) {
    enum cd_err err = CD_OK;
    res->errors = calloc(req->n_recipients ? req->n_recipients : 1, sizeof *res->errors);
    if (!res->errors)
        return CD_E_NOMEM;
    for (size_t i = 0; err == CD_OK && i < req->n_recipients; i++) {
        const struct trigger_recipient *r = &req->recipients[i];
        enum recipient_error why = RECIPIENT_NO_SUCH_USER;
        uint32_t uid;
        if ((err = recipient_uid(app, ws, r, &why, &uid)) != CD_OK)
            break;
        if (!uid) {
            res->errors[res->n_errors++] = (struct recipient_fault){i, why};
            continue;
        }
        char key[16];
        snprintf(key, sizeof key, "%u", uid);
        roaring_bitmap_add(audience, uid);
        json_t *props = r->properties ? json_deep_copy(r->properties) : json_object();
        if (!props || json_object_set_new(users, key, props) != 0)
            err = CD_E_NOMEM;
    }
    return err;
}

static enum cd_err check_trigger(const struct found *f, enum campaign_kind kind,
                                 const struct campaign_trigger_req *req,
                                 struct campaign_fault *fault) {
    bool archived = json_is_true(json_object_get(f->row, "archived"));
    if (strcmp(str_of(f->row, "schedule_type"), "api_triggered") != 0)
        return refuse(fault, CAMPAIGN_FAULT_NOT_API_TRIGGERED);
    if (archived && kind == CAMPAIGN_KIND_CAMPAIGN)
        return refuse(fault, CAMPAIGN_FAULT_ARCHIVED);
    if (req->n_recipients > CAMPAIGN_MAX_RECIPIENTS)
        return refuse(fault, CAMPAIGN_FAULT_TOO_MANY_RECIPIENTS);
    if (req->broadcast && req->n_recipients > 0)
        return refuse(fault, CAMPAIGN_FAULT_BROADCAST_AND_RECIPIENTS);
    /* a connected audience alone is a target too ("will only send to users in the audience") */
    if (!req->broadcast && req->n_recipients == 0 && !req->audience)
        return refuse(fault, CAMPAIGN_FAULT_NO_RECIPIENTS);
    if (req->send_id && (!*req->send_id || strlen(req->send_id) > CAMPAIGN_MAX_SEND_ID))
        return refuse(fault, CAMPAIGN_FAULT_SEND_ID);
    return CD_OK;
}

/* The recipients' attributes, inside the write. A problem only the stored state shows (inc on
 * a text, …) fails the whole trigger, so nothing of it stays; a recipient that may not be
 * created and does not exist is not a fault: it is answered as "no such user" when looked up. */
static enum cd_err apply_attributes(struct app *app, struct workspace *ws,
                                    const struct campaign_trigger_req *req, int64_t now,
                                    struct campaign_fault *fault) {
    if (!req->attributes)
        return CD_OK;
    struct track_result tr;
    enum cd_err err = users_track_locked(app, ws, req->attributes, now, &tr);
    for (size_t i = 0; err == CD_OK && i < tr.minors.n; i++) {
        const struct user_minor_error *m = &tr.minors.v[i];
        if (m->code == USER_MINOR_NO_MATCH)
            continue;
        refuse(fault, CAMPAIGN_FAULT_ATTRIBUTES);
        fault->recipient = req->attribute_recipients[m->index];
        fault->minor = m->code;
        err = CD_E_INVALID;
    }
    users_minors_free(&tr.minors);
    return err;
}

/* The write of a trigger: attributes, recipients, audience, then the dispatch. */
static enum cd_err trigger_locked(struct app *app, struct workspace *ws, const struct found *f,
                                  const struct campaign_trigger_req *req, const json_t *all,
                                  int64_t now, struct campaign_trigger_result *res,
                                  struct campaign_fault *fault) {
    json_t *users = json_object();
    roaring_bitmap_t *audience = roaring_bitmap_create();
    json_t *stored = NULL;
    enum cd_err err = users && audience ? CD_OK : CD_E_NOMEM;
    if (err == CD_OK)
        err = apply_attributes(app, ws, req, now, fault);
    if (err == CD_OK)
        err = read_recipients(app, ws, req, audience, users, res);
    if (err == CD_OK && req->audience) {
        roaring_bitmap_t *in = segment_eval(req->audience, ws, now);
        if (!in)
            err = CD_E_NOMEM;
        else if (req->n_recipients)
            roaring_bitmap_and_inplace(audience, in);
        else
            roaring_bitmap_or_inplace(audience, in);
        roaring_bitmap_free(in);
    }
    if (err == CD_OK && !(stored = json_pack("{s:O, s:O}", "all", all, "users", users)))
        err = CD_E_NOMEM;
    bool whole = req->broadcast && !req->audience; /* NULL audience: the whole segment */
    int64_t at = req->schedule_ms ? req->schedule_ms : now;
    /* a schedule is stored even when nobody is in it yet, so its id can be updated */
    if (err == CD_OK && (whole || req->schedule_ms || !roaring_bitmap_is_empty(audience)))
        err = add_dispatch(app, ws, f->id, req->send_id, stored, whole ? NULL : audience,
                           at + first_delay_ms(json_object_get(f->row, "definition")), now,
                           res->dispatch_id, req->schedule_ms ? res->schedule_id : NULL);
    else if (err == CD_OK) /* nothing to send; the answer still carries an id, as Braze's */
        err = new_dispatch_id(res->dispatch_id);
    res->n_recipients = roaring_bitmap_get_cardinality(audience);
    json_decref(stored);
    json_decref(users);
    roaring_bitmap_free(audience);
    return err;
}

enum cd_err campaign_trigger(struct app *app, struct workspace *ws, enum campaign_kind kind,
                             const struct campaign_trigger_req *req,
                             struct campaign_trigger_result *res, struct campaign_fault *fault) {
    memset(res, 0, sizeof *res);
    memset(fault, 0, sizeof *fault);
    int64_t now = time_now_ms();
    struct found f = {0};
    enum cd_err err = find(app, ws, kind, req->public_id, &f, fault);
    if (err != CD_OK)
        return err;
    err = check_trigger(&f, kind, req, fault);
    if (err == CD_OK && req->schedule_ms && req->schedule_ms < now - 60000)
        err = refuse(fault, CAMPAIGN_FAULT_TIME_PAST);
    if (err == CD_OK && req->schedule_ms && crypto_uuid4(res->schedule_id) != 0)
        err = CD_E_INTERNAL;
    bool archived = json_is_true(json_object_get(f.row, "archived"));
    json_t *all = req->properties ? json_deep_copy(req->properties) : json_object();
    if (err == CD_OK && !all)
        err = CD_E_NOMEM;
    res->archived_canvas = err == CD_OK && archived;
    if (err == CD_OK && !archived) {
        err = workspace_write_begin(app, ws);
        if (err == CD_OK)
            err = workspace_write_end(app, ws,
                                      trigger_locked(app, ws, &f, req, all, now, res, fault));
        if (err == CD_OK && *res->dispatch_id && !req->schedule_ms &&
            first_delay_ms(json_object_get(f.row, "definition")) <= 0)
            app_dispatch_due(app);
    } else if (err == CD_OK) { /* an archived Canvas: accepted, nothing sent or changed */
        err = new_dispatch_id(res->dispatch_id);
    }
    if (err == CD_OK)
        log_info("campaign",
                 "workspace_id=%s triggered %s_id=%s dispatch_id=%s recipients=%llu broadcast=%d "
                 "audience=%d",
                 ws->public_id, kind_word[kind], str_of(f.row, "public_id"), res->dispatch_id,
                 (unsigned long long)res->n_recipients, req->broadcast, req->audience != NULL);
    else
        campaign_trigger_result_free(res);
    json_decref(all);
    json_decref(f.row);
    return err;
}

enum cd_err campaign_schedule_change(struct app *app, struct workspace *ws, enum campaign_kind kind,
                                     const char *public_id, const char *schedule_id, bool cancel,
                                     int64_t time_ms, struct campaign_fault *fault) {
    memset(fault, 0, sizeof *fault);
    int64_t now = time_now_ms();
    struct found f = {0};
    enum cd_err err = find(app, ws, kind, public_id, &f, fault);
    if (err != CD_OK)
        return err;
    if (strcmp(str_of(f.row, "schedule_type"), "api_triggered") != 0)
        err = refuse(fault, CAMPAIGN_FAULT_NOT_API_TRIGGERED);
    else if (!cancel && time_ms < now - 60000)
        err = refuse(fault, CAMPAIGN_FAULT_TIME_PAST);
    int64_t due = time_ms + first_delay_ms(json_object_get(f.row, "definition"));
    bool found = false;
    if (err == CD_OK && (err = workspace_write_begin(app, ws)) == CD_OK) {
        enum cd_err werr = STORE_OPS(app->store)
                               ->campaigns->schedule_change(workspace_txn(ws), f.id, schedule_id,
                                                            now, cancel, due, &found);
        err = workspace_write_end(app, ws, werr);
    }
    if (err == CD_OK && !found)
        err = refuse(fault, CAMPAIGN_FAULT_NO_SCHEDULE);
    if (err == CD_OK)
        log_info("campaign", "workspace_id=%s %s schedule %s_id=%s", ws->public_id,
                 cancel ? "deleted" : "moved", kind_word[kind], str_of(f.row, "public_id"));
    json_decref(f.row);
    return err;
}

struct scheduled_ctx {
    void (*cb)(void *, const struct scheduled_send *);
    void *ctx;
    int64_t until;
};

static void scheduled_item(void *vctx, const struct scheduled_row *r) {
    struct scheduled_ctx *sc = vctx;
    json_t *def = json_loads(r->definition, 0, NULL);
    struct scheduled_send s = {.kind = r->kind,
                               .public_id = r->public_id,
                               .name = r->name,
                               .dispatch_id = r->dispatch_id,
                               .schedule_id = r->schedule_id,
                               .send_at = r->due_at - first_delay_ms(def)};
    json_decref(def);
    if (s.send_at <= sc->until)
        sc->cb(sc->ctx, &s);
}

enum cd_err campaign_scheduled(struct app *app, struct workspace *ws, int64_t until_ms,
                               void (*cb)(void *ctx, const struct scheduled_send *), void *ctx) {
    struct scheduled_ctx sc = {cb, ctx, until_ms};
    /* due_at holds the first step's delay: a send at until_ms may be due up to 30 days later,
     * so the store is asked wide and send_at decides */
    return STORE_OPS(app->store)
        ->campaigns->scheduled(app->store, ws->id, time_now_ms(),
                               until_ms + CAMPAIGN_MAX_DELAY_SECONDS * 1000, scheduled_item, &sc);
}

void campaign_trigger_result_free(struct campaign_trigger_result *result) {
    free(result->errors);
    result->errors = NULL;
    result->n_errors = 0;
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
                           dispatch_id, NULL);
    }
    free(l.v);
    return err;
}
