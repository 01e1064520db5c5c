/*
 * admin.h — operator actions on a store: workspaces, REST API keys, partners and data import
 * keys. Secrets come from the OS random source; REST API keys and partner keys are stored
 * only as SHA-256 hashes, so they are shown once, at creation. Used by the CLI (which works
 * on the store directly, whether or not a server runs: the server reads keys from the store on
 * every request, so it sees a change at once).
 */
#ifndef COHORTD_CORE_WORKSPACE_ADMIN_H
#define COHORTD_CORE_WORKSPACE_ADMIN_H

#include <stdint.h>

#include "store/store.h"

#define ADMIN_KEY_LEN 64

struct admin_workspace {
    int64_t id;
    char public_id[64];
    char name[128];
};

/* Partner names: 1–32 of [a-z0-9_-]. */
bool admin_partner_name_valid(const char *name);

/* Creates a workspace and its first REST API key (rest_key receives it). */
enum cd_err admin_workspace_create(struct store *s, const char *name, struct admin_workspace *ws,
                                   char rest_key[ADMIN_KEY_LEN]);
/* Finds a workspace by public id or name; ref NULL = the first one created. */
enum cd_err admin_workspace_find(struct store *s, const char *ref, struct admin_workspace *ws);

/* A key with every permission and no rate limit (api_keys.h makes the others). */
enum cd_err admin_api_key_create(struct store *s, int64_t ws, char key[ADMIN_KEY_LEN]);
enum cd_err admin_api_key_revoke(struct store *s, const char *key);

/* Adds a partner with a first partner API key. CD_E_EXISTS when present. */
enum cd_err admin_partner_add(struct store *s, const char *name, enum key_check check,
                              char key[ADMIN_KEY_LEN]);

/* "required" or "off", the names the CLI and the API use for a key check. */
const char *admin_key_check_name(enum key_check check);
/* Parses such a name; false when it is neither. */
bool admin_key_check_parse(const char *text, enum key_check *check);

/* Calls cb on every partner, by name. */
enum cd_err admin_partner_list(struct store *s,
                               void (*cb)(void *ctx, const char *name, enum key_check check),
                               void *ctx);
/* Sets how the partner's partner_api_key is checked (its keys stay as they are, so turning
 * the check back on makes them work again). CD_E_NOT_FOUND when there is no such partner. */
enum cd_err admin_partner_set_check(struct store *s, const char *name, enum key_check check);

/* The same two for the server's API (the store of the running app). */
struct app;
enum cd_err admin_app_partner_list(struct app *app,
                                   void (*cb)(void *ctx, const char *name, enum key_check check),
                                   void *ctx);
enum cd_err admin_app_partner_set_check(struct app *app, const char *name, enum key_check check);

/* The active data import key of (workspace, partner), created when there is none.
 * CD_E_NOT_FOUND when the partner does not exist. */
enum cd_err admin_import_key_show(struct store *s, int64_t ws, const char *partner,
                                  char key[ADMIN_KEY_LEN]);
/* A new active key; the old one stops working at once. */
enum cd_err admin_import_key_rotate(struct store *s, int64_t ws, const char *partner,
                                    char key[ADMIN_KEY_LEN]);
/* No active key afterwards; CD_E_NOT_FOUND when there was none. */
enum cd_err admin_import_key_invalidate(struct store *s, int64_t ws, const char *partner);

#endif
