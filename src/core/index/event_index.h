/*
 * event_index.h — in-memory per-user custom event summaries (count, last time) of one
 * workspace, for the segment filter {"event": NAME, "op": "performed", "min_count",
 * "within_days"}. Per event name: a bitmap of the users who performed it and an open-addressing
 * map uid -> (count, last). `performed` with no bounds is a bitmap copy; with bounds it visits
 * the users who performed the event. Not thread-safe: the workspace lock guards it.
 */
#ifndef COHORTD_CORE_INDEX_EVENT_INDEX_H
#define COHORTD_CORE_INDEX_EVENT_INDEX_H

#include <roaring/roaring.h>
#include <stdint.h>

#include "core/index/strmap.h"
#include "core/index/undo.h"

struct event_stat {
    uint32_t uid; /* 0 = empty slot */
    uint32_t count;
    int64_t last_at;
};

struct event_column {
    roaring_bitmap_t *users;
    struct event_stat *slots;
    size_t cap;
    size_t n;
};

struct event_index {
    struct strmap names;
    struct event_column *cols;
    char **name_list;
    size_t n;
    size_t cap;
    struct undo *undo; /* the open write's journal, or NULL (see undo.h) */
};

void event_index_init(struct event_index *ix);
void event_index_free(struct event_index *ix);

/* Adds count occurrences of `name` by uid, the last at `at` (ms). Returns 0 or -1. */
int event_index_bump(struct event_index *ix, const char *name, uint32_t uid, int64_t count,
                     int64_t at);
/* Forgets every event of uid. */
void event_index_drop_user(struct event_index *ix, uint32_t uid);
/* Moves every event of `from` onto `to` (identify-merge). */
int event_index_merge(struct event_index *ix, uint32_t from, uint32_t to);

/* Users with at least min_count occurrences, the last at or after since_ms (0: any time).
 * New bitmap, caller frees. */
roaring_bitmap_t *event_index_performed(const struct event_index *ix, const char *name,
                                        int64_t min_count, int64_t since_ms);

#endif
