/* heap_integration.c — Heap integrations of a workspace (see heap_integration.h). */
#include "core/cohorts/heap_integration.h"

#include <stdio.h>
#include <string.h>

#include "util/crypto.h"
#include "util/timeutil.h"

json_t *heap_mapping_json(enum heap_mapping mapping, const char *alias_label) {
    switch (mapping) {
    case HEAP_MAP_ALIAS:
        return json_pack("{s:s, s:s}", "type", "alias", "alias_label",
                         alias_label ? alias_label : "");
    case HEAP_MAP_DEVICE_ID:
        return json_pack("{s:s}", "type", "device_id");
    case HEAP_MAP_EXTERNAL_ID:
        break;
    }
    return json_pack("{s:s}", "type", "external_id");
}

static enum cd_err parse_mapping(const json_t *m, enum heap_mapping *mapping, const char **label,
                                 struct cd_msg *msg) {
    *mapping = HEAP_MAP_EXTERNAL_ID;
    *label = NULL;
    if (!m || json_is_null(m))
        return CD_OK;
    const char *type = json_string_value(json_object_get(m, "type"));
    if (!json_is_object(m) || !type) {
        snprintf(msg->text, sizeof msg->text,
                 "'identity_mapping' must be an object with a 'type' string");
        return CD_E_INVALID;
    }
    if (strcmp(type, "external_id") == 0)
        return CD_OK;
    if (strcmp(type, "device_id") == 0) {
        *mapping = HEAP_MAP_DEVICE_ID;
        return CD_OK;
    }
    if (strcmp(type, "alias") == 0) {
        *label = json_string_value(json_object_get(m, "alias_label"));
        if (!*label || !**label) {
            snprintf(msg->text, sizeof msg->text,
                     "'identity_mapping' of type 'alias' needs a non-empty 'alias_label'");
            return CD_E_INVALID;
        }
        *mapping = HEAP_MAP_ALIAS;
        return CD_OK;
    }
    snprintf(msg->text, sizeof msg->text,
             "'identity_mapping.type' must be 'external_id', 'alias' or 'device_id'");
    return CD_E_INVALID;
}

static int new_secret(char out[HEAP_SECRET_LEN]) {
    uint8_t b[32];
    if (crypto_random(b, sizeof b) != 0)
        return -1;
    crypto_hex(b, sizeof b, out);
    return 0;
}

static json_t *webhook_path(const char *integration_id) {
    char path[128];
    snprintf(path, sizeof path, "/heap/webhooks/%s", integration_id);
    return json_string(path);
}

enum cd_err heap_integration_create(struct store *s, int64_t ws, const json_t *body, json_t **out,
                                    struct cd_msg *msg) {
    const json_t *name_v = json_object_get(body, "name");
    const char *name = json_string_value(name_v);
    if (!name || !*name || strlen(name) > 200) {
        return cd_invalid(msg, "'name' must be a string of 1 to 200 characters");
    }
    enum heap_mapping mapping;
    const char *label;
    enum cd_err err =
        parse_mapping(json_object_get(body, "identity_mapping"), &mapping, &label, msg);
    if (err != CD_OK)
        return err;
    char id[37], secret[HEAP_SECRET_LEN];
    if (crypto_uuid4(id) != 0 || new_secret(secret) != 0)
        return CD_E_INTERNAL;
    struct heap_integration_row row = {
        .workspace_id = ws,
        .integration_id = id,
        .name = name,
        .mapping = mapping,
        .alias_label = label,
        .secret = secret,
        .created_at = time_now_ms(),
    };
    err = STORE_OPS(s)->heap->create(s, &row, NULL);
    if (err != CD_OK)
        return err;
    *out = json_pack("{s:s, s:s, s:o, s:s}", "message", "success", "integration_id", id,
                     "webhook_path", webhook_path(id), "webhook_secret", secret);
    return CD_OK;
}

static void list_row(void *ctx, const struct heap_integration_row *r) {
    char created[32];
    time_format_iso8601(r->created_at, created, sizeof created);
    json_array_append_new(
        ctx, json_pack("{s:s, s:s, s:o, s:o, s:s, s:I, s:I}", "integration_id", r->integration_id,
                       "name", r->name, "identity_mapping",
                       heap_mapping_json(r->mapping, r->alias_label), "webhook_path",
                       webhook_path(r->integration_id), "created_at", created, "pages_received",
                       (json_int_t)r->n_pages, "ignored_requests", (json_int_t)r->n_ignored));
}

enum cd_err heap_integration_list(struct store *s, int64_t ws, json_t **out) {
    json_t *arr = json_array();
    enum cd_err err = STORE_OPS(s)->heap->list(s, ws, list_row, arr);
    if (err != CD_OK) {
        json_decref(arr);
        return err;
    }
    *out = json_pack("{s:s, s:o}", "message", "success", "integrations", arr);
    return CD_OK;
}

enum cd_err heap_integration_rotate(struct store *s, int64_t ws, const char *integration_id,
                                    json_t **out) {
    char secret[HEAP_SECRET_LEN];
    if (new_secret(secret) != 0)
        return CD_E_INTERNAL;
    enum cd_err err = STORE_OPS(s)->heap->set_secret(s, ws, integration_id, secret);
    if (err == CD_OK)
        *out = json_pack("{s:s, s:s, s:s}", "message", "success", "integration_id", integration_id,
                         "webhook_secret", secret);
    return err;
}

enum cd_err heap_integration_delete(struct store *s, int64_t ws, const char *integration_id) {
    return STORE_OPS(s)->heap->remove(s, ws, integration_id, time_now_ms());
}
