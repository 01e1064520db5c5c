/* test_dashboard_auth.c — logging in to the dashboard: users made by `cohortd user`, the login
 * (Argon2id, 401 on a wrong email or password, 429 with a growing delay after repeated
 * failures, per email and per client address), the session cookie (HttpOnly, SameSite=Strict,
 * Secure over TLS), the session acting on the API like a REST key with a CSRF token on every
 * write, logout, idle expiry, the session's workspace, and what a restart keeps (users) and
 * drops (sessions, which live in the server's memory only). */
#include "harness.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN "admin@example.com"
#define ADMIN_PW "correct horse battery"
#define MEMBER "member@example.com"
#define MEMBER_PW "member password 1"

/* Runs `cohortd ARGS… --data DIR` (args split at spaces) with input as its standard input
 * (NULL: empty); returns the exit code, stdout and stderr together in *out when not NULL. */
static int cli_stdin(const struct server *s, const char *input, const char *args, char **out) {
    char *copy = strdup(args), *save = NULL;
    const char *argv[16];
    int n = 0;
    for (char *w = strtok_r(copy, " ", &save); w && n < 15; w = strtok_r(NULL, " ", &save))
        argv[n++] = w;
    argv[n] = NULL;
    char *o = NULL, *e = NULL;
    int rc = run_cli_input(s, argv, input ? input : "", &o, &e);
    free(copy);
    if (out)
        *out = strf("%s%s", o, e);
    free(o);
    free(e);
    return rc;
}

static bool is_hex(const char *s, size_t n) {
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void login_req(const struct server *s, const char *email, const char *password,
                      struct resp *r) {
    char *body = strf("{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    http_req(s, "POST", "/dashboard/api/login", NULL, body, r);
    free(body);
}

static int group_setup(void **state) {
    struct server *s = server_new(NULL);
    dashboard_add_user(s, ADMIN, "admin", ADMIN_PW);
    dashboard_add_user(s, MEMBER, "member", MEMBER_PW);
    *state = s;
    return 0;
}

static void test_login_answers_the_user_and_sets_an_httponly_samesite_cookie(void **state) {
    struct server *s = *state;
    struct resp r;
    /* the email is compared without case */
    login_req(s, "Admin@Example.COM", ADMIN_PW, &r);
    assert_int_equal(r.status, 200);
    const char *csrf = json_string_value(json_object_get(r.json, "csrf_token"));
    assert_non_null(csrf);
    assert_true(is_hex(csrf, 64));
    char *want = strf("{\"message\":\"success\",\"email\":\"" ADMIN
                      "\",\"role\":\"admin\",\"csrf_token\":\"%s\"}",
                      csrf);
    assert_resp(&r, 200, want);
    free(want);
    char cookie[256], token[80];
    resp_header(&r, "Set-Cookie", cookie, sizeof cookie);
    assert_int_equal(sscanf(cookie, "cohortd_session=%64[0-9a-f];", token), 1);
    char *exact = strf("cohortd_session=%s; Path=/; HttpOnly; SameSite=Strict", token);
    assert_string_equal(cookie, exact); /* no Secure over plain HTTP */
    free(exact);
    resp_free(&r);
}

static void test_a_wrong_password_or_unknown_email_is_refused_401(void **state) {
    struct server *s = *state;
    struct resp r;
    login_req(s, MEMBER, "wrong password", &r);
    assert_resp(&r, 401, "{\"message\":\"invalid email or password\"}");
    char cookie[256];
    resp_header(&r, "Set-Cookie", cookie, sizeof cookie);
    assert_string_equal(cookie, "");
    resp_free(&r);
    login_req(s, "nobody@example.com", MEMBER_PW, &r);
    assert_resp(&r, 401, "{\"message\":\"invalid email or password\"}");
    resp_free(&r);
    http_req(s, "POST", "/dashboard/api/login", NULL, "{\"email\":\"" MEMBER "\"}", &r);
    assert_resp(&r, 400, "{\"message\":\"'email' and 'password' must be strings\"}");
    resp_free(&r);
}

static void test_session_answers_the_user_and_the_workspaces(void **state) {
    struct server *s = *state;
    struct dashboard_login ss;
    dashboard_login(s, MEMBER, MEMBER_PW, &ss);
    char *want =
        strf("{\"message\":\"success\",\"email\":\"" MEMBER
             "\",\"role\":\"member\",\"csrf_token\":\"%s\",\"workspace\":{\"id\":\"%s\","
             "\"name\":\"default\"},\"workspaces\":[{\"id\":\"%s\",\"name\":\"default\"}]}",
             ss.csrf, s->workspace_id, s->workspace_id);
    dashboard_expect(s, &ss, "GET", "/dashboard/api/session", NULL, 200, want);
    free(want);
    struct resp r;
    http_req(s, "GET", "/dashboard/api/session", NULL, NULL, &r);
    assert_resp(&r, 401, "{\"message\":\"not logged in\"}");
    resp_free(&r);
    const char *bad[] = {"Cookie: cohortd_session=0123456789abcdef", NULL};
    http_req(s, "GET", "/dashboard/api/session", bad, NULL, &r);
    assert_resp(&r, 401, "{\"message\":\"not logged in\"}");
    resp_free(&r);
}

static void test_the_session_reads_the_api_and_writes_only_with_its_csrf_token(void **state) {
    struct server *s = *state;
    struct dashboard_login ss;
    dashboard_login(s, MEMBER, MEMBER_PW, &ss);
    dashboard_expect(s, &ss, "GET", "/cohorts/list", NULL, 200,
                     "{\"message\":\"success\",\"cohorts\":[]}");
    const char *seg = "{\"name\":\"csrf\",\"filter\":{\"identified\":true}}";
    struct resp r;
    dashboard_req(s, &ss, false, "POST", "/segments/create", seg, &r);
    assert_resp(&r, 403, "{\"message\":\"missing or wrong CSRF token\"}");
    resp_free(&r);
    struct dashboard_login wrong = ss;
    wrong.csrf[0] = wrong.csrf[0] == 'a' ? 'b' : 'a';
    dashboard_req(s, &wrong, true, "POST", "/segments/create", seg, &r);
    assert_resp(&r, 403, "{\"message\":\"missing or wrong CSRF token\"}");
    resp_free(&r);
    /* nothing was made by the refused writes */
    assert_int_equal(sql_count(s, "SELECT count(*) FROM segments WHERE name = 'csrf'"), 0);
    dashboard_req(s, &ss, true, "POST", "/segments/create", seg, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    assert_int_equal(sql_count(s, "SELECT count(*) FROM segments WHERE name = 'csrf'"), 1);
    /* the session acts on its workspace: the REST key sees the same segment */
    http_get_rest(s, "/segments/list", &r);
    assert_non_null(strstr(r.body, "\"name\":\"csrf\""));
    resp_free(&r);
    dashboard_expect(s, &ss, "POST", "/segments/preview", "{\"filter\":{\"identified\":true}}", 200,
                     "{\"message\":\"success\",\"size\":0}");
}

static void test_without_cookie_or_key_the_api_answers_401_as_before(void **state) {
    struct server *s = *state;
    struct resp r;
    http_req(s, "GET", "/cohorts/list", NULL, NULL, &r);
    assert_resp(&r, 401,
                "{\"message\":\"Unauthorized\",\"errors\":[\"send the REST API key as "
                "'Authorization: Bearer <key>'\"]}");
    resp_free(&r);
    /* another cookie is no session */
    const char *other[] = {"Cookie: theme=dark", NULL};
    http_req(s, "GET", "/cohorts/list", other, NULL, &r);
    assert_int_equal(r.status, 401);
    resp_free(&r);
}

static void test_logout_ends_the_session_and_clears_the_cookie(void **state) {
    struct server *s = *state;
    struct dashboard_login ss;
    dashboard_login(s, MEMBER, MEMBER_PW, &ss);
    struct resp r;
    dashboard_req(s, &ss, false, "POST", "/dashboard/api/logout", "{}", &r);
    assert_resp(&r, 403, "{\"message\":\"missing or wrong CSRF token\"}");
    resp_free(&r);
    dashboard_req(s, &ss, true, "POST", "/dashboard/api/logout", "{}", &r);
    assert_resp(&r, 200, "{\"message\":\"success\"}");
    char cookie[256];
    resp_header(&r, "Set-Cookie", cookie, sizeof cookie);
    assert_string_equal(cookie, "cohortd_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
    resp_free(&r);
    dashboard_expect(s, &ss, "GET", "/cohorts/list", NULL, 401, "{\"message\":\"not logged in\"}");
    dashboard_expect(s, &ss, "GET", "/dashboard/api/session", NULL, 401,
                     "{\"message\":\"not logged in\"}");
    dashboard_expect(s, &ss, "POST", "/segments/preview", "{\"filter\":{\"identified\":true}}", 401,
                     "{\"message\":\"not logged in\"}");
}

static void test_the_session_switches_its_workspace(void **state) {
    struct server *s = *state;
    const char *args[] = {"workspace", "create", "second", "--json", NULL};
    char *out = NULL;
    assert_int_equal(run_cli(s, args, &out, NULL), 0);
    json_t *ws = json_loads(out, 0, NULL);
    free(out);
    const char *second = json_string_value(json_object_get(ws, "workspace_id"));
    assert_non_null(second);
    struct dashboard_login ss;
    dashboard_login(s, MEMBER, MEMBER_PW, &ss);
    char *body = strf("{\"workspace_id\":\"%s\"}", second);
    char *want = strf("{\"message\":\"success\",\"email\":\"" MEMBER
                      "\",\"role\":\"member\",\"csrf_token\":\"%s\",\"workspace\":{\"id\":\"%s\","
                      "\"name\":\"second\"},\"workspaces\":[{\"id\":\"%s\",\"name\":\"default\"},"
                      "{\"id\":\"%s\",\"name\":\"second\"}]}",
                      ss.csrf, second, s->workspace_id, second);
    dashboard_expect(s, &ss, "POST", "/dashboard/api/workspace", body, 200, want);
    dashboard_expect(s, &ss, "GET", "/dashboard/api/session", NULL, 200, want);
    /* writes go to the second workspace now */
    struct resp r;
    dashboard_req(s, &ss, true, "POST", "/segments/create",
                  "{\"name\":\"in second\",\"filter\":{\"identified\":true}}", &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    char *sql = strf("SELECT count(*) FROM segments s JOIN workspaces w ON w.id = s.workspace_id "
                     "WHERE s.name = 'in second' AND w.public_id = '%s'",
                     second);
    assert_int_equal(sql_count(s, sql), 1);
    free(sql);
    dashboard_expect(s, &ss, "POST", "/dashboard/api/workspace", "{\"workspace_id\":\"nope\"}", 404,
                     "{\"message\":\"no workspace has this id\"}");
    dashboard_expect(s, &ss, "POST", "/dashboard/api/workspace", "{}", 400,
                     "{\"message\":\"'workspace_id' must be a string\"}");
    free(body);
    free(want);
    json_decref(ws);
}

/* Logins of email with a wrong password until one is throttled; returns its Retry-After. */
static long fail_until_throttled(struct server *s, const char *email, int expect_failures) {
    struct resp r;
    for (int i = 0; i < expect_failures; i++) {
        login_req(s, email, "wrong password", &r);
        assert_resp(&r, 401, "{\"message\":\"invalid email or password\"}");
        resp_free(&r);
    }
    /* throttled even with the right password, which is not checked */
    login_req(s, email, strcmp(email, ADMIN) == 0 ? ADMIN_PW : "wrong password", &r);
    assert_int_equal(r.status, 429);
    char after[32];
    resp_header(&r, "Retry-After", after, sizeof after);
    long secs = strtol(after, NULL, 10);
    char *want = strf("{\"message\":\"too many failed logins, try again in %ld s\"}", secs);
    assert_resp(&r, 429, want);
    free(want);
    resp_free(&r);
    return secs;
}

/* Polls the login of email (wrong password) until it is no longer throttled (within limit_s);
 * the answer is then 401. */
static void wait_unthrottled(struct server *s, const char *email, long limit_s) {
    long long until = wall_ms() + limit_s * 1000 + 2000;
    for (;;) {
        struct resp r;
        login_req(s, email, "wrong password", &r);
        long status = r.status;
        resp_free(&r);
        if (status == 401)
            return;
        assert_int_equal(status, 429);
        if (wall_ms() > until)
            fail_msg("still throttled after %ld s", limit_s);
        sleep_ms(100);
    }
}

static void test_repeated_failures_are_throttled_with_a_growing_delay(void **state) {
    struct server *s = *state;
    dashboard_add_user(s, "throttled@example.com", "member", "throttled pw 1");
    long first = fail_until_throttled(s, "throttled@example.com", 5);
    assert_true(first >= 1 && first <= 2); /* 2 s after the fifth failure */
    /* other emails are not held up */
    struct dashboard_login ss;
    dashboard_login(s, MEMBER, MEMBER_PW, &ss);
    wait_unthrottled(s, "throttled@example.com", first); /* the sixth failure */
    long second = fail_until_throttled(s, "throttled@example.com", 0);
    assert_true(second >= 3 && second <= 4); /* doubled */
    struct resp r;
    login_req(s, "throttled@example.com", "throttled pw 1", &r);
    assert_int_equal(r.status, 429);
    resp_free(&r);
}

static void test_cli_users_add_list_passwd_remove(void **state) {
    struct server *s = *state;
    char *out = NULL;
    /* empty stdin: a password is generated and printed once */
    assert_int_equal(cli_stdin(s, NULL, "user add Gen@Example.com --role member --json", &out), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    const char *pw = json_string_value(json_object_get(j, "password"));
    assert_non_null(pw);
    assert_int_equal(strlen(pw), 24);
    char *want =
        strf("{\"email\":\"gen@example.com\",\"role\":\"member\",\"password\":\"%s\"}", pw);
    assert_json_equal(j, want);
    free(want);
    free(out);
    struct dashboard_login ss;
    dashboard_login(s, "gen@example.com", pw, &ss);
    assert_int_equal(cli_stdin(s, "long enough", "user add gen@example.com", &out), 1);
    assert_non_null(strstr(out, "a user with email 'gen@example.com' exists already"));
    free(out);
    assert_int_equal(cli_stdin(s, "short", "user add short@example.com", &out), 1);
    assert_non_null(strstr(out, "'password' must have 8 to 1024 bytes"));
    free(out);
    assert_int_equal(cli_stdin(s, "long enough", "user add not-an-email", &out), 1);
    assert_non_null(strstr(out, "'email' must be an email address"));
    free(out);
    assert_int_equal(cli_stdin(s, "long enough", "user add x@y.z --role owner", &out), 2);
    assert_non_null(strstr(out, "--role must be admin or member"));
    free(out);
    assert_int_equal(sql_count(s, "SELECT count(*) FROM dashboard_users WHERE email IN "
                                  "('short@example.com', 'not-an-email', 'x@y.z')"),
                     0);
    /* list */
    assert_int_equal(cli_stdin(s, NULL, "user list --json", &out), 0);
    json_t *list = json_loads(out, 0, NULL);
    free(out);
    json_t *users = json_object_get(list, "users");
    size_t i;
    json_t *u;
    bool seen = false;
    json_array_foreach(users, i, u) {
        assert_non_null(json_string_value(json_object_get(u, "created_at")));
        if (strcmp(json_string_value(json_object_get(u, "email")), "gen@example.com") == 0) {
            assert_string_equal(json_string_value(json_object_get(u, "role")), "member");
            seen = true;
        }
    }
    assert_true(seen);
    json_decref(list);
    /* the stored hash is Argon2id, never the password */
    assert_int_equal(sql_count(s, "SELECT count(*) FROM dashboard_users WHERE email = "
                                  "'gen@example.com' AND password_hash LIKE '$argon2id$%'"),
                     1);
    /* passwd: the new password logs in, the old one and its sessions no longer do */
    assert_int_equal(cli_stdin(s, "the new password", "user passwd gen@example.com", &out), 0);
    assert_string_equal(out, "password set\n");
    free(out);
    dashboard_expect(s, &ss, "GET", "/cohorts/list", NULL, 401, "{\"message\":\"not logged in\"}");
    struct resp r;
    login_req(s, "gen@example.com", pw, &r);
    assert_resp(&r, 401, "{\"message\":\"invalid email or password\"}");
    resp_free(&r);
    dashboard_login(s, "gen@example.com", "the new password", &ss);
    /* remove: its session ends at once, though the server runs */
    assert_int_equal(cli_stdin(s, NULL, "user remove gen@example.com", &out), 0);
    assert_string_equal(out, "removed\n");
    free(out);
    dashboard_expect(s, &ss, "GET", "/dashboard/api/session", NULL, 401,
                     "{\"message\":\"not logged in\"}");
    assert_int_equal(cli_stdin(s, NULL, "user remove gen@example.com", &out), 1);
    assert_non_null(strstr(out, "no user with email 'gen@example.com'"));
    free(out);
    json_decref(j);
}

static void test_users_survive_a_restart_and_sessions_do_not(void **state) {
    struct server *s = *state;
    struct dashboard_login ss;
    dashboard_login(s, ADMIN, ADMIN_PW, &ss);
    server_stop(s);
    server_start(s);
    /* sessions live in the server's memory only: the restart logged everyone out */
    dashboard_expect(s, &ss, "GET", "/dashboard/api/session", NULL, 401,
                     "{\"message\":\"not logged in\"}");
    struct dashboard_login again;
    dashboard_login(s, ADMIN, ADMIN_PW, &again);
    dashboard_expect(s, &again, "GET", "/cohorts/list", NULL, 200,
                     "{\"message\":\"success\",\"cohorts\":[]}");
}

/* ---- servers of their own ---- */

static void test_a_session_unused_for_the_idle_timeout_ends(void **state) {
    (void)state;
    const char *args[] = {"--session-idle-timeout", "1s", NULL};
    struct server *s = server_new(args);
    dashboard_add_user(s, MEMBER, "member", MEMBER_PW);
    struct dashboard_login ss;
    dashboard_login(s, MEMBER, MEMBER_PW, &ss);
    /* used every 300 ms for 1.5 s (longer than the timeout): it lives */
    long long start = wall_ms();
    while (wall_ms() - start < 1500) {
        dashboard_expect(s, &ss, "GET", "/cohorts/list", NULL, 200,
                         "{\"message\":\"success\",\"cohorts\":[]}");
        sleep_ms(300);
    }
    dashboard_expect(s, &ss, "GET", "/cohorts/list", NULL, 200,
                     "{\"message\":\"success\",\"cohorts\":[]}");
    long long last_use = wall_ms();
    /* unused for the timeout: it ended (waited for by the clock, not by a request, which
     * would use it) */
    while (wall_ms() - last_use < 1100)
        sleep_ms(50);
    dashboard_expect(s, &ss, "GET", "/cohorts/list", NULL, 401, "{\"message\":\"not logged in\"}");
    server_cleanup(s);
    free(s);
}

static void test_failures_from_one_address_are_throttled_across_emails(void **state) {
    (void)state;
    struct server *s = server_new(NULL);
    dashboard_add_user(s, MEMBER, "member", MEMBER_PW);
    struct resp r;
    for (int i = 0; i < 20; i++) {
        char *email = strf("guess%d@example.com", i);
        login_req(s, email, "wrong password", &r);
        assert_resp(&r, 401, "{\"message\":\"invalid email or password\"}");
        resp_free(&r);
        free(email);
    }
    /* the 21st, for an email of its own (even a real one with its password), waits */
    login_req(s, MEMBER, MEMBER_PW, &r);
    assert_int_equal(r.status, 429);
    char after[32];
    resp_header(&r, "Retry-After", after, sizeof after);
    assert_true(strcmp(after, "1") == 0 || strcmp(after, "2") == 0);
    resp_free(&r);
    server_cleanup(s);
    free(s);
}

static void test_the_cookie_is_secure_over_tls(void **state) {
    (void)state;
    struct server *s = calloc(1, sizeof *s);
    server_init(s);
    char *cmd = strf("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                     "-keyout '%s/t.key' -out '%s/t.crt' -days 2 -subj /CN=localhost "
                     "-addext 'subjectAltName=IP:127.0.0.1' >/dev/null 2>&1",
                     s->data, s->data);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    char *cert = strf("%s/t.crt", s->data), *key = strf("%s/t.key", s->data);
    s->extra_args[0] = "--tls-cert";
    s->extra_args[1] = cert;
    s->extra_args[2] = "--tls-key";
    s->extra_args[3] = key;
    snprintf(s->ca_file, sizeof s->ca_file, "%s", cert);
    server_start(s);
    dashboard_add_user(s, MEMBER, "member", MEMBER_PW);
    struct resp r;
    login_req(s, MEMBER, MEMBER_PW, &r);
    assert_int_equal(r.status, 200);
    char cookie[256], token[80];
    resp_header(&r, "Set-Cookie", cookie, sizeof cookie);
    assert_int_equal(sscanf(cookie, "cohortd_session=%64[0-9a-f];", token), 1);
    char *exact = strf("cohortd_session=%s; Path=/; HttpOnly; SameSite=Strict; Secure", token);
    assert_string_equal(cookie, exact);
    free(exact);
    resp_free(&r);
    server_cleanup(s);
    free(s);
    free(cert);
    free(key);
}

int main(void) {
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(test_login_answers_the_user_and_sets_an_httponly_samesite_cookie),
        cmocka_unit_test(test_a_wrong_password_or_unknown_email_is_refused_401),
        cmocka_unit_test(test_session_answers_the_user_and_the_workspaces),
        cmocka_unit_test(test_the_session_reads_the_api_and_writes_only_with_its_csrf_token),
        cmocka_unit_test(test_without_cookie_or_key_the_api_answers_401_as_before),
        cmocka_unit_test(test_logout_ends_the_session_and_clears_the_cookie),
        cmocka_unit_test(test_the_session_switches_its_workspace),
        cmocka_unit_test(test_repeated_failures_are_throttled_with_a_growing_delay),
        cmocka_unit_test(test_cli_users_add_list_passwd_remove),
        cmocka_unit_test(test_users_survive_a_restart_and_sessions_do_not),
    };
    const struct CMUnitTest own[] = {
        cmocka_unit_test(test_a_session_unused_for_the_idle_timeout_ends),
        cmocka_unit_test(test_failures_from_one_address_are_throttled_across_emails),
        cmocka_unit_test(test_the_cookie_is_secure_over_tls),
    };
    int failed = cmocka_run_group_tests_name("shared server", shared, group_setup, server_teardown);
    return failed + cmocka_run_group_tests_name("servers of their own", own, NULL, NULL);
}
