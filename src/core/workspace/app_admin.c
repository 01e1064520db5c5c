/* app_admin.c — admin.h's actions on the server's store (see app_admin.h). */
#include "core/workspace/app_admin.h"

#include <stdio.h>
#include <string.h>

#include "core/workspace/workspace_int.h"

static void copy_info(struct app_workspace_info *out, const struct workspace_row *row) {
    out->id = row->id;
    snprintf(out->public_id, sizeof out->public_id, "%s", row->public_id ? row->public_id : "");
    snprintf(out->name, sizeof out->name, "%s", row->name ? row->name : "");
    out->created_at = row->created_at;
}

struct list_ctx {
    void (*cb)(void *, const struct app_workspace_info *);
    void *ctx;
};

static void list_row(void *vctx, const struct workspace_row *row) {
    struct list_ctx *l = vctx;
    struct app_workspace_info w;
    copy_info(&w, row);
    l->cb(l->ctx, &w);
}

enum cd_err app_workspaces_list(struct app *app,
                                void (*cb)(void *ctx, const struct app_workspace_info *w),
                                void *ctx) {
    struct list_ctx l = {cb, ctx};
    return STORE_OPS(app->store)->admin->workspace_list(app->store, list_row, &l);
}

static void one_row(void *vctx, const struct workspace_row *row) {
    copy_info(vctx, row);
}

enum cd_err app_workspace_info(struct app *app, const char *public_id,
                               struct app_workspace_info *out) {
    memset(out, 0, sizeof *out);
    enum cd_err err =
        STORE_OPS(app->store)->admin->workspace_find(app->store, public_id, one_row, out);
    /* workspace_find also matches a name: the API names workspaces by public id only */
    if (err == CD_OK && public_id && strcmp(out->public_id, public_id) != 0)
        err = CD_E_NOT_FOUND;
    return err;
}

enum cd_err app_workspace_create(struct app *app, const char *name,
                                 struct app_workspace_info *out) {
    struct admin_workspace ws;
    char key[ADMIN_KEY_LEN];
    memset(out, 0, sizeof *out);
    enum cd_err err = admin_workspace_create(app->store, name, &ws, key);
    memset(key, 0, sizeof key);
    if (err != CD_OK)
        return err;
    return STORE_OPS(app->store)->admin->workspace_get(app->store, ws.id, one_row, out);
}

enum cd_err app_import_key_active(struct app *app, const struct workspace *ws, const char *partner,
                                  char key[ADMIN_KEY_LEN]) {
    return STORE_OPS(app->store)->admin->import_key_active(app->store, ws->id, partner, key);
}

enum cd_err app_import_key_rotate(struct app *app, const struct workspace *ws, const char *partner,
                                  char key[ADMIN_KEY_LEN]) {
    return admin_import_key_rotate(app->store, ws->id, partner, key);
}

enum cd_err app_import_key_invalidate(struct app *app, const struct workspace *ws,
                                      const char *partner) {
    return admin_import_key_invalidate(app->store, ws->id, partner);
}

enum cd_err app_partner_exists(struct app *app, const char *partner) {
    return STORE_OPS(app->store)->admin->partner_get(app->store, partner, NULL);
}
