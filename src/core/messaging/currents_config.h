/*
 * currents_config.h — the Currents of a workspace as configuration: create (validating the
 * endpoint, event types and batch size), list, details with delivery state and counters, pause,
 * resume, delete, and replay of dead letters. Delivery itself is src/currents/.
 *
 * The verbs take and give C structs; the JSON of the /currents/ endpoints is api/'s. A definition
 * the domain refuses is CD_E_INVALID with a struct current_fault saying which rule failed.
 */
#ifndef COHORTD_CORE_MESSAGING_CURRENTS_CONFIG_H
#define COHORTD_CORE_MESSAGING_CURRENTS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/workspace/workspace.h"

#define CURRENTS_MAX_BATCH 10000
#define CURRENTS_DEFAULT_BATCH 100

enum current_type { CURRENT_HEAP, CURRENT_CUSTOM_HTTP };

/* "heap", "custom_http". */
const char *current_type_name(enum current_type t);

/* A Current to create; strings are borrowed for the call. */
struct current_def {
    const char *name;
    enum current_type type;
    const char *endpoint;
    const char *bearer_token; /* NULL when none */
    const char *const *event_types;
    size_t n_event_types;
    int64_t batch_size; /* 0: CURRENTS_DEFAULT_BATCH */
};

enum current_fault_code {
    CURRENT_FAULT_NONE,
    CURRENT_FAULT_NAME,       /* empty */
    CURRENT_FAULT_ENDPOINT,   /* not http:// or https:// */
    CURRENT_FAULT_TOKEN,      /* empty, or with a space or line break */
    CURRENT_FAULT_NO_TYPES,   /* no event types */
    CURRENT_FAULT_EVENT_TYPE, /* event_types[index] is not one cohortd emits */
    CURRENT_FAULT_BATCH,      /* outside 1 … CURRENTS_MAX_BATCH */
    CURRENT_FAULT_NO_ID,      /* no current id given */
};

struct current_fault {
    enum current_fault_code code;
    size_t index;
};

enum cd_err currents_create(struct app *app, struct workspace *ws, const struct current_def *def,
                            char current_id[37], struct current_fault *fault);

/* The answer to a Current's credential probe (an empty batch; CONTRACT.md §4.1). */
struct current_probe {
    int64_t at;      /* UNIX ms it was sent */
    long status;     /* HTTP status; 0 when nothing answered */
    char error[160]; /* "" for a 2xx, else "HTTP 401", "network: …" */
};

enum current_probe_result {
    CURRENT_PROBE_OK,      /* 2xx: the receiver took the credentials */
    CURRENT_PROBE_REFUSED, /* 401, 403, 404: credential-class, as the dispatcher treats them */
    CURRENT_PROBE_FAILED,  /* anything else (5xx, 429, network): no verdict on credentials */
};

/* A status of the credential class (401, 403, 404): the Current's credentials or endpoint are
 * wrong, so retrying soon cannot help (BD-CURRENTS-ISV's current revision adds 404). */
bool currents_status_is_credential(long status);
enum current_probe_result current_probe_result_of(const struct current_probe *p);
/* "ok", "credentials_refused", "failed". */
const char *current_probe_result_name(enum current_probe_result r);

/* Keeps the probe's answer with the Current, for details. CD_E_NOT_FOUND when it is gone. */
enum cd_err currents_probe_record(struct app *app, struct workspace *ws, const char *current_id,
                                  const struct current_probe *p);

/* A Current as list and details show it; borrowed for the callback. */
struct current_info {
    const char *current_id;
    const char *name;
    const char *type;
    const char *endpoint;
    const char *const *event_types;
    size_t n_event_types;
    int64_t batch_size;
    const char *state; /* "active", "paused", "failed" */
    bool has_bearer_token;
    /* details only */
    int64_t delivered, retried, dead_lettered;
    const char *last_error;            /* NULL when none */
    int64_t oldest_undelivered_age_s;  /* -1 when nothing waits */
    const struct current_probe *probe; /* the credential probe at creation; NULL when none */
};

enum cd_err currents_list(struct app *app, struct workspace *ws,
                          void (*cb)(void *ctx, const struct current_info *), void *ctx);

/* CD_E_NOT_FOUND when the workspace has no such Current; CD_E_INVALID (CURRENT_FAULT_NO_ID)
 * when current_id is NULL or empty. */
enum cd_err currents_details(struct app *app, struct workspace *ws, const char *current_id,
                             void (*cb)(void *ctx, const struct current_info *), void *ctx,
                             struct current_fault *fault);

enum current_verb { CURRENT_PAUSE, CURRENT_RESUME, CURRENT_DELETE, CURRENT_REPLAY };

/* *replayed is set for CURRENT_REPLAY (dead letters queued again). */
enum cd_err currents_act(struct app *app, struct workspace *ws, enum current_verb verb,
                         const char *current_id, int64_t *replayed, struct current_fault *fault);

#endif
