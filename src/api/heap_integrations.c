/*
 * heap_integrations.c — REST API for Heap segment-sync integrations:
 * POST /integrations/heap/create, GET /integrations/heap/list,
 * POST /integrations/heap/rotate_secret, POST /integrations/heap/delete.
 * The request's JSON and the answers' shapes are here; core keeps the integrations.
 */
#include "api/api.h"

#include <string.h>

#include "api/limits.h"
#include "core/cohorts/heap_integration.h"
#include "util/timeutil.h"

static json_t *webhook_path(const char *integration_id) {
    char path[HEAP_WEBHOOK_PATH_LEN];
    heap_webhook_path(integration_id, path);
    return json_string(path);
}

static json_t *mapping_json(enum heap_mapping mapping, const char *alias_label) {
    if (mapping == HEAP_MAP_ALIAS)
        return json_pack("{s:s, s:s}", "type", "alias", "alias_label",
                         alias_label ? alias_label : "");
    return json_pack("{s:s}", "type", heap_mapping_name(mapping));
}

/* Reads {"name", "identity_mapping"?} (mapping defaults to {"type":"external_id"}). */
static enum cd_err read_spec(const json_t *body, struct heap_integration_spec *spec,
                             struct cd_msg *msg) {
    spec->name = json_string_value(json_object_get(body, "name"));
    spec->mapping = HEAP_MAP_EXTERNAL_ID;
    spec->alias_label = NULL;
    if (!spec->name || !*spec->name || strlen(spec->name) > LIMIT_OBJECT_NAME)
        return cd_invalid(msg, "'name' must be a string of 1 to 200 characters");
    const json_t *m = json_object_get(body, "identity_mapping");
    if (!m || json_is_null(m))
        return CD_OK;
    const char *type = json_string_value(json_object_get(m, "type"));
    if (!json_is_object(m) || !type)
        return cd_invalid(msg, "'identity_mapping' must be an object with a 'type' string");
    if (!heap_mapping_from_name(type, &spec->mapping))
        return cd_invalid(msg,
                          "'identity_mapping.type' must be 'external_id', 'alias' or 'device_id'");
    if (spec->mapping == HEAP_MAP_ALIAS) {
        spec->alias_label = json_string_value(json_object_get(m, "alias_label"));
        if (!spec->alias_label || !*spec->alias_label)
            return cd_invalid(msg,
                              "'identity_mapping' of type 'alias' needs a non-empty 'alias_label'");
        if (strlen(spec->alias_label) > LIMIT_ALIAS_LABEL)
            return cd_invalid(msg, "identity_mapping.alias_label is longer than %d bytes",
                              LIMIT_ALIAS_LABEL);
    }
    return CD_OK;
}

static enum cd_err create(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                          struct cd_msg *msg) {
    struct heap_integration_spec spec;
    struct heap_integration_secret made;
    enum cd_err err = read_spec(body, &spec, msg);
    if (err == CD_OK)
        err = heap_integration_create(app, ws, &spec, &made, msg);
    if (err == CD_OK)
        *out = json_pack("{s:s, s:s, s:o, s:s}", "message", "success", "integration_id",
                         made.integration_id, "webhook_path", webhook_path(made.integration_id),
                         "webhook_secret", made.secret);
    return err;
}

void api_heap_integration_create(void *ctx, const struct http_request *req,
                                 struct http_response *res) {
    api_run_post(ctx, req, res, create, 201);
}

static void list_row(void *ctx, const struct heap_integration_info *r) {
    char created[32];
    time_format_iso8601(r->created_at, created, sizeof created);
    json_array_append_new(ctx, json_pack("{s:s, s:s, s:o, s:o, s:s, s:I, s:I}", "integration_id",
                                         r->integration_id, "name", r->name, "identity_mapping",
                                         mapping_json(r->mapping, r->alias_label), "webhook_path",
                                         webhook_path(r->integration_id), "created_at", created,
                                         "pages_received", (json_int_t)r->n_pages,
                                         "ignored_requests", (json_int_t)r->n_ignored));
}

static enum cd_err list(struct app *app, struct workspace *ws, const struct http_request *req,
                        json_t **out, struct cd_msg *msg) {
    (void)req;
    (void)msg;
    json_t *arr = json_array();
    enum cd_err err = heap_integration_list(app, ws, list_row, arr);
    if (err != CD_OK) {
        json_decref(arr);
        return err;
    }
    *out = json_pack("{s:s, s:o}", "message", "success", "integrations", arr);
    return CD_OK;
}

void api_heap_integration_list(void *ctx, const struct http_request *req,
                               struct http_response *res) {
    api_run_get(ctx, req, res, list);
}

/* Shared by rotate_secret and delete: authenticates and reads "integration_id". */
static const char *integration_arg(struct api_ctx *ctx, const struct http_request *req,
                                   struct http_response *res, json_t **body,
                                   struct workspace **ws) {
    *body = api_json_body(req, res);
    *ws = *body ? api_auth_rest(ctx, req, *body, res) : NULL;
    if (!*ws)
        return NULL;
    const char *id = json_string_value(json_object_get(*body, "integration_id"));
    if (!id || !*id) {
        http_reply_message(res, 400, "'integration_id' must be a non-empty string");
        return NULL;
    }
    return id;
}

void api_heap_integration_rotate(void *vctx, const struct http_request *req,
                                 struct http_response *res) {
    struct api_ctx *ctx = vctx;
    json_t *body;
    struct workspace *ws;
    const char *id = integration_arg(ctx, req, res, &body, &ws);
    if (id) {
        struct heap_integration_secret made;
        enum cd_err err = heap_integration_rotate(ctx->app, ws, id, &made);
        json_t *out = err == CD_OK
                          ? json_pack("{s:s, s:s, s:s}", "message", "success", "integration_id",
                                      made.integration_id, "webhook_secret", made.secret)
                          : NULL;
        api_reply_result(res, err, 201, out, NULL);
    }
    json_decref(body);
}

void api_heap_integration_delete(void *vctx, const struct http_request *req,
                                 struct http_response *res) {
    struct api_ctx *ctx = vctx;
    json_t *body;
    struct workspace *ws;
    const char *id = integration_arg(ctx, req, res, &body, &ws);
    if (id) {
        enum cd_err err = heap_integration_delete(ctx->app, ws, id);
        if (err == CD_OK)
            http_reply_message(res, 201, "success");
        else
            api_reply_err(res, err, NULL);
    }
    json_decref(body);
}
