/*
 * test_trigger_schedules.c — Braze's scheduled API triggers against the real server and a
 * webhook receiver: /campaigns/trigger/schedule/create answers a dispatch_id and a schedule_id,
 * the schedule is listed by GET /messages/scheduled_broadcasts, survives a restart and is sent
 * by the sender at its time (not before); update moves and delete cancels a pending schedule;
 * the Canvas endpoints do the same; bad schedules are refused and store nothing.
 */
#include "campaign_fixture.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *fast[] = {"--campaigns-poll-ms", "50", NULL};

struct fixture {
    struct server s;
    struct sink *hook;
    char base[128];
    char *campaign; /* api-triggered on "plan is trial" (u1, u2): POST {base}/s/{user_id} */
    char *canvas;
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    f->hook = campaign_fixture_start(&f->s, fast, f->base, sizeof f->base);
    post_status(&f->s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"u1\",\"plan\":\"trial\"},{\"external_id\":"
                "\"u2\",\"plan\":\"trial\"},{\"external_id\":\"u3\",\"plan\":\"pro\"}]}",
                201);
    char *segment = post_created(&f->s, "/segments/create",
                                 "{\"name\":\"trial\",\"filter\":{\"attribute\":\"plan\",\"op\":"
                                 "\"equals\",\"value\":\"trial\"}}",
                                 "segment_id");
    char *message = strf("{\"webhook\":{\"url\":\"%s/s/{{${user_id}}}\",\"body\":\"p={{"
                         "api_trigger_properties.${p} | default: 'none'}}\"}}",
                         f->base);
    char *body = strf("{\"name\":\"Later\",\"segment_id\":\"%s\",\"schedule\":{\"type\":"
                      "\"api_triggered\"},\"message\":%s}",
                      segment, message);
    f->campaign = post_created(&f->s, "/campaigns/create", body, "campaign_id");
    free(body);
    free(message);
    message = strf("{\"webhook\":{\"url\":\"%s/v/{{${user_id}}}\"}}", f->base);
    body = strf("{\"name\":\"Flow\",\"segment_id\":\"%s\",\"schedule\":{\"type\":"
                "\"api_triggered\"},\"steps\":[{\"name\":\"a\",\"delay_seconds\":0,\"message\":"
                "%s}]}",
                segment, message);
    f->canvas = post_created(&f->s, "/canvas/create", body, "canvas_id");
    free(body);
    free(message);
    free(segment);
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

/* An ISO-8601 UTC time `ms` from the epoch in whole seconds, as cohortd writes times. */
static char *iso(long long ms, bool millis) {
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[40];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return millis ? strf("%s.000Z", buf) : strf("%sZ", buf);
}

/* Schedules and asserts Braze's answer exactly; returns the schedule id (owned). */
static char *schedule_ok(struct fixture *f, const char *path, const char *body) {
    struct resp r;
    http_post_rest(&f->s, path, body, &r);
    const char *dispatch = json_string_value(json_object_get(r.json, "dispatch_id"));
    const char *sched = json_string_value(json_object_get(r.json, "schedule_id"));
    if (r.status != 201 || !dispatch || strlen(dispatch) != 24 || !sched || strlen(sched) != 36)
        fail_msg("%s: %ld %s", path, r.status, r.body);
    char *want = strf("{\"dispatch_id\":\"%s\",\"schedule_id\":\"%s\",\"message\":\"success\"}",
                      dispatch, sched);
    assert_resp(&r, 201, want);
    char *id = strdup(sched);
    free(want);
    resp_free(&r);
    return id;
}

static void expect_listed(struct fixture *f, const char *want_items) {
    struct resp r;
    http_get_rest(&f->s, "/messages/scheduled_broadcasts?end_time=2101-01-01T00:00:00Z", &r);
    char *want = strf("{\"scheduled_broadcasts\":[%s],\"message\":\"success\"}", want_items);
    assert_resp(&r, 200, want);
    free(want);
    resp_free(&r);
}

static void test_a_schedule_is_listed_survives_a_restart_and_is_sent_at_its_time(void **state) {
    struct fixture *f = *state;
    long long at = (wall_ms() / 1000 + 5) * 1000; /* a whole second, 4 to 5 s from now */
    char *when = iso(at, false);
    char *body = strf("{\"campaign_id\":\"%s\",\"trigger_properties\":{\"p\":\"all\"},"
                      "\"recipients\":[{\"external_user_id\":\"u1\"},{\"external_user_id\":"
                      "\"u2\",\"trigger_properties\":{\"p\":\"two\"}},{\"external_user_id\":"
                      "\"u3\"}],\"schedule\":{\"time\":\"%s\",\"in_local_time\":false}}",
                      f->campaign, when);
    char *sched = schedule_ok(f, "/campaigns/trigger/schedule/create", body);
    char *listed = iso(at, true);
    char *item = strf("{\"name\":\"Later\",\"id\":\"%s\",\"type\":\"Campaign\",\"tags\":[],"
                      "\"next_send_time\":\"%s\",\"schedule_type\":\"UTC\"}",
                      f->campaign, listed);
    expect_listed(f, item);
    /* an end_time before it leaves it out */
    struct resp r;
    http_get_rest(&f->s, "/messages/scheduled_broadcasts?end_time=2000-01-01T00:00:00Z", &r);
    assert_resp(&r, 200, "{\"scheduled_broadcasts\":[],\"message\":\"success\"}");
    resp_free(&r);
    server_stop(&f->s);
    server_start(&f->s);
    expect_listed(f, item);
    assert_int_equal(sink_count(f->hook), 0);
    assert_int_equal(sink_wait_requests(f->hook, 2, 15000), 2);
    long long got = wall_ms();
    assert_true(got >= at);            /* not before its time */
    campaign_fixture_wait_idle(&f->s); /* u3 is not in the segment: no third send follows */
    assert_int_equal(sink_count(f->hook), 2);
    for (size_t i = 0; i < 2; i++) {
        const struct sink_request *q = sink_get(f->hook, i);
        assert_string_equal(q->raw, strcmp(q->path, "/s/u1") == 0 ? "p=all" : "p=two");
    }
    expect_listed(f, "");
    /* a schedule that has sent is no longer pending */
    char *upd = strf("{\"campaign_id\":\"%s\",\"schedule_id\":\"%s\",\"schedule\":{\"time\":"
                     "\"2100-01-01T00:00:00Z\"}}",
                     f->campaign, sched);
    post_expect(&f->s, "/campaigns/trigger/schedule/update", upd, 400,
                "{\"message\":\"Invalid Schedule ID\"}");
    free(upd);
    free(item);
    free(listed);
    free(sched);
    free(body);
    free(when);
}

static void test_update_moves_and_delete_cancels_a_pending_schedule(void **state) {
    struct fixture *f = *state;
    char *body = strf("{\"campaign_id\":\"%s\",\"broadcast\":true,\"schedule\":{\"time\":"
                      "\"2100-01-01T00:00:00Z\"}}",
                      f->campaign);
    char *moved = schedule_ok(f, "/campaigns/trigger/schedule/create", body);
    char *gone = schedule_ok(f, "/campaigns/trigger/schedule/create", body);
    char *cbody = strf("{\"canvas_id\":\"%s\",\"broadcast\":true,\"context\":\"\",\"schedule\":{"
                       "\"time\":\"2100-02-01T00:00:00Z\"}}",
                       f->canvas);
    char *flow = schedule_ok(f, "/canvas/trigger/schedule/create", cbody);
    char *c = strf("{\"name\":\"Later\",\"id\":\"%s\",\"type\":\"Campaign\",\"tags\":[],"
                   "\"next_send_time\":\"2100-01-01T00:00:00.000Z\",\"schedule_type\":\"UTC\"}",
                   f->campaign);
    char *v = strf("{\"name\":\"Flow\",\"id\":\"%s\",\"type\":\"Canvas\",\"tags\":[],"
                   "\"next_send_time\":\"2100-02-01T00:00:00.000Z\",\"schedule_type\":\"UTC\"}",
                   f->canvas);
    char *all = strf("%s,%s,%s", c, c, v);
    expect_listed(f, all);
    /* delete one: gone from the list, and a second delete or update finds nothing */
    char *del = strf("{\"campaign_id\":\"%s\",\"schedule_id\":\"%s\"}", f->campaign, gone);
    post_expect(&f->s, "/campaigns/trigger/schedule/delete", del, 201, "{\"message\":\"success\"}");
    post_expect(&f->s, "/campaigns/trigger/schedule/delete", del, 400,
                "{\"message\":\"Invalid Schedule ID\"}");
    char *two = strf("%s,%s", c, v);
    expect_listed(f, two);
    /* a schedule id of another campaign is not this one's */
    char *cross = strf("{\"campaign_id\":\"%s\",\"schedule_id\":\"%s\"}", f->campaign, flow);
    post_expect(&f->s, "/campaigns/trigger/schedule/delete", cross, 400,
                "{\"message\":\"Invalid Schedule ID\"}");
    char *vdel = strf("{\"canvas_id\":\"%s\",\"schedule_id\":\"%s\"}", f->canvas, flow);
    post_expect(&f->s, "/canvas/trigger/schedule/delete", vdel, 201, "{\"message\":\"success\"}");
    expect_listed(f, c);
    /* update the other to a second from now: the whole segment gets it then */
    long long at = (wall_ms() / 1000 + 2) * 1000;
    char *when = iso(at, false);
    char *upd = strf("{\"campaign_id\":\"%s\",\"schedule_id\":\"%s\",\"schedule\":{\"time\":"
                     "\"%s\"}}",
                     f->campaign, moved, when);
    post_expect(&f->s, "/campaigns/trigger/schedule/update", upd, 201, "{\"message\":\"success\"}");
    assert_int_equal(sink_wait_requests(f->hook, 2, 15000), 2);
    assert_true(wall_ms() >= at);
    campaign_fixture_wait_idle(&f->s); /* the deleted ones never come */
    assert_int_equal(sink_count(f->hook), 2);
    assert_int_equal(sql_count(&f->s, "SELECT count(*) FROM deliveries"), 2);
    expect_listed(f, "");
    free(upd);
    free(when);
    free(vdel);
    free(cross);
    free(two);
    free(del);
    free(all);
    free(v);
    free(c);
    free(flow);
    free(cbody);
    free(gone);
    free(moved);
    free(body);
}

static void test_a_bad_schedule_is_refused_and_stores_nothing(void **state) {
    struct fixture *f = *state;
    struct {
        const char *path;
        const char *rest; /* after the campaign id */
        const char *want;
    } cases[] = {
        {"create", ",\"broadcast\":true}", "schedule: must be an object with a time"},
        {"create", ",\"broadcast\":true,\"schedule\":{\"time\":\"soon\"}}",
         "schedule.time: must be an ISO-8601 time"},
        {"create", ",\"broadcast\":true,\"schedule\":{\"time\":\"2000-01-01T00:00:00Z\"}}",
         "schedule.time: 2000-01-01T00:00:00Z is in the past"},
        {"create",
         ",\"broadcast\":true,\"schedule\":{\"time\":\"2100-01-01T00:00:00Z\",\"in_local_time\":"
         "true}}",
         "schedule.in_local_time: not supported; times are UTC"},
        {"create",
         ",\"recipients\":[{\"external_user_id\":\"u1\",\"attributes\":{\"plan\":\"x\"}}],"
         "\"schedule\":{\"time\":\"2100-01-01T00:00:00Z\"}}",
         "recipients[0].attributes: not supported in a schedule; send them with /users/track"},
        {"create", ",\"schedule\":{\"time\":\"2100-01-01T00:00:00Z\"}}", "No Recipients"},
        {"update", ",\"schedule\":{\"time\":\"2100-01-01T00:00:00Z\"}}",
         "schedule_id: is required"},
        {"update", ",\"schedule_id\":\"nope\",\"schedule\":{\"time\":\"2100-01-01T00:00:00Z\"}}",
         "Invalid Schedule ID"},
        {"update", ",\"schedule_id\":\"nope\"}", "schedule: must be an object with a time"},
        {"delete", ",\"schedule_id\":\"nope\"}", "Invalid Schedule ID"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = strf("/campaigns/trigger/schedule/%s", cases[i].path);
        char *body = strf("{\"campaign_id\":\"%s\"%s", f->campaign, cases[i].rest);
        char *want = strf("{\"message\":\"%s\"}", cases[i].want);
        post_expect(&f->s, path, body, 400, want);
        free(want);
        free(body);
        free(path);
    }
    post_expect(&f->s, "/campaigns/trigger/schedule/create",
                "{\"campaign_id\":\"nope\",\"broadcast\":true,\"schedule\":{\"time\":"
                "\"2100-01-01T00:00:00Z\"}}",
                400, "{\"message\":\"Invalid Campaign ID\"}");
    post_expect(&f->s, "/canvas/trigger/schedule/delete",
                "{\"canvas_id\":\"nope\",\"schedule_id\":\"x\"}", 400,
                "{\"message\":\"Invalid Canvas ID\"}");
    struct resp r;
    http_get_rest(&f->s, "/messages/scheduled_broadcasts", &r);
    assert_resp(&r, 400, "{\"message\":\"end_time: must be an ISO-8601 time\"}");
    resp_free(&r);
    assert_int_equal(sql_count(&f->s, "SELECT count(*) FROM dispatches"), 0);
    assert_int_equal(sql_count(&f->s, "SELECT count(*) FROM dispatch_schedules"), 0);
    expect_listed(f, "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_a_schedule_is_listed_survives_a_restart_and_is_sent_at_its_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_moves_and_delete_cancels_a_pending_schedule,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_bad_schedule_is_refused_and_stores_nothing, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
