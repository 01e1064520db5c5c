/*
 * test_currents_delivery.c — the Currents dispatch loop against the real server and real HTTP
 * sinks on loopback: every Current moves on its own (a slow endpoint holds up no other
 * Current), any number of Currents is served (not only the first 256), and the request
 * timeout is the --currents-timeout-ms option; a store failure while dead-lettering loses
 * nothing. Each test starts its own server, so Currents
 * left behind by one test cannot load the next.
 */
#include "harness.h"
#include "sink.h"

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
                                   NULL};

static int setup(void **state) {
    *state = server_new(fast);
    return 0;
}

/* Starts a server with fast polling and the given retry base and request timeout (ms). */
static int setup_with(void **state, const char *retry_ms, const char *timeout_ms) {
    const char *args[] = {"--currents-poll-ms",
                          "50",
                          "--currents-retry-base-ms",
                          retry_ms,
                          "--currents-retry-max-ms",
                          retry_ms,
                          "--currents-timeout-ms",
                          timeout_ms,
                          NULL};
    *state = server_new(args);
    return 0;
}

/* A 300 ms request timeout. */
static int setup_short_timeout(void **state) {
    return setup_with(state, "100", "300");
}

/* A 1 s retry delay: long enough to look at a Current between a failure and its retry. */
static int setup_slow_retry(void **state) {
    return setup_with(state, "1000", "30000");
}

static json_int_t delivered(struct server *s, const char *id) {
    json_t *d = current_details(s, id);
    json_int_t n = json_integer_value(json_object_get(d, "delivered"));
    json_decref(d);
    return n;
}

/* Polls details until `field` of the Current is n; returns the last value seen. */
static json_int_t wait_counter(struct server *s, const char *id, const char *field, json_int_t n,
                               int ms) {
    json_int_t have = -1;
    for (int waited = 0; waited <= ms; waited += 20) {
        json_t *d = current_details(s, id);
        have = json_integer_value(json_object_get(d, field));
        json_decref(d);
        if (have == n)
            break;
        sleep_ms(20);
    }
    return have;
}

static void event(struct server *s, const char *user, const char *name) {
    char *body = strf("{\"events\":[{\"external_id\":\"%s\",\"name\":\"%s\",\"time\":"
                      "\"2024-05-02T08:15:00Z\"}]}",
                      user, name);
    struct resp r;
    http_post_rest(s, "/users/track", body, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    free(body);
}

/* Whether the server's log (stderr) holds `text`. */
static bool log_has(const struct server *s, const char *text) {
    char *path = strf("%s/server.log", s->data);
    FILE *f = fopen(path, "r");
    free(path);
    if (!f)
        return false;
    bool found = false;
    char line[4096];
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

static const char *name_of(const json_t *e) {
    return json_string_value(json_object_get(json_object_get(e, "properties"), "name"));
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A answers after 4 s. While A's first request waits, B delivers one batch, then a second
 * batch produced after the first was delivered: B's next batch does not wait for A. */
static void test_slow_endpoint_does_not_hold_up_other_currents(void **state) {
    struct server *s = *state;
    char url_a[128], url_b[128], id_a[64], id_b[64];
    struct sink *slow = sink_start(url_a, sizeof url_a);
    struct sink *quick = sink_start(url_b, sizeof url_b);
    sink_delay(slow, 4000);
    current_create(s, url_a, "[\"users.behaviors.CustomEvent\"]", 10, id_a);
    current_create(s, url_b, "[\"users.behaviors.CustomEvent\"]", 10, id_b);
    event(s, "sl", "first");
    assert_int_equal(sink_wait_requests(slow, 1, 5000), 1);
    double t0 = now_s();
    assert_int_equal(sink_wait_events(quick, 1, 3000), 1);
    assert_int_equal(wait_counter(s, id_b, "delivered", 1, 3000), 1);
    event(s, "sl", "second");
    assert_int_equal(sink_wait_events(quick, 2, 3000), 2);
    assert_int_equal(wait_counter(s, id_b, "delivered", 2, 3000), 2);
    double t1 = now_s();
    /* A's first request is still unanswered: nothing delivered, nothing else sent */
    assert_true(t1 - t0 < 3.5);
    assert_int_equal(delivered(s, id_a), 0);
    assert_int_equal(sink_count(slow), 1);
    assert_int_equal(sink_count(quick), 2);
    json_t *all = sink_accepted_events(quick);
    assert_string_equal(name_of(json_array_get(all, 0)), "first");
    assert_string_equal(name_of(json_array_get(all, 1)), "second");
    json_decref(all);
    /* and A delivers both once it answers */
    sink_delay(slow, 0);
    assert_int_equal(wait_counter(s, id_a, "delivered", 2, 15000), 2);
    sink_stop(slow);
    sink_stop(quick);
}

static void test_current_beyond_256_is_delivered(void **state) {
    struct server *s = *state;
    enum { N = 260 };
    char url[128], id[64];
    struct sink *k = sink_start(url, sizeof url);
    /* url is http://127.0.0.1:PORT/ingest?ws=a; Current i posts to /c<i> on the same sink */
    char *slash = strchr(url + strlen("http://"), '/');
    assert_non_null(slash);
    *slash = '\0';
    for (int i = 0; i < N; i++) {
        char *u = strf("%s/c%d", url, i);
        current_create(s, u, "[\"users.behaviors.CustomEvent\"]", 10, id);
        free(u);
    }
    event(s, "many", "hello");
    assert_int_equal(sink_wait_requests(k, N, 30000), N);
    bool seen[N] = {false};
    for (size_t i = 0; i < sink_count(k); i++) {
        const struct sink_request *q = sink_get(k, i);
        int n = -1;
        assert_int_equal(sscanf(q->path, "/c%d", &n), 1);
        assert_true(n >= 0 && n < N);
        assert_false(seen[n]);
        seen[n] = true;
        const json_t *events = json_object_get(q->body, "events");
        assert_int_equal(json_array_size(events), 1);
        assert_string_equal(name_of(json_array_get(events, 0)), "hello");
    }
    /* the last Current created (the 260th) records the delivery too */
    assert_int_equal(wait_counter(s, id, "delivered", 1, 5000), 1);
    sql_wait_currents_caught_up(s, NULL);
    assert_int_equal(sink_count(k), N);
    sink_stop(k);
}

/* --currents-timeout-ms bounds one request: a sink slower than it is a network error, retried
 * until the sink answers in time. */
static void test_request_timeout_is_the_currents_timeout_option(void **state) {
    struct server *s = *state;
    char url[128], id[64];
    struct sink *k = sink_start(url, sizeof url);
    sink_delay(k, 1500);
    current_create(s, url, "[\"users.behaviors.CustomEvent\"]", 10, id);
    event(s, "to", "late");
    json_t *d = NULL;
    for (int i = 0; i < 250; i++) {
        json_decref(d);
        d = current_details(s, id);
        if (json_integer_value(json_object_get(d, "retried")) >= 1)
            break;
        sleep_ms(20);
    }
    const char *err = json_string_value(json_object_get(d, "last_error"));
    assert_non_null(err);
    assert_non_null(strstr(err, "network: Timeout"));
    assert_json_equal(json_object_get(d, "delivered"), "0");
    json_decref(d);
    sink_delay(k, 0);
    assert_int_equal(wait_counter(s, id, "delivered", 1, 10000), 1);
    sink_stop(k);
}

/* The first store write after a restart's listen (COHORTD_FAULT_STORE_CALL=1:write, sqlite.c;
 * the harness then turns the snapshot worker off, whose first pass would write first) is the
 * dead letter of a refused event, and it fails: the event stays pending (not lost, position
 * not moved), a log line says so, and the retry dead-letters it for real, so a replay sends
 * it. */
static void test_store_failure_while_dead_lettering_keeps_the_event_pending(void **state) {
    struct server *s = *state;
    char url[128], id[64];
    struct sink *k = sink_start(url, sizeof url);
    current_create(s, url, "[\"users.behaviors.CustomEvent\"]", 10, id);
    sink_answer(k, 503, 0);
    event(s, "df", "poison");
    assert_int_equal(sink_wait_requests(k, 1, 5000), 1);
    server_stop(s);
    sink_answer(k, 0, 0);
    sink_reject_event(k, "poison");
    setenv("COHORTD_FAULT_STORE_CALL", "1:write", 1);
    server_start(s);
    unsetenv("COHORTD_FAULT_STORE_CALL");
    for (int i = 0; i < 250 && !log_has(s, "op=dead_letter error=store_unavailable"); i++)
        sleep_ms(20);
    assert_true(log_has(s, "op=dead_letter error=store_unavailable result=retry"));
    json_t *d = current_details(s, id);
    assert_json_equal(json_object_get(d, "dead_lettered"), "0");
    assert_json_equal(json_object_get(d, "delivered"), "0");
    assert_true(json_is_integer(json_object_get(d, "oldest_undelivered_age_s")));
    json_decref(d);
    /* the retry (after the 1 s backoff) refuses it again and this time records the letter */
    assert_int_equal(wait_counter(s, id, "dead_lettered", 1, 10000), 1);
    d = current_details(s, id);
    assert_json_equal(json_object_get(d, "oldest_undelivered_age_s"), "null");
    json_decref(d);
    sink_reject_event(k, NULL);
    char *body = strf("{\"current_id\":\"%s\"}", id);
    struct resp r;
    http_post_rest(s, "/currents/replay", body, &r);
    assert_resp(&r, 201, "{\"message\":\"success\",\"replayed\":1}");
    resp_free(&r);
    free(body);
    assert_int_equal(sink_wait_events(k, 1, 5000), 1);
    json_t *all = sink_accepted_events(k);
    assert_string_equal(name_of(json_array_get(all, 0)), "poison");
    json_decref(all);
    sink_stop(k);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_slow_endpoint_does_not_hold_up_other_currents, setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_current_beyond_256_is_delivered, setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_request_timeout_is_the_currents_timeout_option,
                                        setup_short_timeout, server_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_failure_while_dead_lettering_keeps_the_event_pending, setup_slow_retry,
            server_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
