/*
 * bench_import.c — partner cohort import throughput over HTTP, end to end: N generated users,
 * 1000-id requests to POST /partners/heap/cohorts/users (80 % external ids, 10 % aliases,
 * 10 % device ids; 10 % of each request's ids are removals) over 20 cohorts, at concurrency
 * 1, 2, 4, 8, 16 and 32 with keep-alive connections (the higher levels are where group commit
 * pays off: more requests in flight share one fsync). Every answer is checked: 201, or 429 when
 * the write queue is full (counted as shed; only applied imports count in ids/s); anything
 * else is a failure and fails the run. Prints one
 * JSON object per concurrency level with request latency p50 / p99, then a summary line for
 * the best level.
 *
 * usage: bench_import COHORTD_BIN [USERS] [REQUESTS_PER_LEVEL]
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_users.h"
#include "import_load.h"

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
    bench_settle(&b);
    printf("{\"scenario\":\"startup\",\"users\":%u,\"generate_s\":%.2f,\"startup_s\":%.3f,"
           "\"rss_bytes\":%ld}\n",
           n_users, gen_s, b.startup_s, bench_rss_bytes(b.pid));
    double best = 0, best_p50 = 0, best_p99 = 0;
    int best_c = 0, failed = 0;
    static const int levels[] = {1, 2, 4, 8, 16, BENCH_MAX_CLIENTS};
    for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
        int c = levels[l];
        struct bench_level v;
        bench_import_level(&b, n_users, per_level, c, 2463534242u + (unsigned)c, &v);
        printf("{\"scenario\":\"import\",\"concurrency\":%d,\"requests\":%d,\"failures\":%d,"
               "\"shed\":%d,\"ids_per_s\":%.0f,\"requests_per_s\":%.0f,\"p50_ms\":%.3f,"
               "\"p99_ms\":%.3f,\"server_cpu_s\":%.2f,\"server_cores_busy\":%.2f}\n",
               c, v.requests, v.failures, v.shed, v.ids_per_s, v.requests_per_s, v.p50_ms, v.p99_ms,
               v.server_cpu_s, v.server_cpu_s / v.wall_s);
        fflush(stdout);
        failed += v.failures;
        if (v.ids_per_s > best && v.failures == 0) {
            best = v.ids_per_s;
            best_p50 = v.p50_ms;
            best_p99 = v.p99_ms;
            best_c = c;
        }
    }
    printf("{\"scenario\":\"import_best\",\"users\":%u,\"cohortd_ids_per_s\":%.0f,"
           "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"concurrency\":%d,\"rss_bytes_after\":%ld}\n",
           n_users, best, best_p50, best_p99, best_c, bench_rss_bytes(b.pid));
    bench_cleanup(&b);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
