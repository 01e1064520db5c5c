/* event.c — building Currents events and putting them in the outbox (see event.h). */
#include "core/events/event.h"
#include "core/workspace/workspace_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crypto.h"
#include "util/json_text.h"
#include "util/timeutil.h"

/* Event ids: version-4 UUIDs cut from one random read per EVENT_IDS_PER_READ ids, per thread
 * (the recorder writes hundreds per batch; one read each was a visible share of its time). */
#define EVENT_IDS_PER_READ 64

static _Thread_local uint8_t id_pool[16 * EVENT_IDS_PER_READ];
static _Thread_local size_t id_pool_at = sizeof id_pool;

int event_new_id(char out[37]) {
    if (id_pool_at == sizeof id_pool) {
        if (crypto_random(id_pool, sizeof id_pool) != 0)
            return -1;
        id_pool_at = 0;
    }
    uint8_t *b = id_pool + id_pool_at;
    id_pool_at += 16;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    static const char digits[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = digits[b[i] >> 4];
        out[o++] = digits[b[i] & 15];
    }
    out[o] = '\0';
    memset(b, 0, 16); /* an id is handed out once */
    return 0;
}

char *event_body_json(const char *event_type, const char *id, int64_t time_ms,
                      const struct event_user *user, const char *app_group_id, json_t *properties) {
    json_t *props = json_object();
    json_object_set_new(props, "app_group_id", json_string(app_group_id));
    if (properties) {
        json_object_update(props, properties);
        json_decref(properties);
    }
    json_t *u = json_pack("{s:s}", "user_id", user->braze_id);
    if (user->external_id)
        json_object_set_new(u, "external_user_id", json_string(user->external_id));
    if (user->device_id)
        json_object_set_new(u, "device_id", json_string(user->device_id));
    if (user->timezone)
        json_object_set_new(u, "timezone", json_string(user->timezone));
    json_t *ev = json_pack("{s:s, s:s, s:I, s:o, s:o}", "event_type", event_type, "id", id, "time",
                           (json_int_t)(time_ms / 1000), "user", u, "properties", props);
    char *body = ev ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(ev);
    return body;
}

char *event_members_text(const json_t *properties) {
    if (!json_is_object(properties) || json_object_get(properties, "app_group_id"))
        return NULL;
    char *text = json_dumps(properties, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        return NULL;
    size_t len = strlen(text); /* "{…}": drop the braces */
    memmove(text, text + 1, len - 2);
    text[len - 2] = '\0';
    return text;
}

/* A text field of the hand-written form: `"key":"value"` (a comma first unless first). */
static char *put_field(char *o, const char *key, const char *value, bool first) {
    if (!first)
        *o++ = ',';
    size_t klen = strlen(key);
    *o++ = '"';
    memcpy(o, key, klen);
    o += klen;
    *o++ = '"';
    *o++ = ':';
    return o + json_text_string(o, value, strlen(value));
}

static bool valid(const char *s) {
    return !s || json_text_utf8_valid(s, strlen(s));
}

char *event_body_text(const char *event_type, const char *id, int64_t time_ms,
                      const struct event_user *user, const char *app_group_id,
                      const char *members) {
    const char *texts[] = {
        event_type,    id, app_group_id, user->braze_id, user->external_id, user->device_id,
        user->timezone};
    size_t room = 160 + strlen(members);
    bool ok = user->braze_id != NULL;
    for (size_t i = 0; ok && i < sizeof texts / sizeof *texts; i++) {
        ok = valid(texts[i]);
        room += texts[i] ? JSON_TEXT_STRING_MAX(strlen(texts[i])) : 0;
    }
    if (!ok) { /* what jansson makes of a text it refuses, exactly: build it that way */
        size_t mlen = strlen(members);
        char *obj = malloc(mlen + 3);
        if (!obj)
            return NULL;
        obj[0] = '{';
        memcpy(obj + 1, members, mlen);
        obj[mlen + 1] = '}';
        obj[mlen + 2] = '\0';
        json_t *props = json_loads(obj, 0, NULL);
        free(obj);
        return props ? event_body_json(event_type, id, time_ms, user, app_group_id, props) : NULL;
    }
    char *body = malloc(room);
    if (!body)
        return NULL;
    char *o = put_field(body + 1, "event_type", event_type, true);
    body[0] = '{';
    o = put_field(o, "id", id, false);
    o += snprintf(o, 40, ",\"time\":%lld,\"user\":{", (long long)(time_ms / 1000));
    o = put_field(o, "user_id", user->braze_id, true);
    if (user->external_id)
        o = put_field(o, "external_user_id", user->external_id, false);
    if (user->device_id)
        o = put_field(o, "device_id", user->device_id, false);
    if (user->timezone)
        o = put_field(o, "timezone", user->timezone, false);
    memcpy(o, "},\"properties\":{", 16);
    o = put_field(o + 16, "app_group_id", app_group_id, true);
    size_t mlen = strlen(members);
    if (mlen) {
        *o++ = ',';
        memcpy(o, members, mlen);
        o += mlen;
    }
    *o++ = '}';
    *o++ = '}';
    *o = '\0';
    return body;
}

static enum cd_err append(struct app *app, struct workspace *ws, const char *event_type,
                          char *body) {
    if (!body)
        return CD_E_NOMEM;
    enum cd_err err =
        STORE_OPS(app->store)
            ->outbox->append(workspace_txn(ws), ws->id, event_type, time_now_ms(), body, NULL);
    free(body);
    return err;
}

enum cd_err event_emit(struct app *app, struct workspace *ws, const char *event_type,
                       int64_t time_ms, const struct event_user *user, json_t *properties) {
    char id[37];
    if (event_new_id(id) != 0) {
        json_decref(properties);
        return CD_E_INTERNAL;
    }
    return append(app, ws, event_type,
                  event_body_json(event_type, id, time_ms, user, ws->public_id, properties));
}

enum cd_err event_emit_members(struct app *app, struct workspace *ws, const char *event_type,
                               int64_t time_ms, const struct event_user *user,
                               const char *members) {
    char id[37];
    if (event_new_id(id) != 0)
        return CD_E_INTERNAL;
    return append(app, ws, event_type,
                  event_body_text(event_type, id, time_ms, user, ws->public_id, members));
}
