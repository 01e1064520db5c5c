/*
 * bench_campaigns.c — webhook campaign throughput: N generated users, a segment of every
 * identified user (80 %), and an immediate campaign whose personalised webhook (external_id in
 * the path, braze_id and a custom attribute in the body) goes to a counting receiver in this
 * process. Measures sends per second from creation until the receiver has one request per
 * member, each outcome recorded durably with its Send event. Baseline, in the same run: the same
 * number of requests from plain libcurl multi at the same concurrency (16, cohortd's default)
 * to the same receiver — the HTTP ceiling without templating, bookkeeping or fsyncs.
 * Prints one JSON object, with the CPU seconds each side used: the server's for the sends, this
 * process's for the sends (its receiver, mostly) and for the baseline (client and receiver).
 *
 * usage: bench_campaigns COHORTD_BIN [USERS]
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_users.h"

#define CONCURRENCY 16

static size_t discard(char *p, size_t s, size_t n, void *ud) {
    (void)p;
    (void)ud;
    return s * n;
}

/* n POSTs to url, CONCURRENCY at a time; returns requests per second. */
static double baseline(const char *url, long n) {
    CURLM *m = curl_multi_init();
    CURL *easy[CONCURRENCY];
    const char *body = "{\"id\":\"65f0c0ffee0123456789abcd\",\"first\":\"x\"}";
    long started = 0, done = 0;
    double t0 = bench_now();
    for (int i = 0; i < CONCURRENCY; i++) {
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_URL, url);
        curl_easy_setopt(easy[i], CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(easy[i], CURLOPT_NOPROXY, "*");
        if (started < n) {
            curl_multi_add_handle(m, easy[i]);
            started++;
        }
    }
    while (done < n) {
        int running = 0, left = 0;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            curl_multi_remove_handle(m, e);
            done++;
            if (started < n) {
                curl_multi_add_handle(m, e);
                started++;
            }
        }
        curl_multi_poll(m, NULL, 0, 10, NULL);
    }
    double rate = (double)n / (bench_now() - t0);
    for (int i = 0; i < CONCURRENCY; i++)
        curl_easy_cleanup(easy[i]);
    curl_multi_cleanup(m);
    return rate;
}

static json_t *post_json(const struct bench_server *b, const char *path, const char *body,
                         int want) {
    char resp[4096];
    int status = bench_post_rest(b, path, body, resp, sizeof resp);
    if (status != want) {
        fprintf(stderr, "bench_campaigns: %s answered %d %s\n", path, status, resp);
        exit(1);
    }
    return json_loads(resp, 0, NULL);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_campaigns COHORTD_BIN [USERS]\n");
        return 2;
    }
    uint32_t n = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 100000;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    unsigned port = 0;
    struct bench_receiver *rcv = bench_receiver_start(&port);
    struct bench_server b;
    if (!rcv || bench_prepare(&b, argv[1], n) != 0 || bench_start(&b, argv[1]) != 0) {
        fprintf(stderr, "bench_campaigns: cannot start cohortd\n");
        return 1;
    }
    bench_settle(&b);
    json_t *seg = post_json(&b, "/segments/create",
                            "{\"name\":\"identified\",\"filter\":{\"identified\":true}}", 201);
    json_t *size = post_json(&b, "/segments/preview", "{\"filter\":{\"identified\":true}}", 200);
    long audience = (long)json_integer_value(json_object_get(size, "size"));
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/baseline", port);
    double self0 = bench_cpu_seconds(getpid());
    double base_rate = baseline(url, audience);
    double base_cpu = bench_cpu_seconds(getpid()) - self0; /* the client and the receiver */
    long before = bench_receiver_requests(rcv);

    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\":\"bench\",\"segment_id\":\"%s\",\"schedule\":{\"type\":\"immediate\"},"
             "\"message\":{\"webhook\":{\"url\":\"http://127.0.0.1:%u/hook/{{${external_id}}}\","
             "\"body\":\"{\\\"id\\\":\\\"{{${braze_id}}}\\\",\\\"first\\\":\\\""
             "{{custom_attribute.${first_name} | default: 'x'}}\\\"}\"}}}",
             json_string_value(json_object_get(seg, "segment_id")), port);
    double cpu0 = bench_cpu_seconds(b.pid), rcv0 = bench_cpu_seconds(getpid());
    double t0 = bench_now(), first = 0;
    json_decref(post_json(&b, "/campaigns/create", body, 201));
    long sent = 0;
    while (sent < audience && bench_now() - t0 < 600) {
        sent = bench_receiver_requests(rcv) - before;
        if (sent && !first)
            first = bench_now();
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    double elapsed = bench_now() - t0;
    double rcv_cpu = bench_cpu_seconds(getpid()) - rcv0; /* the receiver (and this wait loop) */
    double rate = (double)sent / elapsed;
    printf("{\"scenario\":\"campaign_send\",\"users\":%u,\"audience\":%ld,\"sent\":%ld,"
           "\"concurrency\":%d,\"sends_per_s\":%.0f,\"first_send_ms\":%.1f,"
           "\"baseline_requests_per_s\":%.0f,\"ratio_vs_baseline\":%.2f,\"server_cpu_s\":%.2f,"
           "\"receiver_cpu_s\":%.2f,\"baseline_cpu_s\":%.2f}\n",
           n, audience, sent, CONCURRENCY, rate, first ? (first - t0) * 1000 : -1.0, base_rate,
           rate / base_rate, bench_cpu_seconds(b.pid) - cpu0, rcv_cpu, base_cpu);
    json_decref(seg);
    json_decref(size);
    bench_cleanup(&b);
    bench_receiver_stop(rcv);
    curl_global_cleanup();
    return sent >= audience ? 0 : 1;
}
