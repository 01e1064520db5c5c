/*
 * snapshotter.h — the snapshot worker: one background thread that writes each workspace's
 * start-up snapshot (docs/internals/snapshot.md) once right after start, then every interval,
 * skipping a workspace whose memory the file already holds. A written snapshot logs one line
 * and counts in cohortd_snapshot_writes_total; a failed one logs why (the old file stays, and a
 * start-up without a usable file reads the whole store). Over an app without snapshots (a
 * SQLite store with --snapshot-interval 0) a pass only prunes the store's user changes.
 */
#ifndef COHORTD_WORKERS_SNAPSHOTTER_H
#define COHORTD_WORKERS_SNAPSHOTTER_H

#include <stdint.h>

#include "core/workspace/workspace.h"

struct snapshotter;

/* Starts the thread over app (borrowed), its first pass after first_ms. NULL when it cannot. */
struct snapshotter *snapshotter_start(struct app *app, int64_t interval_ms, int64_t first_ms);
/* One pass now, in the caller's thread. */
void snapshotter_pass(struct app *app);
/* Stops the thread (after the file in progress) and frees it. NULL is fine. */
void snapshotter_stop(struct snapshotter *w);

#endif
