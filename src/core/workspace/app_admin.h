/*
 * app_admin.h — the operator actions of admin.h on the server's store, for the API (which
 * never sees the store): the workspaces, and a workspace's data import keys. The same core
 * functions the CLI calls do the work.
 */
#ifndef COHORTD_CORE_WORKSPACE_APP_ADMIN_H
#define COHORTD_CORE_WORKSPACE_APP_ADMIN_H

#include <stdint.h>

#include "core/workspace/admin.h"

struct app;
struct workspace;

struct app_workspace_info {
    int64_t id;
    char public_id[64];
    char name[128];
    int64_t created_at;
};

/* Every workspace, oldest first. */
enum cd_err app_workspaces_list(struct app *app,
                                void (*cb)(void *ctx, const struct app_workspace_info *w),
                                void *ctx);
/* The workspace with this public id (exactly), or with public_id NULL the oldest one;
 * CD_E_NOT_FOUND when there is none. */
enum cd_err app_workspace_info(struct app *app, const char *public_id,
                               struct app_workspace_info *out);
/* Creates a workspace (with a first REST API key, as `cohortd workspace create` does; the key
 * is not handed out here). CD_E_INVALID for an empty or too long name, CD_E_EXISTS when the
 * name is taken. */
enum cd_err app_workspace_create(struct app *app, const char *name, struct app_workspace_info *out);

/* The active data import key of (ws, partner); CD_E_NOT_FOUND when there is none (never made,
 * or invalidated), unlike admin_import_key_show, which makes one. */
enum cd_err app_import_key_active(struct app *app, const struct workspace *ws, const char *partner,
                                  char key[ADMIN_KEY_LEN]);
/* admin_import_key_rotate / _invalidate for workspace ws. */
enum cd_err app_import_key_rotate(struct app *app, const struct workspace *ws, const char *partner,
                                  char key[ADMIN_KEY_LEN]);
enum cd_err app_import_key_invalidate(struct app *app, const struct workspace *ws,
                                      const char *partner);
/* Whether the partner exists: CD_OK, CD_E_NOT_FOUND, or the store's error. */
enum cd_err app_partner_exists(struct app *app, const char *partner);

#endif
