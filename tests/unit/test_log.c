/* test_log.c — util/log: log_q quoting, one line per event, long lines whole or marked. */
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

#include "util/log.h"

/* Runs log_write with stderr sent to a temporary file; returns what was written (free it). */
#define CAPTURE(out, ...)                                                                          \
    do {                                                                                           \
        fflush(stderr);                                                                            \
        FILE *tmp_ = tmpfile();                                                                    \
        assert_non_null(tmp_);                                                                     \
        int saved_ = dup(2);                                                                       \
        dup2(fileno(tmp_), 2);                                                                     \
        log_write(LOG_INFO, "test", __VA_ARGS__);                                                  \
        fflush(stderr);                                                                            \
        dup2(saved_, 2);                                                                           \
        close(saved_);                                                                             \
        off_t len_ = lseek(fileno(tmp_), 0, SEEK_END);                                             \
        (out) = calloc(1, (size_t)len_ + 1);                                                       \
        assert_int_equal(pread(fileno(tmp_), (out), (size_t)len_, 0), len_);                       \
        fclose(tmp_);                                                                              \
    } while (0)

static void test_log_q_leaves_plain_values_and_quotes_the_rest(void **state) {
    (void)state;
    assert_string_equal(log_q("/healthz"), "/healthz");
    assert_string_equal(log_q(NULL), "(null)");
    assert_string_equal(log_q(""), "\"\"");
    assert_string_equal(log_q("a b"), "\"a b\"");
    assert_string_equal(log_q("k=v"), "\"k=v\"");
    assert_string_equal(log_q("q\"b\\"), "\"q\\\"b\\\\\"");
    assert_string_equal(log_q("x\ny\r\tz\x01\x7f"), "\"x\\ny\\r\\tz\\x01\\x7f\"");
    char *out;
    CAPTURE(out, "v=%s", "plain"); /* frees the quoted texts above */
    free(out);
}

static void test_a_newline_in_a_value_never_starts_a_line(void **state) {
    (void)state;
    char *out;
    CAPTURE(out, "path=%s raw=%s", log_q("/x\n2026 error forged"), "a\nb");
    assert_non_null(strstr(out, " info  test: path=\"/x\\n2026 error forged\" raw=a\\nb\n"));
    assert_int_equal(strchr(out, '\n') - out, (long)strlen(out) - 1);
    free(out);
}

static void test_a_long_line_is_written_whole(void **state) {
    (void)state;
    size_t n = 5000;
    char *v = malloc(n + 1);
    memset(v, 'a', n);
    v[n] = '\0';
    char *out;
    CAPTURE(out, "v=%s end", v);
    char *want = malloc(n + 8);
    snprintf(want, n + 8, "v=%s end\n", v);
    assert_non_null(strstr(out, want));
    free(want);
    free(out);
    free(v);
}

static void test_a_line_past_the_maximum_says_it_was_cut(void **state) {
    (void)state;
    size_t n = LOG_LINE_MAX + 100;
    char *v = malloc(n + 1);
    memset(v, 'b', n);
    v[n] = '\0';
    char *out;
    CAPTURE(out, "v=%s", v);
    size_t len = strlen(out);
    assert_true(len < LOG_LINE_MAX + 64);
    assert_non_null(strstr(out, "\xe2\x80\xa6(truncated "));
    assert_int_equal(out[len - 1], '\n');
    /* prefix (time, level, module) + "v=" + n bytes, of which LOG_LINE_MAX were kept */
    const char *mark = strstr(out, "(truncated ");
    long dropped = strtol(mark + strlen("(truncated "), NULL, 10);
    size_t prefix = (size_t)(strstr(out, "v=") - out);
    assert_int_equal((size_t)dropped, prefix + 2 + n - LOG_LINE_MAX);
    free(out);
    free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_q_leaves_plain_values_and_quotes_the_rest),
        cmocka_unit_test(test_a_newline_in_a_value_never_starts_a_line),
        cmocka_unit_test(test_a_long_line_is_written_whole),
        cmocka_unit_test(test_a_line_past_the_maximum_says_it_was_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
