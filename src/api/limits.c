/* limits.c — the 400 answers of the limits table (see limits.h). */
#include "api/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Replies 400 with text (owned, freed here; NULL when formatting it failed). */
static void refuse(struct http_response *res, char *text) {
    http_reply_message(res, 400, text ? text : "a value is over its limit (docs/limits.md)");
    free(text);
}

bool api_limit_len(struct http_response *res, const char *field, const char *s, size_t max) {
    if (!s || strlen(s) <= max)
        return true;
    char *text = NULL;
    refuse(res, asprintf(&text, API_LIMIT_LEN_TEXT, field, max) < 0 ? NULL : text);
    return false;
}

bool api_limit_count(struct http_response *res, const char *field, size_t n, size_t max) {
    if (n <= max)
        return true;
    char *text = NULL;
    refuse(res, asprintf(&text, API_LIMIT_COUNT_TEXT, field, max) < 0 ? NULL : text);
    return false;
}
