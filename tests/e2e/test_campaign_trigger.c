/*
 * test_campaign_trigger.c — what /campaigns/trigger/send and /canvas/trigger/send take beside
 * recipients (issue 16, item 6), against the real server and a webhook receiver: recipients'
 * `attributes` applied like /users/track before the send (with send_to_existing_only, whole or
 * not at all, kept across a restart), Braze's `"trigger_properties": ""`, and connected
 * audiences over attributes, events and cohorts narrowing who is sent to.
 */
#include "campaign_fixture.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *fast[] = {CAMPAIGN_FIXTURE_FAST, NULL};

struct fixture {
    struct server s;
    struct sink *hook;
    char base[128];
    char segment[64];
    char *campaign; /* api-triggered on the segment: POST {base}/t/{user_id}, body "name=…" */
    char *canvas;   /* the same as a one-step Canvas */
};

/* u1 (Ada), u2 (Bob), u3 on trial; u4 on pro; u3 performed "bought"; the heap cohort "vip"
 * holds u1 and u4. The segment is "plan is trial". */
static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    f->hook = campaign_fixture_start(&f->s, fast, f->base, sizeof f->base);
    post_status(&f->s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"u1\",\"first_name\":\"Ada\",\"plan\":"
                "\"trial\",\"foods\":[\"pizza\",\"figs\"]},{\"external_id\":\"u2\",\"first_name\":"
                "\"Bob\",\"plan\":\"trial\",\"visits\":3},{\"external_id\":\"u3\",\"plan\":"
                "\"trial\",\"visits\":9},{\"external_id\":\"u4\",\"plan\":\"pro\"}],"
                "\"events\":[{\"external_id\":\"u3\",\"name\":\"bought\",\"time\":"
                "\"2026-01-01T00:00:00Z\"}]}",
                201);
    char *imp = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":\"vip\","
                     "\"cohort_changes\":[{\"user_ids\":[\"u1\",\"u4\"]}]}",
                     f->s.partner_key, f->s.import_key);
    struct resp r;
    http_req(&f->s, "POST", "/partners/heap/cohorts/users", NULL, imp, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    free(imp);
    char *segment = post_created(&f->s, "/segments/create",
                                 "{\"name\":\"trial\",\"filter\":{\"attribute\":\"plan\","
                                 "\"op\":\"equals\",\"value\":\"trial\"}}",
                                 "segment_id");
    snprintf(f->segment, sizeof f->segment, "%s", segment);
    free(segment);
    const char *paths[] = {"/campaigns/create", "/canvas/create"};
    const char *keys[] = {"campaign_id", "canvas_id"};
    for (int k = 0; k < 2; k++) {
        char *message = strf("{\"webhook\":{\"url\":\"%s/t/{{${user_id}}}\",\"body\":"
                             "\"name={{${first_name} | default: 'none'}}\"}}",
                             f->base);
        char *body = k ? strf("{\"name\":\"T\",\"segment_id\":\"%s\",\"schedule\":{\"type\":"
                              "\"api_triggered\"},\"steps\":[{\"name\":\"s\","
                              "\"delay_seconds\":0,\"message\":%s}]}",
                              f->segment, message)
                       : strf("{\"name\":\"T\",\"segment_id\":\"%s\",\"schedule\":{\"type\":"
                              "\"api_triggered\"},\"message\":%s}",
                              f->segment, message);
        free(message);
        *(k ? &f->canvas : &f->campaign) = post_created(&f->s, paths[k], body, keys[k]);
        free(body);
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    campaign_fixture_stop(&f->s, f->hook);
    free(f->campaign);
    free(f->canvas);
    free(f);
    return 0;
}

/* Triggers and asserts the exact answer: 201 with a 24-hex dispatch id, "success", and
 * `extra` (the rest of the body after "message", e.g. ",\"errors\":[…]", or ""). */
static void trigger_expect(struct fixture *f, const char *path, const char *body,
                           const char *extra) {
    struct resp r;
    http_post_rest(&f->s, path, body, &r);
    const char *dispatch = json_string_value(json_object_get(r.json, "dispatch_id"));
    if (r.status != 201 || !dispatch || strlen(dispatch) != 24)
        fail_msg("%s: %ld %s", path, r.status, r.body);
    char *want = strf("{\"dispatch_id\":\"%s\",\"message\":\"success\"%s}", dispatch, extra);
    assert_resp(&r, 201, want);
    free(want);
    resp_free(&r);
}

/* Waits until exactly the paths (NULL-terminated, "/t/<user>" with body "name=<name>") have
 * arrived, each once, and no dispatch is due unfinished (no more follow). */
static void expect_sends(struct fixture *f, const char *const *want_paths,
                         const char *const *want_bodies) {
    size_t n = 0;
    while (want_paths[n])
        n++;
    assert_int_equal(sink_wait_requests(f->hook, n, 10000), n);
    campaign_fixture_wait_idle(&f->s); /* no send beyond the expected ones follows */
    assert_int_equal(sink_count(f->hook), n);
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t k = 0; k < n; k++) {
            const struct sink_request *q = sink_get(f->hook, k);
            if (strcmp(q->path, want_paths[i]) == 0) {
                seen++;
                assert_string_equal(q->raw, want_bodies[i]);
            }
        }
        if (seen != 1)
            fail_msg("%s arrived %d times", want_paths[i], seen);
    }
}

static char *attr_of(struct fixture *f, const char *ext, const char *name) {
    json_t *u = export_ext(&f->s, ext, "[\"custom_attributes\",\"first_name\"]");
    if (!u)
        return NULL;
    const json_t *v = json_object_get(u, name);
    if (!v)
        v = json_object_get(json_object_get(u, "custom_attributes"), name);
    char *text = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : strdup("absent");
    json_decref(u);
    return text;
}

static void assert_attr(struct fixture *f, const char *ext, const char *name, const char *want) {
    char *got = attr_of(f, ext, name);
    if (!got || strcmp(got, want) != 0)
        fail_msg("%s.%s: %s, want %s", ext, name, got ? got : "(no user)", want);
    free(got);
}

static void
test_recipient_attributes_are_applied_before_the_send_and_kept_after_restart(void **state) {
    struct fixture *f = *state;
    /* u4 (pro) joins the segment by its attributes; n1 is created (send_to_existing_only
     * false); n2 is not (the default true), so it is no such user and nothing is stored */
    char *body = strf(
        "{\"campaign_id\":\"%s\",\"trigger_properties\":\"\",\"recipients\":["
        "{\"external_user_id\":\"u4\",\"trigger_properties\":\"\",\"attributes\":{\"plan\":"
        "\"trial\",\"first_name\":\"Dan\"}},"
        "{\"external_user_id\":\"n1\",\"send_to_existing_only\":false,\"attributes\":{\"plan\":"
        "\"trial\",\"first_name\":\"Neo\",\"visits\":{\"inc\":2}}},"
        "{\"external_user_id\":\"n2\",\"attributes\":{\"plan\":\"trial\",\"first_name\":"
        "\"Nix\"}},"
        "{\"external_user_id\":\"u1\",\"send_to_existing_only\":true}]}",
        f->campaign);
    trigger_expect(f, "/campaigns/trigger/send", body,
                   ",\"errors\":[{\"type\":\"no such user\",\"input_array\":\"recipients\","
                   "\"index\":2}]");
    const char *paths[] = {"/t/u4", "/t/n1", "/t/u1", NULL};
    const char *bodies[] = {"name=Dan", "name=Neo", "name=Ada"};
    expect_sends(f, paths, bodies);
    server_stop(&f->s);
    server_start(&f->s);
    assert_attr(f, "u4", "plan", "\"trial\"");
    assert_attr(f, "u4", "first_name", "\"Dan\"");
    assert_attr(f, "n1", "first_name", "\"Neo\"");
    assert_attr(f, "n1", "visits", "2");
    assert_null(export_ext(&f->s, "n2", "[\"first_name\"]"));
    free(body);
}

static void test_canvas_recipient_attributes_and_an_empty_context_are_accepted(void **state) {
    struct fixture *f = *state;
    char *body = strf("{\"canvas_id\":\"%s\",\"context\":\"\",\"canvas_entry_properties\":\"\","
                      "\"recipients\":[{\"external_user_id\":\"u2\",\"context\":\"\","
                      "\"attributes\":{\"first_name\":\"Bea\"}}]}",
                      f->canvas);
    trigger_expect(f, "/canvas/trigger/send", body, "");
    const char *paths[] = {"/t/u2", NULL};
    const char *bodies[] = {"name=Bea"};
    expect_sends(f, paths, bodies);
    assert_attr(f, "u2", "first_name", "\"Bea\"");
    free(body);
}

static void test_a_bad_recipient_attribute_refuses_the_whole_trigger(void **state) {
    struct fixture *f = *state;
    struct {
        const char *recipients;
        const char *want;
    } cases[] = {
        /* core finds it (u1's plan is text): u2's change before it is undone too */
        {"[{\"external_user_id\":\"u2\",\"attributes\":{\"first_name\":\"Zed\"}},"
         "{\"external_user_id\":\"u1\",\"attributes\":{\"plan\":{\"inc\":1}}}]",
         "{\"message\":\"recipients[1].attributes: 'inc' applies only to a number attribute\"}"},
        {"[{\"external_user_id\":\"u2\",\"attributes\":{\"first_name\":\"Zed\"}},"
         "{\"external_user_id\":\"u1\",\"attributes\":{\"visits\":{\"inc\":\"x\"}}}]",
         NULL}, /* filled below: /users/track's own text for it */
        {"[{\"external_user_id\":\"n3\",\"send_to_existing_only\":false}]",
         "{\"message\":\"recipients[0].attributes: required when send_to_existing_only is "
         "false\"}"},
        {"[{\"user_alias\":{\"alias_label\":\"l\",\"alias_name\":\"n\"},"
         "\"send_to_existing_only\":false,\"attributes\":{\"plan\":\"x\"}}]",
         "{\"message\":\"recipients[0].send_to_existing_only: cannot be false for a "
         "user_alias\"}"},
        {"[{\"external_user_id\":\"u2\",\"attributes\":[1]}]",
         "{\"message\":\"recipients[0].attributes: must be an object\"}"},
        {"[{\"external_user_id\":\"u2\",\"send_to_existing_only\":\"no\",\"attributes\":{}}]",
         "{\"message\":\"recipients[0].send_to_existing_only: must be a boolean\"}"},
        {"[{\"external_user_id\":\"u2\",\"trigger_properties\":\"x\"}]",
         "{\"message\":\"recipients[0].trigger_properties: must be an object\"}"},
    };
    /* the text /users/track gives an inc that is not a number, at the trigger's path */
    struct resp r;
    http_post_rest(&f->s, "/users/track",
                   "{\"attributes\":[{\"external_id\":\"u1\",\"visits\":{\"inc\":\"x\"}}]}", &r);
    assert_int_equal(r.status, 201);
    const char *type = json_string_value(
        json_object_get(json_array_get(json_object_get(r.json, "errors"), 0), "type"));
    assert_non_null(type);
    char *inc_text = strf("{\"message\":\"recipients[1].attributes: %s\"}", type);
    resp_free(&r);
    cases[1].want = inc_text;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body =
            strf("{\"campaign_id\":\"%s\",\"recipients\":%s}", f->campaign, cases[i].recipients);
        post_expect(&f->s, "/campaigns/trigger/send", body, 400, cases[i].want);
        free(body);
    }
    assert_attr(f, "u2", "first_name", "\"Bob\"");
    assert_null(export_ext(&f->s, "n3", "[\"first_name\"]"));
    assert_int_equal(sql_count(&f->s, "SELECT count(*) FROM dispatches"), 0);
    assert_int_equal(sink_count(f->hook), 0);
    free(inc_text);
}

static void test_a_connected_audience_narrows_who_is_sent_to(void **state) {
    struct fixture *f = *state;
    /* without recipients: the audience's users in the segment (u4 is vip but not trial) */
    char *body = strf("{\"campaign_id\":\"%s\",\"audience\":{\"OR\":[{\"custom_attribute\":{"
                      "\"custom_attribute_name\":\"foods\",\"comparison\":\"includes_value\","
                      "\"value\":\"pizza\"}},{\"custom_attribute\":{\"custom_attribute_name\":"
                      "\"visits\",\"comparison\":\"greater_than\",\"value\":5}},{\"cohort\":{"
                      "\"partner\":\"heap\",\"cohort_id\":\"vip\"},\"op\":\"includes\"}]}}",
                      f->campaign);
    trigger_expect(f, "/campaigns/trigger/send", body, "");
    const char *p1[] = {"/t/u1", "/t/u3", NULL};
    const char *b1[] = {"name=Ada", "name=none"};
    expect_sends(f, p1, b1);
    free(body);
    /* with recipients: those of them in the audience; attributes count, as they come first */
    body = strf("{\"campaign_id\":\"%s\",\"recipients\":[{\"external_user_id\":\"u1\"},"
                "{\"external_user_id\":\"u2\"},{\"external_user_id\":\"u3\",\"attributes\":{"
                "\"first_name\":\"Cy\"}}],\"audience\":{\"AND\":[{\"custom_attribute\":{"
                "\"custom_attribute_name\":\"first_name\",\"comparison\":\"exists\"}},"
                "{\"custom_attribute\":{\"custom_attribute_name\":\"foods\",\"comparison\":"
                "\"does_not_include_value\",\"value\":\"pizza\"}},{\"event\":\"bought\","
                "\"op\":\"performed\"}]}}",
                f->campaign);
    trigger_expect(f, "/campaigns/trigger/send", body, "");
    assert_int_equal(sink_wait_requests(f->hook, 3, 10000), 3);
    campaign_fixture_wait_idle(&f->s);
    assert_int_equal(sink_count(f->hook), 3);
    assert_string_equal(sink_get(f->hook, 2)->path, "/t/u3");
    assert_string_equal(sink_get(f->hook, 2)->raw, "name=Cy");
    free(body);
    /* a Canvas with an audience and broadcast: the same narrowing */
    body = strf("{\"canvas_id\":\"%s\",\"broadcast\":true,\"audience\":{\"custom_attribute\":{"
                "\"custom_attribute_name\":\"first_name\",\"comparison\":\"equals\",\"value\":"
                "\"Bob\"}}}",
                f->canvas);
    trigger_expect(f, "/canvas/trigger/send", body, "");
    assert_int_equal(sink_wait_requests(f->hook, 4, 10000), 4);
    campaign_fixture_wait_idle(&f->s);
    assert_int_equal(sink_count(f->hook), 4);
    assert_string_equal(sink_get(f->hook, 3)->path, "/t/u2");
    free(body);
    /* an audience nobody is in: accepted, nothing sent */
    body = strf("{\"campaign_id\":\"%s\",\"audience\":{\"custom_attribute\":{"
                "\"custom_attribute_name\":\"first_name\",\"comparison\":\"equals\",\"value\":"
                "\"Nobody\"}}}",
                f->campaign);
    trigger_expect(f, "/campaigns/trigger/send", body, "");
    campaign_fixture_wait_idle(&f->s);
    assert_int_equal(sink_count(f->hook), 4);
    free(body);
}

static void test_an_audience_cohortd_cannot_evaluate_is_refused_by_its_path(void **state) {
    struct fixture *f = *state;
    struct {
        const char *audience;
        const char *want;
    } cases[] = {
        {"{\"AND\":[{\"custom_attribute\":{\"custom_attribute_name\":\"name\",\"comparison\":"
         "\"matches_regex\",\"value\":\"^A\"}}]}",
         "audience.AND[0].custom_attribute.comparison: 'matches_regex' is not supported (equals, "
         "not_equal, does_not_equal, exists, does_not_exist, greater_than, "
         "greater_than_or_equal_to, less_than, less_than_or_equal_to, includes_value, "
         "does_not_include_value)"},
        {"{\"OR\":[{\"custom_attribute\":{\"custom_attribute_name\":\"a\",\"comparison\":"
         "\"equals\",\"value\":1}},{\"push_subscription_status\":{\"comparison\":\"is\",\"value\":"
         "\"opted_in\"}}]}",
         "audience.OR[1].push_subscription_status: not supported; filter on attributes, events or "
         "cohorts"},
        {"{\"AND\":[]}", "audience.AND: must be a non-empty array"},
        {"{\"AND\":[{\"custom_attribute\":{\"custom_attribute_name\":\"a\",\"comparison\":"
         "\"equals\"}}]}",
         "audience.AND[0].custom_attribute.value: is required"},
        {"{\"custom_attribute\":{\"custom_attribute_name\":\"a\",\"comparison\":\"equals\","
         "\"value\":1,\"x\":2}}",
         "audience.custom_attribute: unknown key 'x'"},
        {"{\"AND\":[{\"custom_attribute\":{}},{\"x\":1}],\"OR\":[]}",
         "audience: must hold one of AND, OR, custom_attribute alone"},
        {"[1]", "audience: must be a non-empty object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body =
            strf("{\"campaign_id\":\"%s\",\"audience\":%s}", f->campaign, cases[i].audience);
        char *want = strf("{\"message\":\"%s\"}", cases[i].want);
        post_expect(&f->s, "/campaigns/trigger/send", body, 400, want);
        free(want);
        free(body);
    }
    /* a leaf of cohortd's own filters is checked by the segment parser, at the Braze path */
    char *body = strf("{\"campaign_id\":\"%s\",\"audience\":{\"AND\":[{\"event\":\"bought\","
                      "\"op\":\"maybe\"}]}}",
                      f->campaign);
    struct resp r;
    http_post_rest(&f->s, "/campaigns/trigger/send", body, &r);
    assert_int_equal(r.status, 400);
    const char *msg = json_string_value(json_object_get(r.json, "message"));
    assert_non_null(msg);
    if (strncmp(msg, "audience.AND[0].op", strlen("audience.AND[0].op")) != 0)
        fail_msg("message %s", msg);
    resp_free(&r);
    free(body);
    assert_int_equal(sql_count(&f->s, "SELECT count(*) FROM dispatches"), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_recipient_attributes_are_applied_before_the_send_and_kept_after_restart, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_canvas_recipient_attributes_and_an_empty_context_are_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_bad_recipient_attribute_refuses_the_whole_trigger,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_connected_audience_narrows_who_is_sent_to, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_an_audience_cohortd_cannot_evaluate_is_refused_by_its_path, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
