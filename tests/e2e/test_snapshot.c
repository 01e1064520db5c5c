/*
 * test_snapshot.c — start-up snapshots on a real server and a real SQLite file: a restart loads
 * the snapshot and comes up with the same users, profiles and audiences; cohort imports after
 * the snapshot are replayed behind it; user changes after it (a delete, a merge), a corrupt,
 * truncated or half-written file and a file from another store each make a full load, with
 * one log line that says why, and the state is right either way.
 */
#include "harness.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VIP "{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"vip\"},\"op\":\"includes\"}"
#define PRO "{\"attribute\":\"plan\",\"op\":\"equals\",\"value\":\"pro\"}"
#define BOUGHT "{\"event\":\"bought\",\"op\":\"performed\",\"min_count\":2}"

/* Occurrences of needle in the server log so far. */
static int log_count(const struct server *s, const char *needle) {
    char *log = server_log(s);
    int n = 0;
    for (const char *p = log; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(log);
    return n;
}

/* Waits (polling the log) until the server has written `n` snapshots in all. */
static void wait_written(const struct server *s, int n) {
    for (int i = 0; i < 400 && log_count(s, "op=write") < n; i++)
        sleep_ms(25);
    assert_true(log_count(s, "result=written") >= n);
}

static void snap_file(const struct server *s, char *out, size_t cap) {
    snprintf(out, cap, "%s/cohortd.db.snap/ws-1.snap", s->data);
}

/* Starts with snapshots every `interval`. */
static void start_with(struct server *s, const char *interval) {
    s->extra_args[0] = "--snapshot-interval";
    s->extra_args[1] = interval;
    s->extra_args[2] = NULL;
    server_start(s);
}

/* u1..u3 with attributes and events, an alias-only user, an anonymous device user; u1 and u2
 * in heap cohort vip. */
static void some_users(struct server *s) {
    post_status(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"u1\",\"plan\":\"pro\",\"email\":"
                "\"u1@x.org\"},{\"external_id\":\"u2\",\"plan\":\"free\",\"tags\":[\"a\",\"b\"]},"
                "{\"external_id\":\"u3\",\"plan\":\"pro\",\"age\":41}],"
                "\"events\":[{\"external_id\":\"u1\",\"name\":\"bought\",\"time\":"
                "\"2026-01-01T00:00:00Z\"},{\"external_id\":\"u1\",\"name\":\"bought\",\"time\":"
                "\"2026-02-01T00:00:00Z\"},{\"external_id\":\"u3\",\"name\":\"bought\",\"time\":"
                "\"2026-03-01T00:00:00Z\"}]}",
                201);
    post_status(s, "/users/alias/new",
                "{\"user_aliases\":[{\"alias_label\":\"email\",\"alias_name\":\"a@x\"}]}", 201);
    heap_import(s, "vip", "[{\"user_ids\":[\"u1\",\"u2\"]}]");
}

/* What a client sees of the data of some_users: audiences and a profile. */
static void assert_state(struct server *s, long vip, long pro) {
    assert_int_equal(preview(s, VIP), vip);
    assert_int_equal(preview(s, PRO), pro);
    assert_int_equal(preview(s, BOUGHT), 1);
    json_t *u = export_ext(s, "u1", "[\"external_id\",\"custom_attributes\",\"email\"]");
    assert_non_null(u);
    assert_json_equal(u, "{\"external_id\":\"u1\",\"email\":\"u1@x.org\",\"custom_attributes\":"
                         "{\"plan\":\"pro\"}}");
    json_decref(u);
    struct resp r;
    http_post_rest(s, "/users/export/ids",
                   "{\"user_aliases\":[{\"alias_label\":\"email\",\"alias_name\":\"a@x\"}],"
                   "\"fields_to_export\":[\"user_aliases\"]}",
                   &r);
    assert_resp(&r, 200,
                "{\"message\":\"success\",\"users\":[{\"user_aliases\":[{\"alias_name\":\"a@x\","
                "\"alias_label\":\"email\"}]}]}");
    resp_free(&r);
}

/* A server with some_users and a snapshot that holds them, stopped. */
static void snapshotted(struct server *s) {
    server_init(s);
    start_with(s, "1s");
    some_users(s);
    int before = log_count(s, "result=written");
    wait_written(s, before + 1); /* a pass after the data went in */
    server_stop(s);
}

static void test_restart_loads_the_snapshot_with_the_same_state(void **state) {
    (void)state;
    struct server s;
    snapshotted(&s);
    start_with(&s, "1h");
    assert_int_equal(log_count(&s, "op=snapshot_load"), 2); /* missing, then used */
    assert_int_equal(log_count(&s, "result=used"), 1);
    assert_state(&s, 2, 2);
    server_stop(&s);
    server_cleanup(&s);
}

static void test_cohort_imports_after_the_snapshot_are_replayed(void **state) {
    (void)state;
    struct server s;
    snapshotted(&s);
    start_with(&s, "1h"); /* no pass after the start's: the import below is in no snapshot */
    heap_import(&s, "vip",
                "[{\"user_ids\":[\"u3\"]},{\"user_ids\":[\"u2\"],\"should_remove\":true}]");
    heap_import(&s, "late", "[{\"user_ids\":[\"u3\"]}]");
    server_stop(&s);
    start_with(&s, "1h");
    assert_int_equal(log_count(&s, "result=used"), 2);
    assert_true(log_count(&s, "log_rows_replayed=0") >= 1);
    assert_int_equal(log_count(&s, "log_rows_replayed=2"), 1);
    assert_state(&s, 2, 2); /* u1 and u3 */
    assert_int_equal(preview(&s,
                             "{\"and\":[" VIP ",{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":"
                             "\"late\"},\"op\":\"includes\"}]}"),
                     1);
    server_stop(&s);
    server_cleanup(&s);
}

static void test_a_user_deleted_or_merged_after_the_snapshot_is_gone_after_restart(void **state) {
    (void)state;
    struct server s;
    snapshotted(&s);
    start_with(&s, "1h");
    post_status(&s, "/users/delete", "{\"external_ids\":[\"u2\"]}", 201);
    post_status(&s, "/users/merge",
                "{\"merge_updates\":[{\"identifier_to_merge\":{\"external_id\":\"u3\"},"
                "\"identifier_to_keep\":{\"external_id\":\"u1\"}}]}",
                202);
    server_stop(&s);
    start_with(&s, "1h");
    assert_int_equal(log_count(&s, "result=stale"), 1);
    assert_true(log_count(&s, "action=full_load") >= 2);
    assert_null(export_ext(&s, "u2", "[\"external_id\"]"));
    assert_null(export_ext(&s, "u3", "[\"external_id\"]"));
    assert_int_equal(preview(&s, VIP), 1);
    assert_int_equal(preview(&s, PRO), 1);
    /* u1 holds u3's purchase too: three in all */
    assert_int_equal(preview(&s, "{\"event\":\"bought\",\"op\":\"performed\",\"min_count\":3}"), 1);
    server_stop(&s);
    server_cleanup(&s);
}

/* Replaces the snapshot by its first `keep` bytes (or flips byte `flip` when keep < 0). */
static void damage(const struct server *s, long keep, long flip) {
    char path[512];
    snap_file(s, path, sizeof path);
    if (keep >= 0) {
        assert_int_equal(truncate(path, keep), 0);
        return;
    }
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, flip, SEEK_SET), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, flip, SEEK_SET), 0);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

static void expect_full_load(struct server *s, const char *result) {
    char want[64];
    snprintf(want, sizeof want, "result=%s reason=", result);
    int before = log_count(s, want);
    start_with(s, "1h");
    assert_int_equal(log_count(s, want), before + 1);
    assert_state(s, 2, 2);
    server_stop(s);
}

static void test_a_corrupt_or_truncated_snapshot_means_a_full_load(void **state) {
    (void)state;
    struct server s;
    snapshotted(&s);
    char path[512], tmp[600];
    snap_file(&s, path, sizeof path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    damage(&s, -1, (long)st.st_size - 10); /* a byte of the body: the checksum */
    expect_full_load(&s, "corrupt");
    /* the full load's start wrote a good one again; a write killed half-way leaves a temporary
     * file (never read) and, had it been renamed, a short one */
    wait_written(&s, 2);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    assert_non_null(f);
    fputs("CDSNAP", f);
    fclose(f);
    damage(&s, (long)st.st_size / 2, 0);
    expect_full_load(&s, "corrupt");
    damage(&s, 4, 0); /* shorter than its header */
    expect_full_load(&s, "corrupt");
    server_cleanup(&s);
}

static void test_a_snapshot_of_another_store_means_a_full_load(void **state) {
    (void)state;
    struct server a, b;
    snapshotted(&a);
    snapshotted(&b);
    char pa[512], pb[512], cmd[1200];
    snap_file(&a, pa, sizeof pa);
    snap_file(&b, pb, sizeof pb);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", pb, pa);
    assert_int_equal(system(cmd), 0);
    expect_full_load(&a, "foreign");
    server_cleanup(&a);
    server_cleanup(&b);
}

static void test_snapshots_off_reads_the_whole_store(void **state) {
    (void)state;
    struct server s;
    snapshotted(&s);
    start_with(&s, "0");
    assert_int_equal(log_count(&s, "result=used"), 0);
    assert_state(&s, 2, 2);
    server_stop(&s);
    server_cleanup(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restart_loads_the_snapshot_with_the_same_state),
        cmocka_unit_test(test_cohort_imports_after_the_snapshot_are_replayed),
        cmocka_unit_test(test_a_user_deleted_or_merged_after_the_snapshot_is_gone_after_restart),
        cmocka_unit_test(test_a_corrupt_or_truncated_snapshot_means_a_full_load),
        cmocka_unit_test(test_a_snapshot_of_another_store_means_a_full_load),
        cmocka_unit_test(test_snapshots_off_reads_the_whole_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
