/*
 * limits.h — the one table of maxima for everything that arrives from outside. Every
 * identifier, name, value and array length a request carries is checked against this table in
 * api/, before any lock is taken, and a request over a limit is answered 400 naming the field
 * and the limit (api_limit_exceeded); nothing is ever truncated. Where Braze documents a limit
 * it is Braze's; the others are ours, chosen so that no real client meets them. Lengths are
 * bytes of UTF-8. docs/limits.md lists the same table for users (lint checks it lists them all).
 */
#ifndef COHORTD_API_LIMITS_H
#define COHORTD_API_LIMITS_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"

/* Identifiers of users. */
#define LIMIT_EXTERNAL_ID 2048 /* external_id */
#define LIMIT_ALIAS_LABEL 2048 /* user_alias.alias_label */
#define LIMIT_ALIAS_NAME 2048  /* user_alias.alias_name */
#define LIMIT_DEVICE_ID 2048   /* device_id */
#define LIMIT_BRAZE_ID 24      /* braze_id: 24 hex digits, exactly */

/* Names and values in /users/track. */
#define LIMIT_ATTRIBUTE_NAME 255     /* custom attribute names (Braze: 255 characters) */
#define LIMIT_EVENT_NAME 255         /* custom event names (Braze: 255 characters) */
#define LIMIT_PRODUCT_ID 255         /* purchase product_id (Braze: 255 characters) */
#define LIMIT_STRING_VALUE 65536     /* one string value: attribute, property, template */
#define LIMIT_ARRAY_ATTRIBUTE 100    /* elements of an array attribute */
#define LIMIT_PROPERTIES_BYTES 51200 /* event / purchase properties, serialised (Braze: 50 KB) */
#define LIMIT_TRACK_OBJECTS 75       /* attributes, events, purchases: each (Braze: 75) */
#define LIMIT_USERS_PER_REQUEST 50   /* alias/new, identify, delete, export/ids (Braze: 50) */

/* Lists. */
#define LIMIT_LIST_PAGE 100 /* items per page of /campaigns/list, /canvas/list (Braze: 100) */

/* Partner cohort import and the Heap webhook. */
#define LIMIT_COHORT_ID 255         /* cohort_id (partner) */
#define LIMIT_COHORT_NAME 1024      /* cohort name */
#define LIMIT_COHORT_IDS 1000       /* user_ids + device_ids + aliases per request (Braze: 1000) */
#define LIMIT_HEAP_SYNC_TASK_ID 200 /* sync_info.sync_task_id */
#define LIMIT_HEAP_PAGE_IDS 100000  /* ids in the add + remove lists of one Heap page */

/* Our own objects. */
#define LIMIT_OBJECT_NAME                                                                          \
    200                             /* names of segments, campaigns, Canvases, Currents,           \
                                       Heap integrations */
#define LIMIT_OBJECT_ID 64          /* public ids of segments, campaigns, Canvases, Currents */
#define LIMIT_URL 2000              /* webhook and Current endpoint URLs */
#define LIMIT_TOKEN 500             /* a Current's bearer token */
#define LIMIT_TRIGGER_RECIPIENTS 50 /* recipients of one trigger (Braze: 50) */
#define LIMIT_CANVAS_STEPS 20  /* steps of one Canvas (the rule core checks: CAMPAIGN_MAX_STEPS) */
#define LIMIT_FILTER_DEPTH 10  /* nesting of and / or / not in a segment filter */
#define LIMIT_FILTER_NODES 200 /* leaves and groups of one segment filter */
#define LIMIT_EVENT_RECENT_COUNT 50 /* min_count of an event filter that has within_days */

/* The texts of a refusal: "<field> is longer than <max> bytes", "<field> has more than <max>
 * items" (arguments: the field path, then max as size_t). */
#define API_LIMIT_LEN_TEXT "%s is longer than %zu bytes"
#define API_LIMIT_COUNT_TEXT "%s has more than %zu items"

/*
 * True when s (NUL-terminated) is at most max bytes. Otherwise replies 400
 * {"message": "<field> is longer than <max> bytes"} and returns false. field is the path of the
 * value in the request, e.g. "attributes[3].external_id".
 */
bool api_limit_len(struct http_response *res, const char *field, const char *s, size_t max);

/* The same for a count of items: 400 {"message": "<field> has more than <max> items"}. */
bool api_limit_count(struct http_response *res, const char *field, size_t n, size_t max);

#endif
