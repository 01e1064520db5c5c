/* limits.c — the 400 answers of the limits table (see limits.h). */
#include "api/limits.h"

#include <stdio.h>
#include <string.h>

bool api_limit_len(struct http_response *res, const char *field, const char *s, size_t max) {
    if (!s || strlen(s) <= max)
        return true;
    char text[512];
    snprintf(text, sizeof text, "%s is longer than %zu bytes", field, max);
    http_reply_message(res, 400, text);
    return false;
}

bool api_limit_count(struct http_response *res, const char *field, size_t n, size_t max) {
    if (n <= max)
        return true;
    char text[512];
    snprintf(text, sizeof text, "%s has more than %zu items", field, max);
    http_reply_message(res, 400, text);
    return false;
}
