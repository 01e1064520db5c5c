/*
 * users_track.c — POST /users/track in api/: the body (attributes, events, purchases) into a
 * struct track_request, checked against limits.h before core is called (a value over a limit
 * refuses the whole request, 400, naming the field), and the result into Braze's reply
 * {"message": "success", "<array>_processed": n, "errors": [...]}. Per-object problems the
 * body shows are marked on the object; core reports them in order with its own.
 * Cost: linear in the body; the structs borrow every string and value from it.
 */
#include "api/users_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/limits.h"
#include "util/timeutil.h"

/* A value over its limit is named by its path, which holds a name of up to
 * LIMIT_ATTRIBUTE_NAME bytes: the message must fit it whole. */
_Static_assert(LIMIT_ATTRIBUTE_NAME + 64 < sizeof(((struct cd_msg *)0)->text),
               "a limit message names any attribute whole");

/* Property names: Braze's minor error (not a limit) names this length. */
#define MAX_PROPERTY_NAME 255

static const char *const track_arrays[] = {"attributes", "events", "purchases"};

/* Keys of an attributes object that name the user or steer the call, not attributes. */
static bool is_control_key(const char *key) {
    static const char *const keys[] = {"external_id",           "user_alias",        "braze_id",
                                       "_update_existing_only", "push_token_import", NULL};
    for (int i = 0; keys[i]; i++)
        if (strcmp(key, keys[i]) == 0)
            return true;
    return false;
}

/* True when a string anywhere in v (arrays and objects included) is longer than max. */
static bool strings_over(const json_t *v, size_t max) {
    if (json_is_string(v))
        return json_string_length(v) > max;
    size_t i;
    const char *key;
    json_t *w;
    if (json_is_array(v))
        json_array_foreach(v, i, w) if (strings_over(w, max)) return true;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, key, w) if (strings_over(w, max)) return true;
    return false;
}

/* ---- limits (whole request, before anything) ---- */

enum cd_err api_track_attributes_check(const json_t *obj, const char *path, struct cd_msg *msg) {
    if (!json_is_object(obj))
        return CD_OK;
    enum cd_err err = api_user_check_ids(obj, path, msg);
    if (err != CD_OK)
        return err;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value) {
        if (is_control_key(key))
            continue;
        if (strcmp(key, "last_coordinates") == 0)
            return cd_invalid(msg, "%s.last_coordinates: set it with current_location", path);
        if (strcmp(key, "total_revenue") == 0)
            return cd_invalid(
                msg, "%s.total_revenue: the sum of the user's purchases, not set directly", path);
        if (api_profile_input_is(key)) {
            const char *name;
            json_t *stored;
            if ((err = api_profile_value(path, key, value, &name, &stored, msg)) != CD_OK)
                return err;
            json_decref(stored);
        }
        size_t len = strlen(key);
        if (len > LIMIT_ATTRIBUTE_NAME)
            return api_user_too_long(msg, LIMIT_ATTRIBUTE_NAME, "%s attribute name", path);
        if (strings_over(value, LIMIT_STRING_VALUE))
            return api_user_too_long(msg, LIMIT_STRING_VALUE, "%s.%s", path, key);
    }
    return CD_OK;
}

static enum cd_err check_attributes_limits(const json_t *arr, struct cd_msg *msg) {
    size_t i;
    json_t *obj;
    json_array_foreach(arr, i, obj) {
        char path[40];
        snprintf(path, sizeof path, "attributes[%zu]", i);
        enum cd_err err = api_track_attributes_check(obj, path, msg);
        if (err != CD_OK)
            return err;
    }
    return CD_OK;
}

/* Limits of an event or purchase object: identifiers, name, app_id, properties. */
static enum cd_err check_behavior_limits(const json_t *arr, const char *array, bool is_event,
                                         struct cd_msg *msg) {
    size_t i;
    json_t *obj;
    json_array_foreach(arr, i, obj) {
        if (!json_is_object(obj))
            continue;
        char path[40];
        snprintf(path, sizeof path, "%s[%zu]", array, i);
        enum cd_err err = api_user_check_ids(obj, path, msg);
        if (err != CD_OK)
            return err;
        if (is_event && api_user_str_over(json_object_get(obj, "name"), LIMIT_EVENT_NAME))
            return api_user_too_long(msg, LIMIT_EVENT_NAME, "%s.name", path);
        if (api_user_str_over(json_object_get(obj, "app_id"), LIMIT_STRING_VALUE))
            return api_user_too_long(msg, LIMIT_STRING_VALUE, "%s.app_id", path);
        const json_t *props = json_object_get(obj, "properties");
        if (json_is_object(props)) {
            char *text = json_dumps(props, JSON_COMPACT);
            if (!text)
                return CD_E_NOMEM;
            size_t len = strlen(text);
            free(text);
            if (len > LIMIT_PROPERTIES_BYTES)
                return api_user_too_long(msg, LIMIT_PROPERTIES_BYTES, "%s.properties", path);
        }
    }
    return CD_OK;
}

/* ---- parsing into the request ---- */

/* The operations of one attributes object; stops at the first one the body shows to be bad
 * (Braze applies none of an object that has one). Profile fields are set to the stored form
 * of their values, which `keep` holds until core is done (the limits check has refused bad
 * ones already). */
static enum cd_err parse_attributes(const json_t *obj, struct track_attributes *ta, json_t *keep) {
    ta->invalid = json_is_object(obj) ? api_user_parse_ref(obj, &ta->ref, &ta->update_existing_only)
                                      : USER_MINOR_NOT_OBJECT;
    if (ta->invalid)
        return CD_OK;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value) {
        if (is_control_key(key))
            continue;
        /* Braze's custom attribute keys are non-empty strings; "" names nothing to store */
        if (!*key) {
            ta->invalid = USER_MINOR_ATTRIBUTE_NAME;
            return CD_OK;
        }
        struct attr_op *op = &ta->ops[ta->n_ops++];
        op->name = key;
        if (api_profile_input_is(key)) {
            json_t *stored;
            struct cd_msg unused;
            if (api_profile_value("attributes", key, value, &op->name, &stored, &unused) != CD_OK)
                return CD_E_NOMEM; /* checked before: only memory can fail here */
            op->kind = stored ? ATTR_OP_SET : ATTR_OP_UNSET;
            op->value = stored;
            op->invalid = USER_MINOR_NONE;
            if (stored && json_array_append_new(keep, stored) != 0)
                return CD_E_NOMEM;
            continue;
        }
        const json_t *inc = json_object_get(value, "inc");
        const json_t *add = json_object_get(value, "add"), *rem = json_object_get(value, "remove");
        if (json_is_null(value)) {
            op->kind = ATTR_OP_UNSET;
        } else if (json_is_object(value) && inc) {
            op->kind = json_is_number(inc) ? ATTR_OP_INC : ATTR_OP_INVALID;
            op->invalid = USER_MINOR_INC_NOT_NUMBER;
            op->inc_is_int = json_is_integer(inc);
            op->inc_int = json_integer_value(inc);
            op->inc_real = json_number_value(inc);
        } else if (json_is_object(value) && (add || rem)) {
            bool arrays = (!add || json_is_array(add)) && (!rem || json_is_array(rem));
            op->kind = arrays ? ATTR_OP_ADD_REMOVE : ATTR_OP_INVALID;
            op->invalid = USER_MINOR_ADD_REMOVE_NOT_ARRAYS;
            op->add = add;
            op->remove = rem;
            /* refused before any work: adding more values than an array holds never fits */
            if (json_array_size(add) > LIMIT_ARRAY_ATTRIBUTE)
                ta->invalid = USER_MINOR_ARRAY_TOO_LONG;
        } else {
            op->kind = ATTR_OP_SET;
            op->value = value;
            if (json_array_size(value) > LIMIT_ARRAY_ATTRIBUTE)
                ta->invalid = USER_MINOR_ARRAY_TOO_LONG;
        }
        if (op->kind == ATTR_OP_INVALID || ta->invalid)
            return CD_OK;
        op->invalid = USER_MINOR_NONE;
    }
    return CD_OK;
}

/* Property names (non-empty, at most 255 bytes, no leading '$', not reserved). */
static enum user_minor check_properties(const json_t *props, bool is_event) {
    if (!props || json_is_null(props))
        return USER_MINOR_NONE;
    if (!json_is_object(props))
        return USER_MINOR_PROPERTIES_TYPE;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)props, key, value) {
        (void)value;
        size_t len = strlen(key);
        if (len == 0 || len > MAX_PROPERTY_NAME || key[0] == '$')
            return USER_MINOR_PROPERTY_NAME;
        if (is_event && (strcmp(key, "time") == 0 || strcmp(key, "event_name") == 0))
            return USER_MINOR_PROPERTY_RESERVED;
    }
    return USER_MINOR_NONE;
}

static void parse_event(const json_t *obj, struct track_event *ev) {
    const char *name = json_string_value(json_object_get(obj, "name"));
    const char *time_text = json_string_value(json_object_get(obj, "time"));
    const json_t *props = json_object_get(obj, "properties");
    if (!json_is_object(obj))
        ev->invalid = USER_MINOR_NOT_OBJECT;
    else if (!name || !*name)
        ev->invalid = USER_MINOR_EVENT_NAME;
    else if (!time_text || time_parse_iso8601(time_text, &ev->time_ms) != 0)
        ev->invalid = USER_MINOR_TIME;
    else
        ev->invalid = check_properties(props, true);
    if (!ev->invalid)
        ev->invalid = api_user_parse_ref(obj, &ev->ref, &ev->update_existing_only);
    ev->name = name;
    ev->properties = json_is_object(props) ? props : NULL;
    ev->app_id = json_string_value(json_object_get(obj, "app_id"));
}

static bool is_currency(const char *c) {
    if (!c || strlen(c) != 3)
        return false;
    for (int i = 0; i < 3; i++)
        if (c[i] < 'A' || c[i] > 'Z')
            return false;
    return true;
}

static void parse_purchase(const json_t *obj, struct track_purchase *pu) {
    const char *product = json_string_value(json_object_get(obj, "product_id"));
    const char *currency = json_string_value(json_object_get(obj, "currency"));
    const json_t *price = json_object_get(obj, "price");
    const json_t *qty = json_object_get(obj, "quantity");
    const char *time_text = json_string_value(json_object_get(obj, "time"));
    const json_t *props = json_object_get(obj, "properties");
    json_int_t quantity = json_is_integer(qty) ? json_integer_value(qty) : 1;
    if (!json_is_object(obj))
        pu->invalid = USER_MINOR_NOT_OBJECT;
    else if (!product || !*product || strlen(product) > LIMIT_PRODUCT_ID)
        pu->invalid = USER_MINOR_PRODUCT_ID;
    else if (!is_currency(currency))
        pu->invalid = USER_MINOR_CURRENCY;
    else if (!json_is_number(price) || !isfinite(json_number_value(price)))
        pu->invalid = USER_MINOR_PRICE;
    else if ((qty && !json_is_null(qty) && !json_is_integer(qty)) || quantity < 1 || quantity > 100)
        pu->invalid = USER_MINOR_QUANTITY;
    else if (!time_text || time_parse_iso8601(time_text, &pu->time_ms) != 0)
        pu->invalid = USER_MINOR_TIME;
    else
        pu->invalid = check_properties(props, false);
    if (!pu->invalid)
        pu->invalid = api_user_parse_ref(obj, &pu->ref, &pu->update_existing_only);
    pu->product_id = product;
    pu->currency = currency;
    pu->price = json_number_value(price);
    pu->quantity = quantity;
    pu->properties = json_is_object(props) ? props : NULL;
    pu->app_id = json_string_value(json_object_get(obj, "app_id"));
}

enum cd_err api_track_attributes_parse(const json_t *obj, struct track_attributes *ta,
                                       json_t *keep) {
    memset(ta, 0, sizeof *ta);
    ta->ops = calloc(json_object_size(obj) + 1, sizeof *ta->ops);
    if (!ta->ops)
        return CD_E_NOMEM;
    return parse_attributes(obj, ta, keep);
}

void api_track_request_free(struct track_request *tr) {
    for (size_t i = 0; tr->attributes && i < tr->n_attributes; i++)
        free(tr->attributes[i].ops);
    free(tr->attributes);
    free(tr->events);
    free(tr->purchases);
    memset(tr, 0, sizeof *tr);
}

/* Fills tr from the arrays (any may be NULL). The arrays hold at most LIMIT_TRACK_OBJECTS.
 * keep receives the values tr borrows that are not in the body. */
static enum cd_err track_request_parse(const json_t *attrs, const json_t *events,
                                       const json_t *purchases, struct track_request *tr,
                                       json_t *keep) {
    memset(tr, 0, sizeof *tr);
    tr->n_attributes = json_array_size(attrs);
    tr->n_events = json_array_size(events);
    tr->n_purchases = json_array_size(purchases);
    tr->attributes = calloc(tr->n_attributes + 1, sizeof *tr->attributes);
    tr->events = calloc(tr->n_events + 1, sizeof *tr->events);
    tr->purchases = calloc(tr->n_purchases + 1, sizeof *tr->purchases);
    if (!tr->attributes || !tr->events || !tr->purchases)
        goto fail;
    for (size_t i = 0; i < tr->n_attributes; i++) {
        if (api_track_attributes_parse(json_array_get(attrs, i), &tr->attributes[i], keep) != CD_OK)
            goto fail;
    }
    for (size_t i = 0; i < tr->n_events; i++)
        parse_event(json_array_get(events, i), &tr->events[i]);
    for (size_t i = 0; i < tr->n_purchases; i++)
        parse_purchase(json_array_get(purchases, i), &tr->purchases[i]);
    return CD_OK;
fail:
    api_track_request_free(tr);
    return CD_E_NOMEM;
}

enum cd_err api_users_track_call(struct app *app, struct workspace *ws, const json_t *body,
                                 json_t **out, struct cd_msg *msg) {
    const json_t *arrays[3];
    for (int a = 0; a < 3; a++) {
        const json_t *v = arrays[a] = json_object_get(body, track_arrays[a]);
        if (v && !json_is_array(v) && !json_is_null(v))
            return cd_invalid(msg, "'%s' must be an array", track_arrays[a]);
        if (json_array_size(v) > LIMIT_TRACK_OBJECTS)
            return cd_invalid(msg, "Max Input Length Exceeded");
    }
    enum cd_err err = check_attributes_limits(arrays[0], msg);
    if (err == CD_OK)
        err = check_behavior_limits(arrays[1], "events", true, msg);
    if (err == CD_OK)
        err = check_behavior_limits(arrays[2], "purchases", false, msg);
    if (err != CD_OK)
        return err;
    struct track_request tr;
    json_t *keep = json_array();
    if (!keep)
        return CD_E_NOMEM;
    if ((err = track_request_parse(arrays[0], arrays[1], arrays[2], &tr, keep)) != CD_OK) {
        json_decref(keep);
        return err;
    }
    struct track_result res;
    err = users_track(app, ws, &tr, &res);
    api_track_request_free(&tr);
    json_decref(keep);
    if (err != CD_OK)
        return err;
    json_t *reply = json_pack("{s:s}", "message", "success");
    size_t counts[3] = {res.n_attributes, res.n_events, res.n_purchases};
    static const char *const keys[] = {"attributes_processed", "events_processed",
                                       "purchases_processed"};
    for (int a = 0; a < 3; a++)
        if (json_is_array(arrays[a]))
            json_object_set_new(reply, keys[a], json_integer((json_int_t)counts[a]));
    json_t *errors = json_array();
    api_user_errors_add(errors, &res.minors);
    api_user_errors_set(reply, errors);
    users_minors_free(&res.minors);
    *out = reply;
    return CD_OK;
}
