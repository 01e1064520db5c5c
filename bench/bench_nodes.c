/*
 * bench_nodes.c — two nodes on one PostgreSQL store (COHORTD_STORE, as bench_import): N users,
 * then 1000-id partner imports sent straight to the owner and the same through the other
 * node, which forwards them; then kill -9 of the owner and the time until the other node
 * serves the workspace (its /healthz lists it: lease expiry, take-over and load).
 * Usage: bench_nodes COHORTD_BIN [USERS] [REQUESTS] [CONCURRENCY]
 */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_users.h"

#define BODIES 32
#define MAX_THREADS 32
#define LEASE "2s"
#define LEASE_S 2.0

struct worker {
    const struct bench_server *to;
    char *bodies[BODIES];
    int n;
    double *lat_ms;
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
    snprintf(url, sizeof url, "http://127.0.0.1:%d/partners/heap/cohorts/users", w->to->port);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    for (int i = 0; i < w->n; i++) {
        const char *body = w->bodies[i % BODIES];
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

/* One level of imports to `to`; prints its JSON line; returns the failures. */
static int imports(const char *how, const struct bench_server *to, uint32_t n_users, int total,
                   int conc) {
    struct worker w[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    unsigned seed = 2463534242u;
    int per = total / conc;
    for (int i = 0; i < conc; i++) {
        w[i] = (struct worker){.to = to, .n = per};
        for (int k = 0; k < BODIES; k++)
            w[i].bodies[k] = bench_import_body_new(to, n_users, &seed);
        w[i].lat_ms = calloc((size_t)per, sizeof(double));
    }
    double s0 = bench_now();
    for (int i = 0; i < conc; i++)
        pthread_create(&th[i], NULL, work, &w[i]);
    for (int i = 0; i < conc; i++)
        pthread_join(th[i], NULL);
    double wall = bench_now() - s0;
    double *all = calloc((size_t)(per * conc), sizeof(double));
    int fails = 0;
    for (int i = 0; i < conc; i++) {
        memcpy(all + (size_t)i * (size_t)per, w[i].lat_ms, (size_t)per * sizeof(double));
        fails += w[i].failures;
        for (int k = 0; k < BODIES; k++)
            free(w[i].bodies[k]);
        free(w[i].lat_ms);
    }
    bench_sort(all, (size_t)(per * conc));
    printf("{\"scenario\":\"nodes_import\",\"via\":\"%s\",\"users\":%u,\"concurrency\":%d,"
           "\"requests\":%d,\"failures\":%d,\"ids_per_s\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f}\n",
           how, n_users, conc, per * conc, fails,
           (double)(per * conc) * BENCH_IDS_PER_REQUEST / wall,
           bench_quantile(all, (size_t)(per * conc), 0.5),
           bench_quantile(all, (size_t)(per * conc), 0.99));
    fflush(stdout);
    free(all);
    return fails;
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
    if (conc < 1 || conc > MAX_THREADS)
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
