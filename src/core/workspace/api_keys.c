/*
 * api_keys.c — REST API keys with names, grants and rate limits (see api_keys.h): their form,
 * creation, listing and revocation through the store; the grant match every authenticated
 * request runs (a scan of the key's grant list: a few hundred bytes at most).
 */
#include "core/workspace/api_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/workspace/workspace.h"
#include "core/workspace/workspace_int.h"
#include "util/crypto.h"
#include "util/timeutil.h"

#define MAX_GRANTS 64
#define GRANT_MAX_LEN 64

static const struct {
    const char *name;
    int64_t seconds;
} periods[] = {{"second", 1}, {"minute", 60}, {"hour", 3600}, {"day", 86400}};
#define N_PERIODS (sizeof periods / sizeof periods[0])

int api_key_rate_parse(const char *text, int64_t *limit, int64_t *period_s) {
    if (!text || *text < '1' || *text > '9')
        return -1;
    int64_t n = 0;
    const char *p = text;
    for (; *p >= '0' && *p <= '9'; p++) {
        n = n * 10 + (*p - '0');
        if (n > API_KEY_RATE_MAX)
            return -1;
    }
    if (*p++ != '/')
        return -1;
    for (size_t i = 0; i < N_PERIODS; i++) {
        if (strcmp(p, periods[i].name) == 0) {
            *limit = n;
            *period_s = periods[i].seconds;
            return 0;
        }
    }
    return -1;
}

static const char *period_name(int64_t seconds) {
    for (size_t i = 0; i < N_PERIODS; i++)
        if (periods[i].seconds == seconds)
            return periods[i].name;
    return NULL;
}

void api_key_rate_format(int64_t limit, int64_t period_s, char buf[API_KEY_RATE_TEXT_CAP]) {
    const char *name = period_name(period_s);
    if (limit <= 0 || !name)
        buf[0] = '\0';
    else
        snprintf(buf, API_KEY_RATE_TEXT_CAP, "%lld/%s", (long long)limit, name);
}

int api_key_grants_each(const char *grants, int (*fn)(void *ctx, const char *grant, size_t len),
                        void *ctx) {
    const char *p = grants;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int rc = fn(ctx, p, len);
        if (rc || !end)
            return rc;
        p = end + 1;
    }
}

struct match {
    const char *permission;
    size_t len;
};

static int grant_matches(void *ctx, const char *g, size_t len) {
    const struct match *m = ctx;
    if (len == 1 && g[0] == '*')
        return 1;
    if (!m->permission)
        return 0;
    if (len == m->len && memcmp(g, m->permission, len) == 0)
        return 1;
    /* "group.*" grants every permission that begins with "group." */
    return len >= 2 && g[len - 1] == '*' && g[len - 2] == '.' && m->len > len - 1 &&
           memcmp(g, m->permission, len - 1) == 0;
}

bool api_key_grants(const char *grants, const char *permission) {
    if (!grants)
        return true;
    struct match m = {permission, permission ? strlen(permission) : 0};
    return api_key_grants_each(grants, grant_matches, &m) == 1;
}

/* A grant's form: "*", or words of [a-z0-9_] joined by '.', the last of which may be "*". */
static int grant_bad(void *ctx, const char *g, size_t len) {
    int *n = ctx;
    if (++*n > MAX_GRANTS || len == 0 || len > GRANT_MAX_LEN)
        return 1;
    if (len == 1 && g[0] == '*')
        return 0;
    size_t word = 0;
    for (size_t i = 0; i < len; i++) {
        char c = g[i];
        if (c == '.') {
            if (word == 0)
                return 1;
            word = 0;
        } else if (c == '*') {
            if (i != len - 1 || word != 0 || i == 0)
                return 1;
            word = 1;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
            word++;
        } else {
            return 1;
        }
    }
    return word == 0;
}

static bool spec_valid(const struct api_key_spec *spec) {
    if (spec->name) {
        size_t n = strlen(spec->name);
        if (n >= API_KEY_NAME_CAP)
            return false;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)spec->name[i] < 0x20 || spec->name[i] == 0x7f)
                return false;
    }
    if (spec->grants) {
        int n = 0;
        if (strlen(spec->grants) >= API_KEY_GRANTS_CAP ||
            api_key_grants_each(spec->grants, grant_bad, &n) != 0)
            return false;
    }
    if (spec->rate_limit < 0 || spec->rate_limit > API_KEY_RATE_MAX)
        return false;
    return spec->rate_limit == 0 || period_name(spec->rate_period_s);
}

enum cd_err api_key_create(struct store *s, int64_t ws, const struct api_key_spec *spec,
                           char key[ADMIN_KEY_LEN], char id[API_KEY_ID_LEN + 1]) {
    if (!spec_valid(spec))
        return CD_E_INVALID;
    if (crypto_uuid4(key) != 0)
        return CD_E_INTERNAL;
    char hash[65];
    crypto_sha256_hex(key, strlen(key), hash);
    snprintf(id, API_KEY_ID_LEN + 1, "%.16s", hash);
    bool all = !spec->grants || strcmp(spec->grants, "*") == 0;
    struct api_key_row row = {
        .workspace_id = ws,
        .key_hash = hash,
        .name = spec->name ? spec->name : "",
        .permissions = all ? NULL : spec->grants,
        .rate_limit = spec->rate_limit,
        .rate_period_s = spec->rate_limit ? spec->rate_period_s : 0,
    };
    return STORE_OPS(s)->admin->api_key_add(s, &row, time_now_ms());
}

struct list_ctx {
    void (*cb)(void *, const struct api_key_info *);
    void *ctx;
};

static void on_key_row(void *ctx, const struct api_key_row *row) {
    const struct list_ctx *l = ctx;
    struct api_key_info info = {
        .rate_limit = row->rate_limit,
        .rate_period_s = row->rate_period_s,
        .created_at = row->created_at,
    };
    snprintf(info.id, sizeof info.id, "%.16s", row->key_hash ? row->key_hash : "");
    snprintf(info.name, sizeof info.name, "%s", row->name ? row->name : "");
    snprintf(info.grants, sizeof info.grants, "%s", row->permissions ? row->permissions : "*");
    l->cb(l->ctx, &info);
}

enum cd_err api_key_list(struct store *s, int64_t ws,
                         void (*cb)(void *ctx, const struct api_key_info *), void *ctx) {
    struct list_ctx l = {cb, ctx};
    return STORE_OPS(s)->admin->api_key_list(s, ws, on_key_row, &l);
}

enum cd_err api_key_revoke_id(struct store *s, int64_t ws, const char *id) {
    if (!id || strlen(id) != API_KEY_ID_LEN || strspn(id, "0123456789abcdef") != API_KEY_ID_LEN)
        return CD_E_NOT_FOUND;
    return STORE_OPS(s)->admin->api_key_revoke_prefix(s, ws, id, time_now_ms());
}

enum cd_err app_api_key_create(struct app *app, struct workspace *ws,
                               const struct api_key_spec *spec, char key[ADMIN_KEY_LEN],
                               char id[API_KEY_ID_LEN + 1]) {
    return api_key_create(app->store, ws->id, spec, key, id);
}

enum cd_err app_api_key_list(struct app *app, struct workspace *ws,
                             void (*cb)(void *ctx, const struct api_key_info *), void *ctx) {
    return api_key_list(app->store, ws->id, cb, ctx);
}

enum cd_err app_api_key_revoke(struct app *app, struct workspace *ws, const char *id) {
    return api_key_revoke_id(app->store, ws->id, id);
}
