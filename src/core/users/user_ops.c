/*
 * user_ops.c — aliases, identification (merging an alias-only or anonymous profile into an
 * identified one), deletion, and device traffic. Each call is one workspace write.
 */
#include "core/users/user_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/events/event.h"
#include "util/crypto.h"
#include "util/timeutil.h"

/* Whether uid holds an alias of label under another name than `name`: in the store (this
 * write's transaction) or among the `n_puts` aliases this request adds. A user holds one
 * alias_name per alias_label (Braze's user alias object). */
struct label_probe {
    const char *label, *name;
    bool held;
};

static void probe_label(void *ctx, const struct ident_row *r) {
    struct label_probe *p = ctx;
    if (strcmp(r->a, p->label) == 0 && strcmp(r->b, p->name) != 0)
        p->held = true;
}

static enum cd_err label_held(struct app *app, struct workspace *ws, uint32_t uid,
                              const char *label, const char *name, const struct ident_row *puts,
                              size_t n_puts, bool *held) {
    struct label_probe p = {label, name, false};
    for (size_t i = 0; i < n_puts && !p.held; i++)
        if (puts[i].uid == uid)
            probe_label(&p, &puts[i]);
    enum cd_err err = p.held ? CD_OK
                             : STORE_OPS(app->store)
                                   ->users->aliases_of(app->store, workspace_txn(ws), ws->id, uid,
                                                       probe_label, &p);
    *held = p.held;
    return err;
}

enum cd_err users_alias_new(struct app *app, struct workspace *ws,
                            const struct alias_new_item *items, size_t n_items,
                            struct users_count_result *res) {
    memset(res, 0, sizeof *res);
    int64_t now = time_now_ms();
    /* aliases of existing users, written in one store call after the loop */
    struct ident_row *puts = calloc(n_items + 1, sizeof *puts);
    size_t n_puts = 0;
    if (!puts)
        return CD_E_NOMEM;
    enum cd_err err = workspace_write_begin(app, ws);
    if (err != CD_OK) {
        free(puts);
        return err;
    }
    for (size_t i = 0; i < n_items && err == CD_OK; i++) {
        const struct alias_new_item *it = &items[i];
        enum user_minor minor = it->invalid;
        const char *label = it->alias_label, *name = it->alias_name;
        uint32_t owner = minor ? 0 : identity_by_alias(&ws->ident, label, name, NULL);
        if (minor) {
            /* the parser found it */
        } else if (it->external_id) {
            uint32_t uid = identity_by_external(&ws->ident, it->external_id, NULL);
            bool held = false;
            if (uid && !owner)
                err = label_held(app, ws, uid, label, name, puts, n_puts, &held);
            if (err != CD_OK)
                break;
            if (!uid)
                minor = USER_MINOR_NO_USER_WITH_EXTERNAL;
            else if (owner && owner != uid)
                minor = USER_MINOR_ALIAS_TAKEN;
            else if (held)
                minor = USER_MINOR_LABEL_HELD;
            else {
                puts[n_puts++] = (struct ident_row){uid, label, name};
                if (identity_put_alias(&ws->ident, label, name, uid) != 0)
                    err = CD_E_NOMEM;
            }
        } else if (owner) {
            minor = USER_MINOR_ALIAS_TAKEN;
        } else {
            uint32_t uid;
            err = user_create(app, ws, NULL, label, name, NULL, false, now, &uid);
        }
        if (err == CD_OK && minor)
            err = user_minor_add(&res->minors, minor, USER_ARRAY_USER_ALIASES, i);
        else if (err == CD_OK)
            res->n++;
    }
    if (err == CD_OK && n_puts)
        err = STORE_OPS(app->store)->users->aliases_put(workspace_txn(ws), ws->id, puts, n_puts);
    free(puts);
    if ((err = workspace_write_end(app, ws, err)) != CD_OK)
        users_minors_free(&res->minors);
    return err;
}

struct repoint {
    struct identity *id;
    uint32_t to;
    const char *label; /* for label_taken */
    bool label_taken;
    int failed;
};

static void repoint_alias(void *ctx, const struct ident_row *r) {
    struct repoint *rp = ctx;
    if (identity_put_alias(rp->id, r->a, r->b, rp->to) != 0)
        rp->failed = 1;
}

static void repoint_device(void *ctx, const struct ident_row *r) {
    struct repoint *rp = ctx;
    if (identity_put_device(rp->id, r->a, rp->to) != 0)
        rp->failed = 1;
}

static void find_label(void *ctx, const struct ident_row *r) {
    struct repoint *rp = ctx;
    if (strcmp(r->a, rp->label) == 0)
        rp->label_taken = true;
}

/* Merges attributes present only on `from` into `to`, moves aliases, devices and event
 * summaries, and deletes `from`. */
static enum cd_err merge_users(struct app *app, struct workspace *ws, uint32_t from, uint32_t to,
                               int64_t now) {
    const struct store_user_ops *uo = STORE_OPS(app->store)->users;
    json_t *fa = NULL, *ta = NULL;
    enum cd_err err = user_attrs_load(app, ws, from, &fa);
    if (err == CD_OK)
        err = user_attrs_load(app, ws, to, &ta);
    if (err == CD_OK) {
        json_t *old = json_deep_copy(ta);
        json_object_update_missing(ta, fa);
        err = user_attrs_store(app, ws, to, old, ta, now);
        json_decref(old);
    }
    json_decref(fa);
    json_decref(ta);
    struct repoint rp = {.id = &ws->ident, .to = to};
    if (err == CD_OK)
        err = uo->aliases_of(app->store, workspace_txn(ws), ws->id, from, repoint_alias, &rp);
    if (err == CD_OK)
        err = uo->devices_of(app->store, workspace_txn(ws), ws->id, from, repoint_device, &rp);
    if (err == CD_OK && rp.failed)
        err = CD_E_NOMEM;
    if (err == CD_OK)
        err = uo->merge_into(workspace_txn(ws), ws->id, from, to);
    if (err == CD_OK && event_index_merge(&ws->events, from, to) != 0)
        err = CD_E_NOMEM;
    if (err == CD_OK)
        err = user_remove(app, ws, from, now);
    return err;
}

/* Makes `from` (alias-only, email-only, phone-only) the user of external id ext: it takes ext
 * when nobody has it, else it is merged into that user (when merge). */
static enum cd_err identify_into(struct app *app, struct workspace *ws, uint32_t from,
                                 const char *ext, bool merge, int64_t now) {
    uint32_t to = identity_by_external(&ws->ident, ext, NULL);
    if (!to) {
        enum cd_err err = STORE_OPS(app->store)
                              ->users->set_external_id(workspace_txn(ws), ws->id, from, ext, now);
        if (err == CD_OK && identity_set_external(&ws->ident, from, ext) != 0)
            err = CD_E_NOMEM;
        return err;
    }
    return merge ? merge_users(app, ws, from, to, now) : CD_OK;
}

/* One emails_to_identify or phone_numbers_to_identify entry. */
static enum cd_err identify_contact(struct app *app, struct workspace *ws,
                                    const struct identify_item *it, bool merge, int64_t now,
                                    enum user_minor *minor) {
    enum identity_contact c =
        it->array == USER_ARRAY_EMAILS_TO_IDENTIFY ? IDENTITY_EMAIL : IDENTITY_PHONE;
    uint32_t from;
    size_t n_left;
    enum cd_err err = user_contact_pick(app, ws, c, it->address, it->prioritization,
                                        it->n_prioritization, &from, &n_left);
    if (err != CD_OK)
        return err;
    uint32_t to = identity_by_external(&ws->ident, it->external_id, NULL);
    if (n_left == 0)
        *minor = USER_MINOR_NO_USER_WITH_CONTACT;
    else if (n_left > 1)
        *minor = USER_MINOR_CONTACT_AMBIGUOUS;
    else if (from != to && identity_is_identified(&ws->ident, from))
        *minor = USER_MINOR_CONTACT_OTHER_EXTERNAL;
    if (*minor || from == to)
        return CD_OK;
    return identify_into(app, ws, from, it->external_id, merge, now);
}

enum cd_err users_merge_locked(struct app *app, struct workspace *ws, uint32_t from, uint32_t to,
                               int64_t now) {
    return merge_users(app, ws, from, to, now);
}

/* One identify entry; a problem is returned through *minor. */
static enum cd_err identify_one(struct app *app, struct workspace *ws,
                                const struct identify_item *it, bool merge, int64_t now,
                                enum user_minor *minor) {
    const char *ext = it->external_id;
    *minor = it->invalid;
    if (*minor)
        return CD_OK;
    if (it->array != USER_ARRAY_ALIASES_TO_IDENTIFY)
        return identify_contact(app, ws, it, merge, now, minor);
    uint32_t from = identity_by_alias(&ws->ident, it->alias_label, it->alias_name, NULL);
    uint32_t to = identity_by_external(&ws->ident, ext, NULL);
    if (!from) {
        *minor = USER_MINOR_NO_USER_WITH_ALIAS;
        return CD_OK;
    }
    if (from == to)
        return CD_OK;
    if (identity_is_identified(&ws->ident, from)) {
        *minor = USER_MINOR_ALIAS_OTHER_EXTERNAL;
        return CD_OK;
    }
    if (to) {
        struct repoint rp = {.label = it->alias_label};
        enum cd_err err =
            STORE_OPS(app->store)
                ->users->aliases_of(app->store, workspace_txn(ws), ws->id, to, find_label, &rp);
        if (err != CD_OK)
            return err;
        if (rp.label_taken) {
            *minor = USER_MINOR_LABEL_TAKEN;
            return CD_OK;
        }
    }
    return identify_into(app, ws, from, ext, merge, now);
}

enum cd_err users_identify(struct app *app, struct workspace *ws, const struct identify_item *items,
                           size_t n_items, bool merge, struct users_count_result *res) {
    memset(res, 0, sizeof *res);
    int64_t now = time_now_ms();
    enum cd_err err = workspace_write_begin(app, ws);
    if (err != CD_OK)
        return err;
    for (size_t i = 0; i < n_items && err == CD_OK; i++) {
        enum user_minor minor;
        err = identify_one(app, ws, &items[i], merge, now, &minor);
        if (err == CD_OK && minor)
            err = user_minor_add(&res->minors, minor, items[i].array, items[i].index);
        else if (err == CD_OK)
            res->n++;
    }
    if ((err = workspace_write_end(app, ws, err)) != CD_OK)
        users_minors_free(&res->minors);
    return err;
}

/* Deletes the holders of an email or phone reference (see users_delete). */
static enum cd_err delete_contact(struct app *app, struct workspace *ws, const struct user_ref *r,
                                  int64_t now, size_t *n_deleted) {
    enum identity_contact c = r->kind == USER_REF_EMAIL ? IDENTITY_EMAIL : IDENTITY_PHONE;
    uint32_t *v = NULL, one = 0;
    size_t n;
    enum cd_err err;
    if (r->n_prioritization) {
        err = user_contact_pick(app, ws, c, r->address, r->prioritization, r->n_prioritization,
                                &one, &n);
        if (err != CD_OK || n != 1)
            return err; /* nobody, or ambiguous: nothing is deleted */
    } else if ((err = user_contact_holders(ws, c, r->address, &v, &n)) != CD_OK) {
        return err;
    }
    for (size_t i = 0; i < n && err == CD_OK; i++)
        if ((err = user_remove(app, ws, v ? v[i] : one, now)) == CD_OK)
            (*n_deleted)++;
    free(v);
    return err;
}

enum cd_err users_delete(struct app *app, struct workspace *ws, const struct user_ref *refs,
                         size_t n_refs, size_t *n_deleted) {
    *n_deleted = 0;
    int64_t now = time_now_ms();
    enum cd_err err = workspace_write_begin(app, ws);
    if (err != CD_OK)
        return err;
    for (size_t i = 0; i < n_refs && err == CD_OK; i++) {
        const struct user_ref *r = &refs[i];
        uint32_t uid = 0;
        if (r->kind == USER_REF_EXTERNAL_ID)
            uid = identity_by_external(&ws->ident, r->external_id, NULL);
        else if (r->kind == USER_REF_ALIAS)
            uid = identity_by_alias(&ws->ident, r->alias_label, r->alias_name, NULL);
        else if (r->kind == USER_REF_BRAZE_ID)
            uid = identity_by_braze_id(&ws->ident, r->braze_id);
        else if (r->kind == USER_REF_EMAIL || r->kind == USER_REF_PHONE) {
            err = delete_contact(app, ws, r, now, n_deleted);
            continue;
        }
        if (!uid)
            continue; /* Braze counts only users queued for deletion */
        if ((err = user_remove(app, ws, uid, now)) == CD_OK)
            (*n_deleted)++;
    }
    err = workspace_write_end(app, ws, err);
    if (err != CD_OK)
        *n_deleted = 0;
    return err;
}

/* Finds or creates the user a device belongs to after this call (see users.h). */
static enum cd_err device_owner_after(struct app *app, struct workspace *ws, const char *device,
                                      const char *ext, int64_t now, uint32_t *uid) {
    const struct store_user_ops *uo = STORE_OPS(app->store)->users;
    uint32_t owner = identity_device_owner(&ws->ident, device);
    if (!ext) {
        if (owner) {
            *uid = owner;
            return CD_OK;
        }
        return user_create(app, ws, NULL, NULL, NULL, device, true, now, uid);
    }
    uint32_t known = identity_by_external(&ws->ident, ext, NULL);
    enum cd_err err = CD_OK;
    if (known) {
        *uid = known;
    } else if (owner && !identity_is_identified(&ws->ident, owner)) {
        /* the anonymous user becomes identified; its device stops matching cohorts */
        err = uo->set_external_id(workspace_txn(ws), ws->id, owner, ext, now);
        if (err == CD_OK && identity_set_external(&ws->ident, owner, ext) != 0)
            err = CD_E_NOMEM;
        *uid = owner;
        return err;
    } else if (!owner) {
        /* an unknown device with an identity: anonymous first, identified at once */
        err = user_create(app, ws, NULL, NULL, NULL, device, true, now, uid);
        if (err == CD_OK)
            err = uo->set_external_id(workspace_txn(ws), ws->id, *uid, ext, now);
        if (err == CD_OK && identity_set_external(&ws->ident, *uid, ext) != 0)
            err = CD_E_NOMEM;
        return err;
    } else {
        err = user_create(app, ws, ext, NULL, NULL, NULL, false, now, uid);
    }
    if (err == CD_OK && owner != *uid) {
        err = uo->device_put(workspace_txn(ws), ws->id, device, *uid);
        if (err == CD_OK && identity_put_device(&ws->ident, device, *uid) != 0)
            err = CD_E_NOMEM;
    }
    return err;
}

/* The SessionStart Currents event of uid on device. */
static enum cd_err session_start(struct app *app, struct workspace *ws,
                                 const struct device_track_request *req, uint32_t uid,
                                 const char *bid, int64_t now) {
    char *ext = NULL, session[37];
    enum cd_err err = user_external_id(app, ws, uid, &ext);
    if (err == CD_OK && crypto_uuid4(session) != 0)
        err = CD_E_INTERNAL;
    if (err == CD_OK) {
        struct event_user eu = {bid, ext, req->device_id, NULL};
        json_t *p = json_pack("{s:s, s:s}", "app_id", req->app_id ? req->app_id : ws->public_id,
                              "session_id", session);
        if (p && req->platform)
            json_object_set_new(p, "platform", json_string(req->platform));
        err = p ? event_emit(app, ws, "users.behaviors.app.SessionStart", now, &eu, p) : CD_E_NOMEM;
    }
    free(ext);
    return err;
}

enum cd_err users_device_track(struct app *app, struct workspace *ws,
                               const struct device_track_request *req,
                               struct device_track_result *res) {
    memset(res, 0, sizeof *res);
    int64_t now = time_now_ms();
    uint32_t uid = 0;
    enum cd_err err = workspace_write_begin(app, ws);
    if (err != CD_OK)
        return err;
    err = device_owner_after(app, ws, req->device_id, req->external_id, now, &uid);
    if (err == CD_OK)
        identity_braze_id_text(ws->ident.users[uid].bid, res->braze_id);
    if (err == CD_OK && req->session_start)
        err = session_start(app, ws, req, uid, res->braze_id, now);
    bool identified = err == CD_OK && identity_is_identified(&ws->ident, uid);
    if ((err = workspace_write_end(app, ws, err)) != CD_OK) {
        memset(res, 0, sizeof *res);
        return err;
    }
    res->identified = identified;
    return CD_OK;
}
