/*
 * heap_integration.h — Heap segment-sync integrations of a workspace: creating one (a public
 * id that names its webhook path, and a webhook secret from the OS random source), listing,
 * rotating the secret (old signatures stop verifying at once) and deleting. Used by the REST
 * API and the CLI alike; both work on the store, which the webhook receiver reads per request.
 */
#ifndef COHORTD_CORE_COHORTS_HEAP_INTEGRATION_H
#define COHORTD_CORE_COHORTS_HEAP_INTEGRATION_H

#include <jansson.h>

#include "store/store.h"

#define HEAP_SECRET_LEN 65

/*
 * Creates an integration from {"name", "identity_mapping"?} (mapping defaults to
 * {"type":"external_id"}). *out: {"integration_id","webhook_path","webhook_secret"}.
 * CD_E_INVALID with msg on bad input.
 */
enum cd_err heap_integration_create(struct store *s, int64_t ws, const json_t *body, json_t **out,
                                    struct cd_msg *msg);
/* {"integrations":[{integration_id, name, identity_mapping, webhook_path, created_at,
 * pages_received, ignored_requests}]} */
enum cd_err heap_integration_list(struct store *s, int64_t ws, json_t **out);
/* A new secret; *out {"integration_id","webhook_secret"}. CD_E_NOT_FOUND when unknown. */
enum cd_err heap_integration_rotate(struct store *s, int64_t ws, const char *integration_id,
                                    json_t **out);
enum cd_err heap_integration_delete(struct store *s, int64_t ws, const char *integration_id);

/* The identity mapping of a row as JSON ({"type":…[, "alias_label":…]}). */
json_t *heap_mapping_json(enum heap_mapping mapping, const char *alias_label);

#endif
