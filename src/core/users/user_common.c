/*
 * user_common.c — creating, resolving and deleting users (see user_int.h). The store row is
 * written first, then the identity index, inside the caller's workspace write.
 */
#include "core/users/user_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum cd_err user_minor_add(struct user_minors *m, enum user_minor code, enum user_array array,
                           size_t index) {
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 8;
        struct user_minor_error *v = realloc(m->v, cap * sizeof *v);
        if (!v)
            return CD_E_NOMEM;
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n++] = (struct user_minor_error){code, array, index};
    return CD_OK;
}

enum cd_err users_minors_add(struct user_minors *m, enum user_minor code, enum user_array array,
                             size_t index) {
    return user_minor_add(m, code, array, index);
}

void users_minors_free(struct user_minors *m) {
    free(m->v);
    memset(m, 0, sizeof *m);
}

enum cd_err user_create(struct app *app, struct workspace *ws, const char *ext,
                        const char *alias_label, const char *alias_name, const char *device_id,
                        bool created_anon, int64_t now, uint32_t *uid) {
    const struct store_user_ops *uo = STORE_OPS(app->store)->users;
    struct store_txn *t = workspace_txn(ws);
    struct identity *id = &ws->ident;
    uint32_t u = 0;
    uint8_t bid[12];
    char bid_text[BRAZE_ID_LEN + 1];
    enum cd_err err = uo->uid_next(t, ws->id, &u);
    if (err != CD_OK)
        return err;
    if (identity_new_braze_id(u, now, bid) != 0)
        return CD_E_INTERNAL;
    identity_braze_id_text(bid, bid_text);
    struct user_row row = {
        .uid = u,
        .braze_id = bid_text,
        .external_id = ext,
        .created_anonymous = created_anon,
        .attrs = "{}",
        .created_at = now,
        .updated_at = now,
    };
    struct ident_row alias = {u, alias_label, alias_name};
    err = uo->insert(t, ws->id, &row);
    if (err == CD_OK && alias_label)
        err = uo->aliases_put(t, ws->id, &alias, 1);
    if (err == CD_OK && device_id)
        err = uo->device_put(t, ws->id, device_id, u);
    if (err != CD_OK)
        return err;
    if (identity_add_user(id, u, bid, ext, created_anon, false) != 0 ||
        (alias_label && identity_put_alias(id, alias_label, alias_name, u) != 0) ||
        (device_id && identity_put_device(id, device_id, u) != 0))
        return CD_E_NOMEM;
    *uid = u;
    return CD_OK;
}

struct ident_list {
    struct identity *id;
    int is_alias;
};

static void drop_ident(void *ctx, const struct ident_row *r) {
    struct ident_list *l = ctx;
    if (l->is_alias)
        identity_del_alias(l->id, r->a, r->b);
    else
        identity_del_device(l->id, r->a);
}

enum cd_err user_remove(struct app *app, struct workspace *ws, uint32_t uid, int64_t now) {
    const struct store_user_ops *uo = STORE_OPS(app->store)->users;
    char *ext = NULL;
    json_t *old_attrs = NULL;
    enum cd_err err = user_external_id(app, ws, uid, &ext);
    if (err == CD_OK)
        err = user_attrs_load(app, ws, uid, &old_attrs);
    struct ident_list al = {&ws->ident, 1}, dl = {&ws->ident, 0};
    if (err == CD_OK)
        err = uo->aliases_of(app->store, workspace_txn(ws), ws->id, uid, drop_ident, &al);
    if (err == CD_OK)
        err = uo->devices_of(app->store, workspace_txn(ws), ws->id, uid, drop_ident, &dl);
    if (err == CD_OK)
        err = uo->remove(workspace_txn(ws), ws->id, uid, now);
    if (err == CD_OK) {
        attr_index_set(&ws->attrs, uid, old_attrs, NULL);
        user_contacts_move(ws, uid, old_attrs, NULL);
    }
    json_decref(old_attrs);
    if (err != CD_OK) {
        free(ext);
        return err;
    }
    event_index_drop_user(&ws->events, uid);
    if (ext)
        identity_del_external(&ws->ident, ext);
    free(ext);
    identity_kill_user(&ws->ident, uid);
    cohort_set_drop_user(&ws->cohorts, uid);
    return CD_OK;
}

/* What a store read copies out of the row: the external id (owned, or NULL when none) and
 * the attribute object. `failed` is set when a copy could not be allocated. */
struct row_copy {
    char *ext;
    json_t *attrs;
    bool failed;
};

static void copy_ext(void *ctx, const struct user_row *u) {
    struct row_copy *rc = ctx;
    if (u->external_id && !(rc->ext = strdup(u->external_id)))
        rc->failed = true;
}

enum cd_err user_external_id(struct app *app, struct workspace *ws, uint32_t uid, char **ext) {
    struct row_copy rc = {NULL, NULL, false};
    enum cd_err err = STORE_OPS(app->store)
                          ->users->get(app->store, workspace_txn(ws), ws->id, uid, copy_ext, &rc);
    if (err == CD_OK && rc.failed)
        err = CD_E_NOMEM;
    if (err != CD_OK) {
        free(rc.ext);
        rc.ext = NULL;
    }
    *ext = rc.ext;
    return err;
}

static void copy_attrs(void *ctx, const struct user_row *u) {
    struct row_copy *rc = ctx;
    rc->attrs = json_loads(u->attrs ? u->attrs : "{}", 0, NULL);
}

enum cd_err user_attrs_load(struct app *app, struct workspace *ws, uint32_t uid, json_t **attrs) {
    struct row_copy rc = {NULL, NULL, false};
    enum cd_err err = STORE_OPS(app->store)
                          ->users->get(app->store, workspace_txn(ws), ws->id, uid, copy_attrs, &rc);
    if (err != CD_OK)
        return err;
    if (!json_is_object(rc.attrs)) {
        json_decref(rc.attrs);
        rc.attrs = json_object();
    }
    *attrs = rc.attrs;
    return CD_OK;
}

static void copy_profile(void *ctx, const struct user_row *u) {
    copy_ext(ctx, u);
    copy_attrs(ctx, u);
}

enum cd_err users_profile(struct app *app, struct workspace *ws, uint32_t uid, char **external_id,
                          json_t **attrs) {
    struct row_copy rc = {NULL, NULL, false};
    /* read outside any write (campaign sends): committed state */
    enum cd_err err =
        STORE_OPS(app->store)->users->get(app->store, NULL, ws->id, uid, copy_profile, &rc);
    if (err == CD_OK && rc.failed)
        err = CD_E_NOMEM;
    if (err == CD_OK && !rc.ext && !(rc.ext = strdup("")))
        err = CD_E_NOMEM;
    if (err == CD_OK && !json_is_object(rc.attrs)) {
        json_decref(rc.attrs);
        if (!(rc.attrs = json_object()))
            err = CD_E_NOMEM;
    }
    if (err != CD_OK) {
        free(rc.ext);
        json_decref(rc.attrs);
        rc.ext = NULL;
        rc.attrs = NULL;
    }
    *external_id = rc.ext;
    *attrs = rc.attrs;
    return err;
}

enum cd_err user_attrs_store(struct app *app, struct workspace *ws, uint32_t uid, const json_t *old,
                             const json_t *attrs, int64_t now) {
    char *text = json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return CD_E_NOMEM;
    enum cd_err err =
        STORE_OPS(app->store)->users->set_attrs(workspace_txn(ws), ws->id, uid, text, now);
    free(text);
    if (err == CD_OK && (attr_index_set(&ws->attrs, uid, old, attrs) != 0 ||
                         user_contacts_move(ws, uid, old, attrs) != 0))
        err = CD_E_NOMEM;
    return err;
}

/* The profile field that holds each enum identity_contact. */
static const char *const contact_field[] = {"email", "phone"};

int user_contacts_move(struct workspace *ws, uint32_t uid, const json_t *old, const json_t *now) {
    for (int c = IDENTITY_EMAIL; c <= IDENTITY_PHONE; c++) {
        const json_t *o = json_object_get(old, contact_field[c]);
        const json_t *n = json_object_get(now, contact_field[c]);
        if (json_is_string(o) && json_is_string(n) && json_equal(o, n))
            continue;
        if (json_is_string(o))
            identity_del_contact(&ws->ident, (enum identity_contact)c, json_string_value(o),
                                 json_string_length(o), uid);
        if (json_is_string(n) &&
            identity_put_contact(&ws->ident, (enum identity_contact)c, json_string_value(n),
                                 json_string_length(n), uid) != 0)
            return -1;
    }
    return 0;
}

static int cmp_uid(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

enum cd_err user_contact_holders(struct workspace *ws, enum identity_contact c, const char *addr,
                                 uint32_t **uids, size_t *n) {
    size_t len = strlen(addr);
    *uids = NULL;
    *n = identity_by_contact(&ws->ident, c, addr, len, NULL, 0);
    if (*n == 0)
        return CD_OK;
    if (!(*uids = malloc(*n * sizeof **uids))) {
        *n = 0;
        return CD_E_NOMEM;
    }
    *n = identity_by_contact(&ws->ident, c, addr, len, *uids, *n);
    qsort(*uids, *n, sizeof **uids, cmp_uid);
    return CD_OK;
}

static void copy_updated(void *ctx, const struct user_row *u) {
    *(int64_t *)ctx = u->updated_at;
}

enum cd_err user_contact_pick(struct app *app, struct workspace *ws, enum identity_contact c,
                              const char *addr, const enum user_priority *rules, size_t n_rules,
                              uint32_t *uid, size_t *n_left) {
    uint32_t *v;
    size_t n;
    *uid = 0;
    enum cd_err err = user_contact_holders(ws, c, addr, &v, &n);
    int64_t *updated = NULL;
    if (err == CD_OK && n > 1 && !(updated = calloc(n, sizeof *updated)))
        err = CD_E_NOMEM;
    /* updated_at is read only when a rule needs it and several candidates are left */
    bool have_updated = false;
    for (size_t r = 0; err == CD_OK && r < n_rules && n > 1; r++) {
        size_t kept = 0;
        if (rules[r] == USER_PRIORITY_IDENTIFIED || rules[r] == USER_PRIORITY_UNIDENTIFIED) {
            bool want = rules[r] == USER_PRIORITY_IDENTIFIED;
            for (size_t i = 0; i < n; i++)
                kept += identity_is_identified(&ws->ident, v[i]) == want;
            if (kept == 0)
                continue; /* a preference: nobody of that kind leaves the candidates as they are */
            for (size_t i = 0, k = 0; i < n; i++)
                if (identity_is_identified(&ws->ident, v[i]) == want) {
                    updated[k] = updated[i];
                    v[k++] = v[i];
                }
            n = kept;
            continue;
        }
        for (size_t i = 0; !have_updated && err == CD_OK && i < n; i++)
            err = STORE_OPS(app->store)
                      ->users->get(app->store, workspace_txn(ws), ws->id, v[i], copy_updated,
                                   &updated[i]);
        have_updated = true;
        int64_t best = updated[0];
        for (size_t i = 1; i < n; i++)
            if (rules[r] == USER_PRIORITY_MOST_RECENT ? updated[i] > best : updated[i] < best)
                best = updated[i];
        for (size_t i = 0; i < n; i++)
            if (updated[i] == best) {
                updated[kept] = updated[i];
                v[kept++] = v[i];
            }
        n = kept;
    }
    if (err == CD_OK && n >= 1)
        *uid = v[0];
    *n_left = err == CD_OK ? n : 0;
    free(updated);
    free(v);
    return err;
}

enum cd_err users_by_contact(struct app *app, struct workspace *ws, bool phone, const char *address,
                             const enum user_priority *rules, size_t n_rules, uint32_t *uid,
                             size_t *n_left) {
    static const enum user_priority track_rules[] = {USER_PRIORITY_IDENTIFIED,
                                                     USER_PRIORITY_MOST_RECENT};
    enum cd_err err =
        user_contact_pick(app, ws, phone ? IDENTITY_PHONE : IDENTITY_EMAIL, address,
                          n_rules ? rules : track_rules, n_rules ? n_rules : 2, uid, n_left);
    if (err == CD_OK && *n_left != 1)
        *uid = 0;
    return err;
}

enum cd_err user_resolve(struct app *app, struct workspace *ws, const struct user_ref *ref,
                         int update_existing_only, bool alias_creates_by_default, int64_t now,
                         uint32_t *uid, enum user_minor *minor) {
    *uid = 0;
    *minor = USER_MINOR_NONE;
    switch (ref->kind) {
    case USER_REF_EXTERNAL_ID:
        *uid = identity_by_external(&ws->ident, ref->external_id, NULL);
        if (*uid || update_existing_only == 1)
            break;
        return user_create(app, ws, ref->external_id, NULL, NULL, NULL, false, now, uid);
    case USER_REF_ALIAS: {
        *uid = identity_by_alias(&ws->ident, ref->alias_label, ref->alias_name, NULL);
        bool create =
            update_existing_only >= 0 ? update_existing_only == 0 : alias_creates_by_default;
        if (*uid || !create)
            break;
        return user_create(app, ws, NULL, ref->alias_label, ref->alias_name, NULL, false, now, uid);
    }
    case USER_REF_BRAZE_ID:
        *uid = ref->braze_id ? identity_by_braze_id(&ws->ident, ref->braze_id) : 0;
        break;
    case USER_REF_EMAIL:
    case USER_REF_PHONE: {
        /* Braze's rule for several users with the address: identified ones first, then the
         * most recently updated */
        static const enum user_priority track_rules[] = {USER_PRIORITY_IDENTIFIED,
                                                         USER_PRIORITY_MOST_RECENT};
        enum identity_contact c = ref->kind == USER_REF_EMAIL ? IDENTITY_EMAIL : IDENTITY_PHONE;
        size_t n_left;
        enum cd_err err = user_contact_pick(app, ws, c, ref->address, track_rules, 2, uid, &n_left);
        if (err != CD_OK)
            return err;
        /* n_left > 1: updated at the same millisecond; any of them */
        if (n_left || update_existing_only == 1)
            break;
        /* an email-only (phone-only) profile, as Braze creates */
        if ((err = user_create(app, ws, NULL, NULL, NULL, NULL, false, now, uid)) != CD_OK)
            return err;
        json_t *old = json_object(), *attrs = json_pack("{s:s}", contact_field[c], ref->address);
        err = old && attrs ? user_attrs_store(app, ws, *uid, old, attrs, now) : CD_E_NOMEM;
        json_decref(old);
        json_decref(attrs);
        return err;
    }
    default:
        *minor = USER_MINOR_NO_IDENTIFIER;
        return CD_OK;
    }
    if (!*uid)
        *minor = USER_MINOR_NO_MATCH;
    return CD_OK;
}
