/* test_log.c — util/log: log_q quoting, one line per event, long lines whole or marked; URLs with
 * secret query values masked; the json format (one object per line that jansson parses). */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <jansson.h>
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

static void test_log_url_masks_secret_values_and_encodes_the_rest(void **state) {
    (void)state;
    const char *names[] = {"api_key", "x", "token", "q", "flag", "client_secret", "page"};
    const char *values[] = {"k-123", "a b", "t0k", "&=?#", NULL, "s3", "2"};
    char *url = log_url("/segments/list", names, values, 7);
    assert_string_equal(url, "/segments/list?api_key=***&x=a%20b&token=***&q=%26%3D%3F%23&flag&"
                             "client_secret=***&page=2");
    free(url);
    url = log_url("/healthz", NULL, NULL, 0);
    assert_string_equal(url, "/healthz");
    free(url);
    assert_true(log_secret_param("API_KEY"));
    assert_true(log_secret_param("partner_api_key"));
    assert_true(log_secret_param("access_token"));
    assert_true(log_secret_param("password"));
    assert_false(log_secret_param("page"));
    assert_false(log_secret_param("campaign_id"));
    assert_false(log_secret_param("monkey"));
}

/* Captures one json line and parses it; fails unless it is exactly one line of one object. */
static json_t *json_event(char *out) {
    assert_int_equal(strchr(out, '\n') - out, (long)strlen(out) - 1);
    json_error_t err;
    json_t *j = json_loads(out, 0, &err);
    if (!j)
        fail_msg("not JSON (%s): %s", err.text, out);
    assert_true(json_is_object(j));
    return j;
}

static void test_json_lines_parse_and_hold_every_key_value_as_a_field(void **state) {
    (void)state;
    log_format = LOG_FORMAT_JSON;
    char *out;
    CAPTURE(out, "req=%d path=%s status=%d id=%s stops: archived zero=%s neg=%d", 7,
            log_q("/a b\n\"c\"\x01="), 200, "0123", "0", -5);
    log_format = LOG_FORMAT_TEXT;
    json_t *j = json_event(out);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(j, "module")), "test");
    const char *t = json_string_value(json_object_get(j, "time"));
    assert_non_null(t);
    assert_int_equal(strlen(t), strlen("2026-12-02T09:14:07.123Z"));
    assert_int_equal(json_integer_value(json_object_get(j, "req")), 7);
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/a b\n\"c\"\x01=");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 200);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "0123"); /* not a number */
    assert_int_equal(json_integer_value(json_object_get(j, "zero")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "neg")), -5);
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "stops: archived");
    assert_int_equal(json_object_size(j), 10);
    json_decref(j);
    free(out);
}

static void test_json_keeps_reserved_names_and_bytes_that_are_not_utf8(void **state) {
    (void)state;
    log_format = LOG_FORMAT_JSON;
    char *out;
    CAPTURE(out, "level=%s v=%s ok=%s", "forged",
            "a\xff\xc3"
            "b",
            "\xc3\xa9");
    log_format = LOG_FORMAT_TEXT;
    json_t *j = json_event(out);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(j, "_level")), "forged");
    assert_string_equal(json_string_value(json_object_get(j, "v")), "a\\xff\\xc3b");
    assert_string_equal(json_string_value(json_object_get(j, "ok")), "\xc3\xa9");
    json_decref(j);
    free(out);
}

static void test_a_json_line_past_the_maximum_stays_one_object_and_says_it_was_cut(void **state) {
    (void)state;
    size_t n = LOG_LINE_MAX + 100;
    char *v = malloc(n + 1);
    memset(v, 'b', n);
    v[n] = '\0';
    log_format = LOG_FORMAT_JSON;
    char *out;
    CAPTURE(out, "v=%s w=short n=%d", v, 3);
    log_format = LOG_FORMAT_TEXT;
    assert_true(strlen(out) <= LOG_LINE_MAX);
    json_t *j = json_event(out);
    size_t kept = strlen(json_string_value(json_object_get(j, "v")));
    assert_true(kept > 0 && kept < n);
    assert_int_equal(json_integer_value(json_object_get(j, "truncated_bytes")),
                     (json_int_t)(n - kept));
    assert_int_equal(json_integer_value(json_object_get(j, "n")), 3);
    json_decref(j);
    free(out);
    free(v);
}

static void test_log_format_names(void **state) {
    (void)state;
    assert_int_equal(log_format_parse("text"), LOG_FORMAT_TEXT);
    assert_int_equal(log_format_parse("json"), LOG_FORMAT_JSON);
    assert_int_equal(log_format_parse("JSON"), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_q_leaves_plain_values_and_quotes_the_rest),
        cmocka_unit_test(test_a_newline_in_a_value_never_starts_a_line),
        cmocka_unit_test(test_a_long_line_is_written_whole),
        cmocka_unit_test(test_a_line_past_the_maximum_says_it_was_cut),
        cmocka_unit_test(test_log_url_masks_secret_values_and_encodes_the_rest),
        cmocka_unit_test(test_json_lines_parse_and_hold_every_key_value_as_a_field),
        cmocka_unit_test(test_json_keeps_reserved_names_and_bytes_that_are_not_utf8),
        cmocka_unit_test(test_a_json_line_past_the_maximum_stays_one_object_and_says_it_was_cut),
        cmocka_unit_test(test_log_format_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
