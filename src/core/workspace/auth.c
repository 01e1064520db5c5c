/* auth.c — REST and partner credentials against the store (see auth.h). */
#include "core/workspace/auth.h"

#include <stdio.h>
#include <string.h>

#include "core/workspace/api_keys.h"
#include "core/workspace/rate_limit.h"
#include "core/workspace/workspace.h"
#include "core/workspace/workspace_int.h"
#include "util/crypto.h"
#include "util/timeutil.h"

_Static_assert(sizeof((struct rest_grant *)0)->grants == API_KEY_GRANTS_CAP,
               "a grant list fits rest_grant");

/* The fields of a key row that authentication needs, copied out of the store's callback. */
struct key_found {
    int64_t ws;
    char id[API_KEY_ID_LEN + 1];
    char grants[API_KEY_GRANTS_CAP];
    bool all; /* NULL grants: every permission */
    int64_t rate_limit;
    int64_t rate_period_s;
};

static void copy_key(void *ctx, const struct api_key_row *row) {
    struct key_found *k = ctx;
    k->ws = row->workspace_id;
    snprintf(k->id, sizeof k->id, "%.16s", row->key_hash ? row->key_hash : "");
    k->all = !row->permissions;
    snprintf(k->grants, sizeof k->grants, "%s", row->permissions ? row->permissions : "");
    k->rate_limit = row->rate_limit;
    k->rate_period_s = row->rate_period_s;
}

enum cd_err workspace_auth_rest(struct app *app, const char *key, const char *permission,
                                struct workspace **out, struct rest_grant *grant,
                                struct cd_msg *msg) {
    *out = NULL;
    memset(grant, 0, sizeof *grant);
    if (!key || !*key)
        return CD_E_NOT_FOUND;
    char hash[65];
    crypto_sha256_hex(key, strlen(key), hash);
    struct key_found k = {0};
    enum cd_err err = STORE_OPS(app->store)->admin->api_key_lookup(app->store, hash, copy_key, &k);
    if (err != CD_OK)
        return err;
    if (k.rate_limit > 0) {
        struct rate_state st;
        bool ok = rate_limiter_take(app->key_limits, k.id, k.rate_limit, k.rate_period_s,
                                    time_now_ms(), &st);
        grant->limited = true;
        grant->limit = st.limit;
        grant->remaining = st.remaining;
        grant->reset_s = st.reset_s;
        if (!ok) {
            grant->result = REST_AUTH_RATE_LIMITED;
            return CD_OK;
        }
    }
    grant->all = k.all;
    snprintf(grant->grants, sizeof grant->grants, "%s", k.grants);
    if (!api_key_grants(k.all ? NULL : k.grants, permission)) {
        grant->result = REST_AUTH_DENIED;
        return CD_OK;
    }
    return app_workspace_msg(app, k.ws, out, msg);
}

enum cd_err partner_authenticate(struct app *app, const char *partner, const char *partner_api_key,
                                 const char *client_secret, enum partner_auth *result,
                                 struct workspace **ws, struct cd_msg *msg) {
    struct store *st = app->store;
    const struct store_admin_ops *ad = STORE_OPS(st)->admin;
    *ws = NULL;
    *result = PARTNER_AUTH_NO_PARTNER;
    enum key_check check;
    bool key_found = false;
    int64_t ws_id = 0;
    char key_partner[64];
    enum import_key_state state;
    /* the partner and the import key in one read: an import asks for both */
    enum cd_err err = ad->partner_import_key(st, partner, client_secret ? client_secret : "",
                                             &check, &key_found, &ws_id, key_partner, &state);
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
    if (!client_secret || !*client_secret || !key_found)
        return CD_OK;
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
