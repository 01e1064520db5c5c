/*
 * metrics.h — the process's counters, gauges and histograms, rendered for GET /metrics in
 * Prometheus' text format (version 0.0.4). Any layer may record; nothing here knows HTTP.
 *
 * A series is a metric name plus its label text, written as Prometheus writes it between
 * the braces: "route=\"/users/track\",status=\"201\"" (or "" for none). Label values that
 * come from outside must go through metrics_label first. Series are created on first use;
 * a metric's type and help come from metrics_describe (or default to "untyped").
 *
 * Values that are cheaper to read at scrape time than to keep current (bitmap memory, outbox
 * lag) come from collectors: functions registered once that metrics_render calls first, and
 * that set gauges with metrics_set.
 */
#ifndef COHORTD_UTIL_METRICS_H
#define COHORTD_UTIL_METRICS_H

#include <stddef.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

/* Gives a metric its type and help line. Call once per name (at start-up); later calls with
 * the same name are ignored. */
void metrics_describe(const char *name, enum metric_type type, const char *help);

/* counter += v (v >= 0) */
void metrics_add(const char *name, const char *labels, double v);
/* gauge = v */
void metrics_set(const char *name, const char *labels, double v);
/* One observation into a histogram with the fixed latency buckets of metrics.c (seconds:
 * 0.0005 … 10). */
void metrics_observe(const char *name, const char *labels, double seconds);
/* One observation into a histogram with its own upper bounds (ascending, n_bounds of them, in
 * static storage: the series keeps the pointer), for figures that are not latencies (sizes,
 * counts). A series keeps the bounds of its first observation. */
void metrics_observe_in(const char *name, const char *labels, double v, const double *bounds,
                        size_t n_bounds);

/* The current value of a counter or gauge series (0 when it does not exist); for tests and
 * collectors. */
double metrics_value(const char *name, const char *labels);

/* Forgets every series of name (its description stays): a collector that sets one gauge per
 * thing (per Current, per workspace) clears the name first, so a thing that is gone is no
 * longer reported. Renders never interleave with each other's collectors. */
void metrics_clear(const char *name);

typedef void (*metrics_collector)(void *ctx);
/* Registers fn(ctx) to run at the start of every metrics_render (on the rendering thread, one
 * render at a time). Returns 0, or -1 when the table of collectors is full. */
int metrics_collect(metrics_collector fn, void *ctx);
/* Removes a collector registered with the same fn and ctx (before ctx is freed). */
void metrics_uncollect(metrics_collector fn, void *ctx);

/* The whole exposition as a malloc'd NUL-terminated text (NULL when memory runs out);
 * *len gets its length. */
char *metrics_render(size_t *len);

/* Writes value escaped for a label value (backslash, quote and newline escaped) into buf of
 * size len, cut at len - 1 bytes; returns buf. */
char *metrics_label(char *buf, size_t len, const char *value);

/* Forgets every series, description and collector (tests). */
void metrics_reset(void);

#endif
