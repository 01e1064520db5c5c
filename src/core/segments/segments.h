/*
 * segments.h — named segments of a workspace: definitions in the store, audiences evaluated
 * exactly from memory on every read (so a size or an export always reflects every acknowledged
 * change). Shapes follow Braze's /segments/list and /segments/details (CONTRACT.md §3.8–3.9),
 * details extended with the filter, the exact size and any cohorts the filter names that no
 * longer exist.
 */
#ifndef COHORTD_CORE_SEGMENTS_SEGMENTS_H
#define COHORTD_CORE_SEGMENTS_SEGMENTS_H

#include <jansson.h>
#include <roaring/roaring.h>

#include "core/workspace/workspace.h"

#define SEGMENTS_PAGE 100

enum cd_err segments_create(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                            struct cd_msg *msg);
enum cd_err segments_update(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                            struct cd_msg *msg);
enum cd_err segments_delete(struct app *app, struct workspace *ws, const json_t *body, json_t **out,
                            struct cd_msg *msg);
/* page: NULL or a decimal >= 0; sort: NULL, "asc" or "desc". */
enum cd_err segments_list(struct app *app, struct workspace *ws, const char *page, const char *sort,
                          json_t **out, struct cd_msg *msg);
enum cd_err segments_details(struct app *app, struct workspace *ws, const char *segment_id,
                             json_t **out, struct cd_msg *msg);
/* {"filter"} -> {"size"} without saving. */
enum cd_err segments_preview(struct app *app, struct workspace *ws, const json_t *body,
                             json_t **out, struct cd_msg *msg);
/* What a segment builder can offer: "<Partner> Cohorts" per partner, attributes, events. */
enum cd_err segments_filters(struct app *app, struct workspace *ws, json_t **out);
/* CD_OK when a saved segment has this id, CD_E_NOT_FOUND otherwise (no evaluation). */
enum cd_err segments_exists(struct app *app, struct workspace *ws, const char *segment_id);
/* The audience of a saved segment (new bitmap). CD_E_NOT_FOUND when unknown. */
enum cd_err segments_audience(struct app *app, struct workspace *ws, const char *segment_id,
                              roaring_bitmap_t **out);

#endif
