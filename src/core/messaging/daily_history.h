/*
 * daily_history.h — the daily history behind Braze's data_series endpoints: a sample of every
 * segment's and cohort's size and of every campaign's and Canvas's cumulative counters, kept
 * as one row per UTC day (the day's last sample) in the store, so it survives restarts; and
 * the series read back from it. Today's entry is always computed now, not sampled; a past day
 * without a sample (the server was down) repeats the sample before it (sizes) or counts
 * nothing (counters); a day before the first sample is 0.
 */
#ifndef COHORTD_CORE_MESSAGING_DAILY_HISTORY_H
#define COHORTD_CORE_MESSAGING_DAILY_HISTORY_H

#include <stdint.h>

#include "core/workspace/workspace.h"

#define DAILY_HISTORY_MAX_DAYS 100
#define DAILY_HISTORY_DAY_MS 86400000LL

/* Samples every object of every workspace now (a workspace that is not loaded is skipped).
 * Returns the first error; the rows recorded before it stay. */
enum cd_err daily_history_sample(struct app *app, int64_t now);

/* One day of a series: day (UNIX ms / DAILY_HISTORY_DAY_MS) and what happened that day. */
struct daily_point {
    int64_t day;
    int64_t size;                  /* segments and cohorts: the size at the day's end (now) */
    int64_t entered, sent, failed; /* campaigns and Canvases: counted that day */
    int64_t users;                 /* sends: distinct recipients that day */
};

/*
 * The `length` days (1..DAILY_HISTORY_MAX_DAYS) ending with the UTC day of ending_ms, oldest
 * first, into out (length points). kind HISTORY_SEGMENT takes a segment id, HISTORY_COHORT
 * "partner/cohort_id", HISTORY_CAMPAIGN / HISTORY_CANVAS a public id. CD_E_NOT_FOUND when the
 * workspace has no such object (archived campaigns and Canvases have their history).
 */
enum cd_err daily_history_series(struct app *app, struct workspace *ws, enum history_kind kind,
                                 const char *object_id, int64_t ending_ms, int length,
                                 struct daily_point *out);

/* The same for the deliveries of a campaign's sends with send_id (sent, failed, users); days
 * beyond --retain-deliveries count nothing. CD_E_NOT_FOUND when there is no such campaign. */
enum cd_err daily_history_sends(struct app *app, struct workspace *ws, const char *campaign_id,
                                const char *send_id, int64_t ending_ms, int length,
                                struct daily_point *out);

/* One step of a Canvas with what it sent and failed each day (daily_history_steps). */
struct daily_step {
    char *id;
    char *name;
    struct daily_point *points; /* length; sent and failed set */
};

/* The Canvas's steps in their order, each with the `length` days (1..DAILY_HISTORY_MAX_DAYS)
 * ending with the UTC day of ending_ms, oldest first, from the per-day counts kept as the
 * steps' outcomes were recorded (so days beyond --retain-deliveries are still counted).
 * *steps is set to a new array of *n_steps (free it with daily_steps_free). CD_E_NOT_FOUND
 * when the workspace has no such Canvas. */
enum cd_err daily_history_steps(struct app *app, struct workspace *ws, const char *canvas_id,
                                int64_t ending_ms, int length, struct daily_step **steps,
                                size_t *n_steps);
void daily_steps_free(struct daily_step *steps, size_t n_steps);

/* The name of a campaign or Canvas (copied into name, name_len bytes). CD_E_NOT_FOUND. */
enum cd_err daily_history_name(struct app *app, struct workspace *ws, enum campaign_kind kind,
                               const char *public_id, char *name, size_t name_len);

#endif
