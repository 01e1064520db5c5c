/*
 * bench_users.h — what the benchmarks share: a data directory with N generated users written
 * straight into the store (the bulk path a benchmark needs; real users arrive over HTTP), a
 * real `cohortd serve` on a free loopback port, the identifier of user i, the body of a
 * 1000-id partner import request, latency percentiles, REST calls and a counting HTTP receiver.
 *
 * User i (1-based): i % 10 < 8 → identified, external_id "user_<i>"; i % 10 == 8 → alias-only,
 * alias ("email", "user_<i>@example.com"); i % 10 == 9 → anonymous, device id "device_<i>".
 */
#ifndef COHORTD_BENCH_USERS_H
#define COHORTD_BENCH_USERS_H

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bench_server {
    char data[256];
    char rest_key[64];
    char partner_key[64];
    char import_key[64];
    int port;
    pid_t pid;
    double startup_s; /* from exec to the first healthy answer */
};

enum bench_id_kind { BENCH_EXTERNAL = 0, BENCH_ALIAS = 1, BENCH_DEVICE = 2 };

enum bench_id_kind bench_user_kind(uint32_t i);

/* Writes the JSON for user i's identifier as cohort import expects it into buf:
 * "user_<i>" (in user_ids), {"alias_name":…,"alias_label":"email"} or "device_<i>". */
int bench_user_id_json(uint32_t i, char *buf, size_t len);

/* xorshift32: the benchmarks' deterministic random numbers; *s must not be 0. */
uint32_t bench_rand(unsigned *s);

#define BENCH_IDS_PER_REQUEST 1000
#define BENCH_N_COHORTS 20

/* A POST /partners/heap/cohorts/users body for one of BENCH_N_COHORTS cohorts ("cohort_<k>")
 * with BENCH_IDS_PER_REQUEST random ids of users 1..n_users: 90 % additions, 10 % removals,
 * each id in user_ids, device_ids or aliases by its kind. The caller frees it. */
char *bench_import_body_new(const struct bench_server *b, uint32_t n_users, unsigned *seed);

/* Sorts n latencies ascending, in place. */
void bench_sort(double *v, size_t n);
/* The q-quantile (0 ≤ q < 1) of n sorted values by nearest rank below: v[floor(n·q)]; 0 when
 * n is 0. */
double bench_quantile(const double *sorted, size_t n, double q);

/* Initialises a data directory (cohortd init) and adds n users. Returns 0 or -1. */
int bench_prepare(struct bench_server *b, const char *cohortd_bin, uint32_t n);

/* Runs a shell command printing JSON (a `cohortd … --json` call) and parses its output;
 * NULL when it fails or prints no JSON. The caller json_decref()s it. */
json_t *bench_cli_json(const char *cmd);
/* Starts the server and waits until it answers. */
int bench_start(struct bench_server *b, const char *cohortd_bin);
/* Waits (up to 2 minutes) until a SQLite store's start-up snapshot is on disk, so that a
 * benchmark measures the steady state and not the server writing its first snapshot (at 10 M
 * users about 450 MB, while the workspace's publishes wait). Returns at once on other stores. */
void bench_settle(const struct bench_server *b);
void bench_stop(struct bench_server *b);
/* Removes the data directory. */
void bench_cleanup(struct bench_server *b);

/* CPU seconds (user + system) used so far by process pid. */
double bench_cpu_seconds(pid_t pid);
/* Resident set size of pid in bytes. */
long bench_rss_bytes(pid_t pid);

double bench_now(void);

/* One POST of body to path with the server's REST key, the answer streaming to write(…, ud):
 * init sets the handle up (a caller may set more options on r->curl before it goes), perform
 * sends it and returns the HTTP status (0 when there was none), after which r->curl still
 * answers curl_easy_getinfo until free. body and ud must outlive perform. */
struct bench_request {
    CURL *curl;
    struct curl_slist *headers;
};
void bench_request_init(struct bench_request *r, const struct bench_server *b, const char *path,
                        const char *body, size_t (*write)(char *, size_t, size_t, void *),
                        void *ud);
int bench_request_perform(struct bench_request *r);
void bench_request_free(struct bench_request *r);

/* POSTs body to path with the server's REST key; the answer streams to write(…, ud).
 * Returns the HTTP status (0 when there was none). */
int bench_post_rest_to(const struct bench_server *b, const char *path, const char *body,
                       size_t (*write)(char *, size_t, size_t, void *), void *ud);
/* The same, keeping the start of the answer in resp (may be NULL). */
int bench_post_rest(const struct bench_server *b, const char *path, const char *body, char *resp,
                    size_t resp_len);

/* A minimal receiver on loopback (libmicrohttpd, a thread per connection): answers 200 with an
 * empty body, counts requests and the "event_type" keys in bodies (Currents events) without
 * parsing them, so it costs as little as possible. */
struct bench_receiver;
struct bench_receiver *bench_receiver_start(unsigned *port);
long bench_receiver_requests(struct bench_receiver *r);
long bench_receiver_events(struct bench_receiver *r);
void bench_receiver_stop(struct bench_receiver *r);

#endif
