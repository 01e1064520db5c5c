/* import_load.c — one level of import load against one server; see import_load.h. */
#include "import_load.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODIES_PER_CLIENT 32

struct client {
    const struct bench_server *to;
    char *bodies[BODIES_PER_CLIENT];
    int n;
    double *lat_ms;
    int failures;
    int shed;
};

static size_t discard(char *p, size_t s, size_t n, void *ud) {
    (void)p;
    (void)ud;
    return s * n;
}

static void *run_client(void *arg) {
    struct client *w = arg;
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/partners/heap/cohorts/users", w->to->port);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    for (int i = 0; i < w->n; i++) {
        const char *body = w->bodies[i % BODIES_PER_CLIENT];
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        double t0 = bench_now();
        long status = 0;
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        w->lat_ms[i] = (bench_now() - t0) * 1000;
        if (status == 429)
            w->shed++;
        else if (status != 201)
            w->failures++;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

void bench_import_level(const struct bench_server *to, uint32_t n_users, int total, int conc,
                        unsigned seed, struct bench_level *out) {
    struct client w[BENCH_MAX_CLIENTS];
    pthread_t th[BENCH_MAX_CLIENTS];
    int per = total / conc;
    for (int i = 0; i < conc; i++) {
        w[i] = (struct client){.to = to, .n = per};
        unsigned s = seed + (unsigned)i * 7919u;
        for (int k = 0; k < BODIES_PER_CLIENT; k++)
            w[i].bodies[k] = bench_import_body_new(to, n_users, &s);
        w[i].lat_ms = calloc((size_t)per, sizeof(double));
    }
    double cpu0 = bench_cpu_seconds(to->pid), s0 = bench_now();
    for (int i = 0; i < conc; i++)
        pthread_create(&th[i], NULL, run_client, &w[i]);
    for (int i = 0; i < conc; i++)
        pthread_join(th[i], NULL);
    double wall = bench_now() - s0;
    *out = (struct bench_level){
        .requests = per * conc, .wall_s = wall, .server_cpu_s = bench_cpu_seconds(to->pid) - cpu0};
    double *all = calloc((size_t)out->requests, sizeof(double));
    for (int i = 0; i < conc; i++) {
        memcpy(all + (size_t)i * (size_t)per, w[i].lat_ms, (size_t)per * sizeof(double));
        out->failures += w[i].failures;
        out->shed += w[i].shed;
        for (int k = 0; k < BODIES_PER_CLIENT; k++)
            free(w[i].bodies[k]);
        free(w[i].lat_ms);
    }
    bench_sort(all, (size_t)out->requests);
    /* only applied imports count: a shed request is a fast refusal, not work done */
    out->ids_per_s = (double)(out->requests - out->shed) * BENCH_IDS_PER_REQUEST / wall;
    out->requests_per_s = out->requests / wall;
    out->p50_ms = bench_quantile(all, (size_t)out->requests, 0.5);
    out->p99_ms = bench_quantile(all, (size_t)out->requests, 0.99);
    free(all);
}
