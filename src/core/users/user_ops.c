/*
 * user_ops.c — aliases, identification (merging an alias-only or anonymous profile into an
 * identified one), deletion, and device traffic. Each call is one workspace write.
 */
#include "core/users/user_int.h"

#include <stdio.h>
#include <string.h>

#include "core/events/event.h"
#include "util/crypto.h"
#include "util/timeutil.h"

static json_t *success(const char *count_key, int n, json_t *errors) {
    json_t *res = json_pack("{s:I, s:s}", count_key, (json_int_t)n, "message", "success");
    if (json_array_size(errors))
        json_object_set(res, "errors", errors);
    json_decref(errors);
    return res;
}

static enum cd_err check_array(const json_t *body, const char *key, size_t max, bool required,
                               struct cd_msg *msg) {
    const json_t *v = json_object_get(body, key);
    if ((!v || json_is_null(v)) && !required)
        return CD_OK;
    if (!json_is_array(v)) {
        return cd_invalid(msg, "'%s' must be an array", key);
    }
    if (json_array_size(v) > max) {
        return cd_invalid(msg, "The max number of ids per request was exceeded");
    }
    return CD_OK;
}

enum cd_err users_alias_new(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                            struct cd_msg *msg) {
    enum cd_err err = check_array(body, "user_aliases", USERS_ALIAS_MAX, true, msg);
    if (err != CD_OK)
        return err;
    const json_t *arr = json_object_get(body, "user_aliases");
    json_t *errors = json_array();
    int n = 0;
    int64_t now = time_now_ms();
    if ((err = workspace_write_begin(app, ws)) != CD_OK) {
        json_decref(errors);
        return err;
    }
    size_t i;
    json_t *obj;
    json_array_foreach(arr, i, obj) {
        const char *label, *name;
        const json_t *ext = json_object_get(obj, "external_id");
        if (!user_alias_valid(obj, &label, &name)) {
            user_minor_error(errors, "'alias_name' and 'alias_label' must be non-empty strings",
                             "user_aliases", i);
            continue;
        }
        if (ext && !json_is_null(ext) && !json_string_value(ext)) {
            user_minor_error(errors, "'external_id' must be a string", "user_aliases", i);
            continue;
        }
        uint32_t owner = identity_by_alias(&ws->ident, label, name, NULL);
        if (ext && json_string_value(ext)) {
            uint32_t uid = identity_by_external(&ws->ident, json_string_value(ext), NULL);
            if (!uid) {
                user_minor_error(errors, "no user has this external_id", "user_aliases", i);
                continue;
            }
            if (owner && owner != uid) {
                user_minor_error(errors, "the alias belongs to another user", "user_aliases", i);
                continue;
            }
            err = STORE_OPS(app->store)->users->alias_put(app->store, ws->id, label, name, uid);
            if (err == CD_OK && identity_put_alias(&ws->ident, label, name, uid) != 0)
                err = CD_E_NOMEM;
        } else if (owner) {
            user_minor_error(errors, "the alias belongs to another user", "user_aliases", i);
            continue;
        } else {
            uint32_t uid;
            err = user_create(app, ws, NULL, label, name, NULL, false, now, &uid);
        }
        if (err != CD_OK)
            break;
        n++;
    }
    if ((err = workspace_write_end(app, ws, err)) != CD_OK) {
        json_decref(errors);
        return err;
    }
    *out = success("aliases_processed", n, errors);
    return CD_OK;
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
        err = uo->aliases_of(app->store, ws->id, from, repoint_alias, &rp);
    if (err == CD_OK)
        err = uo->devices_of(app->store, ws->id, from, repoint_device, &rp);
    if (err == CD_OK && rp.failed)
        err = CD_E_NOMEM;
    if (err == CD_OK)
        err = uo->merge_into(app->store, ws->id, from, to);
    if (err == CD_OK && event_index_merge(&ws->events, from, to) != 0)
        err = CD_E_NOMEM;
    if (err == CD_OK)
        err = user_remove(app, ws, from, now);
    return err;
}

/* One aliases_to_identify entry; returns a minor error text through *minor. */
static enum cd_err identify_one(struct app *app, struct workspace *ws, const json_t *obj,
                                bool merge, int64_t now, const char **minor) {
    const char *ext = json_string_value(json_object_get(obj, "external_id"));
    const char *label, *name;
    *minor = NULL;
    if (!ext || !*ext) {
        *minor = "'external_id' must be a non-empty string";
        return CD_OK;
    }
    if (!user_alias_valid(json_object_get(obj, "user_alias"), &label, &name)) {
        *minor = "'user_alias' must hold non-empty 'alias_name' and 'alias_label' strings";
        return CD_OK;
    }
    uint32_t from = identity_by_alias(&ws->ident, label, name, NULL);
    uint32_t to = identity_by_external(&ws->ident, ext, NULL);
    if (!from) {
        *minor = "no user has this alias";
        return CD_OK;
    }
    if (from == to)
        return CD_OK;
    if (!to) {
        if (identity_is_identified(&ws->ident, from)) {
            *minor = "the alias belongs to a user with another external_id";
            return CD_OK;
        }
        enum cd_err err =
            STORE_OPS(app->store)->users->set_external_id(app->store, ws->id, from, ext, now);
        if (err == CD_OK && identity_set_external(&ws->ident, from, ext) != 0)
            err = CD_E_NOMEM;
        return err;
    }
    if (identity_is_identified(&ws->ident, from)) {
        *minor = "the alias belongs to a user with another external_id";
        return CD_OK;
    }
    struct repoint rp = {.label = label};
    enum cd_err err =
        STORE_OPS(app->store)->users->aliases_of(app->store, ws->id, to, find_label, &rp);
    if (err != CD_OK)
        return err;
    if (rp.label_taken) {
        *minor = "the identified user already has an alias with this label; not merged";
        return CD_OK;
    }
    return merge ? merge_users(app, ws, from, to, now) : CD_OK;
}

enum cd_err users_identify(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                           struct cd_msg *msg) {
    enum cd_err err = check_array(body, "aliases_to_identify", USERS_ALIAS_MAX, false, msg);
    if (err != CD_OK)
        return err;
    const json_t *arr = json_object_get(body, "aliases_to_identify");
    const json_t *mb = json_object_get(body, "merge_behavior");
    if (mb && !json_is_null(mb) &&
        (!json_is_string(mb) || (strcmp(json_string_value(mb), "none") != 0 &&
                                 strcmp(json_string_value(mb), "merge") != 0))) {
        return cd_invalid(msg, "'merge_behavior' must be \"none\" or \"merge\"");
    }
    bool merge = !mb || json_is_null(mb) || strcmp(json_string_value(mb), "merge") == 0;
    json_t *errors = json_array();
    static const char *const unsupported[] = {"emails_to_identify", "phone_numbers_to_identify"};
    bool any = json_is_array(arr);
    for (int k = 0; k < 2; k++) {
        const json_t *v = json_object_get(body, unsupported[k]);
        for (size_t i = 0; i < json_array_size(v); i++)
            user_minor_error(errors, "identifying by email or phone is not supported",
                             unsupported[k], i);
        any = any || json_is_array(v);
    }
    if (!any) {
        json_decref(errors);
        snprintf(msg->text, sizeof msg->text,
                 "'aliases_to_identify', 'emails_to_identify' or 'phone_numbers_to_identify' "
                 "is required");
        return CD_E_INVALID;
    }
    int n = 0;
    int64_t now = time_now_ms();
    if ((err = workspace_write_begin(app, ws)) != CD_OK) {
        json_decref(errors);
        return err;
    }
    size_t i;
    json_t *obj;
    json_array_foreach(arr, i, obj) {
        const char *minor;
        err = identify_one(app, ws, obj, merge, now, &minor);
        if (err != CD_OK)
            break;
        if (minor)
            user_minor_error(errors, minor, "aliases_to_identify", i);
        else
            n++;
    }
    if ((err = workspace_write_end(app, ws, err)) != CD_OK) {
        json_decref(errors);
        return err;
    }
    *out = success("aliases_processed", n, errors);
    return CD_OK;
}

/* Counts identifiers of one delete/export key (array) toward the cap. */
static size_t count_ids(const json_t *body, const char *key) {
    return json_array_size(json_object_get(body, key));
}

enum cd_err users_delete(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                         struct cd_msg *msg) {
    static const char *const keys[] = {"external_ids", "user_aliases", "braze_ids",
                                       "email_addresses", "phone_numbers"};
    size_t total = 0;
    for (int k = 0; k < 5; k++) {
        const json_t *v = json_object_get(body, keys[k]);
        if (v && !json_is_null(v) && !json_is_array(v)) {
            return cd_invalid(msg, "'%s' must be an array", keys[k]);
        }
        total += count_ids(body, keys[k]);
    }
    if (total > USERS_IDS_MAX) {
        return cd_invalid(msg, "The max number of ids per request was exceeded");
    }
    json_t *errors = json_array();
    int deleted = 0;
    int64_t now = time_now_ms();
    enum cd_err err = workspace_write_begin(app, ws);
    if (err != CD_OK) {
        json_decref(errors);
        return err;
    }
    for (int k = 0; k < 5 && err == CD_OK; k++) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(body, keys[k]), i, v) {
            uint32_t uid = 0;
            const char *label, *name;
            if (k == 0 && json_is_string(v))
                uid = identity_by_external(&ws->ident, json_string_value(v), NULL);
            else if (k == 1 && user_alias_valid(v, &label, &name))
                uid = identity_by_alias(&ws->ident, label, name, NULL);
            else if (k == 2 && json_is_string(v))
                uid = identity_by_braze_id(&ws->ident, json_string_value(v));
            else if (k >= 3) {
                user_minor_error(errors, "deleting by email or phone is not supported", keys[k], i);
                continue;
            } else {
                user_minor_error(errors, "invalid identifier", keys[k], i);
                continue;
            }
            if (!uid)
                continue; /* Braze counts only users queued for deletion */
            if ((err = user_remove(app, ws, uid, now)) != CD_OK)
                break;
            deleted++;
        }
    }
    if ((err = workspace_write_end(app, ws, err)) != CD_OK) {
        json_decref(errors);
        return err;
    }
    json_t *res = json_pack("{s:I, s:s}", "deleted", (json_int_t)deleted, "message", "success");
    if (json_array_size(errors))
        json_object_set(res, "errors", errors);
    json_decref(errors);
    *out = res;
    return CD_OK;
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
        err = uo->set_external_id(app->store, ws->id, owner, ext, now);
        if (err == CD_OK && identity_set_external(&ws->ident, owner, ext) != 0)
            err = CD_E_NOMEM;
        *uid = owner;
        return err;
    } else if (!owner) {
        /* an unknown device with an identity: anonymous first, identified at once */
        err = user_create(app, ws, NULL, NULL, NULL, device, true, now, uid);
        if (err == CD_OK)
            err = uo->set_external_id(app->store, ws->id, *uid, ext, now);
        if (err == CD_OK && identity_set_external(&ws->ident, *uid, ext) != 0)
            err = CD_E_NOMEM;
        return err;
    } else {
        err = user_create(app, ws, ext, NULL, NULL, NULL, false, now, uid);
    }
    if (err == CD_OK && owner != *uid) {
        err = uo->device_put(app->store, ws->id, device, *uid);
        if (err == CD_OK && identity_put_device(&ws->ident, device, *uid) != 0)
            err = CD_E_NOMEM;
    }
    return err;
}

enum cd_err users_device_track(struct app *app, struct workspace *ws, const json_t *body,
                               json_t **out, struct cd_msg *msg) {
    const char *device = json_string_value(json_object_get(body, "device_id"));
    const json_t *ext_v = json_object_get(body, "external_id");
    const json_t *ss = json_object_get(body, "session_start");
    static const char *const opt_strings[] = {"platform", "app_id", "time_zone"};
    const char *bad = NULL;
    if (!device || !*device)
        bad = "'device_id' must be a non-empty string";
    else if (ext_v && !json_is_null(ext_v) &&
             (!json_string_value(ext_v) || !*json_string_value(ext_v)))
        bad = "'external_id' must be a non-empty string";
    else if (ss && !json_is_null(ss) && !json_is_boolean(ss))
        bad = "'session_start' must be a boolean";
    for (int k = 0; !bad && k < 3; k++) {
        const json_t *v = json_object_get(body, opt_strings[k]);
        if (v && !json_is_null(v) && !json_is_string(v))
            bad = "'platform', 'app_id' and 'time_zone' must be strings";
    }
    if (bad) {
        return cd_invalid(msg, "%s", bad);
    }
    const char *ext = json_string_value(ext_v);
    int64_t now = time_now_ms();
    uint32_t uid = 0;
    char bid[BRAZE_ID_LEN + 1];
    enum cd_err err = workspace_write_begin(app, ws);
    if (err != CD_OK)
        return err;
    err = device_owner_after(app, ws, device, ext, now, &uid);
    if (err == CD_OK)
        identity_braze_id_text(ws->ident.users[uid].bid, bid);
    if (err == CD_OK && json_is_true(ss)) {
        char ext_now[1024], session[37];
        err = user_external_id(app, ws, uid, ext_now, sizeof ext_now);
        if (err == CD_OK && crypto_uuid4(session) != 0)
            err = CD_E_INTERNAL;
        if (err == CD_OK) {
            struct event_user eu = {bid, *ext_now ? ext_now : NULL, device, NULL};
            const char *app_id = json_string_value(json_object_get(body, "app_id"));
            const char *platform = json_string_value(json_object_get(body, "platform"));
            json_t *p = json_pack("{s:s, s:s}", "app_id", app_id ? app_id : ws->public_id,
                                  "session_id", session);
            if (platform)
                json_object_set_new(p, "platform", json_string(platform));
            err = event_emit(app, ws, "users.behaviors.app.SessionStart", now, &eu, p);
        }
    }
    bool identified = err == CD_OK && identity_is_identified(&ws->ident, uid);
    if ((err = workspace_write_end(app, ws, err)) != CD_OK)
        return err;
    *out = json_pack("{s:s, s:s, s:b}", "message", "success", "braze_id", bid, "identified",
                     identified);
    return CD_OK;
}
