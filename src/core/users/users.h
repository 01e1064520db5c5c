/*
 * users.h — the users domain behind the Braze-compatible /users/... endpoints and our
 * /devices/track: creating and finding profiles, attributes, events and purchases, aliases,
 * identification (merge), deletion and export. Requests arrive as parsed JSON (jansson);
 * answers leave as JSON. Each call is one workspace write (all of it or none of it).
 *
 * Errors: a fatal problem returns CD_E_INVALID (or CD_E_TOO_LARGE) with `msg` set to the
 * Braze text, and nothing is stored. Per-object ("minor") problems go into the result's
 * `errors` array and the rest of the request is applied.
 */
#ifndef COHORTD_CORE_USERS_USERS_H
#define COHORTD_CORE_USERS_USERS_H

#include <jansson.h>
#include <stddef.h>

#include "core/workspace/workspace.h"

#define USERS_TRACK_MAX_OBJECTS 75
#define USERS_ALIAS_MAX 50
#define USERS_IDS_MAX 50

/* POST /users/track. On success *out is the response body (owned). */
enum cd_err users_track(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                        struct cd_msg *msg);
/* POST /users/alias/new */
enum cd_err users_alias_new(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                            struct cd_msg *msg);
/* POST /users/identify */
enum cd_err users_identify(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                           struct cd_msg *msg);
/* POST /users/delete */
enum cd_err users_delete(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                         struct cd_msg *msg);
/* POST /users/export/ids (read only) */
enum cd_err users_export_ids(struct app *app, struct workspace *ws, const json_t *body,
                             json_t **out, struct cd_msg *msg);
/* POST /devices/track */
enum cd_err users_device_track(struct app *app, struct workspace *ws, const json_t *body,
                               json_t **out, struct cd_msg *msg);

/* One user's external id (empty when none) and custom attributes (new object) in one read;
 * CD_E_NOT_FOUND when no such user. Any time, outside a write. */
enum cd_err users_profile(struct app *app, struct workspace *ws, uint32_t uid, char *ext,
                          size_t ext_len, json_t **attrs);

#endif
