/*
 * test_partner_cohorts.c — the partner cohort import API (CONTRACT.md §1) against the real
 * server: authentication order and texts, both change shapes, the identity matching rules,
 * the 1,000-id limit, order within a request, counters and the unmatched sample, restart and
 * kill -9, deletion of users, and a second partner to show the API is generic.
 */
#include "harness.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static int setup(void **state) {
    struct server *s = server_new(NULL);
    /* users: ann, bob (identified), an alias-only lead, an anonymous device user, and a device
     * user that was identified later (eve) */
    struct resp r;
    http_post_rest(s, "/users/track",
                   "{\"attributes\":[{\"external_id\":\"ann\"},{\"external_id\":\"bob\"},"
                   "{\"user_alias\":{\"alias_name\":\"lead@x\",\"alias_label\":\"email\"},"
                   "\"_update_existing_only\":false}]}",
                   &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    http_post_rest(s, "/devices/track", "{\"device_id\":\"dev-anon\"}", &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    http_post_rest(s, "/devices/track", "{\"device_id\":\"dev-eve\"}", &r);
    resp_free(&r);
    http_post_rest(s, "/devices/track", "{\"device_id\":\"dev-eve\",\"external_id\":\"eve\"}", &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    *state = s;
    return 0;
}

/* POSTs to /partners/<partner>/<what> with the heap keys spliced in front of `rest`. */
static void partner_post(struct server *s, const char *partner, const char *what, const char *rest,
                         struct resp *r) {
    char *body = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",%s}", s->partner_key,
                      s->import_key, rest);
    char *path = strf("/partners/%s/%s", partner, what);
    http_req(s, "POST", path, NULL, body, r);
    free(body);
    free(path);
}

/* POST /partners/update of heap's key check ("required" or "off"); asserts the answer. */
static void heap_key_check(struct server *s, const char *mode) {
    char *body = strf("{\"name\":\"heap\",\"key_check\":\"%s\"}", mode);
    char *want = strf("{\"name\":\"heap\",\"key_check\":\"%s\",\"message\":\"success\"}", mode);
    post_expect(s, "/partners/update", body, 201, want);
    free(want);
    free(body);
}

static void changes(struct server *s, const char *cohort, const char *changes_json, long status,
                    const char *expected) {
    char *rest = strf("\"cohort_id\":\"%s\",\"cohort_changes\":%s", cohort, changes_json);
    struct resp r;
    partner_post(s, "heap", "cohorts/users", rest, &r);
    assert_resp(&r, status, expected);
    resp_free(&r);
    free(rest);
}

/* Asserts the size of a heap cohort via /cohorts/details (0 when it does not exist). */
static long cohort_size(struct server *s, const char *partner, const char *cohort) {
    char *path = strf("/cohorts/details?partner=%s&cohort_id=%s", partner, cohort);
    struct resp r;
    http_get_rest(s, path, &r);
    long size = r.status == 200 ? (long)json_integer_value(json_object_get(r.json, "size")) : 0;
    resp_free(&r);
    free(path);
    return size;
}

static void test_create_and_rename_keep_earliest_created_at(void **state) {
    struct server *s = *state;
    struct resp r;
    partner_post(s, "heap", "cohorts",
                 "\"cohort_id\":\"c-name\",\"name\":\"Free Customers\","
                 "\"created_at\":\"2024-05-02T08:15:00+02:00\"",
                 &r);
    assert_resp(&r, 201, "{\"message\":\"success\"}");
    resp_free(&r);
    partner_post(s, "heap", "cohorts",
                 "\"cohort_id\":\"c-name\",\"name\":\"Paying Customers\","
                 "\"created_at\":\"2024-06-01T00:00:00.123456Z\"",
                 &r);
    assert_resp(&r, 201, "{\"message\":\"success\"}");
    resp_free(&r);
    http_get_rest(s, "/cohorts/details?partner=heap&cohort_id=c-name", &r);
    assert_resp(&r, 200,
                "{\"message\":\"success\",\"partner\":\"heap\",\"cohort_id\":\"c-name\",\"name\":"
                "\"Paying Customers\",\"size\":0,\"created_at\":\"2024-05-02T06:15:00.000Z\","
                "\"last_changed_at\":null,\"ids_received\":0,\"ids_matched\":0,"
                "\"ids_unmatched\":0,\"unmatched_sample\":[],\"heap_syncs\":[]}");
    resp_free(&r);
}

static void test_name_endpoint_validation_texts(void **state) {
    struct server *s = *state;
    struct {
        const char *rest, *text;
    } cases[] = {
        {"\"cohort_id\":7,\"name\":\"x\",\"created_at\":\"2024-01-01\"",
         "cohort_id must be a valid string"},
        {"\"cohort_id\":\"c\",\"name\":\"\",\"created_at\":\"2024-01-01\"",
         "name must be a non-empty string"},
        {"\"cohort_id\":\"c\",\"name\":\"x\",\"created_at\":\"last tuesday\"",
         "created_at must be a valid time as an ISO-8601 string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct resp r;
        partner_post(s, "heap", "cohorts", cases[i].rest, &r);
        char *want = strf("{\"message\":\"%s\"}", cases[i].text);
        assert_resp(&r, 400, want);
        free(want);
        resp_free(&r);
    }
    assert_int_equal(cohort_size(s, "heap", "c"), 0);
}

static void test_authentication_order_and_texts(void **state) {
    struct server *s = *state;
    heap_key_check(s, "required");
    struct resp r;
    char *body = strf("{\"partner_api_key\":\"wrong\",\"client_secret\":\"%s\",\"cohort_id\":7}",
                      s->import_key);
    http_req(s, "POST", "/partners/heap/cohorts/users", NULL, body, &r);
    assert_resp(&r, 401, "{\"message\":\"Invalid Partner API key\"}");
    resp_free(&r);
    free(body);
    /* a credential probe with an otherwise odd body still gets 401 for the secret */
    body = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"nope\",\"cohort_id\":7}",
                s->partner_key);
    http_req(s, "POST", "/partners/heap/cohorts/users", NULL, body, &r);
    assert_resp(&r, 401, "{\"message\":\"Invalid client secret\"}");
    resp_free(&r);
    free(body);
    http_req(s, "POST", "/partners/nosuch/cohorts/users", NULL, "{}", &r);
    assert_resp(&r, 404, "{\"message\":\"Not Found\"}");
    resp_free(&r);
    heap_key_check(s, "off");
}

/* Issue 16: hosted Heap sends its own Braze partner key, which a self-hosted server cannot
 * know; `init` makes heap a hosted partner (key check off, the data import key identifies the
 * workspace), and the dashboard's endpoints show and change that. */
static void test_heap_is_hosted_by_default_and_partners_update_changes_the_key_check(void **state) {
    struct server *s = *state;
    struct resp r;
    http_get_rest(s, "/partners/list", &r);
    assert_resp(&r, 200,
                "{\"partners\":[{\"name\":\"heap\",\"key_check\":\"off\"}],"
                "\"message\":\"success\"}");
    resp_free(&r);
    http_req(s, "GET", "/partners/list", NULL, NULL, &r);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    /* Heap's own key, or none at all: the data import key alone is enough */
    const char *rest = "\"cohort_id\":\"hosted\",\"cohort_changes\":[{\"user_ids\":[\"ann\"]}]";
    const char *ok = "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":1,"
                     "\"ids_unmatched\":0,\"users_added\":1,\"users_removed\":0}";
    char *heaps_own =
        strf("{\"partner_api_key\":\"key-of-heap-itself\",\"client_secret\":\"%s\",%s}",
             s->import_key, rest);
    char *no_key = strf("{\"client_secret\":\"%s\",%s}", s->import_key, rest);
    http_req(s, "POST", "/partners/heap/cohorts/users", NULL, heaps_own, &r);
    assert_resp(&r, 201, ok);
    resp_free(&r);
    http_req(s, "POST", "/partners/heap/cohorts/users", NULL, no_key, &r);
    assert_resp(&r, 201,
                "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":1,"
                "\"ids_unmatched\":0,\"users_added\":0,\"users_removed\":0}");
    resp_free(&r);
    /* refused updates change nothing */
    post_expect(s, "/partners/update", "{\"name\":\"heap\",\"key_check\":\"maybe\"}", 400,
                "{\"message\":\"'key_check' must be 'required' or 'off'\"}");
    post_expect(s, "/partners/update", "{\"name\":\"heap\",\"key_check\":true}", 400,
                "{\"message\":\"'key_check' must be 'required' or 'off'\"}");
    post_expect(s, "/partners/update", "{\"name\":\"heap\"}", 400,
                "{\"message\":\"'key_check' is required: 'required' or 'off'\"}");
    post_expect(s, "/partners/update", "{\"key_check\":\"off\"}", 400,
                "{\"message\":\"'name' must be a non-empty string\"}");
    post_expect(s, "/partners/update", "{\"name\":\"nosuch\",\"key_check\":\"off\"}", 404,
                "{\"message\":\"no partner 'nosuch'\"}");
    http_req(s, "POST", "/partners/update", NULL, "{\"name\":\"heap\",\"key_check\":\"required\"}",
             &r);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    assert_int_equal(sql_count(s, "SELECT count(*) FROM partners WHERE key_check = 0"), 0);
    /* required: the key must be one of heap's, at once and after a restart */
    heap_key_check(s, "required");
    server_stop(s);
    server_start(s);
    http_get_rest(s, "/partners/list", &r);
    assert_resp(&r, 200,
                "{\"partners\":[{\"name\":\"heap\",\"key_check\":\"required\"}],"
                "\"message\":\"success\"}");
    resp_free(&r);
    http_req(s, "POST", "/partners/heap/cohorts/users", NULL, heaps_own, &r);
    assert_resp(&r, 401, "{\"message\":\"Invalid Partner API key\"}");
    resp_free(&r);
    changes(s, "hosted", "[{\"user_ids\":[\"bob\"]}]", 201,
            "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":1,"
            "\"ids_unmatched\":0,\"users_added\":1,\"users_removed\":0}");
    assert_int_equal(cohort_size(s, "heap", "hosted"), 2);
    /* and back to hosted */
    heap_key_check(s, "off");
    http_req(s, "POST", "/partners/heap/cohorts/users", NULL, heaps_own, &r);
    assert_resp(&r, 201,
                "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":1,"
                "\"ids_unmatched\":0,\"users_added\":0,\"users_removed\":0}");
    resp_free(&r);
    free(heaps_own);
    free(no_key);
}

static void test_empty_changes_with_valid_keys_succeed_and_store_nothing(void **state) {
    struct server *s = *state;
    changes(s, "will_add_in_constant", "[]", 201,
            "{\"message\":\"success\",\"ids_received\":0,\"ids_matched\":0,\"ids_unmatched\":0,"
            "\"users_added\":0,\"users_removed\":0}");
    struct resp r;
    http_get_rest(s, "/cohorts/details?partner=heap&cohort_id=will_add_in_constant", &r);
    assert_resp(&r, 404, "{\"message\":\"Not Found\"}");
    resp_free(&r);
}

static void test_matching_rules_for_every_identifier_kind(void **state) {
    struct server *s = *state;
    /* Segment's shape: three keys; external ids, an alias, the anonymous device, eve's device
     * (identified later: must not match) and unknown ids */
    changes(s, "rules",
            "[{\"user_ids\":[\"ann\",\"ghost\"],\"device_ids\":[\"dev-anon\",\"dev-eve\","
            "\"dev-none\"],\"aliases\":[{\"alias_name\":\"lead@x\",\"alias_label\":\"email\"},"
            "{\"alias_name\":\"who@x\",\"alias_label\":\"email\"}]}]",
            201,
            "{\"message\":\"success\",\"ids_received\":7,\"ids_matched\":3,\"ids_unmatched\":4,"
            "\"users_added\":3,\"users_removed\":0}");
    assert_int_equal(cohort_size(s, "heap", "rules"), 3);
    /* eve is reachable by external id */
    changes(s, "rules", "[{\"user_ids\":[\"eve\"]}]", 201,
            "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":1,\"ids_unmatched\":0,"
            "\"users_added\":1,\"users_removed\":0}");
    struct resp r;
    http_get_rest(s, "/cohorts/details?partner=heap&cohort_id=rules", &r);
    assert_int_equal(r.status, 200);
    /* named by its id until a name arrives */
    assert_json_equal(json_object_get(r.json, "name"), "\"rules\"");
    assert_json_equal(json_object_get(r.json, "size"), "4");
    assert_json_equal(json_object_get(r.json, "ids_unmatched"), "4");
    /* the unmatched sample names each id and why */
    json_t *sample = json_object_get(r.json, "unmatched_sample");
    assert_int_equal(json_array_size(sample), 4);
    const char *want[][2] = {{"ghost", "unknown external_id"},
                             {"device_id:dev-eve", "device of an identified user"},
                             {"device_id:dev-none", "unknown device"},
                             {"alias:email:who@x", "unknown alias"}};
    for (int k = 0; k < 4; k++) {
        int found = 0;
        size_t i;
        json_t *v;
        json_array_foreach(sample, i, v) {
            if (strcmp(json_string_value(json_object_get(v, "id")), want[k][0]) == 0) {
                assert_string_equal(json_string_value(json_object_get(v, "reason")), want[k][1]);
                found = 1;
            }
        }
        if (!found)
            fail_msg("no unmatched entry for %s", want[k][0]);
    }
    resp_free(&r);
}

static void test_user_ids_strings_fall_back_to_anonymous_device_ids_and_hold_aliases(void **state) {
    struct server *s = *state;
    changes(s, "mixed",
            "[{\"user_ids\":[\"bob\",\"dev-anon\",\"dev-eve\",{\"alias_name\":\"lead@x\","
            "\"alias_label\":\"email\"}]},{\"aliases\":{\"alias_name\":\"lead@x\","
            "\"alias_label\":\"email\"}}]",
            201,
            "{\"message\":\"success\",\"ids_received\":5,\"ids_matched\":4,\"ids_unmatched\":1,"
            "\"users_added\":3,\"users_removed\":0}");
    assert_int_equal(cohort_size(s, "heap", "mixed"), 3);
}

static void test_later_entry_wins_within_a_request(void **state) {
    struct server *s = *state;
    changes(s, "order",
            "[{\"user_ids\":[\"ann\",\"bob\"]},{\"user_ids\":[\"ann\"],\"should_remove\":true}]",
            201,
            "{\"message\":\"success\",\"ids_received\":3,\"ids_matched\":3,\"ids_unmatched\":0,"
            "\"users_added\":1,\"users_removed\":0}");
    changes(s, "order",
            "[{\"user_ids\":[\"bob\"],\"should_remove\":true},{\"user_ids\":[\"bob\",\"ann\"]}]",
            201,
            "{\"message\":\"success\",\"ids_received\":3,\"ids_matched\":3,\"ids_unmatched\":0,"
            "\"users_added\":1,\"users_removed\":0}");
    assert_int_equal(cohort_size(s, "heap", "order"), 2);
    changes(s, "order", "[{\"user_ids\":[\"ann\",\"bob\",\"ghost\"],\"should_remove\":true}]", 201,
            "{\"message\":\"success\",\"ids_received\":3,\"ids_matched\":2,\"ids_unmatched\":1,"
            "\"users_added\":0,\"users_removed\":2}");
    assert_int_equal(cohort_size(s, "heap", "order"), 0);
}

static char *ids_json(int n) {
    size_t cap = (size_t)n * 16 + 16, len = 0;
    char *out = malloc(cap);
    len += (size_t)snprintf(out, cap, "[{\"user_ids\":[");
    for (int i = 0; i < n; i++)
        len +=
            (size_t)snprintf(out + len, cap - len, "%s\"%s\"", i ? "," : "", i == 0 ? "ann" : "x");
    snprintf(out + len, cap - len, "]}]");
    return out;
}

static void test_1000_ids_pass_and_1001_are_rejected_whole(void **state) {
    struct server *s = *state;
    char *ok = ids_json(1000);
    changes(s, "limit", ok, 201,
            "{\"message\":\"success\",\"ids_received\":1000,\"ids_matched\":1,"
            "\"ids_unmatched\":999,\"users_added\":1,\"users_removed\":0}");
    free(ok);
    char *over = ids_json(1001);
    over[strlen(over) - 3] = '\0';
    char *mixed = strf("%s],\"should_remove\":true}]", over); /* 1001 ids that would remove */
    changes(s, "limit", mixed, 400,
            "{\"message\":\"Only 1,000 user_ids, device_ids, and aliases are allowed per "
            "request\"}");
    free(over);
    free(mixed);
    assert_int_equal(cohort_size(s, "heap", "limit"), 1);
}

static void test_shape_errors_are_400_and_change_nothing(void **state) {
    struct server *s = *state;
    const char *text = "{\"message\":\"cohort_changes must be an array of objects each with key "
                       "user_ids and/or device_ids mapping to an array of strings, or an aliases "
                       "object\"}";
    const char *bad[] = {
        "\"[{\\\"user_ids\\\":[\\\"ann\\\"]}]\"", /* the old string-wrapped form */
        "{}",
        "[{\"should_remove\":true}]",
        "[{\"user_ids\":\"ann\"}]",
        "[{\"user_ids\":[7]}]",
        "[{\"device_ids\":[{\"alias_name\":\"a\",\"alias_label\":\"b\"}]}]",
        "[{\"aliases\":[{\"alias_name\":\"a\"}]}]",
        "[{\"user_ids\":[\"ann\"],\"should_remove\":\"yes\"}]",
        "[{\"user_ids\":[\"ann\"]},7]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        changes(s, "shapes", bad[i], 400, text);
    changes(s, "", "[]", 400, "{\"message\":\"cohort_id must be a valid string\"}");
    struct resp r;
    http_get_rest(s, "/cohorts/details?partner=heap&cohort_id=shapes", &r);
    assert_resp(&r, 404, "{\"message\":\"Not Found\"}");
    resp_free(&r);
    partner_post(s, "heap", "cohorts/users", "\"cohort_id\":\"shapes\",\"cohort_changes\":[", &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
}

static void test_memberships_survive_restart_and_kill(void **state) {
    struct server *s = *state;
    changes(s, "durable", "[{\"user_ids\":[\"ann\",\"bob\"]}]", 201,
            "{\"message\":\"success\",\"ids_received\":2,\"ids_matched\":2,\"ids_unmatched\":0,"
            "\"users_added\":2,\"users_removed\":0}");
    server_stop(s);
    server_start(s);
    assert_int_equal(cohort_size(s, "heap", "durable"), 2);
    /* enough requests to pass a checkpoint, then a kill -9 right after the last 201 */
    for (int i = 0; i < 70; i++)
        changes(s, "durable",
                i % 2 ? "[{\"user_ids\":[\"ann\"]}]"
                      : "[{\"user_ids\":[\"ann\"],\"should_remove\":true}]",
                201,
                i % 2 ? "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":1,"
                        "\"ids_unmatched\":0,\"users_added\":1,\"users_removed\":0}"
                      : "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":1,"
                        "\"ids_unmatched\":0,\"users_added\":0,\"users_removed\":1}");
    changes(s, "durable", "[{\"user_ids\":[\"bob\"],\"should_remove\":true}]", 201,
            "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":1,\"ids_unmatched\":0,"
            "\"users_added\":0,\"users_removed\":1}");
    server_kill(s);
    server_start(s);
    assert_int_equal(cohort_size(s, "heap", "durable"), 1);
    struct resp r;
    http_get_rest(s, "/cohorts/details?partner=heap&cohort_id=durable", &r);
    assert_json_equal(json_object_get(r.json, "ids_received"), "73");
    resp_free(&r);
}

static void test_deleting_a_user_removes_it_from_every_cohort(void **state) {
    struct server *s = *state;
    struct resp r;
    http_post_rest(s, "/users/track", "{\"attributes\":[{\"external_id\":\"temp\"}]}", &r);
    resp_free(&r);
    changes(s, "del-a", "[{\"user_ids\":[\"temp\",\"ann\"]}]", 201,
            "{\"message\":\"success\",\"ids_received\":2,\"ids_matched\":2,\"ids_unmatched\":0,"
            "\"users_added\":2,\"users_removed\":0}");
    changes(s, "del-b", "[{\"user_ids\":[\"temp\"]}]", 201,
            "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":1,\"ids_unmatched\":0,"
            "\"users_added\":1,\"users_removed\":0}");
    http_post_rest(s, "/users/delete", "{\"external_ids\":[\"temp\"]}", &r);
    assert_resp(&r, 201, "{\"deleted\":1,\"message\":\"success\"}");
    resp_free(&r);
    assert_int_equal(cohort_size(s, "heap", "del-a"), 1);
    assert_int_equal(cohort_size(s, "heap", "del-b"), 0);
    server_stop(s);
    server_start(s);
    assert_int_equal(cohort_size(s, "heap", "del-a"), 1);
    assert_int_equal(cohort_size(s, "heap", "del-b"), 0);
    /* a new user with the same external id is not a member */
    http_post_rest(s, "/users/track", "{\"attributes\":[{\"external_id\":\"temp\"}]}", &r);
    resp_free(&r);
    assert_int_equal(cohort_size(s, "heap", "del-b"), 0);
}

static void test_second_partner_with_key_check_off_and_import_key_lifecycle(void **state) {
    struct server *s = *state;
    const char *add[] = {"partner", "add", "segment", "--key-check", "off", "--json", NULL};
    assert_int_equal(run_cli(s, add, NULL, NULL), 0);
    const char *show[] = {"import-key", "show", "--partner", "segment", "--json", NULL};
    char *out = NULL;
    assert_int_equal(run_cli(s, show, &out, NULL), 0);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    char key[64];
    snprintf(key, sizeof key, "%s", json_string_value(json_object_get(j, "data_import_key")));
    json_decref(j);
    /* Segment's client sends no partner_api_key at all */
    char *body = strf("{\"client_secret\":\"%s\",\"cohort_id\":\"aud_1\",\"cohort_changes\":"
                      "[{\"user_ids\":[\"ann\"],\"device_ids\":[],\"aliases\":[]},"
                      "{\"user_ids\":[],\"device_ids\":[],\"aliases\":[],\"should_remove\":true}]}",
                      key);
    struct resp r;
    http_req(s, "POST", "/partners/segment/cohorts/users", NULL, body, &r);
    assert_resp(&r, 201,
                "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":1,\"ids_unmatched\":0,"
                "\"users_added\":1,\"users_removed\":0}");
    resp_free(&r);
    assert_int_equal(cohort_size(s, "segment", "aud_1"), 1);
    assert_int_equal(cohort_size(s, "heap", "aud_1"), 0);
    /* the segment key is not heap's, and heap's key is not segment's */
    char *cross = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":\"x\","
                       "\"cohort_changes\":[]}",
                       s->partner_key, key);
    http_req(s, "POST", "/partners/heap/cohorts/users", NULL, cross, &r);
    char *want = strf("{\"message\":\"Partner not enabled for client with client secret: "
                      "%.4s\xE2\x80\xA6\"}",
                      key);
    assert_resp(&r, 401, want);
    resp_free(&r);
    free(want);
    free(cross);
    /* rotation: the old key stops at once, the new one works, while the server runs */
    const char *rotate[] = {"import-key", "rotate", "--partner", "segment", "--json", NULL};
    assert_int_equal(run_cli(s, rotate, &out, NULL), 0);
    j = json_loads(out, 0, NULL);
    free(out);
    http_req(s, "POST", "/partners/segment/cohorts/users", NULL, body, &r);
    assert_resp(&r, 401, "{\"message\":\"Unauthorized access\"}");
    resp_free(&r);
    char *fresh = strf("{\"client_secret\":\"%s\",\"cohort_id\":\"aud_1\",\"cohort_changes\":[]}",
                       json_string_value(json_object_get(j, "data_import_key")));
    http_req(s, "POST", "/partners/segment/cohorts/users", NULL, fresh, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    const char *inval[] = {"import-key", "invalidate", "--partner", "segment", NULL};
    assert_int_equal(run_cli(s, inval, NULL, NULL), 0);
    http_req(s, "POST", "/partners/segment/cohorts/users", NULL, fresh, &r);
    assert_resp(&r, 401, "{\"message\":\"Unauthorized access\"}");
    resp_free(&r);
    free(fresh);
    json_decref(j);
    free(body);
}

static void test_cohorts_list_shows_every_cohort(void **state) {
    struct server *s = *state;
    struct resp r;
    http_get_rest(s, "/cohorts/list", &r);
    assert_int_equal(r.status, 200);
    json_t *list = json_object_get(r.json, "cohorts");
    assert_true(json_array_size(list) >= 2);
    json_t *first = json_array_get(list, 0);
    assert_non_null(json_object_get(first, "partner"));
    assert_non_null(json_object_get(first, "size"));
    assert_non_null(json_object_get(first, "ids_unmatched"));
    resp_free(&r);
    http_req(s, "GET", "/cohorts/list", NULL, NULL, &r);
    assert_int_equal(r.status, 401);
    resp_free(&r);
}

struct writer {
    struct server *s;
    int first; /* adds users w<first>..w<first+99> four at a time */
};

static void *write_cohort(void *arg) {
    struct writer *w = arg;
    for (int i = 0; i < 100; i += 4) {
        int u = w->first + i;
        char *body = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":"
                          "\"shared\",\"cohort_changes\":[{\"user_ids\":[\"w%d\",\"w%d\",\"w%d\","
                          "\"w%d\"]}]}",
                          w->s->partner_key, w->s->import_key, u, u + 1, u + 2, u + 3);
        struct resp r;
        http_req(w->s, "POST", "/partners/heap/cohorts/users", NULL, body, &r);
        free(body);
        if (r.status != 201) {
            resp_free(&r);
            return (void *)1;
        }
        resp_free(&r);
    }
    return NULL;
}

static void test_concurrent_requests_on_one_cohort_lose_no_update(void **state) {
    struct server *s = *state;
    for (int batch = 0; batch < 400; batch += 50) {
        size_t cap = 50 * 32 + 64, len = 0;
        char *body = malloc(cap);
        len += (size_t)snprintf(body, cap, "{\"attributes\":[");
        for (int u = batch; u < batch + 50; u++)
            len += (size_t)snprintf(body + len, cap - len, "%s{\"external_id\":\"w%d\"}",
                                    u > batch ? "," : "", u);
        snprintf(body + len, cap - len, "]}");
        struct resp r;
        http_post_rest(s, "/users/track", body, &r);
        assert_int_equal(r.status, 201);
        resp_free(&r);
        free(body);
    }
    struct writer w[4];
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        w[t] = (struct writer){s, t * 100};
        pthread_create(&th[t], NULL, write_cohort, &w[t]);
    }
    for (int t = 0; t < 4; t++) {
        void *failed = NULL;
        pthread_join(th[t], &failed);
        assert_null(failed);
    }
    assert_int_equal(cohort_size(s, "heap", "shared"), 400);
    server_kill(s);
    server_start(s);
    assert_int_equal(cohort_size(s, "heap", "shared"), 400);
}

struct flipper {
    struct server *s;
    int seed;
    long added, removed; /* the sums of users_added / users_removed it was answered */
};

/* 60 requests that each add or remove the same 30 users (w0..w29), in an order of its own. */
static void *flip_cohort(void *arg) {
    struct flipper *f = arg;
    unsigned x = (unsigned)f->seed * 2654435761u + 1;
    for (int i = 0; i < 60; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        int first = (int)(x % 20);
        char ids[512];
        size_t len = 0;
        for (int u = first; u < first + 10; u++)
            len +=
                (size_t)snprintf(ids + len, sizeof ids - len, "%s\"w%d\"", u > first ? "," : "", u);
        char *body = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":"
                          "\"flip\",\"cohort_changes\":[{\"user_ids\":[%s]%s}]}",
                          f->s->partner_key, f->s->import_key, ids,
                          (x >> 8) % 2 ? ",\"should_remove\":true" : "");
        struct resp r;
        http_req(f->s, "POST", "/partners/heap/cohorts/users", NULL, body, &r);
        free(body);
        if (r.status != 201 || !r.json) {
            resp_free(&r);
            return (void *)1;
        }
        f->added += (long)json_integer_value(json_object_get(r.json, "users_added"));
        f->removed += (long)json_integer_value(json_object_get(r.json, "users_removed"));
        resp_free(&r);
    }
    return NULL;
}

/* Concurrent imports of one cohort are netted against each other in commit order: the answers'
 * users_added minus users_removed add up to the size, before and after a kill -9. */
static void test_concurrent_adds_and_removes_of_the_same_users_net_in_commit_order(void **state) {
    struct server *s = *state;
    char users[2048];
    size_t len = (size_t)snprintf(users, sizeof users, "{\"attributes\":[");
    for (int u = 0; u < 30; u++)
        len += (size_t)snprintf(users + len, sizeof users - len, "%s{\"external_id\":\"w%d\"}",
                                u ? "," : "", u);
    snprintf(users + len, sizeof users - len, "]}");
    struct resp r;
    http_post_rest(s, "/users/track", users, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    struct flipper f[4];
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        f[t] = (struct flipper){s, t + 1, 0, 0};
        pthread_create(&th[t], NULL, flip_cohort, &f[t]);
    }
    long net = 0;
    for (int t = 0; t < 4; t++) {
        void *failed = NULL;
        pthread_join(th[t], &failed);
        assert_null(failed);
        net += f[t].added - f[t].removed;
    }
    assert_int_equal(cohort_size(s, "heap", "flip"), net);
    server_kill(s);
    server_start(s);
    assert_int_equal(cohort_size(s, "heap", "flip"), net);
}

/* The exact body of /cohorts/details for a heap cohort (NULL when 404). */
static char *details_text(struct server *s, const char *cohort) {
    char *path = strf("/cohorts/details?partner=heap&cohort_id=%s", cohort);
    struct resp r;
    http_get_rest(s, path, &r);
    char *text = r.status == 200 ? strf("%s", r.body) : NULL;
    resp_free(&r);
    free(path);
    return text;
}

static void test_cohort_id_over_limit_is_refused(void **state) {
    struct server *s = *state;
    char *id = repeat('c', 256);
    char *rest = strf("\"cohort_id\":\"%s\",\"name\":\"x\",\"created_at\":\"2024-01-01\"", id);
    struct resp r;
    partner_post(s, "heap", "cohorts", rest, &r);
    assert_resp(&r, 400, "{\"message\":\"cohort_id must be a valid string\"}");
    resp_free(&r);
    free(rest);
    changes(s, id, "[{\"user_ids\":[\"ann\"]}]", 400,
            "{\"message\":\"cohort_id must be a valid string\"}");
    assert_null(details_text(s, id));
    /* 255 bytes is a cohort id like any other */
    id[255] = '\0';
    changes(s, id, "[{\"user_ids\":[\"ann\"]}]", 201,
            "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":1,"
            "\"ids_unmatched\":0,\"users_added\":1,\"users_removed\":0}");
    assert_int_equal(cohort_size(s, "heap", id), 1);
    free(id);
}

static void test_cohort_name_over_limit_is_refused_naming_the_field(void **state) {
    struct server *s = *state;
    char *name = repeat('n', 1025);
    char *rest = strf("\"cohort_id\":\"long-name\",\"name\":\"%s\",\"created_at\":"
                      "\"2024-01-01\"",
                      name);
    struct resp r;
    partner_post(s, "heap", "cohorts", rest, &r);
    assert_resp(&r, 400, "{\"message\":\"name is longer than 1024 bytes\"}");
    resp_free(&r);
    assert_null(details_text(s, "long-name"));
    free(rest);
    free(name);
}

static void test_external_id_over_limit_in_import_is_refused_whole(void **state) {
    struct server *s = *state;
    changes(s, "whole", "[{\"user_ids\":[\"ann\"]}]", 201,
            "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":1,"
            "\"ids_unmatched\":0,\"users_added\":1,\"users_removed\":0}");
    char *before = details_text(s, "whole");
    assert_non_null(before);
    char *id = repeat('e', 2049);
    struct {
        const char *fmt, *text; /* fmt: @ID@ stands for the long id */
    } cases[] = {
        {"[{\"user_ids\":[\"bob\"]},{\"user_ids\":[\"eve\",\"@ID@\"],\"should_remove\":true}]",
         "cohort_changes[1].user_ids[1] is longer than 2048 bytes"},
        {"[{\"device_ids\":[\"@ID@\"]}]",
         "cohort_changes[0].device_ids[0] is longer than 2048 bytes"},
        {"[{\"user_ids\":[{\"alias_label\":\"email\",\"alias_name\":\"@ID@\"}]}]",
         "cohort_changes[0].user_ids[0].alias_name is longer than 2048 bytes"},
        {"[{\"aliases\":{\"alias_label\":\"@ID@\",\"alias_name\":\"lead@x\"}}]",
         "cohort_changes[0].aliases.alias_label is longer than 2048 bytes"},
        {"[{\"aliases\":[{\"alias_label\":\"email\",\"alias_name\":\"lead@x\"},"
         "{\"alias_label\":\"email\",\"alias_name\":\"@ID@\"}]}]",
         "cohort_changes[0].aliases[1].alias_name is longer than 2048 bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *at = strstr(cases[i].fmt, "@ID@");
        char *json = strf("%.*s%s%s", (int)(at - cases[i].fmt), cases[i].fmt, id, at + 4);
        char *want = strf("{\"message\":\"%s\"}", cases[i].text);
        changes(s, "whole", json, 400, want);
        free(want);
        free(json);
        char *after = details_text(s, "whole");
        assert_string_equal(after, before);
        free(after);
    }
    /* an id of exactly the limit is counted like any other */
    id[2048] = '\0';
    char *json = strf("[{\"user_ids\":[\"%s\"]}]", id);
    changes(s, "whole", json, 201,
            "{\"message\":\"success\",\"ids_received\":1,\"ids_matched\":0,"
            "\"ids_unmatched\":1,\"users_added\":0,\"users_removed\":0}");
    free(json);
    free(id);
    free(before);
}

static void test_unmatched_sample_holds_long_ids_whole(void **state) {
    struct server *s = *state;
    char *ext = repeat('e', 2048), *label = repeat('l', 2048), *name = repeat('n', 2048);
    char *json = strf("[{\"user_ids\":[\"%s\"]},{\"aliases\":[{\"alias_label\":\"%s\","
                      "\"alias_name\":\"%s\"}]}]",
                      ext, label, name);
    changes(s, "long-misses", json, 201,
            "{\"message\":\"success\",\"ids_received\":2,\"ids_matched\":0,"
            "\"ids_unmatched\":2,\"users_added\":0,\"users_removed\":0}");
    struct resp r;
    http_get_rest(s, "/cohorts/details?partner=heap&cohort_id=long-misses", &r);
    assert_int_equal(r.status, 200);
    json_t *sample = json_object_get(r.json, "unmatched_sample");
    assert_int_equal(json_array_size(sample), 2);
    char *alias = strf("alias:%s:%s", label, name);
    int seen = 0;
    for (size_t i = 0; i < 2; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(sample, i), "id"));
        seen += strcmp(id, ext) == 0 ? 1 : strcmp(id, alias) == 0 ? 2 : 0;
    }
    assert_int_equal(seen, 3); /* both, each whole */
    resp_free(&r);
    free(alias);
    free(json);
    free(ext);
    free(label);
    free(name);
}

static void test_refused_partner_credentials_reach_no_store_write(void **state) {
    struct server *s = *state;
    heap_key_check(s, "required");
    const char *change = "\"cohort_id\":\"guarded\",\"cohort_changes\":[{\"user_ids\":[\"ann\"]}]";
    struct {
        char *body;
        const char *expected;
    } cases[] = {
        {strf("{\"partner_api_key\":\"wrong\",\"client_secret\":\"%s\",%s}", s->import_key, change),
         "{\"message\":\"Invalid Partner API key\"}"},
        {strf("{\"client_secret\":\"%s\",%s}", s->import_key, change),
         "{\"message\":\"Invalid Partner API key\"}"},
        {strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"\",%s}", s->partner_key, change),
         "{\"message\":\"Invalid client secret\"}"},
        {strf("{\"partner_api_key\":\"%s\",%s}", s->partner_key, change),
         "{\"message\":\"Invalid client secret\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct resp r;
        http_req(s, "POST", "/partners/heap/cohorts/users", NULL, cases[i].body, &r);
        assert_resp(&r, 401, cases[i].expected);
        resp_free(&r);
        free(cases[i].body);
    }
    assert_null(details_text(s, "guarded"));
    heap_key_check(s, "off");
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_rename_keep_earliest_created_at),
        cmocka_unit_test(test_name_endpoint_validation_texts),
        cmocka_unit_test(test_heap_is_hosted_by_default_and_partners_update_changes_the_key_check),
        cmocka_unit_test(test_authentication_order_and_texts),
        cmocka_unit_test(test_empty_changes_with_valid_keys_succeed_and_store_nothing),
        cmocka_unit_test(test_matching_rules_for_every_identifier_kind),
        cmocka_unit_test(test_user_ids_strings_fall_back_to_anonymous_device_ids_and_hold_aliases),
        cmocka_unit_test(test_later_entry_wins_within_a_request),
        cmocka_unit_test(test_1000_ids_pass_and_1001_are_rejected_whole),
        cmocka_unit_test(test_shape_errors_are_400_and_change_nothing),
        cmocka_unit_test(test_memberships_survive_restart_and_kill),
        cmocka_unit_test(test_deleting_a_user_removes_it_from_every_cohort),
        cmocka_unit_test(test_second_partner_with_key_check_off_and_import_key_lifecycle),
        cmocka_unit_test(test_cohorts_list_shows_every_cohort),
        cmocka_unit_test(test_concurrent_requests_on_one_cohort_lose_no_update),
        cmocka_unit_test(test_concurrent_adds_and_removes_of_the_same_users_net_in_commit_order),
        cmocka_unit_test(test_cohort_id_over_limit_is_refused),
        cmocka_unit_test(test_cohort_name_over_limit_is_refused_naming_the_field),
        cmocka_unit_test(test_external_id_over_limit_in_import_is_refused_whole),
        cmocka_unit_test(test_refused_partner_credentials_reach_no_store_write),
        cmocka_unit_test(test_unmatched_sample_holds_long_ids_whole),
    };
    return cmocka_run_group_tests(tests, setup, server_teardown);
}
