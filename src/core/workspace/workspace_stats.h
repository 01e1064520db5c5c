/*
 * workspace_stats.h — sizes of each loaded workspace's in-memory state, read at scrape time
 * for /metrics: live users, cohorts, cohort members and the bytes their bitmaps hold, and the
 * bytes of each in-memory index (the memory a user costs, part by part).
 */
#ifndef COHORTD_CORE_WORKSPACE_WORKSPACE_STATS_H
#define COHORTD_CORE_WORKSPACE_WORKSPACE_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/index/index_bytes.h"

struct app;

struct workspace_stats {
    const char *public_id; /* the workspace's API id (borrowed for the callback) */
    bool loaded;           /* false: the figures below are 0 (the indexes are not built) */
    uint64_t users;        /* live users */
    uint64_t cohorts;
    uint64_t cohort_members;      /* sum of every cohort's members */
    uint64_t cohort_bitmap_bytes; /* bytes the containers of the cohort bitmaps hold */
    uint64_t index_bytes[WS_INDEX_KINDS];
};

/* Calls cb once per registered workspace, in registration order, under that workspace's read
 * lock (so cb must not call core). Cost: one pass over each workspace's cohort containers. */
void app_workspace_stats(struct app *app, void (*cb)(void *ctx, const struct workspace_stats *),
                         void *ctx);

#endif
