/*
 * workspace.c — the workspace registry and the load / write discipline of workspace.h.
 * Loading reads users, aliases and devices once each, in bulk, from the store.
 */
#include "core/workspace/workspace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/workspace/workspace_int.h"
#include "util/log.h"

struct load_ctx {
    struct identity *ident;
    struct workspace *ws;
    int failed;
};

static void load_user(void *ctx, const struct user_row *u) {
    struct load_ctx *lc = ctx;
    uint8_t bid[12];
    if (identity_braze_id_parse(u->braze_id, bid) != 0 ||
        identity_add_user(lc->ident, u->uid, bid, u->external_id, u->created_anonymous,
                          u->deleted) != 0)
        lc->failed = 1;
    if (u->deleted || !u->attrs || strcmp(u->attrs, "{}") == 0)
        return;
    json_t *attrs = json_loads(u->attrs, 0, NULL);
    if (json_is_object(attrs) && attr_index_set(&lc->ws->attrs, u->uid, NULL, attrs) != 0)
        lc->failed = 1;
    json_decref(attrs);
}

static void load_event(void *ctx, uint32_t uid, const struct event_summary_row *r) {
    struct load_ctx *lc = ctx;
    if (r->kind == EVENT_KIND_CUSTOM && event_index_load(&lc->ws->events, r->name, uid, r->count,
                                                         r->last_at, r->recent, r->n_recent) != 0)
        lc->failed = 1;
}

static void load_alias(void *ctx, const struct ident_row *r) {
    struct load_ctx *lc = ctx;
    if (identity_put_alias(lc->ident, r->a, r->b, r->uid) != 0)
        lc->failed = 1;
}

static void load_device(void *ctx, const struct ident_row *r) {
    struct load_ctx *lc = ctx;
    if (identity_put_device(lc->ident, r->a, r->uid) != 0)
        lc->failed = 1;
}

/* Rebuilds the in-memory state of ws from the store. Caller holds the write lock (or owns ws
 * exclusively while creating it). */
static enum cd_err workspace_load(struct app *app, struct workspace *ws) {
    const struct store_user_ops *uo = STORE_OPS(app->store)->users;
    identity_free(&ws->ident);
    identity_init(&ws->ident);
    cohort_set_free(&ws->cohorts);
    cohort_set_init(&ws->cohorts);
    attr_index_free(&ws->attrs);
    attr_index_init(&ws->attrs);
    event_index_free(&ws->events);
    event_index_init(&ws->events);
    struct load_ctx lc = {&ws->ident, ws, 0};
    enum cd_err err = uo->load_users(app->store, ws->id, load_user, &lc);
    if (err == CD_OK)
        err = uo->load_aliases(app->store, ws->id, load_alias, &lc);
    if (err == CD_OK)
        err = uo->load_devices(app->store, ws->id, load_device, &lc);
    if (err == CD_OK)
        err = uo->load_events(app->store, ws->id, load_event, &lc);
    if (err == CD_OK && lc.failed)
        err = CD_E_NOMEM;
    if (err == CD_OK)
        err = cohort_load(app, ws);
    if (err != CD_OK)
        log_error("workspace", "op=load ws=%s error=%s", ws->public_id, cd_err_name(err));
    return err;
}

static void ws_free(struct workspace *ws) {
    if (!ws)
        return;
    identity_free(&ws->ident);
    cohort_set_free(&ws->cohorts);
    attr_index_free(&ws->attrs);
    event_index_free(&ws->events);
    pthread_rwlock_destroy(&ws->lock);
    free(ws);
}

static void copy_row(void *ctx, const struct workspace_row *row) {
    struct workspace *ws = ctx;
    ws->id = row->id;
    snprintf(ws->public_id, sizeof ws->public_id, "%s", row->public_id);
    snprintf(ws->name, sizeof ws->name, "%s", row->name);
}

/* Loads workspace `id` and adds it to the registry. Caller holds reg_lock. */
static enum cd_err register_ws(struct app *app, int64_t id, struct workspace **out) {
    struct workspace *ws = calloc(1, sizeof *ws);
    if (!ws)
        return CD_E_NOMEM;
    pthread_rwlock_init(&ws->lock, NULL);
    identity_init(&ws->ident);
    cohort_set_init(&ws->cohorts);
    attr_index_init(&ws->attrs);
    event_index_init(&ws->events);
    enum cd_err err = STORE_OPS(app->store)->admin->workspace_get(app->store, id, copy_row, ws);
    if (err == CD_OK)
        err = workspace_load(app, ws);
    if (err == CD_OK && app->n_ws == app->ws_cap) {
        size_t cap = app->ws_cap ? app->ws_cap * 2 : 8;
        struct workspace **v = realloc(app->ws, cap * sizeof(void *));
        if (!v) {
            err = CD_E_NOMEM;
        } else {
            app->ws = v;
            app->ws_cap = cap;
        }
    }
    if (err != CD_OK) {
        ws_free(ws);
        return err;
    }
    app->ws[app->n_ws++] = ws;
    log_info("workspace", "op=load ws=%s users=%u", ws->public_id, ws->ident.n_live);
    *out = ws;
    return CD_OK;
}

struct id_list {
    int64_t *ids;
    size_t n, cap;
    int failed;
};

static void collect_id(void *ctx, const struct workspace_row *row) {
    struct id_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        int64_t *v = realloc(l->ids, cap * sizeof *v);
        if (!v) {
            l->failed = 1;
            return;
        }
        l->ids = v;
        l->cap = cap;
    }
    l->ids[l->n++] = row->id;
}

enum cd_err app_new(struct store *store, struct app **out) {
    struct app *app = calloc(1, sizeof *app);
    if (!app)
        return CD_E_NOMEM;
    app->store = store;
    pthread_mutex_init(&app->reg_lock, NULL);
    struct id_list l = {0};
    enum cd_err err = STORE_OPS(store)->admin->workspace_list(store, collect_id, &l);
    if (err == CD_OK && l.failed)
        err = CD_E_NOMEM;
    for (size_t i = 0; err == CD_OK && i < l.n; i++) {
        struct workspace *ws;
        err = register_ws(app, l.ids[i], &ws);
    }
    free(l.ids);
    if (err != CD_OK) {
        app_free(app);
        return err;
    }
    *out = app;
    return CD_OK;
}

void app_free(struct app *app) {
    if (!app)
        return;
    for (size_t i = 0; i < app->n_ws; i++)
        ws_free(app->ws[i]);
    free(app->ws);
    pthread_mutex_destroy(&app->reg_lock);
    free(app);
}

void app_set_cohort_entry(struct app *app, app_cohort_entry_fn fn) {
    app->on_cohort_entry = fn;
}

enum cd_err app_workspace(struct app *app, int64_t ws_id, struct workspace **out) {
    enum cd_err err = CD_OK;
    pthread_mutex_lock(&app->reg_lock);
    *out = NULL;
    for (size_t i = 0; i < app->n_ws; i++)
        if (app->ws[i]->id == ws_id)
            *out = app->ws[i];
    if (!*out)
        err = register_ws(app, ws_id, out);
    pthread_mutex_unlock(&app->reg_lock);
    return err;
}

enum cd_err workspace_write_begin(struct app *app, struct workspace *ws) {
    pthread_rwlock_wrlock(&ws->lock);
    enum cd_err err = STORE_OPS(app->store)->begin(app->store);
    if (err != CD_OK)
        pthread_rwlock_unlock(&ws->lock);
    return err;
}

enum cd_err workspace_write_end(struct app *app, struct workspace *ws, enum cd_err err) {
    const struct store_ops *ops = STORE_OPS(app->store);
    if (err == CD_OK) {
        err = ops->commit(app->store);
    } else {
        ops->rollback(app->store);
    }
    if (err != CD_OK && workspace_load(app, ws) != CD_OK)
        log_error("workspace", "op=reload ws=%s error=\"memory may differ from store\"",
                  ws->public_id);
    pthread_rwlock_unlock(&ws->lock);
    return err;
}

void workspace_read_begin(struct workspace *ws) {
    pthread_rwlock_rdlock(&ws->lock);
}

void workspace_read_end(struct workspace *ws) {
    pthread_rwlock_unlock(&ws->lock);
}
