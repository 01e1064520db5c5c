/*
 * routes.c — the table of every route cohortd serves, with the REST API key permission each
 * requires (Braze's name where Braze has the endpoint, docs/openapi.yaml's `x-permission`,
 * README "REST API keys"). NULL: the route does not take a REST API key (its own credentials,
 * or none); a REST-key route without a permission of its own is open only to keys with every
 * permission ("*").
 */
#include "api/api.h"

#include <string.h>

const struct http_route api_routes[] = {
    {"GET", "/healthz", api_healthz, NULL},
    {"GET", "/metrics", api_metrics, NULL},
    {"POST", "/users/track", api_users_track, "users.track"},
    {"POST", "/users/alias/new", api_users_alias_new, "users.alias.new"},
    {"POST", "/users/identify", api_users_identify, "users.identify"},
    {"POST", "/users/delete", api_users_delete, "users.delete"},
    {"POST", "/users/merge", api_users_merge, "users.merge"},
    {"POST", "/users/export/ids", api_users_export_ids, "users.export.ids"},
    {"POST", "/devices/track", api_devices_track, "devices.track"},
    {"POST", "/partners/{partner}/cohorts", api_partner_cohort_name, NULL},
    {"POST", "/partners/{partner}/cohorts/users", api_partner_cohort_users, NULL},
    {"GET", "/partners/list", api_partners_list, "partners.list"},
    {"POST", "/partners/update", api_partners_update, "partners.update"},
    {"GET", "/cohorts/list", api_cohorts_list, "cohorts.list"},
    {"GET", "/cohorts/details", api_cohorts_details, "cohorts.details"},
    {"POST", "/heap/webhooks/{integration_id}", api_heap_webhook, NULL},
    {"POST", "/currents/create", api_currents_create, "currents.create"},
    {"GET", "/currents/list", api_currents_list, "currents.list"},
    {"GET", "/currents/details", api_currents_details, "currents.details"},
    {"POST", "/currents/pause", api_currents_pause, "currents.pause"},
    {"POST", "/currents/resume", api_currents_resume, "currents.resume"},
    {"POST", "/currents/delete", api_currents_delete, "currents.delete"},
    {"POST", "/currents/replay", api_currents_replay, "currents.replay"},
    {"POST", "/segments/create", api_segments_create, "segments.create"},
    {"POST", "/segments/update", api_segments_update, "segments.update"},
    {"POST", "/segments/delete", api_segments_delete, "segments.delete"},
    {"GET", "/segments/list", api_segments_list, "segments.list"},
    {"GET", "/segments/details", api_segments_details, "segments.details"},
    {"POST", "/segments/preview", api_segments_preview, "segments.preview"},
    {"GET", "/segments/filters", api_segments_filters, "segments.filters"},
    {"GET", "/segments/data_series", api_segments_data_series, "segments.data_series"},
    {"GET", "/cohorts/data_series", api_cohorts_data_series, "cohorts.data_series"},
    {"GET", "/campaigns/data_series", api_campaigns_data_series, "campaigns.data_series"},
    {"GET", "/sends/data_series", api_sends_data_series, "sends.data_series"},
    {"GET", "/canvas/data_series", api_canvas_data_series, "canvas.data_series"},
    {"GET", "/canvas/data_summary", api_canvas_data_summary, "canvas.data_summary"},
    {"POST", "/users/export/segment", api_users_export_segment_job, "users.export.segment"},
    {"POST", "/users/export/segment/stream", api_users_export_segment, "users.export.segment"},
    {"GET", "/users/export/segment/files/{file}", api_users_export_segment_file, NULL},
    {"POST", "/campaigns/create", api_campaigns_create, "campaigns.create"},
    {"GET", "/campaigns/list", api_campaigns_list, "campaigns.list"},
    {"GET", "/campaigns/details", api_campaigns_details, "campaigns.details"},
    {"GET", "/campaigns/failures", api_campaigns_failures, "campaigns.failures"},
    {"POST", "/campaigns/archive", api_campaigns_archive, "campaigns.archive"},
    {"POST", "/campaigns/preview", api_campaigns_preview, "campaigns.preview"},
    {"POST", "/campaigns/test_send", api_campaigns_test_send, "campaigns.test_send"},
    {"POST", "/campaigns/trigger/send", api_campaigns_trigger, "campaigns.trigger.send"},
    {"POST", "/campaigns/trigger/schedule/create", api_campaigns_schedule_create,
     "campaigns.trigger.schedule.create"},
    {"POST", "/campaigns/trigger/schedule/update", api_campaigns_schedule_update,
     "campaigns.trigger.schedule.update"},
    {"POST", "/campaigns/trigger/schedule/delete", api_campaigns_schedule_delete,
     "campaigns.trigger.schedule.delete"},
    {"POST", "/canvas/create", api_canvas_create, "canvas.create"},
    {"GET", "/canvas/list", api_canvas_list, "canvas.list"},
    {"GET", "/canvas/details", api_canvas_details, "canvas.details"},
    {"GET", "/canvas/failures", api_canvas_failures, "canvas.failures"},
    {"POST", "/canvas/archive", api_canvas_archive, "canvas.archive"},
    {"POST", "/canvas/trigger/send", api_canvas_trigger, "canvas.trigger.send"},
    {"POST", "/canvas/trigger/schedule/create", api_canvas_schedule_create,
     "canvas.trigger.schedule.create"},
    {"POST", "/canvas/trigger/schedule/update", api_canvas_schedule_update,
     "canvas.trigger.schedule.update"},
    {"POST", "/canvas/trigger/schedule/delete", api_canvas_schedule_delete,
     "canvas.trigger.schedule.delete"},
    {"GET", "/messages/scheduled_broadcasts", api_scheduled_broadcasts,
     "messages.schedule_broadcasts"},
    {"POST", "/integrations/heap/create", api_heap_integration_create, "integrations.heap.create"},
    {"GET", "/integrations/heap/list", api_heap_integration_list, "integrations.heap.list"},
    {"POST", "/integrations/heap/rotate_secret", api_heap_integration_rotate,
     "integrations.heap.rotate_secret"},
    {"POST", "/integrations/heap/delete", api_heap_integration_delete, "integrations.heap.delete"},
    {"POST", "/api_keys/create", api_api_keys_create, "api_keys"},
    {"GET", "/api_keys/list", api_api_keys_list, "api_keys"},
    {"POST", "/api_keys/revoke", api_api_keys_revoke, "api_keys"},
    {"POST", "/dashboard/api/login", api_dashboard_login, NULL},
    {"POST", "/dashboard/api/logout", api_dashboard_logout, NULL},
    {"GET", "/dashboard/api/session", api_dashboard_session, NULL},
    {"POST", "/dashboard/api/workspace", api_dashboard_workspace, NULL},
    {"GET", "/dashboard/api/users", api_dashboard_users, NULL},
    {"POST", "/dashboard/api/users/create", api_dashboard_users_create, NULL},
    {"POST", "/dashboard/api/users/delete", api_dashboard_users_delete, NULL},
    {"GET", "/workspaces/list", api_workspaces_list, NULL},
    {"POST", "/workspaces/create", api_workspaces_create, NULL},
    {"GET", "/import_keys/get", api_import_keys_get, "import_keys.get"},
    {"POST", "/import_keys/rotate", api_import_keys_rotate, "import_keys.rotate"},
    {"POST", "/import_keys/invalidate", api_import_keys_invalidate, "import_keys.invalidate"},
    /* the dashboard's files come last: the API routes under /dashboard/ match first */
    {"GET", "/", api_dashboard_root, NULL},
    {"GET", "/dashboard", api_dashboard_root, NULL},
    {"GET", "/dashboard/{path}", api_dashboard_file, NULL},
};

const size_t api_n_routes = sizeof api_routes / sizeof api_routes[0];

bool api_permission_known(const char *grant) {
    if (strcmp(grant, "*") == 0)
        return true;
    size_t len = strlen(grant);
    bool group = len >= 2 && strcmp(grant + len - 2, ".*") == 0;
    for (size_t i = 0; i < api_n_routes; i++) {
        const char *p = api_routes[i].permission;
        if (!p)
            continue;
        if (group ? strncmp(p, grant, len - 1) == 0 : strcmp(p, grant) == 0)
            return true;
    }
    return false;
}
