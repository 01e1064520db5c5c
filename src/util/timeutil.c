/* timeutil.c — clocks and ISO-8601 parsing and formatting (see timeutil.h). */
#include "util/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <time.h>

int64_t time_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads exactly n digits at *p; advances *p. Returns -1 if they are not all digits. */
static int read_digits(const char **p, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return v;
}

/* Days from 1970-01-01 to the given civil date (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m) {
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

int time_parse_iso8601(const char *text, int64_t *ms) {
    const char *p = text;
    int y = read_digits(&p, 4);
    if (y < 0 || *p++ != '-')
        return -1;
    int mo = read_digits(&p, 2);
    if (mo < 1 || mo > 12 || *p++ != '-')
        return -1;
    int d = read_digits(&p, 2);
    if (d < 1 || d > days_in_month(y, mo))
        return -1;
    int h = 0, mi = 0, s = 0, frac_ms = 0;
    int64_t offset_min = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        h = read_digits(&p, 2);
        if (h < 0 || h > 23 || *p++ != ':')
            return -1;
        mi = read_digits(&p, 2);
        if (mi < 0 || mi > 59)
            return -1;
        if (*p == ':') {
            p++;
            s = read_digits(&p, 2);
            if (s < 0 || s > 60)
                return -1;
            if (*p == ':' && isdigit((unsigned char)p[1])) {
                /* Braze's yyyy-MM-dd'T'HH:mm:ss:SSSZ: milliseconds after a colon, 3 digits */
                p++;
                frac_ms = read_digits(&p, 3);
                if (frac_ms < 0 || isdigit((unsigned char)*p))
                    return -1;
            } else if (*p == '.' || *p == ',') {
                p++;
                if (!isdigit((unsigned char)*p))
                    return -1;
                int scale = 100;
                while (isdigit((unsigned char)*p)) {
                    frac_ms += (*p - '0') * scale;
                    scale /= 10;
                    p++;
                }
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1;
            /* one hour digit before a colon too ("-5:00", as in Braze's own examples) */
            int oh = isdigit((unsigned char)p[0]) && p[1] == ':' ? read_digits(&p, 1)
                                                                 : read_digits(&p, 2);
            if (oh < 0 || oh > 23)
                return -1;
            if (*p == ':')
                p++;
            int om = read_digits(&p, 2);
            if (om < 0 || om > 59)
                return -1;
            offset_min = (int64_t)sign * (oh * 60 + om);
        }
    }
    if (*p != '\0')
        return -1;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + s;
    secs -= offset_min * 60;
    *ms = secs * 1000 + frac_ms;
    return 0;
}

void time_format_iso8601(int64_t ms, char *buf, size_t buf_len) {
    time_t secs = (time_t)(ms / 1000);
    int rem = (int)(ms % 1000);
    if (rem < 0) {
        rem += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, buf_len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rem);
}
