/*
 * heap_integration.h — Heap segment-sync integrations of a workspace: creating one (a public
 * id that names its webhook path, and a webhook secret from the OS random source), listing,
 * rotating the secret (old signatures stop verifying at once) and deleting. Typed in and out:
 * the REST API (api/heap_integrations.c) and the CLI shape their own input and output. The
 * (app, ws) calls serve the API; the _in calls work on a store and a workspace's internal id,
 * for the CLI, which has no app. The webhook receiver reads the store per request, so both
 * take effect at once.
 */
#ifndef COHORTD_CORE_COHORTS_HEAP_INTEGRATION_H
#define COHORTD_CORE_COHORTS_HEAP_INTEGRATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

struct app;
struct workspace;

#define HEAP_SECRET_LEN 65         /* 64 hex digits */
#define HEAP_INTEGRATION_ID_LEN 37 /* a UUID */
#define HEAP_WEBHOOK_PATH_LEN 64   /* "/heap/webhooks/<id>" */
#define HEAP_INTEGRATION_NAME_MAX 200

struct heap_integration_spec {
    const char *name; /* 1 to HEAP_INTEGRATION_NAME_MAX bytes */
    enum heap_mapping mapping;
    const char *alias_label; /* HEAP_MAP_ALIAS only: non-empty */
};

/* One integration as listed; strings borrowed for the callback. */
struct heap_integration_info {
    const char *integration_id;
    const char *name;
    enum heap_mapping mapping;
    const char *alias_label; /* HEAP_MAP_ALIAS only */
    int64_t created_at;
    int64_t n_pages;   /* sync pages applied */
    int64_t n_ignored; /* requests acknowledged but ignored */
};

/* What create and rotate hand out, once. */
struct heap_integration_secret {
    char integration_id[HEAP_INTEGRATION_ID_LEN];
    char secret[HEAP_SECRET_LEN];
};

/* "external_id", "alias", "device_id" and back; false for another name. */
bool heap_mapping_from_name(const char *name, enum heap_mapping *out);
const char *heap_mapping_name(enum heap_mapping mapping);

/* "/heap/webhooks/<integration_id>". */
void heap_webhook_path(const char *integration_id, char path[HEAP_WEBHOOK_PATH_LEN]);

/* Creates an integration. CD_E_INVALID with msg when the name or the alias label is bad. */
enum cd_err heap_integration_create(struct app *app, struct workspace *ws,
                                    const struct heap_integration_spec *spec,
                                    struct heap_integration_secret *out, struct cd_msg *msg);
/* Every live integration, oldest first; cb must not call into core. */
enum cd_err heap_integration_list(struct app *app, struct workspace *ws,
                                  void (*cb)(void *ctx, const struct heap_integration_info *),
                                  void *ctx);
/* A new secret. CD_E_NOT_FOUND when the workspace has no such live integration. */
enum cd_err heap_integration_rotate(struct app *app, struct workspace *ws,
                                    const char *integration_id,
                                    struct heap_integration_secret *out);
/* CD_E_NOT_FOUND when the workspace has no such live integration. */
enum cd_err heap_integration_delete(struct app *app, struct workspace *ws,
                                    const char *integration_id);

enum cd_err heap_integration_create_in(struct store *s, int64_t ws,
                                       const struct heap_integration_spec *spec,
                                       struct heap_integration_secret *out, struct cd_msg *msg);
enum cd_err heap_integration_list_in(struct store *s, int64_t ws,
                                     void (*cb)(void *ctx, const struct heap_integration_info *),
                                     void *ctx);
enum cd_err heap_integration_rotate_in(struct store *s, int64_t ws, const char *integration_id,
                                       struct heap_integration_secret *out);
enum cd_err heap_integration_delete_in(struct store *s, int64_t ws, const char *integration_id);

#endif
