/*
 * event.h — Currents events (CONTRACT.md §4.4): built in the custom HTTP connector's shape
 * and appended to the store's outbox inside the caller's transaction, so an event exists
 * exactly when the change that caused it is durable.
 */
#ifndef COHORTD_CORE_EVENTS_EVENT_H
#define COHORTD_CORE_EVENTS_EVENT_H

#include <jansson.h>
#include <stdint.h>

#include "core/workspace/workspace.h"

struct event_user {
    const char *braze_id;    /* required */
    const char *external_id; /* NULL: left out */
    const char *device_id;   /* NULL: left out */
    const char *timezone;    /* NULL: left out */
};

/*
 * Appends an event of `event_type` that happened at `time_ms` to the outbox. `properties`
 * (stolen; may be NULL) gets "app_group_id" = the workspace's public id. Must be called
 * between workspace_write_begin and workspace_write_end.
 */
enum cd_err event_emit(struct app *app, struct workspace *ws, const char *event_type,
                       int64_t time_ms, const struct event_user *user, json_t *properties);

#endif
