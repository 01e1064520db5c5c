/*
 * currents_config.h — the Currents of a workspace as configuration: create (validating the
 * endpoint, event types and batch size), list, details with delivery state and counters, pause,
 * resume, delete, and replay of dead letters. Delivery itself is src/currents/.
 */
#ifndef COHORTD_CORE_MESSAGING_CURRENTS_CONFIG_H
#define COHORTD_CORE_MESSAGING_CURRENTS_CONFIG_H

#include <jansson.h>

#include "store/store.h"

#define CURRENTS_MAX_BATCH 10000

enum cd_err currents_create(struct store *s, int64_t ws, const json_t *body, json_t **out,
                            struct cd_msg *msg);
enum cd_err currents_list(struct store *s, int64_t ws, json_t **out);
enum cd_err currents_details(struct store *s, int64_t ws, const char *current_id, json_t **out,
                             struct cd_msg *msg);
/* verb: "pause", "resume", "delete" or "replay"; body {"current_id"}. */
enum cd_err currents_act(struct store *s, int64_t ws, const char *verb, const json_t *body,
                         json_t **out, struct cd_msg *msg);

#endif
