/* heap_integration.c — Heap integrations of a workspace (see heap_integration.h). */
#include "core/cohorts/heap_integration.h"

#include <stdio.h>
#include <string.h>

#include "core/workspace/workspace.h"
#include "core/workspace/workspace_int.h"
#include "util/crypto.h"
#include "util/timeutil.h"

static const char *const mapping_names[] = {
    [HEAP_MAP_EXTERNAL_ID] = "external_id",
    [HEAP_MAP_ALIAS] = "alias",
    [HEAP_MAP_DEVICE_ID] = "device_id",
};

bool heap_mapping_from_name(const char *name, enum heap_mapping *out) {
    for (size_t i = 0; i < sizeof mapping_names / sizeof mapping_names[0]; i++)
        if (name && strcmp(name, mapping_names[i]) == 0) {
            *out = (enum heap_mapping)i;
            return true;
        }
    return false;
}

const char *heap_mapping_name(enum heap_mapping mapping) {
    return (size_t)mapping < sizeof mapping_names / sizeof mapping_names[0]
               ? mapping_names[mapping]
               : mapping_names[HEAP_MAP_EXTERNAL_ID];
}

void heap_webhook_path(const char *integration_id, char path[HEAP_WEBHOOK_PATH_LEN]) {
    snprintf(path, HEAP_WEBHOOK_PATH_LEN, "/heap/webhooks/%s", integration_id);
}

static int new_secret(char out[HEAP_SECRET_LEN]) {
    uint8_t b[32];
    if (crypto_random(b, sizeof b) != 0)
        return -1;
    crypto_hex(b, sizeof b, out);
    return 0;
}

enum cd_err heap_integration_create_in(struct store *s, int64_t ws,
                                       const struct heap_integration_spec *spec,
                                       struct heap_integration_secret *out, struct cd_msg *msg) {
    if (!spec->name || !*spec->name || strlen(spec->name) > HEAP_INTEGRATION_NAME_MAX)
        return cd_invalid(msg, "'name' must be a string of 1 to 200 characters");
    if (spec->mapping == HEAP_MAP_ALIAS && (!spec->alias_label || !*spec->alias_label))
        return cd_invalid(msg,
                          "'identity_mapping' of type 'alias' needs a non-empty 'alias_label'");
    memset(out, 0, sizeof *out);
    if (crypto_uuid4(out->integration_id) != 0 || new_secret(out->secret) != 0)
        return CD_E_INTERNAL;
    struct heap_integration_row row = {
        .workspace_id = ws,
        .integration_id = out->integration_id,
        .name = spec->name,
        .mapping = spec->mapping,
        .alias_label = spec->mapping == HEAP_MAP_ALIAS ? spec->alias_label : NULL,
        .secret = out->secret,
        .created_at = time_now_ms(),
    };
    return STORE_OPS(s)->heap->create(s, &row, NULL);
}

/* Passes store rows on as heap_integration_info. */
struct list_ctx {
    void (*cb)(void *ctx, const struct heap_integration_info *);
    void *ctx;
};

static void list_row(void *vctx, const struct heap_integration_row *r) {
    const struct list_ctx *lc = vctx;
    struct heap_integration_info info = {
        .integration_id = r->integration_id,
        .name = r->name,
        .mapping = r->mapping,
        .alias_label = r->alias_label,
        .created_at = r->created_at,
        .n_pages = r->n_pages,
        .n_ignored = r->n_ignored,
    };
    lc->cb(lc->ctx, &info);
}

enum cd_err heap_integration_list_in(struct store *s, int64_t ws,
                                     void (*cb)(void *ctx, const struct heap_integration_info *),
                                     void *ctx) {
    struct list_ctx lc = {cb, ctx};
    return STORE_OPS(s)->heap->list(s, ws, list_row, &lc);
}

enum cd_err heap_integration_rotate_in(struct store *s, int64_t ws, const char *integration_id,
                                       struct heap_integration_secret *out) {
    memset(out, 0, sizeof *out);
    if (strlen(integration_id) >= sizeof out->integration_id)
        return CD_E_NOT_FOUND; /* no id of ours is that long */
    snprintf(out->integration_id, sizeof out->integration_id, "%s", integration_id);
    if (new_secret(out->secret) != 0)
        return CD_E_INTERNAL;
    return STORE_OPS(s)->heap->set_secret(s, ws, integration_id, out->secret);
}

enum cd_err heap_integration_delete_in(struct store *s, int64_t ws, const char *integration_id) {
    return STORE_OPS(s)->heap->remove(s, ws, integration_id, time_now_ms());
}

enum cd_err heap_integration_create(struct app *app, struct workspace *ws,
                                    const struct heap_integration_spec *spec,
                                    struct heap_integration_secret *out, struct cd_msg *msg) {
    return heap_integration_create_in(app->store, ws->id, spec, out, msg);
}

enum cd_err heap_integration_list(struct app *app, struct workspace *ws,
                                  void (*cb)(void *ctx, const struct heap_integration_info *),
                                  void *ctx) {
    return heap_integration_list_in(app->store, ws->id, cb, ctx);
}

enum cd_err heap_integration_rotate(struct app *app, struct workspace *ws,
                                    const char *integration_id,
                                    struct heap_integration_secret *out) {
    return heap_integration_rotate_in(app->store, ws->id, integration_id, out);
}

enum cd_err heap_integration_delete(struct app *app, struct workspace *ws,
                                    const char *integration_id) {
    return heap_integration_delete_in(app->store, ws->id, integration_id);
}
