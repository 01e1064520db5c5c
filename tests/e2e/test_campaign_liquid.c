/*
 * test_campaign_liquid.c — Braze Liquid in webhook campaigns against the real server and a real
 * receiver on loopback: a template with if/elsif/else, assign, filters, {{${first_name}}},
 * trigger properties and campaign.${name} gives each user exactly the body, url and header
 * expected; abort_message skips a user (recorded as aborted, nothing sent, not counted); a
 * render past a bound fails that user's send with the reason; a syntax error is the exact 400
 * naming line and column; the older {{${external_id}}} still renders.
 */
#include "campaign_fixture.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *fast[] = {CAMPAIGN_FIXTURE_FAST, "--webhook-max-attempts", "2", NULL};

struct fixture {
    struct server s;
    struct sink *hook;
    char base[128]; /* http://127.0.0.1:PORT of the receiver */
    char segment[64];
};

/* ann: a gold pro user with a first name; bob: silver, free; cy: no first name, no points;
 * dee: opted out (her template aborts). All four are in the segment "group is liquid". */
static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    f->hook = campaign_fixture_start(&f->s, fast, f->base, sizeof f->base);
    post_status(&f->s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"ann\",\"first_name\":\"ann\",\"plan\":\"pro\","
                "\"points\":1200,\"group\":\"liquid\"},{\"external_id\":\"bob\",\"first_name\":"
                "\"Bob\",\"plan\":\"free\",\"points\":5,\"group\":\"liquid\"},{\"external_id\":"
                "\"cy\",\"plan\":\"free\",\"group\":\"liquid\"},{\"external_id\":\"dee\","
                "\"first_name\":\"Dee\",\"opt_out\":true,\"group\":\"liquid\"}]}",
                201);
    struct resp r;
    http_post_rest(&f->s, "/segments/create",
                   "{\"name\":\"liquid\",\"filter\":{\"attribute\":\"group\",\"op\":\"equals\","
                   "\"value\":\"liquid\"}}",
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

/* The body of /campaigns/create for an api-triggered webhook (url, one header, body: the
 * templates as they are; new string). */
static char *campaign_body(const struct fixture *f, const char *url, const char *header,
                           const char *body) {
    json_t *j = json_pack("{s:s, s:s, s:{s:s}, s:{s:{s:s, s:s, s:{s:s}, s:s}}}", "name",
                          "Liquid nudge", "segment_id", f->segment, "schedule", "type",
                          "api_triggered", "message", "webhook", "url", url, "method", "POST",
                          "headers", "X-Name", header, "body", body);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text;
}

static char *create(struct fixture *f, const char *body) {
    return post_created(&f->s, "/campaigns/create", body, "campaign_id");
}

static json_t *details(struct fixture *f, const char *id) {
    char *path = strf("/campaigns/details?campaign_id=%s", id);
    struct resp r;
    http_get_rest(&f->s, path, &r);
    assert_int_equal(r.status, 200);
    json_t *j = json_incref(r.json);
    resp_free(&r);
    free(path);
    return j;
}

/* Polls until the campaign's counter `key` is want; fails after 10 s. */
static void wait_counter(struct fixture *f, const char *id, const char *key, json_int_t want) {
    json_int_t got = -1;
    for (int i = 0; i < 1000; i++) {
        json_t *d = details(f, id);
        got = json_integer_value(json_object_get(d, key));
        json_decref(d);
        if (got == want)
            return;
        sleep_ms(10);
    }
    fail_msg("%s of %s stayed %lld, want %lld", key, id, (long long)got, (long long)want);
}

/* Polls the store until the deliveries in `state` number want; fails after 10 s. */
static void wait_deliveries(struct fixture *f, int state, long want) {
    char *sql = strf("SELECT count(*) FROM deliveries WHERE state = %d", state);
    long got = -1;
    for (int i = 0; i < 1000 && (got = sql_count(&f->s, sql)) != want; i++)
        sleep_ms(10);
    free(sql);
    assert_int_equal(got, want);
}

static const struct sink_request *request_for(struct sink *k, const char *path) {
    for (size_t i = 0; i < sink_count(k); i++)
        if (strcmp(sink_get(k, i)->path, path) == 0)
            return sink_get(k, i);
    fail_msg("no request for %s", path);
    return NULL;
}

static const char *BODY =
    "{% if custom_attribute.${opt_out} %}{% abort_message(\"opted out\") %}{% endif -%}\n"
    "{%- assign name = ${first_name} | default: 'friend' | capitalize -%}\n"
    "{%- assign pts = custom_attribute.${points} | default: 0 -%}\n"
    "{\"greeting\":\"Hi {{ name }}\",\"tier\":\"{% if pts >= 1000 %}gold{% elsif pts > 0 %}silver"
    "{% else %}none{% endif %}\",\"first\":\"{{${first_name}}}\",\"plan\":\"{{ "
    "custom_attribute.${plan} | default: 'none' | upcase }}\",\"coupon\":\"{{ "
    "api_trigger_properties.${coupon} | default: 'NONE' }}\",\"user\":\"{{${user_id}}}\","
    "\"old\":\"{{${external_id}}}\",\"campaign\":\"{{ campaign.${name} | json_escape }}\"}";

static void test_a_liquid_campaign_sends_each_user_exactly_the_rendered_body(void **state) {
    struct fixture *f = *state;
    char *url = strf("%s/liquid/{{${user_id}}}?n={{ ${first_name} | default: 'a b' }}", f->base);
    char *body = campaign_body(f, url, "{{ ${first_name} | default: 'anon' | upcase }}", BODY);
    char *id = create(f, body);
    char *trigger = strf("{\"campaign_id\":\"%s\",\"trigger_properties\":{\"coupon\":\"C10\"},"
                         "\"recipients\":[{\"external_user_id\":\"ann\"},{\"external_user_id\":"
                         "\"bob\",\"trigger_properties\":{\"coupon\":\"B5\"}},{"
                         "\"external_user_id\":\"cy\"},{\"external_user_id\":\"dee\"}]}",
                         id);
    post_status(&f->s, "/campaigns/trigger/send", trigger, 201);
    assert_int_equal(sink_wait_requests(f->hook, 3, 10000), 3);
    wait_counter(f, id, "sends", 3);
    wait_deliveries(f, 2, 1); /* dee: aborted */
    assert_int_equal(sink_count(f->hook), 3);

    const struct sink_request *ann = request_for(f->hook, "/liquid/ann");
    assert_string_equal(ann->raw,
                        "{\"greeting\":\"Hi Ann\",\"tier\":\"gold\",\"first\":\"ann\",\"plan\":"
                        "\"PRO\",\"coupon\":\"C10\",\"user\":\"ann\",\"old\":\"ann\","
                        "\"campaign\":\"Liquid nudge\"}");
    assert_json_equal(ann->query, "{\"n\":\"ann\"}");
    assert_string_equal(json_string_value(json_object_get(ann->headers, "X-Name")), "ANN");
    const struct sink_request *bob = request_for(f->hook, "/liquid/bob");
    assert_string_equal(bob->raw,
                        "{\"greeting\":\"Hi Bob\",\"tier\":\"silver\",\"first\":\"Bob\",\"plan\":"
                        "\"FREE\",\"coupon\":\"B5\",\"user\":\"bob\",\"old\":\"bob\","
                        "\"campaign\":\"Liquid nudge\"}");
    const struct sink_request *cy = request_for(f->hook, "/liquid/cy");
    assert_string_equal(cy->raw,
                        "{\"greeting\":\"Hi Friend\",\"tier\":\"none\",\"first\":\"\",\"plan\":"
                        "\"FREE\",\"coupon\":\"C10\",\"user\":\"cy\",\"old\":\"cy\","
                        "\"campaign\":\"Liquid nudge\"}");
    /* the default's space is percent-encoded in the URL; the receiver decodes it */
    assert_json_equal(cy->query, "{\"n\":\"a b\"}");
    assert_string_equal(json_string_value(json_object_get(cy->headers, "X-Name")), "ANON");

    /* dee's send was skipped: no request, not a send nor a failure */
    json_t *d = details(f, id);
    assert_json_equal(json_object_get(d, "sends"), "3");
    assert_json_equal(json_object_get(d, "failures"), "0");
    json_decref(d);
    char *log = server_log(&f->s);
    assert_non_null(strstr(log, "result=aborted reason=\"opted out\""));
    free(log);
    free(trigger);
    free(id);
    free(body);
    free(url);
}

static void test_a_render_past_a_bound_fails_that_send_with_the_reason(void **state) {
    struct fixture *f = *state;
    char *url = strf("%s/big/{{${user_id}}}", f->base);
    /* bob's branch builds a text over the output bound; ann's is small */
    char *body = campaign_body(f, url, "x",
                               "{% if ${first_name} == 'Bob' %}{% assign s = 'xxxxxxxx' %}"
                               "{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}"
                               "{{ s }}{% else %}small{% endif %}");
    char *id = create(f, body);
    char *trigger = strf("{\"campaign_id\":\"%s\",\"recipients\":[{\"external_user_id\":"
                         "\"ann\"},{\"external_user_id\":\"bob\"}]}",
                         id);
    post_status(&f->s, "/campaigns/trigger/send", trigger, 201);
    wait_counter(f, id, "failures", 1);
    wait_counter(f, id, "sends", 1);
    assert_int_equal(sink_count(f->hook), 1);
    assert_string_equal(request_for(f->hook, "/big/ann")->raw, "small");
    char *log = server_log(&f->s);
    assert_non_null(
        strstr(log, "result=render_failed reason=\"a value grew over the output limit\""));
    free(log);
    free(trigger);
    free(id);
    free(body);
    free(url);
}

static void test_a_syntax_error_is_refused_with_line_column_and_tag(void **state) {
    struct fixture *f = *state;
    char *url = strf("%s/x", f->base);
    char *body = campaign_body(f, url, "ok",
                               "{\"a\":1,\n \"b\":\"{{ ${first_name} | shout }}\"}\n"
                               "{% if x %}");
    struct resp r;
    http_post_rest(&f->s, "/campaigns/create", body, &r);
    assert_resp(&r, 400,
                "{\"message\":\"message.webhook.body: unknown filter 'shout' at line 2, column 7: "
                "{{ ${first_name} | shout }}\"}");
    resp_free(&r);
    free(body);
    body = campaign_body(f, url, "ok", "{% for t in custom_attribute.${tags} %}{{ t }}");
    http_post_rest(&f->s, "/campaigns/create", body, &r);
    assert_resp(&r, 400,
                "{\"message\":\"message.webhook.body: for has no endfor at line 1, column 1: "
                "{% for t in custom_attribute.${tags} %}\"}");
    resp_free(&r);
    free(body);
    body = campaign_body(f, url, "{{ ${nickname} }}", "");
    http_post_rest(&f->s, "/campaigns/create", body, &r);
    assert_resp(&r, 400,
                "{\"message\":\"message.webhook.headers.X-Name: unknown tag '${nickname}' at line "
                "1, column 1: {{ ${nickname} }}\"}");
    resp_free(&r);
    http_get_rest(&f->s, "/campaigns/list", &r);
    assert_resp(&r, 200, "{\"message\":\"success\",\"campaigns\":[]}");
    resp_free(&r);
    free(body);
    free(url);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_a_liquid_campaign_sends_each_user_exactly_the_rendered_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_render_past_a_bound_fails_that_send_with_the_reason,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_syntax_error_is_refused_with_line_column_and_tag,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
