/*
 * user_common.c — creating, resolving and deleting users (see user_int.h). The store row is
 * written first, then the identity index, inside the caller's workspace write.
 */
#include "core/users/user_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void user_minor_error(json_t *errors, const char *type, const char *input_array, size_t index) {
    json_array_append_new(errors, json_pack("{s:s, s:s, s:I}", "type", type, "input_array",
                                            input_array, "index", (json_int_t)index));
}

bool user_alias_valid(const json_t *alias, const char **label, const char **name) {
    const char *l = json_string_value(json_object_get(alias, "alias_label"));
    const char *n = json_string_value(json_object_get(alias, "alias_name"));
    if (!json_is_object(alias) || !l || !n || !*l || !*n)
        return false;
    *label = l;
    *name = n;
    return true;
}

enum cd_err user_create(struct app *app, struct workspace *ws, const char *ext,
                        const char *alias_label, const char *alias_name, const char *device_id,
                        bool created_anon, int64_t now, uint32_t *uid) {
    const struct store_user_ops *uo = STORE_OPS(app->store)->users;
    struct identity *id = &ws->ident;
    uint32_t u = id->n_users;
    uint8_t bid[12];
    char bid_text[BRAZE_ID_LEN + 1];
    if (u == UINT32_MAX || identity_new_braze_id(u, now, bid) != 0)
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
    enum cd_err err = uo->insert(app->store, ws->id, &row);
    if (err == CD_OK && alias_label)
        err = uo->alias_put(app->store, ws->id, alias_label, alias_name, u);
    if (err == CD_OK && device_id)
        err = uo->device_put(app->store, ws->id, device_id, u);
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
    char ext[1024];
    json_t *old_attrs = NULL;
    enum cd_err err = user_external_id(app, ws, uid, ext, sizeof ext);
    if (err == CD_OK)
        err = user_attrs_load(app, ws, uid, &old_attrs);
    struct ident_list al = {&ws->ident, 1}, dl = {&ws->ident, 0};
    if (err == CD_OK)
        err = uo->aliases_of(app->store, ws->id, uid, drop_ident, &al);
    if (err == CD_OK)
        err = uo->devices_of(app->store, ws->id, uid, drop_ident, &dl);
    if (err == CD_OK)
        err = uo->remove(app->store, ws->id, uid, now);
    if (err == CD_OK)
        attr_index_set(&ws->attrs, uid, old_attrs, NULL);
    json_decref(old_attrs);
    if (err != CD_OK)
        return err;
    event_index_drop_user(&ws->events, uid);
    if (*ext)
        identity_del_external(&ws->ident, ext);
    identity_kill_user(&ws->ident, uid);
    cohort_set_drop_user(&ws->cohorts, uid);
    return CD_OK;
}

struct row_copy {
    char *buf;
    size_t len;
    json_t *attrs;
};

static void copy_ext(void *ctx, const struct user_row *u) {
    struct row_copy *rc = ctx;
    snprintf(rc->buf, rc->len, "%s", u->external_id ? u->external_id : "");
}

enum cd_err user_external_id(struct app *app, struct workspace *ws, uint32_t uid, char *buf,
                             size_t buf_len) {
    struct row_copy rc = {buf, buf_len, NULL};
    buf[0] = '\0';
    return STORE_OPS(app->store)->users->get(app->store, ws->id, uid, copy_ext, &rc);
}

static void copy_attrs(void *ctx, const struct user_row *u) {
    struct row_copy *rc = ctx;
    rc->attrs = json_loads(u->attrs ? u->attrs : "{}", 0, NULL);
}

enum cd_err user_attrs_load(struct app *app, struct workspace *ws, uint32_t uid, json_t **attrs) {
    struct row_copy rc = {NULL, 0, NULL};
    enum cd_err err = STORE_OPS(app->store)->users->get(app->store, ws->id, uid, copy_attrs, &rc);
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

enum cd_err users_profile(struct app *app, struct workspace *ws, uint32_t uid, char *ext,
                          size_t ext_len, json_t **attrs) {
    struct row_copy rc = {ext, ext_len, NULL};
    ext[0] = '\0';
    enum cd_err err = STORE_OPS(app->store)->users->get(app->store, ws->id, uid, copy_profile, &rc);
    if (err == CD_OK && !json_is_object(rc.attrs)) {
        json_decref(rc.attrs);
        rc.attrs = json_object();
    }
    *attrs = rc.attrs;
    return err;
}

enum cd_err user_attrs_store(struct app *app, struct workspace *ws, uint32_t uid, const json_t *old,
                             const json_t *attrs, int64_t now) {
    char *text = json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return CD_E_NOMEM;
    enum cd_err err = STORE_OPS(app->store)->users->set_attrs(app->store, ws->id, uid, text, now);
    free(text);
    if (err == CD_OK && attr_index_set(&ws->attrs, uid, old, attrs) != 0)
        err = CD_E_NOMEM;
    return err;
}

enum cd_err user_resolve(struct app *app, struct workspace *ws, const json_t *obj,
                         bool alias_creates_by_default, int64_t now, uint32_t *uid,
                         const char **minor) {
    *uid = 0;
    *minor = NULL;
    const json_t *ueo = json_object_get(obj, "_update_existing_only");
    if (ueo && !json_is_boolean(ueo) && !json_is_null(ueo)) {
        *minor = "'_update_existing_only' must be a boolean";
        return CD_OK;
    }
    const json_t *ext = json_object_get(obj, "external_id");
    const json_t *alias = json_object_get(obj, "user_alias");
    const json_t *bid = json_object_get(obj, "braze_id");
    if (ext && !json_is_null(ext)) {
        const char *e = json_string_value(ext);
        if (!e || !*e) {
            *minor = "'external_id' must be a non-empty string";
            return CD_OK;
        }
        *uid = identity_by_external(&ws->ident, e, NULL);
        if (*uid || json_is_true(ueo))
            goto done;
        return user_create(app, ws, e, NULL, NULL, NULL, false, now, uid);
    }
    if (alias && !json_is_null(alias)) {
        const char *label, *name;
        if (!user_alias_valid(alias, &label, &name)) {
            *minor = "'user_alias' must hold non-empty 'alias_name' and 'alias_label' strings";
            return CD_OK;
        }
        *uid = identity_by_alias(&ws->ident, label, name, NULL);
        bool create = ueo ? json_is_false(ueo) : alias_creates_by_default;
        if (*uid || !create)
            goto done;
        return user_create(app, ws, NULL, label, name, NULL, false, now, uid);
    }
    if (bid && !json_is_null(bid)) {
        const char *b = json_string_value(bid);
        *uid = b ? identity_by_braze_id(&ws->ident, b) : 0;
        goto done;
    }
    *minor = "'external_id' or 'braze_id' or 'user_alias' is required";
    return CD_OK;
done:
    if (!*uid)
        *minor = "no user matches this identifier and none may be created";
    return CD_OK;
}
