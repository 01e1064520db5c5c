/* bench_users.c — generated users and a real server for the benchmarks (see bench_users.h). */
#include "bench_users.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/workspace/admin.h"
#include "core/index/identity.h"
#include "store/sqlite_schema.h"
#include "store/store.h"

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum bench_id_kind bench_user_kind(uint32_t i) {
    uint32_t m = i % 10;
    return m < 8 ? BENCH_EXTERNAL : m == 8 ? BENCH_ALIAS : BENCH_DEVICE;
}

int bench_user_id_json(uint32_t i, char *buf, size_t len) {
    switch (bench_user_kind(i)) {
    case BENCH_EXTERNAL:
        return snprintf(buf, len, "\"user_%u\"", i);
    case BENCH_ALIAS:
        return snprintf(buf, len,
                        "{\"alias_name\":\"user_%u@example.com\",\"alias_label\":\"email\"}", i);
    case BENCH_DEVICE:
        break;
    }
    return snprintf(buf, len, "\"device_%u\"", i);
}

uint32_t bench_rand(unsigned *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

char *bench_import_body_new(const struct bench_server *b, uint32_t n_users, unsigned *seed) {
    size_t cap = 128 * BENCH_IDS_PER_REQUEST + 1024, len = 0;
    char *out = malloc(cap);
    len += (size_t)snprintf(out + len, cap - len,
                            "{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":"
                            "\"cohort_%u\",\"cohort_changes\":[",
                            b->partner_key, b->import_key, bench_rand(seed) % BENCH_N_COHORTS);
    for (int part = 0; part < 2; part++) {
        int n = part == 0 ? BENCH_IDS_PER_REQUEST * 9 / 10 : BENCH_IDS_PER_REQUEST / 10;
        len += (size_t)snprintf(out + len, cap - len, "%s{\"user_ids\":[", part ? "," : "");
        const char *sep = "";
        /* device ids go in device_ids, aliases in aliases; collect them per kind */
        char *dev = malloc(64 * (size_t)n), *ali = malloc(96 * (size_t)n);
        size_t dl = 0, al = 0;
        dev[0] = ali[0] = '\0';
        for (int k = 0; k < n; k++) {
            uint32_t u = bench_rand(seed) % n_users + 1;
            char id[128];
            bench_user_id_json(u, id, sizeof id);
            enum bench_id_kind kind = bench_user_kind(u);
            if (kind == BENCH_EXTERNAL) {
                len += (size_t)snprintf(out + len, cap - len, "%s%s", sep, id);
                sep = ",";
            } else if (kind == BENCH_DEVICE) {
                dl += (size_t)snprintf(dev + dl, 64 * (size_t)n - dl, "%s%s", dl ? "," : "", id);
            } else {
                al += (size_t)snprintf(ali + al, 96 * (size_t)n - al, "%s%s", al ? "," : "", id);
            }
        }
        len += (size_t)snprintf(out + len, cap - len, "],\"device_ids\":[%s],\"aliases\":[%s]%s}",
                                dev, ali, part ? ",\"should_remove\":true" : "");
        free(dev);
        free(ali);
    }
    snprintf(out + len, cap - len, "]}");
    return out;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void bench_sort(double *v, size_t n) {
    if (n)
        qsort(v, n, sizeof *v, cmp_double);
}

double bench_quantile(const double *sorted, size_t n, double q) {
    if (!n)
        return 0;
    size_t i = (size_t)((double)n * q);
    return sorted[i < n ? i : n - 1];
}

json_t *bench_cli_json(const char *cmd) {
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    if (pclose(p) != 0)
        return NULL;
    return json_loads(out, 0, NULL);
}

/* Takes the three keys from `cohortd init --json`'s answer. Returns 0 or -1. */
static int keys_from_init(struct bench_server *b, json_t *j) {
    const char *rk = json_string_value(json_object_get(j, "rest_api_key"));
    json_t *heap = json_object_get(json_object_get(j, "partners"), "heap");
    const char *pk = json_string_value(json_object_get(heap, "partner_api_key"));
    const char *ik = json_string_value(json_object_get(heap, "data_import_key"));
    if (!rk || !pk || !ik)
        return -1;
    snprintf(b->rest_key, sizeof b->rest_key, "%s", rk);
    snprintf(b->partner_key, sizeof b->partner_key, "%s", pk);
    snprintf(b->import_key, sizeof b->import_key, "%s", ik);
    return 0;
}

/* Copies the file `from` to `to` (created or truncated) in the kernel. Returns 0 or -1. */
static int copy_file(const char *from, const char *to) {
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = in < 0 ? -1 : open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = out < 0 ? -1 : 0;
    ssize_t n = 1;
    while (rc == 0 && n > 0) {
        n = copy_file_range(in, NULL, out, NULL, (size_t)1 << 30, 0);
        rc = n < 0 ? -1 : 0;
    }
    if (out >= 0 && close(out) != 0)
        rc = -1;
    if (in >= 0)
        close(in);
    return rc;
}

/* BENCH_USERS_CACHE=DIR (scripts/bench.sh sets it to bench/results/cache): the store of a
 * fresh `init` plus n generated users is kept there as users-vF-sS-N.db, beside init's answer
 * (users-vF-sS-N.json), and the next benchmark of the same n copies it instead of generating
 * it again (10 M users take many minutes to write). SQLite stores only. F is the format of the
 * generated data (change it when bench_prepare writes something else), S the schema version. */
#define BENCH_USERS_FORMAT 2

/* The cache's folder, with its two paths for n; NULL when there is no cache. */
static const char *cache_paths(uint32_t n, char *db, char *keys, size_t len) {
    const char *dir = getenv("BENCH_USERS_CACHE");
    const char *store = getenv("COHORTD_STORE");
    if (!dir || !*dir || (store && *store))
        return NULL;
    int schema = sqlite_schema_latest();
    snprintf(db, len, "%s/users-v%d-s%d-%u.db", dir, BENCH_USERS_FORMAT, schema, n);
    snprintf(keys, len, "%s/users-v%d-s%d-%u.json", dir, BENCH_USERS_FORMAT, schema, n);
    return dir;
}

/* Fills b->data from the cache. Returns 0, or -1 when there is nothing cached for n. */
static int cache_take(struct bench_server *b, uint32_t n) {
    char db[512], keys[512], to[512];
    if (!cache_paths(n, db, keys, sizeof db) || access(db, R_OK) != 0)
        return -1;
    json_t *j = json_load_file(keys, 0, NULL);
    snprintf(to, sizeof to, "%s/cohortd.db", b->data);
    int rc = j && keys_from_init(b, j) == 0 && copy_file(db, to) == 0 ? 0 : -1;
    json_decref(j);
    if (rc == 0)
        fprintf(stderr, "bench: %u users copied from %s\n", n, db);
    return rc;
}

/* Keeps b->data's store and init's answer j in the cache (a partial copy is never seen: both
 * are written under temporary names and renamed, the database last). */
static void cache_keep(const struct bench_server *b, uint32_t n, json_t *j) {
    char db[512], keys[512], from[512], tmp[520];
    const char *dir = cache_paths(n, db, keys, sizeof db);
    if (!dir)
        return;
    snprintf(from, sizeof from, "%s/cohortd.db-wal", b->data);
    if ((mkdir(dir, 0755) != 0 && errno != EEXIST) || access(from, F_OK) == 0)
        return; /* a WAL left beside the database: the file alone is not the store */
    snprintf(from, sizeof from, "%s/cohortd.db", b->data);
    snprintf(tmp, sizeof tmp, "%s.tmp", keys);
    int ok = json_dump_file(j, tmp, 0) == 0 && rename(tmp, keys) == 0;
    snprintf(tmp, sizeof tmp, "%s.tmp", db);
    ok = ok && copy_file(from, tmp) == 0 && rename(tmp, db) == 0;
    fprintf(stderr, ok ? "bench: %u users kept in %s\n" : "bench: cannot keep %u users in %s\n", n,
            db);
}

int bench_prepare(struct bench_server *b, const char *bin, uint32_t n) {
    memset(b, 0, sizeof *b);
    snprintf(b->data, sizeof b->data, "/tmp/cohortd-bench-XXXXXX");
    if (!mkdtemp(b->data))
        return -1;
    if (cache_take(b, n) == 0)
        return 0;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' init --data '%s' --json", bin, b->data);
    json_t *init = bench_cli_json(cmd);
    if (!init || keys_from_init(b, init) != 0) {
        json_decref(init);
        return -1;
    }
    char url[512], msg[256];
    /* COHORTD_STORE (which init and serve read too) selects another store, e.g. PostgreSQL */
    const char *given = getenv("COHORTD_STORE");
    if (given && *given)
        snprintf(url, sizeof url, "%s", given);
    else
        snprintf(url, sizeof url, "sqlite:%s/cohortd.db", b->data);
    struct store *s = NULL;
    if (store_open(url, &s, msg, sizeof msg) != CD_OK) {
        json_decref(init);
        return -1;
    }
    struct admin_workspace ws;
    const struct store_ops *ops = STORE_OPS(s);
    enum cd_err err = admin_workspace_find(s, NULL, &ws);
    struct store_txn *t = NULL;
    if (err == CD_OK)
        err = ops->begin(s, &t);
    for (uint32_t i = 1; err == CD_OK && i <= n; i++) {
        uint8_t bid[12];
        char bid_text[BRAZE_ID_LEN + 1], ext[32], key[64];
        identity_new_braze_id(i, 1700000000000, bid);
        identity_braze_id_text(bid, bid_text);
        enum bench_id_kind kind = bench_user_kind(i);
        snprintf(ext, sizeof ext, "user_%u", i);
        struct user_row row = {.uid = i,
                               .braze_id = bid_text,
                               .external_id = kind == BENCH_EXTERNAL ? ext : NULL,
                               .created_anonymous = kind == BENCH_DEVICE,
                               .attrs = "{}",
                               .created_at = 1700000000000,
                               .updated_at = 1700000000000};
        err = ops->users->insert(t, ws.id, &row);
        if (err == CD_OK && kind == BENCH_ALIAS) {
            snprintf(key, sizeof key, "user_%u@example.com", i);
            struct ident_row alias = {i, "email", key};
            err = ops->users->aliases_put(t, ws.id, &alias, 1);
        } else if (err == CD_OK && kind == BENCH_DEVICE) {
            snprintf(key, sizeof key, "device_%u", i);
            err = ops->users->device_put(t, ws.id, key, i);
        }
    }
    if (err == CD_OK)
        err = ops->commit(t);
    else if (t)
        ops->rollback(t);
    /* The generation is the starting point, not changes since a snapshot: forget its change
     * rows, or the server's first snapshot pass would delete them (12 M at 10 M users) while
     * the benchmark measures. */
    struct store_snapshot_mark mark = {0};
    if (err == CD_OK)
        err = ops->users->snapshot_mark(s, ws.id, &mark);
    if (err == CD_OK && mark.supported)
        err = ops->users->changes_prune(s, ws.id, mark.user_seq);
    store_close(s);
    if (err == CD_OK)
        cache_keep(b, n, init);
    json_decref(init);
    return err == CD_OK ? 0 : -1;
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static int healthy(int port) {
    CURL *c = curl_easy_init();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 2L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status == 200 || status == 405;
}

int bench_start(struct bench_server *b, const char *bin) {
    b->port = free_port();
    char listen[64], log_path[300];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", b->port);
    snprintf(log_path, sizeof log_path, "%s/server.log", b->data);
    double t0 = bench_now();
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 2);
        execl(bin, bin, "serve", "--data", b->data, "--listen", listen, "--log-level", "warn",
              (char *)NULL);
        _exit(127);
    }
    b->pid = pid;
    for (int i = 0; i < 6000; i++) {
        if (healthy(b->port)) {
            b->startup_s = bench_now() - t0;
            return 0;
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

void bench_stop(struct bench_server *b) {
    if (b->pid > 0) {
        kill(b->pid, SIGTERM);
        waitpid(b->pid, NULL, 0);
        b->pid = 0;
    }
}

static bool has_snapshot(const char *data) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/cohortd.db.snap", data);
    DIR *d = opendir(dir);
    bool found = false;
    for (struct dirent *e; d && !found && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        found = n > 5 && strcmp(e->d_name + n - 5, ".snap") == 0;
    }
    if (d)
        closedir(d);
    return found;
}

void bench_settle(const struct bench_server *b) {
    const char *store = getenv("COHORTD_STORE");
    if (store && *store && strncmp(store, "sqlite:", 7) != 0)
        return;
    double t0 = bench_now();
    while (!has_snapshot(b->data)) {
        if (bench_now() - t0 > 120) {
            fprintf(stderr, "bench: no start-up snapshot after 2 minutes; measuring anyway\n");
            return;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "bench: start-up snapshot on disk after %.2f s\n", bench_now() - t0);
}

void bench_cleanup(struct bench_server *b) {
    bench_stop(b);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", b->data);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: cannot remove %s\n", b->data);
}

double bench_cpu_seconds(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char buf[2048];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long utime = 0, stime = 0;
    /* fields after ')': state(3) … utime(14) stime(15) */
    if (p &&
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) == 2)
        return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
    return 0;
}

long bench_rss_bytes(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    FILE *f = fopen(path, "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

struct reply {
    char *buf;
    size_t len, cap;
};

static size_t keep_reply(char *p, size_t s, size_t n, void *ud) {
    struct reply *r = ud;
    size_t take = r->cap > r->len + 1 ? r->cap - r->len - 1 : 0;
    take = take < s * n ? take : s * n;
    if (r->buf) {
        memcpy(r->buf + r->len, p, take);
        r->len += take;
        r->buf[r->len] = '\0';
    }
    return s * n;
}

void bench_request_init(struct bench_request *r, const struct bench_server *b, const char *path,
                        const char *body, size_t (*write)(char *, size_t, size_t, void *),
                        void *ud) {
    char url[256], auth[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", b->port, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", b->rest_key);
    r->curl = curl_easy_init();
    r->headers = curl_slist_append(NULL, auth);
    curl_easy_setopt(r->curl, CURLOPT_URL, url);
    curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, write);
    curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, ud);
    curl_easy_setopt(r->curl, CURLOPT_NOPROXY, "*");
}

int bench_request_perform(struct bench_request *r) {
    long status = 0;
    if (curl_easy_perform(r->curl) == CURLE_OK)
        curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
    return (int)status;
}

void bench_request_free(struct bench_request *r) {
    curl_slist_free_all(r->headers);
    curl_easy_cleanup(r->curl);
}

int bench_post_rest_to(const struct bench_server *b, const char *path, const char *body,
                       size_t (*write)(char *, size_t, size_t, void *), void *ud) {
    struct bench_request r;
    bench_request_init(&r, b, path, body, write, ud);
    int status = bench_request_perform(&r);
    bench_request_free(&r);
    return status;
}

int bench_post_rest(const struct bench_server *b, const char *path, const char *body, char *resp,
                    size_t resp_len) {
    struct reply r = {resp, 0, resp_len};
    if (resp && resp_len)
        resp[0] = '\0';
    return bench_post_rest_to(b, path, body, keep_reply, &r);
}

struct bench_receiver {
    struct MHD_Daemon *d;
    atomic_long requests;
    atomic_long events;
};

struct upload {
    char *data;
    size_t len;
};

static enum MHD_Result on_req(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **con_cls) {
    (void)url;
    (void)method;
    (void)version;
    struct bench_receiver *r = cls;
    struct upload *u = *con_cls;
    if (!u) {
        *con_cls = calloc(1, sizeof *u);
        return MHD_YES;
    }
    if (*size) {
        u->data = realloc(u->data, u->len + *size + 1);
        memcpy(u->data + u->len, data, *size);
        u->len += *size;
        u->data[u->len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    long events = 0;
    for (const char *p = u->data; p && (p = strstr(p, "\"event_type\"")); p++)
        events++;
    atomic_fetch_add(&r->events, events);
    atomic_fetch_add(&r->requests, 1);
    free(u->data);
    u->data = NULL;
    u->len = 0;
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ok = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ok;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    struct upload *u = *con_cls;
    if (u)
        free(u->data);
    free(u);
    *con_cls = NULL;
}

struct bench_receiver *bench_receiver_start(unsigned *port) {
    struct bench_receiver *r = calloc(1, sizeof *r);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                            NULL, NULL, on_req, r, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
                            MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    if (!r->d) {
        free(r);
        return NULL;
    }
    *port = MHD_get_daemon_info(r->d, MHD_DAEMON_INFO_BIND_PORT)->port;
    return r;
}

long bench_receiver_requests(struct bench_receiver *r) {
    return atomic_load(&r->requests);
}

long bench_receiver_events(struct bench_receiver *r) {
    return atomic_load(&r->events);
}

void bench_receiver_stop(struct bench_receiver *r) {
    MHD_stop_daemon(r->d);
    free(r);
}
