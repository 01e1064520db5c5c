/*
 * dashboard_auth.c — logging in to the dashboard: POST /dashboard/api/login (email and password
 * against Argon2id, throttled per email and per client address), GET /dashboard/api/session,
 * POST /dashboard/api/logout and POST /dashboard/api/workspace (the session's current
 * workspace). The session is the cookie cohortd_session (HttpOnly, SameSite=Strict, Secure over
 * TLS, no Max-Age: it ends with the browser, or earlier on the server); every route of the API
 * accepts it (common.c). Sessions live in the store (core/workspace/dash_sessions.h), so a
 * session begun through any node works on every node, whichever one a request is forwarded to.
 */
#include "api/api.h"

#include <stdio.h>
#include <string.h>

#include "core/workspace/app_admin.h"
#include "util/log.h"
#include "util/timeutil.h"

static void set_cookie(const struct api_ctx *ctx, struct http_response *res, const char *token) {
    char v[192];
    if (token)
        snprintf(v, sizeof v, API_SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict%s", token,
                 ctx->cfg.tls ? "; Secure" : "");
    else
        snprintf(v, sizeof v,
                 API_SESSION_COOKIE "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s",
                 ctx->cfg.tls ? "; Secure" : "");
    http_add_header(res, "Set-Cookie", v);
    http_add_header(res, "Cache-Control", "no-store");
}

static json_t *workspace_json(const struct app_workspace_info *w) {
    return json_pack("{s:s, s:s}", "id", w->public_id, "name", w->name);
}

struct ws_list {
    json_t *all;
    int64_t current_id;
    json_t *current;
};

static void add_workspace(void *vctx, const struct app_workspace_info *w) {
    struct ws_list *l = vctx;
    json_array_append_new(l->all, workspace_json(w));
    if (w->id == l->current_id && !l->current)
        l->current = workspace_json(w);
}

/* The answer of /session (and of /workspace): who is logged in, on which workspace. */
static void reply_session(struct api_ctx *ctx, const struct api_caller *who,
                          struct http_response *res) {
    struct ws_list l = {.all = json_array(), .current_id = who->s.ws_id};
    enum cd_err err = app_workspaces_list(ctx->app, add_workspace, &l);
    if (err == CD_OK && !l.current)
        err = CD_E_NOT_FOUND;
    if (err != CD_OK) {
        json_decref(l.all);
        json_decref(l.current);
        api_reply_err(res, err, NULL);
        return;
    }
    http_reply_json(res, 200,
                    json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "message", "success", "email",
                              who->user.email, "role", dash_role_name(who->user.role), "csrf_token",
                              who->s.csrf, "workspace", l.current, "workspaces", l.all));
}

void api_dashboard_login(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    json_t *body = api_json_body(req, res);
    if (!body)
        return;
    const char *email = json_string_value(json_object_get(body, "email"));
    const char *password = json_string_value(json_object_get(body, "password"));
    if (!email || !password) {
        json_decref(body);
        http_reply_message(res, 400, "'email' and 'password' must be strings");
        return;
    }
    char norm[DASH_EMAIL_MAX + 1];
    struct cd_msg msg = {{0}};
    const char *key = dash_email_normalise(email, norm, &msg) == CD_OK ? norm : email;
    char ip[64];
    http_client_ip(req, ip, sizeof ip);
    int64_t now = time_now_ms();
    int64_t wait = login_throttle_wait_ms(ctx->throttle, key, ip, now);
    if (wait > 0) {
        char secs[24], text[96];
        snprintf(secs, sizeof secs, "%lld", (long long)((wait + 999) / 1000));
        snprintf(text, sizeof text, "too many failed logins, try again in %s s", secs);
        log_info("auth", "req=%lu result=login_throttled client=%s wait_ms=%lld",
                 http_request_id(req), ip, (long long)wait);
        http_add_header(res, "Retry-After", secs);
        http_reply_message(res, 429, text);
        json_decref(body);
        return;
    }
    struct dash_user user;
    enum cd_err err = app_dash_user_login(ctx->app, email, password, &user);
    json_decref(body);
    if (err == CD_E_NOT_FOUND) {
        login_throttle_failed(ctx->throttle, key, ip, time_now_ms());
        log_info("auth", "req=%lu result=login_failed client=%s", http_request_id(req), ip);
        http_reply_message(res, 401, "invalid email or password");
        return;
    }
    struct app_workspace_info first;
    if (err == CD_OK)
        err = app_workspace_info(ctx->app, NULL, &first);
    struct api_caller who = {.session = true, .user = user};
    if (err == CD_OK)
        err = dash_session_create(ctx->sessions, user.id, user.password_set_at, first.id,
                                  time_now_ms(), &who.s);
    if (err != CD_OK) {
        api_reply_err(res, err, NULL);
        return;
    }
    login_throttle_succeeded(ctx->throttle, key);
    log_info("auth", "req=%lu result=login user=%lld client=%s", http_request_id(req),
             (long long)user.id, ip);
    set_cookie(ctx, res, who.s.token);
    http_reply_json(res, 200,
                    json_pack("{s:s, s:s, s:s, s:s}", "message", "success", "email", user.email,
                              "role", dash_role_name(user.role), "csrf_token", who.s.csrf));
}

void api_dashboard_session(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct api_caller who;
    if (api_auth_session(ctx, req, res, false, &who))
        reply_session(ctx, &who, res);
}

void api_dashboard_logout(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct api_caller who;
    if (!api_auth_session(ctx, req, res, false, &who))
        return;
    /* the session is in the store: ended here, it is ended on every node */
    enum cd_err err = dash_session_end(ctx->sessions, who.token);
    if (err != CD_OK) {
        api_reply_err(res, err, NULL); /* still logged in: the logout is not acknowledged */
        return;
    }
    set_cookie(ctx, res, NULL);
    http_reply_message(res, 200, "success");
}

void api_dashboard_workspace(void *vctx, const struct http_request *req,
                             struct http_response *res) {
    struct api_ctx *ctx = vctx;
    json_t *body = api_json_body(req, res);
    struct api_caller who;
    if (!body || !api_auth_session(ctx, req, res, false, &who)) {
        json_decref(body);
        return;
    }
    const char *id = json_string_value(json_object_get(body, "workspace_id"));
    struct app_workspace_info info;
    enum cd_err err = id ? app_workspace_info(ctx->app, id, &info) : CD_E_INVALID;
    json_decref(body);
    if (err == CD_E_INVALID) {
        http_reply_message(res, 400, "'workspace_id' must be a string");
        return;
    }
    if (err == CD_E_NOT_FOUND) {
        http_reply_message(res, 404, "no workspace has this id");
        return;
    }
    if (err == CD_OK)
        err = dash_session_set_workspace(ctx->sessions, who.token, info.id);
    if (err == CD_E_NOT_FOUND) {
        http_reply_message(res, 401, "not logged in");
        return;
    }
    if (err != CD_OK) {
        api_reply_err(res, err, NULL);
        return;
    }
    who.s.ws_id = info.id;
    reply_session(ctx, &who, res);
}
