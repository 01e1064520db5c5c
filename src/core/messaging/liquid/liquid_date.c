/*
 * liquid_date.c — times in Liquid: what a value means as a time ("now", "today", Unix seconds,
 * ISO 8601 texts with or without an offset), the date filter (strftime, in the value's own
 * offset, UTC when it has none) and Braze's time_zone filter, which moves a time to a named
 * zone of the system's tz database (/usr/share/zoneinfo, read as TZif; no process-wide TZ is
 * touched, so renders on other threads are unaffected) and prints it as Ruby prints a Time:
 * "2024-05-02 04:15:00 -0400".
 */
#include "core/messaging/liquid/liquid_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/timeutil.h"

#define ZONEINFO "/usr/share/zoneinfo/"
#define TZIF_MAX 262144

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* "YYYY-MM-DD[( |T)HH:MM[:SS[.fff]]][ ][Z|±HH[:]MM]" */
static bool parse_iso(const char *s, int64_t *secs, int *offset_min) {
    int y, mo, d, h = 0, mi = 0, se = 0;
    *offset_min = 0;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > 31)
        return false;
    const char *p = s + 10;
    if ((*p == 'T' || *p == ' ') && digits(p + 1, 2, &h) && p[3] == ':' && digits(p + 4, 2, &mi)) {
        p += 6;
        if (*p == ':' && digits(p + 1, 2, &se))
            p += 3;
        if (*p == '.')
            for (p++; isdigit((unsigned char)*p); p++)
                ;
    }
    if (*p == ' ')
        p++;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om = 0;
        int sign = *p == '-' ? -1 : 1;
        if (!digits(p + 1, 2, &oh))
            return false;
        p += 3;
        if (*p == ':')
            p++;
        if (digits(p, 2, &om))
            p += 2;
        *offset_min = sign * (oh * 60 + om);
    } else if (*p == 'U' && strncmp(p, "UTC", 3) == 0) {
        p += 3;
    }
    if (*p)
        return false;
    *secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + (int64_t)h * 3600 +
            (int64_t)mi * 60 + se - (int64_t)*offset_min * 60;
    return true;
}

/* Seconds of 9999-12-31T23:59:59Z: times further from 1970 than this are not dates. */
#define LQ_DATE_MAX_SECS 253402300799.0

bool lq_time_of(const json_t *v, int64_t now_ms, int64_t *secs, int *offset_min) {
    *offset_min = 0;
    if (json_is_number(v)) {
        double x = json_number_value(v);
        if (!(x >= -LQ_DATE_MAX_SECS && x <= LQ_DATE_MAX_SECS))
            return false; /* not a time any calendar formats: the value stays as it is */
        *secs = (int64_t)x;
        return true;
    }
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    if (strcmp(s, "now") == 0 || strcmp(s, "today") == 0) {
        *secs = (now_ms ? now_ms : time_now_ms()) / 1000;
        return true;
    }
    char *end = NULL;
    long long n = strtoll(s, &end, 10);
    if (*s && end && !*end) {
        if (n < -(long long)LQ_DATE_MAX_SECS || n > (long long)LQ_DATE_MAX_SECS)
            return false;
        *secs = n;
        return true;
    }
    return parse_iso(s, secs, offset_min);
}

/* The broken-down time of secs shifted by offset. */
static void broken_down(int64_t secs, int offset_min, struct tm *tm) {
    time_t t = (time_t)(secs + (int64_t)offset_min * 60);
    gmtime_r(&t, tm);
}

static void put_offset(struct lq_buf *b, int offset_min, bool colon) {
    char text[16];
    int a = offset_min < 0 ? -offset_min : offset_min;
    snprintf(text, sizeof text, "%c%02d%s%02d", offset_min < 0 ? '-' : '+', a / 60,
             colon ? ":" : "", a % 60);
    lq_puts(b, text);
}

/* strftime of fmt, with what glibc cannot know done here: %z and %Z from the value's offset,
 * %s from its seconds, Ruby's %L (milliseconds) as 000. */
static char *format_time(const char *fmt, int64_t secs, int offset_min) {
    struct tm tm;
    broken_down(secs, offset_min, &tm);
    struct lq_buf b = {0};
    for (const char *p = fmt; *p; p++) {
        if (*p != '%' || !p[1]) {
            lq_put(&b, p, 1);
            continue;
        }
        /* a conversion with its flags: %-d, %_m, %^a, %:z … */
        const char *q = p + 1;
        while (*q && strchr("-_0^#:", *q))
            q++;
        if (!*q) {
            lq_puts(&b, p);
            break;
        }
        char conv = *q;
        char text[128];
        if (conv == 'z') {
            put_offset(&b, offset_min, q > p + 1 && q[-1] == ':');
        } else if (conv == 'Z') {
            if (offset_min == 0)
                lq_puts(&b, "UTC");
            else
                put_offset(&b, offset_min, false);
        } else if (conv == 's') {
            snprintf(text, sizeof text, "%lld", (long long)secs);
            lq_puts(&b, text);
        } else if (conv == 'L') {
            lq_puts(&b, "000");
        } else {
            char one[16];
            size_t len = (size_t)(q - p) + 1;
            if (len >= sizeof one)
                len = sizeof one - 1;
            memcpy(one, p, len);
            one[len] = '\0';
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
            /* one conversion of the template's format, checked to be one above */
            size_t got = strftime(text, sizeof text, one, &tm);
#pragma GCC diagnostic pop
            lq_put(&b, text, got);
        }
        p = q;
    }
    return lq_buf_take(&b);
}

json_t *lq_filter_date(struct lq_filter_ctx *c, const json_t *in, json_t *const *a, size_t n) {
    (void)n;
    int64_t secs;
    int offset;
    if (!json_is_string(a[0]) || json_string_length(a[0]) == 0 || !lq_truthy(in) ||
        !lq_time_of(in, c->vars->now_ms, &secs, &offset))
        return json_incref((json_t *)in);
    char *text = format_time(json_string_value(a[0]), secs, offset);
    json_t *r = text ? json_stringn_nocheck(text, strlen(text)) : NULL;
    free(text);
    return r;
}

/* ---- time zones ---- */

static int64_t be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    if (n == 4)
        return (int32_t)(uint32_t)v;
    return (int64_t)v;
}

/* The UTC offset (seconds) of zone `name` at secs from its TZif file; false when the zone is
 * unknown. After the file's last transition its last offset holds. */
static bool zone_offset(const char *name, int64_t secs, int64_t *offset) {
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_-+/", *p))
            return false;
    if (!*name || name[0] == '/' || strstr(name, "..") || strlen(name) > 64)
        return false;
    char path[128];
    snprintf(path, sizeof path, ZONEINFO "%s", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    unsigned char *d = malloc(TZIF_MAX);
    size_t len = d ? fread(d, 1, TZIF_MAX, f) : 0;
    fclose(f);
    bool ok = false;
    if (len >= 44 && memcmp(d, "TZif", 4) == 0) {
        const unsigned char *h = d;
        int tsize = 4;
        int64_t cnt[6];
        for (int i = 0; i < 6; i++)
            cnt[i] = be(h + 20 + (size_t)4 * (size_t)i, 4);
        size_t v1 = 44 + (size_t)(cnt[3] * 5 + cnt[4] * 6 + cnt[5] + cnt[2] * 8 + cnt[1] + cnt[0]);
        if (d[4] >= '2' && len >= v1 + 44 && memcmp(d + v1, "TZif", 4) == 0) {
            h = d + v1; /* the second, 64-bit block */
            tsize = 8;
            for (int i = 0; i < 6; i++)
                cnt[i] = be(h + 20 + (size_t)4 * (size_t)i, 4);
        }
        int64_t timecnt = cnt[3], typecnt = cnt[4];
        const unsigned char *times = h + 44, *idx = times + timecnt * tsize, *types = idx + timecnt;
        if (typecnt > 0 && types + typecnt * 6 <= d + len) {
            int64_t type = 0;
            /* the first non-DST type before any transition, else the last transition's */
            for (int64_t i = 0; i < timecnt && be(times + i * tsize, tsize) <= secs; i++)
                type = idx[i];
            if (type < typecnt) {
                *offset = be(types + type * 6, 4);
                ok = true;
            }
        }
    }
    free(d);
    return ok;
}

json_t *lq_filter_time_zone(struct lq_filter_ctx *c, const json_t *in, json_t *const *a, size_t n) {
    (void)n;
    int64_t secs, offset = 0;
    int given;
    if (!lq_truthy(in) || !lq_time_of(in, c->vars->now_ms, &secs, &given))
        return json_incref((json_t *)in);
    const char *zone = json_is_string(a[0]) ? json_string_value(a[0]) : "";
    int oh, om;
    if ((zone[0] == '+' || zone[0] == '-') && strlen(zone) == 6 && zone[3] == ':' &&
        digits(zone + 1, 2, &oh) && digits(zone + 4, 2, &om))
        offset = (zone[0] == '-' ? -1 : 1) * ((int64_t)oh * 3600 + (int64_t)om * 60);
    else if (!zone_offset(zone, secs, &offset))
        return json_incref((json_t *)in); /* an unknown zone leaves the time as it was */
    char *text = format_time("%Y-%m-%d %H:%M:%S %z", secs, (int)(offset / 60));
    json_t *r = text ? json_stringn_nocheck(text, strlen(text)) : NULL;
    free(text);
    return r;
}
