/*
 * test_segments.c — segments against the real server: the filter language over cohorts,
 * identity, attributes and events; strict validation with exact messages; Braze's list and
 * details shapes; preview; the builder's filter catalogue; NDJSON export; and that every
 * acknowledged change (import, attribute update, deletion) shows in the next size, also after
 * a restart.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static void post_ok(struct server *s, const char *path, const char *body) {
    struct resp r;
    http_post_rest(s, path, body, &r);
    if (r.status != 201)
        fail_msg("%s answered %ld: %s", path, r.status, r.body);
    resp_free(&r);
}

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

static int setup(void **state) {
    struct server *s = server_new(NULL);
    /* u1..u6: plans, ages, events; a device user d1 */
    post_ok(s, "/users/track",
            "{\"attributes\":[{\"external_id\":\"u1\",\"plan\":\"trial\",\"age\":31},"
            "{\"external_id\":\"u2\",\"plan\":\"pro\",\"age\":45,\"tags\":[\"vip\",\"eu\"]},"
            "{\"external_id\":\"u3\",\"plan\":\"trial\",\"age\":22.5},"
            "{\"external_id\":\"u4\",\"city\":\"Oslo\"},{\"external_id\":\"u5\"},"
            "{\"external_id\":\"u6\",\"plan\":\"free\"}],"
            "\"events\":[{\"external_id\":\"u1\",\"name\":\"abandon\",\"time\":\"2020-01-01\"},"
            "{\"external_id\":\"u2\",\"name\":\"abandon\",\"time\":\"2099-01-01\"},"
            "{\"external_id\":\"u2\",\"name\":\"abandon\",\"time\":\"2099-01-01\"}]}");
    struct resp r;
    http_post_rest(s, "/devices/track", "{\"device_id\":\"d1\"}", &r);
    resp_free(&r);
    import(s, "free", "[{\"user_ids\":[\"u1\",\"u2\",\"u3\",\"d1\"]}]");
    import(s, "churn", "[{\"user_ids\":[\"u3\",\"u4\"]}]");
    char *name = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":"
                      "\"free\",\"name\":\"Free Customers\",\"created_at\":\"2024-01-01\"}",
                      s->partner_key, s->import_key);
    http_req(s, "POST", "/partners/heap/cohorts", NULL, name, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    free(name);
    *state = s;
    return 0;
}

static void test_every_filter_kind_gives_the_exact_audience(void **state) {
    struct server *s = *state;
    const struct {
        const char *filter;
        long size;
    } cases[] = {
        {"{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"free\"},\"op\":\"includes\"}", 4},
        {"{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"free\"},\"op\":\"excludes\"}", 3},
        {"{\"and\":[{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"free\"},\"op\":"
         "\"includes\"},{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"churn\"},\"op\":"
         "\"excludes\"},{\"attribute\":\"plan\",\"op\":\"equals\",\"value\":\"trial\"}]}",
         1},
        {"{\"or\":[{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"free\"},\"op\":"
         "\"includes\"},{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"churn\"},\"op\":"
         "\"includes\"}]}",
         5},
        {"{\"not\":{\"identified\":true}}", 1},
        {"{\"identified\":false}", 1},
        {"{\"identified\":true}", 6},
        {"{\"attribute\":\"plan\",\"op\":\"not_equals\",\"value\":\"trial\"}", 2},
        {"{\"attribute\":\"plan\",\"op\":\"exists\"}", 4},
        {"{\"attribute\":\"plan\",\"op\":\"not_exists\"}", 3},
        {"{\"attribute\":\"age\",\"op\":\"gt\",\"value\":30}", 2},
        {"{\"attribute\":\"age\",\"op\":\"lte\",\"value\":31}", 2},
        {"{\"attribute\":\"age\",\"op\":\"gte\",\"value\":22.5}", 3},
        {"{\"attribute\":\"age\",\"op\":\"lt\",\"value\":22.5}", 0},
        {"{\"attribute\":\"age\",\"op\":\"equals\",\"value\":45.0}", 1},
        {"{\"attribute\":\"tags\",\"op\":\"contains\",\"value\":\"vip\"}", 1},
        {"{\"attribute\":\"city\",\"op\":\"contains\",\"value\":\"sl\"}", 1},
        {"{\"event\":\"abandon\",\"op\":\"performed\"}", 2},
        {"{\"event\":\"abandon\",\"op\":\"performed\",\"min_count\":2}", 1},
        {"{\"event\":\"abandon\",\"op\":\"performed\",\"within_days\":30}", 1},
        {"{\"event\":\"abandon\",\"op\":\"not_performed\"}", 5},
        {"{\"event\":\"never\",\"op\":\"performed\"}", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long got = preview(s, cases[i].filter);
        if (got != cases[i].size)
            fail_msg("filter %s: size %ld, want %ld", cases[i].filter, got, cases[i].size);
    }
}

/* Issue 16: a filter error names the offending value as well as the field, so the author
 * sees what was sent (an unknown op "maybe" → a 400 whose text holds maybe); long values are
 * cut on a character boundary. */
static void test_filter_errors_name_the_offending_value(void **state) {
    struct server *s = *state;
    char *long_value = repeat('x', 150);
    char *long_filter = strf("{\"attribute\":\"plan\",\"op\":\"%s\"}", long_value);
    char *long_message = strf("filter.op: must be one of equals, not_equals, exists, not_exists, "
                              "gt, gte, lt, lte, contains, not \\\"%.99s\xE2\x80\xA6",
                              long_value);
    const struct {
        const char *filter, *message;
    } cases[] = {
        {"{\"attribute\":\"plan\",\"op\":\"maybe\",\"value\":\"x\"}",
         "filter.op: must be one of equals, not_equals, exists, not_exists, gt, gte, lt, lte, "
         "contains, not \\\"maybe\\\""},
        {"{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"1\"},\"op\":\"maybe\"}",
         "filter.op: must be \\\"includes\\\" or \\\"excludes\\\", not \\\"maybe\\\""},
        {"{\"event\":\"open\",\"op\":\"maybe\"}",
         "filter.op: must be \\\"performed\\\" or \\\"not_performed\\\", not \\\"maybe\\\""},
        {"{\"event\":\"open\"}",
         "filter.op: must be \\\"performed\\\" or \\\"not_performed\\\", none given"},
        {"{\"event\":\"open\",\"op\":\"performed\",\"within_days\":\"week\"}",
         "filter.within_days: must be an integer from 1 to 36500, not \\\"week\\\""},
        {"{\"or\":[{\"identified\":\"maybe\"}]}",
         "filter.or[0].identified: must be true or false, not \\\"maybe\\\""},
        {"{\"attribute\":\"plan\",\"op\":\"equals\",\"value\":[1,2]}",
         "filter.value: must be a string, a number or a boolean, not [1,2]"},
        {"{\"attribute\":\"plan\",\"op\":\"exists\",\"value\":true}",
         "filter.value: exists and not_exists take no value, not true"},
        {"{\"attribute\":\"plan\",\"op\":\"equals\",\"value\":\"x\",\"colour\":\"red\"}",
         "filter: unknown key 'colour' in an attribute filter"},
        {"{\"cohort\":\"heap:1\",\"op\":\"includes\"}",
         "filter.cohort: must be {\\\"partner\\\": string, \\\"cohort_id\\\": string}, not "
         "\\\"heap:1\\\""},
        {long_filter, long_message},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body = strf("{\"name\":\"bad\",\"filter\":%s}", cases[i].filter);
        char *want = strf("{\"message\":\"%s\"}", cases[i].message);
        const char *paths[] = {"/segments/create", "/segments/preview"};
        for (size_t k = 0; k < 2; k++) {
            struct resp r;
            http_post_rest(s, paths[k], body, &r);
            assert_resp(&r, 400, want);
            resp_free(&r);
        }
        free(want);
        free(body);
    }
    struct resp r;
    http_get_rest(s, "/segments/list", &r);
    assert_int_equal(r.status, 200);
    const json_t *segs = json_object_get(r.json, "segments");
    for (size_t i = 0; i < json_array_size(segs); i++)
        assert_string_not_equal(json_string_value(json_object_get(json_array_get(segs, i), "name")),
                                "bad");
    resp_free(&r);
    free(long_message);
    free(long_filter);
    free(long_value);
}

static void test_invalid_filters_say_which_part_is_wrong(void **state) {
    struct server *s = *state;
    const struct {
        const char *filter, *message;
    } cases[] = {
        {"{\"and\":[{\"identified\":true},{\"attribute\":\"plan\",\"op\":\"like\",\"value\":1}]}",
         "filter.and[1].op: must be one of equals, not_equals, exists, not_exists, gt, gte, lt, "
         "lte, contains, not \\\"like\\\""},
        {"{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"nope\"},\"op\":\"includes\"}",
         "filter.cohort: no such cohort, not {\\\"partner\\\":\\\"heap\\\",\\\"cohort_id\\\":"
         "\\\"nope\\\"}"},
        {"{\"attribute\":\"age\",\"op\":\"gt\",\"value\":\"30\"}",
         "filter.value: must be a number for gt, gte, lt and lte, not \\\"30\\\""},
        {"{\"identified\":true,\"extra\":1}",
         "filter: an \\\"identified\\\" object holds no other key"},
        {"{\"event\":\"x\",\"op\":\"performed\",\"min_count\":0}",
         "filter.min_count: must be a positive integer, not 0"},
        {"{\"colour\":\"red\"}",
         "filter: must hold one of \\\"and\\\", \\\"or\\\", \\\"not\\\", \\\"cohort\\\", "
         "\\\"identified\\\", \\\"attribute\\\", \\\"profile\\\", \\\"event\\\""},
        {"{\"or\":[]}", "filter.or: must be a non-empty array of filters"},
        {"{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{"
         "\"not\":{\"identified\":true}}}}}}}}}}}",
         "filter.not.not.not.not.not.not.not.not.not.not: filters nest at most 10 deep"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body = strf("{\"name\":\"bad\",\"filter\":%s}", cases[i].filter);
        struct resp r;
        http_post_rest(s, "/segments/create", body, &r);
        char *want = strf("{\"message\":\"%s\"}", cases[i].message);
        assert_resp(&r, 400, want);
        free(want);
        free(body);
        resp_free(&r);
    }
    struct resp r;
    http_get_rest(s, "/segments/list", &r);
    assert_resp(&r, 200, "{\"message\":\"success\",\"segments\":[]}");
    resp_free(&r);
}

static void test_create_list_details_update_delete(void **state) {
    struct server *s = *state;
    struct resp r;
    http_post_rest(s, "/segments/create",
                   "{\"name\":\"Heap: Free Customers\",\"description\":\"re-engage\",\"filter\":"
                   "{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"free\"},\"op\":"
                   "\"includes\"}}",
                   &r);
    assert_int_equal(r.status, 201);
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r.json, "segment_id")));
    resp_free(&r);
    http_get_rest(s, "/segments/list", &r);
    char *want = strf("{\"message\":\"success\",\"segments\":[{\"id\":\"%s\",\"name\":\"Heap: Free "
                      "Customers\",\"analytics_tracking_enabled\":false,\"tags\":[]}]}",
                      id);
    assert_resp(&r, 200, want);
    free(want);
    resp_free(&r);
    char *path = strf("/segments/details?segment_id=%s", id);
    http_get_rest(s, path, &r);
    assert_int_equal(r.status, 200);
    assert_json_equal(json_object_get(r.json, "description"),
                      "\"Heap Cohorts includes Free Customers\"");
    assert_json_equal(json_object_get(r.json, "text_description"), "\"re-engage\"");
    assert_json_equal(json_object_get(r.json, "size"), "4");
    assert_json_equal(json_object_get(r.json, "missing_cohorts"), "[]");
    assert_json_equal(json_object_get(r.json, "tags"), "[]");
    assert_true(json_is_string(json_object_get(r.json, "created_at")));
    resp_free(&r);
    char *upd = strf("{\"segment_id\":\"%s\",\"filter\":{\"identified\":false}}", id);
    http_post_rest(s, "/segments/update", upd, &r);
    assert_resp(&r, 201, "{\"message\":\"success\"}");
    resp_free(&r);
    http_get_rest(s, path, &r);
    assert_json_equal(json_object_get(r.json, "size"), "1");
    assert_json_equal(json_object_get(r.json, "name"), "\"Heap: Free Customers\"");
    assert_json_equal(json_object_get(r.json, "description"), "\"is anonymous\"");
    resp_free(&r);
    http_post_rest(s, "/segments/delete", upd, &r);
    assert_resp(&r, 201, "{\"message\":\"success\"}");
    resp_free(&r);
    http_get_rest(s, path, &r);
    assert_resp(&r, 404, "{\"message\":\"Not Found\"}");
    resp_free(&r);
    http_post_rest(s, "/segments/update", upd, &r);
    assert_resp(&r, 404, "{\"message\":\"Not Found\"}");
    resp_free(&r);
    free(upd);
    free(path);
}

static void test_audience_follows_imports_attribute_updates_deletes_and_restart(void **state) {
    struct server *s = *state;
    struct resp r;
    http_post_rest(s, "/segments/create",
                   "{\"name\":\"trial in free\",\"filter\":{\"and\":[{\"cohort\":{\"partner\":"
                   "\"heap\",\"cohort_id\":\"free\"},\"op\":\"includes\"},{\"attribute\":\"plan\","
                   "\"op\":\"equals\",\"value\":\"trial\"}]}}",
                   &r);
    char *path = strf("/segments/details?segment_id=%s",
                      json_string_value(json_object_get(r.json, "segment_id")));
    resp_free(&r);
    http_get_rest(s, path, &r);
    assert_json_equal(json_object_get(r.json, "text_description"), "\"\"");
    resp_free(&r);
    const char *sizes[] = {"2", "3", "2", "1"};
    for (int step = 0; step < 4; step++) {
        if (step == 1)
            post_ok(s, "/users/track",
                    "{\"attributes\":[{\"external_id\":\"u2\",\"plan\":\"trial\"}]}");
        if (step == 2)
            import(s, "free", "[{\"user_ids\":[\"u1\"],\"should_remove\":true}]");
        if (step == 3)
            post_ok(s, "/users/delete", "{\"external_ids\":[\"u3\"]}");
        http_get_rest(s, path, &r);
        assert_json_equal(json_object_get(r.json, "size"), sizes[step]);
        resp_free(&r);
    }
    server_stop(s);
    server_start(s);
    http_get_rest(s, path, &r);
    assert_json_equal(json_object_get(r.json, "size"), "1");
    resp_free(&r);
    free(path);
}

static void test_export_streams_one_json_line_per_user(void **state) {
    struct server *s = *state;
    struct resp r;
    http_post_rest(s, "/segments/create",
                   "{\"name\":\"pro\",\"filter\":{\"attribute\":\"plan\",\"op\":\"equals\","
                   "\"value\":\"pro\"}}",
                   &r);
    char *body = strf("{\"segment_id\":\"%s\",\"fields_to_export\":[\"external_id\","
                      "\"custom_attributes\"]}",
                      json_string_value(json_object_get(r.json, "segment_id")));
    resp_free(&r);
    post_ok(s, "/users/track", "{\"attributes\":[{\"external_id\":\"u6\",\"plan\":\"pro\"}]}");
    http_post_rest(s, "/users/export/segment/stream", body, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.headers, "application/x-ndjson"));
    int lines = 0;
    for (const char *c = r.body; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 2); /* u2 and u6, nobody else */
    char *second = strchr(r.body, '\n');
    assert_non_null(second);
    *second = '\0';
    json_t *a = json_loads(r.body, 0, NULL),
           *b = json_loads(second + 1, JSON_DISABLE_EOF_CHECK, NULL);
    assert_json_equal(a, "{\"external_id\":\"u2\",\"custom_attributes\":{\"plan\":\"pro\","
                         "\"age\":45,\"tags\":[\"vip\",\"eu\"]}}");
    assert_json_equal(b, "{\"external_id\":\"u6\",\"custom_attributes\":{\"plan\":\"pro\"}}");
    json_decref(a);
    json_decref(b);
    resp_free(&r);
    free(body);
    http_post_rest(s, "/users/export/segment/stream",
                   "{\"segment_id\":\"nope\",\"fields_to_export\":[\"shoe_size\"]}", &r);
    assert_resp(&r, 400,
                "{\"message\":\"fields_to_export: supported fields are braze_id, external_id, "
                "created_at, custom_attributes\"}");
    resp_free(&r);
    http_post_rest(s, "/users/export/segment/stream", "{\"segment_id\":\"nope\"}", &r);
    assert_resp(&r, 404, "{\"message\":\"Not Found\"}");
    resp_free(&r);
}

static void test_filters_catalogue_names_partner_cohorts(void **state) {
    struct server *s = *state;
    struct resp r;
    http_get_rest(s, "/segments/filters", &r);
    assert_int_equal(r.status, 200);
    assert_json_equal(
        json_object_get(r.json, "cohort_filters"),
        "[{\"name\":\"Heap Cohorts\",\"type\":\"cohort\",\"partner\":\"heap\","
        "\"ops\":[\"includes\",\"excludes\"],\"cohorts\":[{\"cohort_id\":\"free\","
        "\"name\":\"Free Customers\"},{\"cohort_id\":\"churn\",\"name\":\"churn\"}]}]");
    assert_json_equal(json_object_get(r.json, "events"), "[\"abandon\"]");
    json_t *attrs = json_object_get(r.json, "attributes");
    assert_true(json_array_size(attrs) >= 4);
    resp_free(&r);
}

/* The users r1..r3 and the event "order" appear only here, after the tests that count users
 * and events. "2099-01-01" is clamped to the arrival time: "now". */
static void test_min_count_within_days_counts_only_recent_occurrences(void **state) {
    struct server *s = *state;
    /* r1: two orders in 2020 and one now; r2: three now, r3: one now then two in 2020 (out of
     * order) */
    post_ok(s, "/users/track",
            "{\"events\":[{\"external_id\":\"r1\",\"name\":\"order\",\"time\":\"2020-01-01\"},"
            "{\"external_id\":\"r1\",\"name\":\"order\",\"time\":\"2020-02-01\"},"
            "{\"external_id\":\"r1\",\"name\":\"order\",\"time\":\"2099-01-01\"},"
            "{\"external_id\":\"r2\",\"name\":\"order\",\"time\":\"2099-01-01\"},"
            "{\"external_id\":\"r2\",\"name\":\"order\",\"time\":\"2099-01-01\"},"
            "{\"external_id\":\"r2\",\"name\":\"order\",\"time\":\"2099-01-01\"},"
            "{\"external_id\":\"r3\",\"name\":\"order\",\"time\":\"2099-01-01\"},"
            "{\"external_id\":\"r3\",\"name\":\"order\",\"time\":\"2020-03-01\"},"
            "{\"external_id\":\"r3\",\"name\":\"order\",\"time\":\"2020-04-01\"}]}");
    const char *three_in_7 =
        "{\"event\":\"order\",\"op\":\"performed\",\"min_count\":3,\"within_days\":7}";
    const char *one_in_7 = "{\"event\":\"order\",\"op\":\"performed\",\"within_days\":7}";
    const char *three_ever = "{\"event\":\"order\",\"op\":\"performed\",\"min_count\":3}";
    char *body = strf("{\"name\":\"3 orders this week\",\"filter\":%s}", three_in_7);
    struct resp r;
    http_post_rest(s, "/segments/create", body, &r);
    assert_int_equal(r.status, 201);
    char *path = strf("/segments/details?segment_id=%s",
                      json_string_value(json_object_get(r.json, "segment_id")));
    resp_free(&r);
    free(body);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(preview(s, three_in_7), 1); /* r2 only */
        assert_int_equal(preview(s, one_in_7), 3);
        assert_int_equal(preview(s, three_ever), 3);
        http_get_rest(s, path, &r);
        assert_json_equal(json_object_get(r.json, "size"), "1");
        assert_json_equal(json_object_get(r.json, "description"),
                          "\"order performed at least 3 times in the last 7 days\"");
        resp_free(&r);
        server_stop(s); /* the same answers from what the store kept */
        server_start(s);
    }
    /* two more recent orders make r1 and r3 qualify */
    post_ok(s, "/users/track",
            "{\"events\":[{\"external_id\":\"r1\",\"name\":\"order\",\"time\":\"2099-01-01\"},"
            "{\"external_id\":\"r1\",\"name\":\"order\",\"time\":\"2099-01-01\"},"
            "{\"external_id\":\"r3\",\"name\":\"order\",\"time\":\"2099-01-01\"},"
            "{\"external_id\":\"r3\",\"name\":\"order\",\"time\":\"2099-01-01\"}]}");
    assert_int_equal(preview(s, three_in_7), 3);
    server_stop(s);
    server_start(s);
    assert_int_equal(preview(s, three_in_7), 3);
    free(path);
}

static void test_min_count_with_within_days_is_at_most_the_kept_times(void **state) {
    struct server *s = *state;
    struct resp r;
    http_post_rest(s, "/segments/create",
                   "{\"name\":\"too many\",\"filter\":{\"and\":[{\"identified\":true},{\"event\":"
                   "\"order\",\"op\":\"performed\",\"min_count\":51,\"within_days\":7}]}}",
                   &r);
    assert_resp(&r, 400,
                "{\"message\":\"filter.and[1].min_count: must be at most 50 together with "
                "within_days\"}");
    resp_free(&r);
    http_post_rest(s, "/segments/preview",
                   "{\"filter\":{\"event\":\"order\",\"op\":\"performed\",\"min_count\":50,"
                   "\"within_days\":7}}",
                   &r);
    assert_resp(&r, 200, "{\"message\":\"success\",\"size\":0}");
    resp_free(&r);
    /* without within_days any count is allowed, as before */
    http_post_rest(s, "/segments/preview",
                   "{\"filter\":{\"event\":\"order\",\"op\":\"performed\",\"min_count\":51}}", &r);
    assert_resp(&r, 200, "{\"message\":\"success\",\"size\":0}");
    resp_free(&r);
}

static void test_long_names_are_refused_by_limit_or_kept_whole(void **state) {
    struct server *s = *state;
    char event[300], cohort[300];
    memset(event, 'e', sizeof event - 1);
    event[sizeof event - 1] = '\0';
    memset(cohort, 'c', sizeof cohort - 1);
    cohort[sizeof cohort - 1] = '\0';
    struct resp r;
    char *body = strf("{\"filter\":{\"or\":[{\"identified\":true},{\"event\":\"%s\",\"op\":"
                      "\"performed\"}]}}",
                      event);
    http_post_rest(s, "/segments/preview", body, &r);
    assert_resp(&r, 400, "{\"message\":\"filter.or[1].event is longer than 255 bytes\"}");
    resp_free(&r);
    free(body);
    body = strf("{\"filter\":{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"%s\"},\"op\":"
                "\"includes\"}}",
                cohort);
    http_post_rest(s, "/segments/preview", body, &r);
    assert_resp(&r, 400, "{\"message\":\"filter.cohort.cohort_id is longer than 255 bytes\"}");
    resp_free(&r);
    free(body);
    /* a 255-byte event name (the old description buffer held 700 bytes in all) comes back
     * whole, three times over */
    event[255] = '\0';
    body = strf("{\"name\":\"long\",\"filter\":{\"and\":[{\"event\":\"%s\",\"op\":\"performed\"},"
                "{\"event\":\"%s\",\"op\":\"performed\"},{\"event\":\"%s\",\"op\":"
                "\"not_performed\"}]}}",
                event, event, event);
    http_post_rest(s, "/segments/create", body, &r);
    assert_int_equal(r.status, 201);
    char *path = strf("/segments/details?segment_id=%s",
                      json_string_value(json_object_get(r.json, "segment_id")));
    resp_free(&r);
    free(body);
    http_get_rest(s, path, &r);
    assert_int_equal(r.status, 200);
    char *want =
        strf("\"%s performed AND %s performed AND %s not performed\"", event, event, event);
    assert_json_equal(json_object_get(r.json, "description"), want);
    free(want);
    resp_free(&r);
    free(path);
    body = strf("{\"name\":\"%.*s\",\"filter\":{\"identified\":true}}", 201, event);
    http_post_rest(s, "/segments/create", body, &r);
    assert_resp(&r, 400, "{\"message\":\"name: must be a string of 1 to 200 characters\"}");
    resp_free(&r);
    free(body);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_filter_kind_gives_the_exact_audience),
        cmocka_unit_test(test_invalid_filters_say_which_part_is_wrong),
        cmocka_unit_test(test_filter_errors_name_the_offending_value),
        cmocka_unit_test(test_create_list_details_update_delete),
        cmocka_unit_test(test_filters_catalogue_names_partner_cohorts),
        cmocka_unit_test(test_export_streams_one_json_line_per_user),
        cmocka_unit_test(test_audience_follows_imports_attribute_updates_deletes_and_restart),
        cmocka_unit_test(test_min_count_within_days_counts_only_recent_occurrences),
        cmocka_unit_test(test_min_count_with_within_days_is_at_most_the_kept_times),
        cmocka_unit_test(test_long_names_are_refused_by_limit_or_kept_whole),
    };
    return cmocka_run_group_tests(tests, setup, server_teardown);
}
