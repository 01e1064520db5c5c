/*
 * bench_nodes.c — two nodes on one PostgreSQL store (COHORTD_STORE, as bench_import): N users,
 * then 1000-id partner imports sent straight to the owner and the same through the other
 * node, which forwards them; then kill -9 of the owner and the time until the other node
 * serves the workspace (its /healthz lists it: lease expiry, take-over and load).
 * Usage: bench_nodes COHORTD_BIN [USERS] [REQUESTS] [CONCURRENCY]
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_users.h"
#include "import_load.h"

#define LEASE "2s"
#define LEASE_S 2.0

/* One level of imports to `to`; prints its JSON line; returns the failures (a 429 is shed,
 * not a failure). */
static int imports(const char *how, const struct bench_server *to, uint32_t n_users, int total,
                   int conc) {
    struct bench_level v;
    bench_import_level(to, n_users, total, conc, 2463534242u, &v);
    printf("{\"scenario\":\"nodes_import\",\"via\":\"%s\",\"users\":%u,\"concurrency\":%d,"
           "\"requests\":%d,\"failures\":%d,\"shed\":%d,\"ids_per_s\":%.0f,\"p50_ms\":%.3f,"
           "\"p99_ms\":%.3f}\n",
           how, n_users, conc, v.requests, v.failures, v.shed, v.ids_per_s, v.p50_ms, v.p99_ms);
    fflush(stdout);
    return v.failures;
}

static size_t keep(char *p, size_t s, size_t n, void *ud) {
    char *buf = ud;
    size_t have = strlen(buf), k = s * n;
    if (have + k < 4096) {
        memcpy(buf + have, p, k);
        buf[have + k] = '\0';
    }
    return k;
}

/* Whether node b's /healthz lists a workspace. */
static int owns_any(const struct bench_server *b) {
    char url[64], body[4096] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", b->port);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 2L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, (void *)body);
    int ok = curl_easy_perform(c) == CURLE_OK && strstr(body, "\"workspaces\":[\"") != NULL;
    curl_easy_cleanup(c);
    return ok;
}

int main(int argc, char **argv) {
    if (argc < 2 || !getenv("COHORTD_STORE")) {
        fprintf(stderr, "usage: COHORTD_STORE=postgresql://… bench_nodes COHORTD_BIN [USERS] "
                        "[REQUESTS] [CONCURRENCY]\n");
        return 2;
    }
    const char *bin = argv[1];
    uint32_t n_users = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1000000;
    int requests = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 800;
    int conc = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 8;
    if (conc < 1 || conc > BENCH_MAX_CLIENTS)
        conc = 8;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    setenv("COHORTD_LEASE_TIME", LEASE, 1);
    struct bench_server a, b;
    if (bench_prepare(&a, bin, n_users) != 0) {
        fprintf(stderr, "bench_nodes: cannot prepare %u users\n", n_users);
        return 1;
    }
    setenv("COHORTD_NODE_ID", "bench-a", 1);
    if (bench_start(&a, bin) != 0) {
        fprintf(stderr, "bench_nodes: node a did not start; see %s/server.log\n", a.data);
        return 1;
    }
    b = a;
    b.pid = 0;
    snprintf(b.data, sizeof b.data, "/tmp/cohortd-bench-XXXXXX");
    setenv("COHORTD_NODE_ID", "bench-b", 1);
    if (!mkdtemp(b.data) || bench_start(&b, bin) != 0) {
        fprintf(stderr, "bench_nodes: node b did not start; see %s/server.log\n", b.data);
        bench_cleanup(&a);
        return 1;
    }
    int failed = imports("direct", &a, n_users, requests, conc);
    failed += imports("forwarded", &b, n_users, requests, conc);
    failed += imports("direct", &a, n_users, requests, conc); /* the first run warms caches */
    /* kill -9 of the owner: until the other node serves the workspace */
    kill(a.pid, SIGKILL);
    waitpid(a.pid, NULL, 0);
    a.pid = 0;
    double t0 = bench_now(), took = -1;
    while (bench_now() - t0 < 120) {
        if (owns_any(&b)) {
            took = bench_now() - t0;
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    printf("{\"scenario\":\"takeover\",\"users\":%u,\"lease_s\":%.1f,\"takeover_s\":%.2f,"
           "\"after_lease_s\":%.2f}\n",
           n_users, LEASE_S, took, took < 0 ? -1 : took - LEASE_S);
    bench_cleanup(&b);
    bench_cleanup(&a);
    curl_global_cleanup();
    return failed || took < 0 ? 1 : 0;
}
