/*
 * history.h — the daily history worker: one background thread that samples every segment's and
 * cohort's size and every campaign's and Canvas's counters (core/messaging/daily_history.h) at
 * start, every interval, and just after each UTC midnight, so each day's row holds the last
 * sample of that day.
 */
#ifndef COHORTD_WORKERS_HISTORY_H
#define COHORTD_WORKERS_HISTORY_H

#include <stdint.h>

#include "core/workspace/workspace.h"

struct history;

/* Takes the start-up sample in the calling thread (serve does, before the first request). */
void history_sample_now(struct app *app);

/* Starts the thread over app (borrowed), which takes the next samples. NULL when it cannot
 * start. */
struct history *history_start(struct app *app, int64_t interval_ms);
/* Stops the thread (after the sample in progress) and frees it. */
void history_stop(struct history *h);

#endif
