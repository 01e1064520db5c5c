/*
 * users_ops.c — POST /users/alias/new, /users/identify, /users/delete and /devices/track in
 * api/: each body into the structs of core/users/users.h, checked against limits.h before
 * core is called, and core's result into Braze's reply and texts. Cost: linear in the body
 * (at most LIMIT_USERS_PER_REQUEST identifiers); the structs borrow from the body.
 */
#include "api/users_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/limits.h"
#include "core/cohorts/user_merge.h"

/* An optional (or required) array of at most LIMIT_USERS_PER_REQUEST items. */
static enum cd_err check_array(const json_t *body, const char *key, bool required,
                               struct cd_msg *msg) {
    const json_t *v = json_object_get(body, key);
    if ((!v || json_is_null(v)) && !required)
        return CD_OK;
    if (!json_is_array(v))
        return cd_invalid(msg, "'%s' must be an array", key);
    if (json_array_size(v) > LIMIT_USERS_PER_REQUEST)
        return cd_invalid(msg, "The max number of ids per request was exceeded");
    return CD_OK;
}

/* {"<count_key>": n, "message": "success", "errors": [...]} */
static json_t *count_reply(const char *count_key, size_t n, json_t *errors) {
    json_t *reply = json_pack("{s:I, s:s}", count_key, (json_int_t)n, "message", "success");
    api_user_errors_set(reply, errors);
    return reply;
}

/* ---- /users/alias/new ---- */

enum cd_err api_users_alias_new_call(struct app *app, struct workspace *ws, const json_t *body,
                                     json_t **out, struct cd_msg *msg) {
    enum cd_err err = check_array(body, "user_aliases", true, msg);
    if (err != CD_OK)
        return err;
    const json_t *arr = json_object_get(body, "user_aliases");
    size_t i, n = json_array_size(arr);
    json_t *obj;
    json_array_foreach(arr, i, obj) {
        char path[40];
        snprintf(path, sizeof path, "user_aliases[%zu]", i);
        if (api_user_str_over(json_object_get(obj, "alias_label"), LIMIT_ALIAS_LABEL))
            return api_user_too_long(msg, LIMIT_ALIAS_LABEL, "%s.alias_label", path);
        if (api_user_str_over(json_object_get(obj, "alias_name"), LIMIT_ALIAS_NAME))
            return api_user_too_long(msg, LIMIT_ALIAS_NAME, "%s.alias_name", path);
        if (api_user_str_over(json_object_get(obj, "external_id"), LIMIT_EXTERNAL_ID))
            return api_user_too_long(msg, LIMIT_EXTERNAL_ID, "%s.external_id", path);
    }
    struct alias_new_item *items = calloc(n + 1, sizeof *items);
    if (!items)
        return CD_E_NOMEM;
    json_array_foreach(arr, i, obj) {
        struct alias_new_item *it = &items[i];
        const json_t *ext = json_object_get(obj, "external_id");
        if (!api_user_alias_valid(obj, &it->alias_label, &it->alias_name))
            it->invalid = USER_MINOR_ALIAS_NAMES;
        else if (ext && !json_is_null(ext) && !json_is_string(ext))
            it->invalid = USER_MINOR_EXTERNAL_ID_TYPE;
        it->external_id = json_string_value(ext);
    }
    struct users_count_result res;
    err = users_alias_new(app, ws, items, n, &res);
    free(items);
    if (err != CD_OK)
        return err;
    json_t *errors = json_array();
    api_user_errors_add(errors, &res.minors);
    *out = count_reply("aliases_processed", res.n, errors);
    users_minors_free(&res.minors);
    return CD_OK;
}

/* ---- /users/identify ---- */

/* The arrays of /users/identify, their user arrays, and the key of an entry's address. */
static const char *const identify_arrays[] = {"aliases_to_identify", "emails_to_identify",
                                              "phone_numbers_to_identify"};
static const enum user_array identify_array_of[] = {
    USER_ARRAY_ALIASES_TO_IDENTIFY, USER_ARRAY_EMAILS_TO_IDENTIFY, USER_ARRAY_PHONES_TO_IDENTIFY};
static const char *const identify_address_key[] = {NULL, "email", "phone"};

/* One entry of array a into it. */
static void parse_identify_item(const json_t *obj, int a, size_t index, struct identify_item *it) {
    it->array = identify_array_of[a];
    it->index = index;
    it->external_id = json_string_value(json_object_get(obj, "external_id"));
    if (!it->external_id || !*it->external_id) {
        it->invalid = USER_MINOR_EXTERNAL_ID_EMPTY;
        return;
    }
    if (a == 0) {
        if (!api_user_alias_valid(json_object_get(obj, "user_alias"), &it->alias_label,
                                  &it->alias_name))
            it->invalid = USER_MINOR_ALIAS_INVALID;
        return;
    }
    it->address = json_string_value(json_object_get(obj, identify_address_key[a]));
    if (a == 1 ? !api_user_email_valid(it->address) : !api_user_phone_valid(it->address))
        it->invalid = a == 1 ? USER_MINOR_EMAIL_INVALID : USER_MINOR_PHONE_INVALID;
    else
        it->invalid = api_user_parse_priorities(json_object_get(obj, "prioritization"),
                                                it->prioritization, &it->n_prioritization);
}

enum cd_err api_users_identify_call(struct app *app, struct workspace *ws, const json_t *body,
                                    json_t **out, struct cd_msg *msg) {
    enum cd_err err = CD_OK;
    const json_t *mb = json_object_get(body, "merge_behavior");
    if (mb && !json_is_null(mb) &&
        (!json_is_string(mb) || (strcmp(json_string_value(mb), "none") != 0 &&
                                 strcmp(json_string_value(mb), "merge") != 0)))
        return cd_invalid(msg, "'merge_behavior' must be \"none\" or \"merge\"");
    bool merge = !mb || json_is_null(mb) || strcmp(json_string_value(mb), "merge") == 0;
    bool any = false;
    size_t n = 0;
    for (int a = 0; a < 3; a++) {
        if ((err = check_array(body, identify_arrays[a], false, msg)) != CD_OK)
            return err;
        const json_t *arr = json_object_get(body, identify_arrays[a]);
        any = any || json_is_array(arr);
        n += json_array_size(arr);
        size_t i;
        json_t *obj;
        json_array_foreach(arr, i, obj) {
            char path[48];
            snprintf(path, sizeof path, "%s[%zu]", identify_arrays[a], i);
            if ((err = api_user_check_ids(obj, path, msg)) != CD_OK)
                return err;
        }
    }
    if (!any)
        return cd_invalid(msg, "'aliases_to_identify', 'emails_to_identify' or "
                               "'phone_numbers_to_identify' is required");
    if (n > LIMIT_USERS_PER_REQUEST)
        return cd_invalid(msg, "The max number of ids per request was exceeded");
    struct identify_item *items = calloc(n + 1, sizeof *items);
    if (!items)
        return CD_E_NOMEM;
    size_t k = 0;
    for (int a = 0; a < 3; a++) {
        size_t i;
        json_t *obj;
        json_array_foreach(json_object_get(body, identify_arrays[a]), i, obj)
            parse_identify_item(obj, a, i, &items[k++]);
    }
    struct users_count_result res;
    err = users_identify(app, ws, items, n, merge, &res);
    free(items);
    if (err != CD_OK)
        return err;
    json_t *errors = json_array();
    api_user_errors_add(errors, &res.minors);
    *out = count_reply("aliases_processed", res.n, errors);
    users_minors_free(&res.minors);
    return CD_OK;
}

/* ---- /users/delete ---- */

/* An entry of email_addresses (email) or phone_numbers: the address as a string, or an object
 * with the address and a prioritization (Braze's newer form). */
static enum user_minor delete_contact_ref(const json_t *v, bool email, struct user_ref *r) {
    const json_t *pri = json_is_object(v) ? json_object_get(v, "prioritization") : NULL;
    r->kind = email ? USER_REF_EMAIL : USER_REF_PHONE;
    r->address =
        json_string_value(json_is_object(v) ? json_object_get(v, email ? "email" : "phone") : v);
    r->n_prioritization = 0;
    if (email ? !api_user_email_valid(r->address) : !api_user_phone_valid(r->address))
        return email ? USER_MINOR_EMAIL_INVALID : USER_MINOR_PHONE_INVALID;
    return pri ? api_user_parse_priorities(pri, r->prioritization, &r->n_prioritization)
               : USER_MINOR_NONE;
}

enum cd_err api_users_delete_call(struct app *app, struct workspace *ws, const json_t *body,
                                  json_t **out, struct cd_msg *msg) {
    static const char *const keys[] = {"external_ids", "user_aliases", "braze_ids",
                                       "email_addresses", "phone_numbers"};
    static const size_t max_len[] = {LIMIT_EXTERNAL_ID, 0, LIMIT_BRAZE_ID};
    size_t total = 0;
    for (int k = 0; k < 5; k++) {
        const json_t *v = json_object_get(body, keys[k]);
        if (v && !json_is_null(v) && !json_is_array(v))
            return cd_invalid(msg, "'%s' must be an array", keys[k]);
        total += json_array_size(v);
    }
    if (total > LIMIT_USERS_PER_REQUEST)
        return cd_invalid(msg, "The max number of ids per request was exceeded");
    for (int k = 0; k < 3; k++) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(body, keys[k]), i, v) {
            if (k == 1 && api_user_str_over(json_object_get(v, "alias_label"), LIMIT_ALIAS_LABEL))
                return api_user_too_long(msg, LIMIT_ALIAS_LABEL, "user_aliases[%zu].alias_label",
                                         i);
            if (k == 1 && api_user_str_over(json_object_get(v, "alias_name"), LIMIT_ALIAS_NAME))
                return api_user_too_long(msg, LIMIT_ALIAS_NAME, "user_aliases[%zu].alias_name", i);
            if (k != 1 && api_user_str_over(v, max_len[k]))
                return api_user_too_long(msg, max_len[k], "%s[%zu]", keys[k], i);
        }
    }
    struct user_ref *refs = calloc(total + 1, sizeof *refs);
    if (!refs)
        return CD_E_NOMEM;
    json_t *errors = json_array();
    size_t n = 0;
    for (int k = 0; k < 5; k++) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(body, keys[k]), i, v) {
            struct user_ref *r = &refs[n];
            if (k == 0 && json_is_string(v)) {
                r->kind = USER_REF_EXTERNAL_ID;
                r->external_id = json_string_value(v);
            } else if (k == 1 && api_user_alias_valid(v, &r->alias_label, &r->alias_name)) {
                r->kind = USER_REF_ALIAS;
            } else if (k == 2 && json_is_string(v)) {
                r->kind = USER_REF_BRAZE_ID;
                r->braze_id = json_string_value(v);
            } else if (k >= 3 && delete_contact_ref(v, k == 3, r) == USER_MINOR_NONE) {
                /* an address, or {"email" | "phone": address, "prioritization": [...]} */
            } else {
                enum user_minor m = k >= 3 ? delete_contact_ref(v, k == 3, r) : USER_MINOR_NONE;
                api_user_error_add(errors,
                                   m ? api_user_minor_text(m, USER_ARRAY_EMAILS_TO_IDENTIFY)
                                     : "invalid identifier",
                                   keys[k], i);
                memset(r, 0, sizeof *r);
                continue;
            }
            n++;
        }
    }
    size_t deleted;
    enum cd_err err = users_delete(app, ws, refs, n, &deleted);
    free(refs);
    if (err != CD_OK) {
        json_decref(errors);
        return err;
    }
    *out = json_pack("{s:I, s:s}", "deleted", (json_int_t)deleted, "message", "success");
    api_user_errors_set(*out, errors);
    return CD_OK;
}

/* ---- /users/merge ---- */

/* One identifier of a merge update into *r (borrowed); false when it is neither an external_id
 * string nor a user_alias object (Braze's text then). A user_alias without non-empty label
 * and name names nobody: it is a minor error, not a 400. */
static bool merge_ref(const json_t *id, struct user_ref *r, bool *alias_ok) {
    const json_t *ext = json_object_get(id, "external_id");
    const json_t *alias = json_object_get(id, "user_alias");
    if (!json_is_object(id) || (!json_is_string(ext) && !json_is_object(alias)))
        return false;
    if (json_is_string(ext)) {
        r->kind = USER_REF_EXTERNAL_ID;
        r->external_id = json_string_value(ext);
        *alias_ok = *r->external_id != '\0';
    } else {
        r->kind = USER_REF_ALIAS;
        *alias_ok = api_user_alias_valid(alias, &r->alias_label, &r->alias_name);
    }
    return true;
}

enum cd_err api_users_merge_call(struct app *app, struct workspace *ws, const json_t *body,
                                 json_t **out, struct cd_msg *msg) {
    static const char *const ids[] = {"identifier_to_merge", "identifier_to_keep"};
    const json_t *updates = json_object_get(body, "merge_updates");
    size_t i;
    json_t *u;
    if (!json_is_array(updates))
        return cd_invalid(msg, "'merge_updates' must be an array of objects");
    json_array_foreach(updates, i, u) {
        if (!json_is_object(u))
            return cd_invalid(msg, "'merge_updates' must be an array of objects");
    }
    if (json_array_size(updates) > LIMIT_USERS_PER_REQUEST) /* Braze's text */
        return cd_invalid(msg, "a single request may not contain more than 50 merge updates");
    struct merge_item *items = calloc(json_array_size(updates) + 1, sizeof *items);
    if (!items)
        return CD_E_NOMEM;
    enum cd_err err = CD_OK;
    json_array_foreach(updates, i, u) {
        if (json_object_size(u) != 2 || !json_object_get(u, ids[0]) ||
            !json_object_get(u, ids[1])) {
            err = cd_invalid(msg, "'merge_updates' must only have 'identifier_to_merge' and "
                                  "'identifier_to_keep'");
            break;
        }
        struct user_ref *refs[] = {&items[i].merge, &items[i].keep};
        bool usable[2] = {false, false};
        for (int k = 0; k < 2 && err == CD_OK; k++) {
            const json_t *id = json_object_get(u, ids[k]);
            char path[64];
            snprintf(path, sizeof path, "merge_updates[%zu].%s", i, ids[k]);
            if (!merge_ref(id, refs[k], &usable[k]))
                err = cd_invalid(msg, "identifiers must be objects with an 'external_id' "
                                      "property that is a string, or 'user_alias' property that "
                                      "is an object");
            else
                err = api_user_check_ids(id, path, msg);
        }
        if (err == CD_OK && items[i].merge.kind != items[i].keep.kind)
            err = cd_invalid(msg, "identifiers must be objects of the same type");
        if (err != CD_OK)
            break;
        if (!usable[0] || !usable[1])
            items[i].invalid = refs[0]->kind == USER_REF_ALIAS ? USER_MINOR_ALIAS_INVALID
                                                               : USER_MINOR_EXTERNAL_ID_EMPTY;
    }
    struct users_count_result res;
    if (err == CD_OK)
        err = users_merge(app, ws, items, json_array_size(updates), &res);
    free(items);
    if (err != CD_OK)
        return err;
    json_t *errors = json_array();
    api_user_errors_add(errors, &res.minors);
    users_minors_free(&res.minors);
    *out = json_pack("{s:s}", "message", "success");
    api_user_errors_set(*out, errors);
    return *out ? CD_OK : CD_E_NOMEM;
}

/* ---- /devices/track ---- */

enum cd_err api_devices_track_call(struct app *app, struct workspace *ws, const json_t *body,
                                   json_t **out, struct cd_msg *msg) {
    static const char *const opt_strings[] = {"platform", "app_id", "time_zone"};
    const char *device = json_string_value(json_object_get(body, "device_id"));
    const json_t *ext_v = json_object_get(body, "external_id");
    const json_t *ss = json_object_get(body, "session_start");
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
    if (bad)
        return cd_invalid(msg, "%s", bad);
    if (strlen(device) > LIMIT_DEVICE_ID)
        return api_user_too_long(msg, LIMIT_DEVICE_ID, "device_id");
    if (api_user_str_over(ext_v, LIMIT_EXTERNAL_ID))
        return api_user_too_long(msg, LIMIT_EXTERNAL_ID, "external_id");
    for (int k = 0; k < 3; k++)
        if (api_user_str_over(json_object_get(body, opt_strings[k]), LIMIT_STRING_VALUE))
            return api_user_too_long(msg, LIMIT_STRING_VALUE, "%s", opt_strings[k]);
    struct device_track_request req = {
        .device_id = device,
        .external_id = json_string_value(ext_v),
        .session_start = json_is_true(ss),
        .platform = json_string_value(json_object_get(body, "platform")),
        .app_id = json_string_value(json_object_get(body, "app_id")),
    };
    struct device_track_result res;
    enum cd_err err = users_device_track(app, ws, &req, &res);
    if (err != CD_OK)
        return err;
    *out = json_pack("{s:s, s:s, s:b}", "message", "success", "braze_id", res.braze_id,
                     "identified", res.identified);
    return CD_OK;
}
