/*
 * segment_workspace.h — an empty in-memory workspace with n cohorts of partner "heap" named
 * "c0" … "c<n-1>", and its release: how the segment benchmark and the segment evaluation tests
 * start (the users, memberships, attributes and events they add are their own). Header only, so
 * either build includes it without linking anything more.
 */
#ifndef COHORTD_BENCH_SEGMENT_WORKSPACE_H
#define COHORTD_BENCH_SEGMENT_WORKSPACE_H

#include <stdio.h>
#include <string.h>

#include "core/workspace/workspace_int.h" /* core's own insides, as these programs build them */

static inline void segment_workspace_init(struct workspace *ws, struct cohort **c, int n) {
    memset(ws, 0, sizeof *ws);
    identity_init(&ws->ident);
    cohort_set_init(&ws->cohorts);
    attr_index_init(&ws->attrs);
    event_index_init(&ws->events);
    for (int k = 0; k < n; k++) {
        char id[16];
        snprintf(id, sizeof id, "c%d", k);
        c[k] = cohort_set_add(&ws->cohorts, "heap", id);
    }
}

static inline void segment_workspace_free(struct workspace *ws) {
    identity_free(&ws->ident);
    cohort_set_free(&ws->cohorts);
    attr_index_free(&ws->attrs);
    event_index_free(&ws->events);
}

#endif
