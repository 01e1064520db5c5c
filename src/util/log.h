/*
 * log.h — one line per event on stderr: time, level, module, then key=value pairs.
 * The level is checked before the arguments are evaluated. Never log keys or bodies.
 *
 * One event is always exactly one line: log_write escapes every control character of the
 * formatted line (newline as \n, others as \xHH), and a value that comes from outside (a
 * path, an id from a URL) goes through log_q, which quotes it when it holds a space, a quote,
 * a backslash, '=' or a control character:  log_info("http", "path=%s", log_q(path))  gives
 * path=/healthz or path="/x\n2026 error". Lines are never cut short: a long line is written
 * whole (see LOG_LINE_MAX for the one exception, which says so in the line).
 *
 * Two formats (log_format, set once at start-up): text (the default),
 *   2026-12-02T09:14:07.123Z info  http: req=7 status=200
 * and json, one object per line for log shippers, made from the same call:
 *   {"time":"2026-12-02T09:14:07.123Z","level":"info","module":"http","req":7,"status":200}
 * where every key=value of the line becomes a field (a quoted value unquoted; a whole decimal
 * number a JSON number, any other value a string) and words that are not key=value go, in
 * order, into "msg". Call sites are the same for both.
 */
#ifndef COHORTD_UTIL_LOG_H
#define COHORTD_UTIL_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* A line longer than this (after escaping) is cut there and ends in
 * "…(truncated N bytes)", so a runaway value cannot flood the log unnoticed. */
#define LOG_LINE_MAX ((size_t)64 * 1024)

extern enum log_level log_threshold;

enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON = 1 };
extern enum log_format log_format;

/* Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int log_level_parse(const char *name);
/* Parses "text" or "json"; returns -1 for anything else. */
int log_format_parse(const char *name);

void log_write(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The value v ready for `key=%s`: as is when it is safe, otherwise in double quotes with
 * '"', '\\' and control characters escaped; NULL gives "(null)". The text lives in memory of
 * the calling thread that the next log_write of that thread frees, so use it only in the
 * arguments of a log_* call. Never NULL (a fixed marker when memory runs out).
 */
const char *log_q(const char *v);

/* True for query parameters whose values are secrets (api_key, token, client_secret, …):
 * log_url writes their values as ***. Names compare case-insensitively. */
bool log_secret_param(const char *name);

/*
 * path, then "?" and the n query arguments (names[i], values[i]: decoded; a NULL value is a
 * name without '='), re-encoded in the order given, with the value of every secret parameter
 * (log_secret_param) replaced by ***: what an access line shows of a request's URL. Characters
 * other than letters, digits and -._~!$'()*+,;:@/ are percent-encoded. malloc'd; NULL when
 * memory runs out.
 */
char *log_url(const char *path, const char *const *names, const char *const *values, size_t n);

#define LOG_AT(level, module, ...)                                                                 \
    do {                                                                                           \
        if ((level) <= log_threshold)                                                              \
            log_write((level), (module), __VA_ARGS__);                                             \
    } while (0)

#define log_error(module, ...) LOG_AT(LOG_ERROR, module, __VA_ARGS__)
#define log_warn(module, ...) LOG_AT(LOG_WARN, module, __VA_ARGS__)
#define log_info(module, ...) LOG_AT(LOG_INFO, module, __VA_ARGS__)
#define log_debug(module, ...) LOG_AT(LOG_DEBUG, module, __VA_ARGS__)

#endif
