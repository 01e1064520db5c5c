/*
 * history.h — the daily history worker: one background thread that samples every segment's and
 * cohort's size and every campaign's and Canvas's counters (core/messaging/daily_history.h)
 * every interval, just after each UTC midnight and at stop, so each day's row holds the last
 * sample of that day. None at start: today's values are computed when asked, and start-up
 * stays free of a pass over every audience.
 */
#ifndef COHORTD_WORKERS_HISTORY_H
#define COHORTD_WORKERS_HISTORY_H

#include <stdint.h>

#include "core/workspace/workspace.h"

struct history;

/* Starts the thread over app (borrowed), which takes the next samples. NULL when it cannot
 * start. */
struct history *history_start(struct app *app, int64_t interval_ms);
/* Stops the thread (after the sample in progress), takes the last sample in the calling thread
 * (app must still be there) and frees it. */
void history_stop(struct history *h);

#endif
