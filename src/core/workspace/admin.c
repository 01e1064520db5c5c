/* admin.c — workspaces, keys and partners (see admin.h). */
#include "core/workspace/admin.h"

#include <stdio.h>
#include <string.h>

#include "core/workspace/workspace_int.h"
#include "util/crypto.h"
#include "util/timeutil.h"

bool admin_partner_name_valid(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static enum cd_err new_key(char key[ADMIN_KEY_LEN], char hash[65]) {
    if (crypto_uuid4(key) != 0)
        return CD_E_INTERNAL;
    if (hash)
        crypto_sha256_hex(key, strlen(key), hash);
    return CD_OK;
}

static void copy_ws(void *ctx, const struct workspace_row *row) {
    struct admin_workspace *ws = ctx;
    ws->id = row->id;
    snprintf(ws->public_id, sizeof ws->public_id, "%s", row->public_id);
    snprintf(ws->name, sizeof ws->name, "%s", row->name);
}

enum cd_err admin_workspace_create(struct store *s, const char *name, struct admin_workspace *ws,
                                   char rest_key[ADMIN_KEY_LEN]) {
    if (!*name || strlen(name) >= sizeof ws->name)
        return CD_E_INVALID;
    memset(ws, 0, sizeof *ws);
    if (crypto_uuid4(ws->public_id) != 0)
        return CD_E_INTERNAL;
    snprintf(ws->name, sizeof ws->name, "%s", name);
    enum cd_err err =
        STORE_OPS(s)->admin->workspace_create(s, ws->public_id, name, time_now_ms(), &ws->id);
    if (err == CD_OK)
        err = admin_api_key_create(s, ws->id, rest_key);
    return err;
}

enum cd_err admin_workspace_find(struct store *s, const char *ref, struct admin_workspace *ws) {
    memset(ws, 0, sizeof *ws);
    return STORE_OPS(s)->admin->workspace_find(s, ref, copy_ws, ws);
}

enum cd_err admin_api_key_create(struct store *s, int64_t ws, char key[ADMIN_KEY_LEN]) {
    char hash[65];
    enum cd_err err = new_key(key, hash);
    struct api_key_row row = {.workspace_id = ws, .key_hash = hash, .name = ""};
    return err == CD_OK ? STORE_OPS(s)->admin->api_key_add(s, &row, time_now_ms()) : err;
}

enum cd_err admin_api_key_revoke(struct store *s, const char *key) {
    char hash[65];
    crypto_sha256_hex(key, strlen(key), hash);
    return STORE_OPS(s)->admin->api_key_revoke(s, hash, time_now_ms());
}

enum cd_err admin_partner_add(struct store *s, const char *name, enum key_check check,
                              char key[ADMIN_KEY_LEN]) {
    if (!admin_partner_name_valid(name))
        return CD_E_INVALID;
    char hash[65];
    enum cd_err err = new_key(key, hash);
    int64_t now = time_now_ms();
    return err == CD_OK ? STORE_OPS(s)->admin->partner_add(s, name, check, hash, now) : err;
}

const char *admin_key_check_name(enum key_check check) {
    return check == KEY_CHECK_OFF ? "off" : "required";
}

bool admin_key_check_parse(const char *text, enum key_check *check) {
    if (text && strcmp(text, "required") == 0)
        *check = KEY_CHECK_REQUIRED;
    else if (text && strcmp(text, "off") == 0)
        *check = KEY_CHECK_OFF;
    else
        return false;
    return true;
}

enum cd_err admin_partner_list(struct store *s,
                               void (*cb)(void *ctx, const char *name, enum key_check check),
                               void *ctx) {
    return STORE_OPS(s)->admin->partner_list(s, cb, ctx);
}

enum cd_err admin_partner_set_check(struct store *s, const char *name, enum key_check check) {
    if (!admin_partner_name_valid(name))
        return CD_E_NOT_FOUND;
    return STORE_OPS(s)->admin->partner_set_check(s, name, check);
}

enum cd_err admin_app_partner_list(struct app *app,
                                   void (*cb)(void *ctx, const char *name, enum key_check check),
                                   void *ctx) {
    return admin_partner_list(app->store, cb, ctx);
}

enum cd_err admin_app_partner_set_check(struct app *app, const char *name, enum key_check check) {
    return admin_partner_set_check(app->store, name, check);
}

enum cd_err admin_import_key_show(struct store *s, int64_t ws, const char *partner,
                                  char key[ADMIN_KEY_LEN]) {
    enum cd_err err = STORE_OPS(s)->admin->partner_get(s, partner, NULL);
    if (err != CD_OK)
        return err;
    err = STORE_OPS(s)->admin->import_key_active(s, ws, partner, key);
    if (err == CD_E_NOT_FOUND)
        return admin_import_key_rotate(s, ws, partner, key);
    return err;
}

enum cd_err admin_import_key_rotate(struct store *s, int64_t ws, const char *partner,
                                    char key[ADMIN_KEY_LEN]) {
    enum cd_err err = STORE_OPS(s)->admin->partner_get(s, partner, NULL);
    if (err == CD_OK)
        err = new_key(key, NULL);
    if (err == CD_OK)
        err = STORE_OPS(s)->admin->import_key_replace(s, ws, partner, key, time_now_ms());
    return err;
}

enum cd_err admin_import_key_invalidate(struct store *s, int64_t ws, const char *partner) {
    return STORE_OPS(s)->admin->import_key_invalidate(s, ws, partner, time_now_ms());
}
