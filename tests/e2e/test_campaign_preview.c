/*
 * test_campaign_preview.c — the campaign wizard's preview and test send against the real server
 * and a real receiver on loopback: a preview is the request a send would make for that user
 * (profile, custom attributes, url encoding, campaign.* placeholders) and stores and sends
 * nothing; a template error is the 400 of /campaigns/create naming field, line and column; an
 * unknown user is 404; a test send makes exactly that request once, answers the receiver's
 * status and records no send; a receiver that cannot be reached is 502 saying what failed; a
 * template that aborts for the user is answered as skipped and sends nothing.
 */
#include "campaign_fixture.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
    struct server s;
    struct sink *hook;
    char base[128]; /* http://127.0.0.1:PORT of the receiver */
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    f->hook = campaign_fixture_start(&f->s, NULL, f->base, sizeof f->base);
    post_status(&f->s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"ann lee\",\"first_name\":\"Ann\",\"plan\":"
                "\"pro\",\"points\":1200}]}",
                201);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    campaign_fixture_stop(&f->s, f->hook);
    free(f);
    return 0;
}

/* {"message": {"webhook": {url, POST, {"X-Name": header}, body}}, "external_id": user} (new). */
static char *preview_body(const char *url, const char *header, const char *body, const char *user) {
    json_t *j =
        json_pack("{s:{s:{s:s, s:s, s:{s:s}, s:s}}, s:s}", "message", "webhook", "url", url,
                  "method", "POST", "headers", "X-Name", header, "body", body, "external_id", user);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text;
}

#define BODY_TEMPLATE                                                                              \
    "{\"plan\":\"{{custom_attribute.${plan}}}\",\"points\":{{custom_attribute.${points}}},"        \
    "\"c\":\"{{campaign.${api_id}}}/{{campaign.${name}}}/{{campaign.${dispatch_id}}}\"}"
#define BODY_RENDERED "{\"plan\":\"pro\",\"points\":1200,\"c\":\"preview/Preview/preview\"}"

static void assert_nothing_stored_or_sent(struct fixture *f) {
    assert_int_equal(sql_count(&f->s, "SELECT count(*) FROM campaigns"), 0);
    assert_int_equal(sql_count(&f->s, "SELECT count(*) FROM dispatches"), 0);
    assert_int_equal(sql_count(&f->s, "SELECT count(*) FROM deliveries"), 0);
}

static void test_a_preview_is_the_request_a_send_would_make_for_that_user(void **state) {
    struct fixture *f = *state;
    char *url = strf("%s/u/{{${user_id}}}?n={{${first_name}}}", f->base);
    char *body = preview_body(url, "{{${first_name} | upcase}}", BODY_TEMPLATE, "ann lee");
    char *expected = strf("{\"message\":\"success\",\"webhook\":{\"url\":\"%s/u/ann%%20lee?n=Ann\","
                          "\"method\":\"POST\",\"headers\":{\"X-Name\":\"ANN\"},\"body\":%s}}",
                          f->base,
                          "\"{\\\"plan\\\":\\\"pro\\\",\\\"points\\\":1200,\\\"c\\\":"
                          "\\\"preview/Preview/preview\\\"}\"");
    post_expect(&f->s, "/campaigns/preview", body, 200, expected);
    assert_nothing_stored_or_sent(f);
    assert_int_equal(sink_count(f->hook), 0);
    free(expected);
    free(body);
    free(url);
}

static void test_a_preview_template_error_names_field_line_and_column(void **state) {
    struct fixture *f = *state;
    char *url = strf("%s/x", f->base);
    char *body =
        preview_body(url, "ok", "{\"a\":1,\n \"b\":\"{{ ${first_name} | shout }}\"}", "ann lee");
    post_expect(&f->s, "/campaigns/preview", body, 400,
                "{\"message\":\"message.webhook.body: unknown filter 'shout' at line 2, column 7: "
                "{{ ${first_name} | shout }}\"}");
    free(body);
    body = preview_body(url, "{{ ${nickname} }}", "", "ann lee");
    post_expect(&f->s, "/campaigns/test_send", body, 400,
                "{\"message\":\"message.webhook.headers.X-Name: unknown tag '${nickname}' at line "
                "1, column 1: {{ ${nickname} }}\"}");
    free(body);
    body = preview_body("ftp://example.com/", "ok", "", "ann lee");
    post_expect(&f->s, "/campaigns/preview", body, 400,
                "{\"message\":\"message.webhook.url: must be an http:// or https:// URL\"}");
    free(body);
    post_expect(&f->s, "/campaigns/preview", "{\"message\":{\"webhook\":{\"url\":\"http://a/\"}}}",
                400, "{\"message\":\"external_id: must be the external id of a user\"}");
    assert_nothing_stored_or_sent(f);
    assert_int_equal(sink_count(f->hook), 0);
    free(url);
}

static void test_an_unknown_user_is_404_for_preview_and_test_send(void **state) {
    struct fixture *f = *state;
    char *url = strf("%s/x", f->base);
    char *body = preview_body(url, "ok", "{}", "nobody");
    post_expect(&f->s, "/campaigns/preview", body, 404, "{\"message\":\"user not found\"}");
    post_expect(&f->s, "/campaigns/test_send", body, 404, "{\"message\":\"user not found\"}");
    assert_int_equal(sink_count(f->hook), 0);
    free(body);
    free(url);
}

static void test_a_test_send_makes_that_request_once_and_answers_its_status(void **state) {
    struct fixture *f = *state;
    sink_answer(f->hook, 202, 0);
    char *url = strf("%s/u/{{${user_id}}}?n={{${first_name}}}", f->base);
    char *body = preview_body(url, "{{${first_name} | upcase}}", BODY_TEMPLATE, "ann lee");
    post_expect(&f->s, "/campaigns/test_send", body, 200,
                "{\"message\":\"success\",\"status\":202}");
    assert_int_equal(sink_count(f->hook), 1);
    const struct sink_request *got = sink_get(f->hook, 0);
    assert_string_equal(got->method, "POST");
    assert_string_equal(got->path, "/u/ann lee");
    assert_json_equal(got->query, "{\"n\":\"Ann\"}");
    assert_string_equal(got->raw, BODY_RENDERED);
    assert_string_equal(json_string_value(json_object_get(got->headers, "X-Name")), "ANN");
    assert_string_equal(got->content_type, "application/json");
    assert_string_equal(json_string_value(json_object_get(got->headers, "User-Agent")),
                        "cohortd-webhook/1");
    const char *key = json_string_value(json_object_get(got->headers, "Idempotency-Key"));
    assert_non_null(key);
    assert_true(strncmp(key, "preview.", 8) == 0);
    assert_nothing_stored_or_sent(f);
    /* a second test send is a new request, with a key of its own */
    sink_answer(f->hook, 500, 0);
    post_expect(&f->s, "/campaigns/test_send", body, 200,
                "{\"message\":\"success\",\"status\":500}");
    assert_int_equal(sink_count(f->hook), 2);
    assert_int_equal(sql_count(&f->s, "SELECT count(*) FROM deliveries"), 0);
    free(body);
    free(url);
}

static void test_a_test_send_that_cannot_connect_is_502_saying_what_failed(void **state) {
    struct fixture *f = *state;
    char *body = preview_body("http://127.0.0.1:1/x", "ok", "{}", "ann lee");
    post_expect(&f->s, "/campaigns/test_send", body, 502,
                "{\"message\":\"test send to http://127.0.0.1:1/x failed: Couldn't connect to "
                "server\"}");
    assert_nothing_stored_or_sent(f);
    free(body);
}

static void test_a_template_that_aborts_is_skipped_and_nothing_is_sent(void **state) {
    struct fixture *f = *state;
    char *url = strf("%s/x", f->base);
    char *body = preview_body(url, "ok", "{% abort_message(\"opted out\") %}", "ann lee");
    const char *skipped =
        "{\"message\":\"success\",\"skipped\":{\"result\":\"aborted\",\"reason\":\"opted out\"}}";
    post_expect(&f->s, "/campaigns/preview", body, 200, skipped);
    post_expect(&f->s, "/campaigns/test_send", body, 200, skipped);
    assert_int_equal(sink_count(f->hook), 0);
    assert_nothing_stored_or_sent(f);
    free(body);
    free(url);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_a_preview_is_the_request_a_send_would_make_for_that_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_preview_template_error_names_field_line_and_column,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_unknown_user_is_404_for_preview_and_test_send,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_test_send_makes_that_request_once_and_answers_its_status, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_test_send_that_cannot_connect_is_502_saying_what_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_template_that_aborts_is_skipped_and_nothing_is_sent,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
