/*
 * user_track.c — POST /users/track: attributes, then events, then purchases (Braze's order).
 * Attributes merge into the user's attribute object; events and purchases bump the per-user
 * summaries (count, first, last) that segments filter on, and each becomes a Currents event
 * in the outbox. Cost per object: one or two indexed store writes.
 */
#include "core/users/user_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/events/event.h"
#include "util/timeutil.h"

#define MAX_ARRAY_ATTR 100
#define MAX_PROP_NAME 255

/* Keys of an attributes object that name the user or steer the call, not attributes. */
static bool is_control_key(const char *key) {
    static const char *const keys[] = {"external_id",           "user_alias",        "braze_id",
                                       "_update_existing_only", "push_token_import", NULL};
    for (int i = 0; keys[i]; i++)
        if (strcmp(key, keys[i]) == 0)
            return true;
    return false;
}

/* Applies one attribute update to attrs; returns NULL or a minor error text. */
static const char *apply_attr(json_t *attrs, const char *key, json_t *value) {
    if (json_is_null(value)) {
        json_object_del(attrs, key);
        return NULL;
    }
    if (json_is_object(value) && json_object_get(value, "inc")) {
        json_t *inc = json_object_get(value, "inc");
        json_t *cur = json_object_get(attrs, key);
        if (!json_is_number(inc))
            return "'inc' must be a number";
        if (cur && !json_is_number(cur))
            return "'inc' applies only to a number attribute";
        if (json_is_integer(inc) && (!cur || json_is_integer(cur)))
            json_object_set_new(
                attrs, key,
                json_integer(json_integer_value(inc) + (cur ? json_integer_value(cur) : 0)));
        else
            json_object_set_new(
                attrs, key, json_real(json_number_value(inc) + (cur ? json_number_value(cur) : 0)));
        return NULL;
    }
    if (json_is_object(value) &&
        (json_object_get(value, "add") || json_object_get(value, "remove"))) {
        json_t *add = json_object_get(value, "add"), *rem = json_object_get(value, "remove");
        if ((add && !json_is_array(add)) || (rem && !json_is_array(rem)))
            return "'add' and 'remove' must be arrays";
        json_t *cur = json_object_get(attrs, key);
        if (cur && !json_is_array(cur))
            return "'add' and 'remove' apply only to an array attribute";
        json_t *arr = cur ? json_deep_copy(cur) : json_array();
        size_t i;
        json_t *v;
        json_array_foreach(add, i, v) {
            size_t j;
            json_t *w;
            bool seen = false;
            json_array_foreach(arr, j, w) seen = seen || json_equal(v, w);
            if (!seen)
                json_array_append(arr, v);
        }
        json_array_foreach(rem, i, v) {
            for (size_t j = json_array_size(arr); j-- > 0;)
                if (json_equal(v, json_array_get(arr, j)))
                    json_array_remove(arr, j);
        }
        if (json_array_size(arr) > MAX_ARRAY_ATTR) {
            json_decref(arr);
            return "array attributes hold at most 100 values";
        }
        json_object_set_new(attrs, key, arr);
        return NULL;
    }
    if (json_is_array(value) && json_array_size(value) > MAX_ARRAY_ATTR)
        return "array attributes hold at most 100 values";
    json_object_set(attrs, key, value);
    return NULL;
}

static enum cd_err track_attributes(struct app *app, struct workspace *ws, const json_t *arr,
                                    int64_t now, json_t *errors, int *processed) {
    size_t i;
    json_t *obj;
    json_array_foreach(arr, i, obj) {
        if (!json_is_object(obj)) {
            user_minor_error(errors, "attributes object must be a JSON object", "attributes", i);
            continue;
        }
        uint32_t uid;
        const char *minor;
        enum cd_err err = user_resolve(app, ws, obj, false, now, &uid, &minor);
        if (err != CD_OK)
            return err;
        if (!uid) {
            user_minor_error(errors, minor, "attributes", i);
            continue;
        }
        json_t *attrs;
        err = user_attrs_load(app, ws, uid, &attrs);
        if (err != CD_OK)
            return err;
        json_t *old = json_deep_copy(attrs);
        const char *key;
        json_t *value;
        const char *bad = NULL;
        json_object_foreach(obj, key, value) {
            if (is_control_key(key))
                continue;
            bad = apply_attr(attrs, key, value);
            if (bad)
                break;
        }
        if (!bad)
            err = user_attrs_store(app, ws, uid, old, attrs, now);
        json_decref(old);
        json_decref(attrs);
        if (bad) {
            user_minor_error(errors, bad, "attributes", i);
            continue;
        }
        if (err != CD_OK)
            return err;
        (*processed)++;
    }
    return CD_OK;
}

/* Checks property names (non-empty, ≤ 255, no leading '$', not reserved). */
static const char *check_properties(const json_t *props, bool is_event) {
    if (!props || json_is_null(props))
        return NULL;
    if (!json_is_object(props))
        return "'properties' must be an object";
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)props, key, value) {
        (void)value;
        size_t len = strlen(key);
        if (len == 0 || len > MAX_PROP_NAME || key[0] == '$')
            return "property names must be 1 to 255 characters and not start with '$'";
        if (is_event && (strcmp(key, "time") == 0 || strcmp(key, "event_name") == 0))
            return "'time' and 'event_name' are reserved property names";
    }
    return NULL;
}

/* The user fields of a Currents event for uid. */
static enum cd_err event_user_of(struct app *app, struct workspace *ws, uint32_t uid,
                                 char bid[BRAZE_ID_LEN + 1], char *ext, size_t ext_len,
                                 struct event_user *eu) {
    identity_braze_id_text(ws->ident.users[uid].bid, bid);
    enum cd_err err = user_external_id(app, ws, uid, ext, ext_len);
    eu->braze_id = bid;
    eu->external_id = *ext ? ext : NULL;
    eu->device_id = NULL;
    eu->timezone = NULL;
    return err;
}

static json_t *props_copy(const json_t *props) {
    return json_is_object(props) ? json_deep_copy(props) : json_object();
}

static enum cd_err track_events(struct app *app, struct workspace *ws, const json_t *arr,
                                int64_t now, json_t *errors, int *processed) {
    size_t i;
    json_t *obj;
    json_array_foreach(arr, i, obj) {
        const char *name = json_string_value(json_object_get(obj, "name"));
        const char *time_text = json_string_value(json_object_get(obj, "time"));
        const json_t *props = json_object_get(obj, "properties");
        const char *app_id = json_string_value(json_object_get(obj, "app_id"));
        int64_t at;
        const char *bad = NULL;
        if (!json_is_object(obj))
            bad = "event object must be a JSON object";
        else if (!name || !*name)
            bad = "'name' must be a non-empty string";
        else if (!time_text || time_parse_iso8601(time_text, &at) != 0)
            bad = "'time' must be an ISO-8601 time";
        else
            bad = check_properties(props, true);
        if (bad) {
            user_minor_error(errors, bad, "events", i);
            continue;
        }
        uint32_t uid;
        enum cd_err err = user_resolve(app, ws, obj, false, now, &uid, &bad);
        if (err != CD_OK)
            return err;
        if (!uid) {
            user_minor_error(errors, bad, "events", i);
            continue;
        }
        if (at > now)
            at = now;
        err = STORE_OPS(app->store)
                  ->users->event_bump(app->store, ws->id, uid, EVENT_KIND_CUSTOM, name, 1, at);
        if (err == CD_OK && event_index_bump(&ws->events, name, uid, 1, at) != 0)
            err = CD_E_NOMEM;
        char bid[BRAZE_ID_LEN + 1], ext[1024];
        struct event_user eu;
        if (err == CD_OK)
            err = event_user_of(app, ws, uid, bid, ext, sizeof ext, &eu);
        if (err == CD_OK) {
            json_t *p =
                json_pack("{s:s, s:o}", "name", name, "custom_properties", props_copy(props));
            if (app_id)
                json_object_set_new(p, "app_id", json_string(app_id));
            err = event_emit(app, ws, "users.behaviors.CustomEvent", at, &eu, p);
        }
        if (err != CD_OK)
            return err;
        (*processed)++;
    }
    return CD_OK;
}

static bool is_currency(const char *c) {
    if (!c || strlen(c) != 3)
        return false;
    for (int i = 0; i < 3; i++)
        if (c[i] < 'A' || c[i] > 'Z')
            return false;
    return true;
}

static enum cd_err track_purchases(struct app *app, struct workspace *ws, const json_t *arr,
                                   int64_t now, json_t *errors, int *processed) {
    size_t i;
    json_t *obj;
    json_array_foreach(arr, i, obj) {
        const char *product = json_string_value(json_object_get(obj, "product_id"));
        const char *currency = json_string_value(json_object_get(obj, "currency"));
        const json_t *price = json_object_get(obj, "price");
        const json_t *qty = json_object_get(obj, "quantity");
        const char *time_text = json_string_value(json_object_get(obj, "time"));
        const json_t *props = json_object_get(obj, "properties");
        const char *app_id = json_string_value(json_object_get(obj, "app_id"));
        int64_t at;
        json_int_t quantity = json_is_integer(qty) ? json_integer_value(qty) : 1;
        const char *bad = NULL;
        if (!json_is_object(obj))
            bad = "purchase object must be a JSON object";
        else if (!product || !*product || strlen(product) > 255)
            bad = "'product_id' must be a string of 1 to 255 characters";
        else if (!is_currency(currency))
            bad = "'currency' must be an ISO-4217 alphabetic code";
        else if (!json_is_number(price) || !isfinite(json_number_value(price)))
            bad = "'price' must be a number";
        else if ((qty && !json_is_null(qty) && !json_is_integer(qty)) || quantity < 1 ||
                 quantity > 100)
            bad = "'quantity' must be an integer from 1 to 100";
        else if (!time_text || time_parse_iso8601(time_text, &at) != 0)
            bad = "'time' must be an ISO-8601 time";
        else
            bad = check_properties(props, false);
        if (bad) {
            user_minor_error(errors, bad, "purchases", i);
            continue;
        }
        uint32_t uid;
        enum cd_err err = user_resolve(app, ws, obj, false, now, &uid, &bad);
        if (err != CD_OK)
            return err;
        if (!uid) {
            user_minor_error(errors, bad, "purchases", i);
            continue;
        }
        if (at > now)
            at = now;
        err = STORE_OPS(app->store)
                  ->users->event_bump(app->store, ws->id, uid, EVENT_KIND_PURCHASE, product,
                                      quantity, at);
        char bid[BRAZE_ID_LEN + 1], ext[1024];
        struct event_user eu;
        if (err == CD_OK)
            err = event_user_of(app, ws, uid, bid, ext, sizeof ext, &eu);
        /* Braze stores a quantity of n as n purchases of quantity 1. */
        for (json_int_t q = 0; err == CD_OK && q < quantity; q++) {
            json_t *p = json_pack("{s:s, s:f, s:s, s:o}", "product_id", product, "price",
                                  json_number_value(price), "currency", currency,
                                  "purchase_properties", props_copy(props));
            if (app_id)
                json_object_set_new(p, "app_id", json_string(app_id));
            err = event_emit(app, ws, "users.behaviors.Purchase", at, &eu, p);
        }
        if (err != CD_OK)
            return err;
        (*processed)++;
    }
    return CD_OK;
}

enum cd_err users_track(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                        struct cd_msg *msg) {
    static const char *const arrays[] = {"attributes", "events", "purchases"};
    for (int a = 0; a < 3; a++) {
        const json_t *v = json_object_get(body, arrays[a]);
        if (v && !json_is_array(v) && !json_is_null(v)) {
            return cd_invalid(msg, "'%s' must be an array", arrays[a]);
        }
        if (json_array_size(v) > USERS_TRACK_MAX_OBJECTS) {
            return cd_invalid(msg, "Max Input Length Exceeded");
        }
    }
    const json_t *attrs = json_object_get(body, "attributes");
    const json_t *events = json_object_get(body, "events");
    const json_t *purchases = json_object_get(body, "purchases");
    int n_attrs = 0, n_events = 0, n_purchases = 0;
    json_t *errors = json_array();
    int64_t now = time_now_ms();
    enum cd_err err = workspace_write_begin(app, ws);
    if (err != CD_OK) {
        json_decref(errors);
        return err;
    }
    if (json_is_array(attrs))
        err = track_attributes(app, ws, attrs, now, errors, &n_attrs);
    if (err == CD_OK && json_is_array(events))
        err = track_events(app, ws, events, now, errors, &n_events);
    if (err == CD_OK && json_is_array(purchases))
        err = track_purchases(app, ws, purchases, now, errors, &n_purchases);
    err = workspace_write_end(app, ws, err);
    if (err != CD_OK) {
        json_decref(errors);
        return err;
    }
    json_t *res = json_pack("{s:s}", "message", "success");
    if (json_is_array(attrs))
        json_object_set_new(res, "attributes_processed", json_integer(n_attrs));
    if (json_is_array(events))
        json_object_set_new(res, "events_processed", json_integer(n_events));
    if (json_is_array(purchases))
        json_object_set_new(res, "purchases_processed", json_integer(n_purchases));
    if (json_array_size(errors))
        json_object_set(res, "errors", errors);
    json_decref(errors);
    *out = res;
    return CD_OK;
}
