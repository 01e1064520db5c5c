/* routes.c — the table of every route cohortd serves. */
#include "api/api.h"

const struct http_route api_routes[] = {
    {"GET", "/healthz", api_healthz},
    {"POST", "/users/track", api_users_track},
    {"POST", "/users/alias/new", api_users_alias_new},
    {"POST", "/users/identify", api_users_identify},
    {"POST", "/users/delete", api_users_delete},
    {"POST", "/users/export/ids", api_users_export_ids},
    {"POST", "/devices/track", api_devices_track},
    {"POST", "/partners/{partner}/cohorts", api_partner_cohort_name},
    {"POST", "/partners/{partner}/cohorts/users", api_partner_cohort_users},
    {"GET", "/cohorts/list", api_cohorts_list},
    {"GET", "/cohorts/details", api_cohorts_details},
    {"POST", "/heap/webhooks/{integration_id}", api_heap_webhook},
    {"POST", "/currents/create", api_currents_create},
    {"GET", "/currents/list", api_currents_list},
    {"GET", "/currents/details", api_currents_details},
    {"POST", "/currents/pause", api_currents_pause},
    {"POST", "/currents/resume", api_currents_resume},
    {"POST", "/currents/delete", api_currents_delete},
    {"POST", "/currents/replay", api_currents_replay},
    {"POST", "/segments/create", api_segments_create},
    {"POST", "/segments/update", api_segments_update},
    {"POST", "/segments/delete", api_segments_delete},
    {"GET", "/segments/list", api_segments_list},
    {"GET", "/segments/details", api_segments_details},
    {"POST", "/segments/preview", api_segments_preview},
    {"GET", "/segments/filters", api_segments_filters},
    {"POST", "/users/export/segment", api_users_export_segment},
    {"POST", "/integrations/heap/create", api_heap_integration_create},
    {"GET", "/integrations/heap/list", api_heap_integration_list},
    {"POST", "/integrations/heap/rotate_secret", api_heap_integration_rotate},
    {"POST", "/integrations/heap/delete", api_heap_integration_delete},
};

const size_t api_n_routes = sizeof api_routes / sizeof api_routes[0];
