/*
 * segments.c — the segments API (REST API key): /segments/create, /update, /delete, /list,
 * /details, /preview, /filters, and POST /users/export/segment, which streams the audience as
 * NDJSON (one user per line) from a snapshot of the audience bitmap, without building the
 * whole answer in memory.
 */
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/segments.h"
#include "util/timeutil.h"

void api_segments_create(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, segments_create, 201);
}

void api_segments_update(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, segments_update, 201);
}

void api_segments_delete(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, segments_delete, 201);
}

void api_segments_preview(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, segments_preview, 200);
}

void api_segments_list(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct workspace *ws = api_auth_rest(ctx, req, NULL, res);
    if (!ws)
        return;
    struct cd_msg msg = {{0}};
    json_t *out = NULL;
    enum cd_err err = segments_list(ctx->app, ws, http_query(req, "page"),
                                    http_query(req, "sort_direction"), &out, &msg);
    if (err == CD_OK)
        http_reply_json(res, 200, out);
    else
        api_reply_err(res, err, msg.text);
}

void api_segments_details(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct workspace *ws = api_auth_rest(ctx, req, NULL, res);
    if (!ws)
        return;
    struct cd_msg msg = {{0}};
    json_t *out = NULL;
    enum cd_err err = segments_details(ctx->app, ws, http_query(req, "segment_id"), &out, &msg);
    if (err == CD_OK)
        http_reply_json(res, 200, out);
    else
        api_reply_err(res, err, msg.text);
}

void api_segments_filters(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct workspace *ws = api_auth_rest(ctx, req, NULL, res);
    json_t *out = NULL;
    if (ws && segments_filters(ctx->app, ws, &out) == CD_OK)
        http_reply_json(res, 200, out);
    else if (ws)
        api_reply_err(res, CD_E_INTERNAL, NULL);
}

/* ---- NDJSON export ---- */

enum export_field { F_BRAZE_ID = 1, F_EXTERNAL_ID = 2, F_CREATED_AT = 4, F_CUSTOM = 8 };

struct export {
    struct app *app;
    struct workspace *ws;
    roaring_bitmap_t *audience;
    roaring_uint32_iterator_t *it;
    unsigned fields;
    char *line; /* a line that did not fit the last buffer */
    size_t line_len, line_off;
};

struct row_fields {
    struct export *ex;
    json_t *obj;
};

static void take_row(void *ctx, const struct user_row *u) {
    struct row_fields *rf = ctx;
    if (u->deleted)
        return;
    rf->obj = json_object();
    if (rf->ex->fields & F_BRAZE_ID)
        json_object_set_new(rf->obj, "braze_id", json_string(u->braze_id));
    if ((rf->ex->fields & F_EXTERNAL_ID) && u->external_id)
        json_object_set_new(rf->obj, "external_id", json_string(u->external_id));
    if (rf->ex->fields & F_CREATED_AT) {
        char buf[32];
        time_format_iso8601(u->created_at, buf, sizeof buf);
        json_object_set_new(rf->obj, "created_at", json_string(buf));
    }
    if (rf->ex->fields & F_CUSTOM) {
        json_t *attrs = json_loads(u->attrs ? u->attrs : "{}", 0, NULL);
        json_object_set_new(rf->obj, "custom_attributes", attrs ? attrs : json_object());
    }
}

/* The next user's line (malloc'd, with its newline), or NULL at the end. */
static char *next_line(struct export *ex, size_t *len) {
    while (ex->it->has_value) {
        uint32_t uid = ex->it->current_value;
        roaring_advance_uint32_iterator(ex->it);
        struct row_fields rf = {ex, NULL};
        if (STORE_OPS(ex->app->store)->users->get(ex->app->store, ex->ws->id, uid, take_row, &rf) !=
                CD_OK ||
            !rf.obj)
            continue; /* deleted since the snapshot */
        char *text = json_dumps(rf.obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(rf.obj);
        if (!text)
            continue;
        size_t n = strlen(text);
        char *line = realloc(text, n + 2);
        if (!line) {
            free(text);
            continue;
        }
        line[n] = '\n';
        line[n + 1] = '\0';
        *len = n + 1;
        return line;
    }
    return NULL;
}

static size_t export_next(void *ctx, char *buf, size_t max) {
    struct export *ex = ctx;
    size_t used = 0;
    while (used < max) {
        if (!ex->line) {
            ex->line = next_line(ex, &ex->line_len);
            ex->line_off = 0;
            if (!ex->line)
                break;
        }
        size_t n = ex->line_len - ex->line_off;
        if (n > max - used)
            n = max - used;
        memcpy(buf + used, ex->line + ex->line_off, n);
        used += n;
        ex->line_off += n;
        if (ex->line_off == ex->line_len) {
            free(ex->line);
            ex->line = NULL;
        }
    }
    return used;
}

static void export_done(void *ctx) {
    struct export *ex = ctx;
    free(ex->line);
    roaring_free_uint32_iterator(ex->it);
    roaring_bitmap_free(ex->audience);
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
    roaring_bitmap_t *aud = NULL;
    enum cd_err err = CD_E_INVALID;
    if (!id || !*id)
        snprintf(msg.text, sizeof msg.text, "segment_id: must be a non-empty string");
    else if (parse_fields(json_object_get(body, "fields_to_export"), &fields, &msg) == 0)
        err = segments_audience(ctx->app, ws, id, &aud);
    json_decref(body);
    struct export *ex = err == CD_OK ? calloc(1, sizeof *ex) : NULL;
    if (err == CD_OK && !ex)
        err = CD_E_NOMEM;
    if (err != CD_OK) {
        if (aud)
            roaring_bitmap_free(aud);
        api_reply_err(res, err, msg.text);
        return;
    }
    *ex = (struct export){ctx->app, ws, aud, roaring_create_iterator(aud), fields, NULL, 0, 0};
    http_reply_stream(res, 200, "application/x-ndjson",
                      (struct http_stream){export_next, export_done, ex});
}
