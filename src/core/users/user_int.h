/*
 * user_int.h — helpers shared by the user_*.c files of core/ (folder-private): creating a
 * user, resolving the user a reference names, deleting one, reading its external id, and
 * recording minor errors. All but user_minor_add run inside a workspace write.
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

/* The user's external id, owned (*ext NULL when none; free it). */
enum cd_err user_external_id(struct app *app, struct workspace *ws, uint32_t uid, char **ext);

/* Reads the user's attribute object (new reference) and writes it back; `old` is the object
 * as it was before (the attribute index moves the user from old values to new ones). */
enum cd_err user_attrs_load(struct app *app, struct workspace *ws, uint32_t uid, json_t **attrs);
enum cd_err user_attrs_store(struct app *app, struct workspace *ws, uint32_t uid, const json_t *old,
                             const json_t *attrs, int64_t now);

/* The user ref names: external_id, user_alias or braze_id. Creates the user when allowed
 * (update_existing_only 0, or -1 with an external id, or -1 with an alias and
 * alias_creates_by_default). Sets *uid, or leaves it 0 and sets *minor. */
enum cd_err user_resolve(struct app *app, struct workspace *ws, const struct user_ref *ref,
                         int update_existing_only, bool alias_creates_by_default, int64_t now,
                         uint32_t *uid, enum user_minor *minor);

/* Appends a minor error; CD_E_NOMEM when it cannot. */
enum cd_err user_minor_add(struct user_minors *m, enum user_minor code, enum user_array array,
                           size_t index);

#endif
