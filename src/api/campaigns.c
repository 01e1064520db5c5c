/*
 * campaigns.c — the campaigns and Canvases API (REST API key): create, list, details and archive
 * (CONTRACT.md §3.10–3.11); the trigger endpoints are campaigns_trigger.c. This file reads
 * Braze's request JSON into struct campaign_def, checks every field against limits.h before
 * core is called, and turns core's faults into the exact texts of the contract.
 */
#include "api/api.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/limits.h"
#include "core/messaging/campaign.h"
#include "util/timeutil.h"

_Static_assert(LIMIT_CANVAS_STEPS == CAMPAIGN_MAX_STEPS, "limits.h states the steps rule");

static const char *const kind_id_key[] = {"campaign_id", "canvas_id"};

/* A printf-formatted text (malloc'd), or NULL when out of memory. */
static char *textf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *textf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (text) {
        va_start(ap, fmt);
        vsnprintf(text, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return text;
}

/* api_limit_len with a formatted field path. */
static bool limit_len(struct http_response *res, const char *s, size_t max, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool limit_len(struct http_response *res, const char *s, size_t max, const char *fmt, ...) {
    if (!s || strlen(s) <= max)
        return true;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *field = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!field) {
        api_reply_err(res, CD_E_NOMEM, NULL);
        return false;
    }
    va_start(ap, fmt);
    vsnprintf(field, (size_t)n + 1, fmt, ap);
    va_end(ap);
    api_limit_len(res, field, s, max);
    free(field);
    return false;
}

static const char *str_of(const json_t *obj, const char *key) {
    return json_string_value(json_object_get(obj, key));
}

/* ---- reading a definition ---- */

#define NAME_TEXT "must be a string of 1 to 256 characters"
#define STEPS_TEXT "steps: must be an array of 1 to 20 steps"
#define DELAY_TEXT "must be an integer from 0 to 2592000"
#define URL_TEXT "must be an http:// or https:// URL"
#define HEADER_TEXT "must be a header name with a one-line string value"
#define SIZE_TEXT "the url and body may hold 65536 bytes"
#define RATE_TEXT "rate_limit_per_minute: must be an integer from 1 to 1000000"
#define COHORT_TEXT "schedule: cohort_entry needs \"partner\" and \"cohort_id\" strings"

/* A definition read from a body; its strings point into the body. */
struct def_read {
    struct campaign_def def;
    struct campaign_step *steps;
    struct webhook_header *headers; /* of every step, in order */
    const char *time_text;          /* schedule.time as sent */
};

static void def_read_free(struct def_read *d) {
    free(d->steps);
    free(d->headers);
}

/* The "where" of step i's message: "message" for a campaign, "steps[i].message" for a Canvas. */
static void message_where(enum campaign_kind kind, size_t i, char *where, size_t len) {
    if (kind == CAMPAIGN_KIND_CANVAS)
        snprintf(where, len, "steps[%zu].message", i);
    else
        snprintf(where, len, "message");
}

static bool read_message(struct http_response *res, const json_t *m, const char *where,
                         struct webhook_message *out, struct webhook_header **headers) {
    const json_t *wh = json_object_get(m, "webhook");
    if (!json_is_object(m) || !json_is_object(wh))
        return api_refuse(
            res, "%s: must be {\"webhook\": {\"url\", \"method\", \"headers\", \"body\"}}", where);
    out->url = str_of(wh, "url");
    if (!out->url)
        return api_refuse(res, "%s.webhook.url: " URL_TEXT, where);
    if (!limit_len(res, out->url, LIMIT_URL, "%s.webhook.url", where))
        return false;
    const json_t *method = json_object_get(wh, "method");
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    const char *mtext = method ? json_string_value(method) : "POST";
    size_t mi = 0;
    while (mtext && mi < 5 && strcmp(mtext, methods[mi]) != 0)
        mi++;
    if (!mtext || mi == 5)
        return api_refuse(res, "%s.webhook.method: must be GET, POST, PUT, PATCH or DELETE", where);
    out->method = (enum webhook_method)mi;
    const json_t *hs = json_object_get(wh, "headers");
    if (hs && !json_is_null(hs) && !json_is_object(hs))
        return api_refuse(res, "%s.webhook.headers: must be an object of strings", where);
    out->headers = *headers;
    const char *name;
    const json_t *value;
    json_object_foreach((json_t *)hs, name, value) {
        if (!limit_len(res, name, LIMIT_OBJECT_NAME, "%s.webhook.headers", where))
            return false;
        if (!json_is_string(value))
            return api_refuse(res, "%s.webhook.headers.%s: " HEADER_TEXT, where, name);
        if (!limit_len(res, json_string_value(value), LIMIT_STRING_VALUE, "%s.webhook.headers.%s",
                       where, name))
            return false;
        (*headers)->name = name;
        (*headers)->value = json_string_value(value);
        (*headers)++;
        out->n_headers++;
    }
    const json_t *body = json_object_get(wh, "body");
    if (body && !json_is_null(body) && !json_is_string(body))
        return api_refuse(res, "%s.webhook.body: must be a string (the request body template)",
                          where);
    out->body = json_is_string(body) ? json_string_value(body) : "";
    if (strlen(out->body) > LIMIT_STRING_VALUE) /* the existing rule's text */
        return api_refuse(res, "%s.webhook.body: " SIZE_TEXT, where);
    return true;
}

static bool read_schedule(struct http_response *res, enum campaign_kind kind, const json_t *s,
                          struct def_read *d) {
    struct campaign_schedule *out = &d->def.schedule;
    if (!s && kind == CAMPAIGN_KIND_CANVAS) {
        out->type = SCHEDULE_API_TRIGGERED;
        return true;
    }
    const char *type = str_of(s, "type");
    if (!json_is_object(s) || !type)
        return api_refuse(res,
                          "schedule: must be an object with a type (immediate, at, api_triggered "
                          "or cohort_entry)");
    static const char *const types[] = {"immediate", "at", "api_triggered", "cohort_entry"};
    size_t ti = 0;
    while (ti < 4 && strcmp(type, types[ti]) != 0)
        ti++;
    if (ti == 4) {
        if (!api_limit_len(res, "schedule.type", type, LIMIT_OBJECT_NAME))
            return false;
        return api_refuse(
            res, "schedule.type: '%s' is not immediate, at, api_triggered or cohort_entry", type);
    }
    out->type = (enum schedule_type)ti;
    if (out->type == SCHEDULE_AT) {
        d->time_text = str_of(s, "time");
        if (!d->time_text || time_parse_iso8601(d->time_text, &out->time_ms) != 0)
            return api_refuse(res, "schedule.time: must be an ISO-8601 time");
    }
    if (out->type == SCHEDULE_COHORT_ENTRY) {
        out->partner = str_of(s, "partner");
        out->cohort_id = str_of(s, "cohort_id");
        if (!out->partner || !out->cohort_id)
            return api_refuse(res, COHORT_TEXT);
        if (!api_limit_len(res, "schedule.partner", out->partner, LIMIT_OBJECT_NAME) ||
            !api_limit_len(res, "schedule.cohort_id", out->cohort_id, LIMIT_COHORT_ID))
            return false;
    }
    return true;
}

/* Counts the headers of every message, to size d->headers. */
static size_t count_headers(const json_t *msg) {
    return json_object_size(json_object_get(json_object_get(msg, "webhook"), "headers"));
}

/* Reads and checks the shape and limits of a create body. False when it replied 400. */
static bool read_def(struct http_response *res, enum campaign_kind kind, const json_t *body,
                     struct def_read *d) {
    struct campaign_def *def = &d->def;
    def->name = str_of(body, "name");
    if (!def->name)
        return api_refuse(res, "name: " NAME_TEXT);
    if (!api_limit_len(res, "name", def->name, LIMIT_OBJECT_NAME))
        return false;
    def->segment_id = str_of(body, "segment_id");
    if (!def->segment_id)
        return api_refuse(res, "segment_id: must be the id of a segment");
    if (!api_limit_len(res, "segment_id", def->segment_id, LIMIT_OBJECT_ID))
        return false;
    const json_t *rate = json_object_get(body, "rate_limit_per_minute");
    if (rate && !json_is_integer(rate))
        return api_refuse(res, RATE_TEXT);
    def->has_rate_limit = rate != NULL;
    def->rate_limit_per_minute = json_integer_value(rate);
    if (!read_schedule(res, kind, json_object_get(body, "schedule"), d))
        return false;
    const json_t *steps = json_object_get(body, "steps");
    size_t n = 1, n_headers = 0;
    if (kind == CAMPAIGN_KIND_CANVAS) {
        /* over LIMIT_CANVAS_STEPS is refused with the text of the rule on steps */
        if (!json_is_array(steps) || json_array_size(steps) > LIMIT_CANVAS_STEPS)
            return api_refuse(res, STEPS_TEXT);
        n = json_array_size(steps);
        for (size_t i = 0; i < n; i++)
            n_headers += count_headers(json_object_get(json_array_get(steps, i), "message"));
    } else {
        n_headers = count_headers(json_object_get(body, "message"));
    }
    d->steps = calloc(n ? n : 1, sizeof *d->steps);
    d->headers = calloc(n_headers ? n_headers : 1, sizeof *d->headers);
    if (!d->steps || !d->headers) {
        api_reply_err(res, CD_E_NOMEM, NULL);
        return false;
    }
    def->steps = d->steps;
    def->n_steps = n;
    struct webhook_header *next_header = d->headers;
    for (size_t i = 0; i < n; i++) {
        struct campaign_step *st = &d->steps[i];
        char where[48];
        message_where(kind, i, where, sizeof where);
        const json_t *msg = json_object_get(body, "message");
        if (kind == CAMPAIGN_KIND_CANVAS) {
            const json_t *in = json_array_get(steps, i);
            const json_t *delay = json_object_get(in, "delay_seconds");
            st->name = str_of(in, "name");
            if (!st->name)
                return api_refuse(res, "steps[%zu].name: " NAME_TEXT, i);
            if (!limit_len(res, st->name, LIMIT_OBJECT_NAME, "steps[%zu].name", i))
                return false;
            if (delay && !json_is_integer(delay))
                return api_refuse(res, "steps[%zu].delay_seconds: " DELAY_TEXT, i);
            st->delay_seconds = json_integer_value(delay);
            msg = json_object_get(in, "message");
        }
        if (!read_message(res, msg, where, &st->message, &next_header))
            return false;
    }
    return true;
}

/* The field path of the message part a fault is in: "steps[0].message.webhook.body". */
static char *part_path(enum campaign_kind kind, const struct def_read *d,
                       const struct campaign_fault *f) {
    char where[48];
    message_where(kind, f->step, where, sizeof where);
    switch (f->part) {
    case MESSAGE_PART_URL:
        return textf("%s.webhook.url", where);
    case MESSAGE_PART_HEADER:
        if (!d->def.steps || f->step >= d->def.n_steps)
            return textf("%s.webhook.headers", where);
        return textf("%s.webhook.headers.%s", where,
                     d->def.steps[f->step].message.headers[f->header].name);
    default:
        return textf("%s.webhook.body", where);
    }
}

static void reply_create_fault(struct http_response *res, enum campaign_kind kind,
                               const struct def_read *d, const struct campaign_fault *f) {
    const struct campaign_def *def = &d->def;
    char *path = NULL, *why = NULL;
    switch (f->code) {
    case CAMPAIGN_FAULT_NAME:
        if (kind == CAMPAIGN_KIND_CANVAS && def->name && *def->name)
            api_refuse(res, "steps[%zu].name: " NAME_TEXT, f->step);
        else
            api_refuse(res, "name: " NAME_TEXT);
        break;
    case CAMPAIGN_FAULT_NO_SEGMENT:
        api_refuse(res, "segment_id: no segment '%s'", def->segment_id);
        break;
    case CAMPAIGN_FAULT_RATE:
        api_refuse(res, RATE_TEXT);
        break;
    case CAMPAIGN_FAULT_TIME_PAST:
        api_refuse(res, "schedule.time: %s is in the past", d->time_text);
        break;
    case CAMPAIGN_FAULT_COHORT:
        api_refuse(res, COHORT_TEXT);
        break;
    case CAMPAIGN_FAULT_NO_PARTNER:
        api_refuse(res, "schedule.partner: no partner '%s'", def->schedule.partner);
        break;
    case CAMPAIGN_FAULT_STEPS:
        api_refuse(res, STEPS_TEXT);
        break;
    case CAMPAIGN_FAULT_DELAY:
        api_refuse(res, "steps[%zu].delay_seconds: " DELAY_TEXT, f->step);
        break;
    case CAMPAIGN_FAULT_URL:
    case CAMPAIGN_FAULT_HEADER:
    case CAMPAIGN_FAULT_MESSAGE_SIZE:
    case CAMPAIGN_FAULT_TEMPLATE:
        path = part_path(kind, d, f);
        why = f->code == CAMPAIGN_FAULT_TEMPLATE ? tmpl_fault_text(&f->tmpl) : NULL;
        if (!path || (f->code == CAMPAIGN_FAULT_TEMPLATE && !why))
            api_reply_err(res, CD_E_NOMEM, NULL);
        else
            api_refuse(res, "%s: %s", path,
                       f->code == CAMPAIGN_FAULT_URL        ? URL_TEXT
                       : f->code == CAMPAIGN_FAULT_HEADER   ? HEADER_TEXT
                       : f->code == CAMPAIGN_FAULT_TEMPLATE ? why
                                                            : SIZE_TEXT);
        break;
    default:
        api_reply_err(res, CD_E_INVALID, NULL);
    }
    free(path);
    free(why);
}

static void create(void *vctx, const struct http_request *req, struct http_response *res,
                   enum campaign_kind kind) {
    struct api_ctx *ctx = vctx;
    json_t *body = api_json_body(req, res);
    struct workspace *ws = body ? api_auth_rest(ctx, req, body, res) : NULL;
    struct def_read d = {0};
    if (ws && read_def(res, kind, body, &d)) {
        char id[37];
        struct campaign_fault fault;
        enum cd_err err = campaign_create(ctx->app, ws, kind, &d.def, id, &fault);
        if (err == CD_E_INVALID)
            reply_create_fault(res, kind, &d, &fault);
        else if (err != CD_OK)
            api_reply_err(res, err, NULL);
        else
            http_reply_json(res, 201,
                            json_pack("{s:s, s:s}", kind_id_key[kind], id, "message", "success"));
    }
    def_read_free(&d);
    json_decref(body);
}

void api_campaigns_create(void *ctx, const struct http_request *req, struct http_response *res) {
    create(ctx, req, res, CAMPAIGN_KIND_CAMPAIGN);
}

void api_canvas_create(void *ctx, const struct http_request *req, struct http_response *res) {
    create(ctx, req, res, CAMPAIGN_KIND_CANVAS);
}

/* Braze's answer to an id that names nothing (also an archived or non-API campaign). */
static void api_campaign_invalid_id(struct http_response *res, enum campaign_kind kind) {
    http_reply_message(res, 400,
                       kind == CAMPAIGN_KIND_CANVAS ? "Invalid Canvas ID" : "Invalid Campaign ID");
}

/* ---- archive ---- */

static void archive(void *vctx, const struct http_request *req, struct http_response *res,
                    enum campaign_kind kind) {
    struct api_ctx *ctx = vctx;
    json_t *body = api_json_body(req, res);
    struct workspace *ws = body ? api_auth_rest(ctx, req, body, res) : NULL;
    if (ws) {
        const char *id = str_of(body, kind_id_key[kind]);
        struct campaign_fault fault;
        enum cd_err err = id && strlen(id) <= LIMIT_OBJECT_ID
                              ? campaign_archive(ctx->app, ws, kind, id, &fault)
                              : CD_E_INVALID; /* no such id: the text of an unknown one */
        if (err == CD_E_INVALID)
            api_campaign_invalid_id(res, kind);
        else if (err != CD_OK)
            api_reply_err(res, err, NULL);
        else
            http_reply_json(res, 201, json_pack("{s:s}", "message", "success"));
    }
    json_decref(body);
}

void api_campaigns_archive(void *ctx, const struct http_request *req, struct http_response *res) {
    archive(ctx, req, res, CAMPAIGN_KIND_CAMPAIGN);
}

void api_canvas_archive(void *ctx, const struct http_request *req, struct http_response *res) {
    archive(ctx, req, res, CAMPAIGN_KIND_CANVAS);
}

/* ---- list and details ---- */

struct list_out {
    json_t *items;
    enum campaign_kind kind;
};

static void list_item(void *vctx, const struct campaign_summary *c) {
    struct list_out *l = vctx;
    char iso[40];
    time_format_iso8601(c->last_edited, iso, sizeof iso);
    json_t *item = json_pack("{s:s, s:s, s:s, s:b, s:s, s:[]}", "id", c->public_id, "name", c->name,
                             "schedule_type", schedule_type_name(c->schedule), "archived",
                             c->archived, "last_edited", iso, "tags");
    if (l->kind == CAMPAIGN_KIND_CAMPAIGN)
        json_object_set_new(item, "is_api_campaign",
                            json_boolean(c->schedule == SCHEDULE_API_TRIGGERED));
    json_array_append_new(l->items, item);
}

/* A time of last_edit.time[gt]. A '+' of a zone offset arrives as a space when the client did
 * not escape it in the query string ("…T10:00:00 05:00"): read it as the '+' it was. */
static int parse_edit_time(const char *text, int64_t *ms) {
    if (time_parse_iso8601(text, ms) == 0)
        return 0;
    char buf[64];
    size_t n = strlen(text);
    if (n >= sizeof buf || n < 20)
        return -1;
    memcpy(buf, text, n + 1);
    char *space = strchr(buf + 11, ' ');
    if (!space)
        return -1;
    *space = '+';
    return time_parse_iso8601(buf, ms);
}

/* The query of GET /campaigns/list and /canvas/list (get_campaigns.md, get_canvases.md):
 * `page` (0-based, pages of LIMIT_LIST_PAGE; a page past the end is empty), `include_archived`
 * (false by default), `sort_direction` (asc by creation time by default, or desc) and
 * `last_edit.time[gt]`. A bad value is refused naming the parameter and the value. */
static enum cd_err list_query(const struct http_request *req, struct campaign_list_query *q,
                              struct cd_msg *msg) {
    *q = (struct campaign_list_query){.edited_after = INT64_MIN, .limit = LIMIT_LIST_PAGE};
    const char *page = http_query(req, "page");
    if (page) {
        if (!*page || page[strspn(page, "0123456789")] != '\0')
            return cd_invalid(msg, "page must be a whole number from 0, not '%.64s'", page);
        errno = 0;
        long long n = strtoll(page, NULL, 10);
        if (errno == ERANGE || n > INT64_MAX / LIMIT_LIST_PAGE)
            q->limit = 0; /* far past the end */
        else
            q->offset = (int64_t)n * LIMIT_LIST_PAGE;
    }
    const char *archived = http_query(req, "include_archived");
    if (archived && strcmp(archived, "true") != 0 && strcmp(archived, "false") != 0)
        return cd_invalid(msg, "include_archived must be true or false, not '%.64s'", archived);
    q->include_archived = archived && strcmp(archived, "true") == 0;
    const char *dir = http_query(req, "sort_direction");
    if (dir && strcmp(dir, "asc") != 0 && strcmp(dir, "desc") != 0)
        return cd_invalid(msg, "sort_direction must be 'asc' or 'desc', not '%.64s'", dir);
    q->newest_first = dir && strcmp(dir, "desc") == 0;
    const char *after = http_query(req, "last_edit.time[gt]");
    if (after && parse_edit_time(after, &q->edited_after) != 0)
        return cd_invalid(msg,
                          "last_edit.time[gt] must be an ISO-8601 time such as "
                          "2020-06-28T23:59:59-05:00, not '%.64s'",
                          after);
    return CD_OK;
}

static enum cd_err list(struct app *app, struct workspace *ws, enum campaign_kind kind,
                        const struct http_request *req, json_t **out, struct cd_msg *msg) {
    struct campaign_list_query q;
    enum cd_err err = list_query(req, &q, msg);
    if (err != CD_OK)
        return err;
    struct list_out l = {json_array(), kind};
    err = !l.items ? CD_E_NOMEM : q.limit ? campaign_list(app, ws, kind, &q, list_item, &l) : CD_OK;
    if (err != CD_OK) {
        json_decref(l.items);
        return err;
    }
    *out = json_pack("{s:o, s:s}", kind == CAMPAIGN_KIND_CANVAS ? "canvases" : "campaigns", l.items,
                     "message", "success");
    return *out ? CD_OK : CD_E_NOMEM;
}

static enum cd_err campaigns_list(struct app *app, struct workspace *ws,
                                  const struct http_request *req, json_t **out,
                                  struct cd_msg *msg) {
    return list(app, ws, CAMPAIGN_KIND_CAMPAIGN, req, out, msg);
}

static enum cd_err canvases_list(struct app *app, struct workspace *ws,
                                 const struct http_request *req, json_t **out, struct cd_msg *msg) {
    return list(app, ws, CAMPAIGN_KIND_CANVAS, req, out, msg);
}

static json_t *schedule_json(const struct campaign_schedule *s) {
    json_t *o = json_pack("{s:s}", "type", schedule_type_name(s->type));
    if (s->type == SCHEDULE_AT) {
        char iso[40];
        time_format_iso8601(s->time_ms, iso, sizeof iso);
        json_object_set_new(o, "time", json_string(iso));
    } else if (s->type == SCHEDULE_COHORT_ENTRY) {
        json_object_set_new(o, "partner", json_string(s->partner));
        json_object_set_new(o, "cohort_id", json_string(s->cohort_id));
    }
    return o;
}

static json_t *webhook_json(const struct webhook_message *m) {
    json_t *headers = json_object();
    for (size_t i = 0; i < m->n_headers; i++)
        json_object_set_new(headers, m->headers[i].name, json_string(m->headers[i].value));
    return json_pack("{s:s, s:s, s:o, s:s}", "url", m->url, "method",
                     webhook_method_name(m->method), "headers", headers, "body",
                     m->body ? m->body : "");
}

static json_t *details_json(enum campaign_kind kind, const struct campaign_info *c) {
    const struct campaign_def *def = &c->def;
    char iso[40];
    time_format_iso8601(c->created_at, iso, sizeof iso);
    json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:s, s:o}", "message", "success", "name", def->name,
                          "created_at", iso, "archived", c->archived, "segment_id", def->segment_id,
                          "schedule", schedule_json(&def->schedule));
    if (def->has_rate_limit)
        json_object_set_new(o, "rate_limit_per_minute", json_integer(def->rate_limit_per_minute));
    json_object_set_new(o, "audience_size",
                        c->audience_size >= 0 ? json_integer(c->audience_size) : json_null());
    if (kind == CAMPAIGN_KIND_CANVAS) {
        json_t *steps = json_array();
        for (size_t i = 0; i < def->n_steps; i++) {
            const struct campaign_step *st = &def->steps[i];
            json_array_append_new(steps, json_pack("{s:s, s:I, s:{s:o}, s:s}", "name", st->name,
                                                   "delay_seconds", (json_int_t)st->delay_seconds,
                                                   "message", "webhook", webhook_json(&st->message),
                                                   "id", st->id));
        }
        json_object_set_new(o, "canvas_id", json_string(c->public_id));
        json_object_set_new(
            o, "variants",
            json_pack("[{s:s, s:s}]", "name", c->variation_name, "id", c->variation_id));
        json_object_set_new(o, "steps", steps);
        json_object_set_new(o, "entries", json_integer(c->n_entered));
    } else {
        json_object_set_new(o, "campaign_id", json_string(c->public_id));
        json_object_set_new(o, "channels", json_pack("[s]", "webhook"));
        json_t *wh = def->n_steps ? webhook_json(&def->steps[0].message) : json_object();
        json_object_set_new(wh, "channel", json_string("webhook"));
        json_object_set_new(wh, "name", json_string(c->variation_name));
        json_object_set_new(o, "messages", json_pack("{s:o}", c->variation_id, wh));
        json_object_set_new(o, "targeted", json_integer(c->n_entered));
    }
    json_object_set_new(o, "sends", json_integer(c->n_sent));
    json_object_set_new(o, "failures", json_integer(c->n_failed));
    return o;
}

static void details(void *vctx, const struct http_request *req, struct http_response *res,
                    enum campaign_kind kind) {
    struct api_ctx *ctx = vctx;
    struct workspace *ws = api_auth_rest(ctx, req, NULL, res);
    if (!ws)
        return;
    const char *id = http_query(req, kind_id_key[kind]);
    struct campaign_info info;
    struct campaign_fault fault;
    enum cd_err err = id && strlen(id) <= LIMIT_OBJECT_ID
                          ? campaign_details(ctx->app, ws, kind, id, &info, &fault)
                          : CD_E_INVALID;
    if (err == CD_E_INVALID) {
        api_campaign_invalid_id(res, kind);
        return;
    }
    if (err != CD_OK) {
        api_reply_err(res, err, NULL);
        return;
    }
    json_t *out = details_json(kind, &info);
    campaign_info_free(&info);
    api_reply_result(res, out ? CD_OK : CD_E_NOMEM, 200, out, NULL);
}

void api_campaigns_list(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_get(ctx, req, res, campaigns_list);
}

void api_canvas_list(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_get(ctx, req, res, canvases_list);
}

void api_campaigns_details(void *ctx, const struct http_request *req, struct http_response *res) {
    details(ctx, req, res, CAMPAIGN_KIND_CAMPAIGN);
}

void api_canvas_details(void *ctx, const struct http_request *req, struct http_response *res) {
    details(ctx, req, res, CAMPAIGN_KIND_CANVAS);
}
