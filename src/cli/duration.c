/*
 * duration.c — durations on the command line: a whole number and a unit, "200ms", "90s",
 * "15m", "12h", "30d", or a bare "0" (which options read as "never" / "forever").
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_duration(const char *text, int64_t max_ms, int64_t *ms) {
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    if (!text || *text < '0' || *text > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text)
        return -1;
    if (*end == '\0') {
        if (v != 0)
            return -1; /* a unit is required, except for 0 */
        *ms = 0;
        return 0;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].unit) == 0) {
            if (v > max_ms / units[i].ms)
                return -1;
            *ms = (int64_t)v * units[i].ms;
            return 0;
        }
    return -1;
}
