/*
 * test_users_profile.c — Braze's standard attributes are profile fields (issue 16, item 4)
 * against the real server: /users/track checks and normalises them (a bad value refuses the
 * whole request, 400, naming field and value), stores them as profile fields (never custom
 * attributes), /users/export/ids gives them under their documented names, segment filters of
 * type "profile" select on them, and custom array attributes are capped (25 by default,
 * --max-array-length N).
 */
#include "harness.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OK1 "{\"message\":\"success\",\"attributes_processed\":1}"

static void test_standard_attributes_are_stored_as_profile_fields(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"pf\",\"first_name\":\"Ann\",\"gender\":\"f\","
                "\"country\":\"de\",\"dob\":\"1990-02-28\",\"language\":\"EN\",\"home_city\":"
                "\"Berlin\",\"time_zone\":\"Europe/Berlin\",\"email_subscribe\":\"opted_in\","
                "\"push_subscribe\":\"unsubscribed\",\"current_location\":{\"longitude\":13.4,"
                "\"latitude\":52.5},\"date_of_first_session\":\"2026-01-02T03:04:05+01:00\","
                "\"email_open_tracking_disabled\":true,\"push_tokens\":[{\"app_id\":\"app-1\","
                "\"token\":\"tok\",\"device_id\":\"dev\"}],\"subscription_groups\":[{"
                "\"subscription_group_id\":\"g1\",\"subscription_state\":\"subscribed\"}],"
                "\"plan\":\"pro\"}]}",
                201, OK1);
    json_t *u = export_ext(s, "pf",
                           "[\"first_name\",\"gender\",\"country\",\"dob\",\"language\","
                           "\"home_city\",\"time_zone\",\"email_subscribe\",\"push_subscribe\","
                           "\"last_coordinates\",\"push_tokens\",\"custom_attributes\"]");
    assert_json_equal(u, "{\"first_name\":\"Ann\",\"gender\":\"F\",\"country\":\"DE\",\"dob\":"
                         "\"1990-02-28\",\"language\":\"en\",\"home_city\":\"Berlin\","
                         "\"time_zone\":\"Europe/Berlin\",\"email_subscribe\":\"opted_in\","
                         "\"push_subscribe\":\"unsubscribed\",\"last_coordinates\":[13.4,52.5],"
                         "\"push_tokens\":[{\"app\":\"app-1\",\"token\":\"tok\",\"device_id\":"
                         "\"dev\"}],\"custom_attributes\":{\"plan\":\"pro\"}}");
    json_decref(u);
    /* without fields_to_export every field, the undocumented ones too, none as custom */
    u = export_ext(s, "pf", "null");
    assert_json_equal(json_object_get(u, "custom_attributes"), "{\"plan\":\"pro\"}");
    assert_json_equal(json_object_get(u, "date_of_first_session"), "\"2026-01-02T02:04:05.000Z\"");
    assert_json_equal(json_object_get(u, "email_open_tracking_disabled"), "true");
    assert_json_equal(json_object_get(u, "subscription_groups"),
                      "[{\"subscription_group_id\":\"g1\",\"subscription_state\":"
                      "\"subscribed\"}]");
    json_decref(u);
}

static void test_unmappable_country_is_stored_as_null(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"ctry\",\"country\":\"US\"}]}", 201, OK1);
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"ctry\",\"country\":\"Atlantis\"}]}", 201, OK1);
    json_t *u = export_ext(s, "ctry", "[\"external_id\",\"country\"]");
    assert_json_equal(u, "{\"external_id\":\"ctry\"}");
    json_decref(u);
}

static void test_bad_profile_values_refuse_the_request_naming_field_and_value(void **state) {
    struct server *s = *state;
    static const struct {
        const char *attrs;
        const char *message;
    } cases[] = {
        {"\"gender\":\"X\"",
         "attributes[0].gender: \\\"X\\\" is not one of \\\"M\\\", \\\"F\\\", \\\"O\\\", "
         "\\\"N\\\", \\\"P\\\" or null"},
        {"\"dob\":\"1990-02-30\"", "attributes[0].dob: \\\"1990-02-30\\\" is not a date "
                                   "\\\"YYYY-MM-DD\\\""},
        {"\"email_subscribe\":\"yes\"",
         "attributes[0].email_subscribe: \\\"yes\\\" is not one of \\\"opted_in\\\", "
         "\\\"subscribed\\\" and \\\"unsubscribed\\\""},
        {"\"email\":\"not-an-email\"",
         "attributes[0].email: \\\"not-an-email\\\" is not an email address"},
        {"\"current_location\":{\"longitude\":200,\"latitude\":1}",
         "attributes[0].current_location: {\\\"longitude\\\":200,\\\"latitude\\\":1} is not "
         "{\\\"longitude\\\": -180 to 180, \\\"latitude\\\": -90 to 90}"},
        {"\"first_name\":{\"inc\":1}", "attributes[0].first_name: {\\\"inc\\\":1} is not a "
                                       "string"},
        {"\"email_click_tracking_disabled\":\"no\"",
         "attributes[0].email_click_tracking_disabled: \\\"no\\\" is not a boolean"},
        {"\"last_coordinates\":[1,2]",
         "attributes[0].last_coordinates: set it with current_location"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body = strf("{\"attributes\":[{\"external_id\":\"bad-pf\",%s}]}", cases[i].attrs);
        char *want = strf("{\"message\":\"%s\"}", cases[i].message);
        post_expect(s, "/users/track", body, 400, want);
        free(body);
        free(want);
    }
    /* nothing of any of them was stored */
    json_t *u = export_ext(s, "bad-pf", "[\"external_id\"]");
    assert_null(u);
}

static void test_profile_filters_select_on_profile_fields(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"sg1\",\"gender\":\"M\",\"country\":\"FR\"},"
                "{\"external_id\":\"sg2\",\"gender\":\"m\",\"country\":\"fr\"},"
                "{\"external_id\":\"sg3\",\"gender\":\"F\",\"country\":\"FR\"}]}",
                201, "{\"message\":\"success\",\"attributes_processed\":3}");
    assert_int_equal(preview(s, "{\"and\":[{\"profile\":\"gender\",\"op\":\"equals\",\"value\":"
                                "\"M\"},{\"profile\":\"country\",\"op\":\"equals\",\"value\":"
                                "\"FR\"}]}"),
                     2);
    struct resp r;
    http_post_rest(s, "/segments/preview", "{\"filter\":{\"profile\":\"plan\",\"op\":\"exists\"}}",
                   &r);
    assert_resp(&r, 400,
                "{\"message\":\"filter.profile: must be a profile field, not \\\"plan\\\"\"}");
    resp_free(&r);
    /* the catalogue offers profile fields apart from custom attributes */
    http_get_rest(s, "/segments/filters", &r);
    assert_int_equal(r.status, 200);
    json_t *pf = json_object_get(r.json, "profile_fields");
    size_t i;
    json_t *v;
    bool gender = false;
    json_array_foreach(pf, i, v) gender = gender || strcmp(json_string_value(v), "gender") == 0;
    assert_true(gender);
    json_array_foreach(json_object_get(r.json, "attributes"), i, v)
        assert_string_not_equal(json_string_value(v), "gender");
    resp_free(&r);
}

static void test_array_attributes_keep_25_values_by_default(void **state) {
    struct server *s = *state;
    char vals[400];
    size_t len = 0;
    for (int i = 0; i < 30; i++)
        len += (size_t)snprintf(vals + len, sizeof vals - len, "%s%d", i ? "," : "", i);
    char *body = strf("{\"attributes\":[{\"external_id\":\"arr\",\"list\":[%s]}]}", vals);
    post_expect(s, "/users/track", body, 201, OK1);
    free(body);
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"arr\",\"list2\":[1,2],\"list\":{\"add\":"
                "[99]}}]}",
                201, OK1);
    json_t *u = export_ext(s, "arr", "[\"custom_attributes\"]");
    json_t *list = json_object_get(json_object_get(u, "custom_attributes"), "list");
    assert_int_equal(json_array_size(list), 25);
    assert_int_equal(json_integer_value(json_array_get(list, 24)), 24);
    json_decref(u);
}

static void test_max_array_length_option_sets_the_cap(void **state) {
    (void)state;
    static const char *const args[] = {"--max-array-length", "3", NULL};
    struct server *f = server_new(args);
    post_expect(f, "/users/track",
                "{\"attributes\":[{\"external_id\":\"cap\",\"l\":[\"a\",\"b\",\"c\",\"d\"]}]}", 201,
                OK1);
    json_t *u = export_ext(f, "cap", "[\"custom_attributes\"]");
    assert_json_equal(u, "{\"custom_attributes\":{\"l\":[\"a\",\"b\",\"c\"]}}");
    json_decref(u);
    /* profile arrays are not custom arrays: not capped */
    post_expect(f, "/users/track",
                "{\"attributes\":[{\"external_id\":\"cap\",\"subscription_groups\":["
                "{\"subscription_group_id\":\"1\",\"subscription_state\":\"subscribed\"},"
                "{\"subscription_group_id\":\"2\",\"subscription_state\":\"subscribed\"},"
                "{\"subscription_group_id\":\"3\",\"subscription_state\":\"subscribed\"},"
                "{\"subscription_group_id\":\"4\",\"subscription_state\":\"subscribed\"}]}]}",
                201, OK1);
    u = export_ext(f, "cap", "null");
    assert_int_equal(json_array_size(json_object_get(u, "subscription_groups")), 4);
    json_decref(u);
    void *st = f;
    server_teardown(&st);
    char *err = NULL;
    static const char *const bad[] = {"serve", "--max-array-length", "101", NULL};
    struct server tmp;
    server_init(&tmp);
    assert_int_equal(run_cli_limited(&tmp, bad, 5, NULL, &err), 2);
    assert_non_null(strstr(err, "--max-array-length must be from 1 to 100"));
    free(err);
    server_cleanup(&tmp);
}

static void test_profile_fields_survive_restart(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"rs\",\"gender\":\"o\",\"current_location\":"
                "{\"longitude\":-1.5,\"latitude\":2}}]}",
                201, OK1);
    server_stop(s);
    server_start(s);
    json_t *u = export_ext(s, "rs", "[\"gender\",\"last_coordinates\"]");
    assert_json_equal(u, "{\"gender\":\"O\",\"last_coordinates\":[-1.5,2.0]}");
    json_decref(u);
    assert_int_equal(preview(s, "{\"profile\":\"gender\",\"op\":\"equals\",\"value\":\"O\"}"), 1);
}

static void test_export_fills_total_revenue_and_random_bucket(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track",
                "{\"purchases\":[{\"external_id\":\"rev\",\"product_id\":\"a\",\"currency\":"
                "\"EUR\",\"price\":9.5,\"quantity\":3,\"time\":\"2026-11-01T10:00:00Z\"},"
                "{\"external_id\":\"rev\",\"product_id\":\"b\",\"currency\":\"EUR\","
                "\"price\":2,\"time\":\"2026-11-01T10:00:00Z\"}]}",
                201, "{\"message\":\"success\",\"purchases_processed\":2}");
    json_t *u = export_ext(s, "rev", "[\"total_revenue\",\"custom_attributes\"]");
    assert_json_equal(u, "{\"total_revenue\":30.5}");
    json_decref(u);
    /* the sum is a profile field: segments select on it, /users/track cannot set it */
    assert_int_equal(preview(s, "{\"profile\":\"total_revenue\",\"op\":\"gt\",\"value\":30}"), 1);
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"rev\",\"total_revenue\":1}]}", 400,
                "{\"message\":\"attributes[0].total_revenue: the sum of the user's purchases, "
                "not set directly\"}");
    /* random_bucket: 0 to 9999, the same at every export and after a restart */
    u = export_ext(s, "rev", "[\"random_bucket\"]");
    json_t *b = json_object_get(u, "random_bucket");
    assert_true(json_is_integer(b));
    json_int_t bucket = json_integer_value(b);
    assert_in_range(bucket, 0, 9999);
    json_decref(u);
    server_stop(s);
    server_start(s);
    u = export_ext(s, "rev", "[\"random_bucket\",\"total_revenue\"]");
    char *want = strf("{\"random_bucket\":%lld,\"total_revenue\":30.5}", (long long)bucket);
    assert_json_equal(u, want);
    free(want);
    json_decref(u);
}

static void test_subscription_groups_and_push_tokens_update_entry_by_entry(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"sub\",\"subscription_groups\":[{"
                "\"subscription_group_id\":\"a\",\"subscription_state\":\"subscribed\"},{"
                "\"subscription_group_id\":\"b\",\"subscription_state\":\"subscribed\"}],"
                "\"push_tokens\":[{\"app_id\":\"x\",\"token\":\"t1\"}]}]}",
                201, OK1);
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"sub\",\"subscription_groups\":[{"
                "\"subscription_group_id\":\"b\",\"subscription_state\":\"unsubscribed\"},{"
                "\"subscription_group_id\":\"c\",\"subscription_state\":\"subscribed\"}],"
                "\"push_tokens\":[{\"app_id\":\"x\",\"token\":\"t2\",\"device_id\":\"d\"}]}]}",
                201, OK1);
    json_t *u = export_ext(s, "sub", "null");
    assert_json_equal(json_object_get(u, "subscription_groups"),
                      "[{\"subscription_group_id\":\"a\",\"subscription_state\":\"subscribed\"},"
                      "{\"subscription_group_id\":\"b\",\"subscription_state\":\"unsubscribed\"},"
                      "{\"subscription_group_id\":\"c\",\"subscription_state\":\"subscribed\"}]");
    assert_json_equal(json_object_get(u, "push_tokens"),
                      "[{\"app\":\"x\",\"token\":\"t1\"},{\"app\":\"x\",\"token\":\"t2\","
                      "\"device_id\":\"d\"}]");
    json_decref(u);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standard_attributes_are_stored_as_profile_fields),
        cmocka_unit_test(test_unmappable_country_is_stored_as_null),
        cmocka_unit_test(test_bad_profile_values_refuse_the_request_naming_field_and_value),
        cmocka_unit_test(test_profile_filters_select_on_profile_fields),
        cmocka_unit_test(test_array_attributes_keep_25_values_by_default),
        cmocka_unit_test(test_max_array_length_option_sets_the_cap),
        cmocka_unit_test(test_profile_fields_survive_restart),
        cmocka_unit_test(test_export_fills_total_revenue_and_random_bucket),
        cmocka_unit_test(test_subscription_groups_and_push_tokens_update_entry_by_entry),
    };
    return cmocka_run_group_tests(tests, server_setup, server_teardown);
}
