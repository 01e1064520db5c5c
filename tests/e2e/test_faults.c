/*
 * test_faults.c — "fail store call k, for every k": a request runs on a server started with
 * COHORTD_FAULT_STORE_CALL=k (the kth write, begin or commit after the server listens fails as
 * an I/O error would), for k = 1, 2, … until k passes the number of calls the request makes.
 * Every failing k must answer 5xx and leave the state exactly as before — in memory (the answer
 * of a read right after) and in the store (the same read after a restart without faults); the
 * first k that succeeds must give the full answer and the full change, and no fault may have
 * been swallowed on the way (an injected fault in the log of a successful request is a failed
 * write someone ignored). Needs a build with COHORTD_FAULTS (the sanitizer test build).
 */
#include "harness.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CALLS 400 /* a request making more store calls than this is a bug of its own */

struct scenario {
    /* the request under test */
    void (*send)(struct server *s, struct resp *r);
    /* the state it changes, as a string (an exact response body, store counts) */
    char *(*state)(struct server *s);
    long ok_status;
    const char *ok_body;
};

static int count_of(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static int injected_faults(const struct server *s) {
    char *log = server_log(s);
    int n = count_of(log, "error=\"injected fault\"");
    free(log);
    return n;
}

static void start_with_fault(struct server *s, int k) {
    char *v = strf("%d", k);
    setenv("COHORTD_FAULT_STORE_CALL", v, 1);
    server_start(s);
    unsetenv("COHORTD_FAULT_STORE_CALL");
    free(v);
}

/* Runs the loop on the stopped server s; returns the number of k that failed; *after receives
 * the state after the successful run (free it). */
static int fail_every_call(struct server *s, const struct scenario *sc, char **after) {
    server_start(s);
    char *before = sc->state(s);
    server_stop(s);
    int failed = 0;
    for (int k = 1;; k++) {
        if (k > MAX_CALLS)
            fail_msg("the request still fails with COHORTD_FAULT_STORE_CALL=%d", k);
        int faults_before = injected_faults(s);
        start_with_fault(s, k);
        struct resp r;
        sc->send(s, &r);
        bool hit = injected_faults(s) > faults_before;
        if (r.status >= 200 && r.status < 300) {
            if (hit)
                fail_msg("k=%d: the store call failed but the request answered %ld %s", k, r.status,
                         r.body);
            assert_resp(&r, sc->ok_status, sc->ok_body);
            resp_free(&r);
            char *now = sc->state(s);
            server_stop(s);
            server_start(s);
            char *restarted = sc->state(s);
            assert_string_equal(restarted, now);
            assert_string_not_equal(now, before);
            server_stop(s);
            free(restarted);
            free(before);
            *after = now;
            return failed;
        }
        if (!hit)
            fail_msg("k=%d: no fault was injected but the request answered %ld %s", k, r.status,
                     r.body);
        if (r.status < 500)
            fail_msg("k=%d: a failed store call answered %ld %s (want 5xx)", k, r.status, r.body);
        resp_free(&r);
        char *now = sc->state(s);
        if (strcmp(now, before) != 0)
            fail_msg("k=%d: after the failed request the state is\n%s\nnot\n%s", k, now, before);
        free(now);
        server_stop(s);
        server_start(s);
        now = sc->state(s);
        if (strcmp(now, before) != 0)
            fail_msg("k=%d: after a restart the state is\n%s\nnot\n%s", k, now, before);
        free(now);
        server_stop(s);
        failed++;
    }
}

static void post_ok(struct server *s, const char *path, const char *body) {
    struct resp r;
    http_post_rest(s, path, body, &r);
    if (r.status != 201 && r.status != 200)
        fail_msg("POST %s answered %ld %s", path, r.status, r.body);
    resp_free(&r);
}

/* ---- (a) a partner cohort import ---- */

static void cohort_changes(struct server *s, const char *changes, struct resp *r) {
    char *body = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\","
                      "\"cohort_id\":\"faulty\",\"cohort_changes\":%s}",
                      s->partner_key, s->import_key, changes);
    http_req(s, "POST", "/partners/heap/cohorts/users", NULL, body, r);
    free(body);
}

static void send_import(struct server *s, struct resp *r) {
    cohort_changes(s,
                   "[{\"user_ids\":[\"cat\",\"dan\",\"ghost\"]},"
                   "{\"user_ids\":[\"ann\"],\"should_remove\":true}]",
                   r);
}

/* The cohort as the API shows it, plus the durable layout (log rows since the checkpoint). */
static char *cohort_state(struct server *s) {
    struct resp r;
    http_get_rest(s, "/cohorts/details?partner=heap&cohort_id=faulty", &r);
    assert_int_equal(r.status, 200);
    char *out = strf("%s log_rows=%ld", r.body, sql_count(s, "SELECT count(*) FROM cohort_log"));
    resp_free(&r);
    return out;
}

/* Each test gets an initialised data directory in *state; the teardown stops whatever server
 * still runs after a failure and removes the directory. */
static int setup(void **state) {
    struct server *s = calloc(1, sizeof *s);
    server_init(s);
    *state = s;
    return 0;
}

static int teardown(void **state) {
    server_cleanup(*state);
    free(*state);
    return 0;
}

static void test_failing_any_store_call_of_a_cohort_import_changes_nothing(void **state) {
#ifndef COHORTD_FAULTS
    skip();
#endif
    struct server *s = *state;
    server_start(s);
    post_ok(s, "/users/track",
            "{\"attributes\":[{\"external_id\":\"ann\"},{\"external_id\":\"bob\"},"
            "{\"external_id\":\"cat\"},{\"external_id\":\"dan\"}]}");
    /* COHORT_CHECKPOINT_EVERY - 1 (63) requests before, so the one under test also writes a
     * checkpoint and truncates the log */
    for (int i = 0; i < 63; i++) {
        struct resp r;
        cohort_changes(s, i % 2 ? "[{\"user_ids\":[\"bob\"]}]" : "[{\"user_ids\":[\"ann\"]}]", &r);
        assert_int_equal(r.status, 201);
        resp_free(&r);
    }
    assert_int_equal(sql_count(s, "SELECT count(*) FROM cohort_log"), 63);
    server_stop(s);
    struct scenario sc = {send_import, cohort_state, 201,
                          "{\"message\":\"success\",\"ids_received\":4,\"ids_matched\":3,"
                          "\"ids_unmatched\":1,\"users_added\":2,\"users_removed\":1}"};
    char *after = NULL;
    int failed = fail_every_call(s, &sc, &after);
    print_message("cohort import: %d store calls, each failed once\n", failed);
    assert_true(failed >= 3);
    /* the change whole: bob, cat, dan; the log folded into the checkpoint */
    server_start(s);
    struct resp r;
    http_get_rest(s, "/cohorts/details?partner=heap&cohort_id=faulty", &r);
    assert_json_equal(json_object_get(r.json, "size"), "3");
    resp_free(&r);
    assert_int_equal(sql_count(s, "SELECT count(*) FROM cohort_log"), 0);
    free(after);
}

/* ---- (b) /users/track creating users with attributes and events ---- */

static void send_track(struct server *s, struct resp *r) {
    http_post_rest(s, "/users/track",
                   "{\"attributes\":[{\"external_id\":\"t0\",\"plan\":\"gold\"},"
                   "{\"external_id\":\"t1\",\"plan\":\"free\",\"n\":3},"
                   "{\"user_alias\":{\"alias_name\":\"t2@x\",\"alias_label\":\"email\"},"
                   "\"_update_existing_only\":false,\"n\":1}],"
                   "\"events\":[{\"external_id\":\"t1\",\"name\":\"opened\","
                   "\"time\":\"2026-01-01T00:00:00Z\"},{\"external_id\":\"t3\",\"name\":"
                   "\"opened\",\"time\":\"2026-01-02T00:00:00Z\",\"properties\":{\"k\":\"v\"}}],"
                   "\"purchases\":[{\"external_id\":\"t0\",\"product_id\":\"p\",\"currency\":"
                   "\"USD\",\"price\":2.5,\"time\":\"2026-01-03T00:00:00Z\"}]}",
                   r);
}

static char *users_state(struct server *s) {
    struct resp r;
    http_post_rest(s, "/users/export/ids",
                   "{\"external_ids\":[\"t0\",\"t1\",\"t3\"],\"user_aliases\":[{\"alias_name\":"
                   "\"t2@x\",\"alias_label\":\"email\"}],\"fields_to_export\":[\"external_id\","
                   "\"custom_attributes\",\"custom_events\",\"purchases\",\"user_aliases\"]}",
                   &r);
    assert_int_equal(r.status, 200);
    char *out = strf("%s users=%ld outbox=%ld", r.body, sql_count(s, "SELECT count(*) FROM users"),
                     sql_count(s, "SELECT count(*) FROM outbox"));
    resp_free(&r);
    return out;
}

static void test_failing_any_store_call_of_users_track_changes_nothing(void **state) {
#ifndef COHORTD_FAULTS
    skip();
#endif
    struct server *s = *state;
    server_start(s);
    post_ok(s, "/users/track", "{\"attributes\":[{\"external_id\":\"t0\",\"plan\":\"basic\"}]}");
    server_stop(s);
    struct scenario sc = {send_track, users_state, 201,
                          "{\"message\":\"success\",\"attributes_processed\":3,"
                          "\"events_processed\":2,\"purchases_processed\":1}"};
    char *after = NULL;
    int failed = fail_every_call(s, &sc, &after);
    print_message("users/track: %d store calls, each failed once\n", failed);
    assert_true(failed >= 3);
    server_start(s);
    char *body = strf("{\"external_ids\":[\"t0\",\"t1\",\"t3\"],\"fields_to_export\":"
                      "[\"external_id\",\"custom_attributes\"]}");
    struct resp r;
    http_post_rest(s, "/users/export/ids", body, &r);
    assert_int_equal(r.status, 200);
    assert_json_equal(json_object_get(r.json, "users"),
                      "[{\"external_id\":\"t0\",\"custom_attributes\":{\"plan\":\"gold\"}},"
                      "{\"external_id\":\"t1\",\"custom_attributes\":{\"plan\":\"free\",\"n\":3}},"
                      "{\"external_id\":\"t3\"}]");
    resp_free(&r);
    free(body);
    free(after);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_failing_any_store_call_of_a_cohort_import_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_any_store_call_of_users_track_changes_nothing,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
