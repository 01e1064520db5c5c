/*
 * daily_history.c — samples and series of the daily history (daily_history.h). A sample reads
 * each workspace's objects (segment audiences are evaluated under the read lock, one at a time;
 * cohort sizes and campaign counters are read as they are) and records one store row per
 * object, replacing the day's earlier sample. A series is at most DAILY_HISTORY_MAX_DAYS + 1
 * rows read back, and today's value computed now. Touches the store (admin, segments, campaigns,
 * history ops) and, through core, the workspace read lock; holds no lock of its own.
 */
#include "core/messaging/daily_history.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/cohorts/cohort_read.h"
#include "core/segments/segments.h"
#include "core/workspace/workspace_int.h"
#include "util/timeutil.h"

/* A growable list of sampled objects; strings owned. */
struct objects {
    struct history_row *v;
    size_t n, cap;
    bool failed;
};

static void objects_add(struct objects *o, enum history_kind kind, const char *id, int64_t size,
                        int64_t entered, int64_t sent, int64_t failed) {
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 16;
        struct history_row *v = realloc(o->v, cap * sizeof *v);
        if (!v) {
            o->failed = true;
            return;
        }
        o->v = v;
        o->cap = cap;
    }
    char *copy = strdup(id);
    if (!copy) {
        o->failed = true;
        return;
    }
    o->v[o->n++] = (struct history_row){.kind = kind,
                                        .object_id = copy,
                                        .size = size,
                                        .entered = entered,
                                        .sent = sent,
                                        .failed = failed};
}

static void objects_free(struct objects *o) {
    for (size_t i = 0; i < o->n; i++)
        free((char *)o->v[i].object_id);
    free(o->v);
    memset(o, 0, sizeof *o);
}

struct ws_ids {
    int64_t *v;
    size_t n, cap;
    bool failed;
};

static void take_ws(void *ctx, const struct workspace_row *r) {
    struct ws_ids *w = ctx;
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 8;
        int64_t *v = realloc(w->v, cap * sizeof *v);
        if (!v) {
            w->failed = true;
            return;
        }
        w->v = v;
        w->cap = cap;
    }
    w->v[w->n++] = r->id;
}

static void take_segment(void *ctx, const struct segment_summary *s) {
    objects_add(ctx, HISTORY_SEGMENT, s->segment_id, 0, 0, 0, 0);
}

static void take_cohort(void *ctx, const struct cohort_info *c) {
    char id[600];
    snprintf(id, sizeof id, "%s/%s", c->partner, c->cohort_id);
    objects_add(ctx, HISTORY_COHORT, id, (int64_t)c->size, 0, 0, 0);
}

struct campaign_take {
    struct objects *o;
    enum history_kind kind;
};

static void take_campaign(void *ctx, const struct campaign_row *r) {
    struct campaign_take *ct = ctx;
    objects_add(ct->o, ct->kind, r->public_id, 0, r->n_entered, r->n_sent, r->n_failed);
}

/* Every object of ws with its value now. */
static enum cd_err collect(struct app *app, struct workspace *ws, struct objects *o) {
    enum cd_err err = CD_OK;
    size_t before = 0;
    for (int64_t page = 0; err == CD_OK; page++) {
        before = o->n;
        err = segments_list(app, ws, page, true, take_segment, o);
        if (o->n - before < SEGMENTS_PAGE)
            break;
    }
    for (size_t i = 0; err == CD_OK && i < o->n; i++) {
        roaring_bitmap_t *aud = NULL;
        enum cd_err e = segments_audience(app, ws, o->v[i].object_id, &aud);
        if (e == CD_OK) {
            o->v[i].size = (int64_t)roaring_bitmap_get_cardinality(aud);
            roaring_bitmap_free(aud);
        } else if (e != CD_E_NOT_FOUND) { /* deleted since the list: its row is left out */
            err = e;
        }
    }
    if (err == CD_OK)
        cohort_list(app, ws, take_cohort, o);
    const struct store_campaign_ops *co = STORE_OPS(app->store)->campaigns;
    struct campaign_take ct = {o, HISTORY_CAMPAIGN};
    /* archived ones too: their past days stay answerable */
    const struct campaign_list_query all = {
        .include_archived = true, .edited_after = INT64_MIN, .limit = INT64_MAX};
    if (err == CD_OK)
        err = co->list(app->store, ws->id, CAMPAIGN_KIND_CAMPAIGN, &all, take_campaign, &ct);
    ct.kind = HISTORY_CANVAS;
    if (err == CD_OK)
        err = co->list(app->store, ws->id, CAMPAIGN_KIND_CANVAS, &all, take_campaign, &ct);
    return err == CD_OK && o->failed ? CD_E_NOMEM : err;
}

enum cd_err daily_history_sample(struct app *app, int64_t now) {
    struct ws_ids ids = {0};
    enum cd_err err = STORE_OPS(app->store)->admin->workspace_list(app->store, take_ws, &ids);
    if (err == CD_OK && ids.failed)
        err = CD_E_NOMEM;
    for (size_t w = 0; err == CD_OK && w < ids.n; w++) {
        struct workspace *ws;
        if (app_workspace(app, ids.v[w], &ws) != CD_OK)
            continue; /* not loaded: sampled once it is */
        struct objects o = {0};
        err = collect(app, ws, &o);
        for (size_t i = 0; err == CD_OK && i < o.n; i++) {
            o.v[i].day = now / DAILY_HISTORY_DAY_MS;
            err = STORE_OPS(app->store)->history->record(app->store, ws->id, &o.v[i]);
        }
        objects_free(&o);
    }
    free(ids.v);
    return err;
}

/* ---- series ---- */

struct found_campaign {
    bool found;
    struct history_row now;
    char name[256];
};

static void take_one_campaign(void *ctx, const struct campaign_row *r) {
    struct found_campaign *f = ctx;
    f->found = true;
    f->now.entered = r->n_entered;
    f->now.sent = r->n_sent;
    f->now.failed = r->n_failed;
    snprintf(f->name, sizeof f->name, "%s", r->name);
}

/* The object's values now into *now; CD_E_NOT_FOUND when there is no such object. */
static enum cd_err value_now(struct app *app, struct workspace *ws, enum history_kind kind,
                             const char *object_id, struct history_row *now) {
    memset(now, 0, sizeof *now);
    if (kind == HISTORY_SEGMENT) {
        roaring_bitmap_t *aud = NULL;
        enum cd_err err = segments_audience(app, ws, object_id, &aud);
        if (err == CD_OK) {
            now->size = (int64_t)roaring_bitmap_get_cardinality(aud);
            roaring_bitmap_free(aud);
        }
        return err;
    }
    if (kind == HISTORY_COHORT) {
        const char *slash = strchr(object_id, '/');
        char partner[256];
        if (!slash || (size_t)(slash - object_id) >= sizeof partner)
            return CD_E_NOT_FOUND;
        snprintf(partner, sizeof partner, "%.*s", (int)(slash - object_id), object_id);
        struct cohort_info info;
        enum cd_err err = cohort_details(app, ws, partner, slash + 1, &info);
        if (err == CD_OK) {
            now->size = (int64_t)info.size;
            cohort_info_free(&info);
        }
        return err;
    }
    struct found_campaign f = {0};
    enum cd_err err =
        STORE_OPS(app->store)
            ->campaigns->get(app->store, ws->id,
                             kind == HISTORY_CANVAS ? CAMPAIGN_KIND_CANVAS : CAMPAIGN_KIND_CAMPAIGN,
                             object_id, 0, take_one_campaign, &f);
    if (err == CD_OK && !f.found)
        err = CD_E_NOT_FOUND;
    *now = f.now;
    return err;
}

struct rows {
    struct history_row v[DAILY_HISTORY_MAX_DAYS + 2];
    size_t n;
};

static void take_row(void *ctx, const struct history_row *r) {
    struct rows *rs = ctx;
    if (rs->n < sizeof rs->v / sizeof rs->v[0])
        rs->v[rs->n++] = *r;
}

static int64_t grown(int64_t now, int64_t before) {
    return now > before ? now - before : 0;
}

/* The UTC day ending_ms falls on, never after today. */
static int64_t end_day(int64_t ending_ms, int64_t today) {
    int64_t d = ending_ms / DAILY_HISTORY_DAY_MS;
    return d > today ? today : d;
}

enum cd_err daily_history_series(struct app *app, struct workspace *ws, enum history_kind kind,
                                 const char *object_id, int64_t ending_ms, int length,
                                 struct daily_point *out) {
    if (length < 1 || length > DAILY_HISTORY_MAX_DAYS)
        return CD_E_INVALID;
    struct history_row now;
    enum cd_err err = value_now(app, ws, kind, object_id, &now);
    if (err != CD_OK)
        return err;
    int64_t today = time_now_ms() / DAILY_HISTORY_DAY_MS;
    int64_t last = end_day(ending_ms, today), first = last - length + 1;
    struct rows *rs = calloc(1, sizeof *rs);
    if (!rs)
        return CD_E_NOMEM;
    err = STORE_OPS(app->store)
              ->history->series(app->store, ws->id, kind, object_id, first, last, take_row, rs);
    if (err != CD_OK) {
        free(rs);
        return err;
    }
    struct history_row prev = {0};
    size_t r = 0;
    if (rs->n > 0 && rs->v[0].day < first)
        prev = rs->v[r++];
    for (int i = 0; i < length; i++) {
        int64_t d = first + i;
        struct history_row cur = prev; /* no sample that day: as the day before */
        while (r < rs->n && rs->v[r].day < d)
            r++;
        if (d == today)
            cur = now;
        else if (r < rs->n && rs->v[r].day == d)
            cur = rs->v[r];
        out[i] = (struct daily_point){.day = d,
                                      .size = cur.size,
                                      .entered = grown(cur.entered, prev.entered),
                                      .sent = grown(cur.sent, prev.sent),
                                      .failed = grown(cur.failed, prev.failed)};
        prev = cur;
    }
    free(rs);
    return CD_OK;
}

struct send_points {
    struct daily_point *out;
    int64_t first;
    int length;
};

static void take_send_day(void *ctx, const struct send_day *d) {
    struct send_points *sp = ctx;
    int64_t i = d->day - sp->first;
    if (i >= 0 && i < sp->length) {
        sp->out[i].sent = d->sent;
        sp->out[i].failed = d->failed;
        sp->out[i].users = d->users;
    }
}

enum cd_err daily_history_sends(struct app *app, struct workspace *ws, const char *campaign_id,
                                const char *send_id, int64_t ending_ms, int length,
                                struct daily_point *out) {
    if (length < 1 || length > DAILY_HISTORY_MAX_DAYS)
        return CD_E_INVALID;
    struct history_row now;
    enum cd_err err = value_now(app, ws, HISTORY_CAMPAIGN, campaign_id, &now);
    if (err != CD_OK)
        return err;
    int64_t today = time_now_ms() / DAILY_HISTORY_DAY_MS;
    int64_t last = end_day(ending_ms, today), first = last - length + 1;
    for (int i = 0; i < length; i++)
        out[i] = (struct daily_point){.day = first + i};
    struct send_points sp = {out, first, length};
    return STORE_OPS(app->store)
        ->history->send_days(app->store, ws->id, campaign_id, send_id, first * DAILY_HISTORY_DAY_MS,
                             (last + 1) * DAILY_HISTORY_DAY_MS, take_send_day, &sp);
}

enum cd_err daily_history_name(struct app *app, struct workspace *ws, enum campaign_kind kind,
                               const char *public_id, char *name, size_t name_len) {
    struct found_campaign f = {0};
    enum cd_err err =
        STORE_OPS(app->store)
            ->campaigns->get(app->store, ws->id, kind, public_id, 0, take_one_campaign, &f);
    if (err == CD_OK && !f.found)
        err = CD_E_NOT_FOUND;
    if (err == CD_OK)
        snprintf(name, name_len, "%s", f.name);
    return err;
}

/* ---- a Canvas's steps ---- */

struct found_steps {
    bool found;
    json_t *steps; /* the definition's "steps" (new reference) */
};

static void take_steps(void *ctx, const struct campaign_row *r) {
    struct found_steps *f = ctx;
    f->found = true;
    json_t *def = json_loads(r->definition, 0, NULL);
    f->steps = json_incref(json_object_get(def, "steps"));
    json_decref(def);
}

static char *text_of(const json_t *o, const char *key) {
    const char *v = json_string_value(json_object_get(o, key));
    return strdup(v ? v : "");
}

struct step_points {
    struct daily_point *out;
    int64_t first;
    int length;
};

static void take_step_day(void *ctx, const struct history_row *r) {
    struct step_points *sp = ctx;
    int64_t i = r->day - sp->first;
    if (i >= 0 && i < sp->length) { /* the row before the range is not counted */
        sp->out[i].sent = r->sent;
        sp->out[i].failed = r->failed;
    }
}

void daily_steps_free(struct daily_step *steps, size_t n_steps) {
    for (size_t i = 0; steps && i < n_steps; i++) {
        free(steps[i].id);
        free(steps[i].name);
        free(steps[i].points);
    }
    free(steps);
}

enum cd_err daily_history_steps(struct app *app, struct workspace *ws, const char *canvas_id,
                                int64_t ending_ms, int length, struct daily_step **steps,
                                size_t *n_steps) {
    *steps = NULL;
    *n_steps = 0;
    if (length < 1 || length > DAILY_HISTORY_MAX_DAYS)
        return CD_E_INVALID;
    struct found_steps f = {0};
    enum cd_err err = STORE_OPS(app->store)
                          ->campaigns->get(app->store, ws->id, CAMPAIGN_KIND_CANVAS, canvas_id, 0,
                                           take_steps, &f);
    if (err == CD_OK && !f.found)
        err = CD_E_NOT_FOUND;
    if (err != CD_OK) {
        json_decref(f.steps);
        return err;
    }
    int64_t today = time_now_ms() / DAILY_HISTORY_DAY_MS;
    int64_t last = end_day(ending_ms, today), first = last - length + 1;
    size_t n = json_array_size(f.steps);
    struct daily_step *v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        err = CD_E_NOMEM;
    for (size_t i = 0; err == CD_OK && i < n; i++) {
        const json_t *st = json_array_get(f.steps, i);
        v[i].id = text_of(st, "id");
        v[i].name = text_of(st, "name");
        v[i].points = calloc((size_t)length, sizeof *v[i].points);
        size_t len = strlen(canvas_id) + (v[i].id ? strlen(v[i].id) : 0) + 2;
        char *object = v[i].id && v[i].name && v[i].points ? malloc(len) : NULL;
        if (!object) {
            err = CD_E_NOMEM;
            break;
        }
        snprintf(object, len, "%s/%s", canvas_id, v[i].id);
        for (int d = 0; d < length; d++)
            v[i].points[d].day = first + d;
        struct step_points sp = {v[i].points, first, length};
        err = STORE_OPS(app->store)
                  ->history->series(app->store, ws->id, HISTORY_CANVAS_STEP, object, first, last,
                                    take_step_day, &sp);
        free(object);
    }
    json_decref(f.steps);
    if (err != CD_OK) {
        daily_steps_free(v, n);
        return err;
    }
    *steps = v;
    *n_steps = n;
    return CD_OK;
}
