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
 * inside a write of the workspace (workspace_write_begin or workspace_store_write_begin, and
 * its end): it changes only the store.
 */
enum cd_err event_emit(struct app *app, struct workspace *ws, const char *event_type,
                       int64_t time_ms, const struct event_user *user, json_t *properties);

/*
 * The same event with its properties given as text: `members` is the JSON members of the
 * properties object without its braces (`"k":v,…`, possibly empty, as event_members_text
 * writes them; no "app_group_id" among them), put after "app_group_id". The event's JSON is
 * written straight into one buffer, byte for byte what event_emit writes for the object
 * those members stand for. For many events with the same properties (a campaign's outcomes):
 * the members are dumped once, not built and dumped per event.
 */
enum cd_err event_emit_members(struct app *app, struct workspace *ws, const char *event_type,
                               int64_t time_ms, const struct event_user *user, const char *members);

/* The members text of a properties object (its compact dump without the braces), owned; NULL
 * when out of memory, or when it is not an object or holds "app_group_id". */
char *event_members_text(const json_t *properties);

/* An event's JSON text, owned (NULL when out of memory or when jansson refuses a text):
 * event_body_json builds it with jansson (stealing `properties`, which may be NULL);
 * event_body_text writes it directly from a members text, equal to event_body_json's for the
 * object of those members. Both exposed for the test that compares them. */
char *event_body_json(const char *event_type, const char *id, int64_t time_ms,
                      const struct event_user *user, const char *app_group_id, json_t *properties);
char *event_body_text(const char *event_type, const char *id, int64_t time_ms,
                      const struct event_user *user, const char *app_group_id, const char *members);

/* A new event id: a version-4 UUID (8-4-4-4-12 lower-case hex) into out; 0, or -1 when no
 * random bytes could be had. The random bytes are read for 64 ids at a time, per thread. */
int event_new_id(char out[37]);

#endif
