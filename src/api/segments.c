/*
 * segments.c — the segments API (REST API key): /segments/create, /update, /delete, /list,
 * /details, /preview, /filters, and POST /users/export/segment, which streams the audience as
 * NDJSON (one user per line) from a snapshot of the audience bitmap, reading users in uid-ordered
 * chunks, without building the whole answer in memory.
 */
#include "api/api.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/segments/segments.h"
/* temporary, until this file reads no workspace or app field (the workspace is opaque) */
#include "core/workspace/workspace_int.h"
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

static enum cd_err list(struct app *app, struct workspace *ws, const struct http_request *req,
                        json_t **out, struct cd_msg *msg) {
    return segments_list(app, ws, http_query(req, "page"), http_query(req, "sort_direction"), out,
                         msg);
}

static enum cd_err details(struct app *app, struct workspace *ws, const struct http_request *req,
                           json_t **out, struct cd_msg *msg) {
    return segments_details(app, ws, http_query(req, "segment_id"), out, msg);
}

static enum cd_err filters(struct app *app, struct workspace *ws, const struct http_request *req,
                           json_t **out, struct cd_msg *msg) {
    (void)req;
    (void)msg;
    return segments_filters(app, ws, out);
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

#define EXPORT_CHUNK_ROWS 2048

/*
 * The audience is a bitmap snapshot taken when the request arrived; users are read from the
 * store in uid order, EXPORT_CHUNK_ROWS rows at a time starting at the next audience uid, and
 * the members among them become lines. Sequential reads keep the cost per user low.
 */
struct export {
    struct app *app;
    struct workspace *ws;
    roaring_bitmap_t *audience;
    roaring_uint32_iterator_t *it;
    unsigned fields;
    bool done;
    char *chunk; /* lines not sent yet */
    size_t chunk_len, chunk_off, chunk_cap;
    int64_t n_rows; /* rows seen by the current chunk read */
};

static void chunk_append(struct export *ex, const char *text, size_t n) {
    if (ex->chunk_len + n + 1 > ex->chunk_cap) {
        size_t cap = ex->chunk_cap ? ex->chunk_cap * 2 : 1 << 16;
        while (cap < ex->chunk_len + n + 1)
            cap *= 2;
        char *c = realloc(ex->chunk, cap);
        if (!c)
            return;
        ex->chunk = c;
        ex->chunk_cap = cap;
    }
    memcpy(ex->chunk + ex->chunk_len, text, n);
    ex->chunk_len += n;
}

static void take_row(void *ctx, const struct user_row *u) {
    struct export *ex = ctx;
    ex->n_rows++;
    while (ex->it->has_value && ex->it->current_value < u->uid)
        roaring_advance_uint32_iterator(ex->it);
    if (!ex->it->has_value || ex->it->current_value != u->uid || u->deleted)
        return;
    roaring_advance_uint32_iterator(ex->it);
    json_t *obj = json_object();
    if (ex->fields & F_BRAZE_ID)
        json_object_set_new(obj, "braze_id", json_string(u->braze_id));
    if ((ex->fields & F_EXTERNAL_ID) && u->external_id)
        json_object_set_new(obj, "external_id", json_string(u->external_id));
    if (ex->fields & F_CREATED_AT) {
        char buf[32];
        time_format_iso8601(u->created_at, buf, sizeof buf);
        json_object_set_new(obj, "created_at", json_string(buf));
    }
    if (ex->fields & F_CUSTOM) {
        json_t *attrs = json_loads(u->attrs ? u->attrs : "{}", 0, NULL);
        json_object_set_new(obj, "custom_attributes", attrs ? attrs : json_object());
    }
    char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (text) {
        chunk_append(ex, text, strlen(text));
        chunk_append(ex, "\n", 1);
    }
    free(text);
}

/* Reads the next chunk of users into ex->chunk; sets done at the end. */
static void fill_chunk(struct export *ex) {
    ex->chunk_len = ex->chunk_off = 0;
    while (!ex->done && ex->chunk_len == 0) {
        if (!ex->it->has_value) {
            ex->done = true;
            break;
        }
        ex->n_rows = 0;
        uint32_t from = ex->it->current_value;
        if (STORE_OPS(ex->app->store)
                    ->users->range(ex->app->store, ex->ws->id, from, EXPORT_CHUNK_ROWS, take_row,
                                   ex) != CD_OK ||
            ex->n_rows == 0)
            ex->done = true;
    }
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
    *ex = (struct export){.app = ctx->app,
                          .ws = ws,
                          .audience = aud,
                          .it = roaring_create_iterator(aud),
                          .fields = fields};
    http_reply_stream(res, 200, "application/x-ndjson",
                      (struct http_stream){export_next, export_done, ex});
}
