/* harness.c — the end-to-end test harness (see harness.h). */
#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void assert_no_sanitizer_report(const char *text, const char *what);

static const char *bin(void) {
    const char *b = getenv("COHORTD_BIN");
    return b ? b : "build-test/cohortd";
}

char *strf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    va_end(ap);
    assert_non_null(out);
    return out;
}

long long wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *heap_hash(const char *secret, long long ts, const char *body) {
    char *msg = strf("%lld%s", ts, body);
    unsigned char mac[EVP_MAX_MD_SIZE], b64[64];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, strlen(msg), mac,
         &mac_len);
    free(msg);
    EVP_EncodeBlock(b64, mac, (int)mac_len);
    return strf("ts:%lld,hmac:%s", ts, b64);
}

char *heap_hash_hex(const char *secret, long long ts, const char *body, bool upper) {
    char *msg = strf("%lld%s", ts, body);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, strlen(msg), mac,
         &mac_len);
    free(msg);
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned int i = 0; i < mac_len; i++)
        snprintf(hex + 2 * i, 3, upper ? "%02X" : "%02x", mac[i]);
    return strf("ts:%lld,hmac:%s", ts, hex);
}

void heap_deliver(const struct server *s, const char *id, const char *secret, const char *body,
                  long status) {
    char *sig = heap_hash(secret, wall_ms(), body);
    char *h = strf("Heap-Hash: %s", sig);
    const char *headers[] = {h, NULL};
    char *path = strf("/heap/webhooks/%s", id);
    struct resp r;
    http_req(s, "POST", path, headers, body, &r);
    if (r.status != status)
        fail_msg("webhook answered %ld %s (want %ld)", r.status, r.body, status);
    resp_free(&r);
    free(sig);
    free(h);
    free(path);
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Reads everything from fd into a malloc'd string. */
static char *slurp_fd(int fd) {
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    ssize_t n;
    while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)n;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    buf[len] = '\0';
    return buf;
}

/* Runs cohortd ARGS [--data DATA]; a child still running after limit_s seconds (0: no limit)
 * is ended by SIGALRM (exit code 128). With input, that is the child's whole standard input. */
static int run_bin_input(const char *const *args, const char *data, unsigned limit_s,
                         const char *input, char **out, char **err) {
    int po[2], pe[2], pi[2] = {-1, -1};
    assert_int_equal(pipe(po), 0);
    assert_int_equal(pipe(pe), 0);
    if (input)
        assert_int_equal(pipe(pi), 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (input) {
            dup2(pi[0], 0);
            close(pi[0]);
            close(pi[1]);
        }
        const char *argv[32];
        int n = 0;
        argv[n++] = bin();
        for (int i = 0; args[i] && n < 28; i++)
            argv[n++] = args[i];
        if (data) {
            argv[n++] = "--data";
            argv[n++] = data;
        }
        argv[n] = NULL;
        if (limit_s)
            alarm(limit_s);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    if (input) {
        /* small inputs: the pipe holds them whole, the child reads after; a child that exits
         * without reading makes the write fail (EPIPE, the signal ignored), which is fine */
        close(pi[0]);
        void (*was)(int) = signal(SIGPIPE, SIG_IGN);
        ssize_t w = write(pi[1], input, strlen(input));
        (void)w;
        signal(SIGPIPE, was);
        close(pi[1]);
    }
    char *o = slurp_fd(po[0]);
    char *e = slurp_fd(pe[0]);
    close(po[0]);
    close(pe[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_no_sanitizer_report(o, "the output of a cohortd command");
    assert_no_sanitizer_report(e, "the stderr of a cohortd command");
    if (out)
        *out = o;
    else
        free(o);
    if (err)
        *err = e;
    else
        free(e);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int run_bin(const char *const *args, const char *data, unsigned limit_s, char **out,
                   char **err) {
    return run_bin_input(args, data, limit_s, NULL, out, err);
}

int run_cli_input(const struct server *s, const char *const *args, const char *input, char **out,
                  char **err) {
    return run_bin_input(args, s->data, 0, input, out, err);
}

int run_cli(const struct server *s, const char *const *args, char **out, char **err) {
    return run_bin(args, s->data, 0, out, err);
}

int run_cli_limited(const struct server *s, const char *const *args, unsigned limit_s, char **out,
                    char **err) {
    return run_bin(args, s->data, limit_s, out, err);
}

int run_cli_bare(const char *const *args, char **out, char **err) {
    return run_bin(args, NULL, 0, out, err);
}

static void copy_field(json_t *obj, const char *path, char *dst, size_t len) {
    json_t *v = obj;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
        v = json_object_get(v, tok);
    assert_non_null(json_string_value(v));
    snprintf(dst, len, "%s", json_string_value(v));
}

void server_init(struct server *s) {
    memset(s, 0, sizeof *s);
    snprintf(s->data, sizeof s->data, "/tmp/cohortd-e2e-XXXXXX");
    assert_non_null(mkdtemp(s->data));
    char *out = NULL;
    const char *args[] = {"init", "--json", NULL};
    assert_int_equal(run_cli(s, args, &out, NULL), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    copy_field(j, "workspace_id", s->workspace_id, sizeof s->workspace_id);
    copy_field(j, "rest_api_key", s->rest_key, sizeof s->rest_key);
    copy_field(j, "partners.heap.partner_api_key", s->partner_key, sizeof s->partner_key);
    copy_field(j, "partners.heap.data_import_key", s->import_key, sizeof s->import_key);
    json_decref(j);
    free(out);
}

static int healthy(const struct server *s) {
    struct resp r;
    http_req(s, "GET", "/healthz", NULL, NULL, &r);
    int ok = r.status == 200;
    resp_free(&r);
    return ok;
}

/* A port free on the IPv6 address host ("::" probed dual-stack, as the server binds it). */
static int free_port6(const char *host) {
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    int v6only = strcmp(host, "::") != 0;
    (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    struct sockaddr_in6 a = {0};
    a.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, host, &a.sin6_addr), 1);
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin6_port);
}

void server_start(struct server *s) {
    const char *host = s->listen_host ? s->listen_host : "127.0.0.1";
    s->port = strchr(host, ':') ? free_port6(host) : free_port();
    bool v6 = strchr(host, ':') != NULL;
    const char *scheme = s->ca_file[0] ? "https" : "http";
    const char *to = strcmp(host, "::") == 0        ? "::1"
                     : strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1"
                                                    : host;
    snprintf(s->base, sizeof s->base, v6 ? "%s://[%s]:%d" : "%s://%s:%d", scheme, to, s->port);
    char listen[80], log_path[300];
    snprintf(listen, sizeof listen, v6 ? "[%s]:%d" : "%s:%d", host, s->port);
    snprintf(log_path, sizeof log_path, "%s/server.log", s->data);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* a test that fails (cmocka exits) takes its server with it: an orphan would hold the
         * output pipe and keep ctest waiting until its timeout */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        const char *argv[32] = {bin(), "serve", "--data", s->data, "--listen", listen};
        int n = 6;
        if (getenv("COHORTD_FAULT_STORE_CALL")) {
            /* the Nth store call must be the test's: no snapshot worker calls the store at a
             * moment of its own (extra_args may still turn it on) */
            argv[n++] = "--snapshot-interval";
            argv[n++] = "0";
        }
        for (int i = 0; s->extra_args[i] && n < 30; i++)
            argv[n++] = s->extra_args[i];
        argv[n] = NULL;
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 400; i++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            s->pid = 0;
            server_assert_log_clean(s);
            fail_msg("cohortd serve exited early; see %s", log_path);
        }
        if (healthy(s))
            return;
        struct timespec ts = {0, 25 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("cohortd serve did not become healthy; see %s", log_path);
}

char *server_log(const struct server *s) {
    char *path = strf("%s/server.log", s->data);
    int fd = open(path, O_RDONLY);
    free(path);
    if (fd < 0)
        return strdup("");
    char *text = slurp_fd(fd);
    close(fd);
    return text;
}

/* The first line of `text` that reports a sanitizer finding, or NULL. */
static const char *sanitizer_report(const char *text) {
    static const char *const marks[] = {"AddressSanitizer", "LeakSanitizer",
                                        "UndefinedBehaviorSanitizer", "ThreadSanitizer",
                                        "runtime error:"};
    const char *first = NULL;
    for (size_t i = 0; i < sizeof marks / sizeof *marks; i++) {
        const char *at = strstr(text, marks[i]);
        if (at && (!first || at < first))
            first = at;
    }
    if (!first)
        return NULL;
    while (first > text && first[-1] != '\n')
        first--;
    return first;
}

/* Fails the test when `text` (a server log or a command's stderr) holds a sanitizer report;
 * prints the report, since the data directory may be removed afterwards. */
static void assert_no_sanitizer_report(const char *text, const char *what) {
    const char *rep = sanitizer_report(text);
    if (rep) {
        print_error("sanitizer report in %s:\n%.4000s\n", what, rep);
        fail_msg("%s holds a sanitizer report", what);
    }
}

void server_assert_log_clean(const struct server *s) {
    char *text = server_log(s);
    char *what = strf("the server log %s/server.log", s->data);
    const char *rep = sanitizer_report(text);
    if (rep)
        print_error("sanitizer report in %s:\n%.4000s\n", what, rep);
    free(text);
    free(what);
    if (rep)
        fail_msg("the server log %s/server.log holds a sanitizer report", s->data);
}

/* Stops the server with sig. After SIGTERM the exit must be clean (status 0); after SIGKILL
 * the status is not looked at. In both cases the log must hold no sanitizer report. */
static void stop_with(struct server *s, int sig) {
    if (!s->pid)
        return;
    kill(s->pid, sig);
    int status = 0;
    pid_t got;
    do
        got = waitpid(s->pid, &status, 0);
    while (got < 0 && errno == EINTR);
    s->pid = 0;
    server_assert_log_clean(s);
    if (sig == SIGKILL || got < 0)
        return;
    if (WIFSIGNALED(status))
        fail_msg("cohortd serve died of signal %d after SIGTERM; see %s/server.log",
                 WTERMSIG(status), s->data);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("cohortd serve exited with status %d after SIGTERM; see %s/server.log",
                 WEXITSTATUS(status), s->data);
}

void server_stop(struct server *s) {
    stop_with(s, SIGTERM);
}

void server_kill(struct server *s) {
    stop_with(s, SIGKILL);
}

void server_cleanup(struct server *s) {
    server_stop(s);
    if (s->data[0] && !getenv("COHORTD_KEEP_DATA")) {
        char *cmd = strf("rm -rf '%s'", s->data);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", s->data);
        free(cmd);
    }
}

void server_up(struct server *s) {
    server_init(s);
    server_start(s);
}

struct buf {
    char *data;
    size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud) {
    struct buf *b = ud;
    size_t n = size * nmemb;
    b->data = realloc(b->data, b->len + n + 1);
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

void http_req(const struct server *s, const char *method, const char *path, const char **headers,
              const char *body, struct resp *out) {
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    char *url = strf("%s%s", s->base, path);
    struct curl_slist *hl = NULL;
    for (int i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    if (body)
        hl = curl_slist_append(hl, "Content-Type: application/json");
    struct buf b = {NULL, 0}, h = {NULL, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); /* "..", as sent, reaches the server */
    if (s->ca_file[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    out->body = b.data ? b.data : strdup("");
    out->body_len = b.len;
    out->headers = h.data ? h.data : strdup("");
    out->json = json_loads(out->body, JSON_DECODE_ANY, NULL);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    free(url);
}

void http_post_rest(const struct server *s, const char *path, const char *body, struct resp *out) {
    char *auth = strf("Authorization: Bearer %s", s->rest_key);
    const char *h[] = {auth, NULL};
    http_req(s, "POST", path, h, body, out);
    free(auth);
}

void http_get_rest(const struct server *s, const char *path, struct resp *out) {
    char *auth = strf("Authorization: Bearer %s", s->rest_key);
    const char *h[] = {auth, NULL};
    http_req(s, "GET", path, h, NULL, out);
    free(auth);
}

void resp_free(struct resp *r) {
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

void assert_json_equal(const json_t *actual, const char *expected) {
    json_error_t e;
    json_t *want = json_loads(expected, JSON_DECODE_ANY, &e);
    if (!want)
        fail_msg("bad expected JSON in test: %s (%s)", expected, e.text);
    if (!actual || !json_equal(actual, want)) {
        char *got = actual ? json_dumps(actual, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
                           : strdup("(not JSON)");
        char *exp = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        print_error("expected: %s\n     got: %s\n", exp, got);
        free(got);
        free(exp);
        json_decref(want);
        fail();
    }
    json_decref(want);
}

void assert_resp(const struct resp *r, long status, const char *expected) {
    if (r->status != status) {
        print_error("status %ld (want %ld), body: %s\n", r->status, status, r->body);
        fail();
    }
    if (!r->json) {
        print_error("body is not JSON: %s\n", r->body);
        fail();
    }
    assert_json_equal(r->json, expected);
}

char *read_conformance(const char *rel) {
    const char *dir = getenv("COHORTD_CONFORMANCE");
    char *path = strf("%s/%s", dir ? dir : "../shared/conformance", rel);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    char *text = slurp_fd(fd);
    close(fd);
    free(path);
    return text;
}

static void assert_json_shape(const json_t *ours, const json_t *sample, const char *path) {
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)ours, key, v) {
        const json_t *w = json_object_get(sample, key);
        if (!w)
            fail_msg("%s.%s is not in the conformance sample", path, key);
        bool ours_num = json_is_number(v), theirs_num = json_is_number(w);
        bool ours_bool = json_is_boolean(v), theirs_bool = json_is_boolean(w);
        if (ours_num != theirs_num || ours_bool != theirs_bool ||
            (!ours_num && !ours_bool && json_typeof(v) != json_typeof(w)))
            fail_msg("%s.%s has another JSON type than the sample", path, key);
        if (json_is_object(v) && strcmp(key, "custom_properties") != 0 &&
            strcmp(key, "purchase_properties") != 0) {
            char *sub = strf("%s.%s", path, key);
            assert_json_shape(v, w, sub);
            free(sub);
        }
    }
}

void assert_conformant_event(const json_t *event) {
    const char *type = json_string_value(json_object_get(event, "event_type"));
    assert_non_null(type);
    char *file = strf("currents/%s.json", type);
    char *text = read_conformance(file);
    json_t *sample = json_loads(text, 0, NULL);
    assert_non_null(sample);
    assert_json_shape(event, sample, type);
    assert_int_equal(json_string_length(json_object_get(event, "id")), 36);
    assert_true(json_is_integer(json_object_get(event, "time")));
    assert_int_equal(json_string_length(json_object_get(json_object_get(event, "user"), "user_id")),
                     24);
    json_decref(sample);
    free(text);
    free(file);
}

void server_start_with(struct server *s, const char *const *extra_args) {
    server_init(s);
    for (int i = 0; extra_args && extra_args[i]; i++)
        s->extra_args[i] = extra_args[i];
    server_start(s);
}

struct server *server_new(const char *const *extra_args) {
    struct server *s = calloc(1, sizeof *s);
    server_start_with(s, extra_args);
    return s;
}

int server_setup(void **state) {
    *state = server_new(NULL);
    return 0;
}

int server_teardown(void **state) {
    server_cleanup(*state);
    free(*state);
    return 0;
}

long sql_count(const struct server *s, const char *sql) {
    char *path = strf("%s/cohortd.db", s->data);
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(path);
    return n;
}

void sql_wait_currents_caught_up(const struct server *s, const char *current_id) {
    char *sql = strf("SELECT count(*) FROM currents c WHERE c.deleted_at IS NULL%s%s%s AND EXISTS "
                     "(SELECT 1 FROM outbox o WHERE o.workspace_id = c.workspace_id AND o.seq > "
                     "c.position AND instr(c.event_types, '\"' || o.event_type || '\"') > 0)",
                     current_id ? " AND c.current_id = '" : "", current_id ? current_id : "",
                     current_id ? "'" : "");
    for (int i = 0; sql_count(s, sql) > 0; i++) {
        if (i == 1000)
            fail_msg("a Current's position is still before an event of its types after 10 s");
        sleep_ms(10);
    }
    free(sql);
}

void post_expect(struct server *s, const char *path, const char *body, long status,
                 const char *expected) {
    struct resp r;
    http_post_rest(s, path, body, &r);
    assert_resp(&r, status, expected);
    resp_free(&r);
}

void post_status(struct server *s, const char *path, const char *body, long status) {
    struct resp r;
    http_post_rest(s, path, body, &r);
    if (r.status != status)
        fail_msg("%s: %ld %s", path, r.status, r.body);
    resp_free(&r);
}

void heap_import(struct server *s, const char *cohort, const char *changes) {
    char *body = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":\"%s\","
                      "\"cohort_changes\":%s}",
                      s->partner_key, s->import_key, cohort, changes);
    struct resp r;
    http_req(s, "POST", "/partners/heap/cohorts/users", NULL, body, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    free(body);
}

char *post_created(struct server *s, const char *path, const char *body, const char *key) {
    struct resp r;
    http_post_rest(s, path, body, &r);
    if (r.status != 201)
        fail_msg("POST %s answered %ld %s", path, r.status, r.body);
    const char *id = json_string_value(json_object_get(r.json, key));
    if (!id)
        fail_msg("POST %s: no string '%s' in %s", path, key, r.body);
    char *copy = strdup(id);
    resp_free(&r);
    return copy;
}

long preview(struct server *s, const char *filter) {
    char *body = strf("{\"filter\":%s}", filter);
    struct resp r;
    http_post_rest(s, "/segments/preview", body, &r);
    free(body);
    if (r.status != 200)
        fail_msg("preview of %s answered %ld: %s", filter, r.status, r.body);
    long n = (long)json_integer_value(json_object_get(r.json, "size"));
    resp_free(&r);
    return n;
}

json_t *export_ext(struct server *s, const char *ext, const char *fields) {
    char *body = strf("{\"external_ids\":[\"%s\"],\"fields_to_export\":%s}", ext, fields);
    struct resp r;
    http_post_rest(s, "/users/export/ids", body, &r);
    assert_int_equal(r.status, 200);
    json_t *u = json_incref(json_array_get(json_object_get(r.json, "users"), 0));
    resp_free(&r);
    free(body);
    return u;
}

void current_create(struct server *s, const char *url, const char *types, int batch, char *id) {
    char *body = strf("{\"name\":\"to heap\",\"type\":\"custom_http\",\"endpoint\":\"%s\","
                      "\"bearer_token\":\"tok-1\",\"event_types\":%s,\"batch_size\":%d}",
                      url, types, batch);
    struct resp r;
    http_post_rest(s, "/currents/create", body, &r);
    if (r.status != 201)
        fail_msg("create current: %ld %s", r.status, r.body);
    if (id)
        snprintf(id, 64, "%s", json_string_value(json_object_get(r.json, "current_id")));
    resp_free(&r);
    free(body);
}

json_t *current_details(struct server *s, const char *id) {
    char *path = strf("/currents/details?current_id=%s", id);
    struct resp r;
    http_get_rest(s, path, &r);
    free(path);
    assert_int_equal(r.status, 200);
    json_t *j = json_incref(r.json);
    resp_free(&r);
    return j;
}

char *repeat(char c, size_t n) {
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

void resp_header(const struct resp *r, const char *name, char *out, size_t len) {
    out[0] = '\0';
    size_t n = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        if (ll > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            snprintf(out, len, "%.*s", (int)(ll - (size_t)(v - line)), v);
            return;
        }
        line = end ? end + 2 : NULL;
    }
}

void dashboard_add_user(const struct server *s, const char *email, const char *role,
                        const char *password) {
    const char *args[] = {"user", "add", email, "--role", role, NULL};
    char *err = NULL;
    int rc = run_cli_input(s, args, password, NULL, &err);
    if (rc != 0)
        fail_msg("cohortd user add %s: exit %d: %s", email, rc, err);
    free(err);
}

void dashboard_login(const struct server *s, const char *email, const char *password,
                     struct dashboard_login *out) {
    json_t *body = json_pack("{s:s, s:s}", "email", email, "password", password);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct resp r;
    http_req(s, "POST", "/dashboard/api/login", NULL, text, &r);
    free(text);
    if (r.status != 200)
        fail_msg("login of %s answered %ld %s", email, r.status, r.body);
    char cookie[256];
    resp_header(&r, "Set-Cookie", cookie, sizeof cookie);
    size_t n = strcspn(cookie, ";");
    assert_true(n > 16 && n < sizeof out->cookie);
    snprintf(out->cookie, sizeof out->cookie, "%.*s", (int)n, cookie);
    assert_int_equal(strncmp(out->cookie, "cohortd_session=", 16), 0);
    const char *csrf = json_string_value(json_object_get(r.json, "csrf_token"));
    assert_non_null(csrf);
    snprintf(out->csrf, sizeof out->csrf, "%s", csrf);
    resp_free(&r);
}

void dashboard_req(const struct server *s, const struct dashboard_login *l, bool csrf,
                   const char *method, const char *path, const char *body, struct resp *out) {
    char *cookie = strf("Cookie: %s", l->cookie);
    char *token = strf("X-CSRF-Token: %s", l->csrf);
    const char *headers[] = {cookie, csrf ? token : NULL, NULL};
    http_req(s, method, path, headers, body, out);
    free(cookie);
    free(token);
}

void dashboard_expect(const struct server *s, const struct dashboard_login *l, const char *method,
                      const char *path, const char *body, long status, const char *expected) {
    struct resp r;
    dashboard_req(s, l, true, method, path, body, &r);
    assert_resp(&r, status, expected);
    resp_free(&r);
}
