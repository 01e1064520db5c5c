/*
 * leases.c — which workspaces this node serves (leases.h): taking, renewing, checking and
 * losing the lease of a workspace in the store. The state of each workspace is in
 * workspace_int.h (held, epoch, held_until, drop_memory); a take is serialised by the
 * workspace's lease_mx, and never holds a workspace lock while it talks to the store.
 */
#include "core/workspace/leases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/workspace/workspace_int.h"
#include "util/crypto.h"
#include "util/log.h"

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How long before the store's expiry a node stops counting on its lease: room for a slower
 * clock and the time a request in flight still takes. */
static int64_t lease_margin(const struct app *app) {
    return app->lease_ms / 10;
}

/* How long a request waits for the node to be ready before it answers "starting". */
#define NODE_READY_WAIT_MS 30000

static void sleep_ms(int64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

const char *app_node_instance(const struct app *app) {
    return app->instance;
}

enum cd_err app_set_node(struct app *app, const char *node_id, const char *address,
                         int64_t lease_ms, const char *previous, struct cd_msg *msg) {
    snprintf(app->node_id, sizeof app->node_id, "%s", node_id);
    snprintf(app->address, sizeof app->address, "%s", address);
    app->lease_ms = lease_ms;
    unsigned char b[16];
    if (crypto_random(b, sizeof b) != 0) {
        snprintf(msg->text, sizeof msg->text, "no randomness for the node's instance token");
        return CD_E_INTERNAL;
    }
    crypto_hex(b, sizeof b, app->instance);
    const struct store_lease_ops *lo = STORE_OPS(app->store)->leases;
    int64_t deadline = -1;
    for (;;) {
        struct store_lease other;
        memset(&other, 0, sizeof other);
        enum cd_err err =
            lo->node_claim(app->store, node_id, app->instance, previous, address, lease_ms, &other);
        if (err == CD_OK)
            break;
        if (err != CD_E_EXISTS) {
            snprintf(msg->text, sizeof msg->text, "node id %s could not be claimed: %s", node_id,
                     cd_err_name(err));
            return err;
        }
        int64_t now = mono_ms();
        if (deadline < 0) { /* a process that died leaves a claim that runs out: wait it out */
            deadline = now + other.remaining_ms + lease_margin(app) + 100;
            log_warn("lease",
                     "op=node_wait node_id=%s other_instance=%s other_address=%s wait_ms=%lld",
                     node_id, other.holder, other.address, (long long)(deadline - now));
        } else if (now >= deadline) { /* renewed meanwhile: a live process has this id */
            snprintf(msg->text, sizeof msg->text,
                     "node id %s is in use by another running process (advertising %s, instance "
                     "%s); give every node its own --node-id",
                     node_id, other.address, other.holder);
            log_error("lease", "op=node_claim node_id=%s result=in_use other_address=%s", node_id,
                      other.address);
            return CD_E_EXISTS;
        }
        sleep_ms(lease_ms / 20 > 0 && lease_ms / 20 < 100 ? lease_ms / 20 : 100);
    }
    log_info("lease", "op=node_claim node_id=%s instance=%s", node_id, app->instance);
    atomic_store(&app->node_ready, true);
    return CD_OK;
}

/* Another process took this node's id: every lease goes, and none is taken again. */
static void node_lost(struct app *app) {
    if (atomic_exchange(&app->node_lost, true))
        return;
    log_error("lease",
              "op=node_lost node_id=%s instance=%s reason=\"another process claimed this node id; "
              "this process serves no workspace itself any more\"",
              app->node_id, app->instance);
    size_t n;
    struct workspace **v = app_workspaces(app, &n);
    for (size_t i = 0; i < n; i++)
        workspace_lease_lost(v[i], "node_id_taken");
    free(v);
}

bool app_leased(const struct app *app) {
    return app->leased;
}

int64_t app_lease_ms(const struct app *app) {
    return app->leased ? app->lease_ms : 0;
}

const char *app_node_id(const struct app *app) {
    return atomic_load(&app->node_ready) ? app->node_id : "";
}

static bool held_live(const struct workspace *ws) {
    return atomic_load(&ws->held) && mono_ms() < atomic_load(&ws->held_until);
}

bool workspace_owned(const struct workspace *ws) {
    if (!atomic_load(&ws->loaded))
        return false;
    return !ws->app->leased || held_live(ws);
}

void workspace_lease_lost(struct workspace *ws, const char *why) {
    bool was = atomic_exchange(&ws->held, false);
    atomic_store(&ws->loaded, false);
    atomic_store(&ws->drop_memory, true);
    if (was)
        log_warn("lease", "op=lost workspace_id=%s epoch=%lld reason=%s", ws->public_id,
                 (long long)atomic_load(&ws->epoch), why);
}

/* Takes the lease of ws when no node holds a live one and loads ws. Caller holds lease_mx. */
static enum cd_err take(struct app *app, struct workspace *ws, struct cd_msg *msg) {
    const struct store_lease_ops *lo = STORE_OPS(app->store)->leases;
    struct store_lease who;
    memset(&who, 0, sizeof who);
    int64_t t0 = mono_ms(), epoch = 0;
    enum cd_err err = atomic_load(&app->node_lost)
                          ? CD_E_FORBIDDEN
                          : lo->acquire(app->store, ws->id, app->node_id, app->instance,
                                        app->address, app->lease_ms, &epoch, &who);
    if (err == CD_E_FORBIDDEN) {
        node_lost(app);
        if (msg)
            snprintf(msg->text, sizeof msg->text,
                     "another process took this node's id (%s): it serves workspace %s no more",
                     app->node_id, ws->public_id);
        return CD_E_STORE;
    }
    if (err == CD_E_EXISTS) {
        if (msg)
            snprintf(msg->text, sizeof msg->text, "%s\tworkspace %s is served by node %s at %s",
                     who.address, ws->public_id, who.holder, who.address);
        return CD_E_MOVED;
    }
    if (err != CD_OK) {
        if (msg)
            snprintf(msg->text, sizeof msg->text,
                     "the lease of workspace %s could not be taken: %s", ws->public_id,
                     cd_err_name(err));
        return err;
    }
    atomic_store(&ws->epoch, epoch);
    atomic_store(&ws->held_until, t0 + app->lease_ms - lease_margin(app));
    atomic_store(&ws->drop_memory, false);
    atomic_store(&ws->held, true);
    int64_t l0 = mono_ms();
    err = workspace_reload(app, ws); /* another node may have written since this one last did */
    log_info("lease", "op=take workspace_id=%s epoch=%lld load_ms=%lld result=%s", ws->public_id,
             (long long)epoch, (long long)(mono_ms() - l0), cd_err_name(err));
    return CD_OK; /* a failed load answers for itself (workspace_ensure_loaded) */
}

enum cd_err workspace_lease_serve(struct app *app, struct workspace *ws, struct cd_msg *msg) {
    if (held_live(ws))
        return CD_OK;
    /* a request that arrives while the node claims its id (right after the listen; the claim
     * may wait out a dead predecessor's) waits for it, up to NODE_READY_WAIT_MS */
    for (int64_t t0 = mono_ms(); !atomic_load(&app->node_ready);) {
        if (mono_ms() - t0 > NODE_READY_WAIT_MS) {
            snprintf(msg->text, sizeof msg->text, "this node is starting; retry in a moment");
            return CD_E_STORE;
        }
        sleep_ms(10);
    }
    pthread_mutex_lock(&ws->lease_mx);
    enum cd_err err = CD_OK;
    if (!held_live(ws)) {
        if (atomic_load(&ws->held)) /* not renewed in time: gone, whatever the store says */
            workspace_lease_lost(ws, "not_renewed");
        err = take(app, ws, msg);
    }
    pthread_mutex_unlock(&ws->lease_mx);
    return err;
}

const char *lease_moved_owner(const struct cd_msg *msg, char *address, size_t len) {
    const char *tab = strchr(msg->text, '\t');
    if (!tab) {
        snprintf(address, len, "%s", "");
        return msg->text;
    }
    snprintf(address, len, "%.*s", (int)(tab - msg->text), msg->text);
    return tab + 1;
}

enum cd_err workspace_lease_check(struct app *app, struct workspace *ws) {
    if (!held_live(ws)) {
        workspace_lease_lost(ws, "not_renewed");
        return CD_E_MOVED;
    }
    enum cd_err err = STORE_OPS(app->store)
                          ->leases->check(ws->txn, ws->id, app->node_id, atomic_load(&ws->epoch));
    if (err != CD_OK) {
        workspace_lease_lost(ws, "check_failed");
        return CD_E_MOVED;
    }
    return CD_OK;
}

enum cd_err workspace_lease_check_with_next(struct app *app, struct workspace *ws) {
    if (!held_live(ws)) {
        workspace_lease_lost(ws, "not_renewed");
        return CD_E_MOVED;
    }
    enum cd_err err =
        STORE_OPS(app->store)
            ->leases->check_with_next(ws->txn, ws->id, app->node_id, atomic_load(&ws->epoch));
    if (err != CD_OK) {
        workspace_lease_lost(ws, "check_failed");
        return CD_E_MOVED;
    }
    return CD_OK;
}

void app_leases_renew(struct app *app) {
    if (!app->leased || !atomic_load(&app->node_ready))
        return;
    const struct store_lease_ops *lo = STORE_OPS(app->store)->leases;
    if (!atomic_load(&app->node_lost) &&
        lo->node_renew(app->store, app->node_id, app->instance, app->lease_ms) == CD_E_NOT_FOUND)
        node_lost(app);
    size_t n;
    struct workspace **v = app_workspaces(app, &n);
    for (size_t i = 0; i < n; i++) {
        struct workspace *ws = v[i];
        if (atomic_load(&ws->held)) {
            int64_t t0 = mono_ms();
            enum cd_err err =
                lo->renew(app->store, ws->id, app->node_id, atomic_load(&ws->epoch), app->lease_ms);
            if (err == CD_OK && atomic_load(&ws->held))
                atomic_store(&ws->held_until, t0 + app->lease_ms - lease_margin(app));
            else if (err == CD_E_NOT_FOUND)
                workspace_lease_lost(ws, "taken_or_expired");
            else if (err != CD_OK && !held_live(ws))
                workspace_lease_lost(ws, "store_unreachable");
        }
        if (atomic_load(&ws->drop_memory))
            workspace_drop_indexes(ws);
    }
    free(v);
}

struct ids {
    int64_t *v;
    size_t n, cap;
};

static void add_id(void *ctx, const struct workspace_row *row) {
    struct ids *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        int64_t *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = row->id;
}

void app_leases_take(struct app *app) {
    if (!app->leased || !atomic_load(&app->node_ready) || atomic_load(&app->node_lost))
        return;
    const struct store_ops *ops = STORE_OPS(app->store);
    struct ids l = {0};
    if (ops->admin->workspace_list(app->store, add_id, &l) != CD_OK) {
        free(l.v);
        return;
    }
    for (size_t i = 0; i < l.n; i++) {
        struct store_lease who;
        enum cd_err err = ops->leases->owner(app->store, l.v[i], &who);
        if (err == CD_OK && who.remaining_ms > 0 && strcmp(who.holder, app->node_id) != 0)
            continue; /* another node's */
        if (err != CD_OK && err != CD_E_NOT_FOUND)
            continue;
        struct workspace *ws;
        (void)app_workspace(app, l.v[i], &ws); /* takes the lease and loads */
    }
    free(l.v);
}

void app_leases_release(struct app *app) {
    if (!app->leased || !atomic_load(&app->node_ready))
        return;
    size_t n;
    struct workspace **v = app_workspaces(app, &n);
    for (size_t i = 0; i < n; i++)
        if (atomic_exchange(&v[i]->held, false)) {
            atomic_store(&v[i]->loaded, false);
            (void)STORE_OPS(app->store)
                ->leases->release(app->store, v[i]->id, app->node_id, atomic_load(&v[i]->epoch));
            log_info("lease", "op=release workspace_id=%s", v[i]->public_id);
        }
    free(v);
    (void)STORE_OPS(app->store)->leases->node_release(app->store, app->node_id, app->instance);
}

bool app_owns_workspace(struct app *app, int64_t ws_id) {
    if (!app->leased)
        return true;
    size_t n;
    bool owned = false;
    struct workspace **v = app_workspaces(app, &n);
    for (size_t i = 0; i < n; i++)
        if (v[i]->id == ws_id)
            owned = workspace_owned(v[i]);
    free(v);
    return owned;
}

enum cd_err app_lease_check_txn(struct app *app, struct store_txn *t, int64_t ws_id) {
    if (!app->leased)
        return CD_OK;
    size_t n;
    struct workspace *ws = NULL;
    struct workspace **v = app_workspaces(app, &n);
    for (size_t i = 0; i < n; i++)
        if (v[i]->id == ws_id)
            ws = v[i];
    free(v);
    if (!ws || !workspace_owned(ws))
        return CD_E_MOVED;
    enum cd_err err =
        STORE_OPS(app->store)->leases->check(t, ws->id, app->node_id, atomic_load(&ws->epoch));
    if (err != CD_OK) {
        workspace_lease_lost(ws, "check_failed");
        return CD_E_MOVED;
    }
    return CD_OK;
}

static void copy_id(void *ctx, const struct workspace_row *row) {
    *(int64_t *)ctx = row->id;
}

bool app_leads(struct app *app) {
    if (!app->leased)
        return true;
    int64_t oldest = 0;
    if (STORE_OPS(app->store)->admin->workspace_find(app->store, NULL, copy_id, &oldest) != CD_OK)
        return false;
    return app_owns_workspace(app, oldest);
}

void app_owned_each(struct app *app, void (*cb)(void *ctx, const char *public_id), void *ctx) {
    size_t n;
    struct workspace **v = app_workspaces(app, &n);
    for (size_t i = 0; i < n; i++)
        if (workspace_owned(v[i]))
            cb(ctx, v[i]->public_id);
    free(v);
}

enum cd_err app_workspace_owner(struct app *app, int64_t ws_id, char *out, size_t len) {
    if (!app->leased)
        return CD_E_NOT_FOUND;
    struct store_lease who;
    enum cd_err err = STORE_OPS(app->store)->leases->owner(app->store, ws_id, &who);
    if (err != CD_OK)
        return err;
    if (who.remaining_ms <= 0 || !who.address[0])
        return CD_E_NOT_FOUND;
    snprintf(out, len, "%s", who.address);
    return CD_OK;
}
