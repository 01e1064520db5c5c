/*
 * log.c — the line logger of log.h. Each line is built whole, escaped, and written with one
 * fwrite so threads do not mix. Lines grow as needed (no fixed buffer holds a value); only a
 * line past LOG_LINE_MAX is cut, with a marker that says how much was dropped. In the json
 * format the formatted message is split back into its key=value pairs (log_json.c's reading
 * of what log_q wrote) and written as one JSON object; a line past LOG_LINE_MAX has its values
 * cut instead, so it stays one valid object, and says so in "truncated_bytes".
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/log_json.h"

enum log_level log_threshold = LOG_INFO;
enum log_format log_format = LOG_FORMAT_TEXT;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int log_level_parse(const char *name) {
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

int log_format_parse(const char *name) {
    if (strcmp(name, "text") == 0)
        return LOG_FORMAT_TEXT;
    if (strcmp(name, "json") == 0)
        return LOG_FORMAT_JSON;
    return -1;
}

/* The texts log_q gave out on this thread since its last log_write. */
struct quoted {
    struct quoted *next;
    char text[];
};
static _Thread_local struct quoted *quoted_head;

static bool is_control(unsigned char c) {
    return c < 0x20 || c == 0x7f;
}

/* Bytes the escaped form of c takes (1 when c is written as is). */
static size_t escaped_len(unsigned char c, bool in_quotes) {
    if (c == '\n' || c == '\r' || c == '\t')
        return 2;
    if (is_control(c))
        return 4;
    if (in_quotes && (c == '"' || c == '\\'))
        return 2;
    return 1;
}

static char *put_escaped(char *o, unsigned char c, bool in_quotes) {
    static const char hex[] = "0123456789abcdef";
    if (c == '\n' || c == '\r' || c == '\t') {
        *o++ = '\\';
        *o++ = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
    } else if (is_control(c)) {
        *o++ = '\\';
        *o++ = 'x';
        *o++ = hex[c >> 4];
        *o++ = hex[c & 15];
    } else {
        if (in_quotes && (c == '"' || c == '\\'))
            *o++ = '\\';
        *o++ = (char)c;
    }
    return o;
}

const char *log_q(const char *v) {
    if (!v)
        return "(null)";
    bool quote = *v == '\0';
    size_t n = 2;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == ' ' || *p == '"' || *p == '\\' || *p == '=' || is_control(*p))
            quote = true;
        n += escaped_len(*p, true);
    }
    if (!quote)
        return v;
    struct quoted *q = malloc(sizeof *q + n + 1);
    if (!q)
        return "\"(no memory to quote the value)\"";
    char *o = q->text;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        o = put_escaped(o, *p, true);
    *o++ = '"';
    *o = '\0';
    q->next = quoted_head;
    quoted_head = q;
    return q->text;
}

static void free_quoted(void) {
    while (quoted_head) {
        struct quoted *next = quoted_head->next;
        free(quoted_head);
        quoted_head = next;
    }
}

/* Writes `raw` (len bytes) with control characters escaped and a final newline, cut at
 * LOG_LINE_MAX with an explicit marker. */
static void write_escaped(const char *raw, size_t len) {
    size_t full = 0;
    for (size_t i = 0; i < len; i++)
        full += escaped_len((unsigned char)raw[i], false);
    size_t keep = len, kept_len = full;
    if (full > LOG_LINE_MAX) {
        kept_len = 0;
        for (keep = 0; keep < len; keep++) {
            size_t e = escaped_len((unsigned char)raw[keep], false);
            if (kept_len + e > LOG_LINE_MAX)
                break;
            kept_len += e;
        }
    }
    char marker[64] = "";
    if (keep < len)
        snprintf(marker, sizeof marker, "\xe2\x80\xa6(truncated %zu bytes)", full - kept_len);
    size_t total = kept_len + strlen(marker) + 1;
    char small[2048];
    char *out = total <= sizeof small ? small : malloc(total);
    if (!out) {
        static const char oom[] = "log: error=\"no memory for a log line\"\n";
        fwrite(oom, 1, sizeof oom - 1, stderr);
        return;
    }
    char *o = out;
    for (size_t i = 0; i < keep; i++)
        o = put_escaped(o, (unsigned char)raw[i], false);
    memcpy(o, marker, strlen(marker));
    o += strlen(marker);
    *o++ = '\n';
    fwrite(out, 1, (size_t)(o - out), stderr);
    if (out != small)
        free(out);
}

/* The JSON form of one event (log_json.c), written with one fwrite. */
static void write_json(const char *time_text, enum log_level level, const char *module,
                       const char *msg, size_t len) {
    size_t out_len = 0;
    char *out =
        log_json_line(time_text, level_names[level], module, msg, len, LOG_LINE_MAX, &out_len);
    if (!out) {
        static const char oom[] =
            "{\"level\":\"error\",\"module\":\"log\",\"error\":\"no memory for a log line\"}\n";
        fwrite(oom, 1, sizeof oom - 1, stderr);
        return;
    }
    fwrite(out, 1, out_len, stderr);
    free(out);
}

void log_write(enum log_level level, const char *module, const char *fmt, ...) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char time_text[64];
    snprintf(time_text, sizeof time_text, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    char small[1024];
    int n = log_format == LOG_FORMAT_JSON ? 0
                                          : snprintf(small, sizeof small, "%s %-5s %s: ", time_text,
                                                     level_names[level], module);
    if (n < 0 || (size_t)n >= sizeof small)
        goto done;
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int m = vsnprintf(small + n, sizeof small - (size_t)n, fmt, ap);
    va_end(ap);
    char *line = small;
    if (m >= 0 && (size_t)m >= sizeof small - (size_t)n) {
        line = malloc((size_t)n + (size_t)m + 1);
        if (line) {
            memcpy(line, small, (size_t)n);
            vsnprintf(line + n, (size_t)m + 1, fmt, again);
        } else {
            line = small; /* the prefix and a note, rather than nothing */
            m = snprintf(small + n, sizeof small - (size_t)n,
                         "error=\"no memory for a log line of %d bytes\"", m);
        }
    }
    va_end(again);
    if (log_format == LOG_FORMAT_JSON)
        write_json(time_text, level, module, line, m < 0 ? 0 : (size_t)m);
    else
        write_escaped(line, (size_t)n + (m < 0 ? 0 : (size_t)m));
    if (line != small)
        free(line);
done:
    free_quoted();
}

bool log_secret_param(const char *name) {
    static const char *const exact[] = {"key",           "token",     "secret", "password", "auth",
                                        "authorization", "signature", "sig",    "apikey"};
    static const char *const suffixes[] = {"_key",      "_token", "_secret",
                                           "_password", "-key",   "-token"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcasecmp(name, exact[i]) == 0)
            return true;
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t sl = strlen(suffixes[i]);
        if (len > sl && strcasecmp(name + len - sl, suffixes[i]) == 0)
            return true;
    }
    return false;
}

static bool url_safe(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~!$'()*+,;:@/", c));
}

/* Appends v percent-encoded at o; returns the end. */
static char *put_encoded(char *o, const char *v) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (url_safe(*p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    return o;
}

char *log_url(const char *path, const char *const *names, const char *const *values, size_t n) {
    size_t len = strlen(path) + 2;
    for (size_t i = 0; i < n; i++)
        len += 3 * strlen(names[i]) + (values[i] ? 3 * strlen(values[i]) + 4 : 0) + 1;
    char *out = malloc(len);
    if (!out)
        return NULL;
    size_t pl = strlen(path);
    memcpy(out, path, pl);
    char *o = out + pl;
    for (size_t i = 0; i < n; i++) {
        *o++ = i ? '&' : '?';
        o = put_encoded(o, names[i]);
        if (!values[i])
            continue;
        *o++ = '=';
        if (log_secret_param(names[i])) {
            memcpy(o, "***", 3);
            o += 3;
        } else {
            o = put_encoded(o, values[i]);
        }
    }
    *o = '\0';
    return out;
}
