/*
 * test_failures.c — honest failures against the real server: a write that fails in the store
 * leaves memory exactly as it was without rebuilding it (COHORTD_STORE_FAIL_WRITE makes the
 * Nth store write fail), and identifiers and values longer than any old fixed buffer are
 * stored and found whole.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void expect_user(struct server *s, const char *ext, const char *fields, const char *want) {
    json_t *u = export_ext(s, ext, fields);
    if (!want) {
        assert_null(u);
        return;
    }
    assert_non_null(u);
    assert_json_equal(u, want);
    json_decref(u);
}

/* The server log from byte `from` on (malloc'd). */
static char *log_since(const struct server *s, long from) {
    char *path = strf("%s/server.log", s->data);
    FILE *f = fopen(path, "rb");
    free(path);
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long end = ftell(f);
    long n = end > from ? end - from : 0;
    char *text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    fseek(f, from, SEEK_SET);
    size_t got = fread(text, 1, (size_t)n, f);
    text[got] = '\0';
    fclose(f);
    return text;
}

static long log_size(const struct server *s) {
    char *text = log_since(s, 0);
    long n = (long)strlen(text);
    free(text);
    return n;
}

#define GOLD "{\"attribute\":\"tier\",\"op\":\"equals\",\"value\":\"gold\"}"
#define TIER "{\"attribute\":\"tier\",\"op\":\"exists\"}"
#define BOUGHT "{\"event\":\"bought\",\"op\":\"performed\"}"
#define VIEWED "{\"event\":\"viewed\",\"op\":\"performed\"}"
#define COHORT "{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"c1\"},\"op\":\"includes\"}"

/* The answers of the state the setup leaves, asked after a failed write. */
static void expect_setup_state(struct server *s) {
    assert_int_equal(preview(s, GOLD), 1);
    assert_int_equal(preview(s, TIER), 2);
    assert_int_equal(preview(s, BOUGHT), 1);
    assert_int_equal(preview(s, VIEWED), 0);
    assert_int_equal(preview(s, "{\"identified\":true}"), 2);
    assert_int_equal(preview(s, "{\"identified\":false}"), 1);
    expect_user(s, "a", "[\"external_id\",\"custom_attributes\"]",
                "{\"external_id\":\"a\",\"custom_attributes\":{\"tier\":\"gold\"}}");
    expect_user(s, "b", "[\"external_id\",\"custom_attributes\"]",
                "{\"external_id\":\"b\",\"custom_attributes\":{\"tier\":\"silver\"}}");
    expect_user(s, "c", "[\"external_id\"]", NULL);
}

static void test_failed_track_leaves_memory_unchanged_without_reload(void **state) {
    (void)state;
    struct server f;
    server_init(&f);
    server_start(&f);
    post_expect(&f, "/users/track",
                "{\"attributes\":[{\"external_id\":\"a\",\"tier\":\"gold\"},"
                "{\"external_id\":\"b\",\"tier\":\"silver\"}],"
                "\"events\":[{\"external_id\":\"a\",\"name\":\"bought\","
                "\"time\":\"2026-01-01T00:00:00Z\"}]}",
                201, "{\"message\":\"success\",\"attributes_processed\":2,\"events_processed\":1}");
    post_expect(&f, "/users/alias/new",
                "{\"user_aliases\":[{\"alias_name\":\"lead@x\",\"alias_label\":\"email\"}]}", 201,
                "{\"aliases_processed\":1,\"message\":\"success\"}");
    expect_setup_state(&f);
    server_stop(&f);

    /* the failing request is the first after start-up; its last store write (the 8th) fails,
     * after every attribute and event of it changed memory (a 9th would let it succeed) */
    setenv("COHORTD_STORE_FAIL_WRITE", "8", 1);
    server_start(&f);
    unsetenv("COHORTD_STORE_FAIL_WRITE");
    long from = log_size(&f);
    post_expect(&f, "/users/track",
                "{\"attributes\":[{\"external_id\":\"a\",\"tier\":\"platinum\"},"
                "{\"external_id\":\"c\",\"tier\":\"gold\"},"
                "{\"external_id\":\"b\",\"tier\":null}],"
                "\"events\":[{\"external_id\":\"b\",\"name\":\"bought\","
                "\"time\":\"2026-01-02T00:00:00Z\"},{\"external_id\":\"c\",\"name\":\"viewed\","
                "\"time\":\"2026-01-02T00:00:00Z\"}]}",
                503,
                "{\"message\":\"Service Unavailable\",\"errors\":[\"the store is not "
                "available\"]}");
    expect_setup_state(&f);
    /* identify sees the alias-only user and no c: it gives the alias user the external id */
    post_expect(&f, "/users/identify",
                "{\"aliases_to_identify\":[{\"external_id\":\"c\",\"user_alias\":"
                "{\"alias_name\":\"lead@x\",\"alias_label\":\"email\"}}]}",
                201, "{\"aliases_processed\":1,\"message\":\"success\"}");
    expect_user(&f, "c", "[\"external_id\",\"user_aliases\"]",
                "{\"external_id\":\"c\",\"user_aliases\":[{\"alias_name\":\"lead@x\","
                "\"alias_label\":\"email\"}]}");
    /* memory was put back from the journal, not rebuilt from the store */
    char *log = log_since(&f, from);
    if (strstr(log, "op=load") || strstr(log, "op=reload"))
        fail_msg("the workspace was reloaded after the failed write:\n%s", log);
    if (!strstr(log, "op=rollback") || strstr(log, "undone=0"))
        fail_msg("no rollback of memory changes after the failed write:\n%s", log);
    free(log);
    /* the next write succeeds and is seen */
    post_expect(&f, "/users/track",
                "{\"attributes\":[{\"external_id\":\"a\",\"tier\":\"platinum\"}],"
                "\"events\":[{\"external_id\":\"c\",\"name\":\"viewed\","
                "\"time\":\"2026-01-03T00:00:00Z\"}]}",
                201, "{\"message\":\"success\",\"attributes_processed\":1,\"events_processed\":1}");
    assert_int_equal(preview(&f, GOLD), 0);
    assert_int_equal(preview(&f, VIEWED), 1);
    /* and memory agrees with the store after a restart */
    server_stop(&f);
    server_start(&f);
    assert_int_equal(preview(&f, GOLD), 0);
    assert_int_equal(preview(&f, TIER), 2);
    assert_int_equal(preview(&f, BOUGHT), 1);
    assert_int_equal(preview(&f, VIEWED), 1);
    server_cleanup(&f);
}

/* POSTs cohort changes to /partners/heap/cohorts/users and checks the answer. */
static void cohort_changes(struct server *s, const char *cohort, const char *changes, long status,
                           const char *expected) {
    char *body = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":\"%s\","
                      "\"cohort_changes\":%s}",
                      s->partner_key, s->import_key, cohort, changes);
    struct resp r;
    http_req(s, "POST", "/partners/heap/cohorts/users", NULL, body, &r);
    assert_resp(&r, status, expected);
    resp_free(&r);
    free(body);
}

static void test_failed_cohort_import_leaves_members_unchanged(void **state) {
    (void)state;
    struct server f;
    server_init(&f);
    server_start(&f);
    post_expect(&f, "/users/track",
                "{\"attributes\":[{\"external_id\":\"a\"},{\"external_id\":\"b\"}]}", 201,
                "{\"message\":\"success\",\"attributes_processed\":2}");
    cohort_changes(&f, "c1", "[{\"user_ids\":[\"a\"]}]", 201,
                   "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":1,"
                   "\"ids_unmatched\":0,\"users_added\":1,\"users_removed\":0}");
    server_stop(&f);
    /* the import's log row is written; the misses row after it fails */
    setenv("COHORTD_STORE_FAIL_WRITE", "2", 1);
    server_start(&f);
    unsetenv("COHORTD_STORE_FAIL_WRITE");
    long from = log_size(&f);
    cohort_changes(
        &f, "c1",
        "[{\"user_ids\":[\"b\",\"ghost\"]},{\"user_ids\":[\"a\"],\"should_remove\":true}]", 503,
        "{\"message\":\"Service Unavailable\",\"errors\":[\"the store is not "
        "available\"]}");
    assert_int_equal(preview(&f, COHORT), 1);
    struct resp r;
    http_get_rest(&f, "/cohorts/details?partner=heap&cohort_id=c1", &r);
    assert_int_equal(r.status, 200);
    assert_json_equal(json_object_get(r.json, "size"), "1");
    assert_json_equal(json_object_get(r.json, "ids_received"), "1");
    resp_free(&r);
    char *log = log_since(&f, from);
    if (strstr(log, "op=load") || strstr(log, "op=reload") || !strstr(log, "op=rollback"))
        fail_msg("the failed import was not rolled back from the journal:\n%s", log);
    free(log);
    /* the same import now succeeds against the members of before */
    cohort_changes(
        &f, "c1",
        "[{\"user_ids\":[\"b\",\"ghost\"]},{\"user_ids\":[\"a\"],\"should_remove\":true}]", 201,
        "{\"message\":\"success\",\"ids_received\":3,\"ids_matched\":2,"
        "\"ids_unmatched\":1,\"users_added\":1,\"users_removed\":1}");
    server_cleanup(&f);
}

/* Runs one SQL statement on the server's database with the sqlite3 shell. */
static void sql(const struct server *s, const char *stmt) {
    char *cmd = strf("sqlite3 '%s/cohortd.db' \"%s\"", s->data, stmt);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

static int count(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_unloadable_workspace_answers_503_until_it_loads(void **state) {
    (void)state;
    struct server f;
    server_init(&f);
    server_start(&f);
    post_expect(&f, "/users/track", "{\"attributes\":[{\"external_id\":\"a\",\"k\":1}]}", 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
    server_stop(&f);
    /* a row memory cannot hold: the workspace cannot load, the server still starts */
    sql(&f, "UPDATE users SET braze_id = 'not-a-braze-id'");
    server_start(&f);
    char *want = strf("{\"message\":\"Service Unavailable\",\"errors\":[\"workspace %s is not "
                      "loaded: internal_error; retrying\"]}",
                      f.workspace_id);
    for (int i = 0; i < 5; i++)
        post_expect(&f, "/users/export/ids",
                    "{\"external_ids\":[\"a\"],\"fields_to_export\":[\"external_id\"]}", 503, want);
    post_expect(&f, "/users/track", "{\"attributes\":[{\"external_id\":\"b\"}]}", 503, want);
    free(want);
    /* retried at most once a second, each failed attempt logged */
    char *log = log_since(&f, 0);
    int attempts = count(log, "result=not_loaded");
    if (attempts < 1 || attempts > 3)
        fail_msg("%d load attempts logged for 6 quick requests:\n%s", attempts, log);
    free(log);
    /* once the row is readable again a later request loads the workspace */
    sql(&f, "UPDATE users SET braze_id = '000000000000000000000001' WHERE uid = 1");
    long status = 0;
    for (int i = 0; i < 100 && status != 200; i++) {
        struct resp r;
        http_post_rest(&f, "/users/export/ids",
                       "{\"external_ids\":[\"a\"],\"fields_to_export\":[\"external_id\"]}", &r);
        status = r.status;
        resp_free(&r);
        if (status != 200)
            sleep_ms(50);
    }
    assert_int_equal(status, 200);
    expect_user(&f, "a", "[\"external_id\",\"custom_attributes\"]",
                "{\"external_id\":\"a\",\"custom_attributes\":{\"k\":1}}");
    assert_int_equal(preview(&f, "{\"attribute\":\"k\",\"op\":\"equals\",\"value\":1}"), 1);
    server_cleanup(&f);
}

static void test_alias_at_its_limits_is_stored_whole(void **state) {
    struct server *s = *state;
    /* label and name at LIMIT_ALIAS_LABEL / LIMIT_ALIAS_NAME (2048 each): their key is over
     * twice the 2048 bytes the index once held, and a request over them is a 400 */
    char *name = repeat('n', 2048);
    char *label = repeat('l', 2048);
    char *over =
        strf("{\"user_aliases\":[{\"alias_name\":\"%sn\",\"alias_label\":\"email\"}]}", name);
    post_expect(s, "/users/alias/new", over, 400,
                "{\"message\":\"user_aliases[0].alias_name is longer than 2048 bytes\"}");
    free(over);
    char *body =
        strf("{\"user_aliases\":[{\"alias_name\":\"%s\",\"alias_label\":\"%s\"}]}", name, label);
    post_expect(s, "/users/alias/new", body, 201,
                "{\"aliases_processed\":1,\"message\":\"success\"}");
    free(body);
    char *changes =
        strf("[{\"aliases\":[{\"alias_name\":\"%s\",\"alias_label\":\"%s\"}]}]", name, label);
    cohort_changes(s, "long-alias", changes, 201,
                   "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":1,"
                   "\"ids_unmatched\":0,\"users_added\":1,\"users_removed\":0}");
    /* one byte shorter is another alias: nothing was cut */
    char *shorter =
        strf("[{\"aliases\":[{\"alias_name\":\"%.2047s\",\"alias_label\":\"%s\"}]}]", name, label);
    cohort_changes(s, "long-alias", shorter, 201,
                   "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":0,"
                   "\"ids_unmatched\":1,\"users_added\":0,\"users_removed\":0}");
    /* and the alias is found after a restart, loaded from the store */
    server_stop(s);
    server_start(s);
    cohort_changes(s, "long-alias", changes, 201,
                   "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":1,"
                   "\"ids_unmatched\":0,\"users_added\":0,\"users_removed\":0}");
    free(changes);
    free(shorter);
    free(name);
    free(label);
}

static void test_long_string_attribute_is_seen_by_segment_filters(void **state) {
    struct server *s = *state;
    char *value = repeat('v', 1500);
    char *body = strf("{\"attributes\":[{\"external_id\":\"long\",\"note\":\"%s\"},"
                      "{\"external_id\":\"other\",\"note\":\"%.1499s\"}]}",
                      value, value);
    post_expect(s, "/users/track", body, 201,
                "{\"message\":\"success\",\"attributes_processed\":2}");
    free(body);
    char *eq = strf("{\"attribute\":\"note\",\"op\":\"equals\",\"value\":\"%s\"}", value);
    assert_int_equal(preview(s, eq), 1);
    char *contains = strf("{\"attribute\":\"note\",\"op\":\"contains\",\"value\":\"%s\"}", value);
    assert_int_equal(preview(s, contains), 1);
    /* a change moves the user off the long value */
    post_expect(s, "/users/track", "{\"attributes\":[{\"external_id\":\"long\",\"note\":\"x\"}]}",
                201, "{\"message\":\"success\",\"attributes_processed\":1}");
    assert_int_equal(preview(s, eq), 0);
    free(eq);
    free(contains);
    free(value);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_track_leaves_memory_unchanged_without_reload),
        cmocka_unit_test(test_failed_cohort_import_leaves_members_unchanged),
        cmocka_unit_test(test_unloadable_workspace_answers_503_until_it_loads),
        cmocka_unit_test_setup_teardown(test_alias_at_its_limits_is_stored_whole, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_long_string_attribute_is_seen_by_segment_filters,
                                        server_setup, server_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
