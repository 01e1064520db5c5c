/*
 * connected_audience.h — Braze's connected audience object (objects_filters/connected_audience.md,
 * CONTRACT.md §3.10) read into core's segment filter tree, so a trigger's `audience` is
 * evaluated by the same code as a saved segment.
 */
#ifndef COHORTD_API_CONNECTED_AUDIENCE_H
#define COHORTD_API_CONNECTED_AUDIENCE_H

#include <jansson.h>
#include <stddef.h>

#include "core/segments/segment_filter.h"

/*
 * The filter tree of `audience` (a new tree; segment_filter_free), or NULL with a message in
 * err that names the part by its path from "audience" ("audience.AND[1].custom_attribute.
 * comparison: …"). Reads {"AND": [..]} / {"OR": [..]} groups and `custom_attribute` filters;
 * any other object is one of cohortd's own segment filters (cohort, event, identified, …: see
 * segment_filter.h), so a trigger can narrow by cohort or event too.
 */
struct seg_node *api_connected_audience_parse(const json_t *audience, char *err, size_t err_len);

#endif
