/* test_api_keys.c — the parts of REST API keys that need no server: the per-key fixed-window
 * limiter (counts, window ends on the clock, a changed limit, many keys), the grant match and
 * the "N/PERIOD" form. The e2e suite test_api_keys checks them through HTTP. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>

#include "core/workspace/api_keys.h"
#include "core/workspace/rate_limit.h"

static void test_a_window_allows_the_limit_then_refuses_until_it_ends(void **state) {
    (void)state;
    struct rate_limiter *rl = rate_limiter_new();
    assert_non_null(rl);
    struct rate_state st;
    int64_t t = 1700000000000LL + 5000; /* 5 s into a minute (1700000000 is 20 s past one) */
    int64_t minute_end = (1700000005LL / 60 + 1) * 60;
    for (int i = 0; i < 3; i++) {
        assert_true(rate_limiter_take(rl, "k", 3, 60, t + i, &st));
        assert_int_equal(st.limit, 3);
        assert_int_equal(st.remaining, 2 - i);
        assert_int_equal(st.reset_s, minute_end);
    }
    assert_false(rate_limiter_take(rl, "k", 3, 60, t + 10, &st));
    assert_int_equal(st.remaining, 0);
    assert_int_equal(st.reset_s, minute_end);
    /* refused requests are not counted; the next window starts afresh */
    assert_true(rate_limiter_take(rl, "k", 3, 60, minute_end * 1000, &st));
    assert_int_equal(st.remaining, 2);
    assert_int_equal(st.reset_s, minute_end + 60);
    rate_limiter_free(rl);
}

static void test_keys_have_windows_of_their_own_and_a_new_limit_starts_one(void **state) {
    (void)state;
    struct rate_limiter *rl = rate_limiter_new();
    struct rate_state st;
    int64_t t = 3600LL * 1000 * 500000;
    for (int k = 0; k < 1000; k++) {
        char id[24];
        snprintf(id, sizeof id, "key%d", k);
        assert_true(rate_limiter_take(rl, id, 1, 3600, t, &st));
        assert_false(rate_limiter_take(rl, id, 1, 3600, t, &st));
    }
    assert_true(rate_limiter_take(rl, "key7", 2, 3600, t, &st));
    assert_int_equal(st.remaining, 1);
    assert_int_equal(st.reset_s, t / 1000 + 3600);
    rate_limiter_free(rl);
}

static void test_grants_match_names_groups_and_everything(void **state) {
    (void)state;
    assert_true(api_key_grants(NULL, "users.track"));
    assert_true(api_key_grants(NULL, NULL));
    assert_true(api_key_grants("*", "segments.list"));
    assert_true(api_key_grants("*", NULL));
    assert_true(api_key_grants("segments.list,users.track", "users.track"));
    assert_false(api_key_grants("users.track", "users.track.more"));
    assert_false(api_key_grants("users.track", "users"));
    assert_true(api_key_grants("users.*", "users.export.ids"));
    assert_false(api_key_grants("users.*", "users"));
    assert_false(api_key_grants("users.*", "usersx.track"));
    assert_false(api_key_grants("users.track", NULL));
    assert_false(api_key_grants("users.*", NULL));
}

static void test_rate_limits_parse_and_format(void **state) {
    (void)state;
    int64_t n = 0, p = 0;
    assert_int_equal(api_key_rate_parse("3/minute", &n, &p), 0);
    assert_int_equal(n, 3);
    assert_int_equal(p, 60);
    assert_int_equal(api_key_rate_parse("1000000000/day", &n, &p), 0);
    assert_int_equal(p, 86400);
    const char *bad[] = {"",        "0/minute",        "03/minute", "3",       "3/",   "3/minutes",
                         "-3/hour", "1000000001/hour", "3/Minute",  "3 /hour", "/hour"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(api_key_rate_parse(bad[i], &n, &p), -1);
    char buf[API_KEY_RATE_TEXT_CAP];
    api_key_rate_format(250000, 3600, buf);
    assert_string_equal(buf, "250000/hour");
    api_key_rate_format(0, 0, buf);
    assert_string_equal(buf, "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_window_allows_the_limit_then_refuses_until_it_ends),
        cmocka_unit_test(test_keys_have_windows_of_their_own_and_a_new_limit_starts_one),
        cmocka_unit_test(test_grants_match_names_groups_and_everything),
        cmocka_unit_test(test_rate_limits_parse_and_format),
    };
    return cmocka_run_group_tests_name("api_keys", tests, NULL, NULL);
}
