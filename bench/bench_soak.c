/*
 * bench_soak.c — the soak benchmark (make soak; not a test): a release server with N
 * generated users (default 100 000), then
 *
 *   phase 1: SOAK_CONNECTIONS (200) keep-alive connections for SOAK_SECONDS (120) on a mix of
 *     reads (GET /segments/details 30 %, POST /users/export/ids of 10 users 20 %, GET /healthz
 *     10 %) and writes (POST /users/track of one user's attribute and event 30 %, a 1000-id
 *     partner cohort import 10 %), all on one libcurl multi handle; throughput, p50 / p99 per
 *     kind, answers by status (429s are deliberate load shedding, anything else non-2xx is an
 *     error), and the server's RSS before and after;
 *   phase 2: SOAK_IDLE (1000) connections opened from 127.0.0.2 and left idle (plain sockets),
 *     while one normal request (GET /segments/details on a fresh connection) is timed 100 times
 *     (p50 / p99; target under 50 ms).
 *
 * Prints one JSON object. A server that dies or answers nothing fails the run (exit 1).
 *
 * usage: bench_soak COHORTD_BIN [USERS]
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_users.h"

enum kind { K_SEGMENT, K_EXPORT, K_HEALTH, K_TRACK, K_IMPORT, N_KINDS };
static const char *const kind_name[N_KINDS] = {"segments_details", "users_export_ids", "healthz",
                                               "users_track", "partner_import"};
/* the mix, in percent, in kind order */
static const int kind_pct[N_KINDS] = {30, 20, 10, 30, 10};

#define N_IMPORT_BODIES 32
#define MAX_STATUS 600

struct lat {
    double *v;
    size_t n, cap;
};

struct stats {
    struct lat lat[N_KINDS];
    long status[N_KINDS][MAX_STATUS]; /* [0]: no answer (connection error) */
};

struct slot {
    CURL *easy;
    struct curl_slist *headers;
    char *body; /* owned, or an import body (borrowed) */
    bool own_body;
    enum kind kind;
    double t0;
};

struct soak {
    struct bench_server b;
    uint32_t n_users;
    char segment_id[64];
    char *imports[N_IMPORT_BODIES];
    unsigned seed;
    long n_tracked;
    struct stats st;
};

static void lat_add(struct lat *l, double ms) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v) {
            fprintf(stderr, "soak: out of memory\n");
            exit(1);
        }
    }
    l->v[l->n++] = ms;
}

static size_t discard(char *p, size_t s, size_t n, void *ud) {
    (void)p;
    (void)ud;
    return s * n;
}

static void url_of(const struct soak *k, const char *path, char *url, size_t len) {
    snprintf(url, len, "http://127.0.0.1:%d%s", k->b.port, path);
}

/* Sets up slot's easy handle for a new request of a random kind. */
static void slot_prepare(struct soak *k, struct slot *s) {
    int r = (int)(bench_rand(&k->seed) % 100), acc = 0;
    enum kind kind = K_SEGMENT;
    for (int i = 0; i < N_KINDS; i++) {
        acc += kind_pct[i];
        if (r < acc) {
            kind = (enum kind)i;
            break;
        }
    }
    if (s->own_body)
        free(s->body);
    s->body = NULL;
    s->own_body = false;
    curl_slist_free_all(s->headers);
    s->headers = NULL;
    s->kind = kind;
    char url[256], auth[128];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", k->b.rest_key);
    CURL *e = s->easy;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, s);
    switch (kind) {
    case K_SEGMENT: {
        char path[128];
        snprintf(path, sizeof path, "/segments/details?segment_id=%s", k->segment_id);
        url_of(k, path, url, sizeof url);
        s->headers = curl_slist_append(NULL, auth);
        break;
    }
    case K_EXPORT: {
        url_of(k, "/users/export/ids", url, sizeof url);
        size_t cap = 512, len = 0;
        s->body = malloc(cap);
        s->own_body = true;
        len += (size_t)snprintf(s->body, cap, "{\"external_ids\":[");
        for (int i = 0; i < 10; i++) {
            uint32_t u = 1 + bench_rand(&k->seed) % k->n_users;
            u -= u % 10; /* i % 10 == 0: an identified user (bench_users.h) */
            len += (size_t)snprintf(s->body + len, cap - len, "%s\"user_%u\"", i ? "," : "",
                                    u ? u : 10);
        }
        snprintf(s->body + len, cap - len, "],\"fields_to_export\":[\"external_id\"]}");
        s->headers = curl_slist_append(NULL, auth);
        break;
    }
    case K_HEALTH:
        url_of(k, "/healthz", url, sizeof url);
        break;
    case K_TRACK: {
        url_of(k, "/users/track", url, sizeof url);
        uint32_t u = 1 + bench_rand(&k->seed) % k->n_users;
        u -= u % 10;
        k->n_tracked++;
        s->body = malloc(384);
        s->own_body = true;
        snprintf(s->body, 384,
                 "{\"attributes\":[{\"external_id\":\"user_%u\",\"plan\":\"p%u\",\"visits\":"
                 "{\"inc\":1}}],\"events\":[{\"external_id\":\"user_%u\",\"name\":\"soak\","
                 "\"time\":\"2026-01-01T00:00:00Z\"}]}",
                 u ? u : 10, bench_rand(&k->seed) % 4, u ? u : 10);
        s->headers = curl_slist_append(NULL, auth);
        break;
    }
    case K_IMPORT:
        url_of(k, "/partners/heap/cohorts/users", url, sizeof url);
        s->body = k->imports[bench_rand(&k->seed) % N_IMPORT_BODIES];
        break;
    case N_KINDS:
        break;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    if (s->body) {
        s->headers = curl_slist_append(s->headers, "Content-Type: application/json");
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->body);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
    s->t0 = bench_now();
}

/* Creates the cohorts the imports touch (the first import of each) and the segment the reads
 * ask about. */
static int setup(struct soak *k) {
    for (int c = 0; c < BENCH_N_COHORTS * 2; c++) {
        char *body = NULL;
        if (c < BENCH_N_COHORTS) {
            if (asprintf(&body,
                         "{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":"
                         "\"cohort_%d\",\"name\":\"Cohort %d\",\"created_at\":"
                         "\"2026-01-01T00:00:00Z\"}",
                         k->b.partner_key, k->b.import_key, c, c) < 0)
                return -1;
        } else {
            body = bench_import_body_new(&k->b, k->n_users, &k->seed);
        }
        CURL *e = curl_easy_init();
        char url[256];
        url_of(k, c < BENCH_N_COHORTS ? "/partners/heap/cohorts" : "/partners/heap/cohorts/users",
               url, sizeof url);
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
        long status = 0;
        if (curl_easy_perform(e) == CURLE_OK)
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(e);
        free(body);
        if (status != 201) {
            fprintf(stderr, "soak: setup import answered %ld\n", status);
            return -1;
        }
    }
    char resp[512];
    int st = bench_post_rest(
        &k->b, "/segments/create",
        "{\"name\":\"soak\",\"filter\":{\"and\":[{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":"
        "\"cohort_1\"},\"op\":\"includes\"},{\"not\":{\"cohort\":{\"partner\":\"heap\","
        "\"cohort_id\":\"cohort_2\"},\"op\":\"includes\"}}]}}",
        resp, sizeof resp);
    json_t *j = json_loads(resp, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "segment_id"));
    if (st != 201 || !id) {
        fprintf(stderr, "soak: segment create answered %d %s\n", st, resp);
        json_decref(j);
        return -1;
    }
    snprintf(k->segment_id, sizeof k->segment_id, "%s", id);
    json_decref(j);
    for (int i = 0; i < N_IMPORT_BODIES; i++)
        k->imports[i] = bench_import_body_new(&k->b, k->n_users, &k->seed);
    return 0;
}

static void phase_load(struct soak *k, int n_conn, double seconds) {
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)n_conn);
    struct slot *slots = calloc((size_t)n_conn, sizeof *slots);
    for (int i = 0; i < n_conn; i++) {
        slots[i].easy = curl_easy_init();
        slot_prepare(k, &slots[i]);
        curl_multi_add_handle(m, slots[i].easy);
    }
    double end = bench_now() + seconds;
    int running = 1;
    while (running || bench_now() < end) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct slot *s = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            long status = 0;
            if (msg->data.result == CURLE_OK)
                curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
            if (status < 0 || status >= MAX_STATUS)
                status = 0;
            k->st.status[s->kind][status]++;
            lat_add(&k->st.lat[s->kind], (bench_now() - s->t0) * 1000.0);
            curl_multi_remove_handle(m, s->easy);
            if (bench_now() < end) {
                slot_prepare(k, s);
                curl_multi_add_handle(m, s->easy);
                running = 1;
            }
        }
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
        else if (bench_now() >= end)
            break;
    }
    for (int i = 0; i < n_conn; i++) {
        curl_easy_cleanup(slots[i].easy);
        curl_slist_free_all(slots[i].headers);
        if (slots[i].own_body)
            free(slots[i].body);
    }
    free(slots);
    curl_multi_cleanup(m);
}

/* Opens n connections from 127.0.0.2 to the server and leaves them idle; returns how many
 * connected (their descriptors in fds). */
static int idle_open(const struct soak *k, int n, int *fds) {
    int ok = 0;
    for (int i = 0; i < n; i++) {
        fds[i] = -1;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in from = {0}, to = {0};
        from.sin_family = to.sin_family = AF_INET;
        inet_pton(AF_INET, "127.0.0.2", &from.sin_addr);
        inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
        to.sin_port = htons((uint16_t)k->b.port);
        if (fd < 0 || bind(fd, (struct sockaddr *)&from, sizeof from) != 0 ||
            connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        fds[i] = fd;
        ok++;
    }
    return ok;
}

/* How many of the idle connections the server has not closed (a read would not say EOF). */
static int idle_still_open(const int *fds, int n) {
    int open_n = 0;
    for (int i = 0; i < n; i++) {
        if (fds[i] < 0)
            continue;
        char c;
        ssize_t r = recv(fds[i], &c, 1, MSG_DONTWAIT | MSG_PEEK);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            open_n++;
    }
    return open_n;
}

static void print_kind(const struct soak *k, int i, double seconds) {
    struct lat *l = (struct lat *)&k->st.lat[i];
    bench_sort(l->v, l->n);
    printf("\"%s\":{\"requests\":%zu,\"per_s\":%.1f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,"
           "\"statuses\":{",
           kind_name[i], l->n, (double)l->n / seconds, bench_quantile(l->v, l->n, 0.5),
           bench_quantile(l->v, l->n, 0.99));
    bool first = true;
    for (int s = 0; s < MAX_STATUS; s++)
        if (k->st.status[i][s]) {
            printf("%s\"%d\":%ld", first ? "" : ",", s, k->st.status[i][s]);
            first = false;
        }
    printf("}}");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_soak COHORTD_BIN [USERS]\n");
        return 2;
    }
    const char *bin = argv[1];
    struct soak *k = calloc(1, sizeof *k);
    k->n_users = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 100000;
    const char *env = getenv("SOAK_SECONDS");
    double seconds = env && *env ? strtod(env, NULL) : 120;
    env = getenv("SOAK_CONNECTIONS");
    int n_conn = env && *env ? (int)strtol(env, NULL, 10) : 200;
    env = getenv("SOAK_IDLE");
    int n_idle = env && *env ? (int)strtol(env, NULL, 10) : 1000;
    k->seed = 2463534242u;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max; /* 1000 idle sockets and 200 busy ones */
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (bench_prepare(&k->b, bin, k->n_users) != 0 || bench_start(&k->b, bin) != 0) {
        fprintf(stderr, "soak: cannot prepare or start the server\n");
        return 1;
    }
    bench_settle(&k->b);
    if (setup(k) != 0) {
        bench_cleanup(&k->b);
        return 1;
    }
    long rss_before = bench_rss_bytes(k->b.pid);
    double cpu0 = bench_cpu_seconds(k->b.pid), t0 = bench_now();
    phase_load(k, n_conn, seconds);
    double wall = bench_now() - t0, cpu = bench_cpu_seconds(k->b.pid) - cpu0;
    long rss_after = bench_rss_bytes(k->b.pid);
    bool alive = waitpid(k->b.pid, NULL, WNOHANG) == 0;

    /* phase 2: idle connections from another source address, one request timed meanwhile */
    int *fds = calloc((size_t)n_idle, sizeof *fds);
    int n_open = alive ? idle_open(k, n_idle, fds) : 0;
    double idle_ms[100];
    int n_ok = 0, n_timed = 0;
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/segments/details?segment_id=%s", k->b.port,
             k->segment_id);
    char auth[128];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", k->b.rest_key);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    for (int i = 0; alive && i < 100; i++) {
        CURL *e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
        double s0 = bench_now();
        long status = 0;
        if (curl_easy_perform(e) == CURLE_OK)
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        idle_ms[n_timed++] = (bench_now() - s0) * 1000.0;
        n_ok += status == 200;
        curl_easy_cleanup(e);
    }
    curl_slist_free_all(h);
    int still_open = idle_still_open(fds, n_idle);
    for (int i = 0; i < n_idle; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    bench_sort(idle_ms, (size_t)n_timed);
    long rss_end = bench_rss_bytes(k->b.pid);

    long total = 0, errors = 0, shed = 0;
    for (int i = 0; i < N_KINDS; i++)
        for (int s = 0; s < MAX_STATUS; s++) {
            total += k->st.status[i][s];
            if (s == 429)
                shed += k->st.status[i][s];
            else if (s < 200 || s >= 300)
                errors += k->st.status[i][s];
        }
    printf("{\"scenario\":\"soak\",\"users\":%u,\"connections\":%d,\"seconds\":%.1f,"
           "\"requests\":%ld,\"requests_per_s\":%.1f,\"non_2xx_other_than_429\":%ld,"
           "\"shed_429\":%ld,\"server_cpu_s\":%.1f,\"rss_bytes_before\":%ld,"
           "\"rss_bytes_after\":%ld,\"rss_growth\":%.3f,\"kinds\":{",
           k->n_users, n_conn, wall, total, (double)total / wall, errors, shed, cpu, rss_before,
           rss_after, rss_before ? (double)rss_after / (double)rss_before : 0.0);
    for (int i = 0; i < N_KINDS; i++) {
        if (i)
            printf(",");
        print_kind(k, i, wall);
    }
    printf("},\"idle\":{\"source\":\"127.0.0.2\",\"wanted\":%d,\"opened\":%d,"
           "\"still_open_after\":%d,\"timed_requests\":%d,\"ok\":%d,\"p50_ms\":%.2f,"
           "\"p99_ms\":%.2f,\"rss_bytes\":%ld},\"server_alive\":%s}\n",
           n_idle, n_open, still_open, n_timed, n_ok, bench_quantile(idle_ms, (size_t)n_timed, 0.5),
           bench_quantile(idle_ms, (size_t)n_timed, 0.99), rss_end, alive ? "true" : "false");
    fflush(stdout);
    bench_cleanup(&k->b);
    for (int i = 0; i < N_IMPORT_BODIES; i++)
        free(k->imports[i]);
    for (int i = 0; i < N_KINDS; i++)
        free(k->st.lat[i].v);
    free(k);
    curl_global_cleanup();
    return alive && total > 0 && n_ok == n_timed ? 0 : 1;
}
