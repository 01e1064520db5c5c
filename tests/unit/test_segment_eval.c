/*
 * test_segment_eval.c — segment evaluation against a naive reference: random users (live or
 * deleted, identified or anonymous), random cohort memberships, attributes and events, then
 * many random filters evaluated both by cohortd (bitmaps and indexes) and by plain loops over
 * arrays in this test. The audiences must be identical. Seeds are fixed and printed on failure.
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

#include "../../bench/segment_workspace.h" /* the workspace the segment benchmark builds too */
#include "core/segments/segment_filter.h"
#include "core/workspace/workspace_int.h"

#define N_USERS 3000
#define N_COHORTS 5
#define NOW 1800000000000LL

struct model_user {
    int live, identified;
    int in_cohort[N_COHORTS];
    const char *plan; /* NULL = absent */
    int has_age;
    int age;
    int events; /* count of "buy" */
    int64_t last;
};

static struct model_user users[N_USERS + 1];
static const char *const plans[] = {"free", "trial", "pro"};

static unsigned rnd(unsigned *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void build(struct workspace *ws, unsigned *seed) {
    struct cohort *cohorts[N_COHORTS];
    segment_workspace_init(ws, cohorts, N_COHORTS);
    for (uint32_t u = 1; u <= N_USERS; u++) {
        struct model_user *m = &users[u];
        memset(m, 0, sizeof *m);
        m->live = rnd(seed) % 10 != 0;
        m->identified = rnd(seed) % 3 != 0;
        uint8_t bid[12] = {0};
        char ext[16];
        snprintf(ext, sizeof ext, "e%u", u);
        identity_add_user(&ws->ident, u, bid, m->identified ? ext : NULL, !m->identified, false);
        for (int c = 0; c < N_COHORTS; c++) {
            /* cohorts of very different densities */
            m->in_cohort[c] = rnd(seed) % (unsigned)(2 + c * 3) == 0;
            if (m->in_cohort[c])
                roaring_bitmap_add(cohorts[c]->members, u);
        }
        json_t *attrs = json_object();
        if (rnd(seed) % 4) {
            m->plan = plans[rnd(seed) % 3];
            json_object_set_new(attrs, "plan", json_string(m->plan));
        }
        if (rnd(seed) % 2) {
            m->has_age = 1;
            m->age = (int)(rnd(seed) % 80);
            json_object_set_new(attrs, "age", json_integer(m->age));
        }
        attr_index_set(&ws->attrs, u, NULL, attrs);
        m->events = (int)(rnd(seed) % 4);
        if (m->events) {
            m->last = NOW - (int64_t)(rnd(seed) % 60) * 86400000LL;
            event_index_bump(&ws->events, "buy", u, m->events, m->last);
        }
        if (!m->live) {
            /* a deleted user leaves every index, as user_remove does */
            identity_kill_user(&ws->ident, u);
            cohort_set_drop_user(&ws->cohorts, u);
            attr_index_set(&ws->attrs, u, attrs, NULL);
            event_index_drop_user(&ws->events, u);
        }
        json_decref(attrs);
    }
}

/* and / or nodes get 1 to max_kids children */
static unsigned max_kids = 3;

/* A random filter as JSON, and the reference answer per user via the model. */
static json_t *random_filter(unsigned *s, int depth) {
    unsigned k = rnd(s) % (depth < 3 ? 8 : 5);
    switch (k) {
    case 0: {
        char id[8];
        snprintf(id, sizeof id, "c%u", rnd(s) % N_COHORTS);
        return json_pack("{s:{s:s, s:s}, s:s}", "cohort", "partner", "heap", "cohort_id", id, "op",
                         rnd(s) % 2 ? "includes" : "excludes");
    }
    case 1:
        return json_pack("{s:b}", "identified", rnd(s) % 2);
    case 2: {
        static const char *const ops[] = {"equals", "not_equals", "exists", "not_exists"};
        const char *op = ops[rnd(s) % 4];
        json_t *f = json_pack("{s:s, s:s}", "attribute", "plan", "op", op);
        if (strcmp(op, "exists") && strcmp(op, "not_exists"))
            json_object_set_new(f, "value", json_string(plans[rnd(s) % 3]));
        return f;
    }
    case 3: {
        static const char *const ops[] = {"gt", "gte", "lt", "lte"};
        return json_pack("{s:s, s:s, s:i}", "attribute", "age", "op", ops[rnd(s) % 4], "value",
                         (int)(rnd(s) % 80));
    }
    case 4: {
        json_t *f = json_pack("{s:s, s:s}", "event", "buy", "op",
                              rnd(s) % 2 ? "performed" : "not_performed");
        if (rnd(s) % 2)
            json_object_set_new(f, "min_count", json_integer(1 + rnd(s) % 3));
        if (rnd(s) % 2)
            json_object_set_new(f, "within_days", json_integer(1 + rnd(s) % 60));
        return f;
    }
    case 5:
        return json_pack("{s:o}", "not", random_filter(s, depth + 1));
    default: {
        json_t *arr = json_array();
        int n = 1 + (int)(rnd(s) % max_kids);
        for (int i = 0; i < n; i++)
            json_array_append_new(arr, random_filter(s, depth + 1));
        return json_pack("{s:o}", k == 6 ? "and" : "or", arr);
    }
    }
}

static int model_match(const json_t *f, const struct model_user *m) {
    const json_t *v;
    if ((v = json_object_get(f, "and"))) {
        size_t i;
        const json_t *x;
        json_array_foreach(v, i, x) if (!model_match(x, m)) return 0;
        return 1;
    }
    if ((v = json_object_get(f, "or"))) {
        size_t i;
        const json_t *x;
        json_array_foreach(v, i, x) if (model_match(x, m)) return 1;
        return 0;
    }
    if ((v = json_object_get(f, "not")))
        return !model_match(v, m);
    const char *op = json_string_value(json_object_get(f, "op"));
    if ((v = json_object_get(f, "cohort"))) {
        int c = json_string_value(json_object_get(v, "cohort_id"))[1] - '0';
        return strcmp(op, "includes") == 0 ? m->in_cohort[c] : !m->in_cohort[c];
    }
    if ((v = json_object_get(f, "identified")))
        return json_is_true(v) ? m->identified : !m->identified;
    if ((v = json_object_get(f, "event"))) {
        const json_t *mc = json_object_get(f, "min_count"), *wd = json_object_get(f, "within_days");
        int performed = m->events >= (mc ? json_integer_value(mc) : 1) &&
                        (!wd || m->last >= NOW - json_integer_value(wd) * 86400000LL);
        return strcmp(op, "performed") == 0 ? performed : !performed;
    }
    const char *attr = json_string_value(json_object_get(f, "attribute"));
    const json_t *value = json_object_get(f, "value");
    if (strcmp(attr, "plan") == 0) {
        if (strcmp(op, "exists") == 0)
            return m->plan != NULL;
        if (strcmp(op, "not_exists") == 0)
            return m->plan == NULL;
        int eq = m->plan && strcmp(m->plan, json_string_value(value)) == 0;
        return strcmp(op, "equals") == 0 ? eq : (m->plan && !eq);
    }
    int x = (int)json_integer_value(value);
    if (!m->has_age)
        return 0;
    if (strcmp(op, "gt") == 0)
        return m->age > x;
    if (strcmp(op, "gte") == 0)
        return m->age >= x;
    if (strcmp(op, "lt") == 0)
        return m->age < x;
    return m->age <= x;
}

/* Every filter's audience (segment_eval) and size (segment_size) against the model. */
static void check_random_filters(unsigned seeds, int per_seed) {
    for (unsigned seed0 = 1; seed0 <= seeds; seed0++) {
        unsigned seed = 2463534242u * seed0;
        struct workspace ws;
        build(&ws, &seed);
        for (int t = 0; t < per_seed; t++) {
            json_t *f = random_filter(&seed, 0);
            char err[256];
            struct seg_node *n = segment_filter_parse(f, NULL, err, sizeof err);
            if (!n) {
                char *text = json_dumps(f, JSON_COMPACT);
                fail_msg("seed %u filter %d did not parse: %s (%s)", seed0, t, err, text);
            }
            roaring_bitmap_t *got = segment_eval(n, &ws, NOW);
            roaring_bitmap_t *want = roaring_bitmap_create();
            for (uint32_t u = 1; u <= N_USERS; u++)
                if (users[u].live && model_match(f, &users[u]))
                    roaring_bitmap_add(want, u);
            if (!roaring_bitmap_equals(got, want)) {
                char *text = json_dumps(f, JSON_COMPACT);
                fail_msg("seed %u filter %d %s: cohortd %llu users, reference %llu", seed0, t, text,
                         (unsigned long long)roaring_bitmap_get_cardinality(got),
                         (unsigned long long)roaring_bitmap_get_cardinality(want));
            }
            uint64_t size = 0;
            if (segment_size(n, &ws, NOW, &size) != 0 ||
                size != roaring_bitmap_get_cardinality(want)) {
                char *text = json_dumps(f, JSON_COMPACT);
                fail_msg("seed %u filter %d %s: cohortd size %llu, reference %llu", seed0, t, text,
                         (unsigned long long)size,
                         (unsigned long long)roaring_bitmap_get_cardinality(want));
            }
            roaring_bitmap_free(got);
            roaring_bitmap_free(want);
            segment_filter_free(n);
            json_decref(f);
        }
        segment_workspace_free(&ws);
    }
}

static void test_random_filters_match_naive_reference(void **state) {
    (void)state;
    max_kids = 3;
    check_random_filters(3, 300);
}

/* wide and / or nodes: several positive and negated children at once (the chains of
 * segment_eval.c: smallest positive first, ANDNOT of negated children, OR with negated ones) */
static void test_wide_random_filters_match_naive_reference_in_audience_and_size(void **state) {
    (void)state;
    max_kids = 6;
    check_random_filters(4, 400);
    max_kids = 3;
}

/* ---- sizes over many chunks: bitset, array and run containers ----
 *
 * segment_size counts 65536 users at a time from the containers themselves; the model above
 * has one chunk of array containers only. Here 5 chunks and a part, cohorts stored as every
 * container kind, some users deleted, and random cohort / identified trees whose size must be
 * that of a straightforward evaluation with whole bitmaps (copy, AND, OR, live ANDNOT). */

#define BIG_USERS (5 * 65536 + 1234)
#define BIG_COHORTS 6

static roaring_bitmap_t *straightforward(const struct seg_node *n, const struct workspace *ws) {
    roaring_bitmap_t *out;
    switch (n->kind) {
    case SEG_AND:
    case SEG_OR:
        out = straightforward(n->kids[0], ws);
        for (size_t i = 1; i < n->n_kids; i++) {
            roaring_bitmap_t *k = straightforward(n->kids[i], ws);
            if (n->kind == SEG_AND)
                roaring_bitmap_and_inplace(out, k);
            else
                roaring_bitmap_or_inplace(out, k);
            roaring_bitmap_free(k);
        }
        return out;
    case SEG_NOT: {
        roaring_bitmap_t *k = straightforward(n->kids[0], ws);
        out = roaring_bitmap_andnot(ws->ident.live, k);
        roaring_bitmap_free(k);
        return out;
    }
    case SEG_COHORT:
        out = roaring_bitmap_and(cohort_find(&ws->cohorts, n->partner, n->cohort_id)->members,
                                 ws->ident.live);
        break;
    default: /* identified */
        out = roaring_bitmap_and(ws->ident.identified, ws->ident.live);
        break;
    }
    if (n->negate) {
        roaring_bitmap_t *c = roaring_bitmap_andnot(ws->ident.live, out);
        roaring_bitmap_free(out);
        out = c;
    }
    return out;
}

static json_t *random_set_filter(unsigned *s, int depth) {
    unsigned k = rnd(s) % (depth < 4 ? 6 : 3);
    if (k <= 1) {
        char id[8];
        snprintf(id, sizeof id, "c%u", rnd(s) % BIG_COHORTS);
        return json_pack("{s:{s:s, s:s}, s:s}", "cohort", "partner", "heap", "cohort_id", id, "op",
                         rnd(s) % 3 ? "includes" : "excludes");
    }
    if (k == 2)
        return json_pack("{s:b}", "identified", rnd(s) % 2);
    if (k == 3)
        return json_pack("{s:o}", "not", random_set_filter(s, depth + 1));
    json_t *arr = json_array();
    int n = 1 + (int)(rnd(s) % 6);
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, random_set_filter(s, depth + 1));
    return json_pack("{s:o}", k == 4 ? "and" : "or", arr);
}

static void test_sizes_over_many_chunks_of_every_container_kind_match_whole_bitmaps(void **state) {
    (void)state;
    unsigned seed = 2654435761u;
    struct workspace ws;
    struct cohort *c[BIG_COHORTS];
    segment_workspace_init(&ws, c, BIG_COHORTS);
    identity_reserve(&ws.ident, BIG_USERS);
    for (uint32_t u = 1; u <= BIG_USERS; u++) {
        uint8_t bid[12] = {0};
        char ext[16];
        snprintf(ext, sizeof ext, "e%u", u);
        bool ident = rnd(&seed) % 4 != 0;
        identity_add_user(&ws.ident, u, bid, ident ? ext : NULL, !ident, false);
        unsigned r = rnd(&seed);
        if (r % 2 == 0) /* dense: bitset containers */
            roaring_bitmap_add(c[0]->members, u);
        if (r % 50 == 1) /* sparse: array containers */
            roaring_bitmap_add(c[1]->members, u);
        if (u % 1000 < 600) /* ranges: run containers after run_optimize */
            roaring_bitmap_add(c[2]->members, u);
        if (u >> 16 == 3) /* one full chunk and nothing else */
            roaring_bitmap_add(c[3]->members, u);
        if (r % 3 == 1) /* dense again, mixed kinds below */
            roaring_bitmap_add(c[4]->members, u);
        if ((u >> 16) % 2 == 0 && r % 5 == 2) /* every other chunk only */
            roaring_bitmap_add(c[5]->members, u);
    }
    roaring_bitmap_run_optimize(c[2]->members);
    roaring_bitmap_run_optimize(c[3]->members);
    roaring_bitmap_run_optimize(c[4]->members);
    for (uint32_t u = 2 * 65536; u < 3 * 65536; u += 7) { /* deleted users, as user_remove does */
        identity_kill_user(&ws.ident, u);
        cohort_set_drop_user(&ws.cohorts, u);
    }
#ifdef COHORTD_FAULTS
    /* each pass this CPU can run: the best one, then the narrower ones forced */
    static const enum segment_pass passes[] = {SEGMENT_PASS_BEST, SEGMENT_PASS_POPCNT,
                                               SEGMENT_PASS_PLAIN};
#else
    static const int passes[] = {0};
#endif
    for (size_t p = 0; p < sizeof passes / sizeof passes[0]; p++) {
#ifdef COHORTD_FAULTS
        segment_force_pass(passes[p]);
#endif
        for (int t = 0; t < 250; t++) {
            json_t *f = random_set_filter(&seed, 0);
            char err[256];
            struct seg_node *n = segment_filter_parse(f, &ws.cohorts, err, sizeof err);
            assert_non_null(n);
            roaring_bitmap_t *want = straightforward(n, &ws), *got = segment_eval(n, &ws, NOW);
            uint64_t size = 0;
            assert_int_equal(segment_size(n, &ws, NOW, &size), 0);
            if (size != roaring_bitmap_get_cardinality(want) || !roaring_bitmap_equals(got, want)) {
                char *text = json_dumps(f, JSON_COMPACT);
                fail_msg("pass %zu, filter %d %s: size %llu, audience %llu, straightforward %llu",
                         p, t, text, (unsigned long long)size,
                         (unsigned long long)roaring_bitmap_get_cardinality(got),
                         (unsigned long long)roaring_bitmap_get_cardinality(want));
            }
            roaring_bitmap_free(want);
            roaring_bitmap_free(got);
            segment_filter_free(n);
            json_decref(f);
        }
    }
#ifdef COHORTD_FAULTS
    segment_force_pass(SEGMENT_PASS_BEST);
#endif
    segment_workspace_free(&ws);
}

/* ---- "at least N times in the last D days" against counting every occurrence ---- */

#define T_USERS 400
#define T_MAX 90 /* occurrences per user: some past EVENT_RECENT_MAX */
#define DAY 86400000LL

struct times_user {
    int64_t at[2 * T_MAX]; /* room for a merge */
    int n;
};

static int cmp_desc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int naive_in_window(const struct times_user *t, int64_t min_count, int64_t since) {
    int64_t k = 0;
    for (int i = 0; i < t->n; i++)
        k += t->at[i] >= since;
    return t->n >= min_count && k >= min_count;
}

/* Compares ix with the naive answer for every N in 1..EVENT_RECENT_MAX and several D. */
static void check_against_naive(const struct event_index *ix, const struct times_user *tu,
                                const char *what, unsigned seed) {
    static const int64_t days[] = {1, 3, 7, 30, 365};
    for (int64_t n = 1; n <= EVENT_RECENT_MAX; n++) {
        for (size_t d = 0; d < sizeof days / sizeof days[0]; d++) {
            int64_t since = NOW - days[d] * DAY;
            roaring_bitmap_t *got = event_index_performed(ix, "buy", n, since);
            for (uint32_t u = 1; u <= T_USERS; u++) {
                int want = naive_in_window(&tu[u], n, since);
                if (want != (int)roaring_bitmap_contains(got, u))
                    fail_msg("%s seed %u user %u (%d events): at least %lld in %lld days: "
                             "cohortd %d, naive %d",
                             what, seed, u, tu[u].n, (long long)n, (long long)days[d], !want, want);
            }
            roaring_bitmap_free(got);
        }
    }
}

static void test_min_count_within_days_matches_naive_count_of_random_times(void **state) {
    (void)state;
    static struct times_user tu[T_USERS + 1];
    for (unsigned seed0 = 1; seed0 <= 3; seed0++) {
        unsigned seed = 88172645u * seed0;
        struct event_index ix, loaded;
        event_index_init(&ix);
        event_index_init(&loaded);
        for (uint32_t u = 1; u <= T_USERS; u++) {
            tu[u].n = (int)(rnd(&seed) % T_MAX);
            for (int i = 0; i < tu[u].n; i++) {
                /* arrival order is not time order; some times repeat exactly */
                int64_t at = rnd(&seed) % 5 == 0 && i ? tu[u].at[i - 1]
                                                      : NOW - (int64_t)(rnd(&seed) % (40 * DAY));
                tu[u].at[i] = at;
                assert_int_equal(event_index_bump(&ix, "buy", u, 1, at), 0);
            }
        }
        check_against_naive(&ix, tu, "bumped", seed0);
        /* what the store keeps: the count, the last time, the min(count, 50) newest times, in
         * any order */
        for (uint32_t u = 1; u <= T_USERS; u++) {
            if (!tu[u].n)
                continue;
            int64_t sorted[2 * T_MAX];
            memcpy(sorted, tu[u].at, sizeof sorted);
            qsort(sorted, (size_t)tu[u].n, sizeof sorted[0], cmp_desc);
            size_t keep = tu[u].n < EVENT_RECENT_MAX ? (size_t)tu[u].n : EVENT_RECENT_MAX;
            for (size_t i = 0; i + 1 < keep; i += 2) { /* shuffle pairs */
                int64_t x = sorted[i];
                sorted[i] = sorted[i + 1];
                sorted[i + 1] = x;
            }
            int64_t last = tu[u].at[0];
            for (int i = 1; i < tu[u].n; i++)
                last = tu[u].at[i] > last ? tu[u].at[i] : last;
            assert_int_equal(event_index_load(&loaded, "buy", u, tu[u].n, last, sorted, keep), 0);
        }
        check_against_naive(&loaded, tu, "loaded", seed0);
        /* identify-merge: user u + 1 goes onto user u for odd u */
        for (uint32_t u = 1; u < T_USERS; u += 2) {
            assert_int_equal(event_index_merge(&ix, u + 1, u), 0);
            memcpy(tu[u].at + tu[u].n, tu[u + 1].at, (size_t)tu[u + 1].n * sizeof(int64_t));
            tu[u].n += tu[u + 1].n;
            tu[u + 1].n = 0;
        }
        check_against_naive(&ix, tu, "merged", seed0);
        /* deleted users leave the index; their freed blocks serve the next occurrences */
        for (uint32_t u = 1; u <= T_USERS; u += 3) {
            event_index_drop_user(&ix, u);
            tu[u].n = 0;
        }
        for (uint32_t u = 2; u <= T_USERS; u += 3) {
            int more = (int)(rnd(&seed) % 40);
            for (int i = 0; i < more && tu[u].n < 2 * T_MAX; i++) {
                int64_t at = NOW - (int64_t)(rnd(&seed) % (40 * DAY));
                tu[u].at[tu[u].n++] = at;
                assert_int_equal(event_index_bump(&ix, "buy", u, 1, at), 0);
            }
        }
        check_against_naive(&ix, tu, "dropped and bumped again", seed0);
        event_index_free(&ix);
        event_index_free(&loaded);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_filters_match_naive_reference),
        cmocka_unit_test(test_wide_random_filters_match_naive_reference_in_audience_and_size),
        cmocka_unit_test(test_sizes_over_many_chunks_of_every_container_kind_match_whole_bitmaps),
        cmocka_unit_test(test_min_count_within_days_matches_naive_count_of_random_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
