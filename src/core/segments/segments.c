/* segments.c — segment definitions and their audiences (see segments.h). */
#include "core/segments/segments.h"

#include <stdlib.h>
#include <string.h>

#include "core/users/profile.h"
#include "core/workspace/workspace_int.h"
#include "util/crypto.h"
#include "util/timeutil.h"

_Static_assert(EVENT_RECENT_MAX == STORE_EVENT_RECENT,
               "the event index keeps as many recent times as the store");

/* A copy of a stored row; NULL members when out of memory (found tells it was there). */
struct row_copy {
    bool found;
    bool nomem;
    char *segment_id, *name, *description, *filter;
    int64_t created_at, updated_at;
};

static char *dup_or_null(struct row_copy *rc, const char *s) {
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        rc->nomem = true;
    return d;
}

static void copy_row(void *ctx, const struct segment_row *r) {
    struct row_copy *rc = ctx;
    rc->found = true;
    rc->segment_id = dup_or_null(rc, r->segment_id);
    rc->name = dup_or_null(rc, r->name);
    rc->description = dup_or_null(rc, r->description);
    rc->filter = dup_or_null(rc, r->filter);
    rc->created_at = r->created_at;
    rc->updated_at = r->updated_at;
}

static void row_free(struct row_copy *rc) {
    free(rc->segment_id);
    free(rc->name);
    free(rc->description);
    free(rc->filter);
}

/* A saved segment's row and its filter tree (*n). CD_E_NOT_FOUND when unknown; on CD_OK the
 * caller frees both. */
static enum cd_err load_saved(struct app *app, struct workspace *ws, const char *segment_id,
                              struct row_copy *rc, struct seg_node **n) {
    *rc = (struct row_copy){0};
    *n = NULL;
    enum cd_err err =
        STORE_OPS(app->store)->segments->get(app->store, ws->id, segment_id, copy_row, rc);
    if (err == CD_OK && rc->nomem)
        err = CD_E_NOMEM;
    json_t *filter = err == CD_OK ? json_loads(rc->filter, 0, NULL) : NULL;
    if (filter) {
        struct cd_msg why;
        *n = segment_filter_parse(filter, NULL, why.text, sizeof why.text);
        json_decref(filter);
    }
    if (err == CD_OK && !*n)
        err = CD_E_INTERNAL;
    if (err != CD_OK)
        row_free(rc);
    return err;
}

/* The stored form of a filter (malloc'd JSON text), NULL when out of memory. */
static char *filter_text(const struct seg_node *n) {
    json_t *j = segment_filter_to_json(n);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    return text;
}

/* CD_E_INVALID with msg when the filter names a cohort the workspace does not hold. */
static enum cd_err check_cohorts(struct workspace *ws, const struct seg_node *n,
                                 struct cd_msg *msg) {
    workspace_read_begin(ws);
    int rc = segment_filter_check_cohorts(n, &ws->cohorts, msg->text, sizeof msg->text);
    workspace_read_end(ws);
    return rc == 0 ? CD_OK : CD_E_INVALID;
}

enum cd_err segments_create(struct app *app, struct workspace *ws, const struct segment_def *def,
                            char id_out[37], struct cd_msg *msg) {
    if (!def->name || !def->filter)
        return cd_invalid(msg, "%s: is required", def->name ? "filter" : "name");
    enum cd_err err = check_cohorts(ws, def->filter, msg);
    if (err != CD_OK)
        return err;
    char *text = filter_text(def->filter);
    if (!text || crypto_uuid4(id_out) != 0) {
        free(text);
        return text ? CD_E_INTERNAL : CD_E_NOMEM;
    }
    int64_t now = time_now_ms();
    struct segment_row row = {id_out, def->name, def->description, text, now, now};
    err = STORE_OPS(app->store)->segments->create(app->store, ws->id, &row);
    free(text);
    return err;
}

enum cd_err segments_update(struct app *app, struct workspace *ws, const char *segment_id,
                            const struct segment_def *def, struct cd_msg *msg) {
    enum cd_err err = def->filter ? check_cohorts(ws, def->filter, msg) : CD_OK;
    if (err != CD_OK)
        return err;
    char *text = def->filter ? filter_text(def->filter) : NULL;
    if (def->filter && !text)
        return CD_E_NOMEM;
    err = STORE_OPS(app->store)
              ->segments->update(app->store, ws->id, segment_id, def->name, def->description, text,
                                 time_now_ms());
    free(text);
    return err;
}

enum cd_err segments_delete(struct app *app, struct workspace *ws, const char *segment_id) {
    return STORE_OPS(app->store)->segments->remove(app->store, ws->id, segment_id, time_now_ms());
}

struct list_ctx {
    void (*cb)(void *ctx, const struct segment_summary *s);
    void *ctx;
};

static void list_row(void *ctx, const struct segment_row *r) {
    struct list_ctx *lc = ctx;
    struct segment_summary s = {r->segment_id, r->name};
    lc->cb(lc->ctx, &s);
}

enum cd_err segments_list(struct app *app, struct workspace *ws, int64_t page, bool asc,
                          void (*cb)(void *ctx, const struct segment_summary *s), void *ctx) {
    struct list_ctx lc = {cb, ctx};
    return STORE_OPS(app->store)
        ->segments->list(app->store, ws->id, asc, page * SEGMENTS_PAGE, SEGMENTS_PAGE, list_row,
                         &lc);
}

void segment_info_free(struct segment_info *info) {
    free(info->segment_id);
    free(info->name);
    free(info->description);
    free(info->rendering);
    segment_filter_free(info->filter);
    for (size_t i = 0; i < info->n_missing; i++)
        free(info->missing_cohorts[i]);
    free(info->missing_cohorts);
    memset(info, 0, sizeof *info);
}

enum cd_err segments_details(struct app *app, struct workspace *ws, const char *segment_id,
                             struct segment_info *out) {
    struct row_copy rc;
    struct seg_node *n;
    memset(out, 0, sizeof *out);
    enum cd_err err = load_saved(app, ws, segment_id, &rc, &n);
    if (err != CD_OK)
        return err;
    *out = (struct segment_info){.segment_id = rc.segment_id,
                                 .name = rc.name,
                                 .description = rc.description,
                                 .filter = n,
                                 .created_at = rc.created_at,
                                 .updated_at = rc.updated_at};
    free(rc.filter);
    workspace_read_begin(ws);
    int counted = segment_size(n, ws, time_now_ms(), &out->size);
    out->rendering = segment_describe(n, &ws->cohorts);
    int missing = segment_missing_cohorts(n, &ws->cohorts, &out->missing_cohorts, &out->n_missing);
    workspace_read_end(ws);
    if (counted != 0 || !out->rendering || missing != 0) {
        segment_info_free(out);
        return CD_E_NOMEM;
    }
    return CD_OK;
}

enum cd_err segments_preview(struct app *app, struct workspace *ws, const struct seg_node *filter,
                             uint64_t *size, struct cd_msg *msg) {
    (void)app;
    workspace_read_begin(ws);
    int rc = segment_filter_check_cohorts(filter, &ws->cohorts, msg->text, sizeof msg->text);
    int counted = rc == 0 ? segment_size(filter, ws, time_now_ms(), size) : 0;
    workspace_read_end(ws);
    if (rc != 0)
        return CD_E_INVALID;
    return counted == 0 ? CD_OK : CD_E_NOMEM;
}

void segment_choices_free(struct segment_choices *c) {
    for (size_t i = 0; c->cohorts && i < c->n_cohorts; i++) {
        free((char *)c->cohorts[i].partner);
        free((char *)c->cohorts[i].cohort_id);
        free((char *)c->cohorts[i].name);
    }
    for (size_t i = 0; c->attributes && i < c->n_attributes; i++)
        free(c->attributes[i]);
    for (size_t i = 0; c->events && i < c->n_events; i++)
        free(c->events[i]);
    free(c->cohorts);
    free(c->attributes);
    free(c->events);
    memset(c, 0, sizeof *c);
}

/* Copies n names into a new array; false when out of memory (what was copied is counted). */
/* Copies of names; without the profile fields when custom_only (they are offered apart). */
static bool copy_names(char *const *names, size_t n, bool custom_only, char ***out, size_t *n_out) {
    *out = calloc(n ? n : 1, sizeof **out);
    *n_out = 0;
    for (size_t i = 0; *out && i < n; i++) {
        if (custom_only && profile_field_is(names[i]))
            continue;
        if (!((*out)[*n_out] = strdup(names[i])))
            return false;
        (*n_out)++;
    }
    return *out != NULL;
}

enum cd_err segments_filters(struct app *app, struct workspace *ws, struct segment_choices *out) {
    (void)app;
    memset(out, 0, sizeof *out);
    bool ok = true;
    workspace_read_begin(ws);
    out->cohorts = calloc(ws->cohorts.n ? ws->cohorts.n : 1, sizeof *out->cohorts);
    ok = out->cohorts != NULL;
    for (size_t i = 0; ok && i < ws->cohorts.n; i++) {
        const struct cohort *c = ws->cohorts.v[i];
        struct segment_cohort_choice *ch = &out->cohorts[i];
        ch->partner = strdup(c->partner);
        ch->cohort_id = strdup(c->cohort_id);
        ch->name = strdup(c->name ? c->name : c->cohort_id);
        out->n_cohorts++;
        ok = ch->partner && ch->cohort_id && ch->name;
    }
    ok = ok &&
         copy_names(ws->attrs.name_list, ws->attrs.n, true, &out->attributes, &out->n_attributes);
    ok = ok && copy_names(ws->events.name_list, ws->events.n, false, &out->events, &out->n_events);
    workspace_read_end(ws);
    if (!ok) {
        segment_choices_free(out);
        return CD_E_NOMEM;
    }
    return CD_OK;
}

enum cd_err segments_audience(struct app *app, struct workspace *ws, const char *segment_id,
                              roaring_bitmap_t **out) {
    struct row_copy rc;
    struct seg_node *n;
    enum cd_err err = load_saved(app, ws, segment_id, &rc, &n);
    if (err != CD_OK)
        return err;
    workspace_read_begin(ws);
    *out = segment_eval(n, ws, time_now_ms());
    workspace_read_end(ws);
    segment_filter_free(n);
    row_free(&rc);
    return CD_OK;
}

enum cd_err segments_exists(struct app *app, struct workspace *ws, const char *segment_id) {
    struct row_copy rc = {0};
    enum cd_err err =
        STORE_OPS(app->store)->segments->get(app->store, ws->id, segment_id, copy_row, &rc);
    row_free(&rc);
    return err;
}
