/*
 * test_currents.c — Currents against the real server and a real HTTP sink on loopback:
 * batches, headers and ordering, event shapes key for key against the conformance samples,
 * every retry rule (5xx, 429 + Retry-After, 400 split + dead letter + replay, 413 split,
 * 401 failed and recovered), pause / resume, a new Current starting from new events, no loss
 * after kill -9, and the horizon turning undeliverable events into dead letters.
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
                                   "--currents-auth-retry-ms",
                                   "100",
                                   NULL};

static int setup(void **state) {
    *state = server_new(fast);
    return 0;
}

static void event(struct server *s, const char *user, const char *name) {
    char *body = strf("{\"events\":[{\"external_id\":\"%s\",\"name\":\"%s\",\"time\":"
                      "\"2024-05-02T08:15:00Z\",\"properties\":{\"step\":\"%s\"}}]}",
                      user, name, name);
    struct resp r;
    http_post_rest(s, "/users/track", body, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    free(body);
}

static const char *name_of(const json_t *e) {
    return json_string_value(json_object_get(json_object_get(e, "properties"), "name"));
}

static void test_batches_headers_types_and_order(void **state) {
    struct server *s = *state;
    char url[128], id[64];
    struct sink *k = sink_start(url, sizeof url);
    current_create(s, url, "[\"users.behaviors.CustomEvent\",\"users.behaviors.Purchase\"]", 2, id);
    event(s, "c1", "e1");
    event(s, "c1", "e2");
    struct resp r;
    http_post_rest(s, "/devices/track", "{\"device_id\":\"cd1\",\"session_start\":true}", &r);
    resp_free(&r);
    event(s, "c1", "e3");
    http_post_rest(s, "/users/track",
                   "{\"purchases\":[{\"external_id\":\"c1\",\"product_id\":\"p\",\"currency\":"
                   "\"EUR\",\"price\":9.5,\"time\":\"2024-05-02T08:15:00Z\"}]}",
                   &r);
    resp_free(&r);
    assert_int_equal(sink_wait_events(k, 4, 5000), 4);
    sql_wait_currents_caught_up(s, id);
    json_t *all = sink_accepted_events(k);
    assert_int_equal(json_array_size(all), 4);
    assert_string_equal(name_of(json_array_get(all, 0)), "e1");
    assert_string_equal(name_of(json_array_get(all, 1)), "e2");
    assert_string_equal(name_of(json_array_get(all, 2)), "e3");
    assert_string_equal(json_string_value(json_object_get(json_array_get(all, 3), "event_type")),
                        "users.behaviors.Purchase");
    json_decref(all);
    for (size_t i = 0; i < sink_count(k); i++) {
        const struct sink_request *q = sink_get(k, i);
        assert_string_equal(q->authorization, "Bearer tok-1");
        assert_string_equal(q->version, "1");
        assert_string_equal(q->content_type, "application/json");
        assert_true(json_array_size(json_object_get(q->body, "events")) <= 2);
    }
    json_t *d = current_details(s, id);
    assert_json_equal(json_object_get(d, "delivered"), "4");
    assert_json_equal(json_object_get(d, "state"), "\"active\"");
    assert_json_equal(json_object_get(d, "last_error"), "null");
    assert_json_equal(json_object_get(d, "oldest_undelivered_age_s"), "null");
    json_decref(d);
    sink_stop(k);
}

/* Every key of ours exists in the sample with the same JSON kind (numbers alike). */
static void test_event_shapes_match_conformance_samples(void **state) {
    struct server *s = *state;
    char url[128], id[64];
    struct sink *k = sink_start(url, sizeof url);
    current_create(s, url,
                   "[\"users.behaviors.CustomEvent\",\"users.behaviors.Purchase\","
                   "\"users.behaviors.app.SessionStart\"]",
                   100, id);
    event(s, "shape", "opened");
    struct resp r;
    http_post_rest(s, "/users/track",
                   "{\"purchases\":[{\"external_id\":\"shape\",\"product_id\":\"p\",\"currency\":"
                   "\"USD\",\"price\":3.14,\"time\":\"2024-05-02T08:15:00Z\",\"properties\":"
                   "{\"k\":1}}]}",
                   &r);
    resp_free(&r);
    http_post_rest(s, "/devices/track",
                   "{\"device_id\":\"shape-dev\",\"session_start\":true,\"app_id\":\"app-1\","
                   "\"platform\":\"ios\"}",
                   &r);
    resp_free(&r);
    assert_int_equal(sink_wait_events(k, 3, 5000), 3);
    json_t *all = sink_accepted_events(k);
    const char *required[][5] = {
        {"users.behaviors.CustomEvent", "name", "custom_properties", NULL, NULL},
        {"users.behaviors.Purchase", "product_id", "price", "currency", "purchase_properties"},
        {"users.behaviors.app.SessionStart", "app_id", "session_id", NULL, NULL},
    };
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_array_get(all, i);
        const char *type = json_string_value(json_object_get(e, "event_type"));
        assert_conformant_event(e);
        for (size_t t = 0; t < 3; t++) {
            if (strcmp(required[t][0], type) != 0)
                continue;
            for (int f = 1; f < 5 && required[t][f]; f++)
                if (!json_object_get(json_object_get(e, "properties"), required[t][f]))
                    fail_msg("%s lacks properties.%s", type, required[t][f]);
        }
    }
    json_decref(all);
    sink_stop(k);
}

static void test_5xx_and_429_are_retried_until_delivered_once(void **state) {
    struct server *s = *state;
    char url[128], id[64];
    struct sink *k = sink_start(url, sizeof url);
    current_create(s, url, "[\"users.behaviors.CustomEvent\"]", 10, id);
    sink_answer(k, 500, 0);
    event(s, "r1", "a");
    event(s, "r1", "b");
    for (int i = 0; i < 200 && sink_count(k) < 3; i++)
        sleep_ms(20);
    assert_true(sink_count(k) >= 3);
    json_t *d = current_details(s, id);
    assert_json_equal(json_object_get(d, "last_error"), "\"HTTP 500\"");
    assert_true(json_integer_value(json_object_get(d, "retried")) >= 2);
    assert_true(json_is_integer(json_object_get(d, "oldest_undelivered_age_s")));
    json_decref(d);
    size_t before = sink_count(k);
    sink_answer(k, 429, 1);
    for (int i = 0; i < 100 && sink_count(k) == before; i++)
        sleep_ms(20);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sink_answer(k, 0, 0);
    assert_int_equal(sink_wait_events(k, 2, 5000), 2);
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* the 429 asked for a second: the retry honoured it, not the 50 ms backoff */
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(waited > 0.5);
    sql_wait_currents_caught_up(s, id);
    json_t *all = sink_accepted_events(k);
    assert_int_equal(json_array_size(all), 2);
    json_decref(all);
    d = current_details(s, id);
    assert_json_equal(json_object_get(d, "delivered"), "2");
    assert_json_equal(json_object_get(d, "last_error"), "null");
    json_decref(d);
    sink_stop(k);
}

static void test_400_splits_dead_letters_the_bad_event_and_replay_resends_it(void **state) {
    struct server *s = *state;
    char url[128], id[64];
    struct sink *k = sink_start(url, sizeof url);
    current_create(s, url, "[\"users.behaviors.CustomEvent\"]", 10, id);
    sink_answer(k, 503, 0);
    event(s, "p1", "ok1");
    event(s, "p1", "poison");
    event(s, "p1", "ok2");
    sink_reject_event(k, "poison");
    sink_answer(k, 0, 0);
    assert_int_equal(sink_wait_events(k, 2, 5000), 2);
    sql_wait_currents_caught_up(s, id);
    json_t *all = sink_accepted_events(k);
    assert_int_equal(json_array_size(all), 2);
    assert_string_equal(name_of(json_array_get(all, 0)), "ok1");
    assert_string_equal(name_of(json_array_get(all, 1)), "ok2");
    json_decref(all);
    json_t *d = current_details(s, id);
    assert_json_equal(json_object_get(d, "dead_lettered"), "1");
    assert_json_equal(json_object_get(d, "delivered"), "2");
    json_decref(d);
    sink_reject_event(k, NULL);
    char *body = strf("{\"current_id\":\"%s\"}", id);
    struct resp r;
    http_post_rest(s, "/currents/replay", body, &r);
    assert_resp(&r, 201, "{\"message\":\"success\",\"replayed\":1}");
    resp_free(&r);
    free(body);
    assert_int_equal(sink_wait_events(k, 3, 5000), 3);
    all = sink_accepted_events(k);
    assert_string_equal(name_of(json_array_get(all, 2)), "poison");
    json_decref(all);
    sink_stop(k);
}

static void test_413_splits_batches_smaller(void **state) {
    struct server *s = *state;
    char url[128], id[64];
    struct sink *k = sink_start(url, sizeof url);
    current_create(s, url, "[\"users.behaviors.CustomEvent\"]", 8, id);
    sink_answer(k, 503, 0);
    for (int i = 0; i < 5; i++)
        event(s, "big", "m");
    sink_max_events(k, 2);
    sink_answer(k, 0, 0);
    assert_int_equal(sink_wait_events(k, 5, 5000), 5);
    for (size_t i = 0; i < sink_count(k); i++) {
        const struct sink_request *q = sink_get(k, i);
        if (q->status == 200)
            assert_true(json_array_size(json_object_get(q->body, "events")) <= 2);
    }
    json_t *d = current_details(s, id);
    assert_json_equal(json_object_get(d, "dead_lettered"), "0");
    json_decref(d);
    sink_stop(k);
}

static void test_401_marks_the_current_failed_until_credentials_work(void **state) {
    struct server *s = *state;
    char url[128], id[64];
    struct sink *k = sink_start(url, sizeof url);
    current_create(s, url, "[\"users.behaviors.CustomEvent\"]", 10, id);
    sink_answer(k, 401, 0);
    event(s, "au", "x");
    json_t *d = NULL;
    for (int i = 0; i < 100; i++) {
        json_decref(d);
        d = current_details(s, id);
        if (strcmp(json_string_value(json_object_get(d, "state")), "failed") == 0)
            break;
        sleep_ms(20);
    }
    assert_json_equal(json_object_get(d, "state"), "\"failed\"");
    assert_json_equal(json_object_get(d, "last_error"), "\"HTTP 401\"");
    json_decref(d);
    sink_answer(k, 0, 0);
    assert_int_equal(sink_wait_events(k, 1, 5000), 1);
    sql_wait_currents_caught_up(s, id);
    d = current_details(s, id);
    assert_json_equal(json_object_get(d, "state"), "\"active\"");
    json_decref(d);
    sink_stop(k);
}

/* POST /currents/create of a custom_http Current to url with token (NULL: none); asserts 201
 * and returns the answer (new reference); copies the id into id (64 bytes). */
static json_t *create_probed(struct server *s, const char *url, const char *token, char *id) {
    char *tok = token ? strf(",\"bearer_token\":\"%s\"", token) : strf("%s", "");
    char *body = strf("{\"name\":\"probed\",\"type\":\"custom_http\",\"endpoint\":\"%s\"%s,"
                      "\"event_types\":[\"users.behaviors.CustomEvent\"]}",
                      url, tok);
    struct resp r;
    http_post_rest(s, "/currents/create", body, &r);
    if (r.status != 201)
        fail_msg("create current: %ld %s", r.status, r.body);
    json_t *j = json_incref(r.json);
    snprintf(id, 64, "%s", json_string_value(json_object_get(j, "current_id")));
    resp_free(&r);
    free(body);
    free(tok);
    return j;
}

/* Asserts a credential_check object: result, status ("null" or a number), error (JSON), and a
 * checked_at time within the last minute. */
static void assert_check(const json_t *check, const char *result, const char *status,
                         const char *error) {
    assert_true(json_is_object(check));
    assert_int_equal(json_object_size(check), 4);
    assert_json_equal(json_object_get(check, "result"), result);
    assert_json_equal(json_object_get(check, "status"), status);
    assert_json_equal(json_object_get(check, "error"), error);
    const char *at = json_string_value(json_object_get(check, "checked_at"));
    assert_non_null(at);
    assert_int_equal(strlen(at), 24); /* 2026-12-02T14:50:00.123Z */
}

/* Issue 16 (BD-CURRENTS-ISV): a receiver answers an empty batch by checking Authorization
 * alone, and Braze uses that to validate a connector's credentials; 404 is credential-class
 * like 401 / 403. Creating a Current sends that probe; its answer is in the create answer
 * and in details, also after a restart, and the Current is created whatever the answer. */
static void test_create_sends_the_empty_batch_credential_probe_and_shows_its_answer(void **state) {
    struct server *s = *state;
    char url[128], id[64];
    struct sink *k = sink_start(url, sizeof url);
    sink_require_auth(k, "Bearer good-token");
    json_t *j = create_probed(s, url, "good-token", id);
    assert_int_equal(json_object_size(j), 3);
    assert_json_equal(json_object_get(j, "message"), "\"success\"");
    assert_check(json_object_get(j, "credential_check"), "\"ok\"", "200", "null");
    json_decref(j);
    assert_int_equal(sink_probe_count(k), 1);
    const struct sink_request *q = sink_probe_get(k, 0);
    assert_string_equal(q->method, "POST");
    assert_string_equal(q->raw, "{\"events\":[]}");
    assert_string_equal(q->authorization, "Bearer good-token");
    assert_string_equal(q->version, "1");
    assert_string_equal(q->content_type, "application/json");
    json_t *d = current_details(s, id);
    assert_check(json_object_get(d, "credential_check"), "\"ok\"", "200", "null");
    assert_json_equal(json_object_get(d, "state"), "\"active\"");
    json_decref(d);

    char bad_id[64], none_id[64], gone_id[64], down_id[64];
    j = create_probed(s, url, "wrong-token", bad_id);
    assert_check(json_object_get(j, "credential_check"), "\"credentials_refused\"", "401",
                 "\"HTTP 401\"");
    json_decref(j);
    j = create_probed(s, url, NULL, none_id);
    assert_check(json_object_get(j, "credential_check"), "\"credentials_refused\"", "401",
                 "\"HTTP 401\"");
    json_decref(j);
    assert_int_equal(sink_probe_count(k), 3);
    assert_string_equal(sink_probe_get(k, 2)->authorization, "");
    /* a 404 is a credential failure too (a wrong endpoint path) */
    char url404[128];
    struct sink *k404 = sink_start(url404, sizeof url404);
    sink_answer(k404, 404, 0);
    j = create_probed(s, url404, "t", gone_id);
    assert_check(json_object_get(j, "credential_check"), "\"credentials_refused\"", "404",
                 "\"HTTP 404\"");
    json_decref(j);
    /* nobody listening: no verdict on the credentials */
    char closed[128];
    struct sink *tmp = sink_start(closed, sizeof closed);
    sink_stop(tmp);
    j = create_probed(s, closed, "t", down_id);
    const json_t *check = json_object_get(j, "credential_check");
    assert_json_equal(json_object_get(check, "result"), "\"failed\"");
    assert_json_equal(json_object_get(check, "status"), "null");
    assert_memory_equal(json_string_value(json_object_get(check, "error")), "network: ", 9);
    json_decref(j);
    /* no batch was sent by the probes: nothing is in the request logs */
    assert_int_equal(sink_count(k), 0);
    assert_int_equal(sink_count(k404), 0);

    server_stop(s);
    server_start(s);
    d = current_details(s, bad_id);
    assert_check(json_object_get(d, "credential_check"), "\"credentials_refused\"", "401",
                 "\"HTTP 401\"");
    json_decref(d);
    d = current_details(s, id);
    assert_check(json_object_get(d, "credential_check"), "\"ok\"", "200", "null");
    json_decref(d);

    /* 404 while delivering: the Current is failed (credential class), as for 401 */
    event(s, "nf", "x");
    d = NULL;
    for (int i = 0; i < 250; i++) {
        json_decref(d);
        d = current_details(s, gone_id);
        if (strcmp(json_string_value(json_object_get(d, "state")), "failed") == 0)
            break;
        sleep_ms(20);
    }
    assert_json_equal(json_object_get(d, "state"), "\"failed\"");
    assert_json_equal(json_object_get(d, "last_error"), "\"HTTP 404\"");
    json_decref(d);
    const char *ids[] = {id, bad_id, none_id, gone_id, down_id};
    for (size_t i = 0; i < 5; i++) {
        char *body = strf("{\"current_id\":\"%s\"}", ids[i]);
        post_status(s, "/currents/delete", body, 201);
        free(body);
    }
    sink_stop(k404);
    sink_stop(k);
}

static void test_pause_resume_and_new_currents_start_from_new_events(void **state) {
    struct server *s = *state;
    char url[128], id[64];
    struct sink *k = sink_start(url, sizeof url);
    event(s, "pr", "before");
    current_create(s, url, "[\"users.behaviors.CustomEvent\"]", 10, id);
    char *body = strf("{\"current_id\":\"%s\"}", id);
    struct resp r;
    http_post_rest(s, "/currents/pause", body, &r);
    assert_resp(&r, 201, "{\"message\":\"success\"}");
    resp_free(&r);
    /* an active Current on the same events: once it is past "after", so is the dispatcher */
    char witness_url[128], witness[64];
    struct sink *w = sink_start(witness_url, sizeof witness_url);
    current_create(s, witness_url, "[\"users.behaviors.CustomEvent\"]", 10, witness);
    event(s, "pr", "after");
    sql_wait_currents_caught_up(s, witness);
    char *witness_body = strf("{\"current_id\":\"%s\"}", witness);
    post_status(s, "/currents/delete", witness_body, 201);
    free(witness_body);
    sink_stop(w);
    assert_int_equal(sink_count(k), 0);
    http_post_rest(s, "/currents/resume", body, &r);
    assert_resp(&r, 201, "{\"message\":\"success\"}");
    resp_free(&r);
    assert_int_equal(sink_wait_events(k, 1, 5000), 1);
    sql_wait_currents_caught_up(s, id);
    json_t *all = sink_accepted_events(k);
    assert_int_equal(json_array_size(all), 1);
    assert_string_equal(name_of(json_array_get(all, 0)), "after");
    json_decref(all);
    http_post_rest(s, "/currents/delete", body, &r);
    assert_resp(&r, 201, "{\"message\":\"success\"}");
    resp_free(&r);
    http_post_rest(s, "/currents/delete", body, &r);
    assert_resp(&r, 404, "{\"message\":\"Not Found\"}");
    resp_free(&r);
    free(body);
    sink_stop(k);
}

static void test_nothing_is_lost_across_kill_9(void **state) {
    struct server *s = *state;
    char url[128], id[64];
    struct sink *k = sink_start(url, sizeof url);
    current_create(s, url, "[\"users.behaviors.CustomEvent\"]", 3, id);
    sink_answer(k, 0, 0);
    for (int i = 0; i < 30; i++)
        event(s, "crash", "n");
    server_kill(s);
    server_start(s);
    assert_true(sink_wait_events(k, 30, 10000) >= 30);
    sql_wait_currents_caught_up(s, id);
    json_t *all = sink_accepted_events(k);
    json_t *ids = json_object();
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e)
        json_object_set_new(ids, json_string_value(json_object_get(e, "id")), json_true());
    assert_int_equal(json_object_size(ids), 30);
    /* bounded duplicates: at most one batch is sent again after the crash */
    assert_true(json_array_size(all) <= 33);
    json_decref(ids);
    json_decref(all);
    sink_stop(k);
}

static void test_create_validates_input(void **state) {
    struct server *s = *state;
    struct resp r;
    http_post_rest(s, "/currents/create",
                   "{\"name\":\"x\",\"type\":\"custom_http\",\"endpoint\":\"ftp://x\","
                   "\"event_types\":[\"users.behaviors.CustomEvent\"]}",
                   &r);
    assert_resp(&r, 400, "{\"message\":\"endpoint: must be an http:// or https:// URL\"}");
    resp_free(&r);
    http_post_rest(s, "/currents/create",
                   "{\"name\":\"x\",\"type\":\"custom_http\",\"endpoint\":\"http://127.0.0.1:1\","
                   "\"event_types\":[\"users.behaviors.Nope\"]}",
                   &r);
    assert_resp(&r, 400, "{\"message\":\"event_types[0]: unknown event type\"}");
    resp_free(&r);
    http_post_rest(s, "/currents/create",
                   "{\"name\":\"x\",\"type\":\"kafka\",\"endpoint\":\"http://127.0.0.1:1\","
                   "\"event_types\":[\"users.behaviors.CustomEvent\"]}",
                   &r);
    assert_resp(&r, 400, "{\"message\":\"type: must be \\\"heap\\\" or \\\"custom_http\\\"\"}");
    resp_free(&r);
    http_post_rest(s, "/currents/create",
                   "{\"name\":\"x\",\"type\":\"heap\",\"endpoint\":\"http://127.0.0.1:1\","
                   "\"event_types\":[\"users.behaviors.CustomEvent\"],\"batch_size\":0}",
                   &r);
    assert_resp(&r, 400, "{\"message\":\"batch_size: must be an integer from 1 to 10000\"}");
    resp_free(&r);
}

static void test_undeliverable_events_become_dead_letters_past_the_horizon(void **state) {
    (void)state;
    struct server h;
    server_init(&h);
    const char *args[] = {"--currents-poll-ms",
                          "50",
                          "--currents-retry-base-ms",
                          "50",
                          "--currents-retry-max-ms",
                          "100",
                          "--currents-horizon-ms",
                          "300",
                          NULL};
    for (int i = 0; args[i]; i++)
        h.extra_args[i] = args[i];
    server_start(&h);
    char url[128], id[64];
    struct sink *k = sink_start(url, sizeof url);
    current_create(&h, url, "[\"users.behaviors.CustomEvent\"]", 10, id);
    sink_answer(k, 500, 0);
    event(&h, "hz", "late");
    json_t *d = NULL;
    for (int i = 0; i < 150; i++) {
        json_decref(d);
        d = current_details(&h, id);
        if (json_integer_value(json_object_get(d, "dead_lettered")) == 1)
            break;
        sleep_ms(20);
    }
    assert_json_equal(json_object_get(d, "dead_lettered"), "1");
    assert_json_equal(json_object_get(d, "delivered"), "0");
    json_decref(d);
    sink_stop(k);
    server_cleanup(&h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_headers_types_and_order),
        cmocka_unit_test(test_event_shapes_match_conformance_samples),
        cmocka_unit_test(test_5xx_and_429_are_retried_until_delivered_once),
        cmocka_unit_test(test_400_splits_dead_letters_the_bad_event_and_replay_resends_it),
        cmocka_unit_test(test_413_splits_batches_smaller),
        cmocka_unit_test(test_401_marks_the_current_failed_until_credentials_work),
        cmocka_unit_test(test_create_sends_the_empty_batch_credential_probe_and_shows_its_answer),
        cmocka_unit_test(test_pause_resume_and_new_currents_start_from_new_events),
        cmocka_unit_test(test_nothing_is_lost_across_kill_9),
        cmocka_unit_test(test_create_validates_input),
        cmocka_unit_test(test_undeliverable_events_become_dead_letters_past_the_horizon),
    };
    return cmocka_run_group_tests(tests, setup, server_teardown);
}
