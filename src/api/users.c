/*
 * users.c — the Braze-compatible users API (/users/track, /users/alias/new, /users/identify,
 * /users/delete, /users/export/ids) and our /devices/track: the routes, and what their files
 * share (users_int.h): Braze's texts of core's minor errors, user identifiers, limit answers.
 * Each surface parses its body into core/users/users.h structs in users_<surface>.c, checks
 * it against limits.h before core takes any lock, and builds Braze's reply from the result.
 */
#include "api/users_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/limits.h"

void api_users_track(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, api_users_track_call, 201);
}

void api_users_alias_new(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, api_users_alias_new_call, 201);
}

void api_users_identify(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, api_users_identify_call, 201);
}

void api_users_delete(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, api_users_delete_call, 201);
}

void api_users_merge(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, api_users_merge_call, 202);
}

void api_users_export_ids(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, api_users_export_ids_call, 200);
}

void api_devices_track(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, api_devices_track_call, 201);
}

/* ---- shared by the users_*.c files ---- */

const char *api_user_array_name(enum user_array array) {
    switch (array) {
    case USER_ARRAY_ATTRIBUTES:
        return "attributes";
    case USER_ARRAY_EVENTS:
        return "events";
    case USER_ARRAY_PURCHASES:
        return "purchases";
    case USER_ARRAY_USER_ALIASES:
        return "user_aliases";
    case USER_ARRAY_ALIASES_TO_IDENTIFY:
        return "aliases_to_identify";
    case USER_ARRAY_EMAILS_TO_IDENTIFY:
        return "emails_to_identify";
    case USER_ARRAY_PHONES_TO_IDENTIFY:
        return "phone_numbers_to_identify";
    case USER_ARRAY_MERGE_UPDATES:
        return "merge_updates";
    }
    return "unknown";
}

const char *api_user_minor_text(enum user_minor code, enum user_array array) {
    switch (code) {
    case USER_MINOR_NONE:
        break;
    case USER_MINOR_NOT_OBJECT:
        return array == USER_ARRAY_EVENTS      ? "event object must be a JSON object"
               : array == USER_ARRAY_PURCHASES ? "purchase object must be a JSON object"
                                               : "attributes object must be a JSON object";
    case USER_MINOR_UPDATE_EXISTING_TYPE:
        return "'_update_existing_only' must be a boolean";
    case USER_MINOR_EXTERNAL_ID_EMPTY:
        return "'external_id' must be a non-empty string";
    case USER_MINOR_ALIAS_INVALID:
        return "'user_alias' must hold non-empty 'alias_name' and 'alias_label' strings";
    case USER_MINOR_NO_IDENTIFIER:
        return "'external_id' or 'braze_id' or 'user_alias' or 'email' or 'phone' is required";
    case USER_MINOR_INC_NOT_NUMBER:
        return "'inc' must be a number";
    case USER_MINOR_ADD_REMOVE_NOT_ARRAYS:
        return "'add' and 'remove' must be arrays";
    case USER_MINOR_ARRAY_TOO_LONG:
        return "array attributes hold at most 100 values";
    case USER_MINOR_ATTRIBUTE_NAME:
        return "custom attribute names must be non-empty strings";
    case USER_MINOR_EVENT_NAME:
        return "'name' must be a non-empty string";
    case USER_MINOR_TIME:
        return "'time' must be an ISO-8601 time";
    case USER_MINOR_PROPERTIES_TYPE:
        return "'properties' must be an object";
    case USER_MINOR_PROPERTY_NAME:
        return "property names must be 1 to 255 characters and not start with '$'";
    case USER_MINOR_PROPERTY_RESERVED:
        return "'time' and 'event_name' are reserved property names";
    case USER_MINOR_PRODUCT_ID:
        return "'product_id' must be a string of 1 to 255 characters";
    case USER_MINOR_CURRENCY:
        return "'currency' must be an ISO-4217 alphabetic code";
    case USER_MINOR_PRICE:
        return "'price' must be a number";
    case USER_MINOR_QUANTITY:
        return "'quantity' must be an integer from 1 to 100";
    case USER_MINOR_ALIAS_NAMES:
        return "'alias_name' and 'alias_label' must be non-empty strings";
    case USER_MINOR_EXTERNAL_ID_TYPE:
        return "'external_id' must be a string";
    case USER_MINOR_EMAIL_INVALID:
        return "'email' must be a valid email address";
    case USER_MINOR_PHONE_INVALID:
        return "'phone' must be a valid phone number";
    case USER_MINOR_PRIORITIZATION:
        return "'prioritization' must be a non-empty array of \"identified\", \"unidentified\", "
               "\"most_recently_updated\" and \"least_recently_updated\" with at most one of "
               "\"identified\" and \"unidentified\"";
    case USER_MINOR_NO_MATCH:
        return "no user matches this identifier and none may be created";
    case USER_MINOR_INC_NOT_NUMBER_ATTR:
        return "'inc' applies only to a number attribute";
    case USER_MINOR_INC_OVERFLOW:
        return "'inc' would take the attribute out of the range of its number type";
    case USER_MINOR_ADD_REMOVE_NOT_ARRAY:
        return "'add' and 'remove' apply only to an array attribute";
    case USER_MINOR_NO_USER_WITH_EXTERNAL:
        return "no user has this external_id";
    case USER_MINOR_ALIAS_TAKEN:
        return "the alias belongs to another user";
    case USER_MINOR_NO_USER_WITH_ALIAS:
        return "no user has this alias";
    case USER_MINOR_ALIAS_OTHER_EXTERNAL:
        return "the alias belongs to a user with another external_id";
    case USER_MINOR_LABEL_TAKEN:
        return "the identified user already has an alias with this label; not merged";
    case USER_MINOR_NO_USER_WITH_CONTACT:
        return array == USER_ARRAY_PHONES_TO_IDENTIFY ? "no user has this phone number"
                                                      : "no user has this email address";
    case USER_MINOR_CONTACT_AMBIGUOUS:
        return "more than one user matches this prioritization; not merged";
    case USER_MINOR_CONTACT_OTHER_EXTERNAL:
        return array == USER_ARRAY_PHONES_TO_IDENTIFY
                   ? "the user of this phone number has another external_id"
                   : "the user of this email address has another external_id";
    case USER_MINOR_LABEL_HELD:
        return "the user already has an alias with this alias_label; a user holds one alias_name "
               "per alias_label";
    }
    return "invalid object";
}

void api_user_error_add(json_t *errors, const char *type, const char *input_array, size_t index) {
    json_array_append_new(errors, json_pack("{s:s, s:s, s:I}", "type", type, "input_array",
                                            input_array, "index", (json_int_t)index));
}

void api_user_errors_add(json_t *errors, const struct user_minors *m) {
    for (size_t i = 0; i < m->n; i++)
        api_user_error_add(errors, api_user_minor_text(m->v[i].code, m->v[i].array),
                           api_user_array_name(m->v[i].array), m->v[i].index);
}

void api_user_errors_set(json_t *reply, json_t *errors) {
    if (json_array_size(errors))
        json_object_set(reply, "errors", errors);
    json_decref(errors);
}

enum cd_err api_user_too_long(struct cd_msg *msg, size_t max, const char *field_fmt, ...) {
    char *field = NULL;
    va_list ap;
    va_start(ap, field_fmt);
    int n = vasprintf(&field, field_fmt, ap);
    va_end(ap);
    if (n < 0)
        return CD_E_NOMEM;
    enum cd_err err = cd_invalid(msg, API_LIMIT_LEN_TEXT, field, max);
    free(field);
    return err;
}

enum cd_err api_user_too_many(struct cd_msg *msg, size_t max, const char *field) {
    return cd_invalid(msg, API_LIMIT_COUNT_TEXT, field, max);
}

bool api_user_str_over(const json_t *v, size_t max) {
    return json_is_string(v) && json_string_length(v) > max;
}

enum cd_err api_user_check_ids(const json_t *obj, const char *path, struct cd_msg *msg) {
    const json_t *alias = json_object_get(obj, "user_alias");
    if (api_user_str_over(json_object_get(obj, "external_id"), LIMIT_EXTERNAL_ID))
        return api_user_too_long(msg, LIMIT_EXTERNAL_ID, "%s.external_id", path);
    if (api_user_str_over(json_object_get(alias, "alias_label"), LIMIT_ALIAS_LABEL))
        return api_user_too_long(msg, LIMIT_ALIAS_LABEL, "%s.user_alias.alias_label", path);
    if (api_user_str_over(json_object_get(alias, "alias_name"), LIMIT_ALIAS_NAME))
        return api_user_too_long(msg, LIMIT_ALIAS_NAME, "%s.user_alias.alias_name", path);
    if (api_user_str_over(json_object_get(obj, "braze_id"), LIMIT_BRAZE_ID))
        return api_user_too_long(msg, LIMIT_BRAZE_ID, "%s.braze_id", path);
    return CD_OK;
}

bool api_user_email_valid(const char *e) {
    size_t len = e ? strlen(e) : 0;
    const char *at = e ? strchr(e, '@') : NULL;
    if (len < 3 || len > API_EMAIL_MAX || !at || at == e || strchr(at + 1, '@'))
        return false;
    for (const char *p = e; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == ',' || *p == ';' || *p == '<' ||
            *p == '>')
            return false;
    const char *dom = at + 1, *dot = strrchr(dom, '.');
    size_t dl = strlen(dom);
    return dl >= 3 && dot && dot != dom && dot[1] && dom[0] != '-' && dom[dl - 1] != '-' &&
           !strstr(dom, "..");
}

bool api_user_phone_valid(const char *p) {
    size_t digits = 0, len = p ? strlen(p) : 0;
    if (len == 0 || len > API_PHONE_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (c >= '0' && c <= '9')
            digits++;
        else if (!(c == '+' && i == 0) && c != ' ' && c != '-' && c != '.' && c != '(' && c != ')')
            return false;
    }
    return digits >= 7 && digits <= 15; /* E.164: at most 15 digits */
}

enum user_minor api_user_parse_priorities(const json_t *arr, enum user_priority *out, size_t *n) {
    static const char *const names[] = {"identified", "unidentified", "most_recently_updated",
                                        "least_recently_updated"};
    *n = 0;
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > USER_PRIORITIES_MAX)
        return USER_MINOR_PRIORITIZATION;
    bool kind = false;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *name = json_string_value(v);
        size_t k = 0;
        while (name && k < 4 && strcmp(name, names[k]) != 0)
            k++;
        if (!name || k == 4 || (k < 2 && kind))
            return USER_MINOR_PRIORITIZATION;
        kind = kind || k < 2;
        out[(*n)++] = (enum user_priority)k;
    }
    return USER_MINOR_NONE;
}

bool api_user_alias_valid(const json_t *alias, const char **label, const char **name) {
    const char *l = json_string_value(json_object_get(alias, "alias_label"));
    const char *n = json_string_value(json_object_get(alias, "alias_name"));
    if (!json_is_object(alias) || !l || !n || !*l || !*n)
        return false;
    *label = l;
    *name = n;
    return true;
}

enum user_minor api_user_parse_ref(const json_t *obj, struct user_ref *ref,
                                   int *update_existing_only) {
    memset(ref, 0, sizeof *ref);
    const json_t *ueo = json_object_get(obj, "_update_existing_only");
    *update_existing_only = json_is_boolean(ueo) ? json_is_true(ueo) : -1;
    if (ueo && !json_is_boolean(ueo) && !json_is_null(ueo))
        return USER_MINOR_UPDATE_EXISTING_TYPE;
    const json_t *ext = json_object_get(obj, "external_id");
    const json_t *alias = json_object_get(obj, "user_alias");
    const json_t *bid = json_object_get(obj, "braze_id");
    const json_t *email = json_object_get(obj, "email"), *phone = json_object_get(obj, "phone");
    if (ext && !json_is_null(ext)) {
        const char *e = json_string_value(ext);
        if (!e || !*e)
            return USER_MINOR_EXTERNAL_ID_EMPTY;
        ref->kind = USER_REF_EXTERNAL_ID;
        ref->external_id = e;
    } else if (alias && !json_is_null(alias)) {
        if (!api_user_alias_valid(alias, &ref->alias_label, &ref->alias_name))
            return USER_MINOR_ALIAS_INVALID;
        ref->kind = USER_REF_ALIAS;
    } else if (bid && !json_is_null(bid)) {
        ref->kind = USER_REF_BRAZE_ID;
        ref->braze_id = json_string_value(bid); /* NULL: matches no user */
    } else if ((email && !json_is_null(email)) || (phone && !json_is_null(phone))) {
        /* Braze: with both, the email identifies the user */
        bool by_email = email && !json_is_null(email);
        ref->kind = by_email ? USER_REF_EMAIL : USER_REF_PHONE;
        ref->address = json_string_value(by_email ? email : phone);
        if (by_email ? !api_user_email_valid(ref->address) : !api_user_phone_valid(ref->address))
            return by_email ? USER_MINOR_EMAIL_INVALID : USER_MINOR_PHONE_INVALID;
    } else {
        return USER_MINOR_NO_IDENTIFIER;
    }
    return USER_MINOR_NONE;
}
