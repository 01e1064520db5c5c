/*
 * test_campaigns.c — campaigns and Canvases against the real server, with a real webhook
 * receiver on loopback: exactly the segment's audience gets one request each, personalisation,
 * the trigger's recipient filter and properties, the `at` schedule across a restart,
 * cohort-entry sends from a real cohort import, Canvas steps with delays and exits, retries
 * and failures, message events reaching a Current in the conformance shapes, and a restart in
 * the middle of a dispatch (graceful and kill -9).
 */
#include "campaign_fixture.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *fast[] = {
    CAMPAIGN_FIXTURE_FAST, "--webhook-max-attempts", "3", "--currents-poll-ms", "50", NULL};

struct fixture {
    struct server s;
    struct sink *hook;
    char base[128]; /* http://127.0.0.1:PORT of the webhook receiver */
    char segment[64];
};

/* Five users: u1..u3 on the trial plan (u1 and u2 with a first name), u4 on pro, u5 on trial
 * but deleted; the segment "plan is trial" holds u1, u2 and u3. */
static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    f->hook = campaign_fixture_start(&f->s, fast, f->base, sizeof f->base);
    post_status(
        &f->s, "/users/track",
        "{\"attributes\":[{\"external_id\":\"u1\",\"first_name\":\"Ada\",\"plan\":\"trial\"},"
        "{\"external_id\":\"u2\",\"first_name\":\"Bob\",\"plan\":\"trial\"},"
        "{\"external_id\":\"u3\",\"plan\":\"trial\"},{\"external_id\":\"u4\",\"plan\":"
        "\"pro\"},{\"external_id\":\"u5\",\"plan\":\"trial\"}]}",
        201);
    post_status(&f->s, "/users/delete", "{\"external_ids\":[\"u5\"]}", 201);
    struct resp r;
    http_post_rest(&f->s, "/segments/create",
                   "{\"name\":\"trial\",\"filter\":{\"attribute\":\"plan\",\"op\":\"equals\","
                   "\"value\":\"trial\"}}",
                   &r);
    snprintf(f->segment, sizeof f->segment, "%s",
             json_string_value(json_object_get(r.json, "segment_id")));
    resp_free(&r);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    campaign_fixture_stop(&f->s, f->hook);
    free(f);
    return 0;
}

/* Triggers a send and asserts Braze's exact answer: a 24-hex dispatch_id, "success", and the
 * request's send_id echoed when it had one. */
static void trigger_ok(struct fixture *f, const char *path, const char *body) {
    struct resp r;
    http_post_rest(&f->s, path, body, &r);
    const char *dispatch = json_string_value(json_object_get(r.json, "dispatch_id"));
    if (r.status != 201 || !dispatch || strlen(dispatch) != 24)
        fail_msg("%s: %ld %s", path, r.status, r.body);
    json_t *req = json_loads(body, 0, NULL);
    const char *send_id = json_string_value(json_object_get(req, "send_id"));
    char *want = send_id ? strf("{\"dispatch_id\":\"%s\",\"message\":\"success\",\"send_id\":"
                                "\"%s\"}",
                                dispatch, send_id)
                         : strf("{\"dispatch_id\":\"%s\",\"message\":\"success\"}", dispatch);
    assert_resp(&r, 201, want);
    free(want);
    json_decref(req);
    resp_free(&r);
}

/* text with the word SEGMENT replaced by the fixture's segment id (new string). */
static char *with_segment(const struct fixture *f, const char *text) {
    const char *at = strstr(text, "SEGMENT");
    if (!at)
        return strdup(text);
    return strf("%.*s%s%s", (int)(at - text), text, f->segment, at + strlen("SEGMENT"));
}

/* Creates a campaign or Canvas from a body naming SEGMENT; returns its id. */
static char *create(struct fixture *f, const char *path, const char *text) {
    char *body = with_segment(f, text);
    char *id =
        post_created(&f->s, path, body, strstr(path, "canvas") ? "canvas_id" : "campaign_id");
    free(body);
    return id;
}

static json_t *details(struct fixture *f, const char *kind, const char *id) {
    char *path =
        strf("/%s/details?%s_id=%s", kind, strcmp(kind, "canvas") ? "campaign" : "canvas", id);
    struct resp r;
    http_get_rest(&f->s, path, &r);
    assert_int_equal(r.status, 200);
    json_t *j = json_incref(r.json);
    resp_free(&r);
    free(path);
    return j;
}

/* Polls the details of a campaign or Canvas until its counter `key` reaches want (the sender
 * records an outcome a moment after the receiver has answered); fails after 10 s. */
static void wait_counter(struct fixture *f, const char *kind, const char *id, const char *key,
                         json_int_t want) {
    json_int_t got = -1;
    for (int i = 0; i < 1000; i++) {
        json_t *d = details(f, kind, id);
        got = json_integer_value(json_object_get(d, key));
        json_decref(d);
        if (got == want)
            return;
        sleep_ms(10);
    }
    fail_msg("%s of %s stayed %lld, want %lld", key, id, (long long)got, (long long)want);
}

static char *braze_id(struct fixture *f, const char *ext) {
    char *body = strf("{\"external_ids\":[\"%s\"]}", ext);
    struct resp r;
    http_post_rest(&f->s, "/users/export/ids", body, &r);
    json_t *u = json_array_get(json_object_get(r.json, "users"), 0);
    char *id = strdup(json_string_value(json_object_get(u, "braze_id")));
    resp_free(&r);
    free(body);
    return id;
}

/* How many requests the receiver got for a path. */
static int count_path(struct sink *k, const char *path) {
    int n = 0;
    for (size_t i = 0; i < sink_count(k); i++)
        if (strcmp(sink_get(k, i)->path, path) == 0)
            n++;
    return n;
}

/* Waits for n requests, then until no dispatch is due unfinished, to see that no more come. */
static void expect_requests(struct fixture *f, size_t n) {
    assert_int_equal(sink_wait_requests(f->hook, n, 10000), n);
    campaign_fixture_wait_idle(&f->s);
    assert_int_equal(sink_count(f->hook), n);
}

static void test_immediate_campaign_sends_one_personalised_request_to_each_member(void **state) {
    struct fixture *f = *state;
    char *fmt = strf("{\"name\":\"Welcome\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":"
                     "\"immediate\"},\"message\":{\"webhook\":{\"url\":\"%s/hook/"
                     "{{${external_id}}}?name={{custom_attribute.${first_name} | default: "
                     "'friend'}}\",\"method\":\"PUT\",\"headers\":{\"X-User\":\"{{${braze_id}}}"
                     "\",\"Content-Type\":\"text/plain\"},\"body\":\"{\\\"ext\\\":\\\""
                     "{{${external_id}}}\\\",\\\"plan\\\":\\\"{{custom_attribute.${plan}}}\\\"}"
                     "\"}}}",
                     f->base);
    char *id = create(f, "/campaigns/create", fmt);
    expect_requests(f, 3);
    const char *users[] = {"u1", "u2", "u3"};
    const char *names[] = {"Ada", "Bob", "friend"};
    for (int i = 0; i < 3; i++) {
        char *path = strf("/hook/%s", users[i]);
        assert_int_equal(count_path(f->hook, path), 1);
        for (size_t k = 0; k < 3; k++) {
            const struct sink_request *r = sink_get(f->hook, k);
            if (strcmp(r->path, path) != 0)
                continue;
            char *bid = braze_id(f, users[i]);
            char *body = strf("{\"ext\":\"%s\",\"plan\":\"trial\"}", users[i]);
            assert_string_equal(r->method, "PUT");
            assert_string_equal(r->raw, body);
            assert_string_equal(json_string_value(json_object_get(r->query, "name")), names[i]);
            assert_string_equal(json_string_value(json_object_get(r->headers, "X-User")), bid);
            assert_string_equal(json_string_value(json_object_get(r->headers, "Content-Type")),
                                "text/plain");
            free(body);
            free(bid);
        }
        free(path);
    }
    json_t *d = details(f, "campaigns", id);
    assert_json_equal(json_object_get(d, "audience_size"), "3");
    assert_json_equal(json_object_get(d, "targeted"), "3");
    assert_json_equal(json_object_get(d, "sends"), "3");
    assert_json_equal(json_object_get(d, "failures"), "0");
    assert_json_equal(json_object_get(d, "schedule"), "{\"type\":\"immediate\"}");
    json_decref(d);
    /* a restart does not send again */
    server_stop(&f->s);
    server_start(&f->s);
    campaign_fixture_wait_idle(&f->s);
    assert_int_equal(sink_count(f->hook), 3);
    free(id);
    free(fmt);
}

static void test_inserted_values_cannot_break_the_url_or_add_headers(void **state) {
    struct fixture *f = *state;
    post_status(&f->s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"u 1&x=y\",\"plan\":\"trial\",\"note\":"
                "\"a\\r\\nX-Evil: 1\"}]}",
                201);
    char *fmt = strf("{\"name\":\"Odd\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":"
                     "\"api_triggered\"},\"message\":{\"webhook\":{\"url\":\"%s/odd/"
                     "{{${external_id}}}?q={{${external_id}}}\",\"headers\":{\"X-Note\":"
                     "\"{{custom_attribute.${note}}}\"}}}}",
                     f->base);
    char *id = create(f, "/campaigns/create", fmt);
    char *body = strf("{\"campaign_id\":\"%s\",\"recipients\":[{\"external_user_id\":"
                      "\"u 1&x=y\"}]}",
                      id);
    trigger_ok(f, "/campaigns/trigger/send", body);
    expect_requests(f, 1);
    const struct sink_request *q = sink_get(f->hook, 0);
    assert_string_equal(q->path, "/odd/u 1&x=y"); /* decoded by the receiver: one segment */
    assert_json_equal(q->query, "{\"q\":\"u 1&x=y\"}");
    assert_string_equal(json_string_value(json_object_get(q->headers, "X-Note")), "a  X-Evil: 1");
    assert_null(json_object_get(q->headers, "X-Evil"));
    free(body);
    free(id);
    free(fmt);
}

static void test_create_rejects_bad_definitions_and_stores_nothing(void **state) {
    struct fixture *f = *state;
    struct {
        const char *body;
        const char *message;
    } cases[] = {
        {"{\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":\"immediate\"},\"message\":{"
         "\"webhook\":"
         "{\"url\":\"http://x\"}}}",
         "name: must be a string of 1 to 256 characters"},
        {"{\"name\":\"n\",\"segment_id\":\"nope\",\"schedule\":{\"type\":\"immediate\"},"
         "\"message\":{\"webhook\":{\"url\":\"http://x\"}}}",
         "segment_id: no segment 'nope'"},
        {"{\"name\":\"n\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":\"weekly\"},"
         "\"message\":"
         "{\"webhook\":{\"url\":\"http://x\"}}}",
         "schedule.type: 'weekly' is not immediate, at, api_triggered or cohort_entry"},
        {"{\"name\":\"n\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":\"at\",\"time\":"
         "\"2001-01-01T00:00:00Z\"},\"message\":{\"webhook\":{\"url\":\"http://x\"}}}",
         "schedule.time: 2001-01-01T00:00:00Z is in the past"},
        {"{\"name\":\"n\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":\"cohort_entry\","
         "\"partner\":\"nosuch\",\"cohort_id\":\"c\"},\"message\":{\"webhook\":{\"url\":"
         "\"http://x\"}}}",
         "schedule.partner: no partner 'nosuch'"},
        {"{\"name\":\"n\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":\"immediate\"},"
         "\"message\":{\"webhook\":{\"url\":\"ftp://x\"}}}",
         "message.webhook.url: must be an http:// or https:// URL"},
        {"{\"name\":\"n\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":\"immediate\"},"
         "\"message\":{\"webhook\":{\"url\":\"http://x\",\"method\":\"TRACE\"}}}",
         "message.webhook.method: must be GET, POST, PUT, PATCH or DELETE"},
        {"{\"name\":\"n\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":\"immediate\"},"
         "\"message\":{\"webhook\":{\"url\":\"http://x\",\"body\":\"{{${first}}}\"}}}",
         "message.webhook.body: unknown tag '${first}' at line 1, column 1: {{${first}}}"},
        {"{\"name\":\"n\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":\"immediate\"},"
         "\"message\":{\"webhook\":{\"url\":\"http://x/{{user.id | x}}\"}}}",
         "message.webhook.url: unknown filter 'x' at line 1, column 10: {{user.id | x}}"},
        {"{\"name\":\"n\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":\"immediate\"},"
         "\"message\":{\"webhook\":{\"url\":\"http://x\",\"headers\":{\"X\":\"{{${x}}}\"}}}}",
         "message.webhook.headers.X: unknown tag '${x}' at line 1, column 1: {{${x}}}"},
        {"{\"name\":\"n\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":\"immediate\"},"
         "\"message\":{\"email\":{}}}",
         "message: must be {\\\"webhook\\\": {\\\"url\\\", \\\"method\\\", \\\"headers\\\", "
         "\\\"body\\\"}}"},
        {"{\"name\":\"n\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":\"immediate\"},"
         "\"rate_limit_per_minute\":0,\"message\":{\"webhook\":{\"url\":\"http://x\"}}}",
         "rate_limit_per_minute: must be an integer from 1 to 1000000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body = with_segment(f, cases[i].body);
        struct resp r;
        http_post_rest(&f->s, "/campaigns/create", body, &r);
        char *want = strf("{\"message\":\"%s\"}", cases[i].message);
        assert_resp(&r, 400, want);
        free(want);
        free(body);
        resp_free(&r);
    }
    struct {
        const char *body;
        const char *message;
    } canvas_cases[] = {
        {"{\"name\":\"c\",\"segment_id\":\"SEGMENT\",\"steps\":[]}",
         "steps: must be an array of 1 to 20 steps"},
        {"{\"name\":\"c\",\"segment_id\":\"SEGMENT\",\"steps\":[{\"name\":\"a\",\"delay_seconds\":-"
         "1,"
         "\"message\":{\"webhook\":{\"url\":\"http://x\"}}}]}",
         "steps[0].delay_seconds: must be an integer from 0 to 2592000"},
        {"{\"name\":\"c\",\"segment_id\":\"SEGMENT\",\"steps\":[{\"name\":\"a\",\"message\":{"
         "\"webhook\":{\"url\":\"http://x\",\"body\":\"{{api_trigger_properties.${p}}}\"}}}]}",
         "steps[0].message.webhook.body: API trigger properties exist only in campaigns at line 1, "
         "column 1: "
         "{{api_trigger_properties.${p}}}"},
    };
    for (size_t i = 0; i < sizeof canvas_cases / sizeof canvas_cases[0]; i++) {
        char *body = with_segment(f, canvas_cases[i].body);
        struct resp r;
        http_post_rest(&f->s, "/canvas/create", body, &r);
        char *want = strf("{\"message\":\"%s\"}", canvas_cases[i].message);
        assert_resp(&r, 400, want);
        free(want);
        free(body);
        resp_free(&r);
    }
    struct resp r;
    http_get_rest(&f->s, "/campaigns/list", &r);
    assert_resp(&r, 200, "{\"message\":\"success\",\"campaigns\":[]}");
    resp_free(&r);
    http_get_rest(&f->s, "/canvas/list", &r);
    assert_resp(&r, 200, "{\"message\":\"success\",\"canvases\":[]}");
    resp_free(&r);
    campaign_fixture_wait_idle(&f->s);
    assert_int_equal(sink_count(f->hook), 0);
}

static char *api_campaign(struct fixture *f) {
    char *fmt = strf("{\"name\":\"Nudge\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":"
                     "\"api_triggered\"},\"message\":{\"webhook\":{\"url\":\"%s/nudge/"
                     "{{${external_id}}}\",\"body\":\"plan={{api_trigger_properties.${plan} | "
                     "default: 'none'}}\"}}}",
                     f->base);
    char *id = create(f, "/campaigns/create", fmt);
    free(fmt);
    return id;
}

static void
test_trigger_sends_only_to_recipients_in_the_segment_with_their_properties(void **state) {
    struct fixture *f = *state;
    char *id = api_campaign(f);
    char *body =
        strf("{\"campaign_id\":\"%s\",\"send_id\":\"s-1\",\"trigger_properties\":{\"plan\":"
             "\"gold\"},\"recipients\":[{\"external_user_id\":\"u1\"},{\"external_user_id\":"
             "\"u4\"},{\"external_user_id\":\"ghost\",\"email\":\"g@example.com\"},{"
             "\"external_user_id\":\"u2\",\"trigger_properties\":{\"plan\":\"x\"}},{\"email\":"
             "\"e@example.com\"}]}",
             id);
    struct resp r;
    http_post_rest(&f->s, "/campaigns/trigger/send", body, &r);
    assert_int_equal(r.status, 201);
    const char *dispatch = json_string_value(json_object_get(r.json, "dispatch_id"));
    assert_non_null(dispatch);
    assert_int_equal(strlen(dispatch), 24);
    char *want = strf("{\"dispatch_id\":\"%s\",\"message\":\"success\",\"send_id\":\"s-1\","
                      "\"errors\":[{\"type\":\"no such user\",\"input_array\":\"recipients\","
                      "\"index\":2},{\"type\":\"no such user\","
                      "\"input_array\":\"recipients\",\"index\":4}]}",
                      dispatch);
    assert_resp(&r, 201, want);
    free(want);
    resp_free(&r);
    expect_requests(f, 2); /* u4 is not in the segment */
    for (size_t i = 0; i < 2; i++) {
        const struct sink_request *q = sink_get(f->hook, i);
        assert_string_equal(q->raw, strcmp(q->path, "/nudge/u1") == 0 ? "plan=gold" : "plan=x");
        assert_string_equal(q->method, "POST");
    }
    assert_int_equal(count_path(f->hook, "/nudge/u1"), 1);
    assert_int_equal(count_path(f->hook, "/nudge/u2"), 1);
    free(body);
    /* broadcast: the whole segment */
    body = strf("{\"campaign_id\":\"%s\",\"broadcast\":true}", id);
    trigger_ok(f, "/campaigns/trigger/send", body);
    free(body);
    expect_requests(f, 5);
    assert_int_equal(count_path(f->hook, "/nudge/u3"), 1);
    assert_string_equal(sink_get(f->hook, 4)->raw, "plan=none");
    free(id);
}

static void test_trigger_errors_use_braze_texts_and_send_nothing(void **state) {
    struct fixture *f = *state;
    char *id = api_campaign(f);
    char *fmt = strf("{\"name\":\"Now\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":"
                     "\"at\",\"time\":\"2100-01-01T00:00:00Z\"},\"message\":{\"webhook\":{"
                     "\"url\":\"%s/later\"}}}",
                     f->base);
    char *later = create(f, "/campaigns/create", fmt);
    json_t *many = json_array();
    for (int i = 0; i < 51; i++)
        json_array_append_new(many, json_pack("{s:s}", "external_user_id", "u1"));
    char *many_text = json_dumps(many, JSON_COMPACT);
    struct {
        char *body;
        const char *want;
    } cases[] = {
        {strf("{\"campaign_id\":\"nope\",\"broadcast\":true}"),
         "{\"message\":\"Invalid Campaign ID\"}"},
        {strf("{\"broadcast\":true}"), "{\"message\":\"Invalid Campaign ID\"}"},
        {strf("{\"campaign_id\":\"%s\",\"broadcast\":true}", later),
         "{\"message\":\"Invalid Campaign ID\"}"},
        {strf("{\"campaign_id\":\"%s\"}", id), "{\"message\":\"No Recipients\"}"},
        {strf("{\"campaign_id\":\"%s\",\"recipients\":[]}", id), "{\"message\":\"No Recipients\"}"},
        {strf("{\"campaign_id\":\"%s\",\"broadcast\":true,\"recipients\":[{\"external_user_id\":"
              "\"u1\"}]}",
              id),
         "{\"message\":\"broadcast cannot be combined with recipients\"}"},
        {strf("{\"campaign_id\":\"%s\",\"recipients\":%s}", id, many_text),
         "{\"message\":\"The max number of ids per request was exceeded\"}"},
        {strf("{\"campaign_id\":\"%s\",\"recipients\":[{\"external_user_id\":\"u1\","
              "\"trigger_properties\":[1]}]}",
              id),
         "{\"message\":\"recipients[0].trigger_properties: must be an object\"}"},
        {strf("{\"campaign_id\":\"%s\",\"recipients\":[{\"external_user_id\":\"u1\","
              "\"send_to_existing_only\":false}]}",
              id),
         "{\"message\":\"recipients[0].attributes: required when send_to_existing_only is "
         "false\"}"},
        {strf("{\"campaign_id\":\"%s\",\"broadcast\":true,\"audience\":{\"AND\":[]}}", id),
         "{\"message\":\"audience.AND: must be a non-empty array\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct resp r;
        http_post_rest(&f->s, "/campaigns/trigger/send", cases[i].body, &r);
        assert_resp(&r, 400, cases[i].want);
        resp_free(&r);
        free(cases[i].body);
    }
    /* archived: no longer triggerable */
    char *arch = strf("{\"campaign_id\":\"%s\"}", id);
    post_status(&f->s, "/campaigns/archive", arch, 201);
    struct resp r;
    http_post_rest(&f->s, "/campaigns/archive", arch, &r);
    assert_resp(&r, 400, "{\"message\":\"Invalid Campaign ID\"}");
    resp_free(&r);
    char *trig = strf("{\"campaign_id\":\"%s\",\"broadcast\":true}", id);
    http_post_rest(&f->s, "/campaigns/trigger/send", trig, &r);
    assert_resp(&r, 400, "{\"message\":\"Invalid Campaign ID\"}");
    resp_free(&r);
    json_t *d = details(f, "campaigns", id);
    assert_json_equal(json_object_get(d, "archived"), "true");
    json_decref(d);
    campaign_fixture_wait_idle(&f->s);
    assert_int_equal(sink_count(f->hook), 0);
    free(trig);
    free(arch);
    free(many_text);
    json_decref(many);
    free(later);
    free(fmt);
    free(id);
}

static void test_at_schedule_sends_once_at_its_time_across_a_restart(void **state) {
    struct fixture *f = *state;
    char when[40];
    time_t t = time(NULL) + 2;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    char *fmt = strf("{\"name\":\"Later\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":\"at\","
                     "\"time\":\"%s\"},\"message\":{\"webhook\":{\"url\":\"%s/at/"
                     "{{${external_id}}}\"}}}",
                     when, f->base);
    char *id = create(f, "/campaigns/create", fmt);
    server_stop(&f->s);
    assert_int_equal(sink_count(f->hook), 0);
    while (time(NULL) <= t)
        sleep_ms(100);
    server_start(&f->s);
    expect_requests(f, 3);
    server_stop(&f->s);
    server_start(&f->s);
    campaign_fixture_wait_idle(&f->s);
    assert_int_equal(sink_count(f->hook), 3);
    json_t *d = details(f, "campaigns", id);
    char *sched = strf("{\"type\":\"at\",\"time\":\"%.19s.000Z\"}", when);
    assert_json_equal(json_object_get(d, "schedule"), sched);
    assert_json_equal(json_object_get(d, "sends"), "3");
    json_decref(d);
    free(sched);
    free(id);
    free(fmt);
}

static void import(struct fixture *f, const char *cohort, const char *users) {
    char *body = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":\"%s\","
                      "\"cohort_changes\":[{\"user_ids\":%s}]}",
                      f->s.partner_key, f->s.import_key, cohort, users);
    struct resp r;
    http_req(&f->s, "POST", "/partners/heap/cohorts/users", NULL, body, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    free(body);
}

static void test_cohort_entry_sends_to_users_an_import_adds_while_in_the_segment(void **state) {
    struct fixture *f = *state;
    char *fmt = strf("{\"name\":\"Abandoned\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":"
                     "\"cohort_entry\",\"partner\":\"heap\",\"cohort_id\":\"abandon\"},"
                     "\"message\":{\"webhook\":{\"url\":\"%s/back/{{${external_id}}}\"}}}",
                     f->base);
    char *id = create(f, "/campaigns/create", fmt);
    campaign_fixture_wait_idle(&f->s);
    assert_int_equal(sink_count(f->hook), 0); /* nobody entered yet */
    import(f, "abandon", "[\"u1\",\"u4\",\"ghost\"]");
    expect_requests(f, 1); /* u4 is not in the segment, ghost does not exist */
    assert_string_equal(sink_get(f->hook, 0)->path, "/back/u1");
    import(f, "abandon", "[\"u1\"]"); /* already a member: no entry */
    import(f, "other", "[\"u2\"]");   /* another cohort */
    campaign_fixture_wait_idle(&f->s);
    assert_int_equal(sink_count(f->hook), 1);
    import(f, "abandon", "[\"u2\",\"u3\"]");
    expect_requests(f, 3);
    assert_int_equal(count_path(f->hook, "/back/u2"), 1);
    assert_int_equal(count_path(f->hook, "/back/u3"), 1);
    json_t *d = details(f, "campaigns", id);
    assert_json_equal(json_object_get(d, "targeted"), "3");
    json_decref(d);
    free(id);
    free(fmt);
}

/* The fixture's server with every sync of the store taking a second: a pipelined import stays
 * committed but unpublished that long. */
static int setup_slow_sync(void **state) {
    setenv("COHORTD_STORE_SYNC_DELAY_MS", "1000", 1);
    int rc = setup(state);
    unsetenv("COHORTD_STORE_SYNC_DELAY_MS");
    return rc;
}

/* The dispatch an import into an existing cohort makes is in the store once the import
 * commits, before its members are in memory (after the sync): the step's segment ("in the
 * cohort") is evaluated only once the import is published, so its entrant is sent to. */
static void test_cohort_entry_waits_for_the_import_to_be_published(void **state) {
    struct fixture *f = *state;
#ifndef COHORTD_FAULTS
    skip(); /* COHORTD_STORE_SYNC_DELAY_MS is compiled in only with -DCOHORTD_FAULTS=ON */
#endif
    import(f, "abandon", "[\"u2\"]"); /* creates the cohort: an in-place write */
    char *segment =
        post_created(&f->s, "/segments/create",
                     "{\"name\":\"abandoned\",\"filter\":{\"op\":\"includes\",\"cohort\":{"
                     "\"partner\":\"heap\",\"cohort_id\":\"abandon\"}}}",
                     "segment_id");
    char *body = strf("{\"name\":\"Abandoned\",\"segment_id\":\"%s\",\"schedule\":{\"type\":"
                      "\"cohort_entry\",\"partner\":\"heap\",\"cohort_id\":\"abandon\"},"
                      "\"message\":{\"webhook\":{\"url\":\"%s/back/{{${external_id}}}\"}}}",
                      segment, f->base);
    char *id = post_created(&f->s, "/campaigns/create", body, "campaign_id");
    import(f, "abandon", "[\"u1\"]"); /* into the existing cohort: pipelined */
    expect_requests(f, 1);
    assert_string_equal(sink_get(f->hook, 0)->path, "/back/u1");
    free(id);
    free(body);
    free(segment);
}

static void test_canvas_steps_follow_their_delays_and_users_who_leave_exit(void **state) {
    struct fixture *f = *state;
    char *fmt = strf("{\"name\":\"Trial\",\"segment_id\":\"SEGMENT\",\"steps\":["
                     "{\"name\":\"hello\",\"delay_seconds\":0,\"message\":{\"webhook\":{\"url\":"
                     "\"%s/step1/{{${external_id}}}\",\"body\":\"{{canvas_entry_properties."
                     "${hint}}}\"}}},"
                     "{\"name\":\"reminder\",\"delay_seconds\":1,\"message\":{\"webhook\":{"
                     "\"url\":\"%s/step2/{{${external_id}}}\",\"body\":\"{{context.${hint}}}\"}}}"
                     "]}",
                     f->base, f->base);
    char *id = create(f, "/canvas/create", fmt);
    char *body = strf("{\"canvas_id\":\"%s\",\"context\":{\"hint\":\"c\"},\"recipients\":["
                      "{\"external_user_id\":\"u1\",\"canvas_entry_properties\":{\"hint\":\"a\"}},"
                      "{\"external_user_id\":\"u2\"},{\"external_user_id\":\"u4\"}]}",
                      id);
    trigger_ok(f, "/canvas/trigger/send", body);
    assert_int_equal(sink_wait_requests(f->hook, 2, 10000), 2);
    /* u2 leaves the segment before the second step */
    post_status(&f->s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"u2\",\"plan\":\"pro\"}]}", 201);
    assert_int_equal(count_path(f->hook, "/step2/u1"), 0); /* not before its delay */
    expect_requests(f, 3);
    assert_int_equal(count_path(f->hook, "/step1/u1"), 1);
    assert_int_equal(count_path(f->hook, "/step1/u2"), 1);
    assert_int_equal(count_path(f->hook, "/step2/u1"), 1);
    for (size_t i = 0; i < 3; i++) {
        const struct sink_request *q = sink_get(f->hook, i);
        /* recipient properties win over the request's context */
        assert_string_equal(q->raw, strstr(q->path, "u1") ? "a" : "c");
    }
    json_t *d = details(f, "canvas", id);
    assert_json_equal(json_object_get(d, "entries"), "2");
    assert_json_equal(json_object_get(d, "sends"), "3");
    assert_int_equal(json_array_size(json_object_get(d, "steps")), 2);
    json_decref(d);
    /* an archived Canvas answers with Braze's notice and sends nothing */
    char *arch = strf("{\"canvas_id\":\"%s\"}", id);
    post_status(&f->s, "/canvas/archive", arch, 201);
    struct resp r;
    http_post_rest(&f->s, "/canvas/trigger/send", body, &r);
    char *want = strf("{\"dispatch_id\":\"%s\",\"message\":\"success\",\"notice\":\"The Canvas is "
                      "archived. Unarchive the Canvas to ensure trigger requests will take "
                      "effect.\"}",
                      json_string_value(json_object_get(r.json, "dispatch_id")));
    assert_resp(&r, 201, want);
    free(want);
    resp_free(&r);
    campaign_fixture_wait_idle(&f->s);
    assert_int_equal(sink_count(f->hook), 3);
    free(arch);
    free(body);
    free(id);
    free(fmt);
}

static void test_a_canvas_schedule_survives_a_restart_between_steps(void **state) {
    struct fixture *f = *state;
    char *fmt = strf("{\"name\":\"Durable\",\"segment_id\":\"SEGMENT\",\"steps\":["
                     "{\"name\":\"a\",\"delay_seconds\":1,\"message\":{\"webhook\":{\"url\":"
                     "\"%s/a/{{${external_id}}}\"}}},"
                     "{\"name\":\"b\",\"delay_seconds\":2,\"message\":{\"webhook\":{\"url\":"
                     "\"%s/b/{{${external_id}}}\"}}}]}",
                     f->base, f->base);
    char *id = create(f, "/canvas/create", fmt);
    char *body = strf("{\"canvas_id\":\"%s\",\"recipients\":[{\"external_user_id\":\"u1\"}]}", id);
    trigger_ok(f, "/canvas/trigger/send", body);
    campaign_fixture_wait_idle(&f->s);
    assert_int_equal(sink_count(f->hook), 0); /* the first step waits for its own delay */
    assert_int_equal(sink_wait_requests(f->hook, 1, 10000), 1);
    server_stop(&f->s);               /* between the steps */
    campaign_fixture_wait_due(&f->s); /* step b falls due while the server is down */
    assert_int_equal(sink_count(f->hook), 1);
    server_start(&f->s);
    expect_requests(f, 2);
    assert_int_equal(count_path(f->hook, "/a/u1"), 1);
    assert_int_equal(count_path(f->hook, "/b/u1"), 1);
    free(body);
    free(id);
    free(fmt);
}

static void create_current(struct fixture *f, const char *url) {
    char *body = strf("{\"name\":\"to heap\",\"type\":\"custom_http\",\"endpoint\":\"%s\","
                      "\"event_types\":[\"users.messages.webhook.Send\","
                      "\"users.messages.webhook.Failure\",\"users.canvas.Entry\"],"
                      "\"batch_size\":100}",
                      url);
    post_status(&f->s, "/currents/create", body, 201);
    free(body);
}

static const json_t *find_event(const json_t *events, const char *type, const char *ext) {
    size_t i;
    const json_t *e;
    json_array_foreach(events, i, e) {
        const char *t = json_string_value(json_object_get(e, "event_type"));
        const char *x =
            json_string_value(json_object_get(json_object_get(e, "user"), "external_user_id"));
        if (strcmp(t, type) == 0 && x && strcmp(x, ext) == 0)
            return e;
    }
    return NULL;
}

static void test_failures_are_retried_and_every_message_event_reaches_a_current(void **state) {
    struct fixture *f = *state;
    char events_url[128];
    struct sink *cur = sink_start(events_url, sizeof events_url);
    create_current(f, events_url);
    char *id = api_campaign(f);
    /* u1: two 500s, then 200 → sent on the third attempt */
    sink_fail_first(f->hook, 2, 500);
    char *body =
        strf("{\"campaign_id\":\"%s\",\"recipients\":[{\"external_user_id\":\"u1\"}]}", id);
    trigger_ok(f, "/campaigns/trigger/send", body);
    expect_requests(f, 3);
    free(body);
    /* u2: always 503 → failed after 3 attempts */
    sink_answer(f->hook, 503, 0);
    body = strf("{\"campaign_id\":\"%s\",\"send_id\":\"s-9\",\"recipients\":[{"
                "\"external_user_id\":\"u2\"}]}",
                id);
    trigger_ok(f, "/campaigns/trigger/send", body);
    expect_requests(f, 6);
    for (size_t i = 0; i < 6; i++) /* every attempt has the same key */
        assert_string_equal(
            json_string_value(json_object_get(sink_get(f->hook, i)->headers, "Idempotency-Key")),
            json_string_value(
                json_object_get(sink_get(f->hook, i < 3 ? 0 : 3)->headers, "Idempotency-Key")));
    json_t *d = details(f, "campaigns", id);
    assert_json_equal(json_object_get(d, "sends"), "1");
    assert_json_equal(json_object_get(d, "failures"), "1");
    json_decref(d);
    /* 2 + 3 Failure events (two non-terminal for u1, three for u2) and one Send */
    assert_int_equal(sink_wait_events(cur, 6, 10000), 6);
    json_t *events = sink_accepted_events(cur);
    const json_t *sent = find_event(events, "users.messages.webhook.Send", "u1");
    assert_non_null(sent);
    assert_conformant_event(sent);
    const json_t *sp = json_object_get(sent, "properties");
    assert_string_equal(json_string_value(json_object_get(sp, "campaign_id")), id);
    assert_json_equal(json_object_get(sp, "campaign_name"), "\"Nudge\"");
    assert_int_equal(json_string_length(json_object_get(sp, "dispatch_id")), 24);
    const json_t *last = NULL;
    size_t i;
    const json_t *e;
    int failures = 0;
    json_array_foreach(events, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "event_type")),
                   "users.messages.webhook.Failure") != 0)
            continue;
        assert_conformant_event(e);
        failures++;
        last = e;
    }
    assert_int_equal(failures, 5);
    const json_t *lp = json_object_get(last, "properties");
    assert_json_equal(json_object_get(lp, "http_status_code"), "503");
    assert_json_equal(json_object_get(lp, "is_terminal"), "true");
    assert_json_equal(json_object_get(lp, "retry_count"), "2");
    assert_json_equal(json_object_get(lp, "send_id"), "\"s-9\"");
    assert_json_equal(json_object_get(lp, "url_path"), "\"/nudge/u2\"");
    assert_json_equal(json_object_get(lp, "raw_response"), "\"{}\"");
    assert_json_equal(json_object_get(lp, "webhook_failure_source"), "\"External Endpoint\"");
    sink_answer(f->hook, 200, 0);
    /* a Canvas entry */
    char *fmt = strf("{\"name\":\"Tour\",\"segment_id\":\"SEGMENT\",\"steps\":[{\"name\":\"one\","
                     "\"message\":{\"webhook\":{\"url\":\"%s/tour\"}}}]}",
                     f->base);
    char *canvas = create(f, "/canvas/create", fmt);
    char *trig =
        strf("{\"canvas_id\":\"%s\",\"recipients\":[{\"external_user_id\":\"u3\"}]}", canvas);
    trigger_ok(f, "/canvas/trigger/send", trig);
    assert_int_equal(sink_wait_events(cur, 8, 10000), 8);
    json_decref(events);
    events = sink_accepted_events(cur);
    const json_t *entry = find_event(events, "users.canvas.Entry", "u3");
    const json_t *step = find_event(events, "users.messages.webhook.Send", "u3");
    assert_non_null(entry);
    assert_non_null(step);
    assert_conformant_event(entry);
    assert_conformant_event(step);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(entry, "properties"), "canvas_id")),
        canvas);
    assert_json_equal(json_object_get(json_object_get(entry, "properties"), "in_control_group"),
                      "false");
    assert_json_equal(json_object_get(json_object_get(step, "properties"), "canvas_step_name"),
                      "\"one\"");
    json_decref(events);
    free(trig);
    free(canvas);
    free(fmt);
    free(body);
    free(id);
    sink_stop(cur);
}

/* A name of n bytes ending in a two-byte character (new string). */
static char *long_name(char fill, size_t n) {
    char *name = malloc(n + 1);
    memset(name, fill, n - 2);
    memcpy(name + n - 2, "\xc3\xa9", 2); /* é */
    name[n] = '\0';
    return name;
}

static void test_long_campaign_name_reaches_events_whole(void **state) {
    struct fixture *f = *state;
    char events_url[128];
    struct sink *cur = sink_start(events_url, sizeof events_url);
    create_current(f, events_url);
    char *name = long_name('n', 200), *canvas_name = long_name('c', 200);
    char *step_name = long_name('s', 200);
    assert_int_equal(strlen(name), 200);
    char *fmt = strf("{\"name\":\"%s\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":"
                     "\"api_triggered\"},\"message\":{\"webhook\":{\"url\":\"%s/long\"}}}",
                     name, f->base);
    char *id = create(f, "/campaigns/create", fmt);
    char *body =
        strf("{\"campaign_id\":\"%s\",\"recipients\":[{\"external_user_id\":\"u1\"}]}", id);
    trigger_ok(f, "/campaigns/trigger/send", body);
    char *cfmt = strf("{\"name\":\"%s\",\"segment_id\":\"SEGMENT\",\"steps\":[{\"name\":\"%s\","
                      "\"message\":{\"webhook\":{\"url\":\"%s/long-canvas\"}}}]}",
                      canvas_name, step_name, f->base);
    char *canvas = create(f, "/canvas/create", cfmt);
    char *trig =
        strf("{\"canvas_id\":\"%s\",\"recipients\":[{\"external_user_id\":\"u2\"}]}", canvas);
    trigger_ok(f, "/canvas/trigger/send", trig);
    /* one Send each, and the Canvas's Entry */
    assert_int_equal(sink_wait_events(cur, 3, 10000), 3);
    json_t *events = sink_accepted_events(cur);
    const json_t *sent = find_event(events, "users.messages.webhook.Send", "u1");
    assert_non_null(sent);
    assert_conformant_event(sent);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(sent, "properties"), "campaign_name")),
        name);
    const json_t *step = find_event(events, "users.messages.webhook.Send", "u2");
    const json_t *entry = find_event(events, "users.canvas.Entry", "u2");
    assert_non_null(step);
    assert_non_null(entry);
    const json_t *sp = json_object_get(step, "properties");
    assert_string_equal(json_string_value(json_object_get(sp, "canvas_name")), canvas_name);
    assert_string_equal(json_string_value(json_object_get(sp, "canvas_step_name")), step_name);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(entry, "properties"), "canvas_name")),
        canvas_name);
    /* and the definition keeps them whole */
    json_t *d = details(f, "canvas", canvas);
    assert_string_equal(json_string_value(json_object_get(d, "name")), canvas_name);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(d, "steps"), 0), "name")),
        step_name);
    json_decref(d);
    json_decref(events);
    free(trig);
    free(canvas);
    free(cfmt);
    free(body);
    free(id);
    free(fmt);
    free(step_name);
    free(canvas_name);
    free(name);
    sink_stop(cur);
}

static void test_campaign_field_over_limit_is_refused(void **state) {
    struct fixture *f = *state;
    char *id = api_campaign(f);
    char *name = long_name('n', 201);
    char *path = long_name('u', 1992);
    char *url = strf("http://x/%s", path); /* 2001 bytes */
    char *ext = long_name('e', 2049);
    char *cohort = long_name('k', 256);
    struct {
        const char *path;
        char *body;
        const char *message;
    } cases[] = {
        {"/campaigns/create",
         strf("{\"name\":\"%s\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":\"immediate\"},"
              "\"message\":{\"webhook\":{\"url\":\"http://x\"}}}",
              name),
         "name is longer than 200 bytes"},
        {"/campaigns/create",
         strf("{\"name\":\"n\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":\"immediate\"},"
              "\"message\":{\"webhook\":{\"url\":\"%s\"}}}",
              url),
         "message.webhook.url is longer than 2000 bytes"},
        {"/campaigns/create",
         strf("{\"name\":\"n\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":\"cohort_entry\","
              "\"partner\":\"p\",\"cohort_id\":\"%s\"},\"message\":{\"webhook\":{\"url\":"
              "\"http://x\"}}}",
              cohort),
         "schedule.cohort_id is longer than 255 bytes"},
        {"/canvas/create",
         strf("{\"name\":\"c\",\"segment_id\":\"SEGMENT\",\"steps\":[{\"name\":\"a\",\"message\":"
              "{\"webhook\":{\"url\":\"http://x\"}}},{\"name\":\"%s\",\"message\":{\"webhook\":{"
              "\"url\":\"http://x\"}}}]}",
              name),
         "steps[1].name is longer than 200 bytes"},
        {"/canvas/create",
         strf("{\"name\":\"c\",\"segment_id\":\"SEGMENT\",\"steps\":[{\"name\":\"a\",\"message\":"
              "{\"webhook\":{\"url\":\"%s\"}}}]}",
              url),
         "steps[0].message.webhook.url is longer than 2000 bytes"},
        {"/campaigns/trigger/send",
         strf("{\"campaign_id\":\"%s\",\"recipients\":[{\"external_user_id\":\"u1\"},{"
              "\"external_user_id\":\"%s\"}]}",
              id, ext),
         "recipients[1].external_user_id is longer than 2048 bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body = with_segment(f, cases[i].body);
        struct resp r;
        http_post_rest(&f->s, cases[i].path, body, &r);
        char *want = strf("{\"message\":\"%s\"}", cases[i].message);
        assert_resp(&r, 400, want);
        free(want);
        free(body);
        free(cases[i].body);
        resp_free(&r);
    }
    /* nothing was stored: the list holds only the campaign made first, and nothing was sent */
    struct resp r;
    http_get_rest(&f->s, "/campaigns/list", &r);
    assert_int_equal(r.status, 200);
    const json_t *items = json_object_get(r.json, "campaigns");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "id")), id);
    resp_free(&r);
    http_get_rest(&f->s, "/canvas/list", &r);
    assert_resp(&r, 200, "{\"message\":\"success\",\"canvases\":[]}");
    resp_free(&r);
    campaign_fixture_wait_idle(&f->s);
    assert_int_equal(sink_count(f->hook), 0);
    free(cohort);
    free(ext);
    free(url);
    free(path);
    free(name);
    free(id);
}

static void test_a_long_bad_tag_is_refused_with_a_marked_cut_quote(void **state) {
    struct fixture *f = *state;
    char tag[305]; /* "{{####…}}": no value, so refused */
    memset(tag, '#', sizeof tag - 1);
    memcpy(tag, "{{", 2);
    memcpy(tag + sizeof tag - 3, "}}", 2);
    tag[sizeof tag - 1] = '\0';
    char *body = strf("{\"name\":\"n\",\"segment_id\":\"%s\",\"schedule\":{\"type\":\"immediate\"},"
                      "\"message\":{\"webhook\":{\"url\":\"http://x\",\"body\":\"a %s b\"}}}",
                      f->segment, tag);
    struct resp r;
    http_post_rest(&f->s, "/campaigns/create", body, &r);
    /* the field path whole, then the tag's first 200 bytes and a mark that it was cut */
    char *want = strf("{\"message\":\"message.webhook.body: expected a value at line 1, column 3: "
                      "%.200s…\"}",
                      tag);
    assert_resp(&r, 400, want);
    resp_free(&r);
    http_get_rest(&f->s, "/campaigns/list", &r);
    assert_resp(&r, 200, "{\"message\":\"success\",\"campaigns\":[]}");
    resp_free(&r);
    free(want);
    free(body);
}

static void test_a_429_retry_waits_for_retry_after(void **state) {
    struct fixture *f = *state;
    char *id = api_campaign(f);
    sink_answer(f->hook, 0, 1); /* every answer says Retry-After: 1 */
    sink_fail_first(f->hook, 1, 429);
    char *body =
        strf("{\"campaign_id\":\"%s\",\"recipients\":[{\"external_user_id\":\"u1\"}]}", id);
    trigger_ok(f, "/campaigns/trigger/send", body);
    assert_int_equal(sink_wait_requests(f->hook, 1, 10000), 1);
    sleep_ms(600); /* the 50 ms backoff alone would have retried by now */
    assert_int_equal(sink_count(f->hook), 1);
    expect_requests(f, 2);
    wait_counter(f, "campaigns", id, "sends", 1);
    free(body);
    free(id);
}

/* Starts a slow broadcast to 30 users, interrupts it, and checks who got what afterwards. */
static void interrupted_dispatch(struct fixture *f, bool crash) {
    json_t *users = json_array();
    for (int i = 0; i < 30; i++)
        json_array_append_new(users, json_pack("{s:o, s:s}", "external_id",
                                               json_sprintf("m%02d", i), "plan", "trial"));
    json_t *track = json_pack("{s:o}", "attributes", users);
    char *text = json_dumps(track, JSON_COMPACT);
    post_status(&f->s, "/users/track", text, 201);
    char *fmt = strf("{\"name\":\"Slow\",\"segment_id\":\"SEGMENT\",\"rate_limit_per_minute\":1200,"
                     "\"schedule\":{\"type\":\"immediate\"},\"message\":{\"webhook\":{\"url\":"
                     "\"%s/slow/{{${external_id}}}\"}}}",
                     f->base);
    char *id = create(f, "/campaigns/create", fmt);
    assert_true(sink_wait_requests(f->hook, 5, 10000) >= 5);
    if (crash)
        server_kill(&f->s);
    else
        server_stop(&f->s);
    size_t before = sink_count(f->hook);
    assert_true(before < 33);
    server_start(&f->s);
    assert_true(sink_wait_requests(f->hook, 33, 20000) >= 33);
    campaign_fixture_wait_idle(&f->s);
    size_t n = sink_count(f->hook);
    int repeats = 0;
    for (int i = 0; i < 30; i++) {
        char *path = strf("/slow/m%02d", i);
        int c = count_path(f->hook, path);
        assert_true(c >= 1); /* nobody skipped */
        repeats += c - 1;
        free(path);
    }
    assert_int_equal(count_path(f->hook, "/slow/u1"), 1);
    if (!crash)
        assert_int_equal(n, 33); /* a graceful restart repeats nobody */
    else
        assert_true(repeats <= 1); /* only an answer in flight at the crash may repeat */
    free(id);
    free(fmt);
    free(text);
    json_decref(track);
}

static void test_a_graceful_restart_mid_dispatch_neither_skips_nor_repeats(void **state) {
    interrupted_dispatch(*state, false);
}

static void test_a_crash_mid_dispatch_skips_nobody(void **state) {
    interrupted_dispatch(*state, true);
}

/* Creates an immediate campaign to the segment sent at 2 a second to the receiver's path (a
 * template); returns its id. */
static char *slow_campaign(struct fixture *f, const char *path) {
    char *fmt = strf("{\"name\":\"Slow\",\"segment_id\":\"SEGMENT\",\"rate_limit_per_minute\":120,"
                     "\"schedule\":{\"type\":\"immediate\"},\"message\":{\"webhook\":{\"url\":"
                     "\"%s%s\"}}}",
                     f->base, path);
    char *id = create(f, "/campaigns/create", fmt);
    free(fmt);
    return id;
}

static void test_archiving_a_campaign_stops_its_running_dispatch(void **state) {
    struct fixture *f = *state;
    char *id = slow_campaign(f, "/slow");
    assert_int_equal(sink_wait_requests(f->hook, 1, 10000), 1);
    char *arch = strf("{\"campaign_id\":\"%s\"}", id);
    post_status(&f->s, "/campaigns/archive", arch, 201);
    sleep_ms(1500);                        /* at 2 a second, two more would have gone out */
    assert_true(sink_count(f->hook) <= 2); /* at most the one already due */
    json_t *d = details(f, "campaigns", id);
    assert_json_equal(json_object_get(d, "archived"), "true");
    json_decref(d);
    free(arch);
    free(id);
}

/* A member deleted while the dispatch is sending is skipped, whether the profiles read ahead
 * with another member's (u6 comes after u3) or alone say so: at 2 a second, u3's turn comes a
 * second after u1's, long after the profiles read with u1's were too old to be used. */
static void test_a_member_deleted_while_a_dispatch_sends_is_not_sent(void **state) {
    struct fixture *f = *state;
    post_status(&f->s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"u6\",\"plan\":\"trial\"}]}", 201);
    char *id = slow_campaign(f, "/slow/{{${external_id}}}");
    assert_int_equal(sink_wait_requests(f->hook, 1, 10000), 1);
    assert_string_equal(sink_get(f->hook, 0)->path, "/slow/u1");
    post_status(&f->s, "/users/delete", "{\"external_ids\":[\"u3\"]}", 201);
    expect_requests(f, 3);
    assert_int_equal(count_path(f->hook, "/slow/u2"), 1);
    assert_int_equal(count_path(f->hook, "/slow/u6"), 1);
    free(id);
}

/* Issue 16 item 3: an email recipient is the user of that email its prioritization picks
 * (none: identified first, then the most recently updated); several left is a minor error. */
static void test_trigger_recipient_by_email_is_the_user_its_prioritization_picks(void **state) {
    struct fixture *f = *state;
    post_status(&f->s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"u1\",\"email\":\"ada@q.io\"},"
                "{\"external_id\":\"u2\",\"email\":\"pair@q.io\"},{\"external_id\":\"u3\","
                "\"email\":\"pair@q.io\"}]}",
                201);
    char *id = api_campaign(f);
    char *body =
        strf("{\"campaign_id\":\"%s\",\"recipients\":[{\"email\":\"ADA@q.io\"},{\"email\":"
             "\"pair@q.io\",\"prioritization\":[\"identified\"]},{\"email\":\"none@q.io\"}]}",
             id);
    struct resp r;
    http_post_rest(&f->s, "/campaigns/trigger/send", body, &r);
    char *want = strf("{\"dispatch_id\":\"%s\",\"message\":\"success\",\"errors\":[{"
                      "\"type\":\"more than one user has this email; give a prioritization "
                      "that picks one\",\"input_array\":\"recipients\",\"index\":1},{\"type\":"
                      "\"no such user\",\"input_array\":\"recipients\",\"index\":2}]}",
                      json_string_value(json_object_get(r.json, "dispatch_id")));
    assert_resp(&r, 201, want);
    free(want);
    resp_free(&r);
    expect_requests(f, 1);
    assert_int_equal(count_path(f->hook, "/nudge/u1"), 1);
    free(body);
    body = strf("{\"campaign_id\":\"%s\",\"recipients\":[{\"email\":\"a@\"}]}", id);
    http_post_rest(&f->s, "/campaigns/trigger/send", body, &r);
    assert_resp(&r, 400, "{\"message\":\"recipients[0].email: must be an email address\"}");
    resp_free(&r);
    free(body);
    free(id);
}

/* GET path and the names of its items (campaigns or canvases), as one comma-separated text
 * (owned); asserts 200 and "message":"success". */
static char *list_names(struct fixture *f, const char *path) {
    struct resp r;
    http_get_rest(&f->s, path, &r);
    if (r.status != 200)
        fail_msg("%s: %ld %s", path, r.status, r.body);
    assert_string_equal(json_string_value(json_object_get(r.json, "message")), "success");
    const json_t *items =
        json_object_get(r.json, strstr(path, "canvas") ? "canvases" : "campaigns");
    assert_true(json_is_array(items));
    size_t cap = 16 + json_array_size(items) * 8, n = 0;
    char *out = calloc(1, cap);
    for (size_t i = 0; i < json_array_size(items); i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "," : "",
                              json_string_value(json_object_get(json_array_get(items, i), "name")));
    resp_free(&r);
    return out;
}

/* "cFROM,…,cTO" (c%03d), counting down when from > to (owned). */
static char *name_run(int from, int to) {
    size_t cap = 8 * (size_t)(abs(to - from) + 2), n = 0;
    char *out = calloc(1, cap);
    int step = from <= to ? 1 : -1;
    for (int i = from;; i += step) {
        n += (size_t)snprintf(out + n, cap - n, "%sc%03d", i == from ? "" : ",", i);
        if (i == to)
            break;
    }
    return out;
}

static void assert_list(struct fixture *f, const char *path, const char *want) {
    char *got = list_names(f, path);
    if (strcmp(got, want) != 0)
        fail_msg("%s:\n got  %s\n want %s", path, got, want);
    free(got);
}

/* Issue 16: Segment's campaign picker asks for pages until one is empty; cohortd ignored
 * `page` and the client looped forever. get_campaigns.md / get_canvases.md: pages of 100 by
 * creation time (oldest first unless sort_direction=desc), archived ones only with
 * include_archived=true, last_edit.time[gt] keeps those edited after a time. */
static void test_campaign_and_canvas_lists_page_by_100_and_honour_braze_parameters(void **state) {
    struct fixture *f = *state;
    char *ids[250];
    long long t200 = 0;
    for (int i = 0; i < 250; i++) {
        char *text = strf("{\"name\":\"c%03d\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":"
                          "\"api_triggered\"},\"message\":{\"webhook\":{\"url\":\"%s/x\"}}}",
                          i, f->base);
        ids[i] = create(f, "/campaigns/create", text);
        free(text);
        if (i == 199) { /* c000..c199 were created at or before t200, c200.. after it */
            t200 = wall_ms();
            while (wall_ms() <= t200)
                ;
        }
    }
    char *run = name_run(0, 99);
    assert_list(f, "/campaigns/list", run);
    assert_list(f, "/campaigns/list?page=0", run);
    free(run);
    run = name_run(100, 199);
    assert_list(f, "/campaigns/list?page=1", run);
    free(run);
    run = name_run(200, 249);
    assert_list(f, "/campaigns/list?page=2", run);
    free(run);
    struct resp r;
    http_get_rest(&f->s, "/campaigns/list?page=3", &r);
    assert_resp(&r, 200, "{\"campaigns\":[],\"message\":\"success\"}");
    resp_free(&r);
    http_get_rest(&f->s, "/campaigns/list?page=99999999999999999999", &r);
    assert_resp(&r, 200, "{\"campaigns\":[],\"message\":\"success\"}");
    resp_free(&r);
    /* newest first */
    run = name_run(249, 150);
    assert_list(f, "/campaigns/list?sort_direction=desc", run);
    free(run);
    run = name_run(49, 0);
    assert_list(f, "/campaigns/list?sort_direction=desc&page=2", run);
    free(run);
    run = name_run(0, 99);
    assert_list(f, "/campaigns/list?sort_direction=asc", run);
    free(run);
    /* edited after t200: created after it (the zone may be an offset, '+' escaped or not) */
    char iso[40];
    time_t secs = (time_t)(t200 / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S", &tm);
    char *after = strf("/campaigns/list?last_edit.time[gt]=%s.%03lldZ", iso, t200 % 1000);
    run = name_run(200, 249);
    assert_list(f, after, run);
    free(after);
    after = strf("/campaigns/list?last_edit.time%%5Bgt%%5D=%s.%03lld%%2B00:00", iso, t200 % 1000);
    assert_list(f, after, run);
    free(after);
    after = strf("/campaigns/list?last_edit.time[gt]=%s.%03lld+00:00&sort_direction=desc", iso,
                 t200 % 1000);
    free(run);
    run = name_run(249, 200);
    assert_list(f, after, run);
    free(after);
    free(run);
    /* archiving is an edit; an archived campaign is listed only with include_archived=true */
    char *arch = strf("{\"campaign_id\":\"%s\"}", ids[0]);
    post_status(&f->s, "/campaigns/archive", arch, 201);
    free(arch);
    run = name_run(1, 100);
    assert_list(f, "/campaigns/list", run);
    assert_list(f, "/campaigns/list?include_archived=false", run);
    free(run);
    run = name_run(201, 249);
    assert_list(f, "/campaigns/list?page=2", run);
    free(run);
    run = name_run(0, 99);
    assert_list(f, "/campaigns/list?include_archived=true", run);
    free(run);
    run = name_run(200, 249);
    assert_list(f, "/campaigns/list?include_archived=true&page=2", run);
    free(run);
    after = strf("/campaigns/list?include_archived=true&last_edit.time[gt]=%s.%03lldZ", iso,
                 t200 % 1000);
    char *tail = name_run(200, 249);
    char *want = strf("c000,%s", tail);
    assert_list(f, after, want);
    free(want);
    free(tail);
    free(after);
    http_get_rest(&f->s, "/campaigns/list?include_archived=true", &r);
    const json_t *first = json_array_get(json_object_get(r.json, "campaigns"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "id")), ids[0]);
    assert_true(json_is_true(json_object_get(first, "archived")));
    resp_free(&r);
    /* bad values: 400 naming the parameter and the value */
    struct {
        const char *query;
        const char *message;
    } bad[] = {
        {"page=-1", "page must be a whole number from 0, not '-1'"},
        {"page=abc", "page must be a whole number from 0, not 'abc'"},
        {"page=1.5", "page must be a whole number from 0, not '1.5'"},
        {"page=", "page must be a whole number from 0, not ''"},
        {"include_archived=yes", "include_archived must be true or false, not 'yes'"},
        {"sort_direction=up", "sort_direction must be 'asc' or 'desc', not 'up'"},
        {"last_edit.time[gt]=yesterday",
         "last_edit.time[gt] must be an ISO-8601 time such as 2020-06-28T23:59:59-05:00, not "
         "'yesterday'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (int canvas = 0; canvas < 2; canvas++) {
            char *path = strf("/%s/list?%s", canvas ? "canvas" : "campaigns", bad[i].query);
            http_get_rest(&f->s, path, &r);
            char *msg = strf("{\"message\":\"%s\"}", bad[i].message);
            assert_resp(&r, 400, msg);
            free(msg);
            resp_free(&r);
            free(path);
        }
    }
    /* Canvases page the same way */
    char *canvases[3];
    for (int i = 0; i < 3; i++) {
        char *text = strf("{\"name\":\"c%03d\",\"segment_id\":\"SEGMENT\",\"schedule\":{\"type\":"
                          "\"api_triggered\"},\"steps\":[{\"name\":\"s\",\"message\":{\"webhook\":{"
                          "\"url\":\"%s/x\"}}}]}",
                          i, f->base);
        canvases[i] = create(f, "/canvas/create", text);
        free(text);
    }
    arch = strf("{\"canvas_id\":\"%s\"}", canvases[1]);
    post_status(&f->s, "/canvas/archive", arch, 201);
    free(arch);
    assert_list(f, "/canvas/list", "c000,c002");
    assert_list(f, "/canvas/list?sort_direction=desc&include_archived=true", "c002,c001,c000");
    assert_list(f, "/canvas/list?page=1", "");
    http_get_rest(&f->s, "/canvas/list?page=1", &r);
    assert_resp(&r, 200, "{\"canvases\":[],\"message\":\"success\"}");
    resp_free(&r);
    for (int i = 0; i < 3; i++)
        free(canvases[i]);
    for (int i = 0; i < 250; i++)
        free(ids[i]);
    /* nothing was sent: every campaign is API-triggered */
    assert_int_equal(sink_count(f->hook), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_campaign_and_canvas_lists_page_by_100_and_honour_braze_parameters, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_immediate_campaign_sends_one_personalised_request_to_each_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inserted_values_cannot_break_the_url_or_add_headers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_rejects_bad_definitions_and_stores_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_trigger_sends_only_to_recipients_in_the_segment_with_their_properties, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_trigger_recipient_by_email_is_the_user_its_prioritization_picks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trigger_errors_use_braze_texts_and_send_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_at_schedule_sends_once_at_its_time_across_a_restart,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cohort_entry_sends_to_users_an_import_adds_while_in_the_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cohort_entry_waits_for_the_import_to_be_published,
                                        setup_slow_sync, teardown),
        cmocka_unit_test_setup_teardown(
            test_canvas_steps_follow_their_delays_and_users_who_leave_exit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_canvas_schedule_survives_a_restart_between_steps,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_failures_are_retried_and_every_message_event_reaches_a_current, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_campaign_name_reaches_events_whole, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_campaign_field_over_limit_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_long_bad_tag_is_refused_with_a_marked_cut_quote,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_429_retry_waits_for_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_graceful_restart_mid_dispatch_neither_skips_nor_repeats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_crash_mid_dispatch_skips_nobody, setup, teardown),
        cmocka_unit_test_setup_teardown(test_archiving_a_campaign_stops_its_running_dispatch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_member_deleted_while_a_dispatch_sends_is_not_sent,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
