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

/* Moves uid in the email and phone index from the addresses of `old` to those of `now` (the
 * attribute objects before and after a change; either may be NULL). Returns 0 or -1 (no
 * memory; under the write's journal the rollback puts the index back). */
int user_contacts_move(struct workspace *ws, uint32_t uid, const json_t *old, const json_t *now);

/* The live users holding an address, in uid order (the oldest first): *uids owned (free it;
 * NULL when *n is 0). */
enum cd_err user_contact_holders(struct workspace *ws, enum identity_contact c, const char *addr,
                                 uint32_t **uids, size_t *n);

/* The holders of an address that the prioritization rules leave (users.h, enum
 * user_priority): *n_left of them (0: nobody holds the address; > 1: ambiguous), *uid the
 * first of them (0 when none). */
enum cd_err user_contact_pick(struct app *app, struct workspace *ws, enum identity_contact c,
                              const char *addr, const enum user_priority *rules, size_t n_rules,
                              uint32_t *uid, size_t *n_left);

/* Appends a minor error; CD_E_NOMEM when it cannot. */
enum cd_err user_minor_add(struct user_minors *m, enum user_minor code, enum user_array array,
                           size_t index);

#endif
