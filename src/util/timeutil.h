/*
 * timeutil.h — clocks and ISO-8601: the REST side speaks ISO-8601 strings, Currents speaks
 * UNIX seconds, Heap signs with UNIX milliseconds. All times inside cohortd are UNIX
 * milliseconds (int64_t) in UTC.
 */
#ifndef COHORTD_UTIL_TIMEUTIL_H
#define COHORTD_UTIL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Wall clock, UNIX milliseconds. */
int64_t time_now_ms(void);

/*
 * Parses an ISO-8601 date-time: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS[.frac]]" or with a space
 * for T, then optional "Z" or "+hh:mm"/"-hh:mm"/"+hhmm" (also "-h:mm"). No zone means UTC.
 * Fractions of any length are accepted (kept to the millisecond); so is Braze's
 * "yyyy-MM-dd'T'HH:mm:ss:SSSZ", three millisecond digits after a colon. Returns 0 and sets
 * *ms, or -1.
 */
int time_parse_iso8601(const char *text, int64_t *ms);

/* Formats UNIX milliseconds as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (at least 32 bytes). */
void time_format_iso8601(int64_t ms, char *buf, size_t buf_len);

#endif
