/*
 * test_event_days.c — the event index's day index (event_index.h): "performed within D days"
 * and "N times within D days" answered from the days give exactly what the scan of every
 * summary gives, through bumps in and out of order, stored summaries, drops (one user or a
 * snapshot replay's set), merges, rolled back writes, times before 1970 and past the last kept day,
 * and after the day index is rebuilt from the summaries alone (as a start-up snapshot does).
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdlib.h>

#include "core/index/event_index.h"
#include "core/index/undo.h"

#define DAY 86400000LL
#define NOW (20000 * DAY + 12345678) /* 2024-10-04, mid-day */

/* performed() from the days and from the scan (the day index set aside) agree. */
static void assert_days_match_scan(struct event_index *ix, const char *name, int64_t min_count,
                                   int64_t since) {
    roaring_bitmap_t *by_day = event_index_performed(ix, name, min_count, since);
    for (size_t i = 0; i < ix->n; i++)
        ix->cols[i].days_stale = true;
    roaring_bitmap_t *scan = event_index_performed(ix, name, min_count, since);
    for (size_t i = 0; i < ix->n; i++)
        ix->cols[i].days_stale = false;
    assert_non_null(by_day);
    assert_non_null(scan);
    if (!roaring_bitmap_equals(by_day, scan))
        fail_msg("min_count %lld since %lld: days %llu users, scan %llu", (long long)min_count,
                 (long long)since, (unsigned long long)roaring_bitmap_get_cardinality(by_day),
                 (unsigned long long)roaring_bitmap_get_cardinality(scan));
    roaring_bitmap_free(by_day);
    roaring_bitmap_free(scan);
}

static void assert_all_windows(struct event_index *ix) {
    static const int64_t mins[] = {0, 1, 2, 3, 5, EVENT_RECENT_MAX};
    static const int64_t back[] = {1, 2, 7, 30, 365, 36500};
    for (size_t m = 0; m < sizeof mins / sizeof *mins; m++)
        for (size_t b = 0; b < sizeof back / sizeof *back; b++) {
            assert_days_match_scan(ix, "buy", mins[m], NOW - back[b] * DAY);
            assert_days_match_scan(ix, "buy", mins[m], NOW - back[b] * DAY - 3 * 3600000);
        }
    /* a window beginning past the last kept day, and one before 1970 */
    assert_days_match_scan(ix, "buy", 1, (int64_t)(EVENT_DAY_LIMIT + 5) * DAY);
    assert_days_match_scan(ix, "buy", 2, -40 * DAY);
}

static void test_within_days_tests_the_first_day_user_by_user(void **state) {
    (void)state;
    struct event_index ix;
    event_index_init(&ix);
    int64_t since = NOW - 30 * DAY; /* mid-day: its day holds users on both sides */
    assert_int_equal(event_index_bump(&ix, "buy", 1, 1, since - 1), 0);
    assert_int_equal(event_index_bump(&ix, "buy", 2, 1, since), 0);
    assert_int_equal(event_index_bump(&ix, "buy", 3, 1, since + 1), 0);
    assert_int_equal(event_index_bump(&ix, "buy", 4, 1, NOW), 0);
    assert_int_equal(event_index_bump(&ix, "buy", 5, 1, since - DAY), 0);
    roaring_bitmap_t *r = event_index_performed(&ix, "buy", 1, since);
    roaring_bitmap_t *want = roaring_bitmap_of(3, 2, 3, 4);
    assert_true(roaring_bitmap_equals(r, want));
    roaring_bitmap_free(r);
    roaring_bitmap_free(want);
    /* user 1 buys again now: out of the first day, into today's */
    assert_int_equal(event_index_bump(&ix, "buy", 1, 1, NOW), 0);
    r = event_index_performed(&ix, "buy", 1, since);
    want = roaring_bitmap_of(4, 1, 2, 3, 4);
    assert_true(roaring_bitmap_equals(r, want));
    roaring_bitmap_free(r);
    roaring_bitmap_free(want);
    assert_all_windows(&ix);
    event_index_free(&ix);
}

static int64_t random_time(unsigned *seed) {
    int r = rand_r(seed) % 100;
    if (r == 0)
        return -(int64_t)(rand_r(seed) % 1000) * DAY; /* before 1970 */
    if (r == 1)
        return (int64_t)(EVENT_DAY_LIMIT + (unsigned)rand_r(seed) % 1000) * DAY; /* far future */
    return NOW - (int64_t)(rand_r(seed) % (400 * 24)) * 3600000; /* the last 400 days, hourly */
}

/* Random changes to 2000 users; every so often each window is checked. */
static void random_changes(struct event_index *ix, unsigned seed, int steps) {
    for (int k = 0; k < steps; k++) {
        uint32_t uid = 1 + (uint32_t)rand_r(&seed) % 2000;
        int op = rand_r(&seed) % 20;
        if (op == 0) {
            event_index_drop_user(ix, uid);
        } else if (op == 1) {
            assert_int_equal(event_index_merge(ix, uid, 1 + (uint32_t)rand_r(&seed) % 2000), 0);
        } else if (op == 3 && !ix->undo) {
            /* a snapshot load's replay drops the changed users at once (no journal: before
             * anyone reads the index) */
            roaring_bitmap_t *gone = roaring_bitmap_of(2, uid, 1 + (uint32_t)rand_r(&seed) % 2000);
            event_index_drop_users(ix, gone);
            roaring_bitmap_free(gone);
        } else if (op == 2) {
            int64_t times[4];
            for (int t = 0; t < 4; t++)
                times[t] = random_time(&seed);
            assert_int_equal(event_index_load(ix, "buy", uid, 4 + rand_r(&seed) % 9, times[0],
                                              times, (size_t)(rand_r(&seed) % 5)),
                             0);
        } else {
            assert_int_equal(
                event_index_bump(ix, "buy", uid, 1 + rand_r(&seed) % 3, random_time(&seed)), 0);
        }
        if (k % 5000 == 4999)
            assert_all_windows(ix);
    }
}

static void test_day_index_matches_the_scan_through_random_changes(void **state) {
    (void)state;
    struct event_index ix;
    event_index_init(&ix);
    random_changes(&ix, 7, 30000);
    assert_all_windows(&ix);
    event_index_free(&ix);
}

static void test_rolled_back_write_puts_the_days_back(void **state) {
    (void)state;
    struct event_index ix;
    event_index_init(&ix);
    random_changes(&ix, 11, 5000);
    roaring_bitmap_t *before[3] = {event_index_performed(&ix, "buy", 1, NOW - 7 * DAY),
                                   event_index_performed(&ix, "buy", 1, NOW - 100 * DAY),
                                   event_index_performed(&ix, "buy", 3, NOW - 30 * DAY)};
    struct undo u;
    undo_init(&u);
    ix.undo = &u;
    random_changes(&ix, 12, 3000);
    assert_false(u.lost);
    ix.undo = NULL;
    undo_rollback(&u);
    undo_free(&u);
    roaring_bitmap_t *after[3] = {event_index_performed(&ix, "buy", 1, NOW - 7 * DAY),
                                  event_index_performed(&ix, "buy", 1, NOW - 100 * DAY),
                                  event_index_performed(&ix, "buy", 3, NOW - 30 * DAY)};
    for (int i = 0; i < 3; i++) {
        assert_true(roaring_bitmap_equals(before[i], after[i]));
        roaring_bitmap_free(before[i]);
        roaring_bitmap_free(after[i]);
    }
    assert_all_windows(&ix);
    event_index_free(&ix);
}

static void test_days_rebuilt_from_the_summaries_equal_the_kept_ones(void **state) {
    (void)state;
    struct event_index ix;
    event_index_init(&ix);
    random_changes(&ix, 21, 20000);
    const struct event_column *c = &ix.cols[0];
    uint32_t lo = c->day_lo, n = c->n_days;
    roaring_bitmap_t **kept = calloc(n, sizeof *kept);
    assert_non_null(kept);
    for (uint32_t d = 0; d < n; d++)
        kept[d] = c->days[d] ? roaring_bitmap_copy(c->days[d]) : roaring_bitmap_create();
    assert_int_equal(event_index_index_days(&ix), 0);
    for (uint32_t d = 0; d < n; d++) {
        uint32_t day = lo + d;
        const roaring_bitmap_t *now =
            day >= c->day_lo && day - c->day_lo < c->n_days ? c->days[day - c->day_lo] : NULL;
        if (now)
            assert_true(roaring_bitmap_equals(kept[d], now));
        else
            assert_true(roaring_bitmap_is_empty(kept[d]));
        roaring_bitmap_free(kept[d]);
    }
    free(kept);
    assert_all_windows(&ix);
    event_index_free(&ix);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_within_days_tests_the_first_day_user_by_user),
        cmocka_unit_test(test_day_index_matches_the_scan_through_random_changes),
        cmocka_unit_test(test_rolled_back_write_puts_the_days_back),
        cmocka_unit_test(test_days_rebuilt_from_the_summaries_equal_the_kept_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
