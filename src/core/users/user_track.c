/*
 * user_track.c — POST /users/track: attributes, then events, then purchases (Braze's order).
 * Attributes merge into the user's attribute object; events and purchases bump the per-user
 * summaries (count, first, last) that segments filter on, and each becomes a Currents event
 * in the outbox. Cost per object: one or two indexed store writes; an attribute's add/remove
 * is linear in the values (a hash of them), and api/ has refused oversized requests.
 */
#include "core/users/user_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/events/event.h"
#include "util/timeutil.h"

#include "core/users/profile.h"

/* A hashable text of a JSON value: equal values (json_equal) give equal texts. Owned. */
static char *value_key(const json_t *v) {
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

/* cur (may be NULL) with `add` appended where absent, then every value of `rem` removed: one
 * hash of the values seen, so linear in the sizes. New array in *out, or NULL on NOMEM. */
static enum cd_err add_remove(const json_t *cur, const json_t *add, const json_t *rem,
                              json_t **out) {
    json_t *arr = json_array(), *seen = json_object(), *gone = json_object();
    enum cd_err err = arr && seen && gone ? CD_OK : CD_E_NOMEM;
    const json_t *lists[2] = {cur, add};
    for (int l = 0; l < 2 && err == CD_OK; l++) {
        size_t i;
        json_t *v;
        json_array_foreach(lists[l], i, v) {
            char *k = value_key(v);
            if (!k) {
                err = CD_E_NOMEM;
                break;
            }
            /* the current array keeps its duplicates; added values come once */
            if (l == 0 || !json_object_get(seen, k)) {
                if (json_object_set_new(seen, k, json_true()) != 0 || json_array_append(arr, v))
                    err = CD_E_NOMEM;
            }
            free(k);
            if (err != CD_OK)
                break;
        }
    }
    if (err == CD_OK && json_array_size(rem)) {
        size_t i;
        json_t *v;
        json_array_foreach(rem, i, v) {
            char *k = value_key(v);
            if (!k || json_object_set_new(gone, k, json_true()) != 0)
                err = CD_E_NOMEM;
            free(k);
            if (err != CD_OK)
                break;
        }
        json_t *kept = err == CD_OK ? json_array() : NULL;
        if (err == CD_OK && !kept)
            err = CD_E_NOMEM;
        json_array_foreach(arr, i, v) {
            if (err != CD_OK)
                break;
            char *k = value_key(v);
            if (!k || (!json_object_get(gone, k) && json_array_append(kept, v) != 0))
                err = CD_E_NOMEM;
            free(k);
        }
        json_decref(arr);
        arr = kept;
    }
    json_decref(seen);
    json_decref(gone);
    if (err != CD_OK) {
        json_decref(arr);
        arr = NULL;
    }
    *out = arr;
    return err;
}

/* arr cut to its first max elements (Braze truncates arrays past the maximum). */
static void truncate_array(json_t *arr, size_t max) {
    while (json_array_size(arr) > max)
        json_array_remove(arr, json_array_size(arr) - 1);
}

/* The most entries a merged profile array (push tokens, subscription groups) keeps: the
 * oldest go first. */
#define MAX_PROFILE_ENTRIES 100

/* The key that identifies an entry of a profile array that updates entry by entry, or NULL
 * when the field is set whole. */
static const char *merge_key(const char *name) {
    if (strcmp(name, "subscription_groups") == 0)
        return "subscription_group_id"; /* Braze: the listed groups change, the others stay */
    if (strcmp(name, "push_tokens") == 0)
        return "token"; /* Braze imports tokens: they add to the user's */
    return NULL;
}

/* cur's entries (may be NULL) updated by add's: an entry of add replaces the one with the same
 * key, or comes last. New array in *out. */
static enum cd_err merge_entries(const json_t *cur, const json_t *add, const char *key,
                                 json_t **out) {
    json_t *arr = json_is_array(cur) ? json_deep_copy(cur) : json_array();
    size_t i, j;
    json_t *a, *c;
    if (!arr)
        return CD_E_NOMEM;
    json_array_foreach(add, i, a) {
        bool replaced = false;
        json_array_foreach(arr, j, c) {
            if (json_equal(json_object_get(c, key), json_object_get(a, key))) {
                replaced = json_array_set(arr, j, a) == 0;
                break;
            }
        }
        if (!replaced && json_array_append(arr, a) != 0) {
            json_decref(arr);
            return CD_E_NOMEM;
        }
    }
    while (json_array_size(arr) > MAX_PROFILE_ENTRIES)
        json_array_remove(arr, 0);
    *out = arr;
    return CD_OK;
}

/* Applies one attribute operation to attrs; *minor is set when the object fails here. A
 * custom array attribute keeps at most max_array elements; profile fields are not capped. */
static enum cd_err apply_op(json_t *attrs, const struct attr_op *op, size_t max_array,
                            enum user_minor *minor) {
    json_t *cur = json_object_get(attrs, op->name);
    *minor = USER_MINOR_NONE;
    switch (op->kind) {
    case ATTR_OP_UNSET:
        json_object_del(attrs, op->name);
        return CD_OK;
    case ATTR_OP_INC: {
        if (cur && !json_is_number(cur)) {
            *minor = USER_MINOR_INC_NOT_NUMBER_ATTR;
            return CD_OK;
        }
        json_t *sum;
        if (op->inc_is_int && (!cur || json_is_integer(cur))) {
            int64_t total;
            if (__builtin_add_overflow(op->inc_int, cur ? (int64_t)json_integer_value(cur) : 0,
                                       &total)) {
                *minor = USER_MINOR_INC_OVERFLOW;
                return CD_OK;
            }
            sum = json_integer(total);
        } else {
            double total = (op->inc_is_int ? (double)op->inc_int : op->inc_real) +
                           (cur ? json_number_value(cur) : 0);
            /* JSON has no infinity: such a value could not be stored or answered */
            if (!isfinite(total)) {
                *minor = USER_MINOR_INC_OVERFLOW;
                return CD_OK;
            }
            sum = json_real(total);
        }
        return json_object_set_new(attrs, op->name, sum) == 0 ? CD_OK : CD_E_NOMEM;
    }
    case ATTR_OP_ADD_REMOVE: {
        if (cur && !json_is_array(cur)) {
            *minor = USER_MINOR_ADD_REMOVE_NOT_ARRAY;
            return CD_OK;
        }
        json_t *arr;
        enum cd_err err = add_remove(cur, op->add, op->remove, &arr);
        if (err != CD_OK)
            return err;
        truncate_array(arr, max_array);
        return json_object_set_new(attrs, op->name, arr) == 0 ? CD_OK : CD_E_NOMEM;
    }
    case ATTR_OP_SET: {
        const char *key = merge_key(op->name);
        if (key) {
            json_t *arr;
            enum cd_err err = merge_entries(cur, op->value, key, &arr);
            return err == CD_OK && json_object_set_new(attrs, op->name, arr) != 0 ? CD_E_NOMEM
                                                                                  : err;
        }
        if (!json_is_array(op->value) || json_array_size(op->value) <= max_array ||
            profile_field_is(op->name))
            return json_object_set(attrs, op->name, (json_t *)op->value) == 0 ? CD_OK : CD_E_NOMEM;
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < max_array; i++)
            if (json_array_append(arr, json_array_get(op->value, i)) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        return arr && json_object_set_new(attrs, op->name, arr) == 0 ? CD_OK : CD_E_NOMEM;
    }
    case ATTR_OP_INVALID:
    default:
        *minor = op->invalid;
        return CD_OK;
    }
}

static enum cd_err track_attributes(struct app *app, struct workspace *ws,
                                    const struct track_request *req, int64_t now,
                                    struct track_result *res) {
    for (size_t i = 0; i < req->n_attributes; i++) {
        const struct track_attributes *obj = &req->attributes[i];
        enum user_minor minor = obj->invalid;
        uint32_t uid = 0;
        enum cd_err err = CD_OK;
        if (!minor)
            err = user_resolve(app, ws, &obj->ref, obj->update_existing_only, false, now, &uid,
                               &minor);
        if (err != CD_OK)
            return err;
        if (minor) {
            if ((err = user_minor_add(&res->minors, minor, USER_ARRAY_ATTRIBUTES, i)) != CD_OK)
                return err;
            continue;
        }
        json_t *attrs;
        if ((err = user_attrs_load(app, ws, uid, &attrs)) != CD_OK)
            return err;
        json_t *old = json_deep_copy(attrs);
        if (!old)
            err = CD_E_NOMEM;
        for (size_t k = 0; err == CD_OK && !minor && k < obj->n_ops; k++)
            err = apply_op(attrs, &obj->ops[k], (size_t)app->max_array_length, &minor);
        if (err == CD_OK && !minor)
            err = user_attrs_store(app, ws, uid, old, attrs, now);
        json_decref(old);
        json_decref(attrs);
        if (err == CD_OK && minor)
            err = user_minor_add(&res->minors, minor, USER_ARRAY_ATTRIBUTES, i);
        if (err != CD_OK)
            return err;
        if (!minor)
            res->n_attributes++;
    }
    return CD_OK;
}

/* The user fields of a Currents event for uid; *ext is owned (NULL when none). */
static enum cd_err event_user_of(struct app *app, struct workspace *ws, uint32_t uid,
                                 char bid[BRAZE_ID_LEN + 1], char **ext, struct event_user *eu) {
    identity_braze_id_text(ws->ident.users[uid].bid, bid);
    enum cd_err err = user_external_id(app, ws, uid, ext);
    eu->braze_id = bid;
    eu->external_id = *ext;
    eu->device_id = NULL;
    eu->timezone = NULL;
    return err;
}

static json_t *props_copy(const json_t *props) {
    return json_is_object(props) ? json_deep_copy(props) : json_object();
}

/* Resolves the user of an event or purchase; *uid 0 when a minor error was recorded. */
static enum cd_err resolve_or_minor(struct app *app, struct workspace *ws, enum user_minor invalid,
                                    const struct user_ref *ref, int update_existing_only,
                                    int64_t now, enum user_array array, size_t index,
                                    struct track_result *res, uint32_t *uid) {
    enum user_minor minor = invalid;
    *uid = 0;
    enum cd_err err = CD_OK;
    if (!minor)
        err = user_resolve(app, ws, ref, update_existing_only, false, now, uid, &minor);
    if (err == CD_OK && minor) {
        *uid = 0;
        err = user_minor_add(&res->minors, minor, array, index);
    }
    return err;
}

/* The event summaries a request adds, written with one store call at the end of its array. */
struct bumps {
    struct event_bump_row *v;
    size_t n;
};

static enum cd_err bumps_flush(struct app *app, struct workspace *ws, struct bumps *b,
                               enum cd_err err) {
    if (err == CD_OK && b->n)
        err = STORE_OPS(app->store)->users->events_bump(workspace_txn(ws), ws->id, b->v, b->n);
    free(b->v);
    return err;
}

static enum cd_err track_events(struct app *app, struct workspace *ws,
                                const struct track_request *req, int64_t now,
                                struct track_result *res) {
    struct bumps b = {calloc(req->n_events + 1, sizeof *b.v), 0};
    if (!b.v)
        return CD_E_NOMEM;
    enum cd_err err = CD_OK;
    for (size_t i = 0; err == CD_OK && i < req->n_events; i++) {
        const struct track_event *ev = &req->events[i];
        uint32_t uid;
        err = resolve_or_minor(app, ws, ev->invalid, &ev->ref, ev->update_existing_only, now,
                               USER_ARRAY_EVENTS, i, res, &uid);
        if (err != CD_OK || !uid)
            continue;
        int64_t at = ev->time_ms > now ? now : ev->time_ms;
        b.v[b.n++] = (struct event_bump_row){uid, EVENT_KIND_CUSTOM, ev->name, 1, at};
        if (event_index_bump(&ws->events, ev->name, uid, 1, at) != 0)
            err = CD_E_NOMEM;
        char bid[BRAZE_ID_LEN + 1];
        char *ext = NULL;
        struct event_user eu;
        if (err == CD_OK)
            err = event_user_of(app, ws, uid, bid, &ext, &eu);
        if (err == CD_OK) {
            json_t *p = json_pack("{s:s, s:o}", "name", ev->name, "custom_properties",
                                  props_copy(ev->properties));
            if (p && ev->app_id)
                json_object_set_new(p, "app_id", json_string(ev->app_id));
            err = p ? event_emit(app, ws, "users.behaviors.CustomEvent", at, &eu, p) : CD_E_NOMEM;
        }
        free(ext);
        if (err == CD_OK)
            res->n_events++;
    }
    return bumps_flush(app, ws, &b, err);
}

/* Adds amount to the user's total_revenue profile field (a sum kept in the attribute object,
 * so export and segment filters see it like any field). */
static enum cd_err add_revenue(struct app *app, struct workspace *ws, uint32_t uid, double amount,
                               int64_t now) {
    json_t *attrs, *old;
    enum cd_err err = user_attrs_load(app, ws, uid, &attrs);
    if (err != CD_OK)
        return err;
    double total = json_number_value(json_object_get(attrs, "total_revenue")) + amount;
    if (!(old = json_deep_copy(attrs)) ||
        json_object_set_new(attrs, "total_revenue", json_real(isfinite(total) ? total : 0)) != 0)
        err = CD_E_NOMEM;
    if (err == CD_OK)
        err = user_attrs_store(app, ws, uid, old, attrs, now);
    json_decref(old);
    json_decref(attrs);
    return err;
}

static enum cd_err track_purchases(struct app *app, struct workspace *ws,
                                   const struct track_request *req, int64_t now,
                                   struct track_result *res) {
    struct bumps b = {calloc(req->n_purchases + 1, sizeof *b.v), 0};
    if (!b.v)
        return CD_E_NOMEM;
    enum cd_err err = CD_OK;
    for (size_t i = 0; err == CD_OK && i < req->n_purchases; i++) {
        const struct track_purchase *pu = &req->purchases[i];
        uint32_t uid;
        err = resolve_or_minor(app, ws, pu->invalid, &pu->ref, pu->update_existing_only, now,
                               USER_ARRAY_PURCHASES, i, res, &uid);
        if (err != CD_OK || !uid)
            continue;
        int64_t at = pu->time_ms > now ? now : pu->time_ms;
        b.v[b.n++] =
            (struct event_bump_row){uid, EVENT_KIND_PURCHASE, pu->product_id, pu->quantity, at};
        char bid[BRAZE_ID_LEN + 1];
        char *ext = NULL;
        struct event_user eu;
        err = add_revenue(app, ws, uid, pu->price * (double)pu->quantity, now);
        if (err == CD_OK)
            err = event_user_of(app, ws, uid, bid, &ext, &eu);
        /* Braze stores a quantity of n as n purchases of quantity 1. */
        for (int64_t q = 0; err == CD_OK && q < pu->quantity; q++) {
            json_t *p = json_pack("{s:s, s:f, s:s, s:o}", "product_id", pu->product_id, "price",
                                  pu->price, "currency", pu->currency, "purchase_properties",
                                  props_copy(pu->properties));
            if (p && pu->app_id)
                json_object_set_new(p, "app_id", json_string(pu->app_id));
            err = p ? event_emit(app, ws, "users.behaviors.Purchase", at, &eu, p) : CD_E_NOMEM;
        }
        free(ext);
        if (err == CD_OK)
            res->n_purchases++;
    }
    return bumps_flush(app, ws, &b, err);
}

enum cd_err users_track_locked(struct app *app, struct workspace *ws,
                               const struct track_request *req, int64_t now,
                               struct track_result *res) {
    memset(res, 0, sizeof *res);
    enum cd_err err = track_attributes(app, ws, req, now, res);
    if (err == CD_OK)
        err = track_events(app, ws, req, now, res);
    if (err == CD_OK)
        err = track_purchases(app, ws, req, now, res);
    return err;
}

enum cd_err users_track(struct app *app, struct workspace *ws, const struct track_request *req,
                        struct track_result *res) {
    memset(res, 0, sizeof *res);
    int64_t now = time_now_ms();
    enum cd_err err = workspace_write_begin(app, ws);
    if (err != CD_OK)
        return err;
    err = users_track_locked(app, ws, req, now, res);
    err = workspace_write_end(app, ws, err);
    if (err != CD_OK) {
        users_minors_free(&res->minors);
        memset(res, 0, sizeof *res);
    }
    return err;
}
