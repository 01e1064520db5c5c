/*
 * serve.c — `cohortd serve`: opens the store, loads every workspace into memory, serves HTTP
 * until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish and closes the
 * store cleanly.
 */
#include "cli/cli.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int run(const struct cli_command *cmd, const char *const *values, const char *const *pos,
               int n_pos) {
    (void)pos;
    (void)n_pos;
    char host[64];
    int port;
    long long max_body, threads, heap_past, heap_future, heap_in_flight, currents_timeout;
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
    int64_t t0 = time_now_ms();
    struct store *s = cli_open_store(data, store_url);
    if (!s)
        return 1;
    struct app *app = NULL;
    enum cd_err err = app_new(s, &app);
    if (err != CD_OK) {
        store_close(s);
        return cli_fail(cmd, "cannot load the store: %s", cd_err_name(err));
    }
    app_set_cohort_entry(app, campaign_cohort_entry_locked);

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
        return cli_fail(cmd, "cannot listen on %s:%d", host, port);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct currents *currents = currents_start(s, &ccfg);
    if (!currents) {
        http_server_stop(srv);
        app_free(app);
        store_close(s);
        return cli_fail(cmd, "cannot start the Currents dispatcher");
    }
    struct sender *sender = sender_start(app, &scfg);
    if (!sender) {
        currents_stop(currents);
        http_server_stop(srv);
        app_free(app);
        store_close(s);
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
