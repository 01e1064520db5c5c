/*
 * bench_import.c — partner cohort import throughput over HTTP, end to end: N generated users,
 * 1000-id requests to POST /partners/heap/cohorts/users (80 % external ids, 10 % aliases,
 * 10 % device ids; 10 % of each request's ids are removals) over 20 cohorts, at concurrency
 * 1, 2, 4, 8, 16 and 32 with keep-alive connections (the higher levels are where group commit
 * pays off: more requests in flight share one fsync). Every answer is checked (201). Prints one
 * JSON object per concurrency level with request latency p50 / p99, then a summary line for
 * the best level.
 *
 * usage: bench_import COHORTD_BIN [USERS] [REQUESTS_PER_LEVEL]
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_users.h"

#define BODIES_PER_THREAD 32
#define MAX_CONCURRENCY 32

struct worker {
    const struct bench_server *b;
    char *bodies[BODIES_PER_THREAD];
    double *lat_ms;
    uint32_t n_users;
    int n_requests;
    unsigned seed;
    int failures;
};

static size_t discard(char *p, size_t s, size_t n, void *ud) {
    (void)p;
    (void)ud;
    return s * n;
}

static void *work(void *arg) {
    struct worker *w = arg;
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/partners/heap/cohorts/users", w->b->port);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    for (int i = 0; i < w->n_requests; i++) {
        const char *body = w->bodies[i % BODIES_PER_THREAD];
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        double t0 = bench_now();
        long status = 0;
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        w->lat_ms[i] = (bench_now() - t0) * 1000;
        if (status != 201)
            w->failures++;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_import COHORTD_BIN [USERS] [REQUESTS_PER_LEVEL]\n");
        return 2;
    }
    const char *bin = argv[1];
    uint32_t n_users = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1000000;
    int per_level = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 2000;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct bench_server b;
    double t0 = bench_now();
    if (bench_prepare(&b, bin, n_users) != 0) {
        fprintf(stderr, "bench_import: cannot prepare %u users\n", n_users);
        return 1;
    }
    double gen_s = bench_now() - t0;
    if (bench_start(&b, bin) != 0) {
        fprintf(stderr, "bench_import: server did not start; see %s/server.log\n", b.data);
        return 1;
    }
    printf("{\"scenario\":\"startup\",\"users\":%u,\"generate_s\":%.2f,\"startup_s\":%.3f,"
           "\"rss_bytes\":%ld}\n",
           n_users, gen_s, b.startup_s, bench_rss_bytes(b.pid));
    double best = 0, best_p50 = 0, best_p99 = 0;
    int best_c = 0, failed = 0;
    static const int levels[] = {1, 2, 4, 8, 16, MAX_CONCURRENCY};
    for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
        int c = levels[l];
        struct worker w[MAX_CONCURRENCY];
        pthread_t th[MAX_CONCURRENCY];
        int per_thread = per_level / c;
        for (int i = 0; i < c; i++) {
            w[i] = (struct worker){.b = &b,
                                   .n_users = n_users,
                                   .n_requests = per_thread,
                                   .seed = 2463534242u + (unsigned)(i * 7919 + c)};
            for (int k = 0; k < BODIES_PER_THREAD; k++)
                w[i].bodies[k] = bench_import_body_new(&b, n_users, &w[i].seed);
            w[i].lat_ms = calloc((size_t)per_thread, sizeof(double));
        }
        double cpu0 = bench_cpu_seconds(b.pid), s0 = bench_now();
        for (int i = 0; i < c; i++)
            pthread_create(&th[i], NULL, work, &w[i]);
        for (int i = 0; i < c; i++)
            pthread_join(th[i], NULL);
        double wall = bench_now() - s0, cpu = bench_cpu_seconds(b.pid) - cpu0;
        int total = per_thread * c, fails = 0;
        double *all = calloc((size_t)total, sizeof(double));
        for (int i = 0; i < c; i++) {
            memcpy(all + (size_t)i * (size_t)per_thread, w[i].lat_ms,
                   (size_t)per_thread * sizeof(double));
            fails += w[i].failures;
            for (int k = 0; k < BODIES_PER_THREAD; k++)
                free(w[i].bodies[k]);
            free(w[i].lat_ms);
        }
        bench_sort(all, (size_t)total);
        double ids_s = (double)total * BENCH_IDS_PER_REQUEST / wall;
        double p50 = bench_quantile(all, (size_t)total, 0.5);
        double p99 = bench_quantile(all, (size_t)total, 0.99);
        printf("{\"scenario\":\"import\",\"concurrency\":%d,\"requests\":%d,\"failures\":%d,"
               "\"ids_per_s\":%.0f,\"requests_per_s\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
               "\"server_cpu_s\":%.2f,\"server_cores_busy\":%.2f}\n",
               c, total, fails, ids_s, total / wall, p50, p99, cpu, cpu / wall);
        fflush(stdout);
        failed += fails;
        if (ids_s > best && fails == 0) {
            best = ids_s;
            best_p50 = p50;
            best_p99 = p99;
            best_c = c;
        }
        free(all);
    }
    printf("{\"scenario\":\"import_best\",\"users\":%u,\"cohortd_ids_per_s\":%.0f,"
           "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"concurrency\":%d,\"rss_bytes_after\":%ld}\n",
           n_users, best, best_p50, best_p99, best_c, bench_rss_bytes(b.pid));
    bench_cleanup(&b);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
