/*
 * workspace.c — the workspace registry and the load / write discipline of workspace.h.
 * Loading reads users, aliases and devices once each, in bulk, from the store, into fresh
 * indexes swapped in only when complete. A write's rollback replays its undo journal.
 */
#include "core/workspace/workspace.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/workspace/workspace_int.h"
#include "core/index/index_bytes.h"
#include "core/workspace/rate_limit.h"
#include "core/workspace/snapshot.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"

/* How long a workspace that failed to load answers 503 before a request retries the load. */
#define WORKSPACE_LOAD_RETRY_MS 1000

struct load_ctx {
    struct identity *ident;
    struct workspace *ws;
    int failed;  /* out of memory */
    int bad_row; /* a store row that does not parse */
};

static void load_user(void *ctx, const struct user_row *u) {
    struct load_ctx *lc = ctx;
    uint8_t bid[12];
    if (identity_braze_id_parse(u->braze_id, bid) != 0) {
        lc->bad_row = 1; /* a row memory cannot hold: not a lack of memory */
        return;
    }
    if (identity_add_user(lc->ident, u->uid, bid, u->external_id, u->created_anonymous,
                          u->deleted) != 0)
        lc->failed = 1;
    if (u->deleted || !u->attrs || strcmp(u->attrs, "{}") == 0)
        return;
    json_t *attrs = json_loads(u->attrs, 0, NULL);
    if (json_is_object(attrs) && attr_index_set(&lc->ws->attrs, u->uid, NULL, attrs) != 0)
        lc->failed = 1;
    /* email and phone identify users (identity.h): their index is rebuilt here too */
    static const char *const contact_field[] = {"email", "phone"};
    for (int c = IDENTITY_EMAIL; c <= IDENTITY_PHONE; c++) {
        const json_t *v = json_object_get(attrs, contact_field[c]);
        if (json_is_string(v) &&
            identity_put_contact(lc->ident, (enum identity_contact)c, json_string_value(v),
                                 json_string_length(v), u->uid) != 0)
            lc->failed = 1;
    }
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

static void indexes_init(struct workspace *ws) {
    identity_init(&ws->ident);
    cohort_set_init(&ws->cohorts);
    attr_index_init(&ws->attrs);
    event_index_init(&ws->events);
}

static void indexes_free(struct workspace *ws) {
    identity_free(&ws->ident);
    cohort_set_free(&ws->cohorts);
    attr_index_free(&ws->attrs);
    event_index_free(&ws->events);
}

/* Hands the indexes the journal of the write (u) or takes it back (NULL). */
static void indexes_journal(struct workspace *ws, struct undo *u) {
    ws->ident.undo = u;
    ws->cohorts.undo = u;
    ws->attrs.undo = u;
    ws->events.undo = u;
}

/* The per-user load callbacks, for a full load and for the replay behind a snapshot. */
static const struct store_user_load load_fns = {load_user, load_alias, load_device, load_event};

/* The users, aliases, devices and event summaries of tmp's workspace from the store. */
static enum cd_err load_users_from_store(struct app *app, const struct store_user_ops *uo,
                                         struct workspace *tmp) {
    struct load_ctx lc = {&tmp->ident, tmp, 0, 0};
    /* identifiers are collected, then each map is built once, sized for what was read */
    identity_load_begin(&tmp->ident);
    enum cd_err err = uo->load_users(app->store, tmp->id, load_fns.user, &lc);
    if (err == CD_OK)
        err = uo->load_aliases(app->store, tmp->id, load_fns.alias, &lc);
    if (err == CD_OK)
        err = uo->load_devices(app->store, tmp->id, load_fns.device, &lc);
    if (identity_load_end(&tmp->ident) != 0)
        lc.failed = 1;
    if (err == CD_OK)
        err = uo->load_events(app->store, tmp->id, load_fns.event, &lc);
    if (err == CD_OK && lc.failed)
        err = CD_E_NOMEM;
    if (err == CD_OK && lc.bad_row)
        err = CD_E_INTERNAL;
    return err;
}

/* Above this share of the snapshot's users changed since (and above REPLAY_FLOOR users), a
 * full load is cheaper than dropping and reloading them one by one
 * (docs/internals/snapshot.md). Below the floor the replay is cheap whatever the share. */
#define REPLAY_MAX_PERCENT 10
#define REPLAY_FLOOR 1000

struct changed_set {
    roaring_bitmap_t *uids;
};

static void add_changed(void *ctx, uint32_t uid) {
    struct changed_set *c = ctx;
    roaring_bitmap_add(c->uids, uid);
}

/* The users changed in the store since the snapshot just read into tmp (sc->user_seq): each
 * is dropped from the indexes built from the file and loaded again from its stored rows, by the
 * full load's callbacks; a deleted or merged-away one comes back as not live. *n: how many.
 * CD_E_BUSY when too many changed (the caller makes it a full load, *why says so). */
static enum cd_err replay_users(struct app *app, struct workspace *tmp,
                                const struct snapshot_cohorts *sc, size_t *n, char *why,
                                size_t why_cap) {
    const struct store_user_ops *uo = STORE_OPS(app->store)->users;
    struct changed_set c = {roaring_bitmap_create()};
    bool supported = false;
    *n = 0;
    if (!c.uids)
        return CD_E_NOMEM;
    enum cd_err err =
        uo->changed_since(app->store, tmp->id, sc->user_seq, add_changed, &c, &supported);
    if (err == CD_OK && !supported)
        err = CD_E_INTERNAL; /* snapshot_mark said it had positions */
    uint64_t k = roaring_bitmap_get_cardinality(c.uids);
    uint64_t users = tmp->ident.n_users;
    if (err == CD_OK && k > REPLAY_FLOOR && k * 100 > users * REPLAY_MAX_PERCENT) {
        snprintf(why, why_cap, "%llu of %llu users changed since (more than %d %%)",
                 (unsigned long long)k, (unsigned long long)users, REPLAY_MAX_PERCENT);
        err = CD_E_BUSY;
    }
    if (err == CD_OK && k > 0) {
        struct load_ctx lc = {&tmp->ident, tmp, 0, 0};
        roaring_bitmap_run_optimize(c.uids);
        if (identity_drop_users(&tmp->ident, c.uids) != 0)
            lc.failed = 1;
        attr_index_drop_users(&tmp->attrs, c.uids);
        event_index_drop_users(&tmp->events, c.uids);
        if (!lc.failed)
            err = uo->load_changed(app->store, tmp->id, sc->user_seq, &load_fns, &lc);
        identity_trim_users(&tmp->ident);
        if (err == CD_OK && lc.failed)
            err = CD_E_NOMEM;
        if (err == CD_OK && lc.bad_row)
            err = CD_E_INTERNAL;
    }
    roaring_bitmap_free(c.uids);
    *n = (size_t)k;
    return err;
}

/* Fills the fresh indexes of tmp from its snapshot when the store's positions say it is
 * usable (*mark: those positions, *sc: its cohorts), the users changed since replayed
 * (*n_users). Otherwise logs why, leaves tmp's indexes fresh and returns false: the caller
 * reads the whole store (*err: a store or memory failure that a full load would meet too). */
static bool load_snapshot(struct app *app, struct workspace *tmp, struct store_snapshot_mark *mark,
                          struct snapshot_cohorts *sc, size_t *n_users, enum cd_err *err) {
    char path[4200], why[256] = "";
    snapshot_path(app->snap_dir, tmp->id, path, sizeof path);
    *err = STORE_OPS(app->store)->users->snapshot_mark(app->store, tmp->id, mark);
    if (*err != CD_OK || !mark->supported) {
        memset(mark, 0, sizeof *mark);
        return false;
    }
    struct snapshot_indexes ix = {tmp->id,      &tmp->ident,   &tmp->attrs,
                                  &tmp->events, &tmp->cohorts, NULL};
    enum snapshot_miss m = snapshot_read(&ix, path, mark, sc, why, sizeof why);
    if (m == SNAPSHOT_USED) {
        *err = replay_users(app, tmp, sc, n_users, why, sizeof why);
        if (*err == CD_OK)
            return true;
        snapshot_cohorts_free(sc);
        if (*err == CD_E_BUSY) {
            *err = CD_OK;
            m = SNAPSHOT_STALE;
        }
    }
    indexes_free(tmp);
    indexes_init(tmp);
    if (*err != CD_OK)
        log_error("workspace", "op=snapshot_load workspace_id=%s result=failed error=%s",
                  tmp->public_id, cd_err_name(*err));
    else if (m == SNAPSHOT_MISSING)
        log_info("workspace", "op=snapshot_load workspace_id=%s result=missing action=full_load",
                 tmp->public_id);
    else
        log_warn("workspace",
                 "op=snapshot_load workspace_id=%s result=%s reason=\"%s\" action=full_load",
                 tmp->public_id, snapshot_miss_name(m), why);
    return false;
}

/* Builds the in-memory state of ws from the store (or its snapshot and the store's changes since)
 * into fresh indexes and swaps them in only when the whole load succeeded: a failed load leaves
 * ws's indexes as they were. Caller holds the write lock (or owns ws exclusively while creating
 * it). */
static enum cd_err workspace_load(struct app *app, struct workspace *ws) {
    const struct store_user_ops *uo = STORE_OPS(app->store)->users;
    struct workspace *tmp = calloc(1, sizeof *tmp);
    if (!tmp)
        return CD_E_NOMEM;
    tmp->id = ws->id;
    memcpy(tmp->public_id, ws->public_id, sizeof tmp->public_id);
    indexes_init(tmp);
    int64_t t0 = time_now_ms();
    struct store_snapshot_mark mark = {0};
    struct snapshot_cohorts sc = {0};
    size_t replayed = 0, users_replayed = 0;
    enum cd_err err = CD_OK;
    bool from_snap = app->snap_dir && load_snapshot(app, tmp, &mark, &sc, &users_replayed, &err);
    if (!from_snap && err == CD_OK)
        err = load_users_from_store(app, uo, tmp);
    if (err == CD_OK)
        err = cohort_load(app, tmp, from_snap ? &sc : NULL, &replayed);
    snapshot_cohorts_free(&sc);
    if (from_snap)
        log_info("workspace",
                 "op=snapshot_load workspace_id=%s result=%s users=%u users_replayed=%zu "
                 "log_rows_replayed=%zu ms=%lld",
                 ws->public_id, err == CD_OK ? "used" : cd_err_name(err), tmp->ident.n_live,
                 users_replayed, replayed, (long long)(time_now_ms() - t0));
    if (err == CD_OK) {
        struct workspace old = *ws;
        ws->ident = tmp->ident;
        ws->cohorts = tmp->cohorts;
        ws->attrs = tmp->attrs;
        ws->events = tmp->events;
        tmp->ident = old.ident;
        tmp->cohorts = old.cohorts;
        tmp->attrs = old.attrs;
        tmp->events = old.events;
        /* a snapshot loaded with nothing replayed holds what memory holds: it need not be
         * written again until something changes */
        ws->snap_mark = mark;
        ws->snap_have = from_snap && replayed == 0 && users_replayed == 0;
    }
    indexes_free(tmp);
    free(tmp);
    /* the load's scratch (collected identifiers, replaced indexes) was freed, but malloc keeps
     * freed memory below its trim threshold, which a large free raises to 64 MB: give it back */
    malloc_trim(0);
    return err;
}

/* Loads ws and marks it loaded, or records why not and when to try again. Caller holds the
 * write lock (or owns ws). */
static enum cd_err load_or_defer(struct app *app, struct workspace *ws) {
    enum cd_err err = workspace_load(app, ws);
    ws->load_err = err;
    if (err == CD_OK) {
        atomic_store(&ws->loaded, true);
        uint64_t b[WS_INDEX_KINDS], total = 0;
        index_bytes(&ws->ident, &ws->attrs, &ws->events, &ws->cohorts, b);
        for (int i = 0; i < WS_INDEX_KINDS; i++)
            total += b[i];
        log_info("workspace",
                 "op=load workspace_id=%s users=%u index_bytes=%llu user_table=%llu live=%llu "
                 "external_ids=%llu aliases=%llu devices=%llu contacts=%llu attributes=%llu "
                 "events=%llu cohort_bitmaps=%llu",
                 ws->public_id, ws->ident.n_live, (unsigned long long)total,
                 (unsigned long long)b[WS_INDEX_USERS], (unsigned long long)b[WS_INDEX_LIVE],
                 (unsigned long long)b[WS_INDEX_EXTERNAL], (unsigned long long)b[WS_INDEX_ALIAS],
                 (unsigned long long)b[WS_INDEX_DEVICE], (unsigned long long)b[WS_INDEX_CONTACT],
                 (unsigned long long)b[WS_INDEX_ATTRS], (unsigned long long)b[WS_INDEX_EVENTS],
                 (unsigned long long)b[WS_INDEX_COHORTS]);
    } else {
        atomic_store(&ws->loaded, false);
        ws->load_retry_at = time_now_ms() + WORKSPACE_LOAD_RETRY_MS;
        log_error("workspace", "op=load workspace_id=%s result=not_loaded error=%s retry_in_ms=%d",
                  ws->public_id, cd_err_name(err), WORKSPACE_LOAD_RETRY_MS);
    }
    return err;
}

static void ws_free(struct workspace *ws) {
    if (!ws)
        return;
    workspace_pending_drop(ws, UINT64_MAX);
    indexes_free(ws);
    undo_free(&ws->undo);
    pthread_cond_destroy(&ws->pub_cond);
    pthread_mutex_destroy(&ws->pub);
    pthread_rwlock_destroy(&ws->lock);
    pthread_mutex_destroy(&ws->writer);
    pthread_mutex_destroy(&ws->lease_mx);
    free(ws);
}

void workspace_pending_drop(struct workspace *ws, uint64_t upto) {
    while (ws->pending && ws->pending->turn <= upto) {
        struct import_pending *p = ws->pending;
        ws->pending = p->next;
        roaring_bitmap_free(p->adds);
        roaring_bitmap_free(p->removes);
        free(p);
    }
    if (!ws->pending)
        ws->pending_tail = &ws->pending;
}

/* Set by workspace_thread_unbounded: this thread's writes wait however long. */
static _Thread_local bool thread_unbounded;

void workspace_thread_unbounded(void) {
    thread_unbounded = true;
}

void app_set_write_limits(struct app *app, int max_queued, int64_t timeout_ms) {
    app->max_queued_writes = max_queued > 0 ? max_queued : 0;
    app->queue_timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
    metrics_describe("cohortd_write_queue_refusals_total", METRIC_COUNTER,
                     "writes refused with 429 because their workspace's write queue was full "
                     "(reason=queue_full) or they waited too long (reason=queue_timeout)");
}

void app_set_max_array_length(struct app *app, int n) {
    app->max_array_length = n < 1 ? 1 : n > 100 ? 100 : n;
}

/* A refused write: counted, logged at debug (the HTTP log line already shows the 429). */
static enum cd_err shed(struct workspace *ws, const char *reason, int ahead) {
    char labels[48];
    snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
    metrics_add("cohortd_write_queue_refusals_total", labels, 1);
    log_debug("workspace", "op=shed ws=%s reason=%s ahead=%d", ws->public_id, reason, ahead);
    return CD_E_BUSY;
}

/*
 * Takes ws->writer. A bounded caller (a request: bounded and not a thread_unbounded thread)
 * that finds more than max_queued_writes threads waiting ahead of it (besides the holder) is
 * refused at once; one that waits queue_timeout_ms without getting it is refused then. Both
 * CD_E_BUSY, holding nothing. Every holder and waiter is counted in n_writers, so background
 * writes take their place in the count too.
 */
static enum cd_err writer_lock(const struct app *app, struct workspace *ws, bool bounded) {
    int ahead = atomic_fetch_add(&ws->n_writers, 1); /* the holder and the waiters before us */
    bounded = bounded && !thread_unbounded;
    if (bounded && app->max_queued_writes > 0 && ahead > app->max_queued_writes) {
        atomic_fetch_sub(&ws->n_writers, 1);
        return shed(ws, "queue_full", ahead);
    }
    if (!bounded || app->queue_timeout_ms <= 0) {
        pthread_mutex_lock(&ws->writer);
        return CD_OK;
    }
    if (pthread_mutex_trylock(&ws->writer) == 0)
        return CD_OK;
    /* timedlock measures against CLOCK_REALTIME: a clock step shortens or lengthens one wait */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(app->queue_timeout_ms / 1000);
    until.tv_nsec += (long)(app->queue_timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int rc = pthread_mutex_timedlock(&ws->writer, &until);
    if (rc == 0)
        return CD_OK;
    atomic_fetch_sub(&ws->n_writers, 1);
    if (rc != ETIMEDOUT)
        log_error("workspace", "op=writer_lock ws=%s error=%d", ws->public_id, rc);
    return shed(ws, "queue_timeout", ahead);
}

static void writer_unlock(struct workspace *ws) {
    atomic_fetch_sub(&ws->n_writers, 1);
    pthread_mutex_unlock(&ws->writer);
}

/* Writers first: a stream of readers (previews, exports) must not starve a publish. */
static void lock_init(struct workspace *ws) {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&ws->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&ws->writer, NULL);
    atomic_init(&ws->n_writers, 0);
    pthread_mutex_init(&ws->pub, NULL);
    pthread_cond_init(&ws->pub_cond, NULL);
    pthread_mutex_init(&ws->lease_mx, NULL);
    atomic_init(&ws->held, false);
    atomic_init(&ws->epoch, 0);
    atomic_init(&ws->held_until, 0);
    atomic_init(&ws->drop_memory, false);
    ws->pending_tail = &ws->pending;
}

static void copy_row(void *ctx, const struct workspace_row *row) {
    struct workspace *ws = ctx;
    ws->id = row->id;
    snprintf(ws->public_id, sizeof ws->public_id, "%s", row->public_id);
    snprintf(ws->name, sizeof ws->name, "%s", row->name);
}

/* Adds workspace `id` to the registry, loaded when its load succeeds (else not loaded, to be
 * retried). CD_E_NOT_FOUND when the store has no such workspace. Caller holds reg_lock. */
static enum cd_err register_ws(struct app *app, int64_t id, struct workspace **out) {
    struct workspace *ws = calloc(1, sizeof *ws);
    if (!ws)
        return CD_E_NOMEM;
    lock_init(ws);
    ws->app = app;
    indexes_init(ws);
    undo_init(&ws->undo);
    atomic_init(&ws->loaded, false);
    enum cd_err err = STORE_OPS(app->store)->admin->workspace_get(app->store, id, copy_row, ws);
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
    if (!app->leased) /* a leased workspace loads once its lease is taken (leases.c) */
        load_or_defer(app, ws);
    app->ws[app->n_ws++] = ws;
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

static enum cd_err app_create(struct store *store, bool leased, const char *snap_dir,
                              struct app **out) {
    struct app *app = calloc(1, sizeof *app);
    if (!app)
        return CD_E_NOMEM;
    if (snap_dir && !(app->snap_dir = strdup(snap_dir))) {
        free(app);
        return CD_E_NOMEM;
    }
    app->store = store;
    app->leased = leased;
    atomic_init(&app->node_ready, false);
    app->max_array_length = APP_MAX_ARRAY_LENGTH_DEFAULT;
    pthread_mutex_init(&app->reg_lock, NULL);
    pthread_mutex_init(&app->due_lock, NULL);
    app->key_limits = rate_limiter_new();
    if (!app->key_limits) {
        app_free(app);
        return CD_E_NOMEM;
    }
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

enum cd_err app_new(struct store *store, struct app **out) {
    return app_create(store, false, NULL, out);
}

enum cd_err app_new_snapshots(struct store *store, const char *snap_dir, struct app **out) {
    return app_create(store, false, snap_dir, out);
}

enum cd_err app_new_leased(struct store *store, struct app **out) {
    return app_create(store, true, NULL, out);
}

struct workspace **app_workspaces(struct app *app, size_t *n) {
    pthread_mutex_lock(&app->reg_lock);
    struct workspace **v = app->n_ws ? malloc(app->n_ws * sizeof(void *)) : NULL;
    *n = v ? app->n_ws : 0;
    if (v)
        memcpy(v, app->ws, app->n_ws * sizeof(void *));
    pthread_mutex_unlock(&app->reg_lock);
    return v;
}

void app_free(struct app *app) {
    if (!app)
        return;
    for (size_t i = 0; i < app->n_ws; i++)
        ws_free(app->ws[i]);
    free(app->ws);
    rate_limiter_free(app->key_limits);
    free(app->snap_dir);
    pthread_mutex_destroy(&app->reg_lock);
    pthread_mutex_destroy(&app->due_lock);
    free(app);
}

void app_set_cohort_entry(struct app *app, app_cohort_entry_fn fn) {
    app->on_cohort_entry = fn;
}

void app_set_dispatch_due(struct app *app, app_dispatch_due_fn fn, void *ctx) {
    pthread_mutex_lock(&app->due_lock);
    app->on_due = fn;
    app->due_ctx = ctx;
    pthread_mutex_unlock(&app->due_lock);
}

void app_dispatch_due(struct app *app) {
    pthread_mutex_lock(&app->due_lock);
    if (app->on_due)
        app->on_due(app->due_ctx);
    pthread_mutex_unlock(&app->due_lock);
}

static void wait_published(struct workspace *ws);

/* CD_OK when ws is loaded, loading it first when a retry is due; else CD_E_STORE and msg. */
enum cd_err workspace_ensure_loaded(struct app *app, struct workspace *ws, struct cd_msg *msg) {
    if (atomic_load(&ws->loaded))
        return CD_OK;
    /* a reload replaces the indexes: no write of ws may be planning or publishing meanwhile */
    writer_lock(app, ws, false);
    wait_published(ws);
    pthread_rwlock_wrlock(&ws->lock);
    ws->ident_version++;
    enum cd_err err = CD_OK;
    if (!atomic_load(&ws->loaded) && time_now_ms() >= ws->load_retry_at)
        load_or_defer(app, ws);
    if (!atomic_load(&ws->loaded)) {
        snprintf(msg->text, sizeof msg->text, "workspace %s is not loaded: %s; retrying",
                 ws->public_id, cd_err_name(ws->load_err));
        err = CD_E_STORE;
    }
    pthread_rwlock_unlock(&ws->lock);
    writer_unlock(ws);
    return err;
}

enum cd_err app_workspace_msg(struct app *app, int64_t ws_id, struct workspace **out,
                              struct cd_msg *msg) {
    enum cd_err err = CD_OK;
    struct workspace *ws = NULL;
    pthread_mutex_lock(&app->reg_lock);
    *out = NULL;
    for (size_t i = 0; i < app->n_ws; i++)
        if (app->ws[i]->id == ws_id)
            ws = app->ws[i];
    if (!ws)
        err = register_ws(app, ws_id, &ws);
    pthread_mutex_unlock(&app->reg_lock);
    if (err == CD_OK && app->leased)
        err = workspace_lease_serve(app, ws, msg);
    if (err == CD_OK)
        err = workspace_ensure_loaded(app, ws, msg);
    if (err == CD_OK)
        *out = ws;
    return err;
}

enum cd_err app_workspace(struct app *app, int64_t ws_id, struct workspace **out) {
    struct cd_msg msg = {{0}};
    return app_workspace_msg(app, ws_id, out, &msg);
}

/* Waits until every committed import of ws is published. Caller holds ws->writer, so no new
 * import can commit meanwhile. */
static void wait_published(struct workspace *ws) {
    pthread_mutex_lock(&ws->pub);
    while (ws->turn_done != ws->turn_next)
        pthread_cond_wait(&ws->pub_cond, &ws->pub);
    pthread_mutex_unlock(&ws->pub);
}

/* Opens ws->txn on a loaded workspace, checking its lease when leased; the writer lock is held. */
static enum cd_err txn_open(struct app *app, struct workspace *ws) {
    enum cd_err err =
        atomic_load(&ws->loaded) ? STORE_OPS(app->store)->begin(app->store, &ws->txn) : CD_E_STORE;
    if (err == CD_OK && app->leased && (err = workspace_lease_check(app, ws)) != CD_OK) {
        STORE_OPS(app->store)->rollback(ws->txn);
        ws->txn = NULL;
    }
    return err;
}

/* Commits ws->txn when err is CD_OK, else rolls it back; the commit's error, or err. */
static enum cd_err txn_close(struct app *app, struct workspace *ws, enum cd_err err) {
    const struct store_ops *ops = STORE_OPS(app->store);
    if (err == CD_OK)
        err = ops->commit(ws->txn);
    else
        ops->rollback(ws->txn);
    ws->txn = NULL;
    return err;
}

enum cd_err workspace_write_begin(struct app *app, struct workspace *ws) {
    enum cd_err err = writer_lock(app, ws, true);
    if (err != CD_OK)
        return err;
    wait_published(ws);
    pthread_rwlock_wrlock(&ws->lock);
    ws->ident_version++;
    workspace_pending_drop(ws, UINT64_MAX);
    err = txn_open(app, ws);
    if (err != CD_OK) {
        pthread_rwlock_unlock(&ws->lock);
        writer_unlock(ws);
        return err;
    }
    indexes_journal(ws, &ws->undo);
    return CD_OK;
}

enum cd_err workspace_write_end(struct app *app, struct workspace *ws, enum cd_err err) {
    err = txn_close(app, ws, err);
    indexes_journal(ws, NULL);
    if (err == CD_OK) {
        undo_commit(&ws->undo);
    } else if (!ws->undo.lost) {
        size_t n = ws->undo.n;
        undo_rollback(&ws->undo);
        log_info("workspace", "op=rollback workspace_id=%s error=%s undone=%zu", ws->public_id,
                 cd_err_name(err), n);
    } else {
        /* the journal is incomplete: only the store can say what memory should hold */
        undo_commit(&ws->undo);
        log_error("workspace", "op=reload workspace_id=%s error=%s reason=journal_lost",
                  ws->public_id, cd_err_name(err));
        load_or_defer(app, ws);
    }
    pthread_rwlock_unlock(&ws->lock);
    writer_unlock(ws);
    return err;
}

enum cd_err workspace_store_write_begin(struct app *app, struct workspace *ws) {
    enum cd_err err = writer_lock(app, ws, true);
    if (err == CD_OK && (err = txn_open(app, ws)) != CD_OK)
        writer_unlock(ws);
    return err;
}

enum cd_err workspace_store_write_end(struct app *app, struct workspace *ws, enum cd_err err) {
    err = txn_close(app, ws, err);
    writer_unlock(ws);
    return err;
}

void workspace_wait_imports(struct app *app, struct workspace *ws) {
    /* an import holds the writer lock from its commit until its turn is queued */
    writer_lock(app, ws, false);
    wait_published(ws);
    writer_unlock(ws);
}

struct store_txn *workspace_txn(struct workspace *ws) {
    return ws->txn;
}

enum cd_err workspace_pipe_begin(struct workspace *ws) {
    enum cd_err err = writer_lock(ws->app, ws, true);
    if (err != CD_OK)
        return err;
    if (atomic_load(&ws->loaded))
        return CD_OK;
    writer_unlock(ws);
    return CD_E_STORE;
}

enum cd_err workspace_pipe_txn(struct app *app, struct workspace *ws) {
    enum cd_err err = STORE_OPS(app->store)->begin(app->store, &ws->txn);
    /* the check goes with the import's first statement (one round trip for both) */
    if (err == CD_OK && app->leased && (err = workspace_lease_check_with_next(app, ws)) != CD_OK) {
        STORE_OPS(app->store)->rollback(ws->txn);
        ws->txn = NULL;
    }
    return err;
}

enum cd_err workspace_reload(struct app *app, struct workspace *ws) {
    writer_lock(app, ws, false);
    wait_published(ws);
    pthread_rwlock_wrlock(&ws->lock);
    enum cd_err err = load_or_defer(app, ws);
    pthread_rwlock_unlock(&ws->lock);
    writer_unlock(ws);
    return err;
}

void workspace_drop_indexes(struct workspace *ws) {
    writer_lock(ws->app, ws, false);
    wait_published(ws);
    pthread_rwlock_wrlock(&ws->lock);
    if (!atomic_load(&ws->held)) {
        atomic_store(&ws->loaded, false);
        workspace_pending_drop(ws, UINT64_MAX);
        indexes_free(ws);
        indexes_init(ws);
        log_info("workspace", "op=drop workspace_id=%s reason=lease_lost", ws->public_id);
    }
    atomic_store(&ws->drop_memory, false);
    pthread_rwlock_unlock(&ws->lock);
    writer_unlock(ws);
}

enum cd_err workspace_pipe_commit(struct app *app, struct workspace *ws, enum cd_err err,
                                  struct import_pending *p, uint64_t *ticket) {
    const struct store_ops *ops = STORE_OPS(app->store);
    if (err == CD_OK)
        err = ops->commit_ticket(ws->txn, ticket);
    else if (ws->txn)
        ops->rollback(ws->txn);
    ws->txn = NULL;
    if (err == CD_E_MOVED && app->leased) /* the lease check sent with the first statement */
        workspace_lease_lost(ws, "check_failed");
    if (err != CD_OK) /* memory was not changed: nothing to undo */
        log_info("workspace", "op=rollback workspace_id=%s error=%s undone=0", ws->public_id,
                 cd_err_name(err));
    if (err == CD_OK) {
        p->turn = ++ws->turn_next;
        p->next = NULL;
        *ws->pending_tail = p;
        ws->pending_tail = &p->next;
    }
    writer_unlock(ws);
    return err;
}

enum cd_err workspace_pipe_publish_begin(struct app *app, struct workspace *ws, uint64_t ticket,
                                         uint64_t turn) {
    enum cd_err err = STORE_OPS(app->store)->durable(app->store, ticket);
    pthread_mutex_lock(&ws->pub);
    while (ws->turn_done != turn - 1)
        pthread_cond_wait(&ws->pub_cond, &ws->pub);
    pthread_mutex_unlock(&ws->pub);
    pthread_rwlock_wrlock(&ws->lock);
    if (err != CD_OK) /* committed but not durable: memory cannot say what the disk holds */
        workspace_mark_unloaded(ws, err);
    return err;
}

void workspace_mark_unloaded(struct workspace *ws, enum cd_err why) {
    atomic_store(&ws->loaded, false);
    ws->load_err = why;
    log_error("workspace", "op=publish workspace_id=%s error=%s result=not_loaded", ws->public_id,
              cd_err_name(why));
}

void workspace_pipe_publish_end(struct workspace *ws, uint64_t turn) {
    pthread_mutex_lock(&ws->pub);
    ws->turn_done = turn;
    pthread_cond_broadcast(&ws->pub_cond);
    pthread_mutex_unlock(&ws->pub);
    pthread_rwlock_unlock(&ws->lock);
}

enum cd_err workspace_snapshot_save(struct app *app, struct workspace *ws, bool *written,
                                    uint64_t *bytes, char *why, size_t why_cap) {
    *written = false;
    if (!app->snap_dir) {
        /* snapshots off: no load will ask for the user changes, so none are kept */
        struct store_snapshot_mark mark;
        struct store *s = app->store;
        enum cd_err err = STORE_OPS(s)->users->snapshot_mark(s, ws->id, &mark);
        if (err == CD_OK && mark.supported)
            err = STORE_OPS(s)->users->changes_prune(s, ws->id, mark.user_seq);
        if (err != CD_OK)
            snprintf(why, why_cap, "the user changes could not be pruned");
        return err;
    }
    /* a consistent point: no write of ws between the positions and the memory they describe.
     * The writer lock is held only while the positions are read; the read lock keeps memory
     * still (publishes wait for it) while the file is written, and writes may commit to the
     * store meanwhile: they are past the positions recorded */
    writer_lock(app, ws, false);
    wait_published(ws);
    pthread_rwlock_rdlock(&ws->lock);
    struct store_snapshot_mark mark;
    enum cd_err err = atomic_load(&ws->loaded)
                          ? STORE_OPS(app->store)->users->snapshot_mark(app->store, ws->id, &mark)
                          : CD_E_STORE;
    /* the one field a pipelined import changes before it publishes: taken with the positions
     * (the set itself only changes in in-place writes, which wait for the read lock) */
    int *n_log = malloc((ws->cohorts.n ? ws->cohorts.n : 1) * sizeof *n_log);
    if (!n_log && err == CD_OK)
        err = CD_E_NOMEM;
    for (size_t i = 0; n_log && i < ws->cohorts.n; i++)
        n_log[i] = ws->cohorts.v[i]->n_log;
    writer_unlock(ws);
    bool same = err == CD_OK && ws->snap_have && ws->snap_mark.log_seq == mark.log_seq &&
                memcmp(ws->snap_mark.store_id, mark.store_id, sizeof mark.store_id) == 0;
    if (same && ws->snap_mark.user_seq != mark.user_seq) {
        /* the position is the store's: it also moves with other workspaces' users */
        struct changed_set c = {roaring_bitmap_create()};
        bool supported = false;
        err = c.uids ? STORE_OPS(app->store)
                           ->users->changed_since(app->store, ws->id, ws->snap_mark.user_seq,
                                                  add_changed, &c, &supported)
                     : CD_E_NOMEM;
        same = err == CD_OK && supported && roaring_bitmap_is_empty(c.uids);
        roaring_bitmap_free(c.uids);
    }
    if (err == CD_OK && mark.supported && !same) {
        char path[4200];
        snapshot_path(app->snap_dir, ws->id, path, sizeof path);
        struct snapshot_indexes ix = {ws->id,      &ws->ident,   &ws->attrs,
                                      &ws->events, &ws->cohorts, n_log};
        err = snapshot_write(&ix, &mark, path, bytes, why, why_cap);
        if (err == CD_OK) {
            ws->snap_mark = mark;
            ws->snap_have = true;
            *written = true;
        }
    } else if (err == CD_E_STORE && !atomic_load(&ws->loaded)) {
        err = CD_OK; /* nothing to write until it loads */
    }
    pthread_rwlock_unlock(&ws->lock);
    free(n_log);
    /* the file on disk now starts at mark: the user changes before it are read by no load */
    if (err == CD_OK && *written) {
        enum cd_err perr =
            STORE_OPS(app->store)->users->changes_prune(app->store, ws->id, mark.user_seq);
        if (perr != CD_OK)
            log_warn("workspace", "op=changes_prune workspace_id=%s error=%s", ws->public_id,
                     cd_err_name(perr));
    }
    return err;
}

void workspace_read_begin(struct workspace *ws) {
    pthread_rwlock_rdlock(&ws->lock);
}

void workspace_read_end(struct workspace *ws) {
    pthread_rwlock_unlock(&ws->lock);
}
