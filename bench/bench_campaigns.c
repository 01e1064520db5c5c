/*
 * bench_campaigns.c — webhook campaign throughput: N generated users, a segment of every
 * identified user (80 %), and an immediate campaign whose personalised webhook (external_id in
 * the path, braze_id and a custom attribute in the body) goes to a counting receiver in this
 * process. Measures sends per second from creation until the receiver has one request per
 * member, each outcome recorded durably with its Send event. Two baselines, in the same run, each
 * the same number of requests from plain libcurl multi at the same concurrency (16, cohortd's
 * default) to the same receiver:
 * - baseline (kept to compare with earlier figures): one fixed URL and body, libcurl's default
 *   headers, proxy variables ignored (NOPROXY "*");
 * - fair_baseline: the requests cohortd sends, made by plain libcurl — each member's own URL
 *   (/hook/<external_id>) and body ({"id":"<braze_id>","first":"x"}), the same header lines
 *   (Idempotency-Key of the same length, "Expect:", User-Agent, Content-Type), built per request
 *   as a plain libcurl client does, and libcurl's proxy-from-environment left on, as cohortd
 *   honours it. So it is the HTTP ceiling without templating, bookkeeping or fsyncs, for the
 *   same HTTP; ratio_vs_fair_baseline is the figure to read, ratio_vs_baseline the old one.
 * Prints one JSON object, with the CPU seconds each side used: the server's for the sends, this
 * process's for the sends (its receiver, mostly) and for each baseline (client and receiver).
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
#include "core/index/identity.h"

#define CONCURRENCY 16

static size_t discard(char *p, size_t s, size_t n, void *ud) {
    (void)p;
    (void)ud;
    return s * n;
}

/* One request of a baseline in flight. */
struct slot {
    CURL *e;
    struct curl_slist *headers;
    char url[96], body[96], key[128];
};

/* Sets sl up for its next request. fair: the request cohortd sends to user uid (its URL and
 * body, the same header lines, built per request as a plain libcurl client does); else the
 * earlier baseline's one fixed URL and body, default headers, no proxy (set once). */
static void next_request(struct slot *sl, unsigned port, bool fair, uint32_t uid) {
    if (!fair) {
        if (!*sl->url) {
            snprintf(sl->url, sizeof sl->url, "http://127.0.0.1:%u/baseline", port);
            curl_easy_setopt(sl->e, CURLOPT_URL, sl->url);
            curl_easy_setopt(sl->e, CURLOPT_POSTFIELDS,
                             "{\"id\":\"65f0c0ffee0123456789abcd\",\"first\":\"x\"}");
            curl_easy_setopt(sl->e, CURLOPT_NOPROXY, "*");
        }
        return;
    }
    uint8_t bid[12];
    char braze_id[BRAZE_ID_LEN + 1];
    identity_new_braze_id(uid, 1700000000000, bid);
    identity_braze_id_text(bid, braze_id);
    snprintf(sl->url, sizeof sl->url, "http://127.0.0.1:%u/hook/user_%u", port, uid);
    snprintf(sl->body, sizeof sl->body, "{\"id\":\"%s\",\"first\":\"x\"}", braze_id);
    /* <dispatch_id (24 hex)>.<step>.<braze_id>, as cohortd's */
    snprintf(sl->key, sizeof sl->key, "Idempotency-Key: 0123456789abcdef01234567.0.%s", braze_id);
    curl_slist_free_all(sl->headers);
    sl->headers = curl_slist_append(NULL, sl->key);
    sl->headers = curl_slist_append(sl->headers, "Expect:");
    sl->headers = curl_slist_append(sl->headers, "User-Agent: cohortd-webhook/1");
    sl->headers = curl_slist_append(sl->headers, "Content-Type: application/json");
    curl_easy_setopt(sl->e, CURLOPT_URL, sl->url);
    curl_easy_setopt(sl->e, CURLOPT_POSTFIELDS, sl->body);
    curl_easy_setopt(sl->e, CURLOPT_HTTPHEADER, sl->headers);
}

/* The next identified user after *uid (the members, in the order cohortd sends to them). */
static uint32_t next_member(uint32_t *uid) {
    while (bench_user_kind(++*uid) != BENCH_EXTERNAL)
        ;
    return *uid;
}

/* n requests of one baseline (next_request), CONCURRENCY at a time; returns requests per
 * second. */
static double baseline(unsigned port, long n, bool fair) {
    CURLM *m = curl_multi_init();
    struct slot slot[CONCURRENCY];
    uint32_t uid = 0;
    long started = 0, done = 0;
    double t0 = bench_now();
    for (int i = 0; i < CONCURRENCY; i++) {
        slot[i] = (struct slot){.e = curl_easy_init()};
        curl_easy_setopt(slot[i].e, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(slot[i].e, CURLOPT_PRIVATE, &slot[i]);
        if (started < n) {
            next_request(&slot[i], port, fair, next_member(&uid));
            curl_multi_add_handle(m, slot[i].e);
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
            struct slot *sl = NULL;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&sl);
            curl_multi_remove_handle(m, e);
            done++;
            if (started < n) {
                next_request(sl, port, fair, next_member(&uid));
                curl_multi_add_handle(m, e);
                started++;
            }
        }
        curl_multi_poll(m, NULL, 0, 10, NULL);
    }
    double rate = (double)n / (bench_now() - t0);
    for (int i = 0; i < CONCURRENCY; i++) {
        curl_easy_cleanup(slot[i].e);
        curl_slist_free_all(slot[i].headers);
    }
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
    double self0 = bench_cpu_seconds(getpid());
    double base_rate = baseline(port, audience, false);
    double base_cpu = bench_cpu_seconds(getpid()) - self0; /* the client and the receiver */
    self0 = bench_cpu_seconds(getpid());
    double fair_rate = baseline(port, audience, true);
    double fair_cpu = bench_cpu_seconds(getpid()) - self0;
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
           "\"baseline_requests_per_s\":%.0f,\"ratio_vs_baseline\":%.2f,"
           "\"fair_baseline_requests_per_s\":%.0f,\"ratio_vs_fair_baseline\":%.2f,"
           "\"server_cpu_s\":%.2f,\"receiver_cpu_s\":%.2f,\"baseline_cpu_s\":%.2f,"
           "\"fair_baseline_cpu_s\":%.2f}\n",
           n, audience, sent, CONCURRENCY, rate, first ? (first - t0) * 1000 : -1.0, base_rate,
           rate / base_rate, fair_rate, rate / fair_rate, bench_cpu_seconds(b.pid) - cpu0, rcv_cpu,
           base_cpu, fair_cpu);
    json_decref(seg);
    json_decref(size);
    bench_cleanup(&b);
    bench_receiver_stop(rcv);
    curl_global_cleanup();
    return sent >= audience ? 0 : 1;
}
