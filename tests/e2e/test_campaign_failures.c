/*
 * test_campaign_failures.c — GET /campaigns/failures and /canvas/failures against the real
 * server and a real webhook receiver that answers 500 for one user: the failing user with the
 * receiver's status and answer as the reason, the attempts made, the Canvas step, the same
 * after a restart; an unknown id and a limit out of range refused with their texts.
 */
#include "campaign_fixture.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

static const char *fast[] = {CAMPAIGN_FIXTURE_FAST, "--webhook-max-attempts", "2", NULL};

struct fixture {
    struct server s;
    struct sink *hook;
    char base[128]; /* http://127.0.0.1:PORT of the webhook receiver */
    char segment[64];
};

/* u1, u2 and u3 on the trial plan, in the segment "trial"; the receiver answers 500 with
 * {"error":"boom"} to /hook/u2 and 200 to everything else. */
static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    f->hook = campaign_fixture_start(&f->s, fast, f->base, sizeof f->base);
    sink_fail_path(f->hook, "/hook/u2", 500, "{\"error\":\"boom\"}");
    post_status(&f->s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"u1\",\"plan\":\"trial\"},{\"external_id\":"
                "\"u2\",\"plan\":\"trial\"},{\"external_id\":\"u3\",\"plan\":\"trial\"}]}",
                201);
    char *id = post_created(&f->s, "/segments/create",
                            "{\"name\":\"trial\",\"filter\":{\"attribute\":\"plan\",\"op\":"
                            "\"equals\",\"value\":\"trial\"}}",
                            "segment_id");
    snprintf(f->segment, sizeof f->segment, "%s", id);
    free(id);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    campaign_fixture_stop(&f->s, f->hook);
    free(f);
    return 0;
}

/* Polls the details of a campaign or Canvas until sends and failures reach theirs; fails
 * after 10 s. */
static void wait_outcomes(struct fixture *f, const char *kind, const char *id, int sends,
                          int failures) {
    char *path =
        strf("/%s/details?%s_id=%s", kind, strcmp(kind, "canvas") ? "campaign" : "canvas", id);
    long long got_s = -1, got_f = -1;
    for (int i = 0; i < 1000; i++) {
        struct resp r;
        http_get_rest(&f->s, path, &r);
        got_s = json_integer_value(json_object_get(r.json, "sends"));
        got_f = json_integer_value(json_object_get(r.json, "failures"));
        resp_free(&r);
        if (got_s == sends && got_f == failures) {
            free(path);
            return;
        }
        sleep_ms(10);
    }
    fail_msg("%s: sends %lld failures %lld, want %d and %d", path, got_s, got_f, sends, failures);
}

/* GET path; asserts 200 and that the one failure's "at" is an ISO-8601 time of the test's
 * minutes, then the exact body with AT standing for that time. */
static void expect_failures(struct fixture *f, const char *path, const char *want_fmt,
                            long long started_ms) {
    struct resp r;
    http_get_rest(&f->s, path, &r);
    assert_int_equal(r.status, 200);
    const char *at = json_string_value(
        json_object_get(json_array_get(json_object_get(r.json, "last_failures"), 0), "at"));
    if (!at)
        fail_msg("%s: no failure time in %s", path, r.body);
    int64_t at_ms = 0;
    if (time_parse_iso8601(at, &at_ms) != 0 || at[strlen(at) - 1] != 'Z')
        fail_msg("%s: failure time '%s' is not ISO-8601 UTC", path, at);
    if (at_ms < started_ms - 1000 || at_ms > wall_ms() + 1000)
        fail_msg("%s: failure time %s is outside the test", path, at);
    const char *mark = strstr(want_fmt, "AT");
    char *want = strf("%.*s\"%s\"%s", (int)(mark - want_fmt), want_fmt, at, mark + 2);
    assert_resp(&r, 200, want);
    free(want);
    resp_free(&r);
}

static void test_the_failing_user_is_listed_with_the_receivers_answer_as_its_reason(void **state) {
    struct fixture *f = *state;
    long long started = wall_ms();
    char *body = strf("{\"name\":\"Welcome\",\"segment_id\":\"%s\",\"schedule\":{\"type\":"
                      "\"immediate\"},\"message\":{\"webhook\":{\"url\":\"%s/hook/"
                      "{{${external_id}}}\"}}}",
                      f->segment, f->base);
    char *id = post_created(&f->s, "/campaigns/create", body, "campaign_id");
    wait_outcomes(f, "campaigns", id, 2, 1);
    char *path = strf("/campaigns/failures?campaign_id=%s", id);
    const char *want = "{\"message\":\"success\",\"last_failures\":[{\"external_id\":\"u2\","
                       "\"reason\":\"HTTP 500: {\\\"error\\\":\\\"boom\\\"}\",\"at\":AT,"
                       "\"attempts\":2}]}";
    expect_failures(f, path, want, started);
    /* kept in the store: the same after a restart */
    server_stop(&f->s);
    server_start(&f->s);
    expect_failures(f, path, want, started);
    free(path);
    /* limit=1 is the newest one, still u2 */
    path = strf("/campaigns/failures?campaign_id=%s&limit=1", id);
    expect_failures(f, path, want, started);
    free(path);
    free(id);
    free(body);
}

static void test_a_canvas_failure_names_its_step(void **state) {
    struct fixture *f = *state;
    long long started = wall_ms();
    char *body = strf("{\"name\":\"Trial\",\"segment_id\":\"%s\",\"schedule\":{\"type\":"
                      "\"immediate\"},\"steps\":[{\"name\":\"hello\",\"delay_seconds\":0,"
                      "\"message\":{\"webhook\":{\"url\":\"%s/ok/{{${external_id}}}\"}}},"
                      "{\"name\":\"reminder\",\"delay_seconds\":0,\"message\":{\"webhook\":{"
                      "\"url\":\"%s/hook/{{${external_id}}}\"}}}]}",
                      f->segment, f->base, f->base);
    char *id = post_created(&f->s, "/canvas/create", body, "canvas_id");
    wait_outcomes(f, "canvas", id, 5, 1);
    char *path = strf("/canvas/failures?canvas_id=%s&limit=100", id);
    expect_failures(f, path,
                    "{\"message\":\"success\",\"last_failures\":[{\"external_id\":\"u2\","
                    "\"reason\":\"HTTP 500: {\\\"error\\\":\\\"boom\\\"}\",\"at\":AT,"
                    "\"attempts\":2,\"step\":2,\"step_name\":\"reminder\"}]}",
                    started);
    free(path);
    free(id);
    free(body);
}

static void test_no_failures_is_an_empty_list(void **state) {
    struct fixture *f = *state;
    char *body = strf("{\"name\":\"Later\",\"segment_id\":\"%s\",\"schedule\":{\"type\":"
                      "\"api_triggered\"},\"message\":{\"webhook\":{\"url\":\"%s/hook/x\"}}}",
                      f->segment, f->base);
    char *id = post_created(&f->s, "/campaigns/create", body, "campaign_id");
    char *path = strf("/campaigns/failures?campaign_id=%s", id);
    struct resp r;
    http_get_rest(&f->s, path, &r);
    assert_resp(&r, 200, "{\"message\":\"success\",\"last_failures\":[]}");
    resp_free(&r);
    free(path);
    free(id);
    free(body);
}

static void test_an_unknown_id_and_a_limit_out_of_range_are_refused(void **state) {
    struct fixture *f = *state;
    char *body = strf("{\"name\":\"Later\",\"segment_id\":\"%s\",\"schedule\":{\"type\":"
                      "\"api_triggered\"},\"message\":{\"webhook\":{\"url\":\"%s/hook/x\"}}}",
                      f->segment, f->base);
    char *id = post_created(&f->s, "/campaigns/create", body, "campaign_id");
    struct {
        const char *path_fmt, *want; /* ID: the campaign's id */
    } cases[] = {
        {"/campaigns/failures?campaign_id=nope", "{\"message\":\"Invalid Campaign ID\"}"},
        {"/campaigns/failures", "{\"message\":\"Invalid Campaign ID\"}"},
        {"/canvas/failures?canvas_id=nope", "{\"message\":\"Invalid Canvas ID\"}"},
        /* a campaign's id is not a Canvas's */
        {"/canvas/failures?canvas_id=ID", "{\"message\":\"Invalid Canvas ID\"}"},
        {"/campaigns/failures?campaign_id=ID&limit=0",
         "{\"message\":\"limit: must be a whole number from 1 to 100, not '0'\"}"},
        {"/campaigns/failures?campaign_id=ID&limit=101",
         "{\"message\":\"limit: must be a whole number from 1 to 100, not '101'\"}"},
        {"/campaigns/failures?campaign_id=ID&limit=ten",
         "{\"message\":\"limit: must be a whole number from 1 to 100, not 'ten'\"}"},
        {"/campaigns/failures?campaign_id=ID&limit=",
         "{\"message\":\"limit: must be a whole number from 1 to 100, not ''\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *mark = strstr(cases[i].path_fmt, "ID");
        char *path = mark ? strf("%.*s%s%s", (int)(mark - cases[i].path_fmt), cases[i].path_fmt, id,
                                 mark + 2)
                          : strf("%s", cases[i].path_fmt);
        struct resp r;
        http_get_rest(&f->s, path, &r);
        assert_resp(&r, 400, cases[i].want);
        resp_free(&r);
        free(path);
    }
    free(id);
    free(body);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_the_failing_user_is_listed_with_the_receivers_answer_as_its_reason, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_a_canvas_failure_names_its_step, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_failures_is_an_empty_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_unknown_id_and_a_limit_out_of_range_are_refused,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
