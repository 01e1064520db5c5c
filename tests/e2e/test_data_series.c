/*
 * test_data_series.c — Braze's daily series (issue 16, smaller gaps): GET /segments/data_series,
 * /campaigns/data_series, /sends/data_series, /canvas/data_series, /canvas/data_summary and our
 * /cohorts/data_series: exact answers, today's value live, past days from the stored daily
 * history (written by the history worker, read back after a restart), and the 400s.
 */
#include "campaign_fixture.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_MS 86400000LL

static long long today(void) {
    return wall_ms() / DAY_MS;
}

/* "YYYY-MM-DD" of today + offset days (static buffer, one of 8 in turn). */
static const char *date_of(int offset) {
    static char bufs[8][16];
    static int next;
    char *b = bufs[next++ % 8];
    time_t t = (time_t)((today() + offset) * 86400);
    struct tm g;
    gmtime_r(&t, &g);
    strftime(b, 16, "%Y-%m-%d", &g);
    return b;
}

/* One day of a campaign or send series: Braze's multi-channel shape, webhook channel. */
static char *msg_day(int offset, int sent, int errors, int recipients) {
    return strf("{\"time\":\"%s\",\"messages\":{\"webhook\":[{\"sent\":%d,\"errors\":%d}]},"
                "\"conversions\":0,\"unique_recipients\":%d}",
                date_of(offset), sent, errors, recipients);
}

static char *canvas_day(int offset, int entries) {
    return strf("{\"time\":\"%s\",\"total_stats\":{\"revenue\":0,\"conversions\":0,"
                "\"conversions_by_entry_time\":0,\"entries\":%d}}",
                date_of(offset), entries);
}

static char *created(struct server *s, const char *path, const char *body, const char *key) {
    struct resp r;
    http_post_rest(s, path, body, &r);
    if (r.status != 201)
        fail_msg("%s: %ld %s", path, r.status, r.body);
    char *id = strdup(json_string_value(json_object_get(r.json, key)));
    resp_free(&r);
    return id;
}

static void get_expect(struct server *s, const char *path, long status, const char *expected) {
    struct resp r;
    http_get_rest(s, path, &r);
    assert_resp(&r, status, expected);
    resp_free(&r);
}

/* Runs SQL on the stopped server's store file. */
static void sql_exec(struct server *s, const char *sql) {
    char *path = strf("%s/cohortd.db", s->data);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err);
    sqlite3_close(db);
    free(path);
}

static void test_segment_data_series_ends_today_with_the_size_now(void **state) {
    struct server *s = *state;
    post_status(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"a\",\"plan\":\"pro\"},{\"external_id\":"
                "\"b\",\"plan\":\"pro\"},{\"external_id\":\"c\"}]}",
                201);
    char *seg = created(s, "/segments/create",
                        "{\"name\":\"pro\",\"filter\":{\"attribute\":\"plan\",\"op\":\"equals\","
                        "\"value\":\"pro\"}}",
                        "segment_id");
    char *path = strf("/segments/data_series?segment_id=%s&length=3", seg);
    char *want = strf("{\"message\":\"success\",\"data\":[{\"time\":\"%s\",\"size\":0},"
                      "{\"time\":\"%s\",\"size\":0},{\"time\":\"%s\",\"size\":2}]}",
                      date_of(-2), date_of(-1), date_of(0));
    get_expect(s, path, 200, want);
    free(path);
    free(want);
    /* an ending_at in the future ends today */
    path = strf("/segments/data_series?segment_id=%s&length=1&ending_at=2999-01-01T00:00:00Z", seg);
    want = strf("{\"message\":\"success\",\"data\":[{\"time\":\"%s\",\"size\":2}]}", date_of(0));
    get_expect(s, path, 200, want);
    free(path);
    free(want);
    free(seg);
}

static void test_data_series_refuse_bad_lengths_dates_and_unknown_ids(void **state) {
    struct server *s = *state;
    char *seg = created(s, "/segments/create",
                        "{\"name\":\"all\",\"filter\":{\"identified\":true}}", "segment_id");
    const char *len_text = "{\"message\":\"length: required, a whole number from 1 to 100\"}";
    const char *lengths[] = {"", "&length=0", "&length=101", "&length=x", "&length=3d"};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        char *path = strf("/segments/data_series?segment_id=%s%s", seg, lengths[i]);
        get_expect(s, path, 400, len_text);
        free(path);
    }
    char *path = strf("/segments/data_series?segment_id=%s&length=2&ending_at=yesterday", seg);
    get_expect(s, path, 400, "{\"message\":\"ending_at: must be an ISO 8601 date-time\"}");
    free(path);
    get_expect(s, "/segments/data_series?length=2", 400,
               "{\"message\":\"segment_id: is required\"}");
    get_expect(s, "/segments/data_series?segment_id=nope&length=2", 404,
               "{\"message\":\"Not Found\"}");
    get_expect(s, "/cohorts/data_series?cohort_id=nope&length=2", 404,
               "{\"message\":\"Not Found\"}");
    get_expect(s, "/campaigns/data_series?campaign_id=nope&length=2", 400,
               "{\"message\":\"Invalid Campaign ID\"}");
    get_expect(s, "/sends/data_series?campaign_id=nope&send_id=x&length=2", 400,
               "{\"message\":\"Invalid Campaign ID\"}");
    get_expect(s, "/sends/data_series?campaign_id=nope&length=2", 400,
               "{\"message\":\"send_id: is required\"}");
    get_expect(s, "/canvas/data_series?canvas_id=nope&length=2", 400,
               "{\"message\":\"Invalid Canvas ID\"}");
    get_expect(s, "/canvas/data_summary?canvas_id=nope&length=15", 400,
               "{\"message\":\"length: must be a whole number from 1 to 14 (or give "
               "starting_at)\"}");
    const char *flags[] = {"yes", "1", "", "TRUE"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        char *p1 =
            strf("/canvas/data_series?canvas_id=nope&length=2&include_step_breakdown=%s", flags[i]);
        char *p2 = strf("/canvas/data_summary?canvas_id=nope&length=2&include_step_breakdown=%s",
                        flags[i]);
        get_expect(s, p1, 400, "{\"message\":\"include_step_breakdown: must be true or false\"}");
        get_expect(s, p2, 400, "{\"message\":\"include_step_breakdown: must be true or false\"}");
        free(p1);
        free(p2);
    }
    free(seg);
}

static void test_past_days_come_from_the_daily_history_kept_across_restarts(void **st) {
    (void)st;
    const char *args[] = {"--history-interval", "200ms", NULL};
    struct server *s = server_new(args);
    post_status(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"a\"},{\"external_id\":\"b\"}]}", 201);
    char *seg = created(s, "/segments/create",
                        "{\"name\":\"all\",\"filter\":{\"identified\":true}}", "segment_id");
    char *cohort = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":"
                        "\"c1\",\"name\":\"C\",\"created_at\":\"2024-05-02T08:15:00Z\"}",
                        s->partner_key, s->import_key);
    struct resp r;
    http_req(s, "POST", "/partners/heap/cohorts", NULL, cohort, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    free(cohort);
    char *body = strf("{\"name\":\"n\",\"segment_id\":\"%s\",\"schedule\":{\"type\":"
                      "\"api_triggered\"},\"message\":{\"webhook\":{\"url\":"
                      "\"http://127.0.0.1:1/hook\"}}}",
                      seg);
    char *camp = created(s, "/campaigns/create", body, "campaign_id");
    free(body);
    body = strf("{\"name\":\"v\",\"segment_id\":\"%s\",\"steps\":[{\"name\":\"one\","
                "\"delay_seconds\":0,\"message\":{\"webhook\":{\"url\":"
                "\"http://127.0.0.1:1/hook\"}}}]}",
                seg);
    char *canvas = created(s, "/canvas/create", body, "canvas_id");
    free(body);
    /* the worker samples every object of the workspace: today's rows appear */
    long rows = 0;
    for (int i = 0; i < 400 && rows < 4; i++) {
        rows = sql_count(s, "SELECT count(*) FROM daily_history");
        if (rows < 4)
            sleep_ms(25);
    }
    assert_int_equal(rows, 4);
    char *check = strf("SELECT size FROM daily_history WHERE kind = 1 AND object_id = '%s' AND "
                       "day = %lld",
                       seg, today());
    assert_int_equal(sql_count(s, check), 2);
    free(check);
    /* earlier days, as samples taken then would have left them */
    server_stop(s);
    char *sql = strf(
        "INSERT INTO daily_history(workspace_id, kind, object_id, day, size, entered, sent, "
        "failed) SELECT id, 1, '%s', %lld, 7, 0, 0, 0 FROM workspaces;"
        "INSERT INTO daily_history SELECT id, 2, 'heap/c1', %lld, 3, 0, 0, 0 FROM workspaces;"
        "INSERT INTO daily_history SELECT id, 3, '%s', %lld, 0, 6, 5, 1 FROM workspaces;"
        "INSERT INTO daily_history SELECT id, 3, '%s', %lld, 0, 10, 9, 1 FROM workspaces;"
        "INSERT INTO daily_history SELECT id, 4, '%s', %lld, 0, 4, 4, 0 FROM workspaces;",
        seg, today() - 2, today() - 1, camp, today() - 3, camp, today() - 1, canvas, today() - 1);
    sql_exec(s, sql);
    free(sql);
    server_start(s);
    /* a day without a sample repeats the one before; a day before any sample is 0 */
    char *path = strf("/segments/data_series?segment_id=%s&length=4", seg);
    char *want = strf("{\"message\":\"success\",\"data\":[{\"time\":\"%s\",\"size\":0},"
                      "{\"time\":\"%s\",\"size\":7},{\"time\":\"%s\",\"size\":7},"
                      "{\"time\":\"%s\",\"size\":2}]}",
                      date_of(-3), date_of(-2), date_of(-1), date_of(0));
    get_expect(s, path, 200, want);
    free(path);
    free(want);
    path = strf("/segments/data_series?segment_id=%s&length=2&ending_at=%sT12:00:00Z", seg,
                date_of(-1));
    want = strf("{\"message\":\"success\",\"data\":[{\"time\":\"%s\",\"size\":7},"
                "{\"time\":\"%s\",\"size\":7}]}",
                date_of(-2), date_of(-1));
    get_expect(s, path, 200, want);
    free(path);
    free(want);
    want = strf("{\"message\":\"success\",\"data\":[{\"time\":\"%s\",\"size\":0},"
                "{\"time\":\"%s\",\"size\":3},{\"time\":\"%s\",\"size\":0}]}",
                date_of(-2), date_of(-1), date_of(0));
    get_expect(s, "/cohorts/data_series?partner=heap&cohort_id=c1&length=3", 200, want);
    get_expect(s, "/cohorts/data_series?cohort_id=c1&length=3", 200, want); /* heap: default */
    free(want);
    /* counters: each day counts what its cumulative sample grew by */
    path = strf("/campaigns/data_series?campaign_id=%s&length=4", camp);
    char *d3 = msg_day(-3, 5, 1, 6), *d2 = msg_day(-2, 0, 0, 0), *d1 = msg_day(-1, 4, 0, 4),
         *d0 = msg_day(0, 0, 0, 0);
    want = strf("{\"message\":\"success\",\"data\":[%s,%s,%s,%s]}", d3, d2, d1, d0);
    get_expect(s, path, 200, want);
    free(path);
    free(want);
    free(d3);
    free(d2);
    free(d1);
    free(d0);
    char *s1 = canvas_day(-2, 0), *s2 = canvas_day(-1, 4), *s3 = canvas_day(0, 0);
    path = strf("/canvas/data_series?canvas_id=%s&length=3", canvas);
    want = strf("{\"data\":{\"name\":\"v\",\"stats\":[%s,%s,%s]},\"message\":\"success\"}", s1, s2,
                s3);
    get_expect(s, path, 200, want);
    free(path);
    free(want);
    /* starting_at instead of length */
    path = strf("/canvas/data_summary?canvas_id=%s&starting_at=%sT00:00:00Z", canvas, date_of(-2));
    get_expect(s, path, 200,
               "{\"data\":{\"name\":\"v\",\"total_stats\":{\"revenue\":0,\"conversions\":0,"
               "\"conversions_by_entry_time\":0,\"entries\":4}},\"message\":\"success\"}");
    free(path);
    free(s1);
    free(s2);
    free(s3);
    free(seg);
    free(camp);
    free(canvas);
    server_cleanup(s);
    free(s);
}

static void test_send_data_series_counts_the_deliveries_of_its_send_id(void **state) {
    struct server *s = *state;
    char hook[128];
    struct sink *k = sink_start(hook, sizeof hook);
    post_status(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"u1\"},{\"external_id\":\"u2\"}]}", 201);
    char *seg = created(s, "/segments/create",
                        "{\"name\":\"all\",\"filter\":{\"identified\":true}}", "segment_id");
    char *body = strf("{\"name\":\"n\",\"segment_id\":\"%s\",\"schedule\":{\"type\":"
                      "\"api_triggered\"},\"message\":{\"webhook\":{\"url\":\"%s\"}}}",
                      seg, hook);
    char *camp = created(s, "/campaigns/create", body, "campaign_id");
    free(body);
    body = strf("{\"campaign_id\":\"%s\",\"send_id\":\"s-7\",\"recipients\":[{\"external_user_id"
                "\":\"u1\"},{\"external_user_id\":\"u2\"}]}",
                camp);
    post_status(s, "/campaigns/trigger/send", body, 201);
    free(body);
    body = strf("{\"campaign_id\":\"%s\",\"send_id\":\"other\",\"recipients\":[{"
                "\"external_user_id\":\"u1\"}]}",
                camp);
    post_status(s, "/campaigns/trigger/send", body, 201);
    free(body);
    assert_int_equal(sink_wait_requests(k, 3, 30000), 3);
    char *d1 = msg_day(-1, 0, 0, 0), *d0 = msg_day(0, 2, 0, 2);
    char *want = strf("{\"message\":\"success\",\"data\":[%s,%s]}", d1, d0);
    char *path = strf("/sends/data_series?campaign_id=%s&send_id=s-7&length=2", camp);
    /* the outcome is recorded once the webhook answered: poll until both are */
    struct resp r;
    json_t *expected = json_loads(want, 0, NULL);
    for (int i = 0; i < 400; i++) {
        http_get_rest(s, path, &r);
        bool same = r.status == 200 && json_equal(r.json, expected);
        resp_free(&r);
        if (same)
            break;
        sleep_ms(25);
    }
    get_expect(s, path, 200, want);
    json_decref(expected);
    free(path);
    free(want);
    free(d1);
    free(d0);
    sink_stop(k);
    free(seg);
    free(camp);
}

/* Braze's step_stats entry of one step (webhook channel). */
static char *step_stat(const char *id, const char *name, int sent, int errors) {
    return strf("\"%s\":{\"name\":\"%s\",\"revenue\":0,\"conversions\":0,"
                "\"conversions_by_entry_time\":0,\"messages\":{\"webhook\":[{\"sent\":%d,"
                "\"errors\":%d}]}}",
                id, name, sent, errors);
}

/* GET path until it answers 200 with want (the outcomes are recorded once the webhooks
 * answered), then asserts it; fails after 10 s. */
static void poll_expect(struct server *s, const char *path, const char *want) {
    json_t *expected = json_loads(want, 0, NULL);
    if (!expected)
        fail_msg("bad expected JSON: %s", want);
    for (int i = 0; i < 400; i++) {
        struct resp r;
        http_get_rest(s, path, &r);
        bool same = r.status == 200 && json_equal(r.json, expected);
        resp_free(&r);
        if (same)
            break;
        sleep_ms(25);
    }
    json_decref(expected);
    get_expect(s, path, 200, want);
}

static void test_canvas_step_breakdown_counts_each_steps_sent_and_failed_per_day(void **st) {
    (void)st;
    const char *args[] = {CAMPAIGN_FIXTURE_FAST, "--webhook-max-attempts", "2", NULL};
    struct server *s = server_new(args);
    char url[128];
    struct sink *k = sink_start_webhook(url, sizeof url);
    sink_fail_path(k, "/hook/u2", 500, "{\"error\":\"boom\"}");
    post_status(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"u1\"},{\"external_id\":\"u2\"}]}", 201);
    char *seg = created(s, "/segments/create",
                        "{\"name\":\"all\",\"filter\":{\"identified\":true}}", "segment_id");
    char *body = strf("{\"name\":\"Trial\",\"segment_id\":\"%s\",\"schedule\":{\"type\":"
                      "\"immediate\"},\"steps\":[{\"name\":\"hello\",\"delay_seconds\":0,"
                      "\"message\":{\"webhook\":{\"url\":\"%s/ok/{{${external_id}}}\"}}},"
                      "{\"name\":\"reminder\",\"delay_seconds\":0,\"message\":{\"webhook\":{"
                      "\"url\":\"%s/hook/{{${external_id}}}\"}}}]}",
                      seg, url, url);
    char *canvas = created(s, "/canvas/create", body, "canvas_id");
    free(body);
    char *path = strf("/canvas/details?canvas_id=%s", canvas);
    struct resp r;
    http_get_rest(s, path, &r);
    assert_int_equal(r.status, 200);
    json_t *steps = json_object_get(r.json, "steps");
    assert_int_equal(json_array_size(steps), 2);
    char *id1 = strdup(json_string_value(json_object_get(json_array_get(steps, 0), "id")));
    char *id2 = strdup(json_string_value(json_object_get(json_array_get(steps, 1), "id")));
    resp_free(&r);
    free(path);
    /* today: the first step sent to both, the second to u1 and failed for u2 */
    char *a1 = step_stat(id1, "hello", 0, 0), *b1 = step_stat(id2, "reminder", 0, 0);
    char *a0 = step_stat(id1, "hello", 2, 0), *b0 = step_stat(id2, "reminder", 1, 1);
    char *series =
        strf("{\"data\":{\"name\":\"Trial\",\"stats\":[{\"time\":\"%s\",\"total_stats\":{"
             "\"revenue\":0,\"conversions\":0,\"conversions_by_entry_time\":0,\"entries\":0},"
             "\"step_stats\":{%s,%s}},{\"time\":\"%s\",\"total_stats\":{\"revenue\":0,"
             "\"conversions\":0,\"conversions_by_entry_time\":0,\"entries\":2},\"step_stats\":{%s,"
             "%s}}]},\"message\":\"success\"}",
             date_of(-1), a1, b1, date_of(0), a0, b0);
    char *summary = strf("{\"data\":{\"name\":\"Trial\",\"total_stats\":{\"revenue\":0,"
                         "\"conversions\":0,\"conversions_by_entry_time\":0,\"entries\":2},"
                         "\"step_stats\":{%s,%s}},\"message\":\"success\"}",
                         a0, b0);
    char *series_path =
        strf("/canvas/data_series?canvas_id=%s&length=2&include_step_breakdown=true", canvas);
    char *summary_path =
        strf("/canvas/data_summary?canvas_id=%s&length=2&include_step_breakdown=true", canvas);
    poll_expect(s, series_path, series);
    get_expect(s, summary_path, 200, summary);
    /* without the parameter (or with false) the answer is Braze's plain one */
    char *c1 = canvas_day(-1, 0), *c0 = canvas_day(0, 2);
    char *plain =
        strf("{\"data\":{\"name\":\"Trial\",\"stats\":[%s,%s]},\"message\":\"success\"}", c1, c0);
    free(c1);
    free(c0);
    path = strf("/canvas/data_series?canvas_id=%s&length=2", canvas);
    get_expect(s, path, 200, plain);
    free(path);
    path = strf("/canvas/data_series?canvas_id=%s&length=2&include_step_breakdown=false", canvas);
    get_expect(s, path, 200, plain);
    free(path);
    /* the per-day counts outlive the deliveries: the same once retention deleted them, and
     * after a restart */
    server_stop(s);
    sql_exec(s, "DELETE FROM deliveries");
    server_start(s);
    get_expect(s, series_path, 200, series);
    get_expect(s, summary_path, 200, summary);
    free(plain);
    free(series_path);
    free(summary_path);
    free(series);
    free(summary);
    free(a1);
    free(b1);
    free(a0);
    free(b0);
    free(id1);
    free(id2);
    free(canvas);
    free(seg);
    campaign_fixture_stop(s, k);
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_segment_data_series_ends_today_with_the_size_now,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_data_series_refuse_bad_lengths_dates_and_unknown_ids,
                                        server_setup, server_teardown),
        cmocka_unit_test(test_past_days_come_from_the_daily_history_kept_across_restarts),
        cmocka_unit_test_setup_teardown(test_send_data_series_counts_the_deliveries_of_its_send_id,
                                        server_setup, server_teardown),
        cmocka_unit_test(test_canvas_step_breakdown_counts_each_steps_sent_and_failed_per_day),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
