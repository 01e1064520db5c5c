/*
 * api_keys.c — the REST API keys of the caller's workspace, for the dashboard:
 * POST /api_keys/create (the key is in that answer only), GET /api_keys/list (ids, never keys)
 * and POST /api_keys/revoke. Each needs the `api_keys` permission (routes.c); a key creates only
 * keys whose permissions it has itself. The JSON shapes and the checks of permission names
 * against the route table are here; core keeps the keys.
 */
#include "api/api.h"

#include <stdio.h>
#include <string.h>

#include "core/workspace/api_keys.h"
#include "util/timeutil.h"

#define MAX_PERMISSIONS 64

/* The grants of a "permissions" array, comma-joined into buf; CD_E_INVALID naming the bad
 * value otherwise. */
static enum cd_err read_permissions(const json_t *list, char buf[API_KEY_GRANTS_CAP],
                                    struct cd_msg *msg) {
    if (!json_is_array(list))
        return cd_invalid(msg, "'permissions' must be an array of permission names");
    if (json_array_size(list) == 0)
        return cd_invalid(msg, "'permissions' must name at least one permission");
    if (json_array_size(list) > MAX_PERMISSIONS)
        return cd_invalid(msg, "'permissions' names more than %d permissions", MAX_PERMISSIONS);
    size_t len = 0, i;
    const json_t *v;
    json_array_foreach(list, i, v) {
        const char *p = json_string_value(v);
        if (!p)
            return cd_invalid(msg, "'permissions' must be an array of permission names");
        if (strchr(p, ',') || !api_permission_known(p))
            return cd_invalid(msg, "unknown permission '%.64s'", p);
        int n = snprintf(buf + len, API_KEY_GRANTS_CAP - len, "%s%s", i ? "," : "", p);
        if (n < 0 || (size_t)n >= API_KEY_GRANTS_CAP - len)
            return cd_invalid(msg, "'permissions' is too long");
        len += (size_t)n;
    }
    return CD_OK;
}

/* The grants of a key as a JSON array. */
static int append_grant(void *ctx, const char *grant, size_t len) {
    return json_array_append_new(ctx, json_stringn(grant, len));
}

static json_t *grants_json(const char *grants) {
    json_t *a = json_array();
    api_key_grants_each(grants, append_grant, a);
    return a;
}

static json_t *rate_json(int64_t limit, int64_t period_s) {
    char text[API_KEY_RATE_TEXT_CAP];
    api_key_rate_format(limit, period_s, text);
    return text[0] ? json_string(text) : json_null();
}

/* Whether the caller's grants cover grant: every route permission grant gives, the caller has
 * (so a key cannot make a key that may do more than itself). */
static bool covered(const struct rest_grant *caller, const char *grant) {
    if (caller->all)
        return true;
    size_t len = strlen(grant);
    bool everything = strcmp(grant, "*") == 0;
    bool group = len >= 2 && strcmp(grant + len - 2, ".*") == 0;
    for (size_t i = 0; i < api_n_routes; i++) {
        const char *p = api_routes[i].permission;
        if (!p)
            continue;
        bool given =
            everything || (group ? strncmp(p, grant, len - 1) == 0 : strcmp(p, grant) == 0);
        if (given && !api_key_grants(caller->grants, p))
            return false;
    }
    return true;
}

struct uncovered {
    const struct rest_grant *caller;
    const char *first; /* the first grant the caller lacks (into the spec's string) */
    size_t first_len;
};

static int check_covered(void *ctx, const char *grant, size_t len) {
    struct uncovered *u = ctx;
    char g[API_KEY_GRANTS_CAP];
    snprintf(g, sizeof g, "%.*s", (int)len, grant);
    if (covered(u->caller, g))
        return 0;
    u->first = grant;
    u->first_len = len;
    return 1;
}

/* 403 Access Denied: the caller lacks some permission of `grant`, what rule says it must have. */
static void reply_lacking(struct http_response *res, const char *rule, const char *grant) {
    char detail[sizeof((struct cd_msg *)0)->text + 128];
    snprintf(detail, sizeof detail, "a key can %s; this one lacks some of '%s'", rule, grant);
    http_reply_error(res, 403, "Access Denied", detail);
}

static enum cd_err create(struct app *app, struct workspace *ws, const struct rest_grant *caller,
                          const json_t *body, json_t **out, struct cd_msg *msg) {
    struct api_key_spec spec = {0};
    const json_t *name = json_object_get(body, "name");
    if (name && !json_is_null(name)) {
        spec.name = json_string_value(name);
        if (!spec.name || strlen(spec.name) >= API_KEY_NAME_CAP)
            return cd_invalid(msg, "'name' must be a string of at most %d bytes",
                              API_KEY_NAME_CAP - 1);
    }
    char grants[API_KEY_GRANTS_CAP];
    const json_t *perms = json_object_get(body, "permissions");
    if (perms && !json_is_null(perms)) {
        enum cd_err err = read_permissions(perms, grants, msg);
        if (err != CD_OK)
            return err;
        spec.grants = grants;
    }
    const json_t *rate = json_object_get(body, "rate_limit");
    if (rate && !json_is_null(rate) &&
        api_key_rate_parse(json_string_value(rate), &spec.rate_limit, &spec.rate_period_s) != 0)
        return cd_invalid(msg,
                          "'rate_limit' must be \"N/second\", \"N/minute\", \"N/hour\" or "
                          "\"N/day\" with N from 1 to %d",
                          API_KEY_RATE_MAX);
    struct uncovered u = {caller, NULL, 0};
    if (api_key_grants_each(spec.grants ? spec.grants : "*", check_covered, &u) != 0) {
        snprintf(msg->text, sizeof msg->text, "%.*s", (int)u.first_len, u.first);
        return CD_E_FORBIDDEN;
    }
    char key[ADMIN_KEY_LEN], id[API_KEY_ID_LEN + 1];
    enum cd_err err = app_api_key_create(app, ws, &spec, key, id);
    if (err == CD_E_INVALID)
        return cd_invalid(msg, "'name' must not hold control characters");
    if (err != CD_OK)
        return err;
    *out = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "message", "success", "id", id, "name",
                     spec.name ? spec.name : "", "rest_api_key", key, "permissions",
                     grants_json(spec.grants ? spec.grants : "*"), "rate_limit",
                     rate_json(spec.rate_limit, spec.rate_period_s));
    explicit_bzero(key, sizeof key);
    return *out ? CD_OK : CD_E_NOMEM;
}

void api_api_keys_create(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    json_t *body = api_json_body(req, res);
    struct rest_grant caller;
    struct workspace *ws = body ? api_auth_rest_grant(ctx, req, body, res, &caller) : NULL;
    if (ws) {
        struct cd_msg msg = {{0}};
        json_t *out = NULL;
        enum cd_err err = create(ctx->app, ws, &caller, body, &out, &msg);
        if (err == CD_E_FORBIDDEN)
            reply_lacking(res, "only give permissions it has", msg.text);
        else
            api_reply_result(res, err, 201, out, &msg);
    }
    json_decref(body);
}

static void on_key(void *ctx, const struct api_key_info *k) {
    char created[32];
    time_format_iso8601(k->created_at, created, sizeof created);
    json_array_append_new(ctx, json_pack("{s:s, s:s, s:o, s:o, s:s}", "id", k->id, "name", k->name,
                                         "permissions", grants_json(k->grants), "rate_limit",
                                         rate_json(k->rate_limit, k->rate_period_s), "created_at",
                                         created));
}

static enum cd_err list(struct app *app, struct workspace *ws, const struct http_request *req,
                        json_t **out, struct cd_msg *msg) {
    (void)req;
    (void)msg;
    json_t *keys = json_array();
    enum cd_err err = keys ? app_api_key_list(app, ws, on_key, keys) : CD_E_NOMEM;
    if (err != CD_OK) {
        json_decref(keys);
        return err;
    }
    *out = json_pack("{s:s, s:o}", "message", "success", "api_keys", keys);
    return *out ? CD_OK : CD_E_NOMEM;
}

void api_api_keys_list(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_get(ctx, req, res, list);
}

/* Finds the grants of the key with this id among a workspace's keys. */
struct find_key {
    const char *id;
    bool found;
    char grants[API_KEY_GRANTS_CAP];
};

static void on_find(void *ctx, const struct api_key_info *k) {
    struct find_key *f = ctx;
    if (!f->found && strcmp(k->id, f->id) == 0) {
        f->found = true;
        snprintf(f->grants, sizeof f->grants, "%s", k->grants);
    }
}

static enum cd_err not_found(const char *id, struct cd_msg *msg) {
    snprintf(msg->text, sizeof msg->text,
             "no active REST API key of this workspace has the id '%.32s'", id);
    return CD_E_NOT_FOUND;
}

/* Revokes the key named by "id" when the caller has every permission that key has (a key
 * cannot take away a key that may do more than itself). */
static enum cd_err revoke(struct app *app, struct workspace *ws, const struct rest_grant *caller,
                          const json_t *body, json_t **out, struct cd_msg *msg) {
    const char *id = json_string_value(json_object_get(body, "id"));
    if (!id || !*id)
        return cd_invalid(msg, "'id' must be the id of a REST API key (GET /api_keys/list)");
    struct find_key f = {.id = id};
    enum cd_err err = app_api_key_list(app, ws, on_find, &f);
    if (err != CD_OK)
        return err;
    if (!f.found)
        return not_found(id, msg);
    struct uncovered u = {caller, NULL, 0};
    if (api_key_grants_each(f.grants, check_covered, &u) != 0) {
        snprintf(msg->text, sizeof msg->text, "%.*s", (int)u.first_len, u.first);
        return CD_E_FORBIDDEN;
    }
    err = app_api_key_revoke(app, ws, id);
    if (err == CD_E_NOT_FOUND)
        return not_found(id, msg);
    if (err != CD_OK)
        return err;
    *out = json_pack("{s:s}", "message", "success");
    return *out ? CD_OK : CD_E_NOMEM;
}

void api_api_keys_revoke(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    json_t *body = api_json_body(req, res);
    struct rest_grant caller;
    struct workspace *ws = body ? api_auth_rest_grant(ctx, req, body, res, &caller) : NULL;
    if (ws) {
        struct cd_msg msg = {{0}};
        json_t *out = NULL;
        enum cd_err err = revoke(ctx->app, ws, &caller, body, &out, &msg);
        if (err == CD_E_FORBIDDEN)
            reply_lacking(res, "revoke only keys whose permissions it has", msg.text);
        else
            api_reply_result(res, err, 201, out, &msg);
    }
    json_decref(body);
}
