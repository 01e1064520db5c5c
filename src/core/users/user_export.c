/*
 * user_export.c — POST /users/export/ids: profiles by identifier, in Braze's export shape.
 * Read-only: the workspace read lock plus committed store reads. Profile fields (first_name,
 * email, …) and custom attributes share one stored attribute object; export splits them.
 */
#include "core/users/user_int.h"

#include <stdio.h>
#include <string.h>

#include "util/timeutil.h"

/* Profile fields stored in the attribute object and exported at the top level. */
static const char *const profile_fields[] = {
    "first_name",      "last_name",      "email",     "phone",    "dob",
    "gender",          "country",        "home_city", "language", "time_zone",
    "email_subscribe", "push_subscribe", "image_url", NULL};

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

struct export_ctx {
    const json_t *fields; /* array of names, or NULL for all */
    json_t *user;
    json_t *attrs;
    json_t *aliases;
    json_t *devices;
    json_t *events;
    json_t *purchases;
};

static bool wants(const struct export_ctx *ec, const char *field) {
    if (!ec->fields)
        return true;
    size_t i;
    json_t *v;
    json_array_foreach(ec->fields, i, v) if (strcmp(json_string_value(v), field) == 0) return true;
    return false;
}

static void take_row(void *ctx, const struct user_row *u) {
    struct export_ctx *ec = ctx;
    char created[32];
    time_format_iso8601(u->created_at, created, sizeof created);
    if (wants(ec, "created_at"))
        json_object_set_new(ec->user, "created_at", json_string(created));
    if (u->external_id && wants(ec, "external_id"))
        json_object_set_new(ec->user, "external_id", json_string(u->external_id));
    if (wants(ec, "braze_id"))
        json_object_set_new(ec->user, "braze_id", json_string(u->braze_id));
    ec->attrs = json_loads(u->attrs ? u->attrs : "{}", 0, NULL);
}

static void take_alias(void *ctx, const struct ident_row *r) {
    struct export_ctx *ec = ctx;
    json_array_append_new(ec->aliases,
                          json_pack("{s:s, s:s}", "alias_name", r->b, "alias_label", r->a));
}

static void take_device(void *ctx, const struct ident_row *r) {
    struct export_ctx *ec = ctx;
    json_array_append_new(ec->devices, json_pack("{s:s}", "device_id", r->a));
}

static void take_event(void *ctx, const struct event_summary_row *r) {
    struct export_ctx *ec = ctx;
    char first[32], last[32];
    time_format_iso8601(r->first_at, first, sizeof first);
    time_format_iso8601(r->last_at, last, sizeof last);
    json_array_append_new(r->kind == EVENT_KIND_PURCHASE ? ec->purchases : ec->events,
                          json_pack("{s:s, s:s, s:s, s:I}", "name", r->name, "first", first, "last",
                                    last, "count", (json_int_t)r->count));
}

/* Builds the export object of one user (new reference), or NULL on a store error. */
static json_t *export_user(struct app *app, struct workspace *ws, uint32_t uid,
                           const json_t *fields) {
    const struct store_user_ops *uo = STORE_OPS(app->store)->users;
    struct export_ctx ec = {fields,       json_object(), NULL,        json_array(),
                            json_array(), json_array(),  json_array()};
    enum cd_err err = uo->get(app->store, ws->id, uid, take_row, &ec);
    if (err == CD_OK && wants(&ec, "user_aliases"))
        err = uo->aliases_of(app->store, ws->id, uid, take_alias, &ec);
    if (err == CD_OK && wants(&ec, "devices"))
        err = uo->devices_of(app->store, ws->id, uid, take_device, &ec);
    if (err == CD_OK && (wants(&ec, "custom_events") || wants(&ec, "purchases")))
        err = uo->events_of(app->store, ws->id, uid, take_event, &ec);
    json_t *custom = json_object();
    const char *key;
    json_t *value;
    json_object_foreach(ec.attrs, key, value) {
        if (!in_list(profile_fields, key))
            json_object_set(custom, key, value);
        else if (wants(&ec, key))
            json_object_set(ec.user, key, value);
    }
    struct {
        const char *name;
        json_t *value;
    } lists[] = {{"user_aliases", ec.aliases},
                 {"devices", ec.devices},
                 {"custom_attributes", custom},
                 {"custom_events", ec.events},
                 {"purchases", ec.purchases}};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        bool filled = json_is_array(lists[i].value) ? json_array_size(lists[i].value) > 0
                                                    : json_object_size(lists[i].value) > 0;
        if (filled && wants(&ec, lists[i].name))
            json_object_set(ec.user, lists[i].name, lists[i].value);
        json_decref(lists[i].value);
    }
    json_decref(ec.attrs);
    if (err != CD_OK) {
        json_decref(ec.user);
        return NULL;
    }
    return ec.user;
}

static enum cd_err check_request(const json_t *body, struct cd_msg *msg) {
    const json_t *ext = json_object_get(body, "external_ids");
    const json_t *aliases = json_object_get(body, "user_aliases");
    const json_t *fields = json_object_get(body, "fields_to_export");
    if ((ext && !json_is_null(ext) && !json_is_array(ext)) ||
        (aliases && !json_is_null(aliases) && !json_is_array(aliases))) {
        return cd_invalid(msg, "'external_ids' and 'user_aliases' must be arrays");
    }
    if (json_array_size(ext) + json_array_size(aliases) > USERS_IDS_MAX) {
        snprintf(msg->text, sizeof msg->text,
                 "The max number of external_ids and aliases per request was exceeded");
        return CD_E_INVALID;
    }
    int singles = 0;
    static const char *const single_keys[] = {"device_id", "email_address", "phone", "braze_id"};
    for (int k = 0; k < 4; k++) {
        const json_t *v = json_object_get(body, single_keys[k]);
        if (v && !json_is_null(v) && !json_is_string(v)) {
            return cd_invalid(msg, "'%s' must be a string", single_keys[k]);
        }
        singles += k < 3 && json_is_string(v);
    }
    if (singles > 1) {
        snprintf(msg->text, sizeof msg->text,
                 "only one of 'device_id', 'email_address' and 'phone' may be given");
        return CD_E_INVALID;
    }
    if (fields && !json_is_null(fields)) {
        if (!json_is_array(fields)) {
            return cd_invalid(msg, "'fields_to_export' must be an array of strings");
        }
        size_t i;
        json_t *v;
        json_array_foreach(fields, i, v) {
            if (!json_is_string(v) || !in_list(known_fields, json_string_value(v))) {
                return cd_invalid(msg, "unknown field in 'fields_to_export': %.64s",
                                  json_is_string(v) ? json_string_value(v) : "(not a string)");
            }
        }
    }
    return CD_OK;
}

/* Appends uid's export once (uids already exported are skipped). */
static enum cd_err add_user(struct app *app, struct workspace *ws, uint32_t uid,
                            const json_t *fields, json_t *users, json_t *seen) {
    char key[16];
    snprintf(key, sizeof key, "%u", uid);
    if (json_object_get(seen, key))
        return CD_OK;
    json_object_set_new(seen, key, json_true());
    json_t *u = export_user(app, ws, uid, fields);
    if (!u)
        return CD_E_STORE;
    json_array_append_new(users, u);
    return CD_OK;
}

enum cd_err users_export_ids(struct app *app, struct workspace *ws, const json_t *body,
                             json_t **out, struct cd_msg *msg) {
    enum cd_err err = check_request(body, msg);
    if (err != CD_OK)
        return err;
    const json_t *fields = json_object_get(body, "fields_to_export");
    if (!json_is_array(fields))
        fields = NULL;
    json_t *users = json_array(), *invalid = json_array(), *seen = json_object();
    workspace_read_begin(ws);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(body, "external_ids"), i, v) {
        uint32_t uid =
            json_is_string(v) ? identity_by_external(&ws->ident, json_string_value(v), NULL) : 0;
        if (!uid)
            json_array_append(invalid, v);
        else if ((err = add_user(app, ws, uid, fields, users, seen)) != CD_OK)
            break;
    }
    json_array_foreach(json_object_get(body, "user_aliases"), i, v) {
        const char *label, *name;
        uint32_t uid = user_alias_valid(v, &label, &name)
                           ? identity_by_alias(&ws->ident, label, name, NULL)
                           : 0;
        if (uid && err == CD_OK)
            err = add_user(app, ws, uid, fields, users, seen);
    }
    const char *device = json_string_value(json_object_get(body, "device_id"));
    const char *bid = json_string_value(json_object_get(body, "braze_id"));
    uint32_t uid = device ? identity_device_owner(&ws->ident, device) : 0;
    if (uid && err == CD_OK)
        err = add_user(app, ws, uid, fields, users, seen);
    uid = bid ? identity_by_braze_id(&ws->ident, bid) : 0;
    if (uid && err == CD_OK)
        err = add_user(app, ws, uid, fields, users, seen);
    workspace_read_end(ws);
    json_decref(seen);
    if (err != CD_OK) {
        json_decref(users);
        json_decref(invalid);
        return err;
    }
    json_t *res = json_pack("{s:s, s:o}", "message", "success", "users", users);
    if (json_array_size(invalid))
        json_object_set(res, "invalid_user_ids", invalid);
    json_decref(invalid);
    *out = res;
    return CD_OK;
}
