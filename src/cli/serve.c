/*
 * serve.c — `cohortd serve`: locks the data directory (one server per directory), opens the
 * store, loads every workspace into memory, serves HTTP or HTTPS (IPv4 or IPv6) until SIGTERM
 * or SIGINT, then stops accepting, lets in-flight requests finish and closes the store
 * cleanly. SIGHUP reloads the TLS certificate and key. A port another process listens on is
 * refused (never shared). The open-files limit is raised to fit --max-connections.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "api/api.h"
#include "core/workspace/dash_sessions.h"
#include "core/workspace/login_throttle.h"
#include "core/cohorts/cohort_read.h"
#include "core/workspace/leases.h"
#include "core/messaging/campaign.h"
#include "http/http.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"
#include "workers/currents_probe.h"
#include "workers/webhook_http.h"
#include "core/segments/segment_jobs.h"
#include "workers/dispatcher.h"
#include "workers/exporter.h"
#include "workers/history.h"
#include "workers/lease_keeper.h"
#include "workers/retention.h"
#include "workers/sender.h"
#include "workers/snapshotter.h"

static const struct cli_opt opts[] = {
    CLI_OPT_DATA,
    CLI_OPT_STORE,
    {"listen", "HOST:PORT", "COHORTD_LISTEN", "127.0.0.1:8080",
     "address to serve on: IPV4:PORT or [IPV6]:PORT ([::] is dual-stack)"},
    {"tls-cert", "FILE", "COHORTD_TLS_CERT", NULL,
     "PEM certificate chain: serve HTTPS (with --tls-key; SIGHUP reloads both)"},
    {"tls-key", "FILE", "COHORTD_TLS_KEY", NULL, "PEM private key of --tls-cert"},
    {"max-connections", "N", "COHORTD_MAX_CONNECTIONS", "4096",
     "connections open at once; past it new ones are closed at once"},
    {"max-connections-per-ip", "N", "COHORTD_MAX_CONNECTIONS_PER_IP", "128",
     "connections open at once from one client address (0: no limit)"},
    {"idle-timeout-s", "S", "COHORTD_IDLE_TIMEOUT_S", "15",
     "a connection with no traffic this long is closed"},
    {"request-timeout-s", "S", "COHORTD_REQUEST_TIMEOUT_S", "30",
     "a request's headers and body must arrive within this"},
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
    {"max-array-length", "N", "COHORTD_MAX_ARRAY_LENGTH", "25",
     "elements a custom array attribute keeps (1 to 100); longer arrays are truncated"},
    {"currents-poll-ms", "MS", "COHORTD_CURRENTS_POLL_MS", "200",
     "how often Currents look for new events"},
    {"currents-retry-base-ms", "MS", "COHORTD_CURRENTS_RETRY_BASE_MS", "1000",
     "first Currents backoff after 5xx, 429 or a network error"},
    {"currents-retry-max-ms", "MS", "COHORTD_CURRENTS_RETRY_MAX_MS", "600000",
     "longest Currents backoff"},
    {"currents-auth-retry-ms", "MS", "COHORTD_CURRENTS_AUTH_RETRY_MS", "120000",
     "retry delay of a Current failed by 401/403/404 (jittered to 2.5x)"},
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
    {"log-format", "FORMAT", "COHORTD_LOG_FORMAT", "text",
     "text (one key=value line per event) or json (one object per line)"},
    {"metrics-token", "TOKEN", "COHORTD_METRICS_TOKEN", NULL,
     "Bearer token GET /metrics requires (default: open on the listen address)"},
    {"web-dir", "DIR", "COHORTD_WEB_DIR", NULL,
     "the dashboard's files (default: the installed share/cohortd/web, else the source tree's "
     "web/)"},
    {"session-idle-timeout", "DURATION", "COHORTD_SESSION_IDLE_TIMEOUT", "30m",
     "a dashboard session unused this long ends (sessions end 12h after login anyway)"},
    {"public-url", "URL", "COHORTD_PUBLIC_URL", NULL,
     "base URL clients reach cohortd at: the REST endpoint the dashboard shows, the segment "
     "export URLs (default: http(s)://LISTEN)"},
    {"retain-outbox", "DURATION", "COHORTD_RETAIN_OUTBOX", "7d",
     "keep Currents events this long after every Current passed them (0: forever)"},
    {"retain-deliveries", "DURATION", "COHORTD_RETAIN_DELIVERIES", "30d",
     "keep per-recipient outcomes of finished sends this long (0: forever)"},
    {"retain-dead-letters", "DURATION", "COHORTD_RETAIN_DEAD_LETTERS", "30d",
     "keep dead letters not queued for replay this long (0: forever)"},
    {"retain-heap-pages", "DURATION", "COHORTD_RETAIN_HEAP_PAGES", "30d",
     "keep Heap page and sync records this long (0: forever)"},
    {"export-retention", "DURATION", "COHORTD_EXPORT_RETENTION", "24h",
     "a segment export's URL and files live this long after its request"},
    {"history-interval", "DURATION", "COHORTD_HISTORY_INTERVAL", "1h",
     "time between samples of the daily history (data_series); also just after midnight UTC"},
    {"retention-interval", "DURATION", "COHORTD_RETENTION_INTERVAL", "60s",
     "time between retention passes"},
    {"snapshot-interval", "DURATION", "COHORTD_SNAPSHOT_INTERVAL", "10m",
     "time between start-up snapshots (DB.snap/ beside a SQLite store: a restart loads them "
     "instead of reading every row); also one just after start; 0: none, every start reads "
     "the whole store"},
    {"node-id", "NAME", "COHORTD_NODE_ID", NULL,
     "this node's name in the workspace leases of a shared PostgreSQL store (default: "
     "HOSTNAME:PORT)"},
    {"advertise", "URL", "COHORTD_ADVERTISE", NULL,
     "base URL the other nodes forward this node's workspaces' requests to (default: "
     "http://HOST:PORT of --listen, the host name when it listens on every address)"},
    {"lease-time", "DURATION", "COHORTD_LEASE_TIME", "10s",
     "a workspace lease on a shared PostgreSQL store lasts this long unless renewed (every "
     "third of it); another node takes over a dead node's workspaces after it"},
    {"no-backup-before-migrate", NULL, "COHORTD_NO_BACKUP_BEFORE_MIGRATE", NULL,
     "upgrade an older schema without writing DIR/backups/cohortd-v{old}-{time}.db first"},
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

/* Reads the retention options into *out; prints why and returns -1 when one is wrong. */
static int parse_retention(const struct cli_command *cmd, const char *const *values,
                           const struct currents_config *ccfg, int64_t heap_past_ms,
                           struct retention_config *out) {
    static const char *const names[] = {"retain-outbox", "retain-deliveries", "retain-dead-letters",
                                        "retain-heap-pages", "retention-interval"};
    int64_t v[5];
    for (int i = 0; i < 5; i++)
        if (cli_parse_duration(cli_value(cmd, values, names[i]), 3650LL * 86400000, &v[i]) != 0)
            return cli_fail(cmd, "--%s must be a duration such as 30d, 12h, 15m, 10s, 200ms or 0",
                            names[i]) -
                   2;
    if (v[4] == 0)
        return cli_fail(cmd, "--retention-interval must be more than 0") - 2;
    /* a page record is how a page Heap sends again is known: it must outlive the window in
     * which a signature is accepted */
    if (v[3] != 0 && v[3] < heap_past_ms)
        return cli_fail(cmd, "--retain-heap-pages must be 0 or at least --heap-max-past-ms "
                             "(page records detect Heap's repeated pages within that window)") -
               2;
    *out = (struct retention_config){
        .outbox_ms = v[0],
        .deliveries_ms = v[1],
        .dead_letters_ms = v[2],
        .heap_pages_ms = v[3],
        .interval_ms = v[4],
        .currents_horizon_ms =
            ccfg->horizon_ms > ccfg->auth_horizon_ms ? ccfg->horizon_ms : ccfg->auth_horizon_ms,
        .heap_syncs_keep = COHORT_DETAILS_SYNCS,
    };
    return 0;
}

/* HOST:PORT where HOST is an IPv4 literal, or [HOST]:PORT where it is an IPv6 literal. */
static int parse_listen(const char *text, char *host, size_t host_len, int *port) {
    const char *end, *colon;
    const char *start = text;
    if (text[0] == '[') {
        start = text + 1;
        end = strchr(start, ']');
        if (!end || end[1] != ':')
            return -1;
        colon = end + 1;
    } else {
        colon = strrchr(text, ':');
        end = colon;
        if (!colon || memchr(text, ':', (size_t)(colon - text)))
            return -1; /* an IPv6 address needs its brackets */
    }
    long long p;
    size_t n = (size_t)(end - start);
    if (n == 0 || n >= host_len || parse_num(colon + 1, 0, 65535, &p) != 0)
        return -1;
    memcpy(host, start, n);
    host[n] = '\0';
    struct in6_addr a6;
    struct in_addr a4;
    if (text[0] == '[' ? inet_pton(AF_INET6, host, &a6) != 1 : inet_pton(AF_INET, host, &a4) != 1)
        return -1;
    *port = (int)p;
    return 0;
}

/* host:port as a URL authority: 127.0.0.1:8080 or [::1]:8080. */
static void format_addr(const char *host, int port, char *buf, size_t len) {
    if (strchr(host, ':'))
        snprintf(buf, len, "[%s]:%d", host, port);
    else
        snprintf(buf, len, "%s:%d", host, port);
}

/* The dashboard's directory: --web-dir when given (it must be a directory), else the installed
 * one, else the source tree's (a development build run from its tree); NULL when there is
 * none (the dashboard answers 404). Returns -1 having said why when --web-dir is wrong. */
static int pick_web_dir(const struct cli_command *cmd, const char *given, const char **out) {
    struct stat st;
    *out = NULL;
    if (given && *given) {
        if (stat(given, &st) != 0 || !S_ISDIR(st.st_mode))
            return cli_fail(cmd, "--web-dir %s is not a directory", given) - 2;
        *out = given;
        return 0;
    }
    static const char *const candidates[] = {COHORTD_WEB_DIR_INSTALLED, COHORTD_WEB_DIR_SOURCE};
    for (size_t i = 0; i < 2; i++)
        if (stat(candidates[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            *out = candidates[i];
            return 0;
        }
    log_warn("serve",
             "web_dir=none reason=\"neither %s nor %s exists: the dashboard answers "
             "404\"",
             COHORTD_WEB_DIR_INSTALLED, COHORTD_WEB_DIR_SOURCE);
    return 0;
}

/* --public-url without its trailing '/', or http(s)://LISTEN; -1 having said why when the URL
 * is not http:// or https://. */
static int pick_public_url(const struct cli_command *cmd, const char *given, const char *host,
                           int port, bool tls, char *out, size_t len) {
    if (!given || !*given) {
        char where[80];
        format_addr(host, port, where, sizeof where);
        snprintf(out, len, "%s://%s", tls ? "https" : "http", where);
        return 0;
    }
    if ((strncmp(given, "http://", 7) != 0 && strncmp(given, "https://", 8) != 0) ||
        strlen(given) >= len || strpbrk(given, " \t\r\n\"") || strlen(given) <= 8)
        return cli_fail(cmd,
                        "--public-url must be an http:// or https:// URL such as "
                        "https://cohortd.example.com, not '%s'",
                        given) -
               2;
    snprintf(out, len, "%s", given);
    size_t n = strlen(out);
    while (n > 8 && out[n - 1] == '/')
        out[--n] = '\0';
    return 0;
}

/* The snapshot directory of a SQLite store (DB.snap beside DB), made when missing; -1 and errno
 * when it cannot be. */
static int snapshot_dir_for(const char *data, const char *store_url, char *out, size_t cap) {
    const char *db = store_url && strncmp(store_url, "sqlite:", 7) == 0 ? store_url + 7 : NULL;
    if (store_url && !db) {
        errno = EINVAL;
        return -1;
    }
    if (db)
        snprintf(out, cap, "%s.snap", db);
    else
        snprintf(out, cap, "%s/cohortd.db.snap", data);
    if (mkdir(out, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* What a running serve holds, torn down by shut_down in one order whatever got started (a part
 * not started yet is NULL, and each stop function takes NULL). */
struct running {
    int lock_fd; /* kept open (and locked) until the process exits */
    struct store *s;
    struct app *app;
    struct segment_jobs *exports;
    struct api_ctx ctx;
    bool curl;
    struct http_server *srv;
    struct currents *currents;
    struct sender *sender;
    struct retention *retention;
    struct exporter *exporter;
    struct history *history;
    struct lease_keeper *leases;
    struct snapshotter *snapshots;
};

/* No request after the server stops, then the workers (newest first), then what they use. */
static void shut_down(struct running *r) {
    http_server_stop(r->srv);
    snapshotter_stop(r->snapshots);
    lease_keeper_stop(r->leases);
    history_stop(r->history);
    exporter_stop(r->exporter);
    retention_stop(r->retention);
    sender_stop(r->sender);
    currents_stop(r->currents);
    if (r->curl)
        curl_global_cleanup();
    if (r->app) /* after the last request and write: another node may take them at once */
        app_leases_release(r->app);
    segment_jobs_free(r->exports);
    dash_sessions_free(r->ctx.sessions);
    login_throttle_free(r->ctx.throttle);
    app_free(r->app);
    store_close(r->s);
    close(r->lock_fd);
}

/* A dashboard session ends this long after its login, however much it is used. */
#define SESSION_MAX_MS (12LL * 3600 * 1000)

/* Descriptors kept for everything but client connections: the store, log, epoll and
 * inter-thread pipes of the HTTP workers, webhook and Currents sockets. */
#define NOFILE_RESERVE ((rlim_t)1024)
/* A new Current's credential probe holds its create request: it waits at most this long (or
 * --currents-timeout-ms when shorter). */
#define PROBE_TIMEOUT_MS ((int64_t)5000)

/* Raises the soft RLIMIT_NOFILE (up to the hard one) so that *max_conn connections fit; when
 * they cannot, lowers *max_conn to what fits and says so. */
static void fit_open_files(long long *max_conn) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t need = (rlim_t)*max_conn + NOFILE_RESERVE;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rlim_t want = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) ? need : rl.rlim_max;
        struct rlimit nl = {want, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &nl) == 0)
            rl.rlim_cur = want;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        long long cur = (long long)rl.rlim_cur, reserve = (long long)NOFILE_RESERVE;
        long long fits = cur > 2 * reserve ? cur - reserve : cur / 2;
        log_warn("serve",
                 "op=rlimit max_connections=%lld lowered_to=%lld nofile=%llu "
                 "reason=\"the open-files hard limit is too low\"",
                 *max_conn, fits, (unsigned long long)rl.rlim_cur);
        *max_conn = fits < 1 ? 1 : fits;
    }
}

/* Takes the data-directory lock (datalock.c), held until the descriptor is closed (at exit).
 * Prints why and returns -1 when another process holds it or the file cannot be used. */
/* The node instance token the last process of this data directory kept (several nodes on one
 * store: leases.h, app_node_instance), into out ("" when none). */
static void read_node_instance(const char *data, char *out, size_t len) {
    char path[4200];
    snprintf(path, sizeof path, "%s/node-instance", data);
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (!fgets(out, (int)len, f))
        out[0] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
    fclose(f);
}

/* Keeps this process's instance token for the next process of this data directory. */
static void write_node_instance(const char *data, const char *instance) {
    char path[4200], tmp[4210];
    snprintf(path, sizeof path, "%s/node-instance", data);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    bool ok = f && fprintf(f, "%s\n", instance) > 0;
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok || rename(tmp, path) != 0)
        log_warn("serve",
                 "op=write path=%s error=\"%s\" result=\"a restart waits for this "
                 "node's claim to run out\"",
                 path, strerror(errno));
}

static int lock_data_dir(const struct cli_command *cmd, const char *data) {
    char holder[32], err_msg[4200];
    int fd = cli_datalock_take(data, holder, sizeof holder, err_msg, sizeof err_msg);
    if (fd < 0)
        return cli_fail(cmd, "%s", err_msg) - 2;
    return fd;
}

/* Why host:port cannot be listened on, found by a bind of our own (the HTTP library does
 * not say): "is in use (…)" for EADDRINUSE, else the system's message. host is an IPv4 or
 * IPv6 literal; "::" is bound dual-stack, as the server binds it. */
static void explain_listen_failure(const char *host, int port, char *buf, size_t len) {
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    socklen_t ss_len;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        ss_len = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        ss_len = sizeof *a6;
    } else {
        snprintf(buf, len, "is not an IPv4 or IPv6 address");
        return;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1, v6only = !IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr);
    if (fd < 0) {
        snprintf(buf, len, "cannot be listened on (%s)", strerror(errno));
        return;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    if (bind(fd, (struct sockaddr *)&ss, ss_len) != 0)
        snprintf(buf, len,
                 errno == EADDRINUSE ? "is in use (another process listens there)"
                                     : "cannot be listened on (%s)",
                 strerror(errno));
    else
        snprintf(buf, len, "cannot be listened on");
    close(fd);
}

/* The predicates the workers of a node on a shared store ask (core/workspace/leases.h). */
static bool node_owns(void *ctx, int64_t ws) {
    return app_owns_workspace(ctx, ws);
}

static enum cd_err node_check_lease(void *ctx, struct store_txn *t, int64_t ws) {
    return app_lease_check_txn(ctx, t, ws);
}

static bool node_leads(void *ctx) {
    return app_leads(ctx);
}

/* This node's id (--node-id, else HOSTNAME:PORT) and advertised URL (--advertise, else
 * http(s)://HOST:PORT of the listen address, with the host name for a wildcard address). */
static void pick_node(const char *node_id, const char *advertise, const char *host, int port,
                      bool tls, char *node_out, size_t node_len, char *adv_out, size_t adv_len) {
    char hostname[256] = "localhost";
    if (gethostname(hostname, sizeof hostname - 1) != 0)
        snprintf(hostname, sizeof hostname, "localhost");
    hostname[sizeof hostname - 1] = '\0';
    if (node_id && *node_id)
        snprintf(node_out, node_len, "%s", node_id);
    else
        snprintf(node_out, node_len, "%.*s:%d", (int)(node_len - 8), hostname, port);
    if (advertise && *advertise) {
        snprintf(adv_out, adv_len, "%s", advertise);
        size_t n = strlen(adv_out);
        while (n > 8 && adv_out[n - 1] == '/')
            adv_out[--n] = '\0';
        return;
    }
    bool wildcard = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
    char where[232]; /* fits the advertised address with its scheme */
    format_addr(wildcard ? hostname : host, port, where, sizeof where);
    snprintf(adv_out, adv_len, "%s://%s", tls ? "https" : "http", where);
}

static int run(const struct cli_command *cmd, const char *const *values, const char *const *pos,
               int n_pos) {
    (void)pos;
    (void)n_pos;
    char host[64];
    int port;
    long long max_body, threads, heap_past, heap_future, heap_in_flight, currents_timeout;
    long long max_conn, max_per_ip, idle_s, request_s;
    long long max_queued, queue_timeout, max_array;
    int level = log_level_parse(cli_value(cmd, values, "log-level"));
    if (parse_listen(cli_value(cmd, values, "listen"), host, sizeof host, &port) != 0)
        return cli_fail(cmd,
                        "--listen must be IPV4:PORT or [IPV6]:PORT (e.g. 127.0.0.1:8080, "
                        "[::1]:8080), not '%s'",
                        cli_value(cmd, values, "listen")) +
               1;
    const char *tls_cert = cli_value(cmd, values, "tls-cert");
    const char *tls_key = cli_value(cmd, values, "tls-key");
    if (tls_cert && !*tls_cert)
        tls_cert = NULL;
    if (tls_key && !*tls_key)
        tls_key = NULL;
    if (!tls_cert != !tls_key)
        return cli_fail(cmd, "--tls-cert and --tls-key go together: give both or neither") + 1;
    if (parse_num(cli_value(cmd, values, "max-connections"), 1, 1000000, &max_conn) != 0)
        return cli_fail(cmd, "--max-connections must be from 1 to 1000000") + 1;
    if (parse_num(cli_value(cmd, values, "max-connections-per-ip"), 0, 1000000, &max_per_ip) != 0)
        return cli_fail(cmd, "--max-connections-per-ip must be from 0 (no limit) to 1000000") + 1;
    if (parse_num(cli_value(cmd, values, "idle-timeout-s"), 1, 86400, &idle_s) != 0)
        return cli_fail(cmd, "--idle-timeout-s must be from 1 to 86400") + 1;
    if (parse_num(cli_value(cmd, values, "request-timeout-s"), 1, 86400, &request_s) != 0)
        return cli_fail(cmd, "--request-timeout-s must be from 1 to 86400") + 1;
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
    if (parse_num(cli_value(cmd, values, "max-array-length"), 1, 100, &max_array) != 0)
        return cli_fail(cmd, "--max-array-length must be from 1 to 100") + 1;
    if (level < 0)
        return cli_fail(cmd, "--log-level must be error, warn, info or debug") + 1;
    log_threshold = (enum log_level)level;
    int format = log_format_parse(cli_value(cmd, values, "log-format"));
    if (format < 0)
        return cli_fail(cmd, "--log-format must be text or json") + 1;
    log_format = (enum log_format)format;
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

    struct retention_config rcfg;
    if (parse_retention(cmd, values, &ccfg, heap_past, &rcfg) != 0)
        return 1;

    int64_t export_retention;
    if (cli_parse_duration(cli_value(cmd, values, "export-retention"), 3650LL * 86400000,
                           &export_retention) != 0 ||
        export_retention < 1000)
        return cli_fail(cmd, "--export-retention must be a duration of at least 1s, such as 24h");
    int64_t history_interval;
    if (cli_parse_duration(cli_value(cmd, values, "history-interval"), 86400000,
                           &history_interval) != 0 ||
        history_interval < 100)
        return cli_fail(cmd, "--history-interval must be a duration from 100ms to 1d");

    int64_t snapshot_interval;
    if (cli_parse_duration(cli_value(cmd, values, "snapshot-interval"), 7LL * 86400000,
                           &snapshot_interval) != 0 ||
        (snapshot_interval > 0 && snapshot_interval < 1000))
        return cli_fail(cmd, "--snapshot-interval must be 0 or a duration from 1s to 7d, such as "
                             "10m") +
               1;

    int64_t lease_ms;
    if (cli_parse_duration(cli_value(cmd, values, "lease-time"), 3600000, &lease_ms) != 0 ||
        lease_ms < 300)
        return cli_fail(cmd, "--lease-time must be a duration from 300ms to 1h, such as 10s") + 1;
    const char *node_id = cli_value(cmd, values, "node-id");
    const char *advertise = cli_value(cmd, values, "advertise");
    if (node_id &&
        (!*node_id || strlen(node_id) > STORE_LEASE_HOLDER_MAX || strpbrk(node_id, " \t\r\n\"")))
        return cli_fail(cmd, "--node-id must be 1 to %d characters without spaces or quotes",
                        STORE_LEASE_HOLDER_MAX) +
               1;
    if (advertise && *advertise &&
        ((strncmp(advertise, "http://", 7) != 0 && strncmp(advertise, "https://", 8) != 0) ||
         strlen(advertise) <= 8 || strlen(advertise) > STORE_LEASE_ADDRESS_MAX - 1 ||
         strpbrk(advertise, " \t\r\n\"")))
        return cli_fail(cmd,
                        "--advertise must be an http:// or https:// URL such as "
                        "http://10.0.0.5:8080, not '%s'",
                        advertise) +
               1;

    const char *data = cli_value(cmd, values, "data");
    const char *store_url = cli_value(cmd, values, "store");
    if (!store_url) {
        char path[4096];
        snprintf(path, sizeof path, "%s/cohortd.db", data);
        if (access(path, F_OK) != 0)
            return cli_fail(cmd, "%s is not initialised; run: cohortd init --data %s", data, data);
    }
    if (tls_cert) {
        /* before the store is loaded (which can take a while): a bad file fails at once */
        char why[512];
        if (!http_tls_supported())
            return cli_fail(cmd, "--tls-cert: this libmicrohttpd was built without TLS");
        if (http_tls_check(tls_cert, tls_key, why, sizeof why) != 0)
            return cli_fail(cmd, "%s", why);
    }
    const char *web_dir = NULL;
    char public_url[512];
    if (pick_web_dir(cmd, cli_value(cmd, values, "web-dir"), &web_dir) != 0 ||
        pick_public_url(cmd, cli_value(cmd, values, "public-url"), host, port, tls_cert != NULL,
                        public_url, sizeof public_url) != 0)
        return 2;
    int64_t session_idle_ms;
    if (cli_parse_duration(cli_value(cmd, values, "session-idle-timeout"), SESSION_MAX_MS,
                           &session_idle_ms) != 0 ||
        session_idle_ms == 0)
        return cli_fail(cmd, "--session-idle-timeout must be a duration from 1s to 12h, such as "
                             "30m") +
               1;
    fit_open_files(&max_conn);
    /* kept open (and locked) until the process exits */
    int lock_fd = lock_data_dir(cmd, data);
    if (lock_fd < 0)
        return 1;
    int64_t t0 = time_now_ms();
    struct store *s = cli_open_store_ex(
        data, store_url,
        CLI_STORE_LOCK_HELD |
            (cli_value(cmd, values, "no-backup-before-migrate") ? CLI_STORE_NO_BACKUP : 0));
    if (!s) {
        close(lock_fd);
        return 1;
    }
    struct running r = {.s = s, .lock_fd = lock_fd};
    /* a store other processes may share (PostgreSQL): one node owns each workspace at a time */
    bool shared = strcmp(STORE_OPS(s)->name, "sqlite") != 0;
    /* start-up snapshots: SQLite only (a node-local file cannot follow what other nodes write) */
    char snap_dir[4200] = "";
    if (!shared && snapshot_interval > 0 &&
        snapshot_dir_for(data, store_url, snap_dir, sizeof snap_dir) != 0) {
        log_warn("serve", "op=snapshot dir=%s result=unusable error=\"%s\" action=full_loads",
                 snap_dir, strerror(errno));
        snap_dir[0] = '\0';
    }
    enum cd_err err = shared      ? app_new_leased(s, &r.app)
                      : *snap_dir ? app_new_snapshots(s, snap_dir, &r.app)
                                  : app_new(s, &r.app);
    if (err != CD_OK) {
        shut_down(&r);
        return cli_fail(cmd, "cannot load the store: %s", cd_err_name(err));
    }
    struct app *app = r.app;
    app_set_cohort_entry(app, campaign_cohort_entry_locked);
    app_set_write_limits(app, (int)max_queued, queue_timeout);
    app_set_max_array_length(app, (int)max_array);
    if (max_queued + 1 >= threads)
        log_warn("serve",
                 "max_queued_writes=%lld threads=%lld: one workspace's writes can hold "
                 "every HTTP thread; other workspaces wait up to --queue-timeout-ms",
                 max_queued, threads);

    struct segment_jobs_config xcfg = {.data_dir = data,
                                       .public_url = public_url,
                                       .retention_ms = export_retention,
                                       .render = api_segment_export_line};
    if (segment_jobs_new(app, &xcfg, &r.exports) != CD_OK) {
        shut_down(&r);
        return cli_fail(cmd, "cannot open %s/exports (segment exports)", data);
    }

    /* Signals are taken by sigwait below; every thread started from here inherits the mask. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct api_ctx *ctx = &r.ctx;
    *ctx = (struct api_ctx){.app = app,
                            .cfg = {.max_body = (size_t)max_body,
                                    .exports = r.exports,
                                    .heap_max_past_ms = heap_past,
                                    .heap_max_future_ms = heap_future,
                                    .heap_max_in_flight = (int)heap_in_flight,
                                    .metrics_token = cli_value(cmd, values, "metrics-token"),
                                    .currents_probe = currents_probe_send,
                                    .currents_probe_timeout_ms = ccfg.timeout_ms < PROBE_TIMEOUT_MS
                                                                     ? ccfg.timeout_ms
                                                                     : PROBE_TIMEOUT_MS,
                                    .webhook_send = webhook_http_send_once,
                                    .webhook_timeout_ms = scfg.timeout_ms,
                                    .web_dir = web_dir,
                                    .forward = shared ? http_forward : NULL,
                                    .forward_timeout_ms = request_s * 1000,
                                    .public_url = public_url,
                                    .tls = tls_cert != NULL},
                            .throttle = login_throttle_new()};
    /* sessions in the store: shared by the nodes of a shared store; on a store of its own, a
     * restart logs everyone out */
    ctx->sessions = dash_sessions_new(s, session_idle_ms, SESSION_MAX_MS, shared, time_now_ms());
    if (!ctx->sessions || !ctx->throttle) {
        shut_down(&r);
        return cli_fail(cmd, "out of memory");
    }
    struct http_server_config hc = {
        .host = host,
        .port = port,
        .max_body = (size_t)max_body,
        .threads = (int)threads,
        .tls_cert = tls_cert,
        .tls_key = tls_key,
        .max_connections = (int)max_conn,
        .max_per_ip = (int)max_per_ip,
        .idle_timeout_s = (int)idle_s,
        .request_timeout_s = (int)request_s,
        .routes = api_routes,
        .n_routes = api_n_routes,
        .ctx = ctx,
    };
    int bound = 0;
    /* before the first request: POST /currents/create sends a probe with libcurl */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    r.curl = true;
    /* snapshots off on a SQLite store: the user changes recorded so far are pruned now (the
     * worker's later passes every 10 minutes), before the fault count below starts */
    if (!shared && !*snap_dir)
        snapshotter_pass(app);
    /* test builds: COHORTD_FAULT_STORE_CALL counts from here, before the first request can
     * arrive (arming after the listen would race with it) */
    store_faults_arm();
    char start_err[512] = "";
    err = http_server_start(&hc, &r.srv, &bound, start_err, sizeof start_err);
    if (err != CD_OK) {
        shut_down(&r);
        char why[160], where[80];
        format_addr(host, port, where, sizeof where);
        if (err != CD_E_IO)
            return cli_fail(cmd, "%s", start_err);
        explain_listen_failure(host, port, why, sizeof why);
        return cli_fail(cmd, "%s %s", where, why);
    }
    char node_buf[STORE_LEASE_HOLDER_MAX + 1], advertise_buf[STORE_LEASE_ADDRESS_MAX + 1];
    if (shared) {
        /* known only now: the port bound */
        pick_node(node_id, advertise, host, bound, tls_cert != NULL, node_buf, sizeof node_buf,
                  advertise_buf, sizeof advertise_buf);
        struct cd_msg node_msg = {{0}};
        char previous[64];
        read_node_instance(data, previous, sizeof previous);
        if (app_set_node(app, node_buf, advertise_buf, lease_ms, previous[0] ? previous : NULL,
                         &node_msg) != CD_OK) {
            shut_down(&r); /* a second process with this node id: a config error (exit 2) */
            return cli_fail(cmd, "%s", node_msg.text) + 1;
        }
        write_node_instance(data, app_node_instance(app));
        /* the renewer first: a load longer than the lease must not lose it */
        r.leases = lease_keeper_start(app);
        int64_t l0 = time_now_ms();
        app_leases_take(app); /* the workspaces no node holds, before saying ready */
        log_info("serve", "node_id=%s advertise=%s lease_ms=%lld take_ms=%lld", node_buf,
                 advertise_buf, (long long)lease_ms, (long long)(time_now_ms() - l0));
    }
    if (shared) { /* background work only for the workspaces this node owns */
        ccfg.owns = node_owns;
        ccfg.check_lease = node_check_lease;
        ccfg.owns_ctx = app;
        rcfg.should_run = node_leads;
        rcfg.should_run_ctx = app;
    }
    const char *failed = NULL;
    if (shared && !r.leases)
        failed = "the lease worker";
    else if (!(r.currents = currents_start(s, &ccfg)))
        failed = "the Currents dispatcher";
    else if (!(r.sender = sender_start(app, &scfg)))
        failed = "the webhook sender";
    else if (!(r.retention = retention_start(s, &rcfg)))
        failed = "the retention worker";
    if (!failed && !cli_value(cmd, values, "public-url") && port == 0) {
        /* the port is known only now */
        char where[80], base_url[128];
        format_addr(host, bound, where, sizeof where);
        snprintf(base_url, sizeof base_url, "%s://%s", tls_cert ? "https" : "http", where);
        (void)segment_jobs_set_public_url(r.exports, base_url);
    }
    struct exporter_config ecfg = {.sweep_ms = export_retention / 2 < 200 ? 200
                                               : export_retention / 2 > 60000
                                                   ? 60000
                                                   : export_retention / 2,
                                   .callback_timeout_ms = sv[4]};
    if (!failed && !(r.exporter = exporter_start(r.exports, &ecfg)))
        failed = "the segment export worker";
    else if (!failed && !(r.history = history_start(app, history_interval)))
        failed = "the daily history worker";
    /* with snapshots off (or no usable directory) the worker still runs on a SQLite store, to
     * prune the user changes its triggers record: its first pass ran before the listen */
    else if (!failed && !shared &&
             !(r.snapshots = *snap_dir ? snapshotter_start(app, snapshot_interval, 0)
                                       : snapshotter_start(app, 600000, 600000)))
        failed = "the snapshot worker";
    if (failed) {
        shut_down(&r);
        return cli_fail(cmd, "cannot start %s", failed);
    }
    metrics_set("cohortd_build_info", "version=\"" COHORTD_VERSION "\"", 1);
    metrics_set("cohortd_process_start_time_seconds", "", (double)t0 / 1000);
    char where[80];
    format_addr(host, bound, where, sizeof where);
    log_info("serve",
             "version=%s listening=%s://%s store=%s startup_ms=%lld max_connections=%lld "
             "max_connections_per_ip=%lld idle_timeout_s=%lld request_timeout_s=%lld",
             COHORTD_VERSION, tls_cert ? "https" : "http", where, STORE_OPS(s)->name,
             (long long)(time_now_ms() - t0), max_conn, max_per_ip, idle_s, request_s);
    /* Type=notify (packaging/cohortd.service): started means serving; no-op outside systemd */
    sd_notify(0, "READY=1");
    int sig = 0;
    for (;;) {
        sigwait(&stop, &sig);
        if (sig != SIGHUP)
            break;
        log_info("serve", "signal=HUP reloading=tls");
        (void)http_server_reload_tls(r.srv);
    }
    sd_notify(0, "STOPPING=1");
    log_info("serve", "signal=%s stopping", sig == SIGTERM ? "TERM" : "INT");
    shut_down(&r);
    log_info("serve", "stopped");
    return 0;
}

const struct cli_command cli_serve_cmd = {
    .name = "serve",
    .synopsis = "[--data DIR] [--listen HOST:PORT] [--store URL] [--tls-cert FILE --tls-key FILE] "
                "[OPTIONS]",
    .summary = "serve the HTTP API",
    .opts = opts,
    .run = run,
};
