/*
 * exporter.h — the segment export worker: one background thread that runs the queued segment
 * export jobs one at a time (core/segments/segment_jobs.h), POSTs each finished job's
 * {"success":true,"url":…} (or {"success":false} when it failed) to its callback_endpoint, and
 * deletes the files of jobs whose retention passed.
 */
#ifndef COHORTD_WORKERS_EXPORTER_H
#define COHORTD_WORKERS_EXPORTER_H

#include <stdint.h>

#include "core/segments/segment_jobs.h"

struct exporter_config {
    int64_t sweep_ms;            /* between retention sweeps (the first one at start) */
    int64_t callback_timeout_ms; /* one callback POST; a failed one is logged, not retried */
};

struct exporter;

/* Starts the thread over jobs (borrowed; outlives the worker). NULL when it cannot start. */
struct exporter *exporter_start(struct segment_jobs *jobs, const struct exporter_config *cfg);
/* Stops the thread (a running job gives up and runs again after the next start), frees it. */
void exporter_stop(struct exporter *e);

#endif
