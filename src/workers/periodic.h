/*
 * periodic.h — one background thread that runs a function, waits, runs it again, until
 * stopped. The wait is a timed wait on a condition variable, so periodic_stop ends it at once;
 * a run in progress always finishes. The workers that run on a clock (snapshots, daily history,
 * retention, leases) are each one or two of these around their own pass.
 */
#ifndef COHORTD_WORKERS_PERIODIC_H
#define COHORTD_WORKERS_PERIODIC_H

#include <stdbool.h>
#include <stdint.h>

struct periodic;

/* One run in the worker thread; arg is periodic_start's. Returns how long to wait (ms, from
 * the run's end) before the next run; 0 or less runs again at once unless stopping. */
typedef int64_t (*periodic_fn)(struct periodic *p, void *arg);

/* Starts the thread, named name (at most 15 bytes, what `top -H` and `perf` show): it waits
 * first_ms (0: none), then runs fn(p, arg) and waits what that returns, again and again. arg is
 * borrowed. NULL when the thread cannot start. */
struct periodic *periodic_start(const char *name, int64_t first_ms, periodic_fn fn, void *arg);
/* Whether periodic_stop was called (for a long run that can end early). */
bool periodic_stopping(struct periodic *p);
/* Asks the thread to end: a wait ends at once, a run in progress finishes, fn is not called
 * again. Does not wait; NULL is fine. */
void periodic_stop(struct periodic *p);
/* Stops the thread if periodic_stop was not called, waits for it to end and frees p. NULL is
 * fine. */
void periodic_join(struct periodic *p);

#endif
