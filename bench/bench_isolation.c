/*
 * bench_isolation.c — does a heavy import into one workspace slow down the writes and reads of
 * another? One server, two workspaces: A holds the N generated users (as in bench_import); B is
 * a second workspace with its own REST API key (`cohortd workspace create`) and B_USERS users of
 * its own, created with /users/track before measuring ("plan" is "pro" for every third one,
 * "score" starts at 0).
 *
 * B's client, one keep-alive connection, alternates B_OPS one-user /users/track writes (a new
 * "score" on an existing user, `_update_existing_only` so that a miss is an error, never a new
 * user) with B_OPS previews of the segment "plan equals pro AND score >= 0", whose exact size
 * is known (every third user) and does not change with the writes.
 *   phase "alone":      nothing else runs;
 *   phase "under_load": 4 threads import into A at full speed (1000-id partner cohort requests,
 *                       as bench_import); B starts once the import is running, and A's ids/s
 *                       counts the requests completed while B runs.
 * Every answer is checked (B: 201 with one attribute processed and no errors, 200 with the exact
 * size; A: 201 with all 1000 ids received); any failure makes the bench exit 1.
 * Prints one JSON object per phase.
 *
 * usage: bench_isolation COHORTD_BIN [USERS] [B_OPS] [B_USERS]
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_users.h"

#define LOAD_THREADS 4
#define BODIES_PER_THREAD 32
#define TRACK_BATCH 75 /* /users/track takes at most 75 attributes objects */
#define REPLY_CAP 4096
/* the import must be in full swing before B measures: this many requests answered first */
#define WARM_REQUESTS (2L * LOAD_THREADS)

static const char PREVIEW_BODY[] =
    "{\"filter\":{\"and\":[{\"attribute\":\"plan\",\"op\":\"equals\",\"value\":\"pro\"},"
    "{\"attribute\":\"score\",\"op\":\"gte\",\"value\":0}]}}";

/* One keep-alive HTTP connection to the server that keeps the start of each answer. */
struct client {
    CURL *c;
    struct curl_slist *headers;
    int port;
    char reply[REPLY_CAP];
    size_t reply_len;
};

static size_t keep(char *p, size_t s, size_t n, void *ud) {
    struct client *cl = ud;
    size_t take = REPLY_CAP - 1 - cl->reply_len;
    take = take < s * n ? take : s * n;
    memcpy(cl->reply + cl->reply_len, p, take);
    cl->reply_len += take;
    cl->reply[cl->reply_len] = '\0';
    return s * n;
}

/* rest_key NULL: no Authorization header (the partner API carries its keys in the body). */
static void client_init(struct client *cl, int port, const char *rest_key) {
    memset(cl, 0, sizeof *cl);
    cl->port = port;
    cl->c = curl_easy_init();
    cl->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (rest_key) {
        char auth[128];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", rest_key);
        cl->headers = curl_slist_append(cl->headers, auth);
    }
    curl_easy_setopt(cl->c, CURLOPT_HTTPHEADER, cl->headers);
    curl_easy_setopt(cl->c, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(cl->c, CURLOPT_WRITEDATA, cl);
    curl_easy_setopt(cl->c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(cl->c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(cl->c, CURLOPT_TIMEOUT, 120L); /* a hung server fails the bench */
}

static void client_free(struct client *cl) {
    curl_slist_free_all(cl->headers);
    curl_easy_cleanup(cl->c);
}

/* POSTs body to path; returns the HTTP status (0 when there was none) and the latency in ms. */
static long client_post(struct client *cl, const char *path, const char *body, double *ms) {
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", cl->port, path);
    curl_easy_setopt(cl->c, CURLOPT_URL, url);
    curl_easy_setopt(cl->c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(cl->c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    cl->reply_len = 0;
    cl->reply[0] = '\0';
    long status = 0;
    double t0 = bench_now();
    if (curl_easy_perform(cl->c) == CURLE_OK)
        curl_easy_getinfo(cl->c, CURLINFO_RESPONSE_CODE, &status);
    *ms = (bench_now() - t0) * 1000;
    return status;
}

/* The integer reply field key when the reply is {"message":"success", …} without "errors";
 * -1 otherwise. */
static long long success_int(const char *reply, const char *key) {
    json_t *j = json_loads(reply, 0, NULL);
    const char *msg = json_string_value(json_object_get(j, "message"));
    json_t *v = json_object_get(j, key);
    int ok = msg && strcmp(msg, "success") == 0 && !json_object_get(j, "errors");
    long long out = ok && json_is_integer(v) ? (long long)json_integer_value(v) : -1;
    json_decref(j);
    return out;
}

static int check(const char *what, long status, long want_status, long long got, long long want,
                 const char *reply) {
    if (status == want_status && got == want)
        return 0;
    fprintf(stderr, "bench_isolation: %s: status %ld (want %ld), value %lld (want %lld): %s\n",
            what, status, want_status, got, want, reply);
    return 1;
}

/* Creates workspace name in the data directory; its REST API key goes to key. */
static int workspace_create(const struct bench_server *b, const char *bin, const char *name,
                            char *key, size_t key_len) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' workspace create '%s' --data '%s' --json 2>/dev/null", bin,
             name, b->data);
    json_t *j = bench_cli_json(cmd);
    const char *k = json_string_value(json_object_get(j, "rest_api_key"));
    int rc = k ? 0 : -1;
    if (k)
        snprintf(key, key_len, "%s", k);
    json_decref(j);
    return rc;
}

/* B's users b_1 … b_<n>, TRACK_BATCH per request. Returns the number of failed answers. */
static int seed_b(struct client *cl, uint32_t n) {
    size_t cap = 128 * TRACK_BATCH + 64;
    char *body = malloc(cap);
    int fails = 0;
    for (uint32_t first = 1; first <= n; first += TRACK_BATCH) {
        uint32_t last = first + TRACK_BATCH - 1 < n ? first + TRACK_BATCH - 1 : n;
        size_t len = (size_t)snprintf(body, cap, "{\"attributes\":[");
        for (uint32_t i = first; i <= last; i++)
            len += (size_t)snprintf(body + len, cap - len,
                                    "%s{\"external_id\":\"b_%u\",\"plan\":\"%s\",\"score\":0}",
                                    i == first ? "" : ",", i, i % 3 == 0 ? "pro" : "free");
        snprintf(body + len, cap - len, "]}");
        double ms;
        long st = client_post(cl, "/users/track", body, &ms);
        fails += check("create B users", st, 201, success_int(cl->reply, "attributes_processed"),
                       last - first + 1, cl->reply);
    }
    free(body);
    return fails;
}

struct b_run {
    int n_ops;
    uint32_t n_users;
    unsigned seed;
    int score_base; /* phase k writes scores above every earlier phase's: always a new value */
    double *write_ms, *preview_ms;
    int failures;
};

/* B's measured work: n_ops writes alternating with n_ops previews. */
static void run_b(struct client *cl, struct b_run *r) {
    long long want_size = r->n_users / 3;
    for (int k = 0; k < r->n_ops; k++) {
        char body[160];
        uint32_t u = bench_rand(&r->seed) % r->n_users + 1;
        snprintf(body, sizeof body,
                 "{\"attributes\":[{\"external_id\":\"b_%u\",\"_update_existing_only\":true,"
                 "\"score\":%d}]}",
                 u, r->score_base + k + 1);
        long st = client_post(cl, "/users/track", body, &r->write_ms[k]);
        r->failures +=
            check("B write", st, 201, success_int(cl->reply, "attributes_processed"), 1, cl->reply);
        st = client_post(cl, "/segments/preview", PREVIEW_BODY, &r->preview_ms[k]);
        r->failures +=
            check("B preview", st, 200, success_int(cl->reply, "size"), want_size, cl->reply);
    }
}

struct loader {
    const struct bench_server *b;
    char *bodies[BODIES_PER_THREAD];
    atomic_int *stop;
    atomic_long *done; /* requests answered, all loaders together */
    int failures;
};

static void *load(void *arg) {
    struct loader *l = arg;
    struct client cl;
    client_init(&cl, l->b->port, NULL);
    for (int i = 0; !atomic_load(l->stop); i++) {
        double ms;
        long st =
            client_post(&cl, "/partners/heap/cohorts/users", l->bodies[i % BODIES_PER_THREAD], &ms);
        l->failures += check("A import", st, 201, success_int(cl.reply, "ids_received"),
                             BENCH_IDS_PER_REQUEST, cl.reply);
        atomic_fetch_add(l->done, 1);
    }
    client_free(&cl);
    return NULL;
}

static void report(const char *phase, const struct b_run *r, double a_ids_s, uint32_t n_users) {
    bench_sort(r->write_ms, (size_t)r->n_ops);
    bench_sort(r->preview_ms, (size_t)r->n_ops);
    size_t n = (size_t)r->n_ops;
    printf("{\"scenario\":\"isolation\",\"phase\":\"%s\",\"b_write_p50_ms\":%.3f,"
           "\"b_write_p99_ms\":%.3f,\"b_preview_p50_ms\":%.3f,\"b_preview_p99_ms\":%.3f,"
           "\"a_ids_per_s\":%.0f,\"users\":%u,\"b_users\":%u,\"b_ops\":%d,\"failures\":%d}\n",
           phase, bench_quantile(r->write_ms, n, 0.5), bench_quantile(r->write_ms, n, 0.99),
           bench_quantile(r->preview_ms, n, 0.5), bench_quantile(r->preview_ms, n, 0.99), a_ids_s,
           n_users, r->n_users, r->n_ops, r->failures);
    fflush(stdout);
}

static void pause_ms(long ms) {
    struct timespec ts = {0, ms * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Phase 2: B's run while LOAD_THREADS import into A. Returns A's ids/s during B's run, or -1
 * when A's import failed. */
static double under_load(const struct bench_server *b, uint32_t n_users, struct client *bcl,
                         struct b_run *r) {
    struct loader l[LOAD_THREADS];
    pthread_t th[LOAD_THREADS];
    atomic_int stop = 0;
    atomic_long done = 0;
    for (int i = 0; i < LOAD_THREADS; i++) {
        l[i] = (struct loader){.b = b, .stop = &stop, .done = &done};
        unsigned seed = 2463534242u + (unsigned)(i * 7919);
        for (int k = 0; k < BODIES_PER_THREAD; k++)
            l[i].bodies[k] = bench_import_body_new(b, n_users, &seed);
    }
    for (int i = 0; i < LOAD_THREADS; i++)
        pthread_create(&th[i], NULL, load, &l[i]);
    /* poll until the import is running (failed answers count too: a broken server fails the
     * bench instead of hanging it) */
    for (int i = 0; i < 60000 && atomic_load(&done) < WARM_REQUESTS; i++)
        pause_ms(1);
    long d0 = atomic_load(&done);
    double t0 = bench_now();
    run_b(bcl, r);
    long d1 = atomic_load(&done);
    double wall = bench_now() - t0;
    atomic_store(&stop, 1);
    int fails = 0;
    for (int i = 0; i < LOAD_THREADS; i++) {
        pthread_join(th[i], NULL);
        fails += l[i].failures;
        for (int k = 0; k < BODIES_PER_THREAD; k++)
            free(l[i].bodies[k]);
    }
    if (d0 < WARM_REQUESTS) {
        fprintf(stderr, "bench_isolation: A's import did not get going\n");
        fails++;
    }
    return fails ? -1 : (double)(d1 - d0) * BENCH_IDS_PER_REQUEST / wall;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_isolation COHORTD_BIN [USERS] [B_OPS] [B_USERS]\n");
        return 2;
    }
    const char *bin = argv[1];
    uint32_t n_users = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1000000;
    int n_ops = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 1000;
    uint32_t b_users = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 3000;
    if (n_users < 1 || n_ops < 1 || b_users < 3) {
        fprintf(stderr, "bench_isolation: USERS >= 1, B_OPS >= 1, B_USERS >= 3\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct bench_server b;
    char b_key[64];
    if (bench_prepare(&b, bin, n_users) != 0 ||
        workspace_create(&b, bin, "bench_b", b_key, sizeof b_key) != 0) {
        fprintf(stderr, "bench_isolation: cannot prepare %u users and workspace B\n", n_users);
        return 1;
    }
    if (bench_start(&b, bin) != 0) {
        fprintf(stderr, "bench_isolation: server did not start; see %s/server.log\n", b.data);
        return 1;
    }
    bench_settle(&b);
    struct client bcl;
    client_init(&bcl, b.port, b_key);
    int failed = seed_b(&bcl, b_users);
    struct b_run r = {.n_ops = n_ops, .n_users = b_users};
    r.write_ms = calloc((size_t)n_ops, sizeof(double));
    r.preview_ms = calloc((size_t)n_ops, sizeof(double));
    if (!failed) {
        r.seed = 88172645u;
        run_b(&bcl, &r);
        report("alone", &r, 0, n_users);
        failed += r.failures;
    }
    if (!failed) {
        r.seed = 1234567u;
        r.score_base = n_ops;
        r.failures = 0;
        double a_ids_s = under_load(&b, n_users, &bcl, &r);
        report("under_load", &r, a_ids_s < 0 ? 0 : a_ids_s, n_users);
        failed += r.failures + (a_ids_s < 0);
    }
    free(r.write_ms);
    free(r.preview_ms);
    client_free(&bcl);
    bench_cleanup(&b);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
