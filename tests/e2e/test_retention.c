/*
 * test_retention.c — the retention worker against the real server, with retentions of 200 ms
 * and a pass every 50 ms (from the environment), counting rows in the SQLite file (read-only):
 * delivered outbox events go while undelivered ones stay (and are delivered later), events of a
 * workspace without a Current stay for the longest Currents horizon, dead letters go unless queued
 * for replay, deliveries of finished sends go while the campaign's counters stay, Heap page records
 * go while the newest syncs of a cohort stay; each view that reads them still answers, also after
 * a restart.
 */
#include "harness.h"
#include "sink.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_MS 15000

/* Every server of this file: retentions of 200 ms, a pass every 50 ms (set in the environment,
 * so a test's own flags win). */
static const char *const fast_env[][2] = {
    {"COHORTD_RETAIN_OUTBOX", "200ms"},       {"COHORTD_RETAIN_DELIVERIES", "200ms"},
    {"COHORTD_RETAIN_DEAD_LETTERS", "200ms"}, {"COHORTD_RETAIN_HEAP_PAGES", "200ms"},
    {"COHORTD_HEAP_MAX_PAST_MS", "200"},      {"COHORTD_RETENTION_INTERVAL", "50ms"},
    {"COHORTD_CURRENTS_POLL_MS", "50"},       {"COHORTD_CAMPAIGNS_POLL_MS", "50"},
};

/* Sets the server's extra `serve` arguments (NULL-terminated, or NULL). */
static void set_args(struct server *s, const char *const *more) {
    int n = 0;
    for (int i = 0; more && more[i]; i++)
        s->extra_args[n++] = more[i];
    s->extra_args[n] = NULL;
}

static struct server *start_with(const char *const *more) {
    struct server *s = calloc(1, sizeof *s);
    server_init(s);
    set_args(s, more);
    server_start(s);
    return s;
}

static int setup(void **state) {
    *state = start_with(NULL);
    return 0;
}

/* Polls sql until it counts `want` (or WAIT_MS passed); returns the last count. */
static long wait_count(struct server *s, const char *sql, long want) {
    long n = -1;
    for (int i = 0; i < WAIT_MS / 10; i++) {
        n = sql_count(s, sql);
        if (n == want)
            return n;
        sleep_ms(10);
    }
    return n;
}

static void event(struct server *s, const char *user, const char *name) {
    char *body = strf("{\"events\":[{\"external_id\":\"%s\",\"name\":\"%s\",\"time\":"
                      "\"2024-05-02T08:15:00Z\"}]}",
                      user, name);
    struct resp r;
    http_post_rest(s, "/users/track", body, &r);
    if (r.status != 201)
        fail_msg("track: %ld %s", r.status, r.body);
    resp_free(&r);
    free(body);
}

static long long detail(struct server *s, const char *current, const char *key) {
    json_t *d = current_details(s, current);
    long long v = json_integer_value(json_object_get(d, key));
    json_decref(d);
    return v;
}

/* Polls a Current's details until `key` is want; returns the last value. */
static long long wait_detail(struct server *s, const char *current, const char *key,
                             long long want) {
    long long v = -1;
    for (int i = 0; i < WAIT_MS / 20; i++) {
        v = detail(s, current, key);
        if (v == want)
            return v;
        sleep_ms(20);
    }
    return v;
}

#define OUTBOX_OF(ws)                                                                              \
    "SELECT count(*) FROM outbox WHERE workspace_id = (SELECT id FROM workspaces WHERE name = "    \
    "'" ws "')"

static void test_delivered_events_go_undelivered_ones_stay_also_after_restart(void **state) {
    struct server *s = *state;
    /* a second workspace, whose only Current is down */
    const char *args[] = {"workspace", "create", "second", "--json", NULL};
    char *out = NULL;
    assert_int_equal(run_cli(s, args, &out, NULL), 0);
    json_t *j = json_loads(out, 0, NULL);
    struct server second = *s;
    snprintf(second.rest_key, sizeof second.rest_key, "%s",
             json_string_value(json_object_get(j, "rest_api_key")));
    json_decref(j);
    free(out);
    char ok_url[128], down_url[128], ok[64], down[64];
    struct sink *ok_sink = sink_start(ok_url, sizeof ok_url);
    struct sink *down_sink = sink_start(down_url, sizeof down_url);
    sink_answer(down_sink, 503, 0);
    current_create(&second, down_url, "[\"users.behaviors.CustomEvent\"]", 10, down);
    current_create(s, ok_url, "[\"users.behaviors.CustomEvent\"]", 10, ok);
    event(&second, "b1", "waiting1");
    event(&second, "b2", "waiting2");
    for (int i = 0; i < 3; i++)
        event(s, "a", "sent");
    assert_int_equal(sink_wait_events(ok_sink, 3, WAIT_MS), 3);

    /* the pass that deleted the delivered events also saw the older undelivered ones */
    assert_int_equal(wait_count(s, OUTBOX_OF("default"), 0), 0);
    assert_int_equal(sql_count(s, OUTBOX_OF("second")), 2);
    assert_int_equal(detail(s, ok, "delivered"), 3);
    assert_int_equal(detail(&second, down, "delivered"), 0);
    json_t *d = current_details(&second, down);
    assert_true(json_is_integer(json_object_get(d, "oldest_undelivered_age_s")));
    json_decref(d);
    /* the pass logs after its last delete: poll for the line, the rows may go first */
    bool logged = false;
    for (int i = 0; i < WAIT_MS / 10 && !logged; i++) {
        char *log = server_log(s);
        logged = strstr(log, "retention: deleted outbox=") != NULL;
        free(log);
        if (!logged)
            sleep_ms(10);
    }
    assert_true(logged);

    server_stop(s);
    server_start(s);
    assert_int_equal(sql_count(s, OUTBOX_OF("second")), 2);
    /* new events after an emptied outbox get new ids and are delivered */
    event(s, "a", "after_restart");
    assert_int_equal(sink_wait_events(ok_sink, 4, WAIT_MS), 4);
    json_t *all = sink_accepted_events(ok_sink);
    const char *id3 = json_string_value(json_object_get(json_array_get(all, 2), "id"));
    const char *id4 = json_string_value(json_object_get(json_array_get(all, 3), "id"));
    assert_string_not_equal(id3, id4);
    json_decref(all);
    assert_int_equal(wait_count(s, OUTBOX_OF("default"), 0), 0);
    /* the undelivered events were kept whole: once the endpoint is back they go out */
    sink_answer(down_sink, 200, 0);
    assert_int_equal(sink_wait_events(down_sink, 2, WAIT_MS), 2);
    all = sink_accepted_events(down_sink);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(all, 0), "properties"), "name")),
                        "waiting1");
    json_decref(all);
    assert_int_equal(wait_count(s, "SELECT count(*) FROM outbox", 0), 0);
    sink_stop(ok_sink);
    sink_stop(down_sink);
}

static void test_events_without_a_current_stay_for_the_longest_horizon(void **state) {
    (void)state;
    const char *more[] = {"--currents-horizon-ms", "600", "--currents-auth-horizon-ms", "1500",
                          NULL};
    struct server *s = start_with(more);
    long long t0 = wall_ms();
    event(s, "a", "kept");
    assert_int_equal(sql_count(s, "SELECT count(*) FROM outbox"), 1);
    assert_int_equal(wait_count(s, "SELECT count(*) FROM outbox", 0), 0);
    /* gone only once older than the auth horizon, the longest, not after 200 ms */
    assert_true(wall_ms() - t0 >= 1500);
    server_cleanup(s);
    free(s);
}

static void test_dead_letters_go_unless_queued_for_replay_also_after_restart(void **state) {
    (void)state;
    const char *keep[] = {"--retain-dead-letters", "0", NULL};
    struct server *s = start_with(keep);
    char url[128], a[64], b[64];
    struct sink *k = sink_start(url, sizeof url);
    sink_reject_event(k, "poison");
    current_create(s, url, "[\"users.behaviors.CustomEvent\"]", 10, a);
    current_create(s, url, "[\"users.behaviors.CustomEvent\"]", 10, b);
    event(s, "u", "poison");
    assert_int_equal(wait_detail(s, a, "dead_lettered", 1), 1);
    assert_int_equal(wait_detail(s, b, "dead_lettered", 1), 1);
    /* A's letter is queued for replay while its endpoint is down, so it stays queued */
    sink_answer(k, 503, 0);
    char *body = strf("{\"current_id\":\"%s\"}", a);
    post_expect(s, "/currents/replay", body, 201, "{\"message\":\"success\",\"replayed\":1}");
    free(body);
    server_stop(s);
    /* with 0, nothing went while it ran */
    assert_int_equal(sql_count(s, "SELECT count(*) FROM dead_letters"), 2);

    set_args(s, NULL);
    server_start(s);
    assert_int_equal(wait_count(s, "SELECT count(*) FROM dead_letters WHERE replay = 0", 0), 0);
    assert_int_equal(sql_count(s, "SELECT count(*) FROM dead_letters WHERE replay = 1"), 1);
    assert_int_equal(detail(s, a, "dead_lettered"), 1);
    assert_int_equal(detail(s, b, "dead_lettered"), 1);
    server_stop(s);
    server_start(s);
    assert_int_equal(sql_count(s, "SELECT count(*) FROM dead_letters WHERE replay = 1"), 1);
    /* the queued letter is still sent once the endpoint is back */
    sink_reject_event(k, NULL);
    sink_answer(k, 200, 0);
    assert_int_equal(sink_wait_events(k, 1, WAIT_MS), 1);
    assert_int_equal(wait_count(s, "SELECT count(*) FROM dead_letters", 0), 0);
    sink_stop(k);
    server_cleanup(s);
    free(s);
}

static void test_deliveries_of_finished_sends_go_and_the_counters_stay(void **state) {
    struct server *s = *state;
    char url[128];
    struct sink *hook = sink_start_webhook(url, sizeof url);
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"u1\",\"plan\":\"trial\"},"
                "{\"external_id\":\"u2\",\"plan\":\"trial\"}]}",
                201, "{\"message\":\"success\",\"attributes_processed\":2}");
    struct resp r;
    http_post_rest(s, "/segments/create",
                   "{\"name\":\"trial\",\"filter\":{\"attribute\":\"plan\",\"op\":\"equals\","
                   "\"value\":\"trial\"}}",
                   &r);
    assert_int_equal(r.status, 201);
    char *segment = strdup(json_string_value(json_object_get(r.json, "segment_id")));
    resp_free(&r);
    char *body = strf("{\"name\":\"Hi\",\"segment_id\":\"%s\",\"schedule\":{\"type\":"
                      "\"immediate\"},\"message\":{\"webhook\":{\"url\":\"%s/hook\","
                      "\"method\":\"POST\",\"body\":\"hi\"}}}",
                      segment, url);
    http_post_rest(s, "/campaigns/create", body, &r);
    assert_int_equal(r.status, 201);
    char *campaign = strdup(json_string_value(json_object_get(r.json, "campaign_id")));
    resp_free(&r);
    assert_int_equal(sink_wait_requests(hook, 2, WAIT_MS), 2);
    assert_int_equal(wait_count(s, "SELECT count(*) FROM dispatches WHERE finished_at > 0", 1), 1);
    assert_int_equal(wait_count(s, "SELECT count(*) FROM deliveries", 0), 0);
    char *path = strf("/campaigns/details?campaign_id=%s", campaign);
    http_get_rest(s, path, &r);
    assert_int_equal(r.status, 200);
    assert_json_equal(json_object_get(r.json, "sends"), "2");
    assert_json_equal(json_object_get(r.json, "failures"), "0");
    resp_free(&r);
    server_stop(s);
    server_start(s);
    /* nothing is sent again after the restart: the finished dispatch needs no deliveries */
    http_get_rest(s, path, &r);
    assert_json_equal(json_object_get(r.json, "sends"), "2");
    resp_free(&r);
    assert_int_equal(sql_count(s, "SELECT count(*) FROM dispatches"), 1);
    assert_int_equal(sink_count(hook), 2);
    free(path);
    free(campaign);
    free(body);
    free(segment);
    sink_stop(hook);
}

static void test_heap_page_records_go_and_the_newest_syncs_of_a_cohort_stay(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track", "{\"attributes\":[{\"external_id\":\"u1\"}]}", 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
    struct resp r;
    http_post_rest(s, "/integrations/heap/create", "{\"name\":\"Heap\"}", &r);
    assert_int_equal(r.status, 201);
    char *id = strdup(json_string_value(json_object_get(r.json, "integration_id")));
    char *secret = strdup(json_string_value(json_object_get(r.json, "webhook_secret")));
    resp_free(&r);
    char *hook = strf("/heap/webhooks/%s", id);
    for (int i = 1; i <= 22; i++) {
        char *page = strf("{\"action_type\":\"segment.users.sync\",\"customer_config\":"
                          "{\"fields\":[]},\"data\":{\"segment\":{\"id\":42,\"name\":\"Trial\"},"
                          "\"sync_info\":{\"page_number\":1,\"total_pages\":1,\"sync_task_id\":"
                          "\"t-%02d\"},\"add\":[{\"id\":\"u1\"}]}}",
                          i);
        char *sig = heap_hash(secret, wall_ms(), page);
        char *h = strf("Heap-Hash: %s", sig);
        const char *headers[] = {h, NULL};
        http_req(s, "POST", hook, headers, page, &r);
        if (r.status != 200)
            fail_msg("page %d: %ld %s", i, r.status, r.body);
        resp_free(&r);
        free(h);
        free(sig);
        free(page);
    }
    assert_int_equal(wait_count(s, "SELECT count(*) FROM heap_pages", 0), 0);
    assert_int_equal(wait_count(s, "SELECT count(*) FROM heap_syncs", 20), 20);
    /* the cohort's details still show its newest syncs, and its members are untouched */
    http_get_rest(s, "/cohorts/details?partner=heap&cohort_id=42", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "heap_syncs")), 20);
    assert_json_equal(json_object_get(r.json, "size"), "1");
    resp_free(&r);
    server_stop(s);
    server_start(s);
    assert_int_equal(sql_count(s, "SELECT count(*) FROM heap_syncs"), 20);
    http_get_rest(s, "/cohorts/details?partner=heap&cohort_id=42", &r);
    assert_int_equal(json_array_size(json_object_get(r.json, "heap_syncs")), 20);
    assert_json_equal(json_object_get(r.json, "size"), "1");
    resp_free(&r);
    free(hook);
    free(secret);
    free(id);
}

static void test_bad_retention_options_are_refused(void **state) {
    (void)state;
    struct server s;
    server_init(&s);
    struct {
        const char *flag, *value, *want;
        const char *more; /* one more flag (given the value 5000), or NULL */
    } cases[] = {
        {"--retain-outbox", "7",
         "--retain-outbox must be a duration such as 30d, 12h, 15m, "
         "10s, 200ms or 0",
         NULL},
        {"--retain-deliveries", "3w",
         "--retain-deliveries must be a duration such as 30d, "
         "12h, 15m, 10s, 200ms or 0",
         NULL},
        {"--retention-interval", "0", "--retention-interval must be more than 0", NULL},
        {"--retain-heap-pages", "1s",
         "--retain-heap-pages must be 0 or at least "
         "--heap-max-past-ms (page records detect Heap's repeated "
         "pages within that window)",
         "--heap-max-past-ms"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[] = {"serve",
                              "--listen",
                              "127.0.0.1:0",
                              cases[i].flag,
                              cases[i].value,
                              cases[i].more,
                              cases[i].more ? "5000" : NULL,
                              NULL};
        char *err = NULL;
        int rc = run_cli_limited(&s, args, 30, NULL, &err);
        char *want = strf("cohortd serve: %s\n", cases[i].want);
        if (rc != 1 || strcmp(err, want) != 0) {
            print_error("exit %d (want 1)\nstderr: %s\nwant: %s\n", rc, err, want);
            fail();
        }
        free(want);
        free(err);
    }
    server_cleanup(&s);
}

int main(void) {
    for (size_t i = 0; i < sizeof fast_env / sizeof fast_env[0]; i++)
        setenv(fast_env[i][0], fast_env[i][1], 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_delivered_events_go_undelivered_ones_stay_also_after_restart, setup,
            server_teardown),
        cmocka_unit_test(test_events_without_a_current_stay_for_the_longest_horizon),
        cmocka_unit_test(test_dead_letters_go_unless_queued_for_replay_also_after_restart),
        cmocka_unit_test_setup_teardown(test_deliveries_of_finished_sends_go_and_the_counters_stay,
                                        setup, server_teardown),
        cmocka_unit_test_setup_teardown(
            test_heap_page_records_go_and_the_newest_syncs_of_a_cohort_stay, setup,
            server_teardown),
        cmocka_unit_test(test_bad_retention_options_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
