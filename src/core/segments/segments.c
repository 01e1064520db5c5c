/* segments.c — segment definitions and their audiences (see segments.h). */
#include "core/segments/segments.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/segments/segment_filter.h"
#include "core/workspace/workspace_int.h"
#include "util/crypto.h"
#include "util/timeutil.h"

struct row_copy {
    json_t *obj; /* {segment_id, name, description, filter(text), created_at, updated_at} */
};

static void copy_row(void *ctx, const struct segment_row *r) {
    struct row_copy *rc = ctx;
    rc->obj = json_pack("{s:s, s:s, s:s?, s:s, s:I, s:I}", "segment_id", r->segment_id, "name",
                        r->name, "description", r->description, "filter", r->filter, "created_at",
                        (json_int_t)r->created_at, "updated_at", (json_int_t)r->updated_at);
}

/* A saved segment: its row, its filter (JSON) and the parsed filter. CD_E_NOT_FOUND when
 * unknown; the caller frees all three on CD_OK. */
static enum cd_err load_saved(struct app *app, struct workspace *ws, const char *segment_id,
                              struct row_copy *rc, json_t **filter, struct seg_node **n) {
    *rc = (struct row_copy){0};
    enum cd_err err =
        STORE_OPS(app->store)->segments->get(app->store, ws->id, segment_id, copy_row, rc);
    if (err != CD_OK)
        return err;
    *filter = json_loads(json_string_value(json_object_get(rc->obj, "filter")), 0, NULL);
    char tmp[256];
    *n = segment_filter_parse(*filter, NULL, tmp, sizeof tmp);
    if (*n)
        return CD_OK;
    json_decref(*filter);
    json_decref(rc->obj);
    return CD_E_INTERNAL;
}

/* Parses and checks a filter against the workspace's cohorts; CD_E_INVALID with msg. */
static enum cd_err check_filter(struct workspace *ws, const json_t *filter, struct cd_msg *msg) {
    if (!filter) {
        return cd_invalid(msg, "filter: is required");
    }
    workspace_read_begin(ws);
    struct seg_node *n = segment_filter_parse(filter, &ws->cohorts, msg->text, sizeof msg->text);
    workspace_read_end(ws);
    segment_filter_free(n);
    return n ? CD_OK : CD_E_INVALID;
}

static enum cd_err check_name(const json_t *v, bool required, struct cd_msg *msg) {
    if (!v && !required)
        return CD_OK;
    const char *name = json_string_value(v);
    if (!name || !*name || strlen(name) > 200) {
        return cd_invalid(msg, "name: must be a string of 1 to 200 characters");
    }
    return CD_OK;
}

static enum cd_err check_description(const json_t *v, struct cd_msg *msg) {
    if (v && !json_is_string(v)) {
        return cd_invalid(msg, "description: must be a string");
    }
    return CD_OK;
}

enum cd_err segments_create(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                            struct cd_msg *msg) {
    const json_t *filter = json_object_get(body, "filter");
    enum cd_err err = check_name(json_object_get(body, "name"), true, msg);
    if (err == CD_OK)
        err = check_description(json_object_get(body, "description"), msg);
    if (err == CD_OK)
        err = check_filter(ws, filter, msg);
    if (err != CD_OK)
        return err;
    char id[37];
    char *text = json_dumps(filter, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text || crypto_uuid4(id) != 0) {
        free(text);
        return CD_E_INTERNAL;
    }
    int64_t now = time_now_ms();
    struct segment_row row = {id,
                              json_string_value(json_object_get(body, "name")),
                              json_string_value(json_object_get(body, "description")),
                              text,
                              now,
                              now};
    err = STORE_OPS(app->store)->segments->create(app->store, ws->id, &row);
    free(text);
    if (err == CD_OK)
        *out = json_pack("{s:s, s:s}", "segment_id", id, "message", "success");
    return err;
}

static const char *segment_id_of(const json_t *body, struct cd_msg *msg) {
    const char *id = json_string_value(json_object_get(body, "segment_id"));
    if (!id || !*id)
        snprintf(msg->text, sizeof msg->text, "segment_id: must be a non-empty string");
    return id && *id ? id : NULL;
}

enum cd_err segments_update(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                            struct cd_msg *msg) {
    const char *id = segment_id_of(body, msg);
    const json_t *filter = json_object_get(body, "filter");
    if (!id)
        return CD_E_INVALID;
    enum cd_err err = check_name(json_object_get(body, "name"), false, msg);
    if (err == CD_OK)
        err = check_description(json_object_get(body, "description"), msg);
    if (err == CD_OK && filter)
        err = check_filter(ws, filter, msg);
    if (err != CD_OK)
        return err;
    char *text = filter ? json_dumps(filter, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    err = STORE_OPS(app->store)
              ->segments->update(
                  app->store, ws->id, id, json_string_value(json_object_get(body, "name")),
                  json_string_value(json_object_get(body, "description")), text, time_now_ms());
    free(text);
    if (err == CD_OK)
        *out = json_pack("{s:s}", "message", "success");
    return err;
}

enum cd_err segments_delete(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                            struct cd_msg *msg) {
    const char *id = segment_id_of(body, msg);
    if (!id)
        return CD_E_INVALID;
    enum cd_err err =
        STORE_OPS(app->store)->segments->remove(app->store, ws->id, id, time_now_ms());
    if (err == CD_OK)
        *out = json_pack("{s:s}", "message", "success");
    return err;
}

static void list_row(void *ctx, const struct segment_row *r) {
    json_array_append_new(ctx, json_pack("{s:s, s:s, s:b, s:[]}", "id", r->segment_id, "name",
                                         r->name, "analytics_tracking_enabled", 0, "tags"));
}

enum cd_err segments_list(struct app *app, struct workspace *ws, const char *page, const char *sort,
                          json_t **out, struct cd_msg *msg) {
    long long pg = 0;
    if (page) {
        char *end;
        pg = strtoll(page, &end, 10);
        if (end == page || *end || pg < 0 || pg > 1000000) {
            return cd_invalid(msg, "page: must be an integer >= 0");
        }
    }
    if (sort && strcmp(sort, "asc") != 0 && strcmp(sort, "desc") != 0) {
        return cd_invalid(msg, "sort_direction: must be asc or desc");
    }
    json_t *arr = json_array();
    enum cd_err err = STORE_OPS(app->store)
                          ->segments->list(app->store, ws->id, !sort || strcmp(sort, "asc") == 0,
                                           pg * SEGMENTS_PAGE, SEGMENTS_PAGE, list_row, arr);
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

enum cd_err segments_details(struct app *app, struct workspace *ws, const char *segment_id,
                             json_t **out, struct cd_msg *msg) {
    if (!segment_id || !*segment_id) {
        return cd_invalid(msg, "segment_id: is required");
    }
    struct row_copy rc;
    json_t *filter;
    struct seg_node *n;
    enum cd_err err = load_saved(app, ws, segment_id, &rc, &filter, &n);
    if (err != CD_OK)
        return err;
    json_t *missing = json_array();
    workspace_read_begin(ws);
    roaring_bitmap_t *aud = segment_eval(n, ws, time_now_ms());
    char *text = segment_describe(n, &ws->cohorts);
    segment_missing_cohorts(n, &ws->cohorts, missing);
    workspace_read_end(ws);
    const json_t *desc = json_object_get(rc.obj, "description");
    *out = json_pack(
        "{s:s, s:o, s:o, s:O, s:s, s:o, s:[], s:[], s:o, s:I, s:o}", "message", "success",
        "created_at", iso(json_integer_value(json_object_get(rc.obj, "created_at"))), "updated_at",
        iso(json_integer_value(json_object_get(rc.obj, "updated_at"))), "name",
        json_object_get(rc.obj, "name"), "description", text ? text : "", "text_description",
        json_is_string(desc) ? json_incref((json_t *)desc) : json_string(""), "tags", "teams",
        "filter", filter, "size", (json_int_t)roaring_bitmap_get_cardinality(aud),
        "missing_cohorts", missing);
    free(text);
    roaring_bitmap_free(aud);
    segment_filter_free(n);
    json_decref(rc.obj);
    return CD_OK;
}

enum cd_err segments_preview(struct app *app, struct workspace *ws, const json_t *body,
                             json_t **out, struct cd_msg *msg) {
    (void)app;
    const json_t *filter = json_object_get(body, "filter");
    if (!filter) {
        return cd_invalid(msg, "filter: is required");
    }
    workspace_read_begin(ws);
    struct seg_node *n = segment_filter_parse(filter, &ws->cohorts, msg->text, sizeof msg->text);
    roaring_bitmap_t *aud = n ? segment_eval(n, ws, time_now_ms()) : NULL;
    workspace_read_end(ws);
    segment_filter_free(n);
    if (!aud)
        return CD_E_INVALID;
    *out = json_pack("{s:s, s:I}", "message", "success", "size",
                     (json_int_t)roaring_bitmap_get_cardinality(aud));
    roaring_bitmap_free(aud);
    return CD_OK;
}

enum cd_err segments_filters(struct app *app, struct workspace *ws, json_t **out) {
    (void)app;
    json_t *by_partner = json_object(), *attrs = json_array(), *events = json_array();
    workspace_read_begin(ws);
    for (size_t i = 0; i < ws->cohorts.n; i++) {
        const struct cohort *c = ws->cohorts.v[i];
        json_t *f = json_object_get(by_partner, c->partner);
        if (!f) {
            char title[64];
            snprintf(title, sizeof title, "%s Cohorts", c->partner);
            title[0] = (char)toupper((unsigned char)title[0]);
            f = json_pack("{s:s, s:s, s:s, s:[s,s], s:[]}", "name", title, "type", "cohort",
                          "partner", c->partner, "ops", "includes", "excludes", "cohorts");
            json_object_set_new(by_partner, c->partner, f);
        }
        json_array_append_new(json_object_get(f, "cohorts"),
                              json_pack("{s:s, s:o}", "cohort_id", c->cohort_id, "name",
                                        json_string(c->name ? c->name : c->cohort_id)));
    }
    for (size_t i = 0; i < ws->attrs.n; i++)
        json_array_append_new(attrs, json_string(ws->attrs.name_list[i]));
    for (size_t i = 0; i < ws->events.n; i++)
        json_array_append_new(events, json_string(ws->events.name_list[i]));
    workspace_read_end(ws);
    json_t *filters = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(by_partner, key, v) json_array_append(filters, v);
    json_decref(by_partner);
    *out = json_pack("{s:s, s:o, s:o, s:o}", "message", "success", "cohort_filters", filters,
                     "attributes", attrs, "events", events);
    return CD_OK;
}

enum cd_err segments_audience(struct app *app, struct workspace *ws, const char *segment_id,
                              roaring_bitmap_t **out) {
    struct row_copy rc;
    json_t *filter;
    struct seg_node *n;
    enum cd_err err = load_saved(app, ws, segment_id, &rc, &filter, &n);
    if (err != CD_OK)
        return err;
    workspace_read_begin(ws);
    *out = segment_eval(n, ws, time_now_ms());
    workspace_read_end(ws);
    segment_filter_free(n);
    json_decref(filter);
    json_decref(rc.obj);
    return CD_OK;
}

enum cd_err segments_exists(struct app *app, struct workspace *ws, const char *segment_id) {
    struct row_copy rc = {0};
    enum cd_err err =
        STORE_OPS(app->store)->segments->get(app->store, ws->id, segment_id, copy_row, &rc);
    json_decref(rc.obj);
    return err;
}
