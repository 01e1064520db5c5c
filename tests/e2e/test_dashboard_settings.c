/* test_dashboard_settings.c — the dashboard's settings endpoints: its users (listed by any
 * session, created and deleted by admins only), the workspaces (listed by a session, created by
 * an admin), and a workspace's data import keys (shown, rotated and invalidated with a REST key
 * or a session, the REST endpoint being --public-url); a member's admin write is refused 403
 * and changes nothing. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN "admin@example.com"
#define ADMIN_PW "admin password 1"
#define MEMBER "member@example.com"
#define MEMBER_PW "member password 1"
#define FORBIDDEN "{\"message\":\"only an admin may do this\"}"
#define NOT_LOGGED_IN "{\"message\":\"not logged in\"}"

static int setup(void **state) {
    const char *args[] = {"--public-url", "https://cohortd.example.com/", NULL};
    struct server *s = server_new(args);
    dashboard_add_user(s, ADMIN, "admin", ADMIN_PW);
    dashboard_add_user(s, MEMBER, "member", MEMBER_PW);
    *state = s;
    return 0;
}

/* The users/list answer with each created_at checked (an ISO 8601 string) and removed. */
static json_t *users_without_times(struct server *s, const struct dashboard_login *l) {
    struct resp r;
    dashboard_req(s, l, false, "GET", "/dashboard/api/users", NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *out = json_deep_copy(r.json);
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(out, "users"), i, u) {
        const char *at = json_string_value(json_object_get(u, "created_at"));
        assert_non_null(at);
        assert_int_equal(strlen(at), 24);
        assert_int_equal(at[strlen(at) - 1], 'Z');
        json_object_del(u, "created_at");
    }
    resp_free(&r);
    return out;
}

static void test_an_admin_lists_creates_and_deletes_users(void **state) {
    struct server *s = *state;
    struct dashboard_login admin;
    dashboard_login(s, ADMIN, ADMIN_PW, &admin);
    json_t *list = users_without_times(s, &admin);
    assert_json_equal(list, "{\"users\":[{\"email\":\"" ADMIN
                            "\",\"role\":\"admin\"},{\"email\":\"" MEMBER
                            "\",\"role\":\"member\"}],\"message\":\"success\"}");
    json_decref(list);
    struct resp r;
    dashboard_req(
        s, &admin, true, "POST", "/dashboard/api/users/create",
        "{\"email\":\"New@Example.com\",\"role\":\"member\",\"password\":\"new user pw\"}", &r);
    assert_int_equal(r.status, 201);
    json_t *user = json_object_get(r.json, "user");
    const char *at = json_string_value(json_object_get(user, "created_at"));
    assert_non_null(at);
    char *want = strf("{\"message\":\"success\",\"user\":{\"email\":\"new@example.com\","
                      "\"role\":\"member\",\"created_at\":\"%s\"}}",
                      at);
    assert_resp(&r, 201, want);
    free(want);
    resp_free(&r);
    /* the new user logs in with that password */
    struct dashboard_login fresh;
    dashboard_login(s, "new@example.com", "new user pw", &fresh);
    /* refused whole, nothing stored */
    dashboard_expect(
        s, &admin, "POST", "/dashboard/api/users/create",
        "{\"email\":\"new@example.com\",\"role\":\"member\",\"password\":\"another pw\"}", 400,
        "{\"message\":\"a user with email 'new@example.com' exists already\"}");
    dashboard_expect(
        s, &admin, "POST", "/dashboard/api/users/create",
        "{\"email\":\"x@example.com\",\"role\":\"owner\",\"password\":\"long enough\"}", 400,
        "{\"message\":\"'role' must be 'admin' or 'member'\"}");
    dashboard_expect(s, &admin, "POST", "/dashboard/api/users/create",
                     "{\"email\":\"x@example.com\",\"role\":\"member\",\"password\":\"short\"}",
                     400, "{\"message\":\"'password' must have 8 to 1024 bytes\"}");
    dashboard_expect(s, &admin, "POST", "/dashboard/api/users/create",
                     "{\"email\":\"no-at-sign\",\"role\":\"member\",\"password\":\"long enough\"}",
                     400,
                     "{\"message\":\"'email' must be an email address of at most 254 bytes\"}");
    dashboard_expect(s, &admin, "POST", "/dashboard/api/users/create", "{\"role\":\"member\"}", 400,
                     "{\"message\":\"'email' and 'password' must be strings\"}");
    assert_int_equal(sql_count(s, "SELECT count(*) FROM dashboard_users"), 3);
    /* delete: the user's session ends with it */
    dashboard_expect(s, &admin, "POST", "/dashboard/api/users/delete",
                     "{\"email\":\"new@example.com\"}", 201, "{\"message\":\"success\"}");
    dashboard_expect(s, &fresh, "GET", "/dashboard/api/session", NULL, 401, NOT_LOGGED_IN);
    dashboard_expect(s, &admin, "POST", "/dashboard/api/users/delete",
                     "{\"email\":\"new@example.com\"}", 404,
                     "{\"message\":\"no user has this email\"}");
    dashboard_expect(s, &admin, "POST", "/dashboard/api/users/delete", "{\"email\":\"" ADMIN "\"}",
                     400, "{\"message\":\"you cannot delete your own user (another admin can)\"}");
    assert_int_equal(sql_count(s, "SELECT count(*) FROM dashboard_users"), 2);
}

static void test_a_member_reads_but_gets_403_on_admin_writes_which_change_nothing(void **state) {
    struct server *s = *state;
    struct dashboard_login member;
    dashboard_login(s, MEMBER, MEMBER_PW, &member);
    json_t *list = users_without_times(s, &member);
    assert_int_equal(json_array_size(json_object_get(list, "users")), 2);
    json_decref(list);
    long users = sql_count(s, "SELECT count(*) FROM dashboard_users");
    long workspaces = sql_count(s, "SELECT count(*) FROM workspaces");
    long keys = sql_count(s, "SELECT count(*) FROM import_keys");
    dashboard_expect(
        s, &member, "POST", "/dashboard/api/users/create",
        "{\"email\":\"m2@example.com\",\"role\":\"admin\",\"password\":\"long enough\"}", 403,
        FORBIDDEN);
    dashboard_expect(s, &member, "POST", "/dashboard/api/users/delete", "{\"email\":\"" ADMIN "\"}",
                     403, FORBIDDEN);
    dashboard_expect(s, &member, "POST", "/workspaces/create", "{\"name\":\"by member\"}", 403,
                     FORBIDDEN);
    dashboard_expect(s, &member, "POST", "/import_keys/rotate", "{\"partner\":\"heap\"}", 403,
                     FORBIDDEN);
    dashboard_expect(s, &member, "POST", "/import_keys/invalidate", "{\"partner\":\"heap\"}", 403,
                     FORBIDDEN);
    assert_int_equal(sql_count(s, "SELECT count(*) FROM dashboard_users"), users);
    assert_int_equal(sql_count(s, "SELECT count(*) FROM workspaces"), workspaces);
    assert_int_equal(sql_count(s, "SELECT count(*) FROM import_keys"), keys);
    /* the key still works for the partner */
    char *want = strf("{\"message\":\"success\",\"partner\":\"heap\",\"data_import_key\":\"%s\","
                      "\"rest_endpoint\":\"https://cohortd.example.com\"}",
                      s->import_key);
    dashboard_expect(s, &member, "GET", "/import_keys/get?partner=heap", NULL, 200, want);
    free(want);
}

static void test_settings_need_a_session_a_rest_key_is_not_one(void **state) {
    struct server *s = *state;
    struct resp r;
    const char *paths[] = {"/dashboard/api/users", "/workspaces/list"};
    for (int i = 0; i < 2; i++) {
        http_get_rest(s, paths[i], &r);
        assert_resp(&r, 401, NOT_LOGGED_IN);
        resp_free(&r);
    }
    http_post_rest(s, "/workspaces/create", "{\"name\":\"by key\"}", &r);
    assert_resp(&r, 401, NOT_LOGGED_IN);
    resp_free(&r);
    assert_int_equal(sql_count(s, "SELECT count(*) FROM workspaces WHERE name = 'by key'"), 0);
}

static void test_an_admin_lists_and_creates_workspaces(void **state) {
    struct server *s = *state;
    struct dashboard_login admin;
    dashboard_login(s, ADMIN, ADMIN_PW, &admin);
    struct resp r;
    dashboard_req(s, &admin, true, "POST", "/workspaces/create", "{\"name\":\"Marketing EU\"}", &r);
    assert_int_equal(r.status, 201);
    const char *id = json_string_value(json_object_get(json_object_get(r.json, "workspace"), "id"));
    assert_non_null(id);
    char *want = strf("{\"message\":\"success\",\"workspace\":{\"id\":\"%s\",\"name\":\"Marketing "
                      "EU\"}}",
                      id);
    assert_resp(&r, 201, want);
    free(want);
    char *sql = strf("SELECT count(*) FROM workspaces WHERE public_id = '%s' AND name = "
                     "'Marketing EU'",
                     id);
    assert_int_equal(sql_count(s, sql), 1);
    free(sql);
    char *created = strdup(id);
    resp_free(&r);
    dashboard_req(s, &admin, false, "GET", "/workspaces/list", NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *all = json_object_get(r.json, "workspaces");
    assert_int_equal(json_array_size(all), 2);
    size_t i;
    json_t *w;
    json_array_foreach(all, i, w) {
        assert_non_null(json_string_value(json_object_get(w, "created_at")));
        json_object_del(w, "created_at");
    }
    want = strf("{\"workspaces\":[{\"id\":\"%s\",\"name\":\"default\"},{\"id\":\"%s\",\"name\":"
                "\"Marketing EU\"}],\"message\":\"success\"}",
                s->workspace_id, created);
    assert_resp(&r, 200, want);
    free(want);
    resp_free(&r);
    /* the session can switch to it and work there */
    char *body = strf("{\"workspace_id\":\"%s\"}", created);
    dashboard_req(s, &admin, true, "POST", "/dashboard/api/workspace", body, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    dashboard_expect(s, &admin, "GET", "/cohorts/list", NULL, 200,
                     "{\"message\":\"success\",\"cohorts\":[]}");
    free(body);
    dashboard_expect(s, &admin, "POST", "/workspaces/create", "{\"name\":\"Marketing EU\"}", 400,
                     "{\"message\":\"a workspace named 'Marketing EU' exists already\"}");
    dashboard_expect(s, &admin, "POST", "/workspaces/create", "{\"name\":\"\"}", 400,
                     "{\"message\":\"'name' must be a string of 1 to 127 bytes\"}");
    assert_int_equal(sql_count(s, "SELECT count(*) FROM workspaces"), 2);
    free(created);
}

/* POST /partners/heap/cohorts with client_secret key: the status. */
static long partner_import(struct server *s, const char *key) {
    char *body = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":\"42\","
                      "\"name\":\"Key check\",\"created_at\":\"2024-05-02T08:15:00Z\"}",
                      s->partner_key, key);
    struct resp r;
    http_req(s, "POST", "/partners/heap/cohorts", NULL, body, &r);
    long status = r.status;
    resp_free(&r);
    free(body);
    return status;
}

static void test_import_keys_are_shown_rotated_and_invalidated(void **state) {
    struct server *s = *state;
    struct resp r;
    /* with the REST key */
    http_get_rest(s, "/import_keys/get?partner=heap", &r);
    char *want = strf("{\"message\":\"success\",\"partner\":\"heap\",\"data_import_key\":\"%s\","
                      "\"rest_endpoint\":\"https://cohortd.example.com\"}",
                      s->import_key);
    assert_resp(&r, 200, want);
    free(want);
    resp_free(&r);
    assert_int_equal(partner_import(s, s->import_key), 201);
    /* rotate, with an admin's session: the old key stops working at once */
    struct dashboard_login admin;
    dashboard_login(s, ADMIN, ADMIN_PW, &admin);
    dashboard_req(s, &admin, true, "POST", "/import_keys/rotate", "{\"partner\":\"heap\"}", &r);
    assert_int_equal(r.status, 201);
    const char *fresh = json_string_value(json_object_get(r.json, "data_import_key"));
    assert_non_null(fresh);
    assert_string_not_equal(fresh, s->import_key);
    want = strf("{\"message\":\"success\",\"partner\":\"heap\",\"data_import_key\":\"%s\","
                "\"rest_endpoint\":\"https://cohortd.example.com\"}",
                fresh);
    assert_resp(&r, 201, want);
    free(want);
    char *key = strdup(fresh);
    resp_free(&r);
    assert_int_equal(partner_import(s, s->import_key), 401);
    assert_int_equal(partner_import(s, key), 201);
    snprintf(s->import_key, sizeof s->import_key, "%s", key);
    /* the session shows the same key */
    want = strf("{\"message\":\"success\",\"partner\":\"heap\",\"data_import_key\":\"%s\","
                "\"rest_endpoint\":\"https://cohortd.example.com\"}",
                key);
    dashboard_expect(s, &admin, "GET", "/import_keys/get?partner=heap", NULL, 200, want);
    free(want);
    /* invalidate, with the REST key: no key afterwards */
    http_post_rest(s, "/import_keys/invalidate", "{\"partner\":\"heap\"}", &r);
    assert_resp(&r, 201, "{\"message\":\"success\"}");
    resp_free(&r);
    assert_int_equal(partner_import(s, key), 401);
    free(key);
    http_get_rest(s, "/import_keys/get?partner=heap", &r);
    assert_resp(&r, 200,
                "{\"message\":\"success\",\"partner\":\"heap\",\"data_import_key\":null,"
                "\"rest_endpoint\":\"https://cohortd.example.com\"}");
    resp_free(&r);
    http_post_rest(s, "/import_keys/invalidate", "{\"partner\":\"heap\"}", &r);
    assert_resp(&r, 404, "{\"message\":\"no active data import key for 'heap'\"}");
    resp_free(&r);
    /* bad partners */
    http_get_rest(s, "/import_keys/get?partner=nope", &r);
    assert_resp(&r, 404, "{\"message\":\"no partner 'nope'\"}");
    resp_free(&r);
    http_get_rest(s, "/import_keys/get", &r);
    assert_resp(&r, 400, "{\"message\":\"'partner' must name a partner (e.g. heap)\"}");
    resp_free(&r);
    http_post_rest(s, "/import_keys/rotate", "{}", &r);
    assert_resp(&r, 400, "{\"message\":\"'partner' must name a partner (e.g. heap)\"}");
    resp_free(&r);
    /* a new key again, for the tests after */
    http_post_rest(s, "/import_keys/rotate", "{\"partner\":\"heap\"}", &r);
    assert_int_equal(r.status, 201);
    snprintf(s->import_key, sizeof s->import_key, "%s",
             json_string_value(json_object_get(r.json, "data_import_key")));
    resp_free(&r);
    assert_int_equal(partner_import(s, s->import_key), 201);
    /* without any credential */
    http_req(s, "GET", "/import_keys/get?partner=heap", NULL, NULL, &r);
    assert_int_equal(r.status, 401);
    resp_free(&r);
}

static void test_the_rest_endpoint_defaults_to_the_listen_address(void **state) {
    (void)state;
    struct server *s = server_new(NULL);
    struct resp r;
    http_get_rest(s, "/import_keys/get?partner=heap", &r);
    char *want = strf("{\"message\":\"success\",\"partner\":\"heap\",\"data_import_key\":\"%s\","
                      "\"rest_endpoint\":\"http://127.0.0.1:%d\"}",
                      s->import_key, s->port);
    assert_resp(&r, 200, want);
    free(want);
    resp_free(&r);
    const char *bad[] = {"serve", "--listen", "127.0.0.1:1", "--public-url", "cohortd.example.com",
                         NULL};
    char *err = NULL;
    assert_int_equal(run_cli_limited(s, bad, 20, NULL, &err), 2);
    assert_non_null(strstr(err, "--public-url must be an http:// or https:// URL"));
    free(err);
    server_cleanup(s);
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_admin_lists_creates_and_deletes_users),
        cmocka_unit_test(test_a_member_reads_but_gets_403_on_admin_writes_which_change_nothing),
        cmocka_unit_test(test_settings_need_a_session_a_rest_key_is_not_one),
        cmocka_unit_test(test_an_admin_lists_and_creates_workspaces),
        cmocka_unit_test(test_import_keys_are_shown_rotated_and_invalidated),
    };
    const struct CMUnitTest own[] = {
        cmocka_unit_test(test_the_rest_endpoint_defaults_to_the_listen_address),
    };
    int failed = cmocka_run_group_tests_name("shared server", tests, setup, server_teardown);
    return failed + cmocka_run_group_tests_name("a server of its own", own, NULL, NULL);
}
