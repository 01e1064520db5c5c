/*
 * test_metrics.c — GET /metrics against the real server: after a known sequence of requests
 * (a track, a cohort import with one unmatched id, a 404, a Current delivering to a sink, Heap
 * pages applied, repeated and badly signed, a campaign's webhook) the scrape holds the exact
 * counter values, every histogram is consistent (cumulative buckets, +Inf = _count), and the
 * whole text parses as Prometheus' text format. With --metrics-token a scrape needs the token.
 */
#include "harness.h"
#include "sink.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const fast[] = {"--currents-poll-ms",
                                   "50",
                                   "--currents-retry-base-ms",
                                   "50",
                                   "--currents-retry-max-ms",
                                   "200",
                                   "--campaigns-poll-ms",
                                   "50",
                                   NULL};

static int setup(void **state) {
    *state = server_new(fast);
    return 0;
}

static char *scrape(struct server *s) {
    struct resp r;
    http_req(s, "GET", "/metrics", NULL, NULL, &r);
    if (r.status != 200)
        fail_msg("/metrics answered %ld %s", r.status, r.body);
    assert_non_null(strstr(r.headers, "Content-Type: text/plain; version=0.0.4\r\n"));
    char *text = strdup(r.body);
    resp_free(&r);
    return text;
}

/* The value of the sample line `series` ("name{labels}" exactly as rendered), or NAN. */
static double sample(const char *text, const char *series) {
    size_t n = strlen(series);
    for (const char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
    return NAN;
}

/* Scrapes until `series` has the value want (figures recorded after an answer reached the
 * client, or by a background thread, appear a moment later); returns the last scrape. */
static char *scrape_until(struct server *s, const char *series, double want) {
    char *text = NULL;
    for (int i = 0; i < 500; i++) {
        free(text);
        text = scrape(s);
        if (sample(text, series) == want)
            return text;
        sleep_ms(20);
    }
    fail_msg("%s never became %g; the scrape holds:\n%s", series, want, text);
    return NULL;
}

static void expect(const char *text, const char *series, double want) {
    double v = sample(text, series);
    if (v != want)
        fail_msg("%s is %g, want %g; the scrape holds:\n%s", series, v, want, text);
}

/* ---- the text format ---- */

static bool name_char(int c, bool first) {
    return isalpha(c) || c == '_' || c == ':' || (!first && isdigit(c));
}

/* Checks one sample line: name, optional {label="value",…}, a space, a number. */
static bool sample_line_parses(const char *p, const char *end) {
    if (p == end || !name_char((unsigned char)*p, true))
        return false;
    while (p < end && name_char((unsigned char)*p, false))
        p++;
    if (p < end && *p == '{') {
        p++;
        while (p < end && *p != '}') {
            if (!name_char((unsigned char)*p, true))
                return false;
            while (p < end && name_char((unsigned char)*p, false))
                p++;
            if (p + 1 >= end || p[0] != '=' || p[1] != '"')
                return false;
            p += 2;
            while (p < end && *p != '"') {
                if (*p == '\\') {
                    if (p + 1 >= end || !strchr("\\\"n", p[1]))
                        return false;
                    p++;
                }
                p++;
            }
            if (p >= end)
                return false;
            p++; /* the closing quote */
            if (p < end && *p == ',')
                p++;
        }
        if (p >= end)
            return false;
        p++; /* '}' */
    }
    if (p >= end || *p != ' ')
        return false;
    p++;
    char value[64];
    size_t len = (size_t)(end - p);
    if (len == 0 || len >= sizeof value)
        return false;
    memcpy(value, p, len);
    value[len] = '\0';
    if (strcmp(value, "+Inf") == 0 || strcmp(value, "-Inf") == 0 || strcmp(value, "NaN") == 0)
        return true;
    char *stop;
    strtod(value, &stop);
    return *stop == '\0';
}

static void assert_text_parses(const char *text) {
    if (!text)
        return;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        if (!nl) {
            fail_msg("the exposition does not end with a newline: %s", line);
            return;
        }
        bool ok = strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0
                      ? true
                      : sample_line_parses(line, nl);
        if (strncmp(line, "# TYPE ", 7) == 0) {
            const char *type = (const char *)memrchr(line, ' ', (size_t)(nl - line)) + 1;
            ok = (strncmp(type, "counter\n", 8) == 0 || strncmp(type, "gauge\n", 6) == 0 ||
                  strncmp(type, "histogram\n", 10) == 0);
        }
        if (!ok)
            fail_msg("not a comment or a sample: %.*s", (int)(nl - line), line);
        line = nl + 1;
    }
}

/* Every histogram series: buckets never decrease, and +Inf equals _count. */
static void assert_histograms_consistent(const char *text) {
    int n_histograms = 0;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        const char *count = strstr(line, "_count");
        if (count && count < nl && line[0] != '#') {
            /* name_count{labels} v  ->  name_bucket{labels,le="+Inf"} */
            const char *brace = count + strlen("_count");
            const char *space = memchr(brace, ' ', (size_t)(nl - brace));
            char *labels =
                *brace == '{' ? strndup(brace + 1, (size_t)(space - brace - 2)) : strdup("");
            char *inf = strf("%.*s_bucket{%s%sle=\"+Inf\"}", (int)(count - line), line, labels,
                             *labels ? "," : "");
            double total = strtod(space + 1, NULL);
            expect(text, inf, total);
            /* the buckets of this series, in order */
            char *prefix =
                strf("%.*s_bucket{%s%sle=", (int)(count - line), line, labels, *labels ? "," : "");
            double last = 0;
            for (const char *b = strstr(text, prefix); b; b = strstr(b + 1, prefix)) {
                double v = strtod(strchr(b, ' ') + 1, NULL);
                if (v < last)
                    fail_msg("buckets of %s decrease at %.60s", prefix, b);
                last = v;
            }
            free(prefix);
            free(inf);
            free(labels);
            n_histograms++;
        }
        line = nl ? nl + 1 : NULL;
    }
    assert_true(n_histograms > 0);
}

/* ---- the tests ---- */

static void test_scrape_holds_exact_counts_of_a_known_sequence_and_parses(void **state) {
    struct server *s = *state;
    char url[128], current[64];
    struct sink *k = sink_start(url, sizeof url);
    current_create(s, url, "[\"users.behaviors.CustomEvent\"]", 10, current);
    struct resp r;
    /* a track: one user, one event for the Current */
    http_post_rest(s, "/users/track",
                   "{\"events\":[{\"external_id\":\"m1\",\"name\":\"signup\",\"time\":"
                   "\"2024-05-02T08:15:00Z\"}]}",
                   &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    /* an import: one id matches, one does not */
    char *body = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":\"c1\","
                      "\"cohort_changes\":[{\"user_ids\":[\"m1\",\"ghost\"]}]}",
                      s->partner_key, s->import_key);
    http_req(s, "POST", "/partners/heap/cohorts/users", NULL, body, &r);
    assert_resp(&r, 201,
                "{\"message\":\"success\",\"ids_received\":2,\"ids_matched\":1,\"ids_unmatched\":1,"
                "\"users_added\":1,\"users_removed\":0}");
    resp_free(&r);
    free(body);
    /* a 404 */
    http_req(s, "GET", "/no/such/route", NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    /* the Current delivers the event */
    assert_int_equal(sink_wait_events(k, 1, 10000), 1);

    char *series = strf("cohortd_current_delivered_events_total{current_id=\"%s\"}", current);
    char *text = scrape_until(s, series, 1);
    free(series);
    assert_text_parses(text);
    assert_histograms_consistent(text);
    expect(text, "cohortd_http_requests_total{route=\"/users/track\",status=\"201\"}", 1);
    expect(
        text,
        "cohortd_http_requests_total{route=\"/partners/{partner}/cohorts/users\",status=\"201\"}",
        1);
    expect(text, "cohortd_http_requests_total{route=\"/currents/create\",status=\"201\"}", 1);
    expect(text, "cohortd_http_requests_total{route=\"unmatched\",status=\"404\"}", 1);
    expect(text, "cohortd_http_request_duration_seconds_count{route=\"/users/track\"}", 1);
    expect(text,
           "cohortd_http_request_duration_seconds_count{route=\"/partners/{partner}/cohorts/"
           "users\"}",
           1);
    char *labels =
        strf("{workspace_id=\"%s\",partner=\"heap\",source=\"partner_import\"}", s->workspace_id);
    char *name = strf("cohortd_cohort_ids_received_total%s", labels);
    expect(text, name, 2);
    free(name);
    name = strf("cohortd_cohort_ids_matched_total%s", labels);
    expect(text, name, 1);
    free(name);
    name = strf("cohortd_cohort_ids_unmatched_total%s", labels);
    expect(text, name, 1);
    free(name);
    free(labels);
    name = strf("cohortd_workspace_users{workspace_id=\"%s\"}", s->workspace_id);
    expect(text, name, 1);
    free(name);
    name = strf("cohortd_workspace_cohorts{workspace_id=\"%s\"}", s->workspace_id);
    expect(text, name, 1);
    free(name);
    name = strf("cohortd_workspace_cohort_members{workspace_id=\"%s\"}", s->workspace_id);
    expect(text, name, 1);
    free(name);
    name = strf("cohortd_workspace_cohort_bitmap_bytes{workspace_id=\"%s\"}", s->workspace_id);
    assert_true(sample(text, name) > 0);
    free(name);
    name = strf("cohortd_current_dead_letters{current_id=\"%s\"}", current);
    expect(text, name, 0);
    free(name);
    name = strf("cohortd_current_failed_requests_total{current_id=\"%s\"}", current);
    assert_true(isnan(sample(text, name))); /* never failed: no series */
    free(name);
    /* every write so far was committed durably: the commit histogram saw them */
    assert_true(sample(text, "cohortd_store_commit_seconds_count") >= 2);
    assert_true(sample(text, "cohortd_store_group_commit_size_count") >= 1);
    assert_true(sample(text, "cohortd_store_sync_seconds_count") >= 1);
    /* process figures */
    char *out = NULL;
    const char *args[] = {"--version", NULL};
    assert_int_equal(run_cli_bare(args, &out, NULL), 0);
    *strchr(out, '\n') = '\0'; /* "cohortd 0.2.0" */
    char *version = strchr(out, ' ') + 1;
    name = strf("cohortd_build_info{version=\"%s\"}", version);
    expect(text, name, 1);
    free(name);
    free(out);
    assert_true(sample(text, "cohortd_process_start_time_seconds") > 1.7e9);
    assert_true(sample(text, "cohortd_http_connections") >= 1);
    assert_non_null(strstr(text, "# TYPE cohortd_http_requests_total counter\n"));
    assert_non_null(strstr(text, "# TYPE cohortd_http_request_duration_seconds histogram\n"));
    free(text);
    sink_stop(k);
}

static void test_backlog_of_a_failing_current_is_pending_with_failed_requests(void **state) {
    struct server *s = *state;
    char url[128], current[64];
    struct sink *k = sink_start(url, sizeof url);
    sink_answer(k, 500, 0);
    current_create(s, url, "[\"users.behaviors.CustomEvent\"]", 10, current);
    struct resp r;
    http_post_rest(s, "/users/track",
                   "{\"events\":[{\"external_id\":\"p1\",\"name\":\"a\",\"time\":"
                   "\"2024-05-02T08:15:00Z\"},{\"external_id\":\"p1\",\"name\":\"b\",\"time\":"
                   "\"2024-05-02T08:15:01Z\"}]}",
                   &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    assert_true(sink_wait_requests(k, 1, 10000) >= 1);
    char *name = strf("cohortd_current_pending_events{current_id=\"%s\"}", current);
    char *failed = strf("cohortd_current_failed_requests_total{current_id=\"%s\"}", current);
    char *text = NULL;
    for (int i = 0; i < 500; i++) { /* counted once the dispatcher has read the answer */
        free(text);
        text = scrape(s);
        if (sample(text, failed) >= 1)
            break;
        sleep_ms(20);
    }
    assert_true(sample(text, failed) >= 1);
    expect(text, name, 2);
    char *lag = strf("cohortd_current_lag_seconds{current_id=\"%s\"}", current);
    assert_true(sample(text, lag) >= 0);
    free(text);
    /* once the endpoint answers, the backlog drains to 0 */
    sink_answer(k, 200, 0);
    text = scrape_until(s, name, 0);
    expect(text, lag, 0);
    free(text);
    free(lag);
    free(failed);
    free(name);
    sink_stop(k);
}

static void test_heap_pages_are_counted_applied_duplicate_and_refused(void **state) {
    struct server *s = *state;
    struct resp r;
    http_post_rest(s, "/users/track", "{\"attributes\":[{\"external_id\":\"h1\"}]}", &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    http_post_rest(s, "/integrations/heap/create", "{\"name\":\"Heap\"}", &r);
    assert_int_equal(r.status, 201);
    char *id = strdup(json_string_value(json_object_get(r.json, "integration_id")));
    char *secret = strdup(json_string_value(json_object_get(r.json, "webhook_secret")));
    resp_free(&r);
    const char *body =
        "{\"action_type\":\"segment.users.sync\",\"customer_config\":{\"fields\":[]},"
        "\"data\":{\"segment\":{\"id\":42,\"name\":\"Trial\"},\"sync_info\":"
        "{\"page_number\":1,\"total_pages\":1,\"sync_task_id\":\"t-1\"},"
        "\"add\":[{\"id\":\"h1\"},{\"id\":\"nobody\"}]}}";
    heap_deliver(s, id, secret, body, 200);           /* applied */
    heap_deliver(s, id, secret, body, 200);           /* duplicate */
    heap_deliver(s, id, "not-the-secret", body, 403); /* signature */
    char *text = scrape_until(s, "cohortd_heap_pages_refused_total{reason=\"signature\"}", 1);
    assert_text_parses(text);
    expect(text, "cohortd_heap_pages_applied_total", 1);
    expect(text, "cohortd_heap_pages_refused_total{reason=\"duplicate\"}", 1);
    expect(text,
           "cohortd_http_requests_total{route=\"/heap/webhooks/{integration_id}\",status=\"200\"}",
           2);
    char *labels =
        strf("{workspace_id=\"%s\",partner=\"heap\",source=\"heap_webhook\"}", s->workspace_id);
    char *name = strf("cohortd_cohort_ids_received_total%s", labels);
    expect(text, name, 2);
    free(name);
    name = strf("cohortd_cohort_ids_matched_total%s", labels);
    expect(text, name, 1);
    free(name);
    name = strf("cohortd_cohort_ids_unmatched_total%s", labels);
    expect(text, name, 1);
    free(name);
    free(labels);
    free(text);
    free(id);
    free(secret);
}

static void test_campaign_webhook_sends_are_counted_by_campaign_id(void **state) {
    struct server *s = *state;
    char url[128];
    struct sink *k = sink_start_webhook(url, sizeof url);
    struct resp r;
    http_post_rest(s, "/users/track",
                   "{\"attributes\":[{\"external_id\":\"w1\",\"plan\":\"trial\"},{\"external_id\":"
                   "\"w2\",\"plan\":\"trial\"}]}",
                   &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    http_post_rest(s, "/segments/create",
                   "{\"name\":\"trial\",\"filter\":{\"attribute\":\"plan\",\"op\":\"equals\","
                   "\"value\":\"trial\"}}",
                   &r);
    assert_int_equal(r.status, 201);
    char *segment = strdup(json_string_value(json_object_get(r.json, "segment_id")));
    resp_free(&r);
    char *body = strf("{\"name\":\"Hello\",\"segment_id\":\"%s\",\"schedule\":{\"type\":"
                      "\"immediate\"},\"message\":{\"webhook\":{\"url\":\"%s/hook\"}}}",
                      segment, url);
    http_post_rest(s, "/campaigns/create", body, &r);
    assert_int_equal(r.status, 201);
    char *campaign = strdup(json_string_value(json_object_get(r.json, "campaign_id")));
    resp_free(&r);
    assert_int_equal(sink_wait_requests(k, 2, 10000), 2);
    char *name =
        strf("cohortd_webhook_sends_total{kind=\"campaign\",campaign_id=\"%s\"}", campaign);
    char *text = scrape_until(s, name, 2);
    char *failures =
        strf("cohortd_webhook_failures_total{kind=\"campaign\",campaign_id=\"%s\"}", campaign);
    assert_true(isnan(sample(text, failures)));
    free(failures);
    free(text);
    free(name);
    free(campaign);
    free(body);
    free(segment);
    sink_stop(k);
}

static int setup_token(void **state) {
    const char *args[] = {"--metrics-token", "scrape-secret-1", NULL};
    *state = server_new(args);
    return 0;
}

static void test_metrics_token_is_required_when_set(void **state) {
    struct server *s = *state;
    struct resp r;
    http_req(s, "GET", "/metrics", NULL, NULL, &r);
    assert_resp(&r, 401,
                "{\"message\":\"Unauthorized\",\"errors\":[\"send the metrics token as "
                "'Authorization: Bearer <token>'\"]}");
    assert_non_null(strstr(r.headers, "WWW-Authenticate: Bearer\r\n"));
    resp_free(&r);
    const char *wrong[] = {"Authorization: Bearer scrape-secret-2", NULL};
    http_req(s, "GET", "/metrics", wrong, NULL, &r);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    const char *right[] = {"Authorization: Bearer scrape-secret-1", NULL};
    http_req(s, "GET", "/metrics", right, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(
        strstr(r.body, "cohortd_http_requests_total{route=\"/metrics\",status=\"401\"} 2\n"));
    resp_free(&r);
    /* the token never reaches the log */
    char *log = server_log(s);
    assert_null(strstr(log, "scrape-secret"));
    free(log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_scrape_holds_exact_counts_of_a_known_sequence_and_parses, setup, server_teardown),
        cmocka_unit_test_setup_teardown(
            test_backlog_of_a_failing_current_is_pending_with_failed_requests, setup,
            server_teardown),
        cmocka_unit_test_setup_teardown(test_heap_pages_are_counted_applied_duplicate_and_refused,
                                        setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_campaign_webhook_sends_are_counted_by_campaign_id,
                                        setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_token_is_required_when_set, setup_token,
                                        server_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
