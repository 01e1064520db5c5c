/*
 * users.h — the users domain behind the Braze-compatible /users/... endpoints and our
 * /devices/track: creating and finding profiles, attributes, events and purchases, aliases,
 * identification (merge), deletion and export. Requests arrive as C structs that api/ parsed
 * and checked against api/limits.h; results leave as C structs that api/ turns into Braze's
 * reply shapes and texts. Core knows no request or reply document and no Braze text.
 *
 * JSON inside the structs: a custom attribute is an arbitrary JSON value by definition (string,
 * number, boolean, array, nested object), and so are event and purchase properties (an object
 * of arbitrary values); those — and only those — stay `json_t *`, borrowed from the request.
 * Every other string in a request struct is borrowed too, NUL-terminated, and lives as long as
 * the call.
 *
 * Each write call is one workspace write (all of it or none of it). Per-object ("minor")
 * problems are reported as a code and the object's index in the result, and the rest of the
 * request is applied; any other error is returned and nothing is stored.
 */
#ifndef COHORTD_CORE_USERS_USERS_H
#define COHORTD_CORE_USERS_USERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/workspace/workspace.h"

/* ---- what the calls have in common ---- */

/* How an object names its user. */
enum user_ref_kind {
    USER_REF_NONE = 0,
    USER_REF_EXTERNAL_ID,
    USER_REF_ALIAS,
    USER_REF_BRAZE_ID,
    USER_REF_EMAIL, /* several users may share an email or phone number: see user_priority */
    USER_REF_PHONE,
};

/* Which of the users sharing an email or phone number a reference means (Braze's
 * `prioritization`): each rule in order narrows the candidates when it can (identified:
 * those with an external_id; unidentified: those without; most / least recently updated:
 * the newest / oldest by updated_at). One candidate left is the user; more are ambiguous. */
enum user_priority {
    USER_PRIORITY_IDENTIFIED,
    USER_PRIORITY_UNIDENTIFIED,
    USER_PRIORITY_MOST_RECENT,
    USER_PRIORITY_LEAST_RECENT,
};
#define USER_PRIORITIES_MAX 4

struct user_ref {
    enum user_ref_kind kind;
    const char *external_id; /* USER_REF_EXTERNAL_ID: non-empty */
    const char *alias_label; /* USER_REF_ALIAS: both non-empty */
    const char *alias_name;
    const char *braze_id; /* USER_REF_BRAZE_ID */
    const char *address;  /* USER_REF_EMAIL / USER_REF_PHONE: the email or phone number */
    /* /users/delete only: which holders of the address; none (0) means every holder. The
     * other calls use Braze's rule for /users/track: identified first, most recent first. */
    enum user_priority prioritization[USER_PRIORITIES_MAX];
    size_t n_prioritization;
};

/* Per-object problems. api/ owns the texts. Codes up to USER_MINOR_PARSED_LAST are found by
 * the parser (set as an object's `invalid`); the rest only core can find (they depend on the
 * stored state). */
enum user_minor {
    USER_MINOR_NONE = 0,
    /* found while parsing */
    USER_MINOR_NOT_OBJECT,            /* the object is not a JSON object */
    USER_MINOR_UPDATE_EXISTING_TYPE,  /* _update_existing_only is not a boolean */
    USER_MINOR_EXTERNAL_ID_EMPTY,     /* external_id is not a non-empty string */
    USER_MINOR_ALIAS_INVALID,         /* user_alias lacks non-empty label and name */
    USER_MINOR_NO_IDENTIFIER,         /* none of external_id, user_alias, braze_id */
    USER_MINOR_INC_NOT_NUMBER,        /* {"inc": x} with x not a number */
    USER_MINOR_ADD_REMOVE_NOT_ARRAYS, /* {"add"/"remove": x} with x not an array */
    USER_MINOR_ARRAY_TOO_LONG,        /* an array attribute would exceed its maximum */
    USER_MINOR_ATTRIBUTE_NAME,        /* a custom attribute is named "" */
    USER_MINOR_EVENT_NAME,            /* event name is not a non-empty string */
    USER_MINOR_TIME,                  /* time is not an ISO-8601 time */
    USER_MINOR_PROPERTIES_TYPE,       /* properties is not an object */
    USER_MINOR_PROPERTY_NAME,         /* a property name is empty, too long or starts with '$' */
    USER_MINOR_PROPERTY_RESERVED,     /* an event property is named time or event_name */
    USER_MINOR_PRODUCT_ID,            /* product_id is not a string of 1 to 255 bytes */
    USER_MINOR_CURRENCY,              /* currency is not three capital letters */
    USER_MINOR_PRICE,                 /* price is not a finite number */
    USER_MINOR_QUANTITY,              /* quantity is not an integer from 1 to 100 */
    USER_MINOR_ALIAS_NAMES,           /* alias/new: alias_name or alias_label missing or empty */
    USER_MINOR_EXTERNAL_ID_TYPE,      /* alias/new: external_id is not a string */
    USER_MINOR_EMAIL_INVALID,         /* an identifying email is not an email address */
    USER_MINOR_PHONE_INVALID,         /* an identifying phone is not a phone number */
    USER_MINOR_PRIORITIZATION,        /* identify: prioritization missing or not Braze's values */
    USER_MINOR_PARSED_LAST = USER_MINOR_PRIORITIZATION,
    /* found by core */
    USER_MINOR_NO_MATCH,               /* no such user, and none may be created */
    USER_MINOR_INC_NOT_NUMBER_ATTR,    /* inc on an attribute that is not a number */
    USER_MINOR_INC_OVERFLOW,           /* inc would leave int64 (integers) or give an infinity */
    USER_MINOR_ADD_REMOVE_NOT_ARRAY,   /* add/remove on an attribute that is not an array */
    USER_MINOR_NO_USER_WITH_EXTERNAL,  /* alias/new: no user has the external_id */
    USER_MINOR_ALIAS_TAKEN,            /* alias/new: the alias belongs to another user */
    USER_MINOR_NO_USER_WITH_ALIAS,     /* identify: no user has the alias */
    USER_MINOR_ALIAS_OTHER_EXTERNAL,   /* identify: the alias's user has another external_id */
    USER_MINOR_LABEL_TAKEN,            /* identify: the user already has an alias of this label */
    USER_MINOR_NO_USER_WITH_CONTACT,   /* identify: no user has the email / phone number */
    USER_MINOR_CONTACT_AMBIGUOUS,      /* identify: the prioritization leaves several users */
    USER_MINOR_CONTACT_OTHER_EXTERNAL, /* identify: the address's user has another external_id */
    USER_MINOR_LABEL_HELD,             /* alias/new: the user has another alias_name of the label */
};

/* Which array of the request a minor error is about. */
enum user_array {
    USER_ARRAY_ATTRIBUTES,
    USER_ARRAY_EVENTS,
    USER_ARRAY_PURCHASES,
    USER_ARRAY_USER_ALIASES,
    USER_ARRAY_ALIASES_TO_IDENTIFY,
    USER_ARRAY_EMAILS_TO_IDENTIFY,
    USER_ARRAY_PHONES_TO_IDENTIFY,
    USER_ARRAY_MERGE_UPDATES,
};

struct user_minor_error {
    enum user_minor code;
    enum user_array array;
    size_t index; /* position in that array of the request */
};

/* Minor errors in request order. Owned by the result; users_minors_free. */
struct user_minors {
    struct user_minor_error *v;
    size_t n;
    size_t cap;
};

void users_minors_free(struct user_minors *m);

/* Appends a minor error (for a later module's verb that reports in this shape); CD_E_NOMEM
 * when it cannot. */
enum cd_err users_minors_add(struct user_minors *m, enum user_minor code, enum user_array array,
                             size_t index);

/* ---- POST /users/track ---- */

enum attr_op_kind {
    ATTR_OP_SET,        /* value: the new value (any JSON value but null) */
    ATTR_OP_UNSET,      /* the attribute is removed */
    ATTR_OP_INC,        /* inc_int or inc_real is added to a number attribute */
    ATTR_OP_ADD_REMOVE, /* add (may be NULL) then remove (may be NULL), both JSON arrays */
    ATTR_OP_INVALID,    /* the object fails with `invalid` when it reaches this op */
};

struct attr_op {
    const char *name;
    enum attr_op_kind kind;
    const json_t *value; /* ATTR_OP_SET: a custom attribute value (borrowed) */
    bool inc_is_int;     /* ATTR_OP_INC */
    int64_t inc_int;
    double inc_real;
    const json_t *add; /* ATTR_OP_ADD_REMOVE: values, at most LIMIT_ARRAY_ATTRIBUTE */
    const json_t *remove;
    enum user_minor invalid; /* ATTR_OP_INVALID */
};

/* update_existing_only: -1 when absent (the default of the kind of object), else 0 or 1. */
struct track_attributes {
    enum user_minor invalid; /* not NONE: the object is skipped with this error */
    struct user_ref ref;
    int update_existing_only;
    struct attr_op *ops;
    size_t n_ops;
};

struct track_event {
    enum user_minor invalid;
    struct user_ref ref;
    int update_existing_only;
    const char *name;
    int64_t time_ms;
    const json_t *properties; /* object of arbitrary values, or NULL */
    const char *app_id;       /* NULL when absent */
};

struct track_purchase {
    enum user_minor invalid;
    struct user_ref ref;
    int update_existing_only;
    const char *product_id;
    const char *currency; /* ISO 4217, three capital letters */
    double price;
    int64_t quantity; /* 1 to 100 */
    int64_t time_ms;
    const json_t *properties; /* object of arbitrary values, or NULL */
    const char *app_id;
};

struct track_request {
    struct track_attributes *attributes;
    size_t n_attributes;
    struct track_event *events;
    size_t n_events;
    struct track_purchase *purchases;
    size_t n_purchases;
};

struct track_result {
    size_t n_attributes; /* objects applied */
    size_t n_events;
    size_t n_purchases;
    struct user_minors minors;
};

/* Attributes, then events, then purchases (Braze's order). *res is filled on CD_OK (free its
 * minors); on error nothing is stored. */
enum cd_err users_track(struct app *app, struct workspace *ws, const struct track_request *req,
                        struct track_result *res);

/* The same inside a workspace write the caller holds (a later module joins it to its own
 * change in one write: a trigger applies its recipients' attributes before it sends). On error
 * the caller's write must fail (its rollback undoes what was stored); free res's minors. */
enum cd_err users_track_locked(struct app *app, struct workspace *ws,
                               const struct track_request *req, int64_t now,
                               struct track_result *res);

/* ---- POST /users/alias/new ---- */

struct alias_new_item {
    enum user_minor invalid;
    const char *alias_label;
    const char *alias_name;
    const char *external_id; /* NULL: a new alias-only user */
};

struct users_count_result {
    size_t n; /* items applied */
    struct user_minors minors;
};

enum cd_err users_alias_new(struct app *app, struct workspace *ws,
                            const struct alias_new_item *items, size_t n_items,
                            struct users_count_result *res);

/* ---- POST /users/identify ---- */

/* One entry of aliases_to_identify (alias_label and alias_name), emails_to_identify or
 * phone_numbers_to_identify (address and prioritization); `array` and `index` say where it
 * stands in the request (minor errors name them). */
struct identify_item {
    enum user_minor invalid;
    enum user_array array;
    size_t index;
    const char *external_id;
    const char *alias_label;
    const char *alias_name;
    const char *address;
    enum user_priority prioritization[USER_PRIORITIES_MAX];
    size_t n_prioritization;
};

/* merge: merge an alias-only (email-only, phone-only) profile into the existing user of the
 * external id. With no user of that external id, the profile takes it. */
enum cd_err users_identify(struct app *app, struct workspace *ws, const struct identify_item *items,
                           size_t n_items, bool merge, struct users_count_result *res);

/* ---- merging one user into another (POST /users/merge; core/cohorts/user_merge.h) ---- */

/* Inside a workspace write: merges `from` into `to` as /users/identify's merge does (custom
 * attributes only `from` has, aliases, devices, event and purchase summaries and times), then
 * deletes `from` (which drops it from every cohort: move memberships first). */
enum cd_err users_merge_locked(struct app *app, struct workspace *ws, uint32_t from, uint32_t to,
                               int64_t now);

/* ---- POST /users/delete ---- */

/* Deletes the users the refs name; unknown ones are skipped. An email or phone reference
 * deletes every holder of the address, or the one its prioritization picks (none when that
 * is ambiguous). *n_deleted counts the deleted. */
enum cd_err users_delete(struct app *app, struct workspace *ws, const struct user_ref *refs,
                         size_t n_refs, size_t *n_deleted);

/* ---- POST /users/export/ids (read only) ---- */

enum {
    USER_EXPORT_ALIASES = 1 << 0,
    USER_EXPORT_DEVICES = 1 << 1,
    USER_EXPORT_EVENTS = 1 << 2, /* custom events and purchases */
};

struct user_export_request {
    const char *const *external_ids; /* entries may be NULL: never found */
    size_t n_external_ids;
    const struct user_ref *aliases; /* USER_REF_ALIAS, or NONE: never found */
    size_t n_aliases;
    const char *device_id; /* NULL when absent */
    const char *braze_id;  /* NULL when absent */
    const char *email;     /* NULL when absent: every user with this email */
    const char *phone;     /* NULL when absent: every user with this phone number */
    unsigned parts;        /* USER_EXPORT_* to read */
};

struct user_alias_pair {
    char *label;
    char *name;
};

struct user_event_summary {
    char *name;
    int64_t count;
    int64_t first_at;
    int64_t last_at;
};

/* One exported user; every pointer owned. */
struct user_export {
    char *braze_id;
    char *external_id; /* NULL when none */
    int64_t created_at;
    int random_bucket; /* 0 to 9999, fixed for the user (from its braze_id's random bytes) */
    json_t *attrs;     /* the stored attribute object: profile fields and custom attributes */
    struct user_alias_pair *aliases;
    size_t n_aliases;
    char **devices;
    size_t n_devices;
    struct user_event_summary *events; /* custom events */
    size_t n_events;
    struct user_event_summary *purchases;
    size_t n_purchases;
};

struct user_export_result {
    struct user_export *users; /* each user once, in the order the request names them */
    size_t n_users;
    size_t *unknown_external_ids; /* indices into external_ids that matched no user */
    size_t n_unknown;
};

enum cd_err users_export_ids(struct app *app, struct workspace *ws,
                             const struct user_export_request *req, struct user_export_result *res);
void user_export_result_free(struct user_export_result *res);

/* One user by internal id (a member of an audience snapshot), read from committed store state
 * without the workspace lock, the parts asked for. CD_E_NOT_FOUND when the user is gone (deleted
 * since); on CD_OK release *out with user_export_free. */
enum cd_err users_export_uid(struct app *app, struct workspace *ws, uint32_t uid, unsigned parts,
                             struct user_export *out);
/* Frees what one user_export holds and zeroes it; NULL-safe. */
void user_export_free(struct user_export *u);

/* ---- POST /devices/track ---- */

struct device_track_request {
    const char *device_id;   /* non-empty */
    const char *external_id; /* NULL when absent; else non-empty */
    bool session_start;
    const char *platform; /* NULL when absent */
    const char *app_id;   /* NULL: the workspace's public id */
};

struct device_track_result {
    char braze_id[BRAZE_ID_LEN + 1];
    bool identified;
};

enum cd_err users_device_track(struct app *app, struct workspace *ws,
                               const struct device_track_request *req,
                               struct device_track_result *res);

/* ---- reads for other parts of core ---- */

/* The user an email (phone number when `phone`) names under the prioritization rules (none:
 * Braze's rule for /users/track, identified first, then the most recently updated): *uid, or
 * 0 with *n_left 0 (nobody has the address) or > 1 (the rules leave several). The caller holds
 * the workspace's read lock (or write lock). */
enum cd_err users_by_contact(struct app *app, struct workspace *ws, bool phone, const char *address,
                             const enum user_priority *rules, size_t n_rules, uint32_t *uid,
                             size_t *n_left);

/* One user's external id (*external_id owned, "" when none; free it) and custom attributes
 * (new object) in one read; CD_E_NOT_FOUND when no such user. Any time, outside a write. On
 * error both are NULL. */
enum cd_err users_profile(struct app *app, struct workspace *ws, uint32_t uid, char **external_id,
                          json_t **attrs);

#endif
