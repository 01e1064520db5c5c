/* currents_config.c — Currents as configuration (see currents_config.h). */
#include "core/messaging/currents_config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/workspace/workspace_int.h"
#include "util/crypto.h"
#include "util/timeutil.h"

/* Event types cohortd can emit (CONTRACT.md §4.5). */
static const char *const known_types[] = {
    "users.behaviors.CustomEvent",
    "users.behaviors.Purchase",
    "users.behaviors.app.SessionStart",
    "users.behaviors.app.SessionEnd",
    "users.behaviors.subscription.GlobalStateChange",
    "users.messages.webhook.Send",
    "users.messages.webhook.Failure",
    "users.campaigns.EnrollInControl",
    "users.canvas.Entry",
    NULL,
};

static bool known_type(const char *t) {
    for (int i = 0; known_types[i]; i++)
        if (strcmp(known_types[i], t) == 0)
            return true;
    return false;
}

const char *current_type_name(enum current_type t) {
    return t == CURRENT_HEAP ? "heap" : "custom_http";
}

static enum cd_err refuse(struct current_fault *fault, enum current_fault_code code, size_t i) {
    fault->code = code;
    fault->index = i;
    return CD_E_INVALID;
}

static enum cd_err check_def(const struct current_def *def, struct current_fault *fault) {
    if (!def->name || !*def->name)
        return refuse(fault, CURRENT_FAULT_NAME, 0);
    const char *e = def->endpoint ? def->endpoint : "";
    if (strncmp(e, "http://", 7) != 0 && strncmp(e, "https://", 8) != 0)
        return refuse(fault, CURRENT_FAULT_ENDPOINT, 0);
    if (def->bearer_token && (!*def->bearer_token || strpbrk(def->bearer_token, "\r\n ")))
        return refuse(fault, CURRENT_FAULT_TOKEN, 0);
    if (def->n_event_types == 0)
        return refuse(fault, CURRENT_FAULT_NO_TYPES, 0);
    for (size_t i = 0; i < def->n_event_types; i++)
        if (!def->event_types[i] || !known_type(def->event_types[i]))
            return refuse(fault, CURRENT_FAULT_EVENT_TYPE, i);
    if (def->batch_size < 0 || def->batch_size > CURRENTS_MAX_BATCH)
        return refuse(fault, CURRENT_FAULT_BATCH, 0);
    return CD_OK;
}

enum cd_err currents_create(struct app *app, struct workspace *ws, const struct current_def *def,
                            char current_id[37], struct current_fault *fault) {
    memset(fault, 0, sizeof *fault);
    if (check_def(def, fault) != CD_OK)
        return CD_E_INVALID;
    json_t *types = json_array();
    for (size_t i = 0; types && i < def->n_event_types; i++) {
        if (json_array_append_new(types, json_string(def->event_types[i])) != 0) {
            json_decref(types);
            types = NULL;
        }
    }
    char *types_text = types ? json_dumps(types, JSON_COMPACT) : NULL;
    json_decref(types);
    if (!types_text || crypto_uuid4(current_id) != 0) {
        free(types_text);
        return CD_E_INTERNAL;
    }
    struct current_row row = {
        .workspace_id = ws->id,
        .current_id = current_id,
        .name = def->name,
        .type = current_type_name(def->type),
        .endpoint = def->endpoint,
        .bearer_token = def->bearer_token,
        .event_types = types_text,
        .batch_size = def->batch_size ? def->batch_size : CURRENTS_DEFAULT_BATCH,
        .created_at = time_now_ms(),
    };
    enum cd_err err = STORE_OPS(app->store)->currents->create(app->store, &row);
    free(types_text);
    return err;
}

struct info_ctx {
    void (*cb)(void *ctx, const struct current_info *);
    void *ctx;
    int64_t age_s; /* oldest_undelivered_age_s to show */
    enum cd_err err;
};

/* Calls back with the row as a struct current_info; event types are parsed from their JSON. */
static void take(void *vctx, const struct current_row *r) {
    struct info_ctx *c = vctx;
    json_t *types = json_loads(r->event_types, 0, NULL);
    size_t n = json_array_size(types);
    const char **names = calloc(n ? n : 1, sizeof *names);
    if (!names) {
        json_decref(types);
        c->err = CD_E_NOMEM;
        return;
    }
    for (size_t i = 0; i < n; i++)
        names[i] = json_string_value(json_array_get(types, i));
    struct current_probe probe = {.at = r->probe_at, .status = r->probe_status};
    snprintf(probe.error, sizeof probe.error, "%s", r->probe_error ? r->probe_error : "");
    struct current_info info = {
        .probe = r->probe_at ? &probe : NULL,
        .current_id = r->current_id,
        .name = r->name,
        .type = r->type,
        .endpoint = r->endpoint,
        .event_types = names,
        .n_event_types = n,
        .batch_size = r->batch_size,
        .state = r->state,
        .has_bearer_token = r->bearer_token != NULL,
        .delivered = r->n_delivered,
        .retried = r->n_retried,
        .dead_lettered = r->n_dead,
        .last_error = r->last_error,
        .oldest_undelivered_age_s = c->age_s,
    };
    c->cb(c->ctx, &info);
    free(names);
    json_decref(types);
}

bool currents_status_is_credential(long status) {
    return status == 401 || status == 403 || status == 404;
}

enum current_probe_result current_probe_result_of(const struct current_probe *p) {
    if (p->status >= 200 && p->status < 300)
        return CURRENT_PROBE_OK;
    return currents_status_is_credential(p->status) ? CURRENT_PROBE_REFUSED : CURRENT_PROBE_FAILED;
}

const char *current_probe_result_name(enum current_probe_result r) {
    return r == CURRENT_PROBE_OK        ? "ok"
           : r == CURRENT_PROBE_REFUSED ? "credentials_refused"
                                        : "failed";
}

enum cd_err currents_probe_record(struct app *app, struct workspace *ws, const char *current_id,
                                  const struct current_probe *p) {
    return STORE_OPS(app->store)
        ->currents->probe_set(app->store, ws->id, current_id, p->at, p->status,
                              p->error[0] ? p->error : NULL);
}

enum cd_err currents_list(struct app *app, struct workspace *ws,
                          void (*cb)(void *ctx, const struct current_info *), void *ctx) {
    struct info_ctx c = {cb, ctx, -1, CD_OK};
    enum cd_err err = STORE_OPS(app->store)->currents->list(app->store, ws->id, take, &c);
    return err != CD_OK ? err : c.err;
}

struct position {
    int64_t ws;
    int64_t position;
    char *types;
};

static void take_position(void *ctx, const struct current_row *r) {
    struct position *p = ctx;
    p->ws = r->workspace_id;
    p->position = r->position;
    p->types = strdup(r->event_types);
}

enum cd_err currents_details(struct app *app, struct workspace *ws, const char *current_id,
                             void (*cb)(void *ctx, const struct current_info *), void *ctx,
                             struct current_fault *fault) {
    memset(fault, 0, sizeof *fault);
    if (!current_id || !*current_id)
        return refuse(fault, CURRENT_FAULT_NO_ID, 0);
    /* where the Current is, then how old its first undelivered event is, then the answer: the
     * store is not called from inside its own callback */
    struct position p = {0};
    const struct store_currents_ops *co = STORE_OPS(app->store)->currents;
    enum cd_err err = co->get(app->store, ws->id, current_id, take_position, &p);
    int64_t oldest = 0;
    if (err == CD_OK)
        err =
            p.types ? co->oldest_after(app->store, p.ws, p.position, p.types, &oldest) : CD_E_NOMEM;
    free(p.types);
    if (err != CD_OK)
        return err;
    struct info_ctx c = {cb, ctx, oldest ? (time_now_ms() - oldest) / 1000 : -1, CD_OK};
    err = co->get(app->store, ws->id, current_id, take, &c);
    return err != CD_OK ? err : c.err;
}

static void take_id(void *ctx, const struct current_row *r) {
    *(int64_t *)ctx = r->id;
}

enum cd_err currents_act(struct app *app, struct workspace *ws, enum current_verb verb,
                         const char *current_id, int64_t *replayed, struct current_fault *fault) {
    memset(fault, 0, sizeof *fault);
    if (replayed)
        *replayed = 0;
    if (!current_id || !*current_id)
        return refuse(fault, CURRENT_FAULT_NO_ID, 0);
    struct store *s = app->store;
    const struct store_currents_ops *co = STORE_OPS(s)->currents;
    int64_t id = 0, n = 0;
    enum cd_err err = co->get(s, ws->id, current_id, take_id, &id);
    if (err != CD_OK)
        return err;
    switch (verb) {
    case CURRENT_PAUSE:
        err = co->set_state(s, id, "paused", NULL);
        break;
    case CURRENT_RESUME:
        err = co->set_state(s, id, "active", NULL);
        break;
    case CURRENT_DELETE:
        err = co->remove(s, ws->id, current_id, time_now_ms());
        break;
    default:
        err = co->replay(s, id, &n);
    }
    if (err == CD_OK && replayed)
        *replayed = n;
    return err;
}
