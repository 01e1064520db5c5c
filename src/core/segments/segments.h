/*
 * segments.h — named segments of a workspace: definitions in the store, audiences evaluated
 * exactly from memory on every read (so a size or an export always reflects every acknowledged
 * change). The verbs take and give C structs; the filter is its tree (segment_filter.h), kept
 * in the store as its JSON (segment_filter_to_json). Reply shapes and texts are the API's
 * (api/segments.c, CONTRACT.md §3.8–3.9).
 */
#ifndef COHORTD_CORE_SEGMENTS_SEGMENTS_H
#define COHORTD_CORE_SEGMENTS_SEGMENTS_H

#include <roaring/roaring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/segments/segment_filter.h"
#include "core/workspace/workspace.h"

#define SEGMENTS_PAGE 100

/* What a create or an update gives. On update a NULL member stays as it is. */
struct segment_def {
    const char *name;
    const char *description;
    const struct seg_node *filter;
};

/* One saved segment as details shows it. */
struct segment_info {
    char *segment_id;
    char *name;
    char *description; /* the free text; NULL when none */
    char *rendering;   /* the filter in words ("Heap Cohorts includes Free Customers") */
    struct seg_node *filter;
    int64_t created_at;     /* ms */
    int64_t updated_at;     /* ms */
    uint64_t size;          /* users in the audience now */
    char **missing_cohorts; /* "partner/cohort_id" the filter names that no longer exist */
    size_t n_missing;
};
void segment_info_free(struct segment_info *info);

/* One line of a list. */
struct segment_summary {
    const char *segment_id;
    const char *name;
};

/* One cohort a segment builder can offer. */
struct segment_cohort_choice {
    const char *partner;
    const char *cohort_id;
    const char *name; /* the cohort's name, else its id */
};

/* What a segment builder can offer: cohorts (grouped by partner in first-seen order is the
 * API's business), attribute names, event names. Strings are copies. */
struct segment_choices {
    struct segment_cohort_choice *cohorts;
    size_t n_cohorts;
    char **attributes;
    size_t n_attributes;
    char **events;
    size_t n_events;
};
void segment_choices_free(struct segment_choices *c);

/* Creates a segment (name and filter required); its new id in id_out. A filter naming a cohort
 * the workspace does not hold is CD_E_INVALID with msg "<path>.cohort: no such cohort". */
enum cd_err segments_create(struct app *app, struct workspace *ws, const struct segment_def *def,
                            char id_out[37], struct cd_msg *msg);
/* CD_E_NOT_FOUND when there is no such segment. */
enum cd_err segments_update(struct app *app, struct workspace *ws, const char *segment_id,
                            const struct segment_def *def, struct cd_msg *msg);
enum cd_err segments_delete(struct app *app, struct workspace *ws, const char *segment_id);
/* SEGMENTS_PAGE segments from page * SEGMENTS_PAGE, oldest first when asc. */
enum cd_err segments_list(struct app *app, struct workspace *ws, int64_t page, bool asc,
                          void (*cb)(void *ctx, const struct segment_summary *s), void *ctx);
/* CD_E_NOT_FOUND when unknown; on CD_OK the caller frees *out with segment_info_free. */
enum cd_err segments_details(struct app *app, struct workspace *ws, const char *segment_id,
                             struct segment_info *out);
/* The size of a filter's audience now, without saving (cohorts checked as on create). */
enum cd_err segments_preview(struct app *app, struct workspace *ws, const struct seg_node *filter,
                             uint64_t *size, struct cd_msg *msg);
enum cd_err segments_filters(struct app *app, struct workspace *ws, struct segment_choices *out);
/* CD_OK when a saved segment has this id, CD_E_NOT_FOUND otherwise (no evaluation). */
enum cd_err segments_exists(struct app *app, struct workspace *ws, const char *segment_id);
/* The audience of a saved segment (new bitmap). CD_E_NOT_FOUND when unknown. */
enum cd_err segments_audience(struct app *app, struct workspace *ws, const char *segment_id,
                              roaring_bitmap_t **out);

/* ---- export: the users of a saved segment's audience, in uid order, a chunk at a time
 * (segment_export.c) ---- */

/* One exported user; strings valid during the callback only. */
struct segment_export_user {
    const char *braze_id;    /* NUL-terminated */
    const char *external_id; /* external_id_len bytes, not NUL-terminated; NULL when none */
    size_t external_id_len;
    int64_t created_at; /* ms; only when the export was opened with profile */
    const char *attrs;  /* custom attributes, a JSON object text; only with profile */
};

struct segment_export;

/* Snapshots the audience of a saved segment now. `profile`: the users' created_at and custom
 * attributes are wanted too (read from the store); without it the users come from memory.
 * CD_E_NOT_FOUND when unknown. */
enum cd_err segments_export_open(struct app *app, struct workspace *ws, const char *segment_id,
                                 bool profile, struct segment_export **out);
/* Calls cb for the members among the next chunk of users (at most `rows` users looked at);
 * *done once the audience is exhausted. Any thread, not holding the workspace lock (it is taken
 * here when needed). */
enum cd_err segments_export_next(struct segment_export *ex, int64_t rows,
                                 void (*cb)(void *ctx, const struct segment_export_user *u),
                                 void *ctx, bool *done);
void segments_export_close(struct segment_export *ex);

#endif
