/*
 * dashboard_admin.c — the dashboard's settings that only a session may reach: its users
 * (GET /dashboard/api/users for any session; /users/create and /users/delete for admins) and
 * the workspaces (GET /workspaces/list for any session, POST /workspaces/create for admins).
 * A REST key belongs to one workspace, so it reaches none of them (401 "not logged in").
 */
#include "api/api.h"

#include <stdio.h>
#include <string.h>

#include "core/workspace/app_admin.h"
#include "util/timeutil.h"

static json_t *user_json(const struct dash_user *u) {
    char at[40];
    time_format_iso8601(u->created_at, at, sizeof at);
    return json_pack("{s:s, s:s, s:s}", "email", u->email, "role", dash_role_name(u->role),
                     "created_at", at);
}

static void add_user(void *ctx, const struct dash_user *u) {
    json_array_append_new(ctx, user_json(u));
}

void api_dashboard_users(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct api_caller who;
    if (!api_auth_session(ctx, req, res, false, &who))
        return;
    json_t *users = json_array();
    enum cd_err err = app_dash_user_list(ctx->app, add_user, users);
    if (err != CD_OK) {
        json_decref(users);
        api_reply_err(res, err, NULL);
        return;
    }
    http_reply_json(res, 200, json_pack("{s:o, s:s}", "users", users, "message", "success"));
}

/* The body of an admin's write, or NULL having replied. */
static json_t *admin_body(struct api_ctx *ctx, const struct http_request *req,
                          struct http_response *res, struct api_caller *who) {
    json_t *body = api_json_body(req, res);
    if (body && !api_auth_session(ctx, req, res, true, who)) {
        json_decref(body);
        return NULL;
    }
    return body;
}

void api_dashboard_users_create(void *vctx, const struct http_request *req,
                                struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct api_caller who;
    json_t *body = admin_body(ctx, req, res, &who);
    if (!body)
        return;
    const char *email = json_string_value(json_object_get(body, "email"));
    const char *role_text = json_string_value(json_object_get(body, "role"));
    const char *password = json_string_value(json_object_get(body, "password"));
    enum dash_role role;
    struct cd_msg msg = {{0}};
    struct dash_user u = {0};
    enum cd_err err;
    if (!email || !password)
        err = cd_invalid(&msg, "'email' and 'password' must be strings");
    else if (!dash_role_parse(role_text, &role))
        err = cd_invalid(&msg, "'role' must be 'admin' or 'member'");
    else
        err = app_dash_user_add(ctx->app, email, role, password, &u, &msg);
    if (err == CD_E_EXISTS) {
        char text[DASH_EMAIL_MAX + 64];
        snprintf(text, sizeof text, "a user with email '%s' exists already", email);
        http_reply_message(res, 400, text);
    } else if (err == CD_OK) {
        http_reply_json(res, 201,
                        json_pack("{s:s, s:o}", "message", "success", "user", user_json(&u)));
    } else {
        api_reply_err(res, err, msg.text);
    }
    json_decref(body);
}

void api_dashboard_users_delete(void *vctx, const struct http_request *req,
                                struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct api_caller who;
    json_t *body = admin_body(ctx, req, res, &who);
    if (!body)
        return;
    const char *email = json_string_value(json_object_get(body, "email"));
    char norm[DASH_EMAIL_MAX + 1];
    struct cd_msg msg = {{0}};
    enum cd_err err = email ? dash_email_normalise(email, norm, &msg)
                            : cd_invalid(&msg, "'email' must be a string");
    if (err == CD_OK && strcmp(norm, who.user.email) == 0)
        err = cd_invalid(&msg, "you cannot delete your own user (another admin can)");
    if (err == CD_OK)
        err = app_dash_user_remove(ctx->app, norm);
    json_decref(body);
    if (err == CD_E_NOT_FOUND)
        http_reply_message(res, 404, "no user has this email");
    else if (err == CD_OK)
        http_reply_message(res, 201, "success");
    else
        api_reply_err(res, err, msg.text);
    /* the user's sessions end at their next request (common.c reads the user each time) */
}

static void add_workspace(void *ctx, const struct app_workspace_info *w) {
    char at[40];
    time_format_iso8601(w->created_at, at, sizeof at);
    json_array_append_new(
        ctx, json_pack("{s:s, s:s, s:s}", "id", w->public_id, "name", w->name, "created_at", at));
}

void api_workspaces_list(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct api_caller who;
    if (!api_auth_session(ctx, req, res, false, &who))
        return;
    json_t *all = json_array();
    enum cd_err err = app_workspaces_list(ctx->app, add_workspace, all);
    if (err != CD_OK) {
        json_decref(all);
        api_reply_err(res, err, NULL);
        return;
    }
    http_reply_json(res, 200, json_pack("{s:o, s:s}", "workspaces", all, "message", "success"));
}

void api_workspaces_create(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct api_caller who;
    json_t *body = admin_body(ctx, req, res, &who);
    if (!body)
        return;
    const char *name = json_string_value(json_object_get(body, "name"));
    struct app_workspace_info w;
    enum cd_err err = name && *name && strlen(name) < sizeof w.name
                          ? app_workspace_create(ctx->app, name, &w)
                          : CD_E_INVALID;
    if (err == CD_E_INVALID) {
        http_reply_message(res, 400, "'name' must be a string of 1 to 127 bytes");
    } else if (err == CD_E_EXISTS) {
        char text[200];
        snprintf(text, sizeof text, "a workspace named '%s' exists already", name);
        http_reply_message(res, 400, text);
    } else if (err == CD_OK) {
        http_reply_json(res, 201,
                        json_pack("{s:s, s:{s:s, s:s}}", "message", "success", "workspace", "id",
                                  w.public_id, "name", w.name));
    } else {
        api_reply_err(res, err, NULL);
    }
    json_decref(body);
}
