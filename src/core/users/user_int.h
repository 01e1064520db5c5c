/*
 * user_int.h — helpers shared by the user_*.c files of core/ (folder-private): creating a
 * user, resolving the user an object names, deleting one, reading its external id.
 * All run inside a workspace write.
 */
#ifndef COHORTD_CORE_USERS_USER_INT_H
#define COHORTD_CORE_USERS_USER_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/users/users.h"
#include "core/workspace/workspace_int.h"

/* Creates a user (durably within the write). ext / alias / device may be NULL. */
enum cd_err user_create(struct app *app, struct workspace *ws, const char *ext,
                        const char *alias_label, const char *alias_name, const char *device_id,
                        bool created_anon, int64_t now, uint32_t *uid);

/* Deletes a user: store tombstone, identity maps, cohorts, attribute and event indexes. */
enum cd_err user_remove(struct app *app, struct workspace *ws, uint32_t uid, int64_t now);

/* Copies the user's external id into buf (empty when none). */
enum cd_err user_external_id(struct app *app, struct workspace *ws, uint32_t uid, char *buf,
                             size_t buf_len);

/* Reads the user's attribute object (new reference) and writes it back; `old` is the object
 * as it was before (the attribute index moves the user from old values to new ones). */
enum cd_err user_attrs_load(struct app *app, struct workspace *ws, uint32_t uid, json_t **attrs);
enum cd_err user_attrs_store(struct app *app, struct workspace *ws, uint32_t uid, const json_t *old,
                             const json_t *attrs, int64_t now);

/* How an object names its user: external_id, user_alias or braze_id (in that precedence).
 * Creates the user when allowed (`may_create` and not _update_existing_only). Sets *uid, or
 * leaves it 0 and sets *minor to the error text. */
enum cd_err user_resolve(struct app *app, struct workspace *ws, const json_t *obj,
                         bool alias_creates_by_default, int64_t now, uint32_t *uid,
                         const char **minor);

/* Appends {"type", "input_array", "index"} to errors. */
void user_minor_error(json_t *errors, const char *type, const char *input_array, size_t index);

/* Alias object check: both names non-empty strings. */
bool user_alias_valid(const json_t *alias, const char **label, const char **name);

#endif
