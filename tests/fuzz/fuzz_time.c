/*
 * fuzz_time.c — libFuzzer driver for ISO-8601 parsing (time_parse_iso8601, util/timeutil.c),
 * which reads created_at, event times and schedules from every request. Property: a text that
 * parses formats (time_format_iso8601) into a text that parses back to the same millisecond,
 * for every time whose year has four digits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Millisecond bounds of years 0000 and 9999 (UTC). */
#define YEAR_0_MS (-62167219200000LL)
#define YEAR_10000_MS 253402300800000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    int64_t ms = 0;
    if (time_parse_iso8601(text, &ms) == 0 && ms >= YEAR_0_MS && ms < YEAR_10000_MS) {
        char out[64];
        int64_t again = 0;
        time_format_iso8601(ms, out, sizeof out);
        if (time_parse_iso8601(out, &again) != 0 || again != ms) {
            fprintf(stderr, "fuzz_time: \"%s\" -> %lld -> \"%s\" -> %lld\n", text, (long long)ms,
                    out, (long long)again);
            abort();
        }
    }
    free(text);
    return 0;
}
