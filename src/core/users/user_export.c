/*
 * user_export.c — POST /users/export/ids: the profiles that identifiers name, as C structs
 * (api/ builds Braze's export shape from them). Read-only: the workspace read lock plus
 * committed store reads. Cost: one store read per user and part asked for.
 */
#include "core/users/user_int.h"

#include <stdlib.h>
#include <string.h>

/* Reading one user: every copy is owned by `u`; `failed` is set when one could not be
 * allocated. */
struct export_ctx {
    struct user_export *u;
    bool failed;
};

static char *dup_or_fail(struct export_ctx *ec, const char *s) {
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        ec->failed = true;
    return d;
}

static void take_row(void *ctx, const struct user_row *r) {
    struct export_ctx *ec = ctx;
    ec->u->created_at = r->created_at;
    ec->u->external_id = dup_or_fail(ec, r->external_id);
    ec->u->braze_id = dup_or_fail(ec, r->braze_id);
    ec->u->attrs = json_loads(r->attrs ? r->attrs : "{}", 0, NULL);
    if (!json_is_object(ec->u->attrs)) {
        json_decref(ec->u->attrs);
        ec->u->attrs = json_object();
    }
    if (!ec->u->attrs)
        ec->failed = true;
}

/* Makes room in *v (n elements of `size`) for one more. The capacity is implied by n: 4, then
 * doubled whenever n reaches a power of two. False when it cannot grow. */
static bool grow(void **v, size_t n, size_t size) {
    if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
        return true;
    size_t cap = n == 0 ? 4 : 2 * n;
    void *p = realloc(*v, cap * size);
    if (!p)
        return false;
    *v = p;
    return true;
}

static void take_alias(void *ctx, const struct ident_row *r) {
    struct export_ctx *ec = ctx;
    struct user_export *u = ec->u;
    if (!grow((void **)&u->aliases, u->n_aliases, sizeof *u->aliases)) {
        ec->failed = true;
        return;
    }
    struct user_alias_pair *a = &u->aliases[u->n_aliases++];
    a->label = dup_or_fail(ec, r->a);
    a->name = dup_or_fail(ec, r->b);
}

static void take_device(void *ctx, const struct ident_row *r) {
    struct export_ctx *ec = ctx;
    struct user_export *u = ec->u;
    if (!grow((void **)&u->devices, u->n_devices, sizeof *u->devices)) {
        ec->failed = true;
        return;
    }
    u->devices[u->n_devices++] = dup_or_fail(ec, r->a);
}

static void take_event(void *ctx, const struct event_summary_row *r) {
    struct export_ctx *ec = ctx;
    struct user_export *u = ec->u;
    bool purchase = r->kind == EVENT_KIND_PURCHASE;
    struct user_event_summary **v = purchase ? &u->purchases : &u->events;
    size_t *n = purchase ? &u->n_purchases : &u->n_events;
    if (!grow((void **)v, *n, sizeof **v)) {
        ec->failed = true;
        return;
    }
    (*v)[(*n)++] =
        (struct user_event_summary){dup_or_fail(ec, r->name), r->count, r->first_at, r->last_at};
}

static void user_export_clear(struct user_export *u) {
    free(u->braze_id);
    free(u->external_id);
    json_decref(u->attrs);
    for (size_t i = 0; i < u->n_aliases; i++) {
        free(u->aliases[i].label);
        free(u->aliases[i].name);
    }
    free(u->aliases);
    for (size_t i = 0; i < u->n_devices; i++)
        free(u->devices[i]);
    free(u->devices);
    for (size_t i = 0; i < u->n_events; i++)
        free(u->events[i].name);
    free(u->events);
    for (size_t i = 0; i < u->n_purchases; i++)
        free(u->purchases[i].name);
    free(u->purchases);
    memset(u, 0, sizeof *u);
}

void user_export_result_free(struct user_export_result *res) {
    for (size_t i = 0; res->users && i < res->n_users; i++)
        user_export_clear(&res->users[i]);
    free(res->users);
    free(res->unknown_external_ids);
    memset(res, 0, sizeof *res);
}

/* Reads uid into u. */
static enum cd_err export_user(struct app *app, struct workspace *ws, uint32_t uid, unsigned parts,
                               struct user_export *u) {
    const struct store_user_ops *uo = STORE_OPS(app->store)->users;
    struct export_ctx ec = {u, false};
    memset(u, 0, sizeof *u);
    enum cd_err err = uo->get(app->store, NULL, ws->id, uid, take_row, &ec);
    if (err == CD_OK && (parts & USER_EXPORT_ALIASES))
        err = uo->aliases_of(app->store, NULL, ws->id, uid, take_alias, &ec);
    if (err == CD_OK && (parts & USER_EXPORT_DEVICES))
        err = uo->devices_of(app->store, NULL, ws->id, uid, take_device, &ec);
    if (err == CD_OK && (parts & USER_EXPORT_EVENTS))
        err = uo->events_of(app->store, NULL, ws->id, uid, take_event, &ec);
    if (err == CD_OK && (ec.failed || !u->braze_id))
        err = ec.failed ? CD_E_NOMEM : !u->created_at && !u->attrs ? CD_E_NOT_FOUND : CD_E_STORE;
    const uint8_t *r = ws->ident.users[uid].bid + 4; /* the 4 random bytes of the braze_id */
    u->random_bucket =
        (int)(((uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 | (uint32_t)r[2] << 8 | (uint32_t)r[3]) %
              10000);
    if (err != CD_OK)
        user_export_clear(u);
    return err;
}

enum cd_err users_export_uid(struct app *app, struct workspace *ws, uint32_t uid, unsigned parts,
                             struct user_export *out) {
    return export_user(app, ws, uid, parts, out);
}

void user_export_free(struct user_export *u) {
    if (u)
        user_export_clear(u);
}

/* Appends uid's export once (uids already exported are skipped); `seen` holds the uids done,
 * at most one per identifier of the request. */
static enum cd_err add_user(struct app *app, struct workspace *ws, uint32_t uid, unsigned parts,
                            struct user_export_result *res, uint32_t *seen, size_t *n_seen) {
    for (size_t i = 0; i < *n_seen; i++)
        if (seen[i] == uid)
            return CD_OK;
    seen[(*n_seen)++] = uid;
    enum cd_err err = export_user(app, ws, uid, parts, &res->users[res->n_users]);
    if (err == CD_OK)
        res->n_users++;
    return err;
}

enum cd_err users_export_ids(struct app *app, struct workspace *ws,
                             const struct user_export_request *req,
                             struct user_export_result *res) {
    memset(res, 0, sizeof *res);
    enum cd_err err = CD_OK;
    uint32_t *holders = NULL, *seen = NULL;
    size_t n_holders = 0, n_seen = 0;
    workspace_read_begin(ws);
    /* every user of the email (phone number) is exported, as Braze does */
    if (req->email)
        err = user_contact_holders(ws, IDENTITY_EMAIL, req->email, &holders, &n_holders);
    else if (req->phone)
        err = user_contact_holders(ws, IDENTITY_PHONE, req->phone, &holders, &n_holders);
    size_t max = req->n_external_ids + req->n_aliases + n_holders + 2;
    if (err == CD_OK) {
        seen = malloc(max * sizeof *seen);
        res->users = calloc(max, sizeof *res->users);
        res->unknown_external_ids =
            calloc(req->n_external_ids + 1, sizeof *res->unknown_external_ids);
        if (!seen || !res->users || !res->unknown_external_ids)
            err = CD_E_NOMEM;
    }
    for (size_t i = 0; i < req->n_external_ids && err == CD_OK; i++) {
        const char *e = req->external_ids[i];
        uint32_t uid = e ? identity_by_external(&ws->ident, e, NULL) : 0;
        if (!uid)
            res->unknown_external_ids[res->n_unknown++] = i;
        else
            err = add_user(app, ws, uid, req->parts, res, seen, &n_seen);
    }
    for (size_t i = 0; i < req->n_aliases && err == CD_OK; i++) {
        const struct user_ref *a = &req->aliases[i];
        uint32_t uid = a->kind == USER_REF_ALIAS
                           ? identity_by_alias(&ws->ident, a->alias_label, a->alias_name, NULL)
                           : 0;
        if (uid)
            err = add_user(app, ws, uid, req->parts, res, seen, &n_seen);
    }
    uint32_t uid = req->device_id ? identity_device_owner(&ws->ident, req->device_id) : 0;
    if (uid && err == CD_OK)
        err = add_user(app, ws, uid, req->parts, res, seen, &n_seen);
    for (size_t i = 0; i < n_holders && err == CD_OK; i++)
        err = add_user(app, ws, holders[i], req->parts, res, seen, &n_seen);
    uid = req->braze_id ? identity_by_braze_id(&ws->ident, req->braze_id) : 0;
    if (uid && err == CD_OK)
        err = add_user(app, ws, uid, req->parts, res, seen, &n_seen);
    workspace_read_end(ws);
    free(seen);
    free(holders);
    if (err != CD_OK)
        user_export_result_free(res);
    return err;
}
