/* currents_config.c — Currents as configuration (see currents_config.h). */
#include "core/messaging/currents_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static enum cd_err invalid(struct cd_msg *msg, const char *text) {
    return cd_invalid(msg, "%s", text);
}

enum cd_err currents_create(struct store *s, int64_t ws, const json_t *body, json_t **out,
                            struct cd_msg *msg) {
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *type = json_string_value(json_object_get(body, "type"));
    const char *endpoint = json_string_value(json_object_get(body, "endpoint"));
    const json_t *token = json_object_get(body, "bearer_token");
    const json_t *types = json_object_get(body, "event_types");
    const json_t *batch = json_object_get(body, "batch_size");
    if (!name || !*name || strlen(name) > 200)
        return invalid(msg, "name: must be a string of 1 to 200 characters");
    if (!type || (strcmp(type, "heap") != 0 && strcmp(type, "custom_http") != 0))
        return invalid(msg, "type: must be \"heap\" or \"custom_http\"");
    if (!endpoint || strlen(endpoint) > 2000 ||
        (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0))
        return invalid(msg, "endpoint: must be an http:// or https:// URL");
    if (token && !json_is_null(token) &&
        (!json_is_string(token) || !*json_string_value(token) ||
         strlen(json_string_value(token)) > 500 || strpbrk(json_string_value(token), "\r\n ")))
        return invalid(msg, "bearer_token: must be a non-empty string without spaces");
    if (!json_is_array(types) || json_array_size(types) == 0)
        return invalid(msg, "event_types: must be a non-empty array");
    size_t i;
    const json_t *v;
    json_array_foreach(types, i, v) {
        if (!json_is_string(v) || !known_type(json_string_value(v))) {
            return cd_invalid(msg, "event_types[%zu]: unknown event type", i);
        }
    }
    if (batch && !json_is_null(batch) &&
        (!json_is_integer(batch) || json_integer_value(batch) < 1 ||
         json_integer_value(batch) > CURRENTS_MAX_BATCH))
        return invalid(msg, "batch_size: must be an integer from 1 to 10000");
    char id[37];
    char *types_text = json_dumps(types, JSON_COMPACT);
    if (!types_text || crypto_uuid4(id) != 0) {
        free(types_text);
        return CD_E_INTERNAL;
    }
    struct current_row row = {
        .workspace_id = ws,
        .current_id = id,
        .name = name,
        .type = type,
        .endpoint = endpoint,
        .bearer_token = json_string_value(token),
        .event_types = types_text,
        .batch_size = batch && json_is_integer(batch) ? json_integer_value(batch) : 100,
        .created_at = time_now_ms(),
    };
    enum cd_err err = STORE_OPS(s)->currents->create(s, &row);
    free(types_text);
    if (err == CD_OK)
        *out = json_pack("{s:s, s:s}", "current_id", id, "message", "success");
    return err;
}

static json_t *summary(const struct current_row *r) {
    json_t *types = json_loads(r->event_types, 0, NULL);
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:s, s:b}", "current_id", r->current_id,
                     "name", r->name, "type", r->type, "endpoint", r->endpoint, "event_types",
                     types ? types : json_array(), "batch_size", (json_int_t)r->batch_size, "state",
                     r->state, "has_bearer_token", r->bearer_token != NULL);
}

static void list_row(void *ctx, const struct current_row *r) {
    json_array_append_new(ctx, summary(r));
}

enum cd_err currents_list(struct store *s, int64_t ws, json_t **out) {
    json_t *arr = json_array();
    enum cd_err err = STORE_OPS(s)->currents->list(s, ws, list_row, arr);
    if (err != CD_OK) {
        json_decref(arr);
        return err;
    }
    *out = json_pack("{s:s, s:o}", "message", "success", "currents", arr);
    return CD_OK;
}

struct found {
    json_t *obj;
    int64_t id;
    int64_t ws;
    int64_t position;
    char *types;
};

static void take(void *ctx, const struct current_row *r) {
    struct found *f = ctx;
    f->obj = summary(r);
    f->id = r->id;
    f->ws = r->workspace_id;
    f->position = r->position;
    f->types = strdup(r->event_types);
    json_object_set_new(f->obj, "delivered", json_integer(r->n_delivered));
    json_object_set_new(f->obj, "retried", json_integer(r->n_retried));
    json_object_set_new(f->obj, "dead_lettered", json_integer(r->n_dead));
    json_object_set_new(f->obj, "last_error",
                        r->last_error ? json_string(r->last_error) : json_null());
}

static enum cd_err find(struct store *s, int64_t ws, const char *id, struct found *f,
                        struct cd_msg *msg) {
    memset(f, 0, sizeof *f);
    if (!id || !*id)
        return invalid(msg, "current_id: must be a non-empty string");
    return STORE_OPS(s)->currents->get(s, ws, id, take, f);
}

enum cd_err currents_details(struct store *s, int64_t ws, const char *current_id, json_t **out,
                             struct cd_msg *msg) {
    struct found f;
    enum cd_err err = find(s, ws, current_id, &f, msg);
    int64_t oldest = 0;
    if (err == CD_OK)
        err = STORE_OPS(s)->currents->oldest_after(s, f.ws, f.position, f.types, &oldest);
    free(f.types);
    if (err != CD_OK) {
        json_decref(f.obj);
        return err;
    }
    json_object_set_new(f.obj, "oldest_undelivered_age_s",
                        oldest ? json_integer((time_now_ms() - oldest) / 1000) : json_null());
    json_object_set_new(f.obj, "message", json_string("success"));
    *out = f.obj;
    return CD_OK;
}

enum cd_err currents_act(struct store *s, int64_t ws, const char *verb, const json_t *body,
                         json_t **out, struct cd_msg *msg) {
    struct found f;
    const char *id = json_string_value(json_object_get(body, "current_id"));
    enum cd_err err = find(s, ws, id, &f, msg);
    free(f.types);
    json_decref(f.obj);
    if (err != CD_OK)
        return err;
    const struct store_currents_ops *co = STORE_OPS(s)->currents;
    int64_t n = 0;
    if (strcmp(verb, "pause") == 0)
        err = co->set_state(s, f.id, "paused", NULL);
    else if (strcmp(verb, "resume") == 0)
        err = co->set_state(s, f.id, "active", NULL);
    else if (strcmp(verb, "delete") == 0)
        err = co->remove(s, ws, id, time_now_ms());
    else
        err = co->replay(s, f.id, &n);
    if (err != CD_OK)
        return err;
    *out = strcmp(verb, "replay") == 0
               ? json_pack("{s:s, s:I}", "message", "success", "replayed", (json_int_t)n)
               : json_pack("{s:s}", "message", "success");
    return CD_OK;
}
