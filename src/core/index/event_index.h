/*
 * event_index.h — in-memory per-user custom event summaries of one workspace, for the segment
 * filter {"event": NAME, "op": "performed", "min_count", "within_days"}. Per event name: a bitmap
 * of the users who performed it and an open-addressing map uid -> (count, last time, the times
 * of the EVENT_RECENT_MAX most recent occurrences by event time, newest first). "At least N
 * times in the last D days" is then exact for N <= EVENT_RECENT_MAX: it holds iff the N-th most
 * recent occurrence is within D days. Occurrences that arrive out of order (an old `time`) take
 * their place by time; ones older than the kept K are only counted.
 *
 * Memory per (event, user): one 24-byte slot (the map keeps its load under 1/2, so 24 to 48
 * bytes of table), plus, once the user has two or more occurrences, a block of 8-byte times
 * of 2, 4, 8, 16, 32 or 50 in the column's pool (at most 400 bytes, no allocator header; freed
 * blocks are reused). A single occurrence needs no block: its time is `last_at`.
 *
 * The users are also kept by the day (UTC) of their last occurrence, a bitmap a day: "within
 * D days" is then the union of the days after the window's first, plus the users of that first
 * day whose last time is in the window, and "N times within D days" tests only the users whose
 * last occurrence is in the window. Days are numbered from 1970-01-01 and held to
 * [0, EVENT_DAY_LIMIT): a time outside lands in the end day, which is then tested user by user.
 *
 * `performed` with no bounds is a bitmap copy; with bounds it visits the users of the window's
 * days (or, when they are most of the event's users, the whole slot table). Not thread-safe:
 * the workspace lock guards it.
 */
#ifndef COHORTD_CORE_INDEX_EVENT_INDEX_H
#define COHORTD_CORE_INDEX_EVENT_INDEX_H

#include <roaring/roaring.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/index/strmap.h"
#include "core/index/undo.h"

/* The most recent occurrence times kept per (event, user); store.h's STORE_EVENT_RECENT and
 * limits.h's LIMIT_EVENT_RECENT_COUNT are the same number. */
#define EVENT_RECENT_MAX 50

struct event_stat {
    uint32_t uid; /* 0 = empty slot */
    uint32_t count;
    int64_t last_at;
    uint32_t recent;    /* the times: offset of a block in the column's pool, n_recent >= 2 */
    uint8_t n_recent;   /* min(count, EVENT_RECENT_MAX) unless loaded from older data */
    uint8_t recent_cap; /* 0 or the block's size: 2, 4, 8, 16, 32 or EVENT_RECENT_MAX */
};

#define EVENT_POOL_CLASSES 6
/* Days kept apart by the day index (1970 to about 2328). */
#define EVENT_DAY_LIMIT (1u << 17)

struct event_column {
    roaring_bitmap_t *users;
    struct event_stat *slots;
    size_t cap;
    size_t n;
    /* blocks of recent times (newest first) for the column's slots, by offset; a freed block
     * of class k joins free_head[k] (offset + 1, 0 = none), its first time the next one */
    int64_t *pool;
    size_t pool_len, pool_cap;
    uint32_t free_head[EVENT_POOL_CLASSES];
    /* the users whose last occurrence is on day day_lo + i: days[i] (NULL: none), i < n_days */
    roaring_bitmap_t **days;
    uint32_t day_lo, n_days;
    bool days_stale; /* a day could not be kept (out of memory): `performed` scans the slots */
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

/* Bytes the index holds: user bitmaps, slot tables and time pools (for /metrics). */
size_t event_index_bytes(const struct event_index *ix);

/* Adds count occurrences of `name` by uid, all at `at` (ms). Returns 0 or -1. */
int event_index_bump(struct event_index *ix, const char *name, uint32_t uid, int64_t count,
                     int64_t at);
/* Adds a stored summary (start-up): count occurrences, the last at last_at, and the times of
 * the most recent ones (any order; more than EVENT_RECENT_MAX keeps the newest). With no
 * times (a summary stored before they were kept) last_at stands for the one known time.
 * Returns 0 or -1. */
int event_index_load(struct event_index *ix, const char *name, uint32_t uid, int64_t count,
                     int64_t last_at, const int64_t *recent, size_t n_recent);
/* Forgets every event of uid. */
void event_index_drop_user(struct event_index *ix, uint32_t uid);
/* Forgets every event of the users of `gone` (a snapshot load about to load them again):
 * event_index_drop_user for each, without a journal. Linear in events x users dropped. */
void event_index_drop_users(struct event_index *ix, const roaring_bitmap_t *gone);
/* Moves every event of `from` onto `to` (identify-merge). */
int event_index_merge(struct event_index *ix, uint32_t from, uint32_t to);
/* Builds the day index of every column from its slots (after they were loaded raw, as the
 * start-up snapshot does). Returns 0 or -1 (out of memory). */
int event_index_index_days(struct event_index *ix);

/* Users with at least min_count occurrences, at least min_count of them at or after since_ms
 * (0: any time). Exact for min_count <= EVENT_RECENT_MAX; above it (a segment stored before
 * the limit) "count >= min_count and the EVENT_RECENT_MAX-th most recent at or after since".
 * New bitmap, caller frees. */
roaring_bitmap_t *event_index_performed(const struct event_index *ix, const char *name,
                                        int64_t min_count, int64_t since_ms);

#endif
