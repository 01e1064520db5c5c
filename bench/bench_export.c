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

struct sink {
    char *buf;
    size_t len;
    long lines;
};

static size_t keep(char *p, size_t s, size_t n, void *ud) {
    struct sink *k = ud;
    for (size_t i = 0; i < s * n; i++)
        k->lines += p[i] == '\n';
    if (k->buf) {
        k->buf = realloc(k->buf, k->len + s * n + 1);
        memcpy(k->buf + k->len, p, s * n);
        k->len += s * n;
        k->buf[k->len] = '\0';
    }
    return s * n;
}

static int post(const struct bench_server *b, const char *path, const char *body,
                struct sink *out) {
    char url[256], auth[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", b->port, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", b->rest_key);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, auth);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return (int)status;
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
    struct sink created = {malloc(1), 0, 0};
    created.buf[0] = '\0';
    if (post(&b, "/segments/create", "{\"name\":\"identified\",\"filter\":{\"identified\":true}}",
             &created) != 201)
        return 1;
    json_t *j = json_loads(created.buf, 0, NULL);
    char body[256];
    snprintf(body, sizeof body, "{\"segment_id\":\"%s\"}",
             json_string_value(json_object_get(j, "segment_id")));
    json_decref(j);
    free(created.buf);
    struct sink lines = {NULL, 0, 0};
    double t0 = bench_now();
    int status = post(&b, "/users/export/segment", body, &lines);
    double s = bench_now() - t0;
    printf("{\"scenario\":\"export\",\"users\":%u,\"status\":%d,\"exported\":%ld,\"seconds\":%.2f,"
           "\"users_per_s\":%.0f}\n",
           n, status, lines.lines, s, (double)lines.lines / s);
    bench_cleanup(&b);
    curl_global_cleanup();
    return status == 200 ? 0 : 1;
}
