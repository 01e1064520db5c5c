/*
 * test_tls.c — HTTPS served directly: a self-signed certificate made here with `openssl req`
 * answers /healthz, plain HTTP to the TLS port gets nothing, SIGHUP gives new connections the
 * new certificate and keeps open ones, a bad certificate at SIGHUP keeps the old one (and the
 * log says why), old protocol versions are refused, and bad files at start fail clearly.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* How long a SIGHUP may take to show, at most (polled). */
#define RELOAD_LIMIT_MS 10000

/* Writes DIR/NAME.crt and DIR/NAME.key: a self-signed P-256 certificate for 127.0.0.1, ::1 and
 * localhost with the given serial. */
static void make_cert(const char *dir, const char *name, int serial) {
    char *cmd = strf("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                     "-keyout '%s/%s.key' -out '%s/%s.crt' -days 2 -subj /CN=localhost "
                     "-addext 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost' "
                     "-set_serial %d >/dev/null 2>&1",
                     dir, name, dir, name, serial);
    if (system(cmd) != 0)
        fail_msg("openssl req failed: %s", cmd);
    free(cmd);
}

/* Copies DIR/FROM.* over DIR/serve.* (the files the server was started with), each by a rename
 * so the server never reads half a file. */
static void install_cert(const char *dir, const char *from) {
    char *cmd = strf("cp '%s/%s.crt' '%s/tmp.crt' && cp '%s/%s.key' '%s/tmp.key' && "
                     "mv '%s/tmp.key' '%s/serve.key' && mv '%s/tmp.crt' '%s/serve.crt'",
                     dir, from, dir, dir, from, dir, dir, dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

struct tls_server {
    struct server s;
    char dir[256];
    char cert[320];
    char key[320];
};

static int tls_setup(void **state) {
    struct tls_server *t = calloc(1, sizeof *t);
    server_init(&t->s);
    snprintf(t->dir, sizeof t->dir, "%s", t->s.data);
    make_cert(t->dir, "one", 1001);
    make_cert(t->dir, "two", 2002);
    install_cert(t->dir, "one");
    snprintf(t->cert, sizeof t->cert, "%s/serve.crt", t->dir);
    snprintf(t->key, sizeof t->key, "%s/serve.key", t->dir);
    t->s.extra_args[0] = "--tls-cert";
    t->s.extra_args[1] = t->cert;
    t->s.extra_args[2] = "--tls-key";
    t->s.extra_args[3] = t->key;
    /* the CA file is a copy: replacing serve.crt must not change what the client trusts */
    snprintf(t->s.ca_file, sizeof t->s.ca_file, "%s/ca.pem", t->dir);
    char *cmd = strf("cat '%s/one.crt' '%s/two.crt' > '%s'", t->dir, t->dir, t->s.ca_file);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    server_start(&t->s);
    *state = t;
    return 0;
}

static int tls_teardown(void **state) {
    struct tls_server *t = *state;
    server_cleanup(&t->s);
    free(t);
    return 0;
}

static size_t discard(char *p, size_t size, size_t n, void *ud) {
    (void)p;
    (void)ud;
    return size * n;
}

/* A curl handle for s's /healthz that verifies against s->ca_file and records certificates. */
static CURL *healthz_handle(const struct server *s) {
    CURL *c = curl_easy_init();
    char *url = strf("%s/healthz", s->base);
    curl_easy_setopt(c, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
    curl_easy_setopt(c, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    return c;
}

/* Performs c; returns the HTTP status (0 when the transfer failed) and copies the serial of the
 * server's certificate (as libcurl prints it, e.g. "3e9" or "03:e9") into serial. */
static long perform(CURL *c, char *serial, size_t serial_len) {
    if (serial)
        serial[0] = '\0';
    if (curl_easy_perform(c) != CURLE_OK)
        return 0;
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    struct curl_certinfo *ci = NULL;
    if (serial && curl_easy_getinfo(c, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci &&
        ci->num_of_certs > 0)
        for (struct curl_slist *l = ci->certinfo[0]; l; l = l->next)
            if (strncmp(l->data, "Serial Number:", 14) == 0)
                snprintf(serial, serial_len, "%s", l->data + 14);
    return status;
}

/* The serial of the certificate a new connection sees, normalised to lower-case hex without
 * separators or leading zeros ("3e9" for 1001); "" when the request failed. */
static void new_connection_serial(const struct server *s, char *out, size_t len) {
    CURL *c = healthz_handle(s);
    char raw[128];
    long status = perform(c, raw, sizeof raw);
    curl_easy_cleanup(c);
    size_t n = 0;
    out[0] = '\0';
    if (status != 200)
        return;
    for (const char *p = raw; *p && n + 1 < len; p++) {
        char ch = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
        bool hexd = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
        if (!hexd || (n == 0 && ch == '0'))
            continue;
        out[n++] = ch;
    }
    out[n] = '\0';
}

/* Whether the server log holds needle, waiting up to 5 s for it (a line can be written just
 * after the request that caused it was answered). */
static bool log_has(const struct server *s, const char *needle) {
    for (int waited = 0;; waited += 50) {
        char *log = server_log(s);
        bool has = strstr(log, needle) != NULL;
        free(log);
        if (has || waited >= 5000)
            return has;
        sleep_ms(50);
    }
}

static void test_https_answers_healthz_with_the_exact_body(void **state) {
    struct tls_server *t = *state;
    struct resp r;
    http_req(&t->s, "GET", "/healthz", NULL, NULL, &r);
    assert_resp(&r, 200, "{\"status\":\"ok\"}");
    resp_free(&r);
    char *line = strf("listening=https://127.0.0.1:%d ", t->s.port);
    assert_true(log_has(&t->s, line));
    free(line);
    char serial[64];
    new_connection_serial(&t->s, serial, sizeof serial);
    assert_string_equal(serial, "3e9"); /* 1001 */
}

static void test_plain_http_to_the_tls_port_gets_no_answer(void **state) {
    struct tls_server *t = *state;
    struct server plain = t->s;
    plain.ca_file[0] = '\0';
    snprintf(plain.base, sizeof plain.base, "http://127.0.0.1:%d", t->s.port);
    struct resp r;
    http_req(&plain, "GET", "/healthz", NULL, NULL, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.body, "");
    resp_free(&r);
    /* and HTTPS still works after it */
    http_req(&t->s, "GET", "/healthz", NULL, NULL, &r);
    assert_resp(&r, 200, "{\"status\":\"ok\"}");
    resp_free(&r);
}

static void
test_sighup_gives_new_connections_the_new_certificate_and_keeps_open_ones(void **state) {
    struct tls_server *t = *state;
    /* a kept-alive connection opened before the reload */
    CURL *old = healthz_handle(&t->s);
    char serial[128];
    assert_int_equal(perform(old, serial, sizeof serial), 200);

    install_cert(t->dir, "two");
    assert_int_equal(kill(t->s.pid, SIGHUP), 0);
    char now[64] = "";
    for (int waited = 0; waited < RELOAD_LIMIT_MS; waited += 50) {
        new_connection_serial(&t->s, now, sizeof now);
        if (strcmp(now, "7d2") == 0) /* 2002 */
            break;
        sleep_ms(50);
    }
    assert_string_equal(now, "7d2");
    assert_true(log_has(&t->s, "op=tls_reload cert="));
    assert_true(log_has(&t->s, " serial=07d2"));

    /* the connection from before is still open and still answers, on the same socket */
    assert_int_equal(perform(old, NULL, 0), 200);
    long connects = -1;
    curl_easy_getinfo(old, CURLINFO_NUM_CONNECTS, &connects);
    assert_int_equal(connects, 0);
    curl_easy_cleanup(old);
}

static void test_a_bad_certificate_at_sighup_keeps_the_old_one_and_logs_why(void **state) {
    struct tls_server *t = *state;
    char *cmd = strf("echo 'not a certificate' > '%s/tmp.crt' && mv '%s/tmp.crt' '%s'", t->dir,
                     t->dir, t->cert);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    assert_int_equal(kill(t->s.pid, SIGHUP), 0);
    char *want = strf("op=tls_reload error=\"%s holds no valid PEM certificate", t->cert);
    if (!log_has(&t->s, want)) {
        char *log = server_log(&t->s);
        print_error("want: %s\nlog:\n%s\n", want, log);
        free(log);
        fail();
    }
    free(want);
    assert_true(log_has(&t->s, "kept_serial=03e9"));
    char serial[64];
    new_connection_serial(&t->s, serial, sizeof serial);
    assert_string_equal(serial, "3e9");

    /* a key that belongs to another certificate is refused as well */
    cmd = strf("cp '%s/one.crt' '%s' && cp '%s/two.key' '%s'", t->dir, t->cert, t->dir, t->key);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    assert_int_equal(kill(t->s.pid, SIGHUP), 0);
    want = strf("the key in %s does not belong to the certificate in %s", t->key, t->cert);
    assert_true(log_has(&t->s, want));
    free(want);
    new_connection_serial(&t->s, serial, sizeof serial);
    assert_string_equal(serial, "3e9");
}

/* A TLS handshake with GnuTLS priorities prio (certificate not checked); the GnuTLS result. */
static int handshake_with(int port, const char *prio) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    gnutls_session_t sess;
    gnutls_certificate_credentials_t cred;
    assert_int_equal(gnutls_certificate_allocate_credentials(&cred), 0);
    assert_int_equal(gnutls_init(&sess, GNUTLS_CLIENT), 0);
    assert_int_equal(gnutls_priority_set_direct(sess, prio, NULL), 0);
    gnutls_credentials_set(sess, GNUTLS_CRD_CERTIFICATE, cred);
    gnutls_transport_set_int(sess, fd);
    gnutls_handshake_set_timeout(sess, 10000);
    int rc;
    do
        rc = gnutls_handshake(sess);
    while (rc < 0 && gnutls_error_is_fatal(rc) == 0);
    if (rc == 0)
        gnutls_bye(sess, GNUTLS_SHUT_RDWR);
    gnutls_deinit(sess);
    gnutls_certificate_free_credentials(cred);
    close(fd);
    return rc;
}

static void test_tls_1_0_and_1_1_are_refused_and_1_2_and_1_3_accepted(void **state) {
    struct tls_server *t = *state;
    assert_true(handshake_with(t->s.port, "NORMAL:-VERS-ALL:+VERS-TLS1.0") < 0);
    assert_true(handshake_with(t->s.port, "NORMAL:-VERS-ALL:+VERS-TLS1.1") < 0);
    assert_int_equal(handshake_with(t->s.port, "NORMAL:-VERS-ALL:+VERS-TLS1.2"), 0);
    assert_int_equal(handshake_with(t->s.port, "NORMAL:-VERS-ALL:+VERS-TLS1.3"), 0);
}

static void test_a_missing_key_file_at_start_exits_1_naming_the_file(void **state) {
    struct tls_server *t = *state;
    struct server other;
    server_init(&other);
    char *missing = strf("%s/missing.key", other.data);
    const char *args[] = {"serve", "--listen",  "127.0.0.1:0", "--tls-cert",
                          t->cert, "--tls-key", missing,       NULL};
    char *err = NULL;
    int rc = run_cli_limited(&other, args, 30, NULL, &err);
    char *want = strf("cohortd serve: cannot read %s: No such file or directory\n", missing);
    if (rc != 1 || strcmp(err, want) != 0) {
        print_error("exit %d (want 1)\nwant: %sstderr: %s\n", rc, want, err);
        fail();
    }
    free(err);
    free(want);

    /* a certificate file that holds no certificate */
    const char *bad[] = {"serve", "--listen",  "127.0.0.1:0", "--tls-cert",
                         t->key,  "--tls-key", t->key,        NULL};
    rc = run_cli_limited(&other, bad, 30, NULL, &err);
    want = strf("cohortd serve: %s holds no valid PEM certificate", t->key);
    if (rc != 1 || strncmp(err, want, strlen(want)) != 0) {
        print_error("exit %d (want 1)\nwant: %s…\nstderr: %s\n", rc, want, err);
        fail();
    }
    free(err);
    free(want);
    free(missing);
    server_cleanup(&other);
}

static void test_a_certificate_without_a_key_is_a_usage_error(void **state) {
    struct tls_server *t = *state;
    const char *args[] = {"serve", "--listen", "127.0.0.1:0", "--tls-cert", t->cert, NULL};
    char *err = NULL;
    int rc = run_cli_limited(&t->s, args, 30, NULL, &err);
    assert_int_equal(rc, 2);
    assert_string_equal(err, "cohortd serve: --tls-cert and --tls-key go together: give both or "
                             "neither\n");
    free(err);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_https_answers_healthz_with_the_exact_body, tls_setup,
                                        tls_teardown),
        cmocka_unit_test_setup_teardown(test_plain_http_to_the_tls_port_gets_no_answer, tls_setup,
                                        tls_teardown),
        cmocka_unit_test_setup_teardown(
            test_sighup_gives_new_connections_the_new_certificate_and_keeps_open_ones, tls_setup,
            tls_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_bad_certificate_at_sighup_keeps_the_old_one_and_logs_why, tls_setup,
            tls_teardown),
        cmocka_unit_test_setup_teardown(test_tls_1_0_and_1_1_are_refused_and_1_2_and_1_3_accepted,
                                        tls_setup, tls_teardown),
        cmocka_unit_test_setup_teardown(test_a_missing_key_file_at_start_exits_1_naming_the_file,
                                        tls_setup, tls_teardown),
        cmocka_unit_test_setup_teardown(test_a_certificate_without_a_key_is_a_usage_error,
                                        tls_setup, tls_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
