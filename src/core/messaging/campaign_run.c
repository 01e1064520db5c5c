/* campaign_run.c — starting, personalising, recording and advancing dispatch steps (see
 * campaign_run.h). */
#include "core/workspace/leases.h"
#include "core/messaging/campaign_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/index/bitmap.h"
#include "core/messaging/daily_history.h"
#include "core/events/event.h"
#include "core/segments/segments.h"
#include "core/messaging/template.h"
#include "core/users/users.h"
#include "core/workspace/workspace_int.h"
#include "util/log.h"
#include "util/timeutil.h"

#define RAW_RESPONSE_MAX 1024
#define FAILURE_REASON_MAX 200
/* Profiles read ahead: the next PROFILE_BATCH recipients in one store read of the users in their
 * uid span, when that span holds at most PROFILE_SPAN_MAX uids (a sparse audience reads each
 * recipient alone rather than the users between them); a read is used for PROFILE_FRESH_MS at
 * most, so personalisation (and who is deleted) stays as current as a few milliseconds. A
 * recipient found in it needs no lock of the workspace: the outcome recorder holds the write
 * lock through each commit and its sync, and a render waiting for it held every request back. */
#define PROFILE_BATCH 64
#define PROFILE_SPAN_MAX ((uint64_t)4 * PROFILE_BATCH)
#define PROFILE_FRESH_MS 20

struct profile {
    uint32_t uid;
    bool deleted;
    char braze_id[BRAZE_ID_LEN + 1];
    char *ext;   /* NULL when none */
    char *attrs; /* JSON text; NULL when none */
};

struct campaign_profiles {
    uint32_t from, upto; /* every stored user with a uid in [from, upto] is in v, by uid */
    int64_t read_at;     /* 0: nothing read */
    struct profile *v;
    size_t n, cap;
    bool failed; /* a copy failed while reading */
};

static const char *str_of(const json_t *obj, const char *key) {
    return json_string_value(json_object_get(obj, key));
}

/* An owned copy of src (NULL stays NULL); *failed set when out of memory. */
static char *dup_text(const char *src, bool *failed) {
    char *copy = src ? strdup(src) : NULL;
    if (src && !copy)
        *failed = true;
    return copy;
}

/* ---- the due dispatches ---- */

struct due {
    int64_t id, ws, campaign, step;
    char *dispatch_id;
    char *send_id; /* NULL when none */
    json_t *props;
    roaring_bitmap_t *audience, *targets;
    bool bad_blob;
    bool no_memory; /* a copy failed: tried again at the next poll */
};

struct due_list {
    struct due *v;
    size_t n, cap;
    bool (*running)(void *, int64_t);
    void *ctx;
    struct app *app;
};

static void take_due(void *ctx, const struct dispatch_row *r) {
    struct due_list *l = ctx;
    if (l->running(l->ctx, r->id) || l->n == l->cap)
        return;
    if (app_leased(l->app) && !app_owns_workspace(l->app, r->workspace_id))
        return; /* another node's workspace: its owner sends it */
    struct due *d = &l->v[l->n++];
    memset(d, 0, sizeof *d);
    d->id = r->id;
    d->ws = r->workspace_id;
    d->campaign = r->campaign;
    d->step = r->step;
    bool failed = false;
    d->dispatch_id = dup_text(r->dispatch_id ? r->dispatch_id : "", &failed);
    d->send_id = dup_text(r->send_id, &failed);
    d->props = r->properties ? json_loads(r->properties, 0, NULL) : NULL;
    d->audience = bitmap_from_blob(r->audience, r->audience_len, NULL);
    d->targets = bitmap_from_blob(r->targets, r->targets_len, NULL);
    d->bad_blob = (r->audience && !d->audience) || (r->targets && !d->targets);
    d->no_memory = failed;
}

struct campaign_copy {
    enum campaign_kind kind;
    char *public_id;
    char *name;
    char *segment_id;
    bool archived;
    bool failed;
    json_t *def;
};

static void copy_campaign(void *ctx, const struct campaign_row *r) {
    struct campaign_copy *c = ctx;
    c->kind = r->kind;
    c->public_id = dup_text(r->public_id, &c->failed);
    c->name = dup_text(r->name, &c->failed);
    c->segment_id = dup_text(r->segment_id, &c->failed);
    c->archived = r->archived_at != 0;
    c->def = json_loads(r->definition, 0, NULL);
}

static void campaign_copy_free(struct campaign_copy *c) {
    free(c->public_id);
    free(c->name);
    free(c->segment_id);
    json_decref(c->def);
}

static void add_done(void *ctx, uint32_t uid) {
    roaring_bitmap_add(ctx, uid);
}

static json_t *canvas_props(const struct campaign_run *run) {
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "canvas_id", run->public_id, "canvas_name",
                     run->name, "canvas_variation_id", run->variation_id, "canvas_variation_name",
                     run->variation_name, "canvas_step_id", run->step_id, "canvas_step_name",
                     run->step_name);
}

static json_t *message_props(const struct campaign_run *run);

static json_t *entry_props(const struct campaign_run *run) {
    json_t *entry = canvas_props(run);
    json_object_set_new(entry, "in_control_group", json_false());
    return entry;
}

/* The members texts of the run's Send and Entry events (NULL when out of memory: those
 * events are then built one by one). */
static void event_texts(struct campaign_run *run) {
    json_t *p = message_props(run);
    run->send_members = event_members_text(p);
    json_decref(p);
    if (run->kind == CAMPAIGN_KIND_CANVAS && run->step == 0) {
        p = entry_props(run);
        run->entry_members = event_members_text(p);
        json_decref(p);
    }
}

/* Fixes the step's targets (audience ∩ segment now) and, on a first step, counts them as
 * entered. The segment is evaluated once every import committed so far is in memory: the
 * import that made a cohort-entry dispatch (seen in the store) may not be published yet, and
 * its entrants would be missing from the segment. */
static enum cd_err start_targets(struct app *app, struct campaign_run *run, const char *segment_id,
                                 roaring_bitmap_t *audience) {
    roaring_bitmap_t *seg = NULL;
    workspace_wait_imports(app, run->ws);
    if (segments_audience(app, run->ws, segment_id, &seg) != CD_OK) {
        log_warn("campaign", "workspace_id=%s dispatch_id=%s segment_id=%s gone: nobody is sent to",
                 run->ws->public_id, run->dispatch_id, segment_id);
        seg = roaring_bitmap_create();
    }
    if (audience)
        roaring_bitmap_and_inplace(seg, audience);
    run->targets = seg;
    size_t len = 0;
    void *blob = bitmap_to_blob(seg, &len);
    if (!blob)
        return CD_E_NOMEM;
    enum cd_err err = workspace_store_write_begin(app, run->ws);
    if (err != CD_OK) {
        free(blob);
        return err;
    }
    const struct store_campaign_ops *ops = STORE_OPS(app->store)->campaigns;
    err = ops->dispatch_start(workspace_txn(run->ws), run->dispatch, blob, len);
    if (err == CD_OK && run->step == 0)
        err = ops->count_entered(workspace_txn(run->ws), run->campaign,
                                 (int64_t)roaring_bitmap_get_cardinality(seg));
    err = workspace_store_write_end(app, run->ws, err);
    free(blob);
    if (err == CD_OK)
        log_info("campaign", "workspace_id=%s %s_id=%s dispatch_id=%s step=%lld targets=%llu",
                 run->ws->public_id, run->kind == CAMPAIGN_KIND_CANVAS ? "canvas" : "campaign",
                 run->public_id, run->dispatch_id, (long long)run->step,
                 (unsigned long long)roaring_bitmap_get_cardinality(seg));
    return err;
}

/* Parses the step's templates once for all its users; a part left NULL is rendered from its
 * text instead (out of memory now, or a stored text that no longer parses). */
static void parse_templates(struct campaign_run *run) {
    run->url_tree = tmpl_parse_stored(str_of(run->webhook, "url"));
    run->body_tree = tmpl_parse_stored(str_of(run->webhook, "body"));
    const json_t *headers = json_object_get(run->webhook, "headers");
    run->header_trees = calloc(json_object_size(headers) + 1, sizeof(struct liquid_tree *));
    const char *name;
    const json_t *value;
    size_t i = 0;
    json_object_foreach((json_t *)headers, name, value) {
        if (run->header_trees)
            run->header_trees[i++] = tmpl_parse_stored(json_string_value(value));
    }
}

/* The object templates see as campaign.${…} (with the dispatch id) or canvas.${…}. */
static json_t *about_object(const struct campaign_run *run) {
    return run->kind == CAMPAIGN_KIND_CANVAS
               ? json_pack("{s:s, s:s}", "api_id", run->public_id, "name", run->name)
               : json_pack("{s:s, s:s, s:s}", "api_id", run->public_id, "name", run->name,
                           "dispatch_id", run->dispatch_id);
}

/* Builds the run of a due dispatch; *run stays NULL when there is nothing to run. */
static enum cd_err start(struct app *app, struct due *d, struct campaign_run **out) {
    *out = NULL;
    const struct store_campaign_ops *ops = STORE_OPS(app->store)->campaigns;
    struct campaign_copy c = {0};
    struct workspace *ws = NULL;
    enum cd_err err =
        ops->get(app->store, d->ws, CAMPAIGN_KIND_CAMPAIGN, NULL, d->campaign, copy_campaign, &c);
    if (err == CD_OK && (c.failed || d->no_memory))
        err = CD_E_NOMEM;
    if (err == CD_OK)
        err = app_workspace(app, d->ws, &ws);
    json_t *steps = json_object_get(c.def, "steps");
    json_t *step = json_array_get(steps, (size_t)d->step);
    if (err == CD_OK && (c.archived || !step || d->bad_blob)) {
        if (!c.archived)
            log_error("campaign", "dispatch_id=%s is unreadable; finishing it", d->dispatch_id);
        err = workspace_store_write_begin(app, ws);
        if (err == CD_OK)
            err = workspace_store_write_end(
                app, ws, ops->dispatch_finish(workspace_txn(ws), d->id, time_now_ms()));
        campaign_copy_free(&c);
        return err;
    }
    struct campaign_run *run = calloc(1, sizeof *run);
    if (err != CD_OK || !run) {
        campaign_copy_free(&c);
        free(run);
        return err != CD_OK ? err : CD_E_NOMEM;
    }
    run->dispatch = d->id;
    run->campaign = d->campaign;
    run->ws = ws;
    run->kind = c.kind;
    run->step = d->step;
    bool failed = false;
    run->public_id = c.public_id;
    run->name = c.name;
    c.public_id = c.name = NULL;
    run->dispatch_id = d->dispatch_id;
    run->send_id = d->send_id;
    d->dispatch_id = d->send_id = NULL;
    const json_t *variation = json_object_get(c.def, "variation");
    run->variation_id = dup_text(str_of(variation, "id") ? str_of(variation, "id") : "", &failed);
    run->variation_name =
        dup_text(str_of(variation, "name") ? str_of(variation, "name") : "", &failed);
    run->step_id = dup_text(str_of(step, "id") ? str_of(step, "id") : "", &failed);
    run->step_name = dup_text(str_of(step, "name") ? str_of(step, "name") : "", &failed);
    if (failed)
        err = CD_E_NOMEM;
    const json_t *next = json_array_get(steps, (size_t)d->step + 1);
    run->next_delay_ms =
        next ? json_integer_value(json_object_get(next, "delay_seconds")) * 1000 : -1;
    run->rate_per_minute = json_integer_value(json_object_get(c.def, "rate_limit_per_minute"));
    run->webhook = json_incref(json_object_get(json_object_get(step, "message"), "webhook"));
    parse_templates(run);
    run->props = d->props;
    d->props = NULL;
    if (err == CD_OK && d->targets) {
        run->targets = d->targets;
        d->targets = NULL;
    } else if (err == CD_OK) {
        err = start_targets(app, run, c.segment_id, d->audience);
    }
    if (err == CD_OK) {
        roaring_bitmap_t *done = roaring_bitmap_create();
        err = ops->deliveries(app->store, d->id, d->step, add_done, done);
        run->remaining = roaring_bitmap_andnot(run->targets, done);
        bitmap_free(done);
    }
    /* no read-ahead (out of memory) only costs a store read per recipient */
    if (err == CD_OK) {
        run->profiles = calloc(1, sizeof *run->profiles);
        event_texts(run);
        run->about = about_object(run);
        run->no_props = json_object();
    }
    campaign_copy_free(&c);
    if (err != CD_OK) {
        campaign_run_free(run);
        return err;
    }
    *out = run;
    return CD_OK;
}

enum cd_err campaign_runs_due(struct app *app, int64_t now, size_t max,
                              bool (*running)(void *ctx, int64_t dispatch), void *ctx,
                              struct campaign_run **out, size_t *n) {
    struct due_list l = {calloc(max ? max : 1, sizeof(struct due)), 0, max, running, ctx, app};
    *n = 0;
    if (!l.v)
        return CD_E_NOMEM;
    /* ask for more than max: some of the due ones may be running already */
    enum cd_err err =
        STORE_OPS(app->store)
            ->campaigns->dispatches_due(app->store, now, (int64_t)max * 2 + 16, take_due, &l);
    for (size_t i = 0; i < l.n; i++) {
        struct campaign_run *run = NULL;
        enum cd_err serr = start(app, &l.v[i], &run);
        if (serr != CD_OK) { /* the others still start; this one is tried at the next poll */
            log_warn("campaign", "dispatch_id=%s cannot start: %s", l.v[i].dispatch_id,
                     cd_err_name(serr));
            err = serr;
        }
        if (run)
            out[(*n)++] = run;
        json_decref(l.v[i].props);
        free(l.v[i].dispatch_id);
        free(l.v[i].send_id);
        bitmap_free(l.v[i].audience);
        bitmap_free(l.v[i].targets);
    }
    free(l.v);
    return err;
}

/* ---- personalising ---- */

void webhook_request_free(struct webhook_request *req) {
    free(req->external_id);
    free(req->url);
    for (size_t i = 0; i < req->n_headers; i++)
        free(req->headers[i]);
    free(req->headers);
    free(req->body);
    free(req->skip_reason);
    memset(req, 0, sizeof *req);
}

/* Renders one part into *out. False when out of memory; an abort or a failed bound sets
 * req->skip and its reason (the first one met) and leaves *out NULL. */
static bool render_part(struct webhook_request *req, const struct liquid_tree *tree,
                        const char *text, const struct liquid_vars *v, char **out) {
    *out = NULL;
    if (req->skip != WEBHOOK_SEND)
        return true;
    char *reason = NULL;
    enum liquid_result r = tree ? liquid_render(tree, v, out, &reason)
                                : tmpl_render(text ? text : "", v, out, &reason);
    if (r == LIQUID_ABORTED || r == LIQUID_FAILED) {
        req->skip = r == LIQUID_ABORTED ? WEBHOOK_ABORTED : WEBHOOK_RENDER_FAILED;
        req->skip_reason = reason;
        return true;
    }
    free(reason);
    return r == LIQUID_OK;
}

static void profiles_clear(struct campaign_profiles *p) {
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].ext);
        free(p->v[i].attrs);
    }
    p->n = 0;
    p->read_at = 0;
    p->failed = false;
}

static void profiles_free(struct campaign_profiles *p) {
    if (!p)
        return;
    profiles_clear(p);
    free(p->v);
    free(p);
}

static void take_profile(void *ctx, const struct user_row *u) {
    struct campaign_profiles *p = ctx;
    if (p->failed || u->uid < p->from || u->uid > p->upto)
        return;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : PROFILE_BATCH;
        struct profile *v = realloc(p->v, cap * sizeof *v);
        if (!v) {
            p->failed = true;
            return;
        }
        p->v = v;
        p->cap = cap;
    }
    if (!u->braze_id || strlen(u->braze_id) != BRAZE_ID_LEN)
        return; /* not as stored by cohortd: read alone */
    struct profile *e = &p->v[p->n++];
    e->uid = u->uid;
    e->deleted = u->deleted;
    memcpy(e->braze_id, u->braze_id, sizeof e->braze_id);
    e->ext = u->external_id ? strdup(u->external_id) : NULL;
    e->attrs = u->attrs ? strdup(u->attrs) : NULL;
    if ((u->external_id && !e->ext) || (u->attrs && !e->attrs))
        p->failed = true;
}

/* Reads the profiles of uid and of the next recipients after it (run->remaining) in one store
 * read; false when they are too sparse for that, or the read failed (each is then read alone). */
static bool profiles_read(struct app *app, const struct campaign_run *run, uint32_t uid,
                          int64_t now) {
    struct campaign_profiles *p = run->profiles;
    profiles_clear(p);
    if (!run->remaining)
        return false;
    uint32_t upto = uid;
    roaring_uint32_iterator_t it;
    roaring_init_iterator(run->remaining, &it);
    if (roaring_move_uint32_iterator_equalorlarger(&it, uid)) {
        uint32_t next[PROFILE_BATCH - 1];
        uint32_t got = roaring_read_uint32_iterator(&it, next, PROFILE_BATCH - 1);
        if (got)
            upto = next[got - 1];
    }
    if (upto == uid || (uint64_t)upto - uid + 1 > PROFILE_SPAN_MAX)
        return false;
    p->from = uid;
    p->upto = upto;
    enum cd_err err =
        STORE_OPS(app->store)
            ->users->range(app->store, run->ws->id, uid, (int64_t)upto - uid + 1, take_profile, p);
    if (err != CD_OK || p->failed) {
        profiles_clear(p);
        return false;
    }
    p->read_at = now;
    return true;
}

/* uid's braze id, external id and attributes from the read-ahead (CD_E_NOT_FOUND when it was
 * deleted): *found false when it must be read alone. */
static enum cd_err profile_ahead(struct app *app, const struct campaign_run *run, uint32_t uid,
                                 struct webhook_request *req, json_t **attrs, bool *found) {
    *found = false;
    struct campaign_profiles *p = run->profiles;
    if (!p)
        return CD_OK;
    int64_t now = time_now_ms();
    bool fresh = p->read_at && now - p->read_at <= PROFILE_FRESH_MS;
    if (fresh && uid < p->from)
        return CD_OK; /* a retry behind the read-ahead: read alone, keep the read-ahead */
    if ((!fresh || uid > p->upto) && !profiles_read(app, run, uid, now))
        return CD_OK;
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->v[mid].uid < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == p->n || p->v[lo].uid != uid)
        return CD_OK; /* stored after the read: read alone */
    const struct profile *e = &p->v[lo];
    *found = true;
    if (e->deleted)
        return CD_E_NOT_FOUND;
    memcpy(req->braze_id, e->braze_id, sizeof req->braze_id);
    req->external_id = strdup(e->ext ? e->ext : "");
    *attrs = json_loads(e->attrs ? e->attrs : "{}", 0, NULL);
    if (*attrs && !json_is_object(*attrs)) {
        json_decref(*attrs);
        *attrs = json_object();
    }
    if (!req->external_id || !*attrs) {
        free(req->external_id);
        json_decref(*attrs);
        req->external_id = NULL;
        *attrs = NULL;
        return CD_E_NOMEM;
    }
    return CD_OK;
}

enum cd_err campaign_render(struct app *app, const struct campaign_run *run, uint32_t uid,
                            struct webhook_request *req) {
    memset(req, 0, sizeof *req);
    req->uid = uid;
    json_t *attrs = NULL;
    bool found = false;
    enum cd_err err = profile_ahead(app, run, uid, req, &attrs, &found);
    if (err == CD_OK && !found) { /* read alone: who is live is memory's word */
        workspace_read_begin(run->ws);
        bool live = identity_is_live(&run->ws->ident, uid);
        if (live)
            identity_braze_id_text(run->ws->ident.users[uid].bid, req->braze_id);
        workspace_read_end(run->ws);
        err = live ? users_profile(app, run->ws, uid, &req->external_id, &attrs) : CD_E_NOT_FOUND;
    }
    if (err != CD_OK)
        return err;
    /* per-user trigger properties override the request's key by key: a merged copy for a user
     * who has some, the request's own (read only) for the others */
    const json_t *all = json_object_get(run->props, "all");
    const json_t *users = json_object_get(run->props, "users");
    const json_t *mine = NULL;
    if (users) {
        char key[16];
        snprintf(key, sizeof key, "%u", uid);
        mine = json_object_get(users, key);
    }
    json_t *props = NULL; /* owned: the merged copy, or a fresh empty object */
    if (mine || (!all && !run->no_props)) {
        props = all ? json_deep_copy(all) : NULL;
        if (!props)
            props = json_object();
        json_object_update(props, (json_t *)mine);
    }
    bool canvas = run->kind == CAMPAIGN_KIND_CANVAS;
    json_t *about = run->about ? json_incref(run->about) : about_object(run);
    struct liquid_vars v = {.user_id = req->external_id,
                            .braze_id = req->braze_id,
                            .attrs = attrs,
                            .props = props ? props
                                     : all ? all
                                           : run->no_props,
                            .campaign = canvas ? NULL : about,
                            .canvas = canvas ? about : NULL,
                            .url_encode = true};
    req->method = str_of(run->webhook, "method");
    const char *url = str_of(run->webhook, "url");
    bool ok = render_part(req, run->url_tree, url, &v, &req->url);
    v.url_encode = false;
    ok = ok && render_part(req, run->body_tree, str_of(run->webhook, "body"), &v, &req->body);
    const json_t *headers = json_object_get(run->webhook, "headers");
    req->headers = calloc(json_object_size(headers) + 1, sizeof *req->headers);
    ok = ok && req->headers;
    const char *name;
    const json_t *value;
    size_t i_header = 0;
    json_object_foreach((json_t *)headers, name, value) {
        char *text = NULL;
        /* header i's tree: headers are taken in the object's order, as parse_templates did */
        const struct liquid_tree *tree = run->header_trees ? run->header_trees[i_header] : NULL;
        i_header++;
        ok = ok && render_part(req, tree, json_string_value(value), &v, &text);
        tmpl_header_safe(text);
        size_t len = text ? strlen(name) + strlen(text) + 3 : 0;
        char *line = text ? malloc(len) : NULL;
        if (line) {
            snprintf(line, len, "%s: %s", name, text);
            req->headers[req->n_headers++] = line;
        }
        ok = ok && (line || !text);
        free(text);
    }
    if (ok && req->skip != WEBHOOK_SEND) { /* not sent: the record names the template's url */
        free(req->url);
        free(req->body);
        req->url = strdup(url ? url : "");
        req->body = strdup("");
        ok = req->url && req->body;
    }
    ok = ok && req->url && req->body;
    snprintf(req->idempotency_key, sizeof req->idempotency_key, "%s.%lld.%s", run->dispatch_id,
             (long long)run->step, req->braze_id);
    json_decref(about);
    json_decref(props);
    json_decref(attrs);
    if (!ok) {
        webhook_request_free(req);
        return CD_E_NOMEM;
    }
    return CD_OK;
}

/* ---- outcomes ---- */

static json_t *message_props(const struct campaign_run *run) {
    json_t *p = run->kind == CAMPAIGN_KIND_CANVAS
                    ? canvas_props(run)
                    : json_pack("{s:s, s:s, s:s, s:s}", "campaign_id", run->public_id,
                                "campaign_name", run->name, "message_variation_id",
                                run->variation_id, "message_variation_name", run->variation_name);
    json_object_set_new(p, "dispatch_id", json_string(run->dispatch_id));
    if (run->send_id)
        json_object_set_new(p, "send_id", json_string(run->send_id));
    return p;
}

static void failure_props(json_t *p, const struct webhook_outcome *o) {
    const char *url = o->req->url;
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    size_t host_len = strcspn(host, "/?#");
    const char *path = host + host_len;
    size_t path_len = strcspn(path, "?#");
    /* the answer's first RAW_RESPONSE_MAX bytes, cut on a UTF-8 character boundary */
    const char *raw = o->response ? o->response : "";
    size_t raw_len = strnlen(raw, RAW_RESPONSE_MAX + 1);
    if (raw_len > RAW_RESPONSE_MAX) {
        raw_len = RAW_RESPONSE_MAX;
        while (raw_len > 0 && ((unsigned char)raw[raw_len] & 0xC0) == 0x80)
            raw_len--;
    }
    if (o->status)
        json_object_set_new(p, "http_status_code", json_integer(o->status));
    json_object_set_new(p, "endpoint_url", json_string(url));
    json_object_set_new(p, "host", json_stringn(host, host_len));
    json_object_set_new(p, "url_path", path_len ? json_stringn(path, path_len) : json_string("/"));
    json_object_set_new(p, "content_length", json_integer(o->content_length));
    json_object_set_new(p, "raw_response", json_stringn(raw, raw_len));
    json_object_set_new(p, "retry_count", json_integer(o->attempts - 1));
    json_object_set_new(p, "is_terminal", json_boolean(o->terminal));
    json_object_set_new(p, "webhook_duration", json_integer(o->duration_ms));
    json_object_set_new(p, "webhook_failure_source",
                        json_string(o->status ? "External Endpoint" : "Host Unreachable"));
}

static bool sent(const struct webhook_outcome *o) {
    return o->status >= 200 && o->status < 300;
}

/* The length of text's first `max` bytes at most, cut on a UTF-8 character boundary. */
static size_t utf8_prefix(const char *text, size_t max) {
    size_t n = strnlen(text, max + 1);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--;
    }
    return n;
}

/* Why an outcome that was not sent failed, as the last failures show it: "HTTP <status>" and
 * the answer's first FAILURE_REASON_MAX bytes, "no response: <transport error>", or the
 * template's reason; a cut text ends in "…". Owned; NULL when out of memory. */
static char *failure_reason(const struct webhook_outcome *o) {
    const char *what = o->req->skip == WEBHOOK_ABORTED         ? "aborted"
                       : o->req->skip == WEBHOOK_RENDER_FAILED ? "template failed"
                       : o->status                             ? NULL
                                                               : "no response";
    const char *text = o->response ? o->response : "";
    size_t n = utf8_prefix(text, FAILURE_REASON_MAX);
    const char *more = text[n] ? "…" : "";
    char head[32];
    if (!what)
        snprintf(head, sizeof head, "HTTP %d", o->status);
    size_t len = strlen(what ? what : head) + 2 + n + strlen(more) + 1;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "%s%s%.*s%s", what ? what : head, n ? ": " : "", (int)n, text, more);
    return out;
}

/* Adds a Canvas step's outcomes to its row of the day in the daily history (object
 * "canvas id/step id"), in the write of the deliveries they count. */
static enum cd_err count_step_day(struct app *app, const struct campaign_run *run, int64_t now,
                                  int64_t n_sent, int64_t n_failed) {
    size_t len = strlen(run->public_id) + strlen(run->step_id) + 2;
    char *object = malloc(len);
    if (!object)
        return CD_E_NOMEM;
    snprintf(object, len, "%s/%s", run->public_id, run->step_id);
    const struct history_row row = {.kind = HISTORY_CANVAS_STEP,
                                    .object_id = object,
                                    .day = now / DAILY_HISTORY_DAY_MS,
                                    .sent = n_sent,
                                    .failed = n_failed};
    enum cd_err err =
        STORE_OPS(app->store)->history->add(workspace_txn(run->ws), run->ws->id, &row);
    free(object);
    return err;
}

enum cd_err campaign_record(struct app *app, struct campaign_run *run,
                            const struct webhook_outcome *o, size_t n) {
    int64_t now = time_now_ms();
    enum cd_err err = workspace_store_write_begin(app, run->ws);
    if (err != CD_OK)
        return err;
    const struct store_campaign_ops *ops = STORE_OPS(app->store)->campaigns;
    int64_t n_sent = 0, n_failed = 0;
    for (size_t i = 0; err == CD_OK && i < n; i++) {
        bool aborted = o[i].req->skip == WEBHOOK_ABORTED;
        if (o[i].terminal) {
            char *reason = sent(&o[i]) ? NULL : failure_reason(&o[i]);
            err = !sent(&o[i]) && !reason
                      ? CD_E_NOMEM
                      : ops->delivery_record(workspace_txn(run->ws), run->dispatch, run->step,
                                             o[i].req->uid,
                                             aborted       ? DELIVERY_ABORTED
                                             : sent(&o[i]) ? DELIVERY_SENT
                                                           : DELIVERY_FAILED,
                                             o[i].attempts, now, reason);
            free(reason);
            if (err == CD_E_EXISTS) { /* recorded before: its event exists too */
                err = CD_OK;
                continue;
            }
            if (!aborted)
                *(sent(&o[i]) ? &n_sent : &n_failed) += 1;
        }
        struct event_user eu = {o[i].req->braze_id,
                                *o[i].req->external_id ? o[i].req->external_id : NULL, NULL, NULL};
        if (err == CD_OK && o[i].terminal && run->kind == CAMPAIGN_KIND_CANVAS && run->step == 0) {
            /* entry is recorded with the first step's outcome: once per user, and in small
             * writes however large the audience */
            err = run->entry_members
                      ? event_emit_members(app, run->ws, "users.canvas.Entry", now, &eu,
                                           run->entry_members)
                      : event_emit(app, run->ws, "users.canvas.Entry", now, &eu, entry_props(run));
        }
        if (aborted) /* not sent: no message event; the delivery row and the log keep it */
            continue;
        if (sent(&o[i]) && run->send_members) {
            if (err == CD_OK)
                err = event_emit_members(app, run->ws, "users.messages.webhook.Send", now, &eu,
                                         run->send_members);
            continue;
        }
        json_t *p = message_props(run);
        if (!sent(&o[i]))
            failure_props(p, &o[i]);
        if (err == CD_OK)
            err = event_emit(app, run->ws,
                             sent(&o[i]) ? "users.messages.webhook.Send"
                                         : "users.messages.webhook.Failure",
                             now, &eu, p);
        else
            json_decref(p);
    }
    if (err == CD_OK && (n_sent || n_failed))
        err = ops->count_outcomes(workspace_txn(run->ws), run->campaign, n_sent, n_failed);
    if (err == CD_OK && (n_sent || n_failed) && run->kind == CAMPAIGN_KIND_CANVAS)
        err = count_step_day(app, run, now, n_sent, n_failed);
    return workspace_store_write_end(app, run->ws, err);
}

enum cd_err campaign_step_done(struct app *app, struct campaign_run *run, int64_t now) {
    const struct store_campaign_ops *ops = STORE_OPS(app->store)->campaigns;
    enum cd_err err = workspace_store_write_begin(app, run->ws);
    if (err != CD_OK)
        return err;
    if (run->next_delay_ms < 0) {
        err = ops->dispatch_finish(workspace_txn(run->ws), run->dispatch, now);
    } else {
        size_t len = 0;
        void *blob = bitmap_to_blob(run->targets, &len);
        err = blob ? ops->dispatch_next(workspace_txn(run->ws), run->dispatch, run->step + 1,
                                        now + run->next_delay_ms, blob, len)
                   : CD_E_NOMEM;
        free(blob);
    }
    err = workspace_store_write_end(app, run->ws, err);
    if (err == CD_OK)
        log_info("campaign", "workspace_id=%s dispatch_id=%s step=%lld done%s", run->ws->public_id,
                 run->dispatch_id, (long long)run->step,
                 run->next_delay_ms < 0 ? "; dispatch finished" : "");
    return err;
}

static void copy_archived(void *ctx, const struct campaign_row *r) {
    *(bool *)ctx = r->archived_at != 0;
}

bool campaign_run_live(struct app *app, const struct campaign_run *run) {
    bool archived = false;
    STORE_OPS(app->store)
        ->campaigns->get(app->store, 0, CAMPAIGN_KIND_CAMPAIGN, NULL, run->campaign, copy_archived,
                         &archived);
    return !archived;
}

void campaign_run_free(struct campaign_run *run) {
    if (!run)
        return;
    free(run->public_id);
    free(run->name);
    free(run->dispatch_id);
    free(run->send_id);
    free(run->variation_id);
    free(run->variation_name);
    free(run->step_id);
    free(run->step_name);
    liquid_free(run->url_tree);
    liquid_free(run->body_tree);
    size_t n_headers = json_object_size(json_object_get(run->webhook, "headers"));
    for (size_t i = 0; run->header_trees && i < n_headers; i++)
        liquid_free(run->header_trees[i]);
    free(run->header_trees);
    json_decref(run->webhook);
    json_decref(run->props);
    json_decref(run->about);
    json_decref(run->no_props);
    bitmap_free(run->targets);
    bitmap_free(run->remaining);
    profiles_free(run->profiles);
    free(run->send_members);
    free(run->entry_members);
    free(run);
}
