/*
 * segments.c — the segments API (REST API key): /segments/create, /update, /delete, /list,
 * /details, /preview, /filters, and POST /users/export/segment/stream, which streams the
 * audience as NDJSON (one user per line) from a snapshot of the audience bitmap, reading users
 * in uid-ordered chunks, without building the whole answer in memory (Braze's export job,
 * POST /users/export/segment, is segments_export_job.c). Requests are checked here (shapes,
 * limits.h) and turned into the structs of core/segments/segments.h; replies and their texts
 * (Braze's shapes, CONTRACT.md §3.8–3.9) are built here from what core gives back.
 */
#include "api/api.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/limits.h"
#include "core/segments/segments.h"
#include "core/users/profile.h"
#include "util/json_text.h"
#include "util/timeutil.h"

/* The parser's own limits are the tighter ones and answer with their texts. */
_Static_assert(SEGMENT_MAX_DEPTH <= LIMIT_FILTER_DEPTH, "filter depth within limits.h");
_Static_assert(SEGMENT_MAX_NODES <= LIMIT_FILTER_NODES, "filter nodes within limits.h");
_Static_assert(LIMIT_EVENT_RECENT_COUNT <= EVENT_RECENT_MAX,
               "min_count with within_days is exact up to the times the event index keeps");

/* The body and the workspace of an authenticated POST; NULL when already answered. */
static struct workspace *begin_post(void *vctx, const struct http_request *req,
                                    struct http_response *res, json_t **body) {
    *body = api_json_body(req, res);
    struct workspace *ws = *body ? api_auth_rest(vctx, req, *body, res) : NULL;
    if (!ws) {
        json_decref(*body);
        *body = NULL;
    }
    return ws;
}

static void reply_invalid(struct http_response *res, const char *text) {
    api_reply_err(res, CD_E_INVALID, text);
}

/* limits.h for one node of a filter; false when answered. */
struct node_limits {
    struct http_response *res;
};

static int node_within_limits(void *ctx, const struct seg_node *n) {
    struct http_response *res = ((struct node_limits *)ctx)->res;
    struct cd_msg field;
    bool ok = true;
    switch (n->kind) {
    case SEG_COHORT:
        snprintf(field.text, sizeof field.text, "%s.cohort.partner", n->path);
        ok = api_limit_len(res, field.text, n->partner, LIMIT_COHORT_ID);
        snprintf(field.text, sizeof field.text, "%s.cohort.cohort_id", n->path);
        ok = ok && api_limit_len(res, field.text, n->cohort_id, LIMIT_COHORT_ID);
        break;
    case SEG_ATTR:
        snprintf(field.text, sizeof field.text, "%s.attribute", n->path);
        ok = api_limit_len(res, field.text, n->name, LIMIT_ATTRIBUTE_NAME);
        snprintf(field.text, sizeof field.text, "%s.value", n->path);
        ok = ok && api_limit_len(res, field.text, json_string_value(n->value), LIMIT_STRING_VALUE);
        break;
    case SEG_EVENT:
        snprintf(field.text, sizeof field.text, "%s.event", n->path);
        ok = api_limit_len(res, field.text, n->name, LIMIT_EVENT_NAME);
        if (ok && n->within_days && n->min_count > LIMIT_EVENT_RECENT_COUNT) {
            snprintf(field.text, sizeof field.text,
                     "%s.min_count: must be at most %d together with within_days", n->path,
                     LIMIT_EVENT_RECENT_COUNT);
            reply_invalid(res, field.text);
            ok = false;
        }
        break;
    default:
        break;
    }
    return ok ? 0 : -1;
}

/* The filter of a body as a tree, checked against limits.h; NULL when answered. */
static struct seg_node *filter_of(const json_t *filter, struct http_response *res) {
    struct cd_msg msg = {{0}};
    if (!filter) {
        reply_invalid(res, "filter: is required");
        return NULL;
    }
    struct seg_node *n = segment_filter_parse(filter, NULL, msg.text, sizeof msg.text);
    if (!n) {
        reply_invalid(res, msg.text);
        return NULL;
    }
    struct node_limits nl = {res};
    if (segment_filter_walk(n, node_within_limits, &nl) != 0) {
        segment_filter_free(n);
        return NULL;
    }
    return n;
}

/* name (required on create) and description of a body; false when answered. */
static bool def_of(const json_t *body, bool name_required, struct segment_def *def,
                   struct http_response *res) {
    const json_t *name = json_object_get(body, "name");
    const json_t *desc = json_object_get(body, "description");
    if (name || name_required) {
        const char *s = json_string_value(name);
        if (!s || !*s || strlen(s) > LIMIT_OBJECT_NAME) {
            struct cd_msg msg;
            snprintf(msg.text, sizeof msg.text, "name: must be a string of 1 to %d characters",
                     LIMIT_OBJECT_NAME);
            reply_invalid(res, msg.text);
            return false;
        }
        def->name = s;
    }
    if (desc && !json_is_string(desc)) {
        reply_invalid(res, "description: must be a string");
        return false;
    }
    def->description = json_string_value(desc);
    return api_limit_len(res, "description", def->description, LIMIT_STRING_VALUE);
}

static json_t *success(void) {
    return json_pack("{s:s}", "message", "success");
}

void api_segments_create(void *ctx, const struct http_request *req, struct http_response *res) {
    json_t *body;
    struct workspace *ws = begin_post(ctx, req, res, &body);
    struct segment_def def = {0};
    struct seg_node *filter = NULL;
    if (!ws || !def_of(body, true, &def, res) ||
        !(filter = filter_of(json_object_get(body, "filter"), res)))
        goto done;
    def.filter = filter;
    struct cd_msg msg = {{0}};
    char id[37];
    enum cd_err err = segments_create(((struct api_ctx *)ctx)->app, ws, &def, id, &msg);
    api_reply_result(res, err, 201,
                     err == CD_OK ? json_pack("{s:s, s:s}", "segment_id", id, "message", "success")
                                  : NULL,
                     &msg);
done:
    segment_filter_free(filter);
    json_decref(body);
}

/* segment_id of a body; NULL when answered. */
static const char *segment_id_of(const json_t *body, struct http_response *res) {
    const char *id = json_string_value(json_object_get(body, "segment_id"));
    if (!id || !*id) {
        reply_invalid(res, "segment_id: must be a non-empty string");
        return NULL;
    }
    return id;
}

void api_segments_update(void *ctx, const struct http_request *req, struct http_response *res) {
    json_t *body;
    struct workspace *ws = begin_post(ctx, req, res, &body);
    struct segment_def def = {0};
    struct seg_node *filter = NULL;
    const char *id = ws ? segment_id_of(body, res) : NULL;
    if (!id || !def_of(body, false, &def, res))
        goto done;
    if (json_object_get(body, "filter") &&
        !(filter = filter_of(json_object_get(body, "filter"), res)))
        goto done;
    def.filter = filter;
    struct cd_msg msg = {{0}};
    enum cd_err err = segments_update(((struct api_ctx *)ctx)->app, ws, id, &def, &msg);
    api_reply_result(res, err, 201, err == CD_OK ? success() : NULL, &msg);
done:
    segment_filter_free(filter);
    json_decref(body);
}

void api_segments_delete(void *ctx, const struct http_request *req, struct http_response *res) {
    json_t *body;
    struct workspace *ws = begin_post(ctx, req, res, &body);
    const char *id = ws ? segment_id_of(body, res) : NULL;
    if (id) {
        enum cd_err err = segments_delete(((struct api_ctx *)ctx)->app, ws, id);
        api_reply_result(res, err, 201, err == CD_OK ? success() : NULL, NULL);
    }
    json_decref(body);
}

void api_segments_preview(void *ctx, const struct http_request *req, struct http_response *res) {
    json_t *body;
    struct workspace *ws = begin_post(ctx, req, res, &body);
    struct seg_node *filter = ws ? filter_of(json_object_get(body, "filter"), res) : NULL;
    if (filter) {
        struct cd_msg msg = {{0}};
        uint64_t size = 0;
        enum cd_err err = segments_preview(((struct api_ctx *)ctx)->app, ws, filter, &size, &msg);
        api_reply_result(
            res, err, 200,
            err == CD_OK ? json_pack("{s:s, s:I}", "message", "success", "size", (json_int_t)size)
                         : NULL,
            &msg);
    }
    segment_filter_free(filter);
    json_decref(body);
}

static void list_one(void *ctx, const struct segment_summary *s) {
    json_array_append_new(ctx, json_pack("{s:s, s:s, s:b, s:[]}", "id", s->segment_id, "name",
                                         s->name, "analytics_tracking_enabled", 0, "tags"));
}

static enum cd_err list(struct app *app, struct workspace *ws, const struct http_request *req,
                        json_t **out, struct cd_msg *msg) {
    const char *page = http_query(req, "page");
    const char *sort = http_query(req, "sort_direction");
    long long pg = 0;
    if (page) {
        char *end;
        pg = strtoll(page, &end, 10);
        if (end == page || *end || pg < 0 || pg > 1000000)
            return cd_invalid(msg, "page: must be an integer >= 0");
    }
    if (sort && strcmp(sort, "asc") != 0 && strcmp(sort, "desc") != 0)
        return cd_invalid(msg, "sort_direction: must be asc or desc");
    json_t *arr = json_array();
    enum cd_err err = segments_list(app, ws, pg, !sort || strcmp(sort, "asc") == 0, list_one, arr);
    if (err != CD_OK) {
        json_decref(arr);
        return err;
    }
    *out = json_pack("{s:s, s:o}", "message", "success", "segments", arr);
    return CD_OK;
}

static json_t *iso(int64_t ms) {
    char buf[32];
    time_format_iso8601(ms, buf, sizeof buf);
    return json_string(buf);
}

static enum cd_err details(struct app *app, struct workspace *ws, const struct http_request *req,
                           json_t **out, struct cd_msg *msg) {
    const char *id = http_query(req, "segment_id");
    if (!id || !*id)
        return cd_invalid(msg, "segment_id: is required");
    struct segment_info info;
    enum cd_err err = segments_details(app, ws, id, &info);
    if (err != CD_OK)
        return err;
    json_t *missing = json_array();
    for (size_t i = 0; i < info.n_missing; i++)
        json_array_append_new(missing, json_string(info.missing_cohorts[i]));
    *out = json_pack("{s:s, s:o, s:o, s:s, s:s, s:s, s:[], s:[], s:o?, s:I, s:o}", "message",
                     "success", "created_at", iso(info.created_at), "updated_at",
                     iso(info.updated_at), "name", info.name, "description", info.rendering,
                     "text_description", info.description ? info.description : "", "tags", "teams",
                     "filter", segment_filter_to_json(info.filter), "size", (json_int_t)info.size,
                     "missing_cohorts", missing);
    segment_info_free(&info);
    return *out ? CD_OK : CD_E_NOMEM;
}

/* "Heap Cohorts" for partner "heap". */
static json_t *cohorts_title(const char *partner) {
    json_t *t = json_sprintf("%s Cohorts", partner);
    if (t && *partner) {
        char *text = strdup(json_string_value(t));
        if (text) {
            text[0] = (char)toupper((unsigned char)text[0]);
            json_string_set(t, text);
        }
        free(text);
    }
    return t;
}

static enum cd_err filters(struct app *app, struct workspace *ws, const struct http_request *req,
                           json_t **out, struct cd_msg *msg) {
    (void)req;
    (void)msg;
    struct segment_choices ch;
    enum cd_err err = segments_filters(app, ws, &ch);
    if (err != CD_OK)
        return err;
    json_t *by_partner = json_object(), *filters = json_array();
    json_t *attrs = json_array(), *events = json_array(), *profile = json_array();
    for (int i = 0; profile_fields[i]; i++)
        json_array_append_new(profile, json_string(profile_fields[i]));
    for (size_t i = 0; i < ch.n_cohorts; i++) {
        const struct segment_cohort_choice *c = &ch.cohorts[i];
        json_t *f = json_object_get(by_partner, c->partner);
        if (!f) {
            f = json_pack("{s:o, s:s, s:s, s:[s,s], s:[]}", "name", cohorts_title(c->partner),
                          "type", "cohort", "partner", c->partner, "ops", "includes", "excludes",
                          "cohorts");
            json_object_set_new(by_partner, c->partner, f);
            json_array_append(filters, f);
        }
        json_array_append_new(json_object_get(f, "cohorts"),
                              json_pack("{s:s, s:s}", "cohort_id", c->cohort_id, "name", c->name));
    }
    for (size_t i = 0; i < ch.n_attributes; i++)
        json_array_append_new(attrs, json_string(ch.attributes[i]));
    for (size_t i = 0; i < ch.n_events; i++)
        json_array_append_new(events, json_string(ch.events[i]));
    segment_choices_free(&ch);
    json_decref(by_partner);
    *out = json_pack("{s:s, s:o, s:o, s:o, s:o}", "message", "success", "cohort_filters", filters,
                     "attributes", attrs, "profile_fields", profile, "events", events);
    return CD_OK;
}

void api_segments_list(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_get(ctx, req, res, list);
}

void api_segments_details(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_get(ctx, req, res, details);
}

void api_segments_filters(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_get(ctx, req, res, filters);
}

/* ---- NDJSON export ---- */

enum export_field { F_BRAZE_ID = 1, F_EXTERNAL_ID = 2, F_CREATED_AT = 4, F_CUSTOM = 8 };

/* Store rows read per chunk: users are read in uid order, from the next audience uid. */
#define EXPORT_CHUNK_ROWS 2048

/* The core export gives the members of each chunk of users; they become lines here, written
 * straight into the chunk buffer, byte for byte the compact jansson dump of the object
 * {"braze_id", "external_id", "created_at", "custom_attributes"} (in that order, the fields
 * asked for) that earlier versions built per user. A string jansson would refuse (not UTF-8) is
 * left out, as json_object_set_new left it out. */
struct export {
    struct segment_export *seg;
    unsigned fields;
    bool done;
    bool failed; /* out of memory: the stream ends after the lines already made */
    char *chunk; /* lines not sent yet */
    size_t chunk_len, chunk_off, chunk_cap;
};

/* Room for n more bytes at the end of the chunk, or NULL (failed set). */
static char *chunk_room(struct export *ex, size_t n) {
    if (ex->chunk_len + n > ex->chunk_cap) {
        size_t cap = ex->chunk_cap ? ex->chunk_cap * 2 : 1 << 18;
        while (cap < ex->chunk_len + n)
            cap *= 2;
        char *c = realloc(ex->chunk, cap);
        if (!c) {
            ex->failed = true;
            return NULL;
        }
        ex->chunk = c;
        ex->chunk_cap = cap;
    }
    return ex->chunk + ex->chunk_len;
}

#define KEY(k) k, sizeof k - 1

/* How a string is written: as is, escaped, or left out (not UTF-8). */
enum str_kind { STR_OUT, STR_PLAIN, STR_ESCAPED };

static enum str_kind str_kind(const char *s, size_t len) {
    return json_text_plain(s, len)        ? STR_PLAIN
           : json_text_utf8_valid(s, len) ? STR_ESCAPED
                                          : STR_OUT;
}

/* Appends ,"key":"value" (no comma before the first member) at o; returns the new end. */
static char *put_member(char *o, bool *first, const char *key, size_t key_len, const char *v,
                        size_t v_len, enum str_kind kind) {
    if (!*first)
        *o++ = ',';
    *first = false;
    *o++ = '"';
    memcpy(o, key, key_len);
    o += key_len;
    *o++ = '"';
    *o++ = ':';
    if (kind == STR_ESCAPED)
        return o + json_text_string(o, v, v_len);
    *o++ = '"';
    memcpy(o, v, v_len);
    o[v_len] = '"';
    return o + v_len + 1;
}

static void take_user(void *ctx, const struct segment_export_user *u) {
    struct export *ex = ctx;
    if (ex->failed)
        return;
    size_t bid_len = u->braze_id ? strlen(u->braze_id) : 0;
    enum str_kind bid =
        (ex->fields & F_BRAZE_ID) && u->braze_id ? str_kind(u->braze_id, bid_len) : STR_OUT;
    enum str_kind ext = (ex->fields & F_EXTERNAL_ID) && u->external_id
                            ? str_kind(u->external_id, u->external_id_len)
                            : STR_OUT;
    char created[32];
    size_t created_len = 0;
    if (ex->fields & F_CREATED_AT) {
        time_format_iso8601(u->created_at, created, sizeof created);
        created_len = strlen(created);
    }
    char *attrs = NULL;
    if (ex->fields & F_CUSTOM) {
        json_t *a = json_loads(u->attrs, 0, NULL);
        if (!a)
            a = json_object();
        attrs = a ? json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(a);
        if (!attrs) {
            ex->failed = true;
            return;
        }
    }
    size_t attrs_len = attrs ? strlen(attrs) : 0;
    /* the braces and newline, each member's quotes, colon and comma, its key and value */
    size_t need = 3 + 4 * 5 + sizeof "braze_id" + sizeof "external_id" + sizeof "created_at" +
                  sizeof "custom_attributes" + JSON_TEXT_STRING_MAX(bid_len) +
                  JSON_TEXT_STRING_MAX(u->external_id_len) + JSON_TEXT_STRING_MAX(created_len) +
                  attrs_len;
    char *start = chunk_room(ex, need);
    if (!start) {
        free(attrs);
        return;
    }
    char *o = start;
    bool first = true;
    *o++ = '{';
    if (bid != STR_OUT)
        o = put_member(o, &first, KEY("braze_id"), u->braze_id, bid_len, bid);
    if (ext != STR_OUT)
        o = put_member(o, &first, KEY("external_id"), u->external_id, u->external_id_len, ext);
    if (ex->fields & F_CREATED_AT)
        o = put_member(o, &first, KEY("created_at"), created, created_len,
                       str_kind(created, created_len));
    if (attrs) {
        if (!first)
            *o++ = ',';
        memcpy(o, "\"custom_attributes\":", sizeof "\"custom_attributes\":" - 1);
        o += sizeof "\"custom_attributes\":" - 1;
        memcpy(o, attrs, attrs_len);
        o += attrs_len;
        free(attrs);
    }
    *o++ = '}';
    *o++ = '\n';
    ex->chunk_len += (size_t)(o - start);
}

/* Reads the next chunk of users into ex->chunk; sets done at the end. */
static void fill_chunk(struct export *ex) {
    ex->chunk_len = ex->chunk_off = 0;
    while (!ex->done && ex->chunk_len == 0)
        if (segments_export_next(ex->seg, EXPORT_CHUNK_ROWS, take_user, ex, &ex->done) != CD_OK ||
            ex->failed)
            ex->done = true;
}

static size_t export_next(void *ctx, char *buf, size_t max) {
    struct export *ex = ctx;
    size_t used = 0;
    while (used < max) {
        if (ex->chunk_off == ex->chunk_len) {
            fill_chunk(ex);
            if (ex->chunk_len == 0)
                break;
        }
        size_t n = ex->chunk_len - ex->chunk_off;
        if (n > max - used)
            n = max - used;
        memcpy(buf + used, ex->chunk + ex->chunk_off, n);
        used += n;
        ex->chunk_off += n;
    }
    return used;
}

static void export_done(void *ctx) {
    struct export *ex = ctx;
    free(ex->chunk);
    segments_export_close(ex->seg);
    free(ex);
}

static int parse_fields(const json_t *fields, unsigned *out, struct cd_msg *msg) {
    static const struct {
        const char *name;
        unsigned bit;
    } known[] = {{"braze_id", F_BRAZE_ID},
                 {"external_id", F_EXTERNAL_ID},
                 {"created_at", F_CREATED_AT},
                 {"custom_attributes", F_CUSTOM}};
    *out = F_BRAZE_ID | F_EXTERNAL_ID;
    if (!fields || json_is_null(fields))
        return 0;
    if (!json_is_array(fields) || json_array_size(fields) == 0) {
        snprintf(msg->text, sizeof msg->text, "fields_to_export: must be a non-empty array");
        return -1;
    }
    *out = 0;
    size_t i;
    const json_t *v;
    json_array_foreach(fields, i, v) {
        unsigned bit = 0;
        for (size_t k = 0; json_is_string(v) && k < sizeof known / sizeof known[0]; k++)
            if (strcmp(json_string_value(v), known[k].name) == 0)
                bit = known[k].bit;
        if (!bit) {
            snprintf(msg->text, sizeof msg->text,
                     "fields_to_export: supported fields are braze_id, external_id, created_at, "
                     "custom_attributes");
            return -1;
        }
        *out |= bit;
    }
    return 0;
}

void api_users_export_segment(void *vctx, const struct http_request *req,
                              struct http_response *res) {
    struct api_ctx *ctx = vctx;
    json_t *body = api_json_body(req, res);
    struct workspace *ws = body ? api_auth_rest(ctx, req, body, res) : NULL;
    if (!ws) {
        json_decref(body);
        return;
    }
    struct cd_msg msg = {{0}};
    unsigned fields;
    const char *id = json_string_value(json_object_get(body, "segment_id"));
    struct segment_export *seg = NULL;
    enum cd_err err = CD_E_INVALID;
    if (!id || !*id)
        snprintf(msg.text, sizeof msg.text, "segment_id: must be a non-empty string");
    else if (parse_fields(json_object_get(body, "fields_to_export"), &fields, &msg) == 0)
        err =
            segments_export_open(ctx->app, ws, id, (fields & (F_CREATED_AT | F_CUSTOM)) != 0, &seg);
    json_decref(body);
    struct export *ex = err == CD_OK ? calloc(1, sizeof *ex) : NULL;
    if (err == CD_OK && !ex)
        err = CD_E_NOMEM;
    if (err != CD_OK) {
        segments_export_close(seg);
        api_reply_err(res, err, msg.text);
        return;
    }
    *ex = (struct export){.seg = seg, .fields = fields};
    http_reply_stream(res, 200, "application/x-ndjson",
                      (struct http_stream){export_next, export_done, ex});
}
