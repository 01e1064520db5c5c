/*
 * test_heap_webhook.c — Heap's segment.users.sync webhook against the real server, signed by
 * this test's own signer (OpenSSL HMAC, independent of cohortd's verifier): multi-page syncs in
 * and out of order, replays, the conformance sample, forged / stale / future / missing
 * signatures, malformed bodies, other action types, unknown integrations, rotated secrets, the
 * alias mapping, and 429 when too many pages arrive at once. Each checks the answer and the cohort
 * afterwards.
 */
#include "harness.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct fixture {
    struct server s;
    char id[64];
    char secret[80];
};

static void deliver(struct fixture *f, const char *secret, long long ts, const char *body,
                    struct resp *r) {
    char *sig = heap_hash(secret, ts, body);
    char *h = strf("Heap-Hash: %s", sig);
    const char *headers[] = {h, NULL};
    char *path = strf("/heap/webhooks/%s", f->id);
    http_req(&f->s, "POST", path, headers, body, r);
    free(sig);
    free(h);
    free(path);
}

static void deliver_expect(struct fixture *f, const char *body, long status, const char *expected) {
    struct resp r;
    deliver(f, f->secret, wall_ms(), body, &r);
    assert_resp(&r, status, expected);
    resp_free(&r);
}

static void create_integration(struct fixture *f, const char *body) {
    struct resp r;
    http_post_rest(&f->s, "/integrations/heap/create", body, &r);
    assert_int_equal(r.status, 201);
    snprintf(f->id, sizeof f->id, "%s",
             json_string_value(json_object_get(r.json, "integration_id")));
    snprintf(f->secret, sizeof f->secret, "%s",
             json_string_value(json_object_get(r.json, "webhook_secret")));
    resp_free(&r);
}

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    server_up(&f->s);
    struct resp r;
    http_post_rest(&f->s, "/users/track",
                   "{\"attributes\":[{\"external_id\":\"user1@email.com\"},{\"external_id\":"
                   "\"user2@email.com\"},{\"external_id\":\"user3@email.com\"},{\"external_id\":"
                   "\"user4@email.com\"},{\"external_id\":\"u5\"},{\"external_id\":\"u6\"}]}",
                   &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    create_integration(f, "{\"name\":\"Heap\"}");
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    server_cleanup(&f->s);
    free(f);
    return 0;
}

static json_t *details(struct fixture *f, const char *cohort) {
    char *path = strf("/cohorts/details?partner=heap&cohort_id=%s", cohort);
    struct resp r;
    http_get_rest(&f->s, path, &r);
    free(path);
    json_t *j = r.status == 200 ? json_incref(r.json) : NULL;
    resp_free(&r);
    return j;
}

static long size_of(struct fixture *f, const char *cohort) {
    json_t *d = details(f, cohort);
    long n = d ? (long)json_integer_value(json_object_get(d, "size")) : -1;
    json_decref(d);
    return n;
}

static char *page(int seg, const char *task, int pn, int total, const char *lists) {
    return strf("{\"action_type\":\"segment.users.sync\",\"customer_config\":{\"fields\":[]},"
                "\"data\":{\"segment\":{\"id\":%d,\"name\":\"Trial Users\"},\"sync_info\":"
                "{\"page_number\":%d,\"total_pages\":%d,\"sync_task_id\":\"%s\"},%s}}",
                seg, pn, total, task, lists);
}

static void test_conformance_sample_applies_removes_and_adds(void **state) {
    struct fixture *f = *state;
    char *body = read_conformance("heap/sync.json");
    deliver_expect(f, body, 200,
                   "{\"status\":\"ok\",\"ids_received\":4,\"ids_matched\":4,\"ids_unmatched\":0,"
                   "\"users_added\":2,\"users_removed\":0}");
    free(body);
    json_t *d = details(f, "1338065");
    assert_json_equal(json_object_get(d, "name"), "\"Free Customers\"");
    assert_json_equal(json_object_get(d, "size"), "2");
    json_t *sync = json_array_get(json_object_get(d, "heap_syncs"), 0);
    assert_json_equal(json_object_get(sync, "sync_task_id"), "\"FreeCustomersSync\"");
    assert_json_equal(json_object_get(sync, "pages_seen"), "1");
    assert_true(json_is_string(json_object_get(sync, "completed_at")));
    json_decref(d);
}

static void test_multi_page_sync_out_of_order_with_replay(void **state) {
    struct fixture *f = *state;
    char *p2 = page(42, "t-1", 2, 3, "\"add\":[{\"id\":\"u5\"}]");
    char *p1 = page(42, "t-1", 1, 3, "\"add\":[{\"id\":\"u6\"},{\"id\":\"nobody\"}]");
    char *p3 = page(42, "t-1", 3, 3, "\"remove\":[{\"id\":\"u5\"}]");
    deliver_expect(f, p2, 200,
                   "{\"status\":\"ok\",\"ids_received\":1,\"ids_matched\":1,\"ids_unmatched\":0,"
                   "\"users_added\":1,\"users_removed\":0}");
    json_t *d = details(f, "42");
    json_t *sync = json_array_get(json_object_get(d, "heap_syncs"), 0);
    assert_json_equal(json_object_get(sync, "completed_at"), "null");
    json_decref(d);
    deliver_expect(f, p1, 200,
                   "{\"status\":\"ok\",\"ids_received\":2,\"ids_matched\":1,\"ids_unmatched\":1,"
                   "\"users_added\":1,\"users_removed\":0}");
    deliver_expect(f, p3, 200,
                   "{\"status\":\"ok\",\"ids_received\":1,\"ids_matched\":1,\"ids_unmatched\":0,"
                   "\"users_added\":0,\"users_removed\":1}");
    /* page 2 again: acknowledged, not applied (u5 stays removed) */
    deliver_expect(f, p2, 200, "{\"status\":\"duplicate\"}");
    assert_int_equal(size_of(f, "42"), 1);
    d = details(f, "42");
    sync = json_array_get(json_object_get(d, "heap_syncs"), 0);
    assert_json_equal(json_object_get(sync, "pages_seen"), "3");
    assert_json_equal(json_object_get(sync, "total_pages"), "3");
    assert_true(json_is_string(json_object_get(sync, "completed_at")));
    assert_json_equal(json_object_get(d, "ids_unmatched"), "1");
    json_decref(d);
    free(p1);
    free(p2);
    free(p3);
}

/* Issue 16: Heap's own test tool sends every page with the same sync_task_id, so a page
 * whose (sync_task_id, page_number) was seen but whose content differs is a new page and is
 * applied; the same content again (whatever its spacing) is a retry: a duplicate. */
static void
test_a_seen_page_with_other_content_is_applied_the_same_content_is_a_duplicate(void **state) {
    struct fixture *f = *state;
    char *first = page(91, "test-sync", 1, 1, "\"add\":[{\"id\":\"u5\"}]");
    char *other =
        page(91, "test-sync", 1, 1, "\"add\":[{\"id\":\"u6\"}],\"remove\":[{\"id\":\"u5\"}]");
    char *spaced = strf("{ \"action_type\": \"segment.users.sync\", \"customer_config\": "
                        "{\"fields\": []}, \"data\": {\"segment\": {\"id\": 91, \"name\": "
                        "\"Trial Users\"}, \"sync_info\": {\"page_number\": 1, \"total_pages\": "
                        "1, \"sync_task_id\": \"test-sync\"}, \"add\": [{\"id\": \"u6\"}], "
                        "\"remove\": [{\"id\": \"u5\"}]}}");
    const char *dup = "{\"status\":\"duplicate\"}";
    deliver_expect(f, first, 200,
                   "{\"status\":\"ok\",\"ids_received\":1,\"ids_matched\":1,\"ids_unmatched\":0,"
                   "\"users_added\":1,\"users_removed\":0}");
    deliver_expect(f, first, 200, dup);
    deliver_expect(f, other, 200,
                   "{\"status\":\"ok\",\"ids_received\":2,\"ids_matched\":2,\"ids_unmatched\":0,"
                   "\"users_added\":1,\"users_removed\":1}");
    deliver_expect(f, other, 200, dup);
    deliver_expect(f, spaced, 200, dup);
    assert_int_equal(size_of(f, "91"), 1);
    json_t *d = details(f, "91");
    json_t *sync = json_array_get(json_object_get(d, "heap_syncs"), 0);
    assert_json_equal(json_object_get(sync, "sync_task_id"), "\"test-sync\"");
    assert_json_equal(json_object_get(sync, "pages_seen"), "1");
    assert_json_equal(json_object_get(sync, "total_pages"), "1");
    json_decref(d);
    assert_int_equal(sql_count(&f->s, "SELECT count(*) FROM heap_page_digests WHERE "
                                      "sync_task_id = 'test-sync'"),
                     1);
    /* the digest survives a restart: the last content is still a duplicate, the one before it
     * is new again */
    server_stop(&f->s);
    server_start(&f->s);
    deliver_expect(f, other, 200, dup);
    deliver_expect(f, first, 200,
                   "{\"status\":\"ok\",\"ids_received\":1,\"ids_matched\":1,\"ids_unmatched\":0,"
                   "\"users_added\":1,\"users_removed\":0}");
    assert_int_equal(size_of(f, "91"), 2);
    free(first);
    free(other);
    free(spaced);
}

/* Issue 16: a Heap-Hash whose HMAC is 64 hex digits, in either case, verifies like base64. */
static void test_a_hex_hmac_in_either_case_verifies(void **state) {
    struct fixture *f = *state;
    char *path = strf("/heap/webhooks/%s", f->id);
    struct {
        const char *secret;
        bool upper;
        const char *list;
        long status;
        const char *answer;
    } cases[] = {
        {f->secret, false, "\"add\":[{\"id\":\"u5\"}]", 200,
         "{\"status\":\"ok\",\"ids_received\":1,\"ids_matched\":1,\"ids_unmatched\":0,"
         "\"users_added\":1,\"users_removed\":0}"},
        {f->secret, true, "\"add\":[{\"id\":\"u6\"}]", 200,
         "{\"status\":\"ok\",\"ids_received\":1,\"ids_matched\":1,\"ids_unmatched\":0,"
         "\"users_added\":1,\"users_removed\":0}"},
        {"not-the-secret", false, "\"add\":[{\"id\":\"u4\"}]", 403,
         "{\"error\":\"Invalid signature\"}"},
        {"not-the-secret", true, "\"add\":[{\"id\":\"u4\"}]", 403,
         "{\"error\":\"Invalid signature\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *task = strf("hex-%zu", i);
        char *body = page(92, task, 1, 1, cases[i].list);
        char *sig = heap_hash_hex(cases[i].secret, wall_ms(), body, cases[i].upper);
        char *h = strf("Heap-Hash: %s", sig);
        const char *headers[] = {h, NULL};
        struct resp r;
        http_req(&f->s, "POST", path, headers, body, &r);
        assert_resp(&r, cases[i].status, cases[i].answer);
        resp_free(&r);
        free(h);
        free(sig);
        free(body);
        free(task);
    }
    assert_int_equal(size_of(f, "92"), 2);
    free(path);
}

static void test_bad_signatures_are_403_and_change_nothing(void **state) {
    struct fixture *f = *state;
    char *body = page(77, "t-sig", 1, 1, "\"add\":[{\"id\":\"u5\"}]");
    struct resp r;
    const char *forbidden = "{\"error\":\"Invalid signature\"}";
    deliver(f, "not-the-secret", wall_ms(), body, &r);
    assert_resp(&r, 403, forbidden);
    resp_free(&r);
    deliver(f, f->secret, wall_ms() - 5 * 60 * 1000, body, &r);
    assert_resp(&r, 403, forbidden);
    resp_free(&r);
    deliver(f, f->secret, wall_ms() + 5 * 60 * 1000, body, &r);
    assert_resp(&r, 403, forbidden);
    resp_free(&r);
    char *path = strf("/heap/webhooks/%s", f->id);
    http_req(&f->s, "POST", path, NULL, body, &r);
    assert_resp(&r, 403, forbidden);
    resp_free(&r);
    const char *garbled[] = {"Heap-Hash: hmac-only", NULL};
    http_req(&f->s, "POST", path, garbled, body, &r);
    assert_resp(&r, 403, forbidden);
    resp_free(&r);
    free(path);
    /* a valid signature over other bytes */
    char *sig = heap_hash(f->secret, wall_ms(), "{}");
    char *h = strf("Heap-Hash: %s", sig);
    const char *headers[] = {h, NULL};
    path = strf("/heap/webhooks/%s", f->id);
    http_req(&f->s, "POST", path, headers, body, &r);
    assert_resp(&r, 403, forbidden);
    resp_free(&r);
    free(path);
    free(sig);
    free(h);
    assert_int_equal(size_of(f, "77"), -1);
    free(body);
}

static void test_malformed_bodies_after_valid_signature_are_400(void **state) {
    struct fixture *f = *state;
    struct resp r;
    deliver(f, f->secret, wall_ms(), "{\"action_type\":", &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(json_string_value(json_object_get(r.json, "error")), "invalid JSON"));
    resp_free(&r);
    deliver_expect(f,
                   "{\"action_type\":\"segment.users.sync\",\"data\":{\"segment\":{\"id\":9},"
                   "\"add\":[{\"id\":5}]}}",
                   400,
                   "{\"error\":\"'data.add' and 'data.remove' must be arrays of {\\\"id\\\": "
                   "string}\"}");
    assert_int_equal(size_of(f, "9"), -1);
}

static void test_other_action_types_are_acknowledged_ignored_and_counted(void **state) {
    struct fixture *f = *state;
    deliver_expect(f,
                   "{\"action_type\":\"segment.users.drain\",\"data\":{\"segment\":{\"id\":11,"
                   "\"name\":\"x\"}}}",
                   200, "{\"status\":\"ignored\"}");
    assert_int_equal(size_of(f, "11"), -1);
    struct resp r;
    http_get_rest(&f->s, "/integrations/heap/list", &r);
    json_t *first = json_array_get(json_object_get(r.json, "integrations"), 0);
    assert_json_equal(json_object_get(first, "ignored_requests"), "1");
    resp_free(&r);
}

static void test_unknown_integration_is_404(void **state) {
    struct fixture *f = *state;
    struct resp r;
    const char *h[] = {"Heap-Hash: ts:1,hmac:x", NULL};
    http_req(&f->s, "POST", "/heap/webhooks/nope", h, "{}", &r);
    assert_resp(&r, 404, "{\"error\":\"Unknown integration\"}");
    resp_free(&r);
}

static void test_rotated_secret_stops_old_signatures_at_once(void **state) {
    struct fixture *f = *state;
    char old[80];
    snprintf(old, sizeof old, "%s", f->secret);
    char *body = strf("{\"integration_id\":\"%s\"}", f->id);
    struct resp r;
    http_post_rest(&f->s, "/integrations/heap/rotate_secret", body, &r);
    assert_int_equal(r.status, 201);
    snprintf(f->secret, sizeof f->secret, "%s",
             json_string_value(json_object_get(r.json, "webhook_secret")));
    resp_free(&r);
    free(body);
    char *p = page(88, "t-rot", 1, 1, "\"add\":[{\"id\":\"u5\"}]");
    deliver(f, old, wall_ms(), p, &r);
    assert_resp(&r, 403, "{\"error\":\"Invalid signature\"}");
    resp_free(&r);
    deliver_expect(f, p, 200,
                   "{\"status\":\"ok\",\"ids_received\":1,\"ids_matched\":1,\"ids_unmatched\":0,"
                   "\"users_added\":1,\"users_removed\":0}");
    free(p);
}

static void test_alias_mapping_matches_by_alias_label(void **state) {
    struct fixture *f = *state;
    struct resp r;
    http_post_rest(&f->s, "/users/alias/new",
                   "{\"user_aliases\":[{\"external_id\":\"u6\",\"alias_name\":\"six@x\","
                   "\"alias_label\":\"heap_email\"}]}",
                   &r);
    resp_free(&r);
    struct fixture alias = *f;
    create_integration(&alias, "{\"name\":\"by alias\",\"identity_mapping\":{\"type\":\"alias\","
                               "\"alias_label\":\"heap_email\"}}");
    char *p = page(99, "t-alias", 1, 1, "\"add\":[{\"id\":\"six@x\"},{\"id\":\"u5\"}]");
    deliver_expect(&alias, p, 200,
                   "{\"status\":\"ok\",\"ids_received\":2,\"ids_matched\":1,\"ids_unmatched\":1,"
                   "\"users_added\":1,\"users_removed\":0}");
    free(p);
    assert_int_equal(size_of(f, "99"), 1);
}

struct pending {
    struct fixture *f;
    const char *body;
    struct resp r;
};

static void *deliver_in_thread(void *arg) {
    struct pending *p = arg;
    deliver(p->f, p->f->secret, wall_ms(), p->body, &p->r);
    return NULL;
}

static void test_too_many_pages_at_once_get_429_with_retry_after(void **state) {
    (void)state;
#ifndef COHORTD_FAULTS
    skip(); /* COHORTD_STORE_COMMIT_DELAY_MS is compiled in only with -DCOHORTD_FAULTS=ON */
#endif
    struct fixture f = {0};
    server_init(&f.s);
    f.s.extra_args[0] = "--heap-max-in-flight";
    f.s.extra_args[1] = "1";
    setenv("COHORTD_STORE_COMMIT_DELAY_MS", "700", 1); /* a page stays in flight 0.7 s */
    server_start(&f.s);
    unsetenv("COHORTD_STORE_COMMIT_DELAY_MS");
    create_integration(&f, "{\"name\":\"Heap\"}");
    char *p1 = page(77, "busy", 1, 2, "\"add\":[{\"id\":\"a\"}]");
    char *p2 = page(77, "busy", 2, 2, "\"add\":[{\"id\":\"b\"}]");
    struct pending first = {&f, p1, {0}};
    pthread_t t;
    pthread_create(&t, NULL, deliver_in_thread, &first);
    sleep_ms(250);
    struct resp second;
    deliver(&f, f.secret, wall_ms(), p2, &second);
    pthread_join(t, NULL);
    /* whichever arrived second (almost surely page 2) was refused, the other applied */
    bool second_refused = second.status == 429;
    struct resp *refused = second_refused ? &second : &first.r;
    struct resp *applied = second_refused ? &first.r : &second;
    assert_int_equal(applied->status, 200);
    assert_resp(refused, 429, "{\"error\":\"Too many requests\"}");
    assert_non_null(strstr(refused->headers, "Retry-After: 1"));
    resp_free(&second);
    resp_free(&first.r);
    /* the refused page changed nothing until Heap sends it again */
    json_t *d = details(&f, "77");
    assert_json_equal(
        json_object_get(json_array_get(json_object_get(d, "heap_syncs"), 0), "pages_seen"), "1");
    json_decref(d);
    struct resp r;
    deliver(&f, f.secret, wall_ms(), second_refused ? p2 : p1, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    d = details(&f, "77");
    assert_json_equal(
        json_object_get(json_array_get(json_object_get(d, "heap_syncs"), 0), "pages_seen"), "2");
    json_decref(d);
    free(p1);
    free(p2);
    server_cleanup(&f.s);
}

static void test_id_over_limit_in_a_page_is_refused_whole_after_the_signature(void **state) {
    struct fixture *f = *state;
    char *long_id = repeat('x', 2049);
    char *lists = strf("\"add\":[{\"id\":\"user1@email.com\"}],\"remove\":[{\"id\":\"u5\"},"
                       "{\"id\":\"%s\"}]",
                       long_id);
    char *body = page(21, "limit-task", 1, 1, lists);
    struct resp r;
    deliver(f, "not-the-secret", wall_ms(), body, &r); /* the signature is checked first */
    assert_resp(&r, 403, "{\"error\":\"Invalid signature\"}");
    resp_free(&r);
    deliver_expect(f, body, 400, "{\"error\":\"data.remove[1].id is longer than 2048 bytes\"}");
    assert_int_equal(size_of(f, "21"), -1);
    /* an id of exactly the limit is a (here unmatched) id like any other */
    free(body);
    free(lists);
    long_id[2048] = '\0';
    lists = strf("\"add\":[{\"id\":\"user1@email.com\"},{\"id\":\"%s\"}]", long_id);
    body = page(21, "limit-task", 1, 1, lists);
    deliver_expect(f, body, 200,
                   "{\"status\":\"ok\",\"ids_received\":2,\"ids_matched\":1,\"ids_unmatched\":1,"
                   "\"users_added\":1,\"users_removed\":0}");
    assert_int_equal(size_of(f, "21"), 1);
    free(body);
    free(lists);
    free(long_id);
}

static void test_long_alias_label_is_refused_at_create_not_truncated(void **state) {
    struct fixture *f = *state;
    char *label = repeat('l', 2049);
    char *create = strf("{\"name\":\"long\",\"identity_mapping\":{\"type\":\"alias\","
                        "\"alias_label\":\"%s\"}}",
                        label);
    struct resp r;
    http_post_rest(&f->s, "/integrations/heap/create", create, &r);
    assert_resp(&r, 400,
                "{\"message\":\"identity_mapping.alias_label is longer than 2048 bytes\"}");
    resp_free(&r);
    free(create);
    /* a label over the old 255-byte buffer matches whole */
    label[300] = '\0';
    char *track = strf("{\"attributes\":[{\"user_alias\":{\"alias_name\":\"h-300\","
                       "\"alias_label\":\"%s\"},\"_update_existing_only\":false}]}",
                       label);
    http_post_rest(&f->s, "/users/track", track, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    free(track);
    struct fixture alias = {.s = f->s};
    create = strf("{\"name\":\"long\",\"identity_mapping\":{\"type\":\"alias\","
                  "\"alias_label\":\"%s\"}}",
                  label);
    create_integration(&alias, create);
    free(create);
    char *body = page(22, "label-task", 1, 1, "\"add\":[{\"id\":\"h-300\"}]");
    deliver_expect(&alias, body, 200,
                   "{\"status\":\"ok\",\"ids_received\":1,\"ids_matched\":1,\"ids_unmatched\":0,"
                   "\"users_added\":1,\"users_removed\":0}");
    free(body);
    free(label);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conformance_sample_applies_removes_and_adds),
        cmocka_unit_test(test_multi_page_sync_out_of_order_with_replay),
        cmocka_unit_test(
            test_a_seen_page_with_other_content_is_applied_the_same_content_is_a_duplicate),
        cmocka_unit_test(test_a_hex_hmac_in_either_case_verifies),
        cmocka_unit_test(test_bad_signatures_are_403_and_change_nothing),
        cmocka_unit_test(test_malformed_bodies_after_valid_signature_are_400),
        cmocka_unit_test(test_other_action_types_are_acknowledged_ignored_and_counted),
        cmocka_unit_test(test_unknown_integration_is_404),
        cmocka_unit_test(test_rotated_secret_stops_old_signatures_at_once),
        cmocka_unit_test(test_alias_mapping_matches_by_alias_label),
        cmocka_unit_test(test_too_many_pages_at_once_get_429_with_retry_after),
        cmocka_unit_test(test_id_over_limit_in_a_page_is_refused_whole_after_the_signature),
        cmocka_unit_test(test_long_alias_label_is_refused_at_create_not_truncated),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
