/*
 * serve.c — `cohortd serve`: locks the data directory (one server per directory), opens the
 * store, loads every workspace into memory, serves HTTP until SIGTERM or SIGINT, then stops
 * accepting, lets in-flight requests finish and closes the store cleanly. A port another
 * process listens on is refused (never shared).
 */
#include "cli/cli.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.h"
#include "core/messaging/campaign.h"
#include "http/http.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "workers/dispatcher.h"
#include "workers/sender.h"

static const struct cli_opt opts[] = {
    CLI_OPT_DATA,
    CLI_OPT_STORE,
    {"listen", "HOST:PORT", "COHORTD_LISTEN", "127.0.0.1:8080", "address to serve HTTP on"},
    {"max-body", "BYTES", "COHORTD_MAX_BODY", "4194304", "largest request body (413 beyond)"},
    {"threads", "N", "COHORTD_THREADS", "8", "HTTP worker threads"},
    {"heap-max-past-ms", "MS", "COHORTD_HEAP_MAX_PAST_MS", "60000",
     "Heap-Hash timestamps older than this are refused"},
    {"heap-max-future-ms", "MS", "COHORTD_HEAP_MAX_FUTURE_MS", "1000",
     "Heap-Hash timestamps this far ahead are refused"},
    {"heap-max-in-flight", "N", "COHORTD_HEAP_MAX_IN_FLIGHT", "4",
     "Heap pages applied at once; more get 429 (Heap retries)"},
    {"max-queued-writes", "N", "COHORTD_MAX_QUEUED_WRITES", "4",
     "writes that may wait for one workspace's earlier write; more get 429 at once"},
    {"queue-timeout-ms", "MS", "COHORTD_QUEUE_TIMEOUT_MS", "1000",
     "a write that waited this long for its workspace gets 429 (0: no limit)"},
    {"currents-poll-ms", "MS", "COHORTD_CURRENTS_POLL_MS", "200",
     "how often Currents look for new events"},
    {"currents-retry-base-ms", "MS", "COHORTD_CURRENTS_RETRY_BASE_MS", "1000",
     "first Currents backoff after 5xx, 429 or a network error"},
    {"currents-retry-max-ms", "MS", "COHORTD_CURRENTS_RETRY_MAX_MS", "600000",
     "longest Currents backoff"},
    {"currents-auth-retry-ms", "MS", "COHORTD_CURRENTS_AUTH_RETRY_MS", "120000",
     "retry delay of a Current failed by 401/403 (jittered to 2.5x)"},
    {"currents-horizon-ms", "MS", "COHORTD_CURRENTS_HORIZON_MS", "86400000",
     "events undeliverable this long become dead letters"},
    {"currents-auth-horizon-ms", "MS", "COHORTD_CURRENTS_AUTH_HORIZON_MS", "172800000",
     "the same for credential failures"},
    {"currents-timeout-ms", "MS", "COHORTD_CURRENTS_TIMEOUT_MS", "30000",
     "timeout of one Currents request (a slow endpoint delays only its own Current)"},
    {"campaigns-poll-ms", "MS", "COHORTD_CAMPAIGNS_POLL_MS", "200",
     "how often due campaign and Canvas sends are looked for"},
    {"webhook-concurrency", "N", "COHORTD_WEBHOOK_CONCURRENCY", "16",
     "webhook requests in flight at once"},
    {"webhook-max-attempts", "N", "COHORTD_WEBHOOK_MAX_ATTEMPTS", "4",
     "attempts per recipient before a webhook send fails"},
    {"webhook-retry-base-ms", "MS", "COHORTD_WEBHOOK_RETRY_BASE_MS", "1000",
     "first webhook retry delay, doubled on each attempt"},
    {"webhook-timeout-ms", "MS", "COHORTD_WEBHOOK_TIMEOUT_MS", "10000",
     "timeout of one webhook request"},
    {"log-level", "LEVEL", "COHORTD_LOG_LEVEL", "info", "error, warn, info or debug"},
    CLI_OPT_HELP,
    {0},
};

/* Parses a decimal in [lo, hi]; returns 0 or -1. */
static int parse_num(const char *text, long long lo, long long hi, long long *out) {
    char *end;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_listen(const char *text, char *host, size_t host_len, int *port) {
    const char *colon = strrchr(text, ':');
    long long p;
    if (!colon || (size_t)(colon - text) >= host_len || parse_num(colon + 1, 0, 65535, &p) != 0)
        return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    *port = (int)p;
    return 0;
}

/* Takes the exclusive lock DATA/cohortd.lock and writes our pid into it; the returned
 * descriptor holds the lock until it is closed (at exit). Prints why and returns -1 when
 * another process holds it or the file cannot be opened. */
static int lock_data_dir(const struct cli_command *cmd, const char *data) {
    char path[4096];
    snprintf(path, sizeof path, "%s/cohortd.lock", data);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return cli_fail(cmd, "cannot open %s: %s", path, strerror(errno)) - 2;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid_text[32] = "";
        /* the holder writes its pid right after locking: wait briefly for it */
        for (int i = 0; i < 100 && e == EWOULDBLOCK; i++) {
            ssize_t n = pread(fd, pid_text, sizeof pid_text - 1, 0);
            if (n > 0 && pid_text[n - 1] == '\n') {
                pid_text[n - 1] = '\0';
                break;
            }
            pid_text[0] = '\0';
            usleep(10000);
        }
        close(fd);
        if (e != EWOULDBLOCK)
            return cli_fail(cmd, "cannot lock %s: %s", path, strerror(e)) - 2;
        return cli_fail(cmd, "data directory %s is in use by another cohortd (pid %s)", data,
                        pid_text[0] ? pid_text : "unknown") -
               2;
    }
    char pid_text[32];
    int n = snprintf(pid_text, sizeof pid_text, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid_text, (size_t)n, 0) != n) {
        int e = errno;
        close(fd);
        return cli_fail(cmd, "cannot write %s: %s", path, strerror(e)) - 2;
    }
    return fd;
}

/* Why host:port cannot be listened on, found by a bind of our own (the HTTP library does
 * not say): "is in use (…)" for EADDRINUSE, else the system's message. */
static void explain_listen_failure(const char *host, int port, char *buf, size_t len) {
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        snprintf(buf, len, "is not an IPv4 address");
        return;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0) {
        snprintf(buf, len, "cannot be listened on (%s)", strerror(errno));
        return;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        snprintf(buf, len,
                 errno == EADDRINUSE ? "is in use (another process listens there)"
                                     : "cannot be listened on (%s)",
                 strerror(errno));
    else
        snprintf(buf, len, "cannot be listened on");
    close(fd);
}

static int run(const struct cli_command *cmd, const char *const *values, const char *const *pos,
               int n_pos) {
    (void)pos;
    (void)n_pos;
    char host[64];
    int port;
    long long max_body, threads, heap_past, heap_future, heap_in_flight, currents_timeout;
    long long max_queued, queue_timeout;
    int level = log_level_parse(cli_value(cmd, values, "log-level"));
    if (parse_listen(cli_value(cmd, values, "listen"), host, sizeof host, &port) != 0)
        return cli_fail(cmd, "--listen must be HOST:PORT, not '%s'",
                        cli_value(cmd, values, "listen")) +
               1;
    if (parse_num(cli_value(cmd, values, "max-body"), 1024, 1LL << 30, &max_body) != 0)
        return cli_fail(cmd, "--max-body must be a number of bytes from 1024 to 1073741824") + 1;
    if (parse_num(cli_value(cmd, values, "threads"), 1, 256, &threads) != 0)
        return cli_fail(cmd, "--threads must be from 1 to 256") + 1;
    if (parse_num(cli_value(cmd, values, "heap-max-past-ms"), 0, 7LL * 86400000, &heap_past) != 0 ||
        parse_num(cli_value(cmd, values, "heap-max-future-ms"), 0, 7LL * 86400000, &heap_future) !=
            0)
        return cli_fail(cmd, "--heap-max-past-ms and --heap-max-future-ms must be from 0 to "
                             "604800000") +
               1;
    if (parse_num(cli_value(cmd, values, "heap-max-in-flight"), 1, 1024, &heap_in_flight) != 0)
        return cli_fail(cmd, "--heap-max-in-flight must be from 1 to 1024") + 1;
    if (parse_num(cli_value(cmd, values, "max-queued-writes"), 1, 100000, &max_queued) != 0)
        return cli_fail(cmd, "--max-queued-writes must be from 1 to 100000") + 1;
    if (parse_num(cli_value(cmd, values, "queue-timeout-ms"), 0, 600000, &queue_timeout) != 0)
        return cli_fail(cmd, "--queue-timeout-ms must be from 0 to 600000") + 1;
    if (level < 0)
        return cli_fail(cmd, "--log-level must be error, warn, info or debug") + 1;
    log_threshold = (enum log_level)level;
    static const char *const currents_opts[] = {
        "currents-poll-ms",       "currents-retry-base-ms", "currents-retry-max-ms",
        "currents-auth-retry-ms", "currents-horizon-ms",    "currents-auth-horizon-ms"};
    long long cv[6];
    for (int i = 0; i < 6; i++)
        if (parse_num(cli_value(cmd, values, currents_opts[i]), 1, 30LL * 86400000, &cv[i]) != 0)
            return cli_fail(cmd, "--%s must be from 1 to 2592000000 (ms)", currents_opts[i]) + 1;
    if (parse_num(cli_value(cmd, values, "currents-timeout-ms"), 1, 600000, &currents_timeout) != 0)
        return cli_fail(cmd, "--currents-timeout-ms must be from 1 to 600000") + 1;
    struct currents_config ccfg = {.poll_ms = cv[0],
                                   .retry_base_ms = cv[1],
                                   .retry_max_ms = cv[2],
                                   .auth_retry_ms = cv[3],
                                   .horizon_ms = cv[4],
                                   .auth_horizon_ms = cv[5],
                                   .timeout_ms = currents_timeout};

    static const char *const sender_opts[] = {"campaigns-poll-ms", "webhook-concurrency",
                                              "webhook-max-attempts", "webhook-retry-base-ms",
                                              "webhook-timeout-ms"};
    static const long long sender_max[] = {3600000, 1024, 100, 3600000, 600000};
    long long sv[5];
    for (int i = 0; i < 5; i++)
        if (parse_num(cli_value(cmd, values, sender_opts[i]), 1, sender_max[i], &sv[i]) != 0)
            return cli_fail(cmd, "--%s must be from 1 to %lld", sender_opts[i], sender_max[i]) + 1;
    struct sender_config scfg = {.poll_ms = sv[0],
                                 .concurrency = (int)sv[1],
                                 .max_attempts = (int)sv[2],
                                 .retry_base_ms = sv[3],
                                 .timeout_ms = sv[4]};

    const char *data = cli_value(cmd, values, "data");
    const char *store_url = cli_value(cmd, values, "store");
    if (!store_url) {
        char path[4096];
        snprintf(path, sizeof path, "%s/cohortd.db", data);
        if (access(path, F_OK) != 0)
            return cli_fail(cmd, "%s is not initialised; run: cohortd init --data %s", data, data);
    }
    /* kept open (and locked) until the process exits */
    int lock_fd = lock_data_dir(cmd, data);
    if (lock_fd < 0)
        return 1;
    int64_t t0 = time_now_ms();
    struct store *s = cli_open_store(data, store_url);
    if (!s) {
        close(lock_fd);
        return 1;
    }
    struct app *app = NULL;
    enum cd_err err = app_new(s, &app);
    if (err != CD_OK) {
        store_close(s);
        close(lock_fd);
        return cli_fail(cmd, "cannot load the store: %s", cd_err_name(err));
    }
    app_set_cohort_entry(app, campaign_cohort_entry_locked);
    app_set_write_limits(app, (int)max_queued, queue_timeout);
    if (max_queued + 1 >= threads)
        log_warn("serve",
                 "max_queued_writes=%lld threads=%lld: one workspace's writes can hold "
                 "every HTTP thread; other workspaces wait up to --queue-timeout-ms",
                 max_queued, threads);

    /* Signals are taken by sigwait below; every thread started from here inherits the mask. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct api_ctx ctx = {.app = app,
                          .cfg = {.max_body = (size_t)max_body,
                                  .heap_max_past_ms = heap_past,
                                  .heap_max_future_ms = heap_future,
                                  .heap_max_in_flight = (int)heap_in_flight}};
    struct http_server_config hc = {
        .host = host,
        .port = port,
        .max_body = (size_t)max_body,
        .threads = (int)threads,
        .routes = api_routes,
        .n_routes = api_n_routes,
        .ctx = &ctx,
    };
    struct http_server *srv = NULL;
    int bound = 0;
    /* test builds: COHORTD_FAULT_STORE_CALL counts from here, before the first request can
     * arrive (arming after the listen would race with it) */
    store_faults_arm();
    err = http_server_start(&hc, &srv, &bound);
    if (err != CD_OK) {
        app_free(app);
        store_close(s);
        close(lock_fd);
        char why[160];
        explain_listen_failure(host, port, why, sizeof why);
        return cli_fail(cmd, "%s:%d %s", host, port, why);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct currents *currents = currents_start(s, &ccfg);
    if (!currents) {
        http_server_stop(srv);
        app_free(app);
        store_close(s);
        close(lock_fd);
        return cli_fail(cmd, "cannot start the Currents dispatcher");
    }
    struct sender *sender = sender_start(app, &scfg);
    if (!sender) {
        currents_stop(currents);
        http_server_stop(srv);
        app_free(app);
        store_close(s);
        close(lock_fd);
        return cli_fail(cmd, "cannot start the webhook sender");
    }
    log_info("serve", "listening=http://%s:%d store=%s startup_ms=%lld", host, bound,
             STORE_OPS(s)->name, (long long)(time_now_ms() - t0));
    int sig = 0;
    sigwait(&stop, &sig);
    log_info("serve", "signal=%s stopping", sig == SIGTERM ? "TERM" : "INT");
    http_server_stop(srv);
    sender_stop(sender);
    currents_stop(currents);
    curl_global_cleanup();
    app_free(app);
    store_close(s);
    close(lock_fd);
    log_info("serve", "stopped");
    return 0;
}

const struct cli_command cli_serve_cmd = {
    .name = "serve",
    .synopsis = "[--data DIR] [--listen HOST:PORT] [--store URL] [OPTIONS]",
    .summary = "serve the HTTP API",
    .opts = opts,
    .run = run,
};
