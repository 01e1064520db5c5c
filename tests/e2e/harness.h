/*
 * harness.h — end-to-end test support: starts the real `cohortd` binary (COHORTD_BIN) on a
 * free loopback port with a temporary data directory, speaks HTTP to it with libcurl, runs
 * CLI subcommands, and compares JSON bodies exactly.
 */
#ifndef COHORTD_TESTS_E2E_HARNESS_H
#define COHORTD_TESTS_E2E_HARNESS_H

/* clang-format off */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

struct server {
    pid_t pid;
    int port;
    char data[256];
    char base[64];
    char workspace_id[64];
    char rest_key[64];
    char partner_key[64];       /* partner heap */
    char import_key[64];        /* heap data import key of the workspace */
    const char *extra_args[16]; /* more `serve` arguments, NULL-terminated */
    /* Set after server_init, before server_start: the address literal to listen on (NULL:
     * 127.0.0.1; "::1" or "::" for IPv6, requests then go to [::1]), and a CA file that makes
     * requests HTTPS and trusts that file (the server's --tls-cert, given in extra_args). */
    const char *listen_host;
    char ca_file[300];
};

struct resp {
    long status;
    char *body;
    size_t body_len; /* bytes of body (it may hold NULs: a ZIP, a gzip file) */
    json_t *json;    /* parsed body, or NULL */
    char *headers;   /* raw response headers */
};

/* A fresh data directory initialised with `cohortd init --json`. */
void server_init(struct server *s);
/* Starts `cohortd serve` and waits until /healthz answers (over HTTPS when ca_file is set). */
void server_start(struct server *s);
/* SIGTERM and wait (clean shutdown). Fails the test unless the exit status is 0 and the server
 * log holds no sanitizer report (AddressSanitizer, LeakSanitizer, "runtime error:"…). */
void server_stop(struct server *s);
/* SIGKILL and wait (crash). Fails the test when the log holds a sanitizer report. */
void server_kill(struct server *s);
/* The server log so far (every start of this data directory appends to it); free it. */
char *server_log(const struct server *s);
/* Fails the test when the server log holds a sanitizer report. */
void server_assert_log_clean(const struct server *s);
/* Stops if running and removes the data directory. */
void server_cleanup(struct server *s);
/* init + start, the usual fixture. */
void server_up(struct server *s);

/* Sends a request. headers: NULL-terminated "Name: value" strings, may be NULL. */
void http_req(const struct server *s, const char *method, const char *path, const char **headers,
              const char *body, struct resp *out);
/* POST with the workspace's REST key. */
void http_post_rest(const struct server *s, const char *path, const char *body, struct resp *out);
/* GET with the workspace's REST key. */
void http_get_rest(const struct server *s, const char *path, struct resp *out);
void resp_free(struct resp *r);

/* Asserts status and that the body equals `expected` as JSON (key order ignored). */
void assert_resp(const struct resp *r, long status, const char *expected);
/* Asserts two JSON values equal; prints both on failure. */
void assert_json_equal(const json_t *actual, const char *expected);

/* Asserts a Currents event has the shape of conformance/currents/<event_type>.json: every key
 * (recursively, custom/purchase properties excepted) is in the sample with the same JSON type;
 * and the envelope holds: a 36-character id, an integer time, a 24-character user_id. */
void assert_conformant_event(const json_t *event);

/* server_init, then server_start with extra `serve` arguments (NULL-terminated, or NULL). */
void server_start_with(struct server *s, const char *const *extra_args);
/* The same in a new struct. */
struct server *server_new(const char *const *extra_args);
/* cmocka fixtures: *state = server_new(NULL); and its cleanup. */
int server_setup(void **state);
int server_teardown(void **state);

void sleep_ms(int ms);

/* The single integer a SQL query (e.g. "SELECT count(*) FROM outbox") gives on the server's
 * SQLite file, read-only; the test fails when it cannot be read. */
long sql_count(const struct server *s, const char *sql);
/* Polls sql_count until the Current current_id (NULL: every live Current of the server) has
 * its stored position past the newest outbox event of its types (delivered, or a dead
 * letter): no dispatcher sends any of them again, so a count of what a receiver got is final.
 * Fails after 10 s. */
void sql_wait_currents_caught_up(const struct server *s, const char *current_id);

/* POSTs body to path with the REST key and asserts the status and the exact body. */
void post_expect(struct server *s, const char *path, const char *body, long status,
                 const char *expected);
/* POSTs body to path with the REST key and asserts the status only (setup steps whose answer
 * another test checks exactly). */
void post_status(struct server *s, const char *path, const char *body, long status);
/* Imports changes (the JSON array of cohort_changes) into the heap cohort `cohort` with the
 * server's partner and import keys; asserts 201. */
void heap_import(struct server *s, const char *cohort, const char *changes);
/* POSTs body to path with the REST key, asserts 201 and returns the string the answer holds
 * under key (an id: "segment_id", "campaign_id", …; owned). */
char *post_created(struct server *s, const char *path, const char *body, const char *key);
/* The exact audience size of a segment filter (JSON) by /segments/preview; fails on non-200. */
long preview(struct server *s, const char *filter);
/* /users/export/ids of one external id with fields_to_export (a JSON array): the user object
 * (new reference), or NULL when there is none. */
json_t *export_ext(struct server *s, const char *ext, const char *fields);

/* Creates a custom_http Current "to heap" for url with event_types (a JSON array) and
 * batch_size; copies its current_id into id (64 bytes) unless id is NULL. Fails on a non-201. */
void current_create(struct server *s, const char *url, const char *types, int batch, char *id);
/* GET /currents/details of id (200 asserted); the caller owns the result. */
json_t *current_details(struct server *s, const char *id);

/* n copies of c, NUL-terminated (owned; the test fails when memory runs out). */
char *repeat(char c, size_t n);

/*
 * Runs `cohortd ARGS…` (NULL-terminated) with --data of s; returns the exit code. stdout
 * (and stderr) are returned in *out / *err when not NULL (free them).
 */
int run_cli(const struct server *s, const char *const *args, char **out, char **err);
/* run_cli with input (at most a pipe's capacity, 64 KiB) as the command's whole standard
 * input ("" for an empty one). */
int run_cli_input(const struct server *s, const char *const *args, const char *input, char **out,
                  char **err);
/* run_cli, but a command still running after limit_s seconds is ended (exit code 128): for
 * commands that must fail at once, such as a `serve` that must be refused. */
int run_cli_limited(const struct server *s, const char *const *args, unsigned limit_s, char **out,
                    char **err);
/* Runs `cohortd ARGS…` (NULL-terminated) exactly as given, without --data. */
int run_cli_bare(const char *const *args, char **out, char **err);

/* The value of response header name (case-insensitive) into out (len bytes); "" when absent. */
void resp_header(const struct resp *r, const char *name, char *out, size_t len);

/* A dashboard login: the session cookie ("cohortd_session=<token>") and the CSRF token. */
struct dashboard_login {
    char cookie[128];
    char csrf[80];
};
/* `cohortd user add EMAIL --role ROLE` with password on stdin; fails the test unless exit 0. */
void dashboard_add_user(const struct server *s, const char *email, const char *role,
                        const char *password);
/* POST /dashboard/api/login; fails the test unless 200 with a cookie and a CSRF token. */
void dashboard_login(const struct server *s, const char *email, const char *password,
                     struct dashboard_login *out);
/* A request with the login's cookie and, when csrf, its X-CSRF-Token header. */
void dashboard_req(const struct server *s, const struct dashboard_login *l, bool csrf,
                   const char *method, const char *path, const char *body, struct resp *out);
/* dashboard_req with the CSRF token, asserting the status and the exact body. */
void dashboard_expect(const struct server *s, const struct dashboard_login *l, const char *method,
                      const char *path, const char *body, long status, const char *expected);

/* Path of a conformance file (COHORTD_CONFORMANCE/rel); reads it whole (free it). */
char *read_conformance(const char *rel);

/* printf into a malloc'd string. */
char *strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The wall clock in UNIX milliseconds (what Heap's signatures are dated by). */
long long wall_ms(void);
/* Heap's Heap-Hash value for body signed at ts: "ts:<ts>,hmac:<base64 HMAC-SHA256(secret,
 * ts || body)>"; free it. */
char *heap_hash(const char *secret, long long ts, const char *body);
/* heap_hash with the HMAC as 64 hex digits (upper or lower case); free it. */
char *heap_hash_hex(const char *secret, long long ts, const char *body, bool upper);
/* POSTs body to the Heap webhook of integration id, signed now with secret; fails the test
 * unless the answer has status. */
void heap_deliver(const struct server *s, const char *id, const char *secret, const char *body,
                  long status);

#endif
