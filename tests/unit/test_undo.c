/*
 * test_undo.c — the undo journal of a workspace write: a series of index changes made under a
 * journal and rolled back leaves every map and bitmap as it was (compared with a twin index
 * built by the same steps without the changes), and a commit keeps them.
 */
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

#include "core/index/attr_index.h"
#include "core/index/cohort.h"
#include "core/index/event_index.h"
#include "core/index/identity.h"
#include "core/index/undo.h"

/* ---- comparing indexes ---- */

static void assert_strmap_same(const struct strmap *a, const struct strmap *b) {
    assert_int_equal(a->cap, b->cap);
    assert_int_equal(a->n_used, b->n_used);
    assert_int_equal(a->n_tomb, b->n_tomb);
    assert_int_equal(a->arena_len, b->arena_len);
    if (a->cap)
        assert_memory_equal(a->slots, b->slots, a->cap * sizeof *a->slots);
    if (a->arena_len)
        assert_memory_equal(a->arena, b->arena, a->arena_len);
}

static void assert_bitmap_same(const roaring_bitmap_t *a, const roaring_bitmap_t *b) {
    assert_true(roaring_bitmap_equals(a, b));
}

static void assert_identity_same(const struct identity *a, const struct identity *b) {
    assert_int_equal(a->n_users, b->n_users);
    assert_int_equal(a->n_live, b->n_live);
    uint32_t cap = a->users_cap < b->users_cap ? a->users_cap : b->users_cap;
    assert_memory_equal(a->users, b->users, cap * sizeof *a->users);
    const struct identity *big = a->users_cap > b->users_cap ? a : b;
    for (uint32_t u = cap; u < big->users_cap; u++)
        assert_int_equal(big->users[u].flags, 0);
    assert_bitmap_same(a->live, b->live);
    assert_bitmap_same(a->identified, b->identified);
    assert_strmap_same(&a->ext, &b->ext);
    assert_strmap_same(&a->alias, &b->alias);
    assert_strmap_same(&a->device, &b->device);
}

static void assert_attrs_same(const struct attr_index *a, const struct attr_index *b) {
    assert_int_equal(a->n, b->n);
    assert_strmap_same(&a->names, &b->names);
    for (size_t i = 0; i < a->n; i++) {
        const struct attr_values *x = a->v[i], *y = b->v[i];
        assert_string_equal(a->name_list[i], b->name_list[i]);
        assert_bitmap_same(x->exists, y->exists);
        assert_strmap_same(&x->eq, &y->eq);
        assert_strmap_same(&x->elem, &y->elem);
        assert_int_equal(x->n_bitmaps, y->n_bitmaps);
        for (size_t k = 0; k < x->n_bitmaps; k++)
            assert_bitmap_same(x->bitmaps[k], y->bitmaps[k]);
    }
}

static void assert_cohorts_same(const struct cohort_set *a, const struct cohort_set *b) {
    assert_int_equal(a->n, b->n);
    assert_strmap_same(&a->by_key, &b->by_key);
    for (size_t i = 0; i < a->n; i++) {
        const struct cohort *x = a->v[i], *y = b->v[i];
        assert_string_equal(x->partner, y->partner);
        assert_string_equal(x->cohort_id, y->cohort_id);
        if (x->name || y->name)
            assert_string_equal(x->name ? x->name : "(none)", y->name ? y->name : "(none)");
        assert_int_equal(x->id, y->id);
        assert_int_equal(x->created_at, y->created_at);
        assert_int_equal(x->changed_at, y->changed_at);
        assert_int_equal(x->n_ids_received, y->n_ids_received);
        assert_int_equal(x->n_ids_matched, y->n_ids_matched);
        assert_int_equal(x->n_ids_unmatched, y->n_ids_unmatched);
        assert_int_equal(x->n_log, y->n_log);
        assert_bitmap_same(x->members, y->members);
    }
}

/* The stat of uid in column c, or NULL (a read of event_index's open-addressing table). */
static const struct event_stat *find_stat(const struct event_column *c, uint32_t uid) {
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].uid == uid && c->slots[i].count)
            return &c->slots[i];
    return NULL;
}

/* b answers every question as a does: the same users per event, each with the same count,
 * last time and kept times. A rollback may leave a column's table grown, or an event name
 * the failed write introduced with nobody in it; neither changes an answer. */
static void assert_events_same(const struct event_index *a, const struct event_index *b) {
    for (size_t j = 0; j < b->n; j++) {
        uint32_t i;
        if (!strmap_get(&a->names, b->name_list[j], strlen(b->name_list[j]), &i)) {
            assert_true(roaring_bitmap_is_empty(b->cols[j].users));
            continue;
        }
        const struct event_column *ca = &a->cols[i], *cb = &b->cols[j];
        assert_bitmap_same(ca->users, cb->users);
        for (uint32_t uid = 1; uid <= 300; uid++) {
            const struct event_stat *sa = find_stat(ca, uid), *sb = find_stat(cb, uid);
            assert_int_equal(sa != NULL, sb != NULL);
            if (!sa)
                continue;
            assert_int_equal(sa->count, sb->count);
            assert_int_equal(sa->last_at, sb->last_at);
            assert_int_equal(sa->n_recent, sb->n_recent);
            for (size_t k = 0; sa->recent_cap && k < sa->n_recent; k++)
                assert_int_equal(ca->pool[sa->recent + k], cb->pool[sb->recent + k]);
        }
    }
    for (size_t i = 0; i < a->n; i++)
        assert_true(
            strmap_get(&b->names, a->name_list[i], strlen(a->name_list[i]), &(uint32_t){0}));
}

/* ---- identity ---- */

static void add_user(struct identity *id, uint32_t uid, const char *ext, bool anon) {
    uint8_t bid[12];
    assert_int_equal(identity_new_braze_id(uid, 1700000000000, bid), 0);
    memset(bid + 4, 0, 4); /* the twins must hold the same bytes */
    assert_int_equal(identity_add_user(id, uid, bid, ext, anon, false), 0);
}

/* The state both twins share: 20 users, aliases, devices. */
static void identity_base(struct identity *id) {
    identity_init(id);
    char buf[32];
    for (uint32_t u = 1; u <= 20; u++) {
        snprintf(buf, sizeof buf, "ext-%u", u);
        add_user(id, u, u % 4 ? buf : NULL, u % 4 == 0);
        snprintf(buf, sizeof buf, "al-%u", u);
        assert_int_equal(identity_put_alias(id, "email", buf, u), 0);
        snprintf(buf, sizeof buf, "dev-%u", u);
        assert_int_equal(identity_put_device(id, buf, u), 0);
    }
}

static void test_undo_restores_identity_after_failed_write(void **state) {
    (void)state;
    struct identity before, id;
    identity_base(&before);
    identity_base(&id);
    struct undo u;
    undo_init(&u);
    id.undo = &u;
    /* enough new users and keys to grow the user table and every map */
    char buf[64];
    for (uint32_t k = 21; k <= 3000; k++) {
        snprintf(buf, sizeof buf, "new-%u", k);
        add_user(&id, k, buf, false);
        assert_int_equal(identity_put_alias(&id, "crm", buf, k), 0);
        assert_int_equal(identity_put_device(&id, buf, k), 0);
    }
    char *long_name = calloc(1, 3001);
    assert_non_null(long_name);
    memset(long_name, 'n', 3000);
    assert_int_equal(identity_put_alias(&id, "email", long_name, 5), 0);
    assert_int_equal(identity_by_alias(&id, "email", long_name, NULL), 5);
    assert_int_equal(identity_set_external(&id, 4, "now-known"), 0);  /* anonymous user 4 */
    assert_int_equal(identity_put_alias(&id, "email", "al-1", 2), 0); /* moved to another */
    identity_del_alias(&id, "email", "al-3");
    identity_del_device(&id, "dev-6");
    identity_del_external(&id, "ext-7");
    identity_kill_user(&id, 7);
    identity_kill_user(&id, 8);                                /* anonymous */
    assert_int_equal(identity_put_device(&id, "dev-6", 9), 0); /* re-added elsewhere */
    assert_false(u.lost);
    id.undo = NULL;
    undo_rollback(&u);
    assert_identity_same(&before, &id);
    assert_int_equal(identity_by_alias(&id, "email", long_name, NULL), 0);
    assert_int_equal(identity_by_alias(&id, "email", "al-3", NULL), 3);
    assert_int_equal(identity_by_external(&id, "ext-7", NULL), 7);
    /* the journal is reusable, and a commit keeps the change */
    id.undo = &u;
    identity_kill_user(&id, 9);
    id.undo = NULL;
    undo_commit(&u);
    assert_false(identity_is_live(&id, 9));
    assert_int_equal(u.n, 0);
    free(long_name);
    undo_free(&u);
    identity_free(&before);
    identity_free(&id);
}

/* ---- attribute index ---- */

static void set_attrs(struct attr_index *ix, uint32_t uid, const char *old, const char *now) {
    json_t *o = old ? json_loads(old, 0, NULL) : NULL;
    json_t *n = now ? json_loads(now, 0, NULL) : NULL;
    assert_int_equal(attr_index_set(ix, uid, o, n), 0);
    json_decref(o);
    json_decref(n);
}

static void attrs_base(struct attr_index *ix) {
    attr_index_init(ix);
    for (uint32_t u = 1; u <= 10; u++)
        set_attrs(ix, u, NULL,
                  u % 2 ? "{\"plan\":\"free\",\"tags\":[\"a\",\"b\"]}"
                        : "{\"plan\":\"paid\",\"age\":30}");
}

static void test_undo_restores_attr_index_after_failed_write(void **state) {
    (void)state;
    struct attr_index before, ix;
    attrs_base(&before);
    attrs_base(&ix);
    struct undo u;
    undo_init(&u);
    ix.undo = &u;
    set_attrs(&ix, 1, "{\"plan\":\"free\",\"tags\":[\"a\",\"b\"]}",
              "{\"plan\":\"gold\",\"tags\":[\"c\"]}");
    set_attrs(&ix, 2, "{\"plan\":\"paid\",\"age\":30}", NULL);
    char attrs[2100], name[32];
    char *big = calloc(1, 2001);
    assert_non_null(big);
    memset(big, 'v', 2000);
    snprintf(attrs, sizeof attrs, "{\"note\":\"%s\"}", big);
    set_attrs(&ix, 3, NULL, attrs);
    json_t *v = json_string(big);
    roaring_bitmap_t *hit = attr_index_equals(&ix, "note", v);
    assert_true(roaring_bitmap_contains(hit, 3));
    roaring_bitmap_free(hit);
    for (int k = 0; k < 40; k++) { /* new attributes: the name table grows */
        snprintf(name, sizeof name, "{\"n%d\":%d}", k, k);
        set_attrs(&ix, 20 + (uint32_t)k, NULL, name);
    }
    assert_false(u.lost);
    ix.undo = NULL;
    undo_rollback(&u);
    assert_attrs_same(&before, &ix);
    hit = attr_index_equals(&ix, "note", v);
    assert_true(roaring_bitmap_is_empty(hit));
    roaring_bitmap_free(hit);
    json_decref(v);
    free(big);
    undo_free(&u);
    attr_index_free(&before);
    attr_index_free(&ix);
}

/* ---- cohort set ---- */

static void cohorts_base(struct cohort_set *set) {
    cohort_set_init(set);
    struct cohort *c = cohort_set_add(set, "heap", "c1");
    assert_non_null(c);
    c->id = 1;
    c->created_at = 100;
    for (uint32_t u = 1; u <= 10; u++)
        roaring_bitmap_add(c->members, u);
}

static void test_undo_restores_cohort_set_after_failed_write(void **state) {
    (void)state;
    struct cohort_set before, set;
    cohorts_base(&before);
    cohorts_base(&set);
    struct undo u;
    undo_init(&u);
    set.undo = &u;
    struct cohort *c = cohort_find(&set, "heap", "c1");
    assert_int_equal(cohort_set_name(&set, c, "Renamed", 50), 0);
    assert_int_equal(cohort_touch(&set, c), 0);
    c->n_ids_received += 5;
    c->n_log++;
    c->changed_at = 999;
    roaring_bitmap_t *adds = roaring_bitmap_from_range(11, 20, 1);
    roaring_bitmap_t *removes = roaring_bitmap_from_range(1, 4, 1);
    assert_int_equal(cohort_members_change(&set, c, adds, removes), 0);
    cohort_set_drop_user(&set, 5);
    char id[400];
    memset(id, 'x', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    for (int k = 0; k < 20; k++) { /* new cohorts, one with a 399-byte id */
        char small[16];
        snprintf(small, sizeof small, "n%d", k);
        struct cohort *n = cohort_set_add(&set, "heap", k ? small : id);
        assert_non_null(n);
        roaring_bitmap_add(n->members, 1); /* a brand-new cohort goes away whole */
    }
    assert_non_null(cohort_find(&set, "heap", id));
    assert_false(u.lost);
    set.undo = NULL;
    undo_rollback(&u);
    assert_cohorts_same(&before, &set);
    assert_null(cohort_find(&set, "heap", id));
    roaring_bitmap_free(adds);
    roaring_bitmap_free(removes);
    undo_free(&u);
    cohort_set_free(&before);
    cohort_set_free(&set);
}

/* ---- event index ---- */

static void events_base(struct event_index *ix) {
    event_index_init(ix);
    for (uint32_t u = 1; u <= 10; u++)
        assert_int_equal(event_index_bump(ix, "bought", u, 1, 1000 + u), 0);
}

static void test_undo_restores_event_index_after_failed_write(void **state) {
    (void)state;
    struct event_index before, ix;
    events_base(&before);
    events_base(&ix);
    struct undo u;
    undo_init(&u);
    ix.undo = &u;
    for (uint32_t k = 11; k <= 200; k++) /* the column grows */
        assert_int_equal(event_index_bump(&ix, "bought", k, 2, 5000), 0);
    assert_int_equal(event_index_bump(&ix, "bought", 3, 4, 9000), 0);
    assert_int_equal(event_index_bump(&ix, "viewed", 3, 1, 9000), 0);
    event_index_drop_user(&ix, 4);
    assert_int_equal(event_index_merge(&ix, 5, 6), 0);
    assert_false(u.lost);
    ix.undo = NULL;
    undo_rollback(&u);
    assert_events_same(&before, &ix);
    undo_free(&u);
    event_index_free(&before);
    event_index_free(&ix);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_undo_restores_identity_after_failed_write),
        cmocka_unit_test(test_undo_restores_attr_index_after_failed_write),
        cmocka_unit_test(test_undo_restores_cohort_set_after_failed_write),
        cmocka_unit_test(test_undo_restores_event_index_after_failed_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
