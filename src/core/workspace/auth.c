/* auth.c — REST and partner credentials against the store (see auth.h). */
#include "core/workspace/auth.h"

#include <string.h>

#include "core/workspace/workspace.h"
#include "core/workspace/workspace_int.h"
#include "util/crypto.h"

enum cd_err workspace_auth_rest(struct app *app, const char *key, struct workspace **out,
                                struct cd_msg *msg) {
    *out = NULL;
    if (!key || !*key)
        return CD_E_NOT_FOUND;
    char hash[65];
    crypto_sha256_hex(key, strlen(key), hash);
    int64_t ws_id;
    enum cd_err err = STORE_OPS(app->store)->admin->api_key_lookup(app->store, hash, &ws_id);
    if (err == CD_OK)
        err = app_workspace_msg(app, ws_id, out, msg);
    return err;
}

enum cd_err partner_authenticate(struct app *app, const char *partner, const char *partner_api_key,
                                 const char *client_secret, enum partner_auth *result,
                                 struct workspace **ws, struct cd_msg *msg) {
    struct store *st = app->store;
    const struct store_admin_ops *ad = STORE_OPS(st)->admin;
    *ws = NULL;
    *result = PARTNER_AUTH_NO_PARTNER;
    enum key_check check;
    enum cd_err err = ad->partner_get(st, partner, &check);
    if (err != CD_OK)
        return err == CD_E_NOT_FOUND ? CD_OK : err;
    if (check == KEY_CHECK_REQUIRED) {
        *result = PARTNER_AUTH_BAD_KEY;
        if (!partner_api_key)
            return CD_OK;
        char hash[65];
        crypto_sha256_hex(partner_api_key, strlen(partner_api_key), hash);
        err = ad->partner_key_check(st, partner, hash);
        if (err != CD_OK)
            return err == CD_E_NOT_FOUND ? CD_OK : err;
    }
    *result = PARTNER_AUTH_BAD_SECRET;
    if (!client_secret || !*client_secret)
        return CD_OK;
    int64_t ws_id = 0;
    char key_partner[64];
    enum import_key_state state;
    err = ad->import_key_lookup(st, client_secret, &ws_id, key_partner, &state);
    if (err != CD_OK)
        return err == CD_E_NOT_FOUND ? CD_OK : err;
    if (strcmp(key_partner, partner) != 0) {
        *result = PARTNER_AUTH_OTHER_PARTNER;
        return CD_OK;
    }
    if (state != IMPORT_KEY_ACTIVE) {
        *result = PARTNER_AUTH_INACTIVE;
        return CD_OK;
    }
    err = app_workspace_msg(app, ws_id, ws, msg);
    if (err == CD_OK)
        *result = PARTNER_AUTH_OK;
    return err;
}

bool app_healthy(struct app *app) {
    return STORE_OPS(app->store)->healthy(app->store);
}

enum app_health app_health(struct app *app) {
    if (!app_healthy(app))
        return APP_HEALTH_STORE_UNAVAILABLE;
    return STORE_OPS(app->store)->full(app->store) ? APP_HEALTH_STORE_FULL : APP_HEALTH_OK;
}

const char *workspace_public_id(const struct workspace *ws) {
    return ws->public_id;
}
