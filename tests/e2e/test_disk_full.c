/*
 * test_disk_full.c — a full store, made real with SQLite's page limit
 * (COHORTD_STORE_MAX_PAGES, test builds only, docs/internals/faults.md): SQLite itself answers
 * SQLITE_FULL, as on a full disk. Writes then answer 503 with Retry-After and a body saying the
 * store is full, /healthz answers 503 "store full" until a write succeeds, no spurious
 * "cannot rollback" is logged, and once there is room again (a restart without the limit)
 * writes succeed and everything acknowledged before is there.
 */
#include "harness.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FULL_BODY                                                                                  \
    "{\"message\":\"Service Unavailable\",\"errors\":[\"the store is full (no space left on "      \
    "its disk); nothing was changed, retry once space is freed\"]}"

/* The most users the test writes before the limit must have been reached. */
#define MAX_USERS 3000

static char *track_body(int i) {
    char *pad = repeat('x', 400);
    char *b = strf("{\"attributes\":[{\"external_id\":\"u%d\",\"note\":\"%s\"}]}", i, pad);
    free(pad);
    return b;
}

static void health_expect(struct server *s, long status, const char *body) {
    struct resp r;
    http_req(s, "GET", "/healthz", NULL, NULL, &r);
    assert_resp(&r, status, body);
    resp_free(&r);
}

static void assert_user(struct server *s, int i, bool present) {
    char ext[16];
    snprintf(ext, sizeof ext, "u%d", i);
    json_t *u = export_ext(s, ext, "[\"external_id\"]");
    if (present && !u)
        fail_msg("u%d was acknowledged but is not stored", i);
    if (!present && u)
        fail_msg("u%d was refused but is stored", i);
    json_decref(u);
}

/* Writes new users u<*next>, u<*next + 1>, … until one is refused with the full-store answer;
 * marks the acknowledged ones; returns the refused one (next is past it). */
static int fill(struct server *s, int *next, bool *acked) {
    for (; *next <= MAX_USERS; (*next)++) {
        char *body = track_body(*next);
        struct resp r;
        http_post_rest(s, "/users/track", body, &r);
        free(body);
        if (r.status == 503) {
            assert_resp(&r, 503, FULL_BODY);
            assert_non_null(strstr(r.headers, "Retry-After: 30\r\n"));
            resp_free(&r);
            return (*next)++;
        }
        assert_resp(&r, 201, "{\"message\":\"success\",\"attributes_processed\":1}");
        resp_free(&r);
        acked[*next] = true;
    }
    fail_msg("%d users fitted under the page limit", MAX_USERS);
    return 0;
}

static void
test_a_full_store_answers_503_with_retry_after_and_loses_nothing_acknowledged(void **state) {
    (void)state;
#ifndef COHORTD_FAULTS
    skip(); /* COHORTD_STORE_MAX_PAGES is compiled in only with -DCOHORTD_FAULTS=ON */
#endif
    struct server s;
    server_init(&s);
    /* below the database's size: SQLite holds it at the current size, so it can only fill up */
    setenv("COHORTD_STORE_MAX_PAGES", "1", 1);
    server_start(&s);
    unsetenv("COHORTD_STORE_MAX_PAGES");

    /* write new users until the store is full */
    static bool acked[MAX_USERS + 2];
    int next = 1;
    int refused = fill(&s, &next, acked);
    print_message("store full at user %d\n", refused);
    health_expect(&s, 503, "{\"status\":\"store full\"}");
    /* reads still answer; the refused user is not there, the others are */
    assert_user(&s, refused, false);
    assert_user(&s, refused - 1, true);
    /* a partner import that needs room is refused the same way (or fits in a page's space) */
    char *imp = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":\"c1\","
                     "\"name\":\"a cohort\",\"created_at\":\"2024-05-02T08:15:00Z\"}",
                     s.partner_key, s.import_key);
    struct resp r;
    http_req(&s, "POST", "/partners/heap/cohorts", NULL, imp, &r);
    free(imp);
    if (r.status != 201)
        assert_resp(&r, 503, FULL_BODY);
    resp_free(&r);

    /* a write that needs no new page (a shorter value) succeeds: the store is healthy again */
    post_expect(&s, "/users/track", "{\"attributes\":[{\"external_id\":\"u1\",\"note\":\"y\"}]}",
                201, "{\"message\":\"success\",\"attributes_processed\":1}");
    health_expect(&s, 200, "{\"status\":\"ok\"}");
    /* the room it freed fills again, and the store is full again */
    refused = fill(&s, &next, acked);
    health_expect(&s, 503, "{\"status\":\"store full\"}");

    /* no failure logged a rollback of a transaction SQLite had already ended */
    char *log = server_log(&s);
    assert_null(strstr(log, "cannot rollback"));
    assert_null(strstr(log, "no transaction is active"));
    assert_non_null(strstr(log, "result=store_full"));
    free(log);

    /* room again (restart without the limit): writes succeed, nothing acknowledged is lost */
    server_stop(&s);
    server_start(&s);
    health_expect(&s, 200, "{\"status\":\"ok\"}");
    long n_acked = 0;
    for (int i = 1; i < next; i++) {
        assert_user(&s, i, acked[i]);
        n_acked += acked[i];
    }
    assert_int_equal(sql_count(&s, "SELECT count(*) FROM users"), n_acked);
    json_t *u1 = export_ext(&s, "u1", "[\"custom_attributes\"]");
    assert_json_equal(json_object_get(json_object_get(u1, "custom_attributes"), "note"), "\"y\"");
    json_decref(u1);
    char *body = track_body(refused);
    post_expect(&s, "/users/track", body, 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
    free(body);
    assert_user(&s, refused, true);
    health_expect(&s, 200, "{\"status\":\"ok\"}");
    server_cleanup(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_a_full_store_answers_503_with_retry_after_and_loses_nothing_acknowledged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
