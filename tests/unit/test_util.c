/* test_util.c — ISO-8601 parsing and formatting, HMAC-SHA256 / Base64 against CONTRACT.md's
 * worked vector, and the constant-time comparison. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <string.h>

#include "util/crypto.h"
#include "util/timeutil.h"

static void test_iso8601_accepts_offsets_and_fractions(void **state) {
    (void)state;
    struct {
        const char *text;
        int64_t ms;
    } ok[] = {
        {"2024-05-02T08:15:00Z", 1714637700000},
        {"2024-05-02T08:15:00.123Z", 1714637700123},
        {"2022-12-01T17:40:04.055Z", 1669916404055},
        {"2021-01-21T19:20:30+05:00", 1611238830000},
        {"2021-01-21T19:20:30-0130", 1611262230000},
        {"2024-05-02T08:15:00.123456789Z", 1714637700123},
        {"2024-05-02", 1714608000000},
        {"2024-05-02 08:15:00", 1714637700000},
        {"1970-01-01T00:00:00Z", 0},
        {"2026-12-01T10:11:12:345Z", 1796119872345},
        {"2026-12-01T10:11:12:345+01:00", 1796116272345},
        {"2026-12-01T10:11:12:345", 1796119872345},
        {"2020-06-28T23:59:59-5:00", 1593406799000},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = -1;
        assert_int_equal(time_parse_iso8601(ok[i].text, &ms), 0);
        assert_int_equal(ms, ok[i].ms);
    }
}

static void test_iso8601_rejects_garbage(void **state) {
    (void)state;
    const char *bad[] = {"",
                         "yesterday",
                         "2024-13-01",
                         "2024-02-30",
                         "2024-05-02T25:00:00Z",
                         "2024-05-02T08:15:00Zjunk",
                         "2024-5-2",
                         "2024-05-02T08:15:00.Z",
                         "2026-12-01T10:11:12:34Z",
                         "2026-12-01T10:11:12:3456Z",
                         "2026-12-01T10:11:12:Z",
                         "2020-06-28T23:59:59-5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        assert_int_equal(time_parse_iso8601(bad[i], &ms), -1);
    }
}

static void test_iso8601_format_round_trips(void **state) {
    (void)state;
    char buf[32];
    time_format_iso8601(1714637700123, buf, sizeof buf);
    assert_string_equal(buf, "2024-05-02T08:15:00.123Z");
}

static void test_hmac_matches_contract_worked_vector(void **state) {
    (void)state;
    const char *body =
        "{\"action_type\":\"segment.users.sync\",\"customer_config\":{\"fields\":[]},\"data\":"
        "{\"segment\":{\"id\":42,\"name\":\"Trial Users\"},\"sync_info\":{\"page_number\":1,"
        "\"total_pages\":1,\"sync_task_id\":\"a1b2\"},\"add\":[{\"id\":\"u1\"}]}}";
    assert_int_equal(strlen(body), 206);
    uint8_t mac[32];
    crypto_hmac_sha256("s3cr3t", 6, "1700000000000", 13, body, strlen(body), mac);
    char b64[64];
    crypto_base64(mac, sizeof mac, b64);
    assert_string_equal(b64, "U85qWIC5pzla/XfOTSRjJbPqLtYQpFcjl6Olh27MW78=");
}

static void test_equal_compares_lengths_and_bytes(void **state) {
    (void)state;
    assert_true(crypto_equal("abc", 3, "abc", 3));
    assert_false(crypto_equal("abc", 3, "abd", 3));
    assert_false(crypto_equal("abc", 3, "abcd", 4));
}

static void test_uuid4_is_random_and_well_formed(void **state) {
    (void)state;
    char a[37], b[37];
    assert_int_equal(crypto_uuid4(a), 0);
    assert_int_equal(crypto_uuid4(b), 0);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[14], '4');
    assert_int_equal(a[8], '-');
    assert_string_not_equal(a, b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso8601_accepts_offsets_and_fractions),
        cmocka_unit_test(test_iso8601_rejects_garbage),
        cmocka_unit_test(test_iso8601_format_round_trips),
        cmocka_unit_test(test_hmac_matches_contract_worked_vector),
        cmocka_unit_test(test_equal_compares_lengths_and_bytes),
        cmocka_unit_test(test_uuid4_is_random_and_well_formed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
