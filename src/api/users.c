/*
 * users.c — the Braze-compatible users API (/users/track, /users/alias/new, /users/identify,
 * /users/delete, /users/export/ids) and our /devices/track. Authenticates, parses, calls
 * core/users.h, and answers 201 (writes) or 200 (export).
 */
#include "api/api.h"

#include "core/users/users.h"

void api_users_track(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, users_track, 201);
}

void api_users_alias_new(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, users_alias_new, 201);
}

void api_users_identify(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, users_identify, 201);
}

void api_users_delete(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, users_delete, 201);
}

void api_users_export_ids(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, users_export_ids, 200);
}

void api_devices_track(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, users_device_track, 201);
}
