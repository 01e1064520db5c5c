/* limits.c — the 400 answers of the limits table (see limits.h). */
#include "api/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Replies 400 "<field> <what> <max> <unit>"; the field path is quoted whole, however long. */
static void refuse(struct http_response *res, const char *field, const char *what, size_t max,
                   const char *unit) {
    char *text = NULL;
    if (asprintf(&text, "%s %s %zu %s", field, what, max, unit) < 0) {
        http_reply_message(res, 400, "a value is over its limit (docs/limits.md)");
        return;
    }
    http_reply_message(res, 400, text);
    free(text);
}

bool api_limit_len(struct http_response *res, const char *field, const char *s, size_t max) {
    if (!s || strlen(s) <= max)
        return true;
    refuse(res, field, "is longer than", max, "bytes");
    return false;
}

bool api_limit_count(struct http_response *res, const char *field, size_t n, size_t max) {
    if (n <= max)
        return true;
    refuse(res, field, "has more than", max, "items");
    return false;
}
