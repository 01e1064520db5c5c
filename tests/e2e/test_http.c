/* test_http.c — the HTTP surface: health, unknown paths, wrong methods, body limits, bad JSON,
 * REST API key authentication. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static int setup(void **state) {
    static const char *const args[] = {"--max-body", "2048", NULL};
    *state = server_new(args);
    return 0;
}

static void test_healthz_answers_ok_when_store_usable(void **state) {
    struct resp r;
    http_req(*state, "GET", "/healthz", NULL, NULL, &r);
    assert_resp(&r, 200, "{\"status\":\"ok\"}");
    resp_free(&r);
}

static void test_unknown_path_is_404_json(void **state) {
    struct resp r;
    http_req(*state, "GET", "/no/such/thing", NULL, NULL, &r);
    assert_resp(&r, 404, "{\"message\":\"Not Found\"}");
    resp_free(&r);
}

static void test_wrong_method_is_405_json(void **state) {
    struct resp r;
    http_req(*state, "GET", "/users/track", NULL, NULL, &r);
    assert_resp(&r, 405, "{\"message\":\"Method Not Allowed\"}");
    resp_free(&r);
}

static void test_body_over_limit_is_413_and_stores_nothing(void **state) {
    struct server *s = *state;
    char *big = malloc(4096);
    memset(big, ' ', 4095);
    big[4095] = '\0';
    const char *head = "{\"attributes\":[{\"external_id\":\"big\",\"x\":1}]";
    memcpy(big, head, strlen(head));
    big[4094] = '}';
    struct resp r;
    http_post_rest(s, "/users/track", big, &r);
    assert_resp(&r, 413,
                "{\"message\":\"Payload Too Large\",\"errors\":[\"the request body is larger than "
                "2048 bytes\"]}");
    resp_free(&r);
    http_post_rest(s, "/users/export/ids", "{\"external_ids\":[\"big\"]}", &r);
    assert_resp(&r, 200, "{\"message\":\"success\",\"users\":[],\"invalid_user_ids\":[\"big\"]}");
    resp_free(&r);
    free(big);
}

static void test_malformed_json_is_400_with_reason(void **state) {
    struct resp r;
    http_post_rest(*state, "/users/track", "{\"attributes\": [", &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(json_string_value(json_object_get(r.json, "message")), "Bad Request");
    const char *why = json_string_value(json_array_get(json_object_get(r.json, "errors"), 0));
    assert_non_null(why);
    assert_non_null(strstr(why, "invalid JSON at line 1"));
    resp_free(&r);
}

static void test_body_that_is_not_an_object_is_400(void **state) {
    struct resp r;
    http_post_rest(*state, "/users/track", "[1,2]", &r);
    assert_resp(&r, 400,
                "{\"message\":\"Bad Request\",\"errors\":[\"the request body must be a JSON "
                "object\"]}");
    resp_free(&r);
}

static void test_missing_rest_key_is_401(void **state) {
    struct resp r;
    http_req(*state, "POST", "/users/track", NULL, "{}", &r);
    assert_resp(&r, 401,
                "{\"message\":\"Unauthorized\",\"errors\":[\"send the REST API key as "
                "'Authorization: Bearer <key>'\"]}");
    resp_free(&r);
}

static void test_wrong_rest_key_is_401_and_stores_nothing(void **state) {
    struct server *s = *state;
    const char *h[] = {"Authorization: Bearer not-a-key", NULL};
    struct resp r;
    http_req(s, "POST", "/users/track", h, "{\"attributes\":[{\"external_id\":\"intruder\"}]}", &r);
    assert_resp(&r, 401,
                "{\"message\":\"Unauthorized\",\"errors\":[\"invalid or revoked REST API key\"]}");
    resp_free(&r);
    http_post_rest(s, "/users/export/ids", "{\"external_ids\":[\"intruder\"]}", &r);
    assert_resp(&r, 200,
                "{\"message\":\"success\",\"users\":[],\"invalid_user_ids\":[\"intruder\"]}");
    resp_free(&r);
}

static void test_legacy_api_key_in_body_is_accepted(void **state) {
    struct server *s = *state;
    char *body =
        strf("{\"api_key\":\"%s\",\"attributes\":[{\"external_id\":\"legacy\"}]}", s->rest_key);
    struct resp r;
    http_req(s, "POST", "/users/track", NULL, body, &r);
    assert_resp(&r, 201, "{\"message\":\"success\",\"attributes_processed\":1}");
    resp_free(&r);
    free(body);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz_answers_ok_when_store_usable),
        cmocka_unit_test(test_unknown_path_is_404_json),
        cmocka_unit_test(test_wrong_method_is_405_json),
        cmocka_unit_test(test_body_over_limit_is_413_and_stores_nothing),
        cmocka_unit_test(test_malformed_json_is_400_with_reason),
        cmocka_unit_test(test_body_that_is_not_an_object_is_400),
        cmocka_unit_test(test_missing_rest_key_is_401),
        cmocka_unit_test(test_wrong_rest_key_is_401_and_stores_nothing),
        cmocka_unit_test(test_legacy_api_key_in_body_is_accepted),
    };
    return cmocka_run_group_tests(tests, setup, server_teardown);
}
