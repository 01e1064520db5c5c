/*
 * cohort_read.h — reading a workspace's partner cohorts for the API: the list (memory, under
 * the workspace read lock) and one cohort's details, which add the sample of unmatched ids
 * and, for partner "heap", the latest sync runs from the store. Everything is copied out, so
 * the caller holds no lock and no borrowed pointer into the workspace.
 */
#ifndef COHORTD_CORE_COHORTS_COHORT_READ_H
#define COHORTD_CORE_COHORTS_COHORT_READ_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct app;
struct workspace;

#define COHORT_DETAILS_SYNCS 20 /* Heap syncs in a cohort's details, newest first */

struct cohort_miss {
    char *identifier; /* as the request named it, e.g. "alias:label:name" */
    char *reason;
    int64_t at;
};

struct cohort_heap_sync {
    char *sync_task_id;
    int64_t pages_seen;
    int64_t total_pages;
    int64_t started_at;
    int64_t completed_at; /* 0 while pages are missing */
    int64_t n_added;
    int64_t n_removed;
};

struct cohort_info {
    const char *partner;
    const char *cohort_id;
    const char *name; /* NULL until a name arrives */
    uint64_t size;
    int64_t created_at;
    int64_t changed_at; /* 0 = never */
    int64_t n_ids_received;
    int64_t n_ids_matched;
    int64_t n_ids_unmatched;
    /* cohort_details only (owned; free with cohort_info_free) */
    struct cohort_miss *misses;
    size_t n_misses;
    struct cohort_heap_sync *syncs; /* partner "heap" only */
    size_t n_syncs;
};

/* Calls cb for every cohort of ws in creation order, under the read lock: the strings of info
 * are borrowed for the call and cb must not call into core. */
void cohort_list(struct app *app, struct workspace *ws,
                 void (*cb)(void *ctx, const struct cohort_info *info), void *ctx);

/* The cohort (partner, cohort_id) with its misses and (partner "heap") Heap syncs, copied into
 * *out. CD_E_NOT_FOUND when there is no such cohort. */
enum cd_err cohort_details(struct app *app, struct workspace *ws, const char *partner,
                           const char *cohort_id, struct cohort_info *out);
void cohort_info_free(struct cohort_info *info);

#endif
