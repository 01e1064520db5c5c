/*
 * bench_export.c — POST /users/export/segment throughput: N generated users, a segment of every
 * identified user (80 % of them), exported as NDJSON over HTTP with the default fields
 * (braze_id, external_id). Counts the lines received. Prints one JSON object.
 *
 * usage: bench_export COHORTD_BIN [USERS]
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_users.h"

/* Counts in a local (a store through `lines` could alias p[] and would be made per byte). */
static size_t count_lines(char *p, size_t s, size_t n, void *ud) {
    long *lines = ud, found = 0;
    for (const char *c = p, *end = p + s * n; (c = memchr(c, '\n', (size_t)(end - c))); c++)
        found++;
    *lines += found;
    return s * n;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_export COHORTD_BIN [USERS]\n");
        return 2;
    }
    uint32_t n = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1000000;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct bench_server b;
    if (bench_prepare(&b, argv[1], n) != 0 || bench_start(&b, argv[1]) != 0)
        return 1;
    char created[512];
    if (bench_post_rest(&b, "/segments/create",
                        "{\"name\":\"identified\",\"filter\":{\"identified\":true}}", created,
                        sizeof created) != 201)
        return 1;
    json_t *j = json_loads(created, 0, NULL);
    char body[256];
    snprintf(body, sizeof body, "{\"segment_id\":\"%s\"}",
             json_string_value(json_object_get(j, "segment_id")));
    json_decref(j);
    long lines = 0;
    double t0 = bench_now();
    int status = bench_post_rest_to(&b, "/users/export/segment/stream", body, count_lines, &lines);
    double s = bench_now() - t0;
    printf("{\"scenario\":\"export\",\"users\":%u,\"status\":%d,\"exported\":%ld,\"seconds\":%.2f,"
           "\"users_per_s\":%.0f}\n",
           n, status, lines, s, (double)lines / s);
    bench_cleanup(&b);
    curl_global_cleanup();
    return status == 200 ? 0 : 1;
}
