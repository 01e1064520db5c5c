/*
 * test_users_merge.c — POST /users/merge against the real server (user_data/post_users_merge.md):
 * the merged user's custom attributes it alone has, its events (counts summed, first and last
 * kept), its aliases and its cohort memberships move to the kept user and the merged user is
 * deleted, in one write, kept across a restart; Braze's 400 texts for bad bodies, which change
 * nothing.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static void import(struct server *s, const char *cohort, const char *changes) {
    char *body = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":\"%s\","
                      "\"cohort_changes\":%s}",
                      s->partner_key, s->import_key, cohort, changes);
    struct resp r;
    http_req(s, "POST", "/partners/heap/cohorts/users", NULL, body, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    free(body);
}

/* old1 and cur1 (by external id), and two alias-only users; old1 is in vip and churn, cur1 in
 * vip. */
static int setup(void **state) {
    struct server *s = server_new(NULL);
    post_status(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"old1\",\"first_name\":\"Old\",\"plan\":"
                "\"trial\",\"color\":\"red\"},{\"external_id\":\"cur1\",\"plan\":\"pro\"}],"
                "\"events\":[{\"external_id\":\"old1\",\"name\":\"bought\",\"time\":"
                "\"2026-01-01T00:00:00Z\"},{\"external_id\":\"old1\",\"name\":\"bought\",\"time\":"
                "\"2026-02-01T00:00:00Z\"},{\"external_id\":\"cur1\",\"name\":\"bought\",\"time\":"
                "\"2026-03-01T00:00:00Z\"}]}",
                201);
    post_status(s, "/users/alias/new",
                "{\"user_aliases\":[{\"external_id\":\"old1\",\"alias_label\":\"crm\","
                "\"alias_name\":\"o-1\"},{\"alias_label\":\"email\",\"alias_name\":\"old@x\"},"
                "{\"alias_label\":\"email\",\"alias_name\":\"cur@x\"}]}",
                201);
    post_status(s, "/users/track",
                "{\"attributes\":[{\"user_alias\":{\"alias_label\":\"email\",\"alias_name\":"
                "\"old@x\"},\"city\":\"Oslo\"}]}",
                201);
    import(s, "vip", "[{\"user_ids\":[\"old1\",\"cur1\"]}]");
    import(s, "churn", "[{\"user_ids\":[\"old1\"]}]");
    *state = s;
    return 0;
}

static long in_cohort_with_plan(struct server *s, const char *cohort, const char *plan) {
    char *f = strf("{\"and\":[{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"%s\"},\"op\":"
                   "\"includes\"},{\"attribute\":\"plan\",\"op\":\"equals\",\"value\":\"%s\"}]}",
                   cohort, plan);
    long n = preview(s, f);
    free(f);
    return n;
}

static void assert_merged(struct server *s) {
    json_t *u = export_ext(s, "cur1",
                           "[\"external_id\",\"custom_attributes\",\"first_name\","
                           "\"custom_events\",\"user_aliases\"]");
    assert_non_null(u);
    assert_json_equal(u, "{\"external_id\":\"cur1\",\"first_name\":\"Old\",\"custom_attributes\":"
                         "{\"plan\":\"pro\",\"color\":\"red\"},\"custom_events\":[{\"name\":"
                         "\"bought\",\"first\":\"2026-01-01T00:00:00.000Z\",\"last\":"
                         "\"2026-03-01T00:00:00.000Z\",\"count\":3}],\"user_aliases\":[{"
                         "\"alias_name\":\"o-1\",\"alias_label\":\"crm\"}]}");
    json_decref(u);
    assert_null(export_ext(s, "old1", "[\"external_id\"]"));
    /* cur1 (pro) is in churn now, and vip holds it alone: old1 is gone */
    assert_int_equal(in_cohort_with_plan(s, "churn", "pro"), 1);
    assert_int_equal(preview(s, "{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"churn\"},"
                                "\"op\":\"includes\"}"),
                     1);
    assert_int_equal(preview(s, "{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"vip\"},"
                                "\"op\":\"includes\"}"),
                     1);
    /* the alias-only pair: the kept one has the city, the merged one is gone */
    struct resp r;
    http_post_rest(s, "/users/export/ids",
                   "{\"user_aliases\":[{\"alias_label\":\"email\",\"alias_name\":\"cur@x\"}],"
                   "\"fields_to_export\":[\"custom_attributes\"]}",
                   &r);
    assert_resp(
        &r, 200,
        "{\"message\":\"success\",\"users\":[{\"custom_attributes\":{\"city\":\"Oslo\"}}]}");
    resp_free(&r);
    assert_int_equal(sql_count(s, "SELECT count(*) FROM users WHERE external_id = 'old1'"), 0);
}

static void
test_merge_moves_attributes_events_aliases_and_cohorts_and_deletes_the_merged_user(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/merge",
                "{\"merge_updates\":[{\"identifier_to_merge\":{\"external_id\":\"old1\"},"
                "\"identifier_to_keep\":{\"external_id\":\"cur1\"}},{\"identifier_to_merge\":{"
                "\"user_alias\":{\"alias_name\":\"old@x\",\"alias_label\":\"email\"}},"
                "\"identifier_to_keep\":{\"user_alias\":{\"alias_name\":\"cur@x\","
                "\"alias_label\":\"email\"}}},{\"identifier_to_merge\":{\"external_id\":"
                "\"ghost\"},\"identifier_to_keep\":{\"external_id\":\"cur1\"}},"
                "{\"identifier_to_merge\":{\"external_id\":\"cur1\"},\"identifier_to_keep\":{"
                "\"external_id\":\"cur1\"}}]}",
                202,
                "{\"message\":\"success\",\"errors\":[{\"type\":\"no user matches this "
                "identifier and none may be created\",\"input_array\":\"merge_updates\","
                "\"index\":2}]}");
    assert_merged(s);
    /* the merged user's alias now names the kept user */
    struct resp r;
    http_post_rest(s, "/users/export/ids",
                   "{\"user_aliases\":[{\"alias_label\":\"crm\",\"alias_name\":\"o-1\"}],"
                   "\"fields_to_export\":[\"external_id\"]}",
                   &r);
    assert_resp(&r, 200, "{\"message\":\"success\",\"users\":[{\"external_id\":\"cur1\"}]}");
    resp_free(&r);
    server_stop(s);
    server_start(s);
    assert_merged(s);
}

static void test_bad_merge_bodies_get_brazes_texts_and_change_nothing(void **state) {
    struct server *s = *state;
    json_t *many = json_array();
    for (int i = 0; i < 51; i++)
        json_array_append_new(many,
                              json_pack("{s:{s:s}, s:{s:s}}", "identifier_to_merge", "external_id",
                                        "old1", "identifier_to_keep", "external_id", "cur1"));
    char *many_text = json_dumps(many, JSON_COMPACT);
    const char *ok = "{\"identifier_to_merge\":{\"external_id\":\"old1\"},"
                     "\"identifier_to_keep\":{\"external_id\":\"cur1\"}}";
    struct {
        char *updates;
        const char *want;
    } cases[] = {
        {strf("{}"), "'merge_updates' must be an array of objects"},
        {strf("[%s,1]", ok), "'merge_updates' must be an array of objects"},
        {strf("%s", many_text), "a single request may not contain more than 50 merge updates"},
        {strf("[%s,{\"identifier_to_merge\":{\"external_id\":\"old1\"}}]", ok),
         "'merge_updates' must only have 'identifier_to_merge' and 'identifier_to_keep'"},
        {strf("[{\"identifier_to_merge\":{\"external_id\":\"old1\"},\"identifier_to_keep\":{"
              "\"external_id\":\"cur1\"},\"x\":1}]"),
         "'merge_updates' must only have 'identifier_to_merge' and 'identifier_to_keep'"},
        {strf("[%s,{\"identifier_to_merge\":{\"braze_id\":\"x\"},\"identifier_to_keep\":{"
              "\"external_id\":\"cur1\"}}]",
              ok),
         "identifiers must be objects with an 'external_id' property that is a string, or "
         "'user_alias' property that is an object"},
        {strf("[%s,{\"identifier_to_merge\":{\"external_id\":\"old1\"},\"identifier_to_keep\":{"
              "\"user_alias\":{\"alias_label\":\"email\",\"alias_name\":\"cur@x\"}}}]",
              ok),
         "identifiers must be objects of the same type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body = strf("{\"merge_updates\":%s}", cases[i].updates);
        char *want = strf("{\"message\":\"%s\"}", cases[i].want);
        post_expect(s, "/users/merge", body, 400, want);
        free(want);
        free(body);
        free(cases[i].updates);
    }
    /* nothing was merged */
    json_t *u = export_ext(s, "old1", "[\"external_id\"]");
    assert_non_null(u);
    json_decref(u);
    assert_int_equal(in_cohort_with_plan(s, "churn", "pro"), 0);
    free(many_text);
    json_decref(many);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_merge_moves_attributes_events_aliases_and_cohorts_and_deletes_the_merged_user,
            setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_bad_merge_bodies_get_brazes_texts_and_change_nothing,
                                        setup, server_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
