/* test_json_text.c — strings written by util/json_text.c are byte for byte jansson's compact
 * dump of the same string, and exactly the strings jansson refuses (invalid UTF-8) are refused:
 * quotes, backslashes, every control character, DEL, slashes, multi-byte UTF-8, and malformed
 * sequences, then random byte strings; and json_text_plain says "as is" exactly for the strings
 * of plain ASCII bytes. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util/json_text.h"

/* Checks s[0..len) (no NUL inside unless testing refusal) against jansson. */
static void agrees_with_jansson(const char *s, size_t len) {
    char *c = malloc(len + 1);
    assert_non_null(c);
    memcpy(c, s, len);
    c[len] = '\0';
    json_t *j = strlen(c) == len ? json_string(c) : NULL;
    bool valid = json_text_utf8_valid(s, len);
    assert_int_equal(valid, j != NULL);
    if (j) {
        char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        char *got = malloc(JSON_TEXT_STRING_MAX(len) + 1);
        assert_non_null(got);
        size_t n = json_text_string(got, s, len);
        assert_true(n <= JSON_TEXT_STRING_MAX(len));
        got[n] = '\0';
        assert_string_equal(got, want);
        free(got);
        free(want);
    }
    json_decref(j);
    free(c);
}

static void test_odd_strings_are_written_as_jansson_writes_them(void **state) {
    (void)state;
    static const char *const cases[] = {
        "",
        "user_1",
        "say \"hi\"",
        "back\\slash",
        "a/b</script>",
        "tab\there\nnew\rret\bbs\fff",
        "\x01\x02\x1f\x7f",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", /* é € 😀 */
        "\xe2\x80\xa8\xe2\x80\xa9",                  /* U+2028, U+2029 */
        "\xef\xbb\xbf\xef\xbf\xbf",                  /* BOM, U+FFFF */
        "\xf4\x8f\xbf\xbf",                          /* U+10FFFF */
        "\xc3",                                      /* truncated */
        "\xc0\xaf",                                  /* overlong '/' */
        "\xe0\x80\xaf",                              /* overlong */
        "\xf0\x80\x80\xaf",                          /* overlong */
        "\xed\xa0\x80",                              /* surrogate */
        "\xf4\x90\x80\x80",                          /* above U+10FFFF */
        "\xf8\x88\x80\x80\x80",                      /* 5 bytes */
        "\x80",                                      /* lone continuation */
        "ok\xff",
        "\xe2\x82",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        agrees_with_jansson(cases[i], strlen(cases[i]));
    for (int c = 1; c < 256; c++) {
        char one[3] = {'x', (char)c, 'y'};
        agrees_with_jansson(one, 3);
    }
}

static void test_a_nul_byte_is_refused(void **state) {
    (void)state;
    assert_false(json_text_utf8_valid("a\0b", 3));
    assert_true(json_text_utf8_valid("ab", 2));
}

static void test_random_byte_strings_agree_with_jansson(void **state) {
    (void)state;
    unsigned seed = 17;
    /* bytes drawn mostly from the interesting ranges: ASCII, escapes, UTF-8 leads and tails */
    static const unsigned char pool[] = {'a',  'Z',  '"',  '\\', '/',  '\n', 0x01, 0x1f, 0x7f,
                                         0x80, 0xbf, 0xc2, 0xc3, 0xdf, 0xe0, 0xe2, 0xed, 0xef,
                                         0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x8f};
    char buf[12];
    for (int round = 0; round < 200000; round++) {
        size_t len = (size_t)(rand_r(&seed) % sizeof buf);
        for (size_t i = 0; i < len; i++)
            buf[i] = (char)pool[rand_r(&seed) % sizeof pool];
        agrees_with_jansson(buf, len);
    }
}

/* json_text_plain says yes exactly when every byte is 0x20..0x7F but '"' and '\\', for every
 * byte value at every place of strings of every length up to three words (each place of a
 * whole word and of a tail), and a plain string is then written as its bytes between quotes. */
static void test_plain_is_exactly_the_bytes_written_as_they_are(void **state) {
    (void)state;
    char s[25], out[JSON_TEXT_STRING_MAX(25)];
    for (size_t len = 0; len <= 24; len++) {
        memset(s, 'a', sizeof s);
        assert_true(json_text_plain(s, len));
        for (size_t at = 0; at < len; at++)
            for (int c = 0; c < 256; c++) {
                memset(s, c == 'b' ? 'c' : 'b', sizeof s);
                s[at] = (char)c;
                bool want = c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
                assert_int_equal(json_text_plain(s, len), want);
                if (want) {
                    assert_true(json_text_utf8_valid(s, len));
                    assert_int_equal(json_text_string(out, s, len), len + 2);
                    assert_memory_equal(out + 1, s, len);
                }
            }
    }
    /* bytes after len do not count */
    assert_true(json_text_plain("abc\"", 3));
    assert_true(json_text_plain("abcdefgh\x01", 8));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_odd_strings_are_written_as_jansson_writes_them),
        cmocka_unit_test(test_a_nul_byte_is_refused),
        cmocka_unit_test(test_random_byte_strings_agree_with_jansson),
        cmocka_unit_test(test_plain_is_exactly_the_bytes_written_as_they_are),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
