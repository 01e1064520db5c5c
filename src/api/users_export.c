/*
 * users_export.c — POST /users/export/ids in api/: the identifiers of the body into a struct
 * user_export_request (checked against limits.h), and the exported users into Braze's export
 * shape — profile fields at the top level, custom attributes apart, only the fields asked for.
 * Read only. Cost: linear in the users exported and their parts.
 */
#include "api/users_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/limits.h"
#include "core/users/profile.h"
#include "util/timeutil.h"

/* Every field name export understands; the rest of Braze's list is accepted and left empty. */
static const char *const known_fields[] = {"apps",
                                           "attributed_campaign",
                                           "attributed_source",
                                           "attributed_adgroup",
                                           "attributed_ad",
                                           "braze_id",
                                           "country",
                                           "created_at",
                                           "custom_attributes",
                                           "custom_events",
                                           "devices",
                                           "dob",
                                           "email",
                                           "email_subscribe",
                                           "external_id",
                                           "first_name",
                                           "gender",
                                           "home_city",
                                           "language",
                                           "last_coordinates",
                                           "last_name",
                                           "phone",
                                           "purchases",
                                           "push_subscribe",
                                           "push_tokens",
                                           "random_bucket",
                                           "time_zone",
                                           "total_revenue",
                                           "uninstalled_at",
                                           "user_aliases",
                                           "campaigns_received",
                                           "canvases_received",
                                           "cards_clicked",
                                           "image_url",
                                           NULL};

static bool in_list(const char *const *list, const char *name) {
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

/* fields: the array of names to export, or NULL for all. */
static bool wants(const json_t *fields, const char *field) {
    if (!fields)
        return true;
    size_t i;
    json_t *v;
    json_array_foreach(fields, i, v) if (strcmp(json_string_value(v), field) == 0) return true;
    return false;
}

static enum cd_err check_request(const json_t *body, struct cd_msg *msg) {
    const json_t *ext = json_object_get(body, "external_ids");
    const json_t *aliases = json_object_get(body, "user_aliases");
    const json_t *fields = json_object_get(body, "fields_to_export");
    if ((ext && !json_is_null(ext) && !json_is_array(ext)) ||
        (aliases && !json_is_null(aliases) && !json_is_array(aliases)))
        return cd_invalid(msg, "'external_ids' and 'user_aliases' must be arrays");
    if (json_array_size(ext) + json_array_size(aliases) > LIMIT_USERS_PER_REQUEST)
        return cd_invalid(msg,
                          "The max number of external_ids and aliases per request was exceeded");
    int singles = 0;
    static const char *const single_keys[] = {"device_id", "email_address", "phone", "braze_id"};
    for (int k = 0; k < 4; k++) {
        const json_t *v = json_object_get(body, single_keys[k]);
        if (v && !json_is_null(v) && !json_is_string(v))
            return cd_invalid(msg, "'%s' must be a string", single_keys[k]);
        singles += k < 3 && json_is_string(v);
    }
    if (singles > 1)
        return cd_invalid(msg, "only one of 'device_id', 'email_address' and 'phone' may be given");
    if (fields && !json_is_null(fields)) {
        if (!json_is_array(fields))
            return cd_invalid(msg, "'fields_to_export' must be an array of strings");
        size_t i;
        json_t *v;
        json_array_foreach(fields, i, v) {
            if (!json_is_string(v) || !in_list(known_fields, json_string_value(v)))
                return cd_invalid(msg, "unknown field in 'fields_to_export': %.64s",
                                  json_is_string(v) ? json_string_value(v) : "(not a string)");
        }
    }
    /* limits.h: identifiers */
    size_t i;
    json_t *v;
    json_array_foreach(ext, i, v) {
        if (api_user_str_over(v, LIMIT_EXTERNAL_ID))
            return api_user_too_long(msg, LIMIT_EXTERNAL_ID, "external_ids[%zu]", i);
    }
    json_array_foreach(aliases, i, v) {
        if (api_user_str_over(json_object_get(v, "alias_label"), LIMIT_ALIAS_LABEL))
            return api_user_too_long(msg, LIMIT_ALIAS_LABEL, "user_aliases[%zu].alias_label", i);
        if (api_user_str_over(json_object_get(v, "alias_name"), LIMIT_ALIAS_NAME))
            return api_user_too_long(msg, LIMIT_ALIAS_NAME, "user_aliases[%zu].alias_name", i);
    }
    if (api_user_str_over(json_object_get(body, "device_id"), LIMIT_DEVICE_ID))
        return api_user_too_long(msg, LIMIT_DEVICE_ID, "device_id");
    if (api_user_str_over(json_object_get(body, "braze_id"), LIMIT_BRAZE_ID))
        return api_user_too_long(msg, LIMIT_BRAZE_ID, "braze_id");
    if (api_user_str_over(json_object_get(body, "email_address"), API_EMAIL_MAX))
        return api_user_too_long(msg, API_EMAIL_MAX, "email_address");
    if (api_user_str_over(json_object_get(body, "phone"), API_PHONE_MAX))
        return api_user_too_long(msg, API_PHONE_MAX, "phone");
    return CD_OK;
}

static json_t *summaries_json(const struct user_event_summary *v, size_t n) {
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        char first[32], last[32];
        time_format_iso8601(v[i].first_at, first, sizeof first);
        time_format_iso8601(v[i].last_at, last, sizeof last);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I}", "name", v[i].name, "first",
                                             first, "last", last, "count", (json_int_t)v[i].count));
    }
    return arr;
}

static json_t *push_tokens_json(const json_t *stored) {
    json_t *arr = json_array();
    size_t i;
    const json_t *t;
    json_array_foreach(stored, i, t) {
        json_t *o = json_pack("{s:O, s:O}", "app", json_object_get(t, "app_id"), "token",
                              json_object_get(t, "token"));
        if (o && json_object_get(t, "device_id"))
            json_object_set(o, "device_id", json_object_get(t, "device_id"));
        json_array_append_new(arr, o);
    }
    return arr;
}

bool api_user_export_field_known(const char *name) {
    return in_list(known_fields, name);
}

unsigned api_user_export_parts(const json_t *fields) {
    return (wants(fields, "user_aliases") ? USER_EXPORT_ALIASES : 0u) |
           (wants(fields, "devices") ? USER_EXPORT_DEVICES : 0u) |
           (wants(fields, "custom_events") || wants(fields, "purchases") ? USER_EXPORT_EVENTS : 0u);
}

json_t *api_user_export_json(const struct user_export *u, const json_t *fields) {
    json_t *user = json_object();
    char created[32];
    time_format_iso8601(u->created_at, created, sizeof created);
    if (wants(fields, "created_at"))
        json_object_set_new(user, "created_at", json_string(created));
    if (u->external_id && wants(fields, "external_id"))
        json_object_set_new(user, "external_id", json_string(u->external_id));
    if (wants(fields, "braze_id"))
        json_object_set_new(user, "braze_id", json_string(u->braze_id));
    if (wants(fields, "random_bucket"))
        json_object_set_new(user, "random_bucket", json_integer(u->random_bucket));
    json_t *custom = json_object();
    const char *key;
    json_t *value;
    /* profile fields at the top level under their names (core/users/profile.h), the rest
     * apart; push tokens in the export's shape ("app" for the app_id they were set with) */
    json_object_foreach(u->attrs, key, value) {
        if (!profile_field_is(key))
            json_object_set(custom, key, value);
        else if (strcmp(key, "push_tokens") == 0 && wants(fields, key))
            json_object_set_new(user, key, push_tokens_json(value));
        else if (wants(fields, key))
            json_object_set(user, key, value);
    }
    json_t *aliases = json_array(), *devices = json_array();
    for (size_t i = 0; i < u->n_aliases; i++)
        json_array_append_new(aliases, json_pack("{s:s, s:s}", "alias_name", u->aliases[i].name,
                                                 "alias_label", u->aliases[i].label));
    for (size_t i = 0; i < u->n_devices; i++)
        json_array_append_new(devices, json_pack("{s:s}", "device_id", u->devices[i]));
    struct {
        const char *name;
        json_t *value;
    } lists[] = {{"user_aliases", aliases},
                 {"devices", devices},
                 {"custom_attributes", custom},
                 {"custom_events", summaries_json(u->events, u->n_events)},
                 {"purchases", summaries_json(u->purchases, u->n_purchases)}};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        bool filled = json_is_array(lists[i].value) ? json_array_size(lists[i].value) > 0
                                                    : json_object_size(lists[i].value) > 0;
        if (filled && wants(fields, lists[i].name))
            json_object_set(user, lists[i].name, lists[i].value);
        json_decref(lists[i].value);
    }
    return user;
}

enum cd_err api_users_export_ids_call(struct app *app, struct workspace *ws, const json_t *body,
                                      json_t **out, struct cd_msg *msg) {
    enum cd_err err = check_request(body, msg);
    if (err != CD_OK)
        return err;
    const json_t *fields = json_object_get(body, "fields_to_export");
    if (!json_is_array(fields))
        fields = NULL;
    const json_t *ext = json_object_get(body, "external_ids");
    const json_t *aliases = json_object_get(body, "user_aliases");
    size_t n_ext = json_array_size(ext), n_aliases = json_array_size(aliases);
    const char **ext_ids = calloc(n_ext + 1, sizeof *ext_ids);
    struct user_ref *refs = calloc(n_aliases + 1, sizeof *refs);
    if (!ext_ids || !refs) {
        free(ext_ids);
        free(refs);
        return CD_E_NOMEM;
    }
    for (size_t i = 0; i < n_ext; i++)
        ext_ids[i] = json_string_value(json_array_get(ext, i));
    for (size_t i = 0; i < n_aliases; i++)
        if (api_user_alias_valid(json_array_get(aliases, i), &refs[i].alias_label,
                                 &refs[i].alias_name))
            refs[i].kind = USER_REF_ALIAS;
    struct user_export_request req = {
        .external_ids = ext_ids,
        .n_external_ids = n_ext,
        .aliases = refs,
        .n_aliases = n_aliases,
        .device_id = json_string_value(json_object_get(body, "device_id")),
        .braze_id = json_string_value(json_object_get(body, "braze_id")),
        .email = json_string_value(json_object_get(body, "email_address")),
        .phone = json_string_value(json_object_get(body, "phone")),
        .parts = api_user_export_parts(fields),
    };
    struct user_export_result res;
    err = users_export_ids(app, ws, &req, &res);
    free(ext_ids);
    free(refs);
    if (err != CD_OK)
        return err;
    json_t *users = json_array(), *invalid = json_array();
    for (size_t i = 0; i < res.n_users; i++)
        json_array_append_new(users, api_user_export_json(&res.users[i], fields));
    for (size_t i = 0; i < res.n_unknown; i++)
        json_array_append(invalid, json_array_get(ext, res.unknown_external_ids[i]));
    user_export_result_free(&res);
    json_t *reply = json_pack("{s:s, s:o}", "message", "success", "users", users);
    if (json_array_size(invalid))
        json_object_set(reply, "invalid_user_ids", invalid);
    json_decref(invalid);
    *out = reply;
    return CD_OK;
}
