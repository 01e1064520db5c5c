/* event.c — building Currents events and putting them in the outbox (see event.h). */
#include "core/events/event.h"
#include "core/workspace/workspace_int.h"

#include <stdlib.h>

#include "util/crypto.h"
#include "util/timeutil.h"

enum cd_err event_emit(struct app *app, struct workspace *ws, const char *event_type,
                       int64_t time_ms, const struct event_user *user, json_t *properties) {
    char id[37];
    if (crypto_uuid4(id) != 0) {
        json_decref(properties);
        return CD_E_INTERNAL;
    }
    json_t *props = json_object();
    json_object_set_new(props, "app_group_id", json_string(ws->public_id));
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
    if (!body)
        return CD_E_NOMEM;
    enum cd_err err =
        STORE_OPS(app->store)
            ->outbox->append(workspace_txn(ws), ws->id, event_type, time_now_ms(), body, NULL);
    free(body);
    return err;
}
