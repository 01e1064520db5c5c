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
 */
#ifndef COHORTD_UTIL_LOG_H
#define COHORTD_UTIL_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* A line longer than this (after escaping) is cut there and ends in
 * "…(truncated N bytes)", so a runaway value cannot flood the log unnoticed. */
#define LOG_LINE_MAX ((size_t)64 * 1024)

extern enum log_level log_threshold;

/* Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int log_level_parse(const char *name);

void log_write(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The value v ready for `key=%s`: as is when it is safe, otherwise in double quotes with
 * '"', '\\' and control characters escaped; NULL gives "(null)". The text lives in memory of
 * the calling thread that the next log_write of that thread frees, so use it only in the
 * arguments of a log_* call. Never NULL (a fixed marker when memory runs out).
 */
const char *log_q(const char *v);

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
