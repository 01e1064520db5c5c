/* test_snapshot.c — the start-up snapshot's encode/decode round trip and its header checks. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/workspace/snapshot.h"
#include "core/workspace/workspace_int.h"

struct fx {
    char dir[64];
    char path[128];
    struct workspace *ws;
    struct store_snapshot_mark mark;
};

static struct snapshot_indexes of(struct workspace *ws) {
    return (struct snapshot_indexes){ws->id,      &ws->ident,   &ws->attrs,
                                     &ws->events, &ws->cohorts, NULL};
}

static struct workspace *fresh(void) {
    struct workspace *ws = calloc(1, sizeof *ws);
    assert_non_null(ws);
    ws->id = 7;
    snprintf(ws->public_id, sizeof ws->public_id, "ws-seven");
    identity_init(&ws->ident);
    cohort_set_init(&ws->cohorts);
    attr_index_init(&ws->attrs);
    event_index_init(&ws->events);
    return ws;
}

static void drop(struct workspace *ws) {
    identity_free(&ws->ident);
    cohort_set_free(&ws->cohorts);
    attr_index_free(&ws->attrs);
    event_index_free(&ws->events);
    free(ws);
}

/* 300 users: every third identified, every fifth with an alias, a device on the anonymous
 * ones, an email on some; attributes, events; two cohorts; one user deleted. */
static void fill(struct workspace *ws) {
    struct identity *id = &ws->ident;
    for (uint32_t uid = 1; uid <= 300; uid++) {
        uint8_t bid[12];
        char ext[32], key[32];
        assert_int_equal(identity_new_braze_id(uid, 1700000000000, bid), 0);
        snprintf(ext, sizeof ext, "user_%u", uid);
        assert_int_equal(
            identity_add_user(id, uid, bid, uid % 3 == 0 ? ext : NULL, uid % 3 != 0, false), 0);
        if (uid % 5 == 0) {
            snprintf(key, sizeof key, "a%u", uid);
            assert_int_equal(identity_put_alias(id, "crm", key, uid), 0);
        }
        if (uid % 3 != 0) {
            snprintf(key, sizeof key, "dev%u", uid);
            assert_int_equal(identity_put_device(id, key, uid), 0);
        }
        if (uid % 7 == 0) {
            snprintf(key, sizeof key, "U%u@X.org", uid);
            assert_int_equal(identity_put_contact(id, IDENTITY_EMAIL, key, strlen(key), uid), 0);
        }
        json_t *attrs = json_pack("{s:s, s:i, s:[s,s]}", "plan", uid % 2 ? "pro" : "free", "age",
                                  (int)(uid % 50), "tags", "a", uid % 4 ? "b" : "c");
        assert_int_equal(attr_index_set(&ws->attrs, uid, NULL, attrs), 0);
        json_decref(attrs);
        for (int k = 0; k < (int)(uid % 4); k++)
            assert_int_equal(event_index_bump(&ws->events, "bought", uid, 1,
                                              1700000000000 + (int64_t)uid * 1000 + k),
                             0);
    }
    identity_del_device(id, "dev4");
    identity_kill_user(id, 4);
    struct cohort *c1 = cohort_set_add(&ws->cohorts, "heap", "c1");
    struct cohort *c2 = cohort_set_add(&ws->cohorts, "heap", "c2");
    assert_non_null(c1);
    assert_non_null(c2);
    c1->id = 5;
    c2->id = 9;
    c1->n_log = 3;
    for (uint32_t uid = 1; uid <= 300; uid += 2)
        roaring_bitmap_add(c1->members, uid);
    roaring_bitmap_add(c2->members, 42);
}

static int setup(void **state) {
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/cohortd-snap-unit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snapshot_path(f->dir, 7, f->path, sizeof f->path);
    f->ws = fresh();
    fill(f->ws);
    f->mark = (struct store_snapshot_mark){.supported = true, .user_seq = 11, .log_seq = 40};
    memset(f->mark.store_id, 0xab, sizeof f->mark.store_id);
    uint64_t bytes = 0;
    char why[256] = "";
    struct snapshot_indexes ix = of(f->ws);
    assert_int_equal(snapshot_write(&ix, &f->mark, f->path, &bytes, why, sizeof why), CD_OK);
    assert_true(bytes > 0);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fx *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    drop(f->ws);
    free(f);
    return 0;
}

static void same_bitmap(const roaring_bitmap_t *a, const roaring_bitmap_t *b) {
    assert_true(roaring_bitmap_equals(a, b));
}

static void test_a_snapshot_reads_back_the_indexes_it_was_written_from(void **state) {
    struct fx *f = *state;
    struct workspace *got = fresh();
    struct snapshot_cohorts sc;
    char why[256] = "";
    struct snapshot_indexes ix = of(got);
    assert_int_equal(snapshot_read(&ix, f->path, &f->mark, &sc, why, sizeof why), SNAPSHOT_USED);
    const struct identity *a = &f->ws->ident, *b = &got->ident;
    assert_int_equal(b->n_users, a->n_users);
    assert_int_equal(b->n_live, a->n_live);
    assert_memory_equal(b->users, a->users, (size_t)a->n_users * sizeof *a->users);
    same_bitmap(b->live, a->live);
    same_bitmap(b->identified, a->identified);
    assert_int_equal(identity_by_external(b, "user_9", NULL), 9);
    assert_int_equal(identity_by_alias(b, "crm", "a10", NULL), 10);
    assert_int_equal(identity_by_device(b, "dev5", NULL), 5);
    assert_int_equal(identity_by_device(b, "dev4", NULL), 0);
    assert_false(identity_is_live(b, 4));
    uint32_t holder = 0;
    assert_int_equal(identity_by_contact(b, IDENTITY_EMAIL, "u14@x.org", 9, &holder, 1), 1);
    assert_int_equal(holder, 14);
    /* every filter kind over the attribute and event indexes */
    json_t *pro = json_string("pro"), *tag = json_string("c");
    roaring_bitmap_t *x = attr_index_equals(&f->ws->attrs, "plan", pro);
    roaring_bitmap_t *y = attr_index_equals(&got->attrs, "plan", pro);
    same_bitmap(x, y);
    assert_int_equal(roaring_bitmap_get_cardinality(y), 150);
    roaring_bitmap_free(x);
    roaring_bitmap_free(y);
    x = attr_index_compare(&f->ws->attrs, "age", ATTR_GTE, 40);
    y = attr_index_compare(&got->attrs, "age", ATTR_GTE, 40);
    same_bitmap(x, y);
    roaring_bitmap_free(x);
    roaring_bitmap_free(y);
    x = attr_index_contains(&f->ws->attrs, "tags", tag);
    y = attr_index_contains(&got->attrs, "tags", tag);
    same_bitmap(x, y);
    assert_true(roaring_bitmap_get_cardinality(y) > 0);
    roaring_bitmap_free(x);
    roaring_bitmap_free(y);
    json_decref(pro);
    json_decref(tag);
    x = event_index_performed(&f->ws->events, "bought", 2, 0);
    y = event_index_performed(&got->events, "bought", 2, 0);
    same_bitmap(x, y);
    assert_int_equal(roaring_bitmap_get_cardinality(y), 150);
    roaring_bitmap_free(x);
    roaring_bitmap_free(y);
    /* the loaded indexes take further changes */
    assert_int_equal(event_index_bump(&got->events, "bought", 1, 60, 1800000000000), 0);
    assert_int_equal(identity_put_alias(&got->ident, "crm", "new", 1), 0);
    assert_int_equal(identity_by_alias(&got->ident, "crm", "new", NULL), 1);
    /* cohorts, by row id */
    assert_int_equal(sc.n, 2);
    assert_int_equal(sc.log_seq, 40);
    assert_int_equal(sc.v[0].id, 5);
    assert_int_equal(sc.v[0].n_log, 3);
    same_bitmap(sc.v[0].members, f->ws->cohorts.v[0]->members);
    assert_int_equal(sc.v[1].id, 9);
    assert_true(roaring_bitmap_contains(sc.v[1].members, 42));
    snapshot_cohorts_free(&sc);
    drop(got);
}

static enum snapshot_miss read_with(struct fx *f, struct store_snapshot_mark m) {
    struct workspace *got = fresh();
    struct snapshot_cohorts sc;
    char why[256] = "";
    struct snapshot_indexes ix = of(got);
    enum snapshot_miss r = snapshot_read(&ix, f->path, &m, &sc, why, sizeof why);
    assert_true(why[0] != '\0' || r == SNAPSHOT_USED);
    snapshot_cohorts_free(&sc);
    drop(got);
    return r;
}

static void test_a_snapshot_is_refused_when_its_header_or_body_does_not_match(void **state) {
    struct fx *f = *state;
    struct store_snapshot_mark m = f->mark;
    m.store_id[3] ^= 1;
    assert_int_equal(read_with(f, m), SNAPSHOT_FOREIGN);
    m = f->mark;
    m.user_seq--; /* the store is behind the snapshot's user changes */
    assert_int_equal(read_with(f, m), SNAPSHOT_STALE);
    m = f->mark;
    m.user_seq += 3; /* users to replay (workspace.c does): fine */
    assert_int_equal(read_with(f, m), SNAPSHOT_USED);
    m = f->mark;
    m.log_seq--; /* the store is behind the snapshot */
    assert_int_equal(read_with(f, m), SNAPSHOT_STALE);
    m = f->mark;
    m.log_seq += 5; /* log rows to replay: fine */
    assert_int_equal(read_with(f, m), SNAPSHOT_USED);
    /* one byte of the body changed: the checksum */
    FILE *fp = fopen(f->path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 200, SEEK_SET), 0);
    int c = fgetc(fp);
    assert_int_equal(fseek(fp, 200, SEEK_SET), 0);
    fputc(c ^ 1, fp);
    fclose(fp);
    assert_int_equal(read_with(f, f->mark), SNAPSHOT_CORRUPT);
    assert_int_equal(truncate(f->path, 100), 0);
    assert_int_equal(read_with(f, f->mark), SNAPSHOT_CORRUPT);
    unlink(f->path);
    assert_int_equal(read_with(f, f->mark), SNAPSHOT_MISSING);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_snapshot_reads_back_the_indexes_it_was_written_from,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_snapshot_is_refused_when_its_header_or_body_does_not_match, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
