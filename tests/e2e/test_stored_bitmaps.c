/*
 * test_stored_bitmaps.c — a cohort bitmap that is corrupt in the store (a log row's adds, a
 * checkpoint) is refused at load, not trusted: the workspace answers 503 "not loaded", the log
 * names the workspace, the cohort, the blob and why, the server stays up and clean, and once the
 * row is whole again the workspace loads with the members it had.
 */
#include "harness.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN_COHORT                                                                                  \
    "{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"1338065\"},\"op\":\"includes\"}"

static sqlite3 *db_open(const struct server *s) {
    char *path = strf("%s/cohortd.db", s->data);
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    free(path);
    return db;
}

/* The blob `sql` selects (one row), malloc'd, *len set. */
static unsigned char *blob_get(const struct server *s, const char *sql, size_t *len) {
    sqlite3 *db = db_open(s);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    *len = (size_t)sqlite3_column_bytes(st, 0);
    unsigned char *b = malloc(*len ? *len : 1);
    assert_non_null(b);
    memcpy(b, sqlite3_column_blob(st, 0), *len);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return b;
}

/* Runs `sql` (one statement, one blob parameter) on the stopped server's database. */
static void blob_set(const struct server *s, const char *sql, const unsigned char *b, size_t len) {
    sqlite3 *db = db_open(s);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_bind_blob(st, 1, b, (int)len, SQLITE_TRANSIENT), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* A server without start-up snapshots: these tests edit stored blobs behind the server, and a
 * snapshot that covers those rows would (rightly) not read them again. */
static void up_without_snapshots(struct server *s) {
    server_init(s);
    s->extra_args[0] = "--snapshot-interval";
    s->extra_args[1] = "0";
    s->extra_args[2] = NULL;
    server_start(s);
}

/* Two users in cohort heap/1338065 (one import: one log row, no checkpoint yet). */
static void two_members(struct server *s) {
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"ann\"},{\"external_id\":\"bob\"}]}", 201,
                "{\"message\":\"success\",\"attributes_processed\":2}");
    char *body = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":"
                      "\"1338065\",\"cohort_changes\":[{\"user_ids\":[\"ann\",\"bob\"]}]}",
                      s->partner_key, s->import_key);
    struct resp r;
    http_req(s, "POST", "/partners/heap/cohorts/users", NULL, body, &r);
    assert_resp(&r, 201,
                "{\"message\":\"success\",\"ids_received\":2,\"ids_matched\":2,"
                "\"ids_unmatched\":0,\"users_added\":2,\"users_removed\":0}");
    resp_free(&r);
    free(body);
    assert_int_equal(preview(s, IN_COHORT), 2);
}

/* The blob of the two members with their values swapped: an array container out of order,
 * which CRoaring's deserialisation alone accepts. */
static unsigned char *swapped(const unsigned char *blob, size_t len) {
    assert_true(len >= 4);
    unsigned char *bad = malloc(len);
    assert_non_null(bad);
    memcpy(bad, blob, len);
    /* the two 16-bit values end the blob */
    memcpy(bad + len - 4, blob + len - 2, 2);
    memcpy(bad + len - 2, blob + len - 4, 2);
    assert_memory_not_equal(bad, blob, len);
    return bad;
}

static void expect_not_loaded(struct server *s) {
    char *want = strf("{\"message\":\"Service Unavailable\",\"errors\":[\"workspace %s is not "
                      "loaded: internal_error; retrying\"]}",
                      s->workspace_id);
    char *filter = strf("{\"filter\":%s}", IN_COHORT);
    post_expect(s, "/segments/preview", filter, 503, want);
    free(filter);
    free(want);
}

static void expect_log_names(const struct server *s, const char *blob, const char *reason) {
    char *log = server_log(s);
    char *line = strf("partner=heap cohort_id=1338065 blob=\"%s\"", blob);
    char *why = strf("result=corrupt reason=\"%s\"", reason);
    char *ws = strf("op=load ws=%s", s->workspace_id);
    const char *at = strstr(log, line);
    if (!at || !strstr(log, why) || !strstr(log, ws))
        fail_msg("the log does not name the corrupt blob (%s, %s):\n%s", line, why, log);
    free(ws);
    free(why);
    free(line);
    free(log);
}

/* Waits until the workspace has loaded again (it retries a load at most once a second). */
static void expect_members_again(struct server *s) {
    char *filter = strf("{\"filter\":%s}", IN_COHORT);
    long status = 0;
    for (int i = 0; i < 100 && status != 200; i++) {
        struct resp r;
        http_post_rest(s, "/segments/preview", filter, &r);
        status = r.status;
        resp_free(&r);
        if (status != 200)
            sleep_ms(50);
    }
    free(filter);
    assert_int_equal(status, 200);
    assert_int_equal(preview(s, IN_COHORT), 2);
}

static void test_corrupt_log_row_is_refused_naming_the_cohort_until_repaired(void **state) {
    (void)state;
    struct server s;
    up_without_snapshots(&s);
    two_members(&s);
    server_stop(&s);
    size_t len;
    unsigned char *blob = blob_get(&s, "SELECT adds FROM cohort_log", &len);
    unsigned char *bad = swapped(blob, len);
    blob_set(&s, "UPDATE cohort_log SET adds = ?", bad, len);
    server_start(&s);
    expect_not_loaded(&s);
    expect_log_names(&s, "log adds", "array container values out of order");
    blob_set(&s, "UPDATE cohort_log SET adds = ?", blob, len);
    expect_members_again(&s);
    server_stop(&s); /* asserts no sanitizer report */
    free(bad);
    free(blob);
    server_cleanup(&s);
}

static void test_corrupt_checkpoint_is_refused_naming_the_cohort(void **state) {
    (void)state;
    struct server s;
    up_without_snapshots(&s);
    two_members(&s);
    server_stop(&s);
    size_t len;
    unsigned char *blob = blob_get(&s, "SELECT adds FROM cohort_log", &len);
    unsigned char *bad = swapped(blob, len);
    /* a checkpoint that covers nothing yet (seq 0): the log row is replayed behind it */
    blob_set(&s, "UPDATE cohorts SET checkpoint = ?", bad, len);
    server_start(&s);
    expect_not_loaded(&s);
    expect_log_names(&s, "checkpoint", "array container values out of order");
    blob_set(&s, "UPDATE cohorts SET checkpoint = ?", blob, len);
    expect_members_again(&s);
    server_stop(&s);
    free(bad);
    free(blob);
    server_cleanup(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corrupt_log_row_is_refused_naming_the_cohort_until_repaired),
        cmocka_unit_test(test_corrupt_checkpoint_is_refused_naming_the_cohort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
