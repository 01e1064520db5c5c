/* common.c — JSON bodies, REST API key authentication (the key, its rate limit and the route's
 * permission) and error replies (see api.h),
 * including the two "come back later" answers: 429 when a workspace's write queue is full and
 * 503 when the store is full, both with Retry-After and a fixed reason. */
#include "api/api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/workspace/auth.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/timeutil.h"

json_t *api_json_body(const struct http_request *req, struct http_response *res) {
    size_t len;
    const char *body = http_body(req, &len);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        char detail[256];
        snprintf(detail, sizeof detail, "invalid JSON at line %d column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        http_reply_error(res, 400, "Bad Request", detail);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        http_reply_error(res, 400, "Bad Request", "the request body must be a JSON object");
        return NULL;
    }
    return root;
}

/* Braze's X-RateLimit-* headers: the window's size, what is left of it, and its end. */
static void add_rate_headers(struct http_response *res, const struct rest_grant *g) {
    char v[24];
    snprintf(v, sizeof v, "%lld", (long long)g->limit);
    http_add_header(res, "X-RateLimit-Limit", v);
    snprintf(v, sizeof v, "%lld", (long long)g->remaining);
    http_add_header(res, "X-RateLimit-Remaining", v);
    snprintf(v, sizeof v, "%lld", (long long)g->reset_s);
    http_add_header(res, "X-RateLimit-Reset", v);
}

const char *api_session_cookie(const struct http_request *req, char *out) {
    const char *c = http_header(req, "Cookie");
    static const char name[] = API_SESSION_COOKIE "=";
    while (c && *c) {
        while (*c == ' ' || *c == ';')
            c++;
        if (strncmp(c, name, sizeof name - 1) == 0) {
            c += sizeof name - 1;
            size_t n = strcspn(c, "; ");
            if (n == 0 || n > DASH_TOKEN_LEN)
                return NULL;
            memcpy(out, c, n);
            out[n] = '\0';
            return out;
        }
        c = strchr(c, ';');
    }
    return NULL;
}

bool api_auth_session(struct api_ctx *ctx, const struct http_request *req,
                      struct http_response *res, bool need_admin, struct api_caller *who) {
    memset(who, 0, sizeof *who);
    int64_t now = time_now_ms();
    const char *token = api_session_cookie(req, who->token);
    enum cd_err err = token ? dash_session_use(ctx->sessions, token, now, &who->s) : CD_E_NOT_FOUND;
    if (err == CD_OK) {
        err = app_dash_user_get(ctx->app, who->s.user_id, &who->user);
        if (err == CD_OK && who->user.password_set_at != who->s.password_set_at)
            err = CD_E_NOT_FOUND;
        if (err == CD_E_NOT_FOUND) /* the user was removed, or the password changed */
            (void)dash_session_end(ctx->sessions, token);
    }
    if (err == CD_E_NOT_FOUND) {
        http_reply_message(res, 401, "not logged in");
        return false;
    }
    if (err != CD_OK) {
        api_reply_err(res, err, NULL);
        return false;
    }
    const char *method = http_method(req);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        const char *csrf = http_header(req, API_CSRF_HEADER);
        if (!csrf || !crypto_equal(csrf, strlen(csrf), who->s.csrf, strlen(who->s.csrf))) {
            log_info("auth", "req=%lu result=csrf_refused user=%lld", http_request_id(req),
                     (long long)who->user.id);
            http_reply_message(res, 403, "missing or wrong CSRF token");
            return false;
        }
    }
    if (need_admin && who->user.role != DASH_ROLE_ADMIN) {
        http_reply_message(res, 403, "only an admin may do this");
        return false;
    }
    who->session = true;
    return true;
}

static struct workspace *authenticate(struct api_ctx *ctx, const struct http_request *req,
                                      const json_t *body, struct http_response *res,
                                      struct api_caller *who, struct rest_grant *grant);

struct workspace *api_auth_rest(struct api_ctx *ctx, const struct http_request *req,
                                const json_t *body, struct http_response *res) {
    return authenticate(ctx, req, body, res, NULL, NULL);
}

struct workspace *api_auth_rest_grant(struct api_ctx *ctx, const struct http_request *req,
                                      const json_t *body, struct http_response *res,
                                      struct rest_grant *grant) {
    return authenticate(ctx, req, body, res, NULL, grant);
}

struct workspace *api_auth(struct api_ctx *ctx, const struct http_request *req, const json_t *body,
                           struct http_response *res, struct api_caller *who) {
    return authenticate(ctx, req, body, res, who, NULL);
}

/* A REST key (its permission for the route, rate limit), else the session cookie. who and
 * grant may be NULL. A session's grant is every permission for an admin, none for a member. */
static struct workspace *authenticate(struct api_ctx *ctx, const struct http_request *req,
                                      const json_t *body, struct http_response *res,
                                      struct api_caller *who, struct rest_grant *grant) {
    struct api_caller local_who;
    struct rest_grant local_grant;
    if (!who)
        who = &local_who;
    if (!grant)
        grant = &local_grant;
    memset(who, 0, sizeof *who);
    memset(grant, 0, sizeof *grant);
    const char *auth = http_header(req, "Authorization");
    const char *key = NULL;
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
        key = auth + 7;
    else if (!auth)
        key = http_query(req, "api_key");
    if (!key && !auth)
        key = json_string_value(json_object_get(body, "api_key"));
    while (key && *key == ' ')
        key++;
    char token[DASH_TOKEN_LEN + 1];
    if (!auth && !key && ctx->sessions && api_session_cookie(req, token)) {
        if (!api_auth_session(ctx, req, res, false, who))
            return NULL;
        grant->all = who->user.role == DASH_ROLE_ADMIN;
        struct workspace *ws = NULL;
        struct cd_msg msg = {{0}};
        enum cd_err err = app_workspace_msg(ctx->app, who->s.ws_id, &ws, &msg);
        if (err == CD_E_NOT_FOUND) {
            http_reply_message(res, 401, "not logged in");
            return NULL;
        }
        if (err != CD_OK) {
            api_reply_unavailable(ctx, req, res, err, &msg);
            return NULL;
        }
        return ws;
    }
    if (!key || !*key) {
        http_reply_error(res, 401, "Unauthorized",
                         "send the REST API key as 'Authorization: Bearer <key>'");
        return NULL;
    }
    struct workspace *ws = NULL;
    struct cd_msg msg = {{0}};
    const char *permission = http_route_permission(req);
    enum cd_err err = workspace_auth_rest(ctx->app, key, permission, &ws, grant, &msg);
    if (err == CD_E_NOT_FOUND) {
        log_info("auth", "req=%lu result=invalid_rest_key", http_request_id(req));
        http_reply_error(res, 401, "Unauthorized", "invalid or revoked REST API key");
        return NULL;
    }
    if (err == CD_OK && grant->limited)
        add_rate_headers(res, grant);
    if (err == CD_OK && grant->result == REST_AUTH_RATE_LIMITED) {
        char wait[24];
        int64_t left = grant->reset_s - time_now_ms() / 1000;
        snprintf(wait, sizeof wait, "%lld", (long long)(left > 0 ? left : 1));
        http_add_header(res, "Retry-After", wait);
        log_info("auth", "req=%lu result=rate_limited", http_request_id(req));
        http_reply_message(res, 429, "Rate Limited");
        return NULL;
    }
    if (err == CD_OK && grant->result == REST_AUTH_DENIED) {
        log_info("auth", "req=%lu result=access_denied permission=%s", http_request_id(req),
                 permission ? permission : "*");
        http_reply_message(res, 403, "Access Denied");
        return NULL;
    }
    if (err != CD_OK) {
        api_reply_unavailable(ctx, req, res, err, &msg);
        return NULL;
    }
    return ws;
}

void api_reply_unloaded(struct http_response *res, enum cd_err err, const struct cd_msg *msg) {
    if (err == CD_E_STORE && msg->text[0]) {
        /* the load is retried at most once a second (core/workspace/workspace.c) */
        http_add_header(res, "Retry-After", "1");
        http_reply_error(res, 503, "Service Unavailable", msg->text);
    } else {
        api_reply_err(res, err, NULL);
    }
}

void api_reply_err(struct http_response *res, enum cd_err err, const char *text) {
    int status = cd_err_status(err);
    /* these two never take the caller's text: it may hold an earlier, unrelated message */
    if (err == CD_E_BUSY) {
        http_add_header(res, "Retry-After", API_BUSY_RETRY_AFTER);
        http_reply_error(res, 429, "Too Many Requests", API_BUSY_REASON);
        return;
    }
    if (err == CD_E_FULL) {
        http_add_header(res, "Retry-After", API_FULL_RETRY_AFTER);
        http_reply_error(res, 503, "Service Unavailable", API_FULL_REASON);
        return;
    }
    if (text && *text) {
        http_reply_message(res, status, text);
        return;
    }
    switch (status) {
    case 400:
        http_reply_message(res, status, "Bad Request");
        break;
    case 404:
        http_reply_message(res, status, "Not Found");
        break;
    case 503:
        http_reply_error(res, status, "Service Unavailable", "the store is not available");
        break;
    default:
        http_reply_message(res, status, "Internal Server Error");
    }
}

void api_run_post(void *vctx, const struct http_request *req, struct http_response *res,
                  api_body_call call, int ok_status) {
    struct api_ctx *ctx = vctx;
    json_t *body = api_json_body(req, res);
    struct workspace *ws = body ? api_auth_rest(ctx, req, body, res) : NULL;
    if (ws) {
        struct cd_msg msg = {{0}};
        json_t *out = NULL;
        enum cd_err err = call(ctx->app, ws, body, &out, &msg);
        api_reply_result(res, err, ok_status, out, &msg);
    }
    json_decref(body);
}

void api_run_get(void *vctx, const struct http_request *req, struct http_response *res,
                 api_query_call call) {
    struct api_ctx *ctx = vctx;
    struct workspace *ws = api_auth_rest(ctx, req, NULL, res);
    if (!ws)
        return;
    struct cd_msg msg = {{0}};
    json_t *out = NULL;
    enum cd_err err = call(ctx->app, ws, req, &out, &msg);
    api_reply_result(res, err, 200, out, &msg);
}

void api_reply_result(struct http_response *res, enum cd_err err, int ok_status, json_t *out,
                      const struct cd_msg *msg) {
    if (err == CD_OK)
        http_reply_json(res, ok_status, out);
    else
        api_reply_err(res, err, msg ? msg->text : NULL);
}

json_t *api_cohort_counts(const char *first_key, const char *first_value,
                          const struct cohort_apply_result *r) {
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", first_key, first_value, "ids_received",
                     (json_int_t)r->received, "ids_matched", (json_int_t)r->matched,
                     "ids_unmatched", (json_int_t)r->unmatched, "users_added", (json_int_t)r->added,
                     "users_removed", (json_int_t)r->removed);
}

bool api_refuse(struct http_response *res, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0)
        api_reply_err(res, CD_E_NOMEM, NULL);
    else
        http_reply_message(res, 400, text);
    free(text);
    return false;
}
