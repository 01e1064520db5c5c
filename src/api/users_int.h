/*
 * users_int.h — what the users_*.c files of api/ share (folder-private): Braze's texts for
 * core's minor-error codes, the `errors` array of a reply, the user identifiers an object
 * carries, and the 400 answers of limits.h for a body call (which answers through cd_msg).
 * campaigns_trigger.c uses its email and prioritization readers for email recipients.
 */
#ifndef COHORTD_API_USERS_INT_H
#define COHORTD_API_USERS_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/users/users.h"

/* The body calls (api_body_call) of the routes in users.c: parse, check limits, call core,
 * build the reply. One per surface, in users_track.c, users_ops.c and users_export.c. */
enum cd_err api_users_track_call(struct app *app, struct workspace *ws, const json_t *body,
                                 json_t **out, struct cd_msg *msg);
enum cd_err api_users_alias_new_call(struct app *app, struct workspace *ws, const json_t *body,
                                     json_t **out, struct cd_msg *msg);
enum cd_err api_users_identify_call(struct app *app, struct workspace *ws, const json_t *body,
                                    json_t **out, struct cd_msg *msg);
enum cd_err api_users_delete_call(struct app *app, struct workspace *ws, const json_t *body,
                                  json_t **out, struct cd_msg *msg);
enum cd_err api_users_merge_call(struct app *app, struct workspace *ws, const json_t *body,
                                 json_t **out, struct cd_msg *msg);
enum cd_err api_users_export_ids_call(struct app *app, struct workspace *ws, const json_t *body,
                                      json_t **out, struct cd_msg *msg);
enum cd_err api_devices_track_call(struct app *app, struct workspace *ws, const json_t *body,
                                   json_t **out, struct cd_msg *msg);

/* Braze's name of a request array ("attributes", "user_aliases", …). */
const char *api_user_array_name(enum user_array array);

/* Braze's text of a minor error found in `array`. */
const char *api_user_minor_text(enum user_minor code, enum user_array array);

/* Appends {"type", "input_array", "index"} to errors. */
void api_user_error_add(json_t *errors, const char *type, const char *input_array, size_t index);

/* Appends every minor error of m to errors, in order. */
void api_user_errors_add(json_t *errors, const struct user_minors *m);

/* Adds "errors" to the reply when there are any; steals errors. */
void api_user_errors_set(json_t *reply, json_t *errors);

/* The limits.h 400 answers ("<field> is longer than <max> bytes", "<field> has more than
 * <max> items") as a body call gives them: CD_E_INVALID with msg set. field is printf-style. */
enum cd_err api_user_too_long(struct cd_msg *msg, size_t max, const char *field_fmt, ...)
    __attribute__((format(printf, 3, 4)));
enum cd_err api_user_too_many(struct cd_msg *msg, size_t max, const char *field);

/* Braze's export object of one user with only the fields asked for (NULL: all), as
 * /users/export/ids answers it and the segment export files hold it (new reference). */
json_t *api_user_export_json(const struct user_export *u, const json_t *fields);
/* Whether name is a fields_to_export name export understands. */
bool api_user_export_field_known(const char *name);
/* The USER_EXPORT_* parts fields (NULL: all) need read. */
unsigned api_user_export_parts(const json_t *fields);

/* True when the string value is longer than max bytes (NULL and non-strings are not). */
bool api_user_str_over(const json_t *v, size_t max);

/* Checks the identifiers an object may carry (external_id, user_alias.alias_label/name,
 * braze_id) against limits.h; `path` names the object ("attributes[2]"). */
enum cd_err api_user_check_ids(const json_t *obj, const char *path, struct cd_msg *msg);

/* The longest email address and phone number cohortd takes (RFC 5321 allows 254 bytes). */
#define API_EMAIL_MAX 255
#define API_PHONE_MAX 64

/* An email address: local@domain, one '@', no white space or control characters, a domain
 * with a dot. A phone number: 7 to 15 digits (E.164), optionally a leading '+', and spaces,
 * '-', '.', '(' and ')' between them. NULL is neither. */
bool api_user_email_valid(const char *email);
bool api_user_phone_valid(const char *phone);

/* Braze's `prioritization` array into out (USER_PRIORITIES_MAX entries); a problem is returned
 * (USER_MINOR_PRIORITIZATION), else USER_MINOR_NONE. */
enum user_minor api_user_parse_priorities(const json_t *arr, enum user_priority *out, size_t *n);

/* Whether a key of a /users/track attributes object is a standard profile field (Braze's
 * user attributes object: first_name, gender, current_location, …), not a custom attribute. */
bool api_profile_input_is(const char *key);

/* Checks the value of profile field `key` of the attributes object at `path`
 * ("attributes[2]") and gives what core stores: *stored_name (current_location is stored as
 * last_coordinates) and *stored (new reference; NULL: the field is removed — a JSON null, or a
 * country that maps to no code). A value of the wrong kind: CD_E_INVALID, msg
 * "attributes[2].gender: \"X\" is not one of …". */
enum cd_err api_profile_value(const char *path, const char *key, const json_t *value,
                              const char **stored_name, json_t **stored, struct cd_msg *msg);

/* An alias object with non-empty alias_label and alias_name strings (borrowed). */
bool api_user_alias_valid(const json_t *alias, const char **label, const char **name);

/* The user reference and _update_existing_only of a track object: external_id, user_alias,
 * braze_id, email or phone, the first present in that order (Braze's); a problem with them is
 * returned (USER_MINOR_NONE when there is none). */
enum user_minor api_user_parse_ref(const json_t *obj, struct user_ref *ref,
                                   int *update_existing_only);

/* One /users/track attributes object (at `path`, e.g. "attributes[2]") checked against
 * limits.h as /users/track checks it: CD_E_INVALID with msg set when over a limit. */
enum cd_err api_track_attributes_check(const json_t *obj, const char *path, struct cd_msg *msg);

/* One attributes object read into *ta as /users/track reads it (a problem the body shows is
 * ta->invalid); ta->ops is allocated, freed by api_track_request_free with the request. The
 * request borrows obj, and the stored forms of profile fields, which keep (an array) holds
 * until core is done. CD_E_NOMEM only. */
enum cd_err api_track_attributes_parse(const json_t *obj, struct track_attributes *ta,
                                       json_t *keep);

/* Frees what a track request's arrays hold (and the arrays) and zeroes it. */
void api_track_request_free(struct track_request *tr);

#endif
