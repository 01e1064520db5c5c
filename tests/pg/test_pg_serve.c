/*
 * test_pg_serve.c — the real server on the PostgreSQL store: `cohortd init` and `cohortd
 * serve` with COHORTD_STORE=postgresql://… (a fresh database per test on the throwaway server of
 * tests/pg/with-pg.sh), users and a partner cohort import answered exactly, /cohorts/details,
 * and everything still there after a clean restart and after kill -9 right after an answer;
 * partners' key check and limited API keys through the CLI and the server.
 */
#include "../e2e/harness.h"
#include "pg_fresh.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int setup(void **state) {
    use_fresh_database("serve");
    /* a fixed node id: the server restarted on another port takes its own lease back at once
     * (a node of another name would wait for the lease of the killed one to expire) */
    static const char *const node[] = {"--node-id", "pg-serve-node", NULL};
    *state = server_new(node);
    return 0;
}

static void changes(struct server *s, const char *cohort, const char *changes_json,
                    const char *expected) {
    char *body = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":\"%s\","
                      "\"cohort_changes\":%s}",
                      s->partner_key, s->import_key, cohort, changes_json);
    struct resp r;
    http_req(s, "POST", "/partners/heap/cohorts/users", NULL, body, &r);
    assert_resp(&r, 201, expected);
    resp_free(&r);
    free(body);
}

static void assert_details(struct server *s, long size, long received) {
    struct resp r;
    http_get_rest(s, "/cohorts/details?partner=heap&cohort_id=paying", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "size")), size);
    assert_int_equal(json_integer_value(json_object_get(r.json, "ids_received")), received);
    resp_free(&r);
}

static void test_an_import_on_postgresql_is_there_after_restart_and_kill(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"ann\",\"plan\":\"gold\"},"
                "{\"external_id\":\"bob\"},{\"external_id\":\"cid\"}]}",
                201, "{\"message\":\"success\",\"attributes_processed\":3}");
    changes(s, "paying", "[{\"user_ids\":[\"ann\",\"bob\",\"nobody\"]}]",
            "{\"message\":\"success\",\"ids_received\":3,\"ids_matched\":2,\"ids_unmatched\":1,"
            "\"users_added\":2,\"users_removed\":0}");
    assert_details(s, 2, 3);

    server_stop(s);
    server_start(s);
    assert_details(s, 2, 3);
    json_t *u = export_ext(s, "ann", "[\"external_id\",\"custom_attributes\"]");
    assert_non_null(u);
    assert_json_equal(u, "{\"external_id\":\"ann\",\"custom_attributes\":{\"plan\":\"gold\"}}");
    json_decref(u);

    /* enough requests to pass a cohort checkpoint, then kill -9 right after the last 201 */
    for (int i = 0; i < 70; i++)
        changes(s, "paying",
                i % 2 ? "[{\"user_ids\":[\"cid\"]}]"
                      : "[{\"user_ids\":[\"cid\"],\"should_remove\":true}]",
                i % 2    ? "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":1,"
                           "\"ids_unmatched\":0,\"users_added\":1,\"users_removed\":0}"
                : i == 0 ? "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":1,"
                           "\"ids_unmatched\":0,\"users_added\":0,\"users_removed\":0}"
                         : "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":1,"
                           "\"ids_unmatched\":0,\"users_added\":0,\"users_removed\":1}");
    changes(s, "paying", "[{\"user_ids\":[\"bob\"],\"should_remove\":true}]",
            "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":1,\"ids_unmatched\":0,"
            "\"users_added\":0,\"users_removed\":1}");
    server_kill(s);
    server_start(s);
    assert_details(s, 2, 74); /* ann and cid */
}

static void test_init_twice_on_the_same_database_changes_nothing(void **state) {
    struct server *s = *state;
    char *err = NULL;
    const char *args[] = {"init", NULL};
    assert_int_equal(run_cli(s, args, NULL, &err), 1);
    assert_non_null(strstr(err, "is already initialised"));
    assert_non_null(strstr(err, s->workspace_id));
    free(err);
    post_expect(s, "/users/track", "{\"attributes\":[{\"external_id\":\"ann\"}]}", 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
}

static void test_a_store_that_cannot_be_reached_is_named_in_the_error(void **state) {
    (void)state;
    char *err = NULL;
    const char *args[] = {"workspace", "list",    "--data",
                          "/tmp",      "--store", "postgresql://cohortd:hunter2@127.0.0.1:1/x",
                          NULL};
    assert_int_equal(run_cli_bare(args, NULL, &err), 1);
    assert_non_null(strstr(err, "cannot connect to the PostgreSQL store "
                                "postgresql://cohortd:***@127.0.0.1:1/x: "));
    assert_null(strstr(err, "hunter2"));
    free(err);
}

/* The output of a command that must succeed, parsed as JSON. */
static json_t *cli_ok_json(struct server *s, const char *const *args) {
    char *out = NULL, *err = NULL;
    int rc = run_cli(s, args, &out, &err);
    if (rc != 0)
        fail_msg("exit %d\nstdout: %s\nstderr: %s\n", rc, out, err);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    free(err);
    assert_non_null(j);
    return j;
}

/* A request with `key` as the bearer key: status and exact body. */
static void key_expect(const struct server *s, const char *key, const char *path, long status,
                       const char *expected) {
    char *auth = strf("Authorization: Bearer %s", key);
    const char *h[] = {auth, NULL};
    struct resp r;
    http_req(s, "GET", path, h, NULL, &r);
    assert_resp(&r, status, expected);
    resp_free(&r);
    free(auth);
}

/* The ops main added after the PostgreSQL store, through the binary: partners' key check and
 * API keys with permissions and a name, kept across a restart. */
static void test_partner_checks_and_limited_api_keys_work_on_postgresql(void **state) {
    struct server *s = *state;
    const char *list[] = {"partner", "list", "--json", NULL};
    json_t *j = cli_ok_json(s, list);
    assert_json_equal(j, "{\"partners\":[{\"name\":\"heap\",\"key_check\":\"off\"}]}");
    json_decref(j);
    const char *set[] = {"partner", "set", "heap", "--key-check", "required", "--json", NULL};
    j = cli_ok_json(s, set);
    assert_json_equal(j, "{\"partner\":\"heap\",\"key_check\":\"required\"}");
    json_decref(j);
    j = cli_ok_json(s, list);
    assert_json_equal(j, "{\"partners\":[{\"name\":\"heap\",\"key_check\":\"required\"}]}");
    json_decref(j);

    const char *create[] = {"api-key", "create",        "--json",        "--name",
                            "ro",      "--permissions", "segments.list", NULL};
    j = cli_ok_json(s, create);
    char *key = strf("%s", json_string_value(json_object_get(j, "rest_api_key")));
    char *id = strf("%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    key_expect(s, key, "/segments/list", 200, "{\"message\":\"success\",\"segments\":[]}");
    key_expect(s, key, "/cohorts/list", 403, "{\"message\":\"Access Denied\"}");
    const char *keys[] = {"api-key", "list", "--json", NULL};
    j = cli_ok_json(s, keys);
    json_t *all = json_object_get(j, "api_keys");
    assert_int_equal(json_array_size(all), 2); /* init's and this one, oldest first */
    char *want = strf(
        "{\"id\":\"%s\",\"name\":\"ro\",\"permissions\":[\"segments.list\"],\"rate_limit\":null}",
        id);
    assert_json_equal(json_array_get(all, 1), want);
    free(want);
    json_decref(j);

    server_stop(s);
    server_start(s);
    key_expect(s, key, "/segments/list", 200, "{\"message\":\"success\",\"segments\":[]}");
    free(key);
    free(id);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_an_import_on_postgresql_is_there_after_restart_and_kill, setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_init_twice_on_the_same_database_changes_nothing, setup,
                                        server_teardown),
        cmocka_unit_test(test_a_store_that_cannot_be_reached_is_named_in_the_error),
        cmocka_unit_test_setup_teardown(test_partner_checks_and_limited_api_keys_work_on_postgresql,
                                        setup, server_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
