/*
 * partners.c — REST API for the server's integration partners, for the dashboard:
 * GET /partners/list and POST /partners/update (how a partner's partner_api_key is checked).
 * Partners are the server's, not one workspace's; any active REST API key may read and change
 * them (the CLI's `cohortd partner list|set` do the same on the store).
 */
#include "api/api.h"

#include <stdio.h>

#include "core/workspace/admin.h"

static void list_row(void *ctx, const char *name, enum key_check check) {
    json_array_append_new(
        ctx, json_pack("{s:s, s:s}", "name", name, "key_check", admin_key_check_name(check)));
}

static enum cd_err list(struct app *app, struct workspace *ws, const struct http_request *req,
                        json_t **out, struct cd_msg *msg) {
    (void)ws;
    (void)req;
    (void)msg;
    json_t *arr = json_array();
    enum cd_err err = admin_app_partner_list(app, list_row, arr);
    if (err != CD_OK) {
        json_decref(arr);
        return err;
    }
    *out = json_pack("{s:o, s:s}", "partners", arr, "message", "success");
    return CD_OK;
}

void api_partners_list(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_get(ctx, req, res, list);
}

/* {"name", "key_check": "required" | "off"}: the whole request or nothing. */
static enum cd_err update(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                          struct cd_msg *msg) {
    (void)ws;
    const char *name = json_string_value(json_object_get(body, "name"));
    const json_t *check_json = json_object_get(body, "key_check");
    const char *check_text = json_string_value(check_json);
    enum key_check check;
    if (!name || !*name)
        return cd_invalid(msg, "'name' must be a non-empty string");
    if (!check_json)
        return cd_invalid(msg, "'key_check' is required: 'required' or 'off'");
    if (!admin_key_check_parse(check_text, &check))
        return cd_invalid(msg, "'key_check' must be 'required' or 'off'");
    enum cd_err err = admin_app_partner_set_check(app, name, check);
    if (err == CD_E_NOT_FOUND) {
        snprintf(msg->text, sizeof msg->text, "no partner '%.64s'", name);
        return err;
    }
    if (err == CD_OK)
        *out = json_pack("{s:s, s:s, s:s}", "name", name, "key_check", admin_key_check_name(check),
                         "message", "success");
    return err;
}

void api_partners_update(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_post(ctx, req, res, update, 201);
}
