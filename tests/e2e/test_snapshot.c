/*
 * test_snapshot.c — start-up snapshots on a real server and a real SQLite file: a restart loads
 * the snapshot and comes up with the same users, profiles and audiences; cohort imports after
 * the snapshot are replayed behind it, and so are the users changed after it (tracked, changed,
 * deleted, merged: what every lookup, segment and export then gives is what a full load gives,
 * also after a kill -9 in a burst of tracks); a corrupt, truncated or half-written file and a
 * file from another store each make a full load, with one log line that says why, and the
 * state is right either way.
 */
#include "harness.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
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
    int written = log_count(&s, "result=written");
    heap_import(&s, "vip",
                "[{\"user_ids\":[\"u3\"]},{\"user_ids\":[\"u2\"],\"should_remove\":true}]");
    heap_import(&s, "late", "[{\"user_ids\":[\"u3\"]}]");
    /* the start's pass may come after the first import (it runs beside the requests): then the
     * file holds that import and only the rest is replayed */
    bool pass_in_imports = log_count(&s, "result=written") > written;
    server_stop(&s);
    start_with(&s, "1h");
    assert_int_equal(log_count(&s, "result=used"), 2);
    assert_true(log_count(&s, "log_rows_replayed=0") >= 1);
    if (!pass_in_imports)
        assert_int_equal(log_count(&s, "log_rows_replayed=2"), 1);
    assert_state(&s, 2, 2); /* u1 and u3 */
    assert_int_equal(preview(&s,
                             "{\"and\":[" VIP ",{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":"
                             "\"late\"},\"op\":\"includes\"}]}"),
                     1);
    server_stop(&s);
    server_cleanup(&s);
}

/* The number in the last "users_replayed=N" of the log, or -1. */
static long last_users_replayed(const struct server *s) {
    char *log = server_log(s);
    const char *p = NULL;
    for (const char *q = log; q && (q = strstr(q, "users_replayed=")); q++)
        p = q;
    long n = p ? strtol(p + strlen("users_replayed="), NULL, 10) : -1;
    free(log);
    return n;
}

/* Every answer a client gets for the users of some_users and changed_users, and the segment
 * sizes over them, as one text (to compare two starts of one store). */
static char *observe(struct server *s) {
    static const char *const lookups[] = {
        "\"external_ids\":[\"u1\",\"u2\",\"u3\",\"u4\",\"u5\"]",
        ("\"user_aliases\":[{\"alias_label\":\"email\",\"alias_name\":\"a@x\"},"
         "{\"alias_label\":\"crm\",\"alias_name\":\"c4\"},"
         "{\"alias_label\":\"crm\",\"alias_name\":\"c3\"}]"),
        "\"device_id\":\"dev-z\"",
        "\"device_id\":\"dev-y\"",
        "\"email_address\":\"u1@x.org\"",
        "\"email_address\":\"u1@y.org\"",
        "\"email_address\":\"shared@x.org\"",
    };
    static const char *const filters[] = {
        VIP,
        PRO,
        BOUGHT,
        "{\"event\":\"bought\",\"op\":\"performed\",\"min_count\":3}",
        "{\"event\":\"opened\",\"op\":\"performed\"}",
        "{\"attribute\":\"age\",\"op\":\"exists\"}",
        "{\"attribute\":\"tags\",\"op\":\"contains\",\"value\":\"a\"}",
        "{\"attribute\":\"plan\",\"op\":\"equals\",\"value\":\"free\"}",
        ("{\"not\":" VIP "}"),
    };
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    assert_non_null(out);
    for (size_t i = 0; i < sizeof lookups / sizeof lookups[0]; i++) {
        char *body = strf("{%s,\"fields_to_export\":[\"external_id\",\"braze_id\","
                          "\"custom_attributes\",\"email\",\"user_aliases\",\"devices\","
                          "\"custom_events\"]}",
                          lookups[i]);
        struct resp r;
        http_post_rest(s, "/users/export/ids", body, &r);
        len += (size_t)snprintf(out + len, cap - len, "%ld %s\n", r.status, r.body);
        resp_free(&r);
        free(body);
    }
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s -> %ld\n", filters[i],
                                preview(s, filters[i]));
    assert_true(len < cap);
    return out;
}

/* After some_users: a new user (attributes, email, alias, events), attribute, email and event
 * changes, an anonymous device user, a device on u3, u2 deleted, u3 merged into u1. */
static void changed_users(struct server *s) {
    post_status(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"u4\",\"plan\":\"pro\",\"email\":"
                "\"shared@x.org\"},{\"external_id\":\"u2\",\"plan\":\"pro\",\"tags\":[\"c\"]},"
                "{\"external_id\":\"u1\",\"email\":\"u1@y.org\"},"
                "{\"external_id\":\"u5\",\"plan\":\"free\",\"email\":\"shared@x.org\"}],"
                "\"events\":[{\"external_id\":\"u4\",\"name\":\"bought\",\"time\":"
                "\"2026-04-01T00:00:00Z\"},{\"external_id\":\"u4\",\"name\":\"bought\",\"time\":"
                "\"2026-04-02T00:00:00Z\"},{\"external_id\":\"u3\",\"name\":\"opened\",\"time\":"
                "\"2026-04-03T00:00:00Z\"}]}",
                201);
    post_status(s, "/users/alias/new",
                "{\"user_aliases\":[{\"external_id\":\"u4\",\"alias_label\":\"crm\","
                "\"alias_name\":\"c4\"},{\"external_id\":\"u3\",\"alias_label\":\"crm\","
                "\"alias_name\":\"c3\"}]}",
                201);
    struct resp r;
    http_post_rest(s, "/devices/track", "{\"device_id\":\"dev-z\"}", &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    http_post_rest(s, "/devices/track", "{\"device_id\":\"dev-y\",\"external_id\":\"u3\"}", &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    post_status(s, "/users/delete", "{\"external_ids\":[\"u2\"]}", 201);
    post_status(s, "/users/merge",
                "{\"merge_updates\":[{\"identifier_to_merge\":{\"external_id\":\"u3\"},"
                "\"identifier_to_keep\":{\"external_id\":\"u1\"}}]}",
                202);
}

static void test_users_changed_after_the_snapshot_are_replayed_as_a_full_load_gives(void **state) {
    (void)state;
    struct server s;
    snapshotted(&s);
    start_with(&s, "1h");
    changed_users(&s);
    char *live = observe(&s);
    server_stop(&s);
    start_with(&s, "1h"); /* the snapshot of the start before, and the changes replayed */
    assert_int_equal(log_count(&s, "result=used"), 2);
    assert_int_equal(log_count(&s, "result=stale"), 0);
    /* u1, u2, u3, u4, u5 and the device user */
    assert_int_equal(last_users_replayed(&s), 6);
    char *replayed = observe(&s);
    server_stop(&s);
    start_with(&s, "0"); /* the whole store */
    char *full = observe(&s);
    server_stop(&s);
    assert_string_equal(replayed, full);
    assert_string_equal(replayed, live);
    /* and what that is */
    assert_non_null(strstr(full, VIP " -> 1\n"));    /* u1: u2 deleted */
    assert_non_null(strstr(full, PRO " -> 2\n"));    /* u1, u4 */
    assert_non_null(strstr(full, BOUGHT " -> 2\n")); /* u1 (with u3's), u4 */
    assert_non_null(strstr(full, "\"opened\",\"op\":\"performed\"} -> 1\n")); /* u1 */
    assert_null(strstr(full, "\"external_id\":\"u2\""));
    assert_null(strstr(full, "\"external_id\":\"u3\""));
    assert_non_null(strstr(full, "\"alias_name\":\"c4\""));
    free(live);
    free(replayed);
    free(full);
    /* a start after the fresh snapshot the replaying start wrote: nothing to replay */
    start_with(&s, "1h");
    assert_int_equal(last_users_replayed(&s), 0);
    server_stop(&s);
    server_cleanup(&s);
}

/* ---- a kill -9 in a burst of tracks ---- */

enum { BURST_MAX = 4000, BURST_ACKS = 60 };

struct track_burst {
    struct server *s;
    atomic_int acked; /* tracks 0 … acked - 1 were answered 201 */
    atomic_bool stop;
};

/* Tracks user b<k> with attribute n = k and one event, in order, until stopped or refused. */
static void *track_burst(void *arg) {
    struct track_burst *b = arg;
    for (int k = 0; k < BURST_MAX && !atomic_load(&b->stop); k++) {
        char *body = strf("{\"attributes\":[{\"external_id\":\"b%d\",\"n\":%d}],\"events\":"
                          "[{\"external_id\":\"b%d\",\"name\":\"burst\",\"time\":"
                          "\"2026-05-01T00:00:00Z\"}]}",
                          k, k, k);
        struct resp r;
        http_post_rest(b->s, "/users/track", body, &r);
        long status = r.status;
        resp_free(&r);
        free(body);
        if (status != 201)
            break; /* killed (0): no answer, nothing acknowledged */
        atomic_store(&b->acked, k + 1);
    }
    return NULL;
}

static void test_no_acknowledged_track_is_missing_after_a_kill_behind_the_snapshot(void **state) {
    (void)state;
    struct server s;
    snapshotted(&s);
    start_with(&s, "1h");
    int written = log_count(&s, "result=written");
    struct track_burst b = {.s = &s};
    atomic_init(&b.acked, 0);
    atomic_init(&b.stop, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, track_burst, &b), 0);
    for (int i = 0; i < 4000 && atomic_load(&b.acked) < BURST_ACKS; i++)
        sleep_ms(5);
    server_kill(&s);
    atomic_store(&b.stop, true);
    pthread_join(th, NULL);
    int acked = atomic_load(&b.acked);
    assert_true(acked >= BURST_ACKS);
    /* the pass right after the start may have come once the burst began: then the file holds
     * the first tracks and only the later ones are replayed */
    bool pass_in_burst = log_count(&s, "result=written") > written;
    start_with(&s, "1h");
    assert_int_equal(log_count(&s, "result=used"), 2);
    if (!pass_in_burst)
        assert_true(last_users_replayed(&s) >= acked);
    for (int k = 0; k < acked; k++) {
        char *ext = strf("b%d", k);
        json_t *u = export_ext(&s, ext, "[\"external_id\",\"custom_attributes\"]");
        char *want = strf("{\"external_id\":\"b%d\",\"custom_attributes\":{\"n\":%d}}", k, k);
        assert_non_null(u);
        assert_json_equal(u, want);
        json_decref(u);
        free(want);
        free(ext);
    }
    long n_live = preview(&s, "{\"attribute\":\"n\",\"op\":\"exists\"}");
    long n_burst = preview(&s, "{\"event\":\"burst\",\"op\":\"performed\"}");
    assert_true(n_live >= acked);
    assert_int_equal(n_burst, n_live);
    server_stop(&s);
    start_with(&s, "0");
    assert_int_equal(preview(&s, "{\"attribute\":\"n\",\"op\":\"exists\"}"), n_live);
    assert_int_equal(preview(&s, "{\"event\":\"burst\",\"op\":\"performed\"}"), n_burst);
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

/* Each pass of the worker with snapshots off forgets the user changes (no load reads them):
 * a restart finds the changes tracked before it and prunes them down to the newest row. */
static void test_snapshots_off_still_prune_the_user_changes(void **state) {
    (void)state;
    struct server s;
    server_init(&s);
    start_with(&s, "0");
    some_users(&s);
    server_stop(&s);
    const char *count = "SELECT count(*) FROM user_changes";
    assert_true(sql_count(&s, count) >= 5); /* the triggers recorded the five users */
    start_with(&s, "0");
    long n = sql_count(&s, count);
    for (int i = 0; i < 500 && n > 1; i++) {
        sleep_ms(10);
        n = sql_count(&s, count);
    }
    assert_int_equal(n, 1); /* the newest row stays: positions never go back */
    assert_state(&s, 2, 2);
    server_stop(&s);
    server_cleanup(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restart_loads_the_snapshot_with_the_same_state),
        cmocka_unit_test(test_cohort_imports_after_the_snapshot_are_replayed),
        cmocka_unit_test(test_users_changed_after_the_snapshot_are_replayed_as_a_full_load_gives),
        cmocka_unit_test(test_no_acknowledged_track_is_missing_after_a_kill_behind_the_snapshot),
        cmocka_unit_test(test_a_corrupt_or_truncated_snapshot_means_a_full_load),
        cmocka_unit_test(test_a_snapshot_of_another_store_means_a_full_load),
        cmocka_unit_test(test_snapshots_off_reads_the_whole_store),
        cmocka_unit_test(test_snapshots_off_still_prune_the_user_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
