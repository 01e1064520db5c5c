/*
 * analytics.c — Braze's daily series (REST API key): GET /segments/data_series
 * (export/segments/get_segment_analytics.md), /campaigns/data_series
 * (export/campaigns/get_campaign_analytics.md), /sends/data_series (get_send_analytics.md),
 * /canvas/data_series and /canvas/data_summary (export/canvas/, with include_step_breakdown's
 * step_stats), and our own
 * /cohorts/data_series (a cohort's daily size, the shape of the segments' one). The query is
 * checked here; core/messaging/daily_history.h gives the days, oldest first; the shapes are
 * Braze's, with the webhook channel (the one cohortd sends) and zero conversions and revenue
 * (cohortd has no conversion events).
 */
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/messaging/daily_history.h"
#include "util/timeutil.h"

#define CANVAS_MAX_DAYS 14 /* Braze's bound on a Canvas series' length */

/* "YYYY-MM-DD" of a day number. */
static json_t *day_json(int64_t day) {
    char iso[32];
    time_format_iso8601(day * DAILY_HISTORY_DAY_MS, iso, sizeof iso);
    return json_stringn(iso, 10);
}

/* Reads ending_at (default now) and the number of days: `length` (1..max), or with
 * allow_start `starting_at` when length is absent. */
static enum cd_err read_range(const struct http_request *req, int max, bool allow_start,
                              int64_t *ending, int *length, struct cd_msg *msg) {
    const char *end_text = http_query(req, "ending_at");
    const char *len_text = http_query(req, "length");
    const char *start_text = allow_start ? http_query(req, "starting_at") : NULL;
    *ending = time_now_ms();
    *length = 0;
    if (end_text && time_parse_iso8601(end_text, ending) != 0)
        return cd_invalid(msg, "ending_at: must be an ISO 8601 date-time");
    if (!len_text && start_text) {
        int64_t start;
        if (time_parse_iso8601(start_text, &start) != 0)
            return cd_invalid(msg, "starting_at: must be an ISO 8601 date-time");
        int64_t days = *ending / DAILY_HISTORY_DAY_MS - start / DAILY_HISTORY_DAY_MS + 1;
        if (days < 1 || days > max)
            return cd_invalid(msg, "starting_at: must be at most %d days before ending_at", max);
        *length = (int)days;
        return CD_OK;
    }
    char *stop = NULL;
    long n = len_text ? strtol(len_text, &stop, 10) : 0;
    if (!len_text || stop == len_text || *stop || n < 1 || n > max)
        return cd_invalid(msg,
                          allow_start ? "length: must be a whole number from 1 to %d (or give "
                                        "starting_at)"
                                      : "length: required, a whole number from 1 to %d",
                          max);
    *length = (int)n;
    return CD_OK;
}

/* The series of one object; CD_E_INVALID with msg for a bad query, Braze's text for an unknown
 * campaign or Canvas. */
static enum cd_err series_of(struct app *app, struct workspace *ws, const struct http_request *req,
                             enum history_kind kind, const char *id_arg, int max, bool allow_start,
                             struct daily_point *points, int *length, struct cd_msg *msg) {
    const char *id = http_query(req, id_arg);
    char cohort[600];
    if (!id || !*id)
        return cd_invalid(msg, "%s: is required", id_arg);
    if (kind == HISTORY_COHORT) {
        const char *partner = http_query(req, "partner");
        snprintf(cohort, sizeof cohort, "%s/%s", partner && *partner ? partner : "heap", id);
        id = cohort;
    }
    int64_t ending;
    enum cd_err err = read_range(req, max, allow_start, &ending, length, msg);
    if (err == CD_OK)
        err = daily_history_series(app, ws, kind, id, ending, *length, points);
    if (err == CD_E_NOT_FOUND && kind == HISTORY_CAMPAIGN)
        return cd_invalid(msg, "Invalid Campaign ID");
    if (err == CD_E_NOT_FOUND && kind == HISTORY_CANVAS)
        return cd_invalid(msg, "Invalid Canvas ID");
    return err;
}

static enum cd_err sizes(struct app *app, struct workspace *ws, const struct http_request *req,
                         enum history_kind kind, const char *id_arg, json_t **out,
                         struct cd_msg *msg) {
    struct daily_point points[DAILY_HISTORY_MAX_DAYS];
    int n = 0;
    enum cd_err err =
        series_of(app, ws, req, kind, id_arg, DAILY_HISTORY_MAX_DAYS, false, points, &n, msg);
    if (err != CD_OK)
        return err;
    json_t *data = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(data, json_pack("{s:o, s:I}", "time", day_json(points[i].day), "size",
                                              (json_int_t)points[i].size));
    *out = json_pack("{s:s, s:o}", "message", "success", "data", data);
    return *out ? CD_OK : CD_E_NOMEM;
}

static enum cd_err segments_series(struct app *app, struct workspace *ws,
                                   const struct http_request *req, json_t **out,
                                   struct cd_msg *msg) {
    return sizes(app, ws, req, HISTORY_SEGMENT, "segment_id", out, msg);
}

static enum cd_err cohorts_series(struct app *app, struct workspace *ws,
                                  const struct http_request *req, json_t **out,
                                  struct cd_msg *msg) {
    return sizes(app, ws, req, HISTORY_COHORT, "cohort_id", out, msg);
}

/* One day of a campaign or a send: Braze's multi-channel shape with the webhook channel. */
static json_t *message_day(int64_t day, int64_t sent, int64_t failed, int64_t recipients) {
    return json_pack("{s:o, s:{s:[{s:I, s:I}]}, s:i, s:I}", "time", day_json(day), "messages",
                     "webhook", "sent", (json_int_t)sent, "errors", (json_int_t)failed,
                     "conversions", 0, "unique_recipients", (json_int_t)recipients);
}

static enum cd_err campaigns_series(struct app *app, struct workspace *ws,
                                    const struct http_request *req, json_t **out,
                                    struct cd_msg *msg) {
    struct daily_point p[DAILY_HISTORY_MAX_DAYS];
    int n = 0;
    enum cd_err err = series_of(app, ws, req, HISTORY_CAMPAIGN, "campaign_id",
                                DAILY_HISTORY_MAX_DAYS, false, p, &n, msg);
    if (err != CD_OK)
        return err;
    json_t *data = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(data, message_day(p[i].day, p[i].sent, p[i].failed, p[i].entered));
    *out = json_pack("{s:s, s:o}", "message", "success", "data", data);
    return *out ? CD_OK : CD_E_NOMEM;
}

static enum cd_err sends_series(struct app *app, struct workspace *ws,
                                const struct http_request *req, json_t **out, struct cd_msg *msg) {
    const char *campaign = http_query(req, "campaign_id");
    const char *send = http_query(req, "send_id");
    if (!campaign || !*campaign)
        return cd_invalid(msg, "campaign_id: is required");
    if (!send || !*send)
        return cd_invalid(msg, "send_id: is required");
    int64_t ending;
    int n = 0;
    struct daily_point p[DAILY_HISTORY_MAX_DAYS];
    enum cd_err err = read_range(req, DAILY_HISTORY_MAX_DAYS, false, &ending, &n, msg);
    if (err == CD_OK)
        err = daily_history_sends(app, ws, campaign, send, ending, n, p);
    if (err == CD_E_NOT_FOUND)
        return cd_invalid(msg, "Invalid Campaign ID");
    if (err != CD_OK)
        return err;
    json_t *data = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(data, message_day(p[i].day, p[i].sent, p[i].failed, p[i].users));
    *out = json_pack("{s:s, s:o}", "message", "success", "data", data);
    return *out ? CD_OK : CD_E_NOMEM;
}

static json_t *canvas_totals(int64_t entries) {
    return json_pack("{s:i, s:i, s:i, s:I}", "revenue", 0, "conversions", 0,
                     "conversions_by_entry_time", 0, "entries", (json_int_t)entries);
}

/* Braze's step_stats entry of one step: what it sent and failed (webhook channel). */
static json_t *step_stats_of(const char *name, int64_t sent, int64_t failed) {
    return json_pack("{s:s, s:i, s:i, s:i, s:{s:[{s:I, s:I}]}}", "name", name, "revenue", 0,
                     "conversions", 0, "conversions_by_entry_time", 0, "messages", "webhook",
                     "sent", (json_int_t)sent, "errors", (json_int_t)failed);
}

/* step_stats of day i (i < 0: the sum of the n days) of the steps. */
static json_t *step_stats(const struct daily_step *steps, size_t n_steps, int i, int n) {
    json_t *o = json_object();
    for (size_t k = 0; k < n_steps; k++) {
        int64_t sent = 0, failed = 0;
        for (int d = i < 0 ? 0 : i; d < (i < 0 ? n : i + 1); d++) {
            sent += steps[k].points[d].sent;
            failed += steps[k].points[d].failed;
        }
        json_object_set_new(o, steps[k].id, step_stats_of(steps[k].name, sent, failed));
    }
    return o;
}

/* include_step_breakdown: absent or "false" is false, "true" true; anything else refused. */
static enum cd_err read_breakdown(const struct http_request *req, bool *on, struct cd_msg *msg) {
    const char *v = http_query(req, "include_step_breakdown");
    *on = v && strcmp(v, "true") == 0;
    if (v && !*on && strcmp(v, "false") != 0)
        return cd_invalid(msg, "include_step_breakdown: must be true or false");
    return CD_OK;
}

/* The Canvas's days and name, with each step's when include_step_breakdown=true; summary sums
 * them. */
static enum cd_err canvas(struct app *app, struct workspace *ws, const struct http_request *req,
                          bool summary, json_t **out, struct cd_msg *msg) {
    struct daily_point p[CANVAS_MAX_DAYS];
    int n = 0;
    bool breakdown = false;
    enum cd_err err = read_breakdown(req, &breakdown, msg);
    if (err == CD_OK)
        err =
            series_of(app, ws, req, HISTORY_CANVAS, "canvas_id", CANVAS_MAX_DAYS, true, p, &n, msg);
    char name[256];
    if (err == CD_OK)
        err = daily_history_name(app, ws, CAMPAIGN_KIND_CANVAS, http_query(req, "canvas_id"), name,
                                 sizeof name);
    struct daily_step *steps = NULL;
    size_t n_steps = 0;
    if (err == CD_OK && breakdown) {
        int64_t ending = 0;
        int length = 0;
        err = read_range(req, CANVAS_MAX_DAYS, true, &ending, &length, msg);
        if (err == CD_OK)
            err = daily_history_steps(app, ws, http_query(req, "canvas_id"), ending, length, &steps,
                                      &n_steps);
    }
    if (err != CD_OK)
        return err;
    json_t *data;
    if (summary) {
        int64_t entries = 0;
        for (int i = 0; i < n; i++)
            entries += p[i].entered;
        data = json_pack("{s:s, s:o}", "name", name, "total_stats", canvas_totals(entries));
        if (breakdown)
            json_object_set_new(data, "step_stats", step_stats(steps, n_steps, -1, n));
    } else {
        json_t *stats = json_array();
        for (int i = 0; i < n; i++) {
            json_t *day = json_pack("{s:o, s:o}", "time", day_json(p[i].day), "total_stats",
                                    canvas_totals(p[i].entered));
            if (breakdown)
                json_object_set_new(day, "step_stats", step_stats(steps, n_steps, i, n));
            json_array_append_new(stats, day);
        }
        data = json_pack("{s:s, s:o}", "name", name, "stats", stats);
    }
    daily_steps_free(steps, n_steps);
    *out = json_pack("{s:o, s:s}", "data", data, "message", "success");
    return *out ? CD_OK : CD_E_NOMEM;
}

static enum cd_err canvas_series(struct app *app, struct workspace *ws,
                                 const struct http_request *req, json_t **out, struct cd_msg *msg) {
    return canvas(app, ws, req, false, out, msg);
}

static enum cd_err canvas_summary(struct app *app, struct workspace *ws,
                                  const struct http_request *req, json_t **out,
                                  struct cd_msg *msg) {
    return canvas(app, ws, req, true, out, msg);
}

void api_segments_data_series(void *ctx, const struct http_request *req,
                              struct http_response *res) {
    api_run_get(ctx, req, res, segments_series);
}

void api_cohorts_data_series(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_get(ctx, req, res, cohorts_series);
}

void api_campaigns_data_series(void *ctx, const struct http_request *req,
                               struct http_response *res) {
    api_run_get(ctx, req, res, campaigns_series);
}

void api_sends_data_series(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_get(ctx, req, res, sends_series);
}

void api_canvas_data_series(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_get(ctx, req, res, canvas_series);
}

void api_canvas_data_summary(void *ctx, const struct http_request *req, struct http_response *res) {
    api_run_get(ctx, req, res, canvas_summary);
}
