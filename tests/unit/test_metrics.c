/* test_metrics.c — the metrics registry renders Prometheus' text format exactly: help and
 * type once per metric, series sorted, cumulative histogram buckets, escaped labels, and
 * collectors run before each render. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdlib.h>
#include <string.h>

#include "util/metrics.h"

static int reset(void **state) {
    (void)state;
    metrics_reset();
    return 0;
}

static void test_counters_and_gauges_render_with_help_type_and_sorted_series(void **state) {
    (void)state;
    metrics_describe("cohortd_requests_total", METRIC_COUNTER, "Requests answered.");
    metrics_add("cohortd_requests_total", "route=\"/b\",status=\"200\"", 2);
    metrics_add("cohortd_requests_total", "route=\"/a\",status=\"200\"", 1);
    metrics_add("cohortd_requests_total", "route=\"/b\",status=\"200\"", 1);
    metrics_set("cohortd_up", "", 1);
    size_t len;
    char *text = metrics_render(&len);
    assert_non_null(text);
    assert_string_equal(text, "# HELP cohortd_requests_total Requests answered.\n"
                              "# TYPE cohortd_requests_total counter\n"
                              "cohortd_requests_total{route=\"/a\",status=\"200\"} 1\n"
                              "cohortd_requests_total{route=\"/b\",status=\"200\"} 3\n"
                              "cohortd_up 1\n");
    assert_int_equal(len, strlen(text));
    free(text);
    assert_true(metrics_value("cohortd_requests_total", "route=\"/b\",status=\"200\"") == 3);
    assert_true(metrics_value("cohortd_missing", "") == 0);
}

static void test_histogram_buckets_are_cumulative_with_sum_and_count(void **state) {
    (void)state;
    metrics_observe("lat", "", 0.0004);
    metrics_observe("lat", "", 0.003);
    metrics_observe("lat", "", 20);
    size_t len;
    char *text = metrics_render(&len);
    assert_non_null(text);
    assert_non_null(strstr(text, "lat_bucket{le=\"0.0005\"} 1\n"));
    assert_non_null(strstr(text, "lat_bucket{le=\"0.001\"} 1\n"));
    assert_non_null(strstr(text, "lat_bucket{le=\"0.005\"} 2\n"));
    assert_non_null(strstr(text, "lat_bucket{le=\"10\"} 2\n"));
    assert_non_null(strstr(text, "lat_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(text, "lat_count 3\n"));
    assert_non_null(strstr(text, "lat_sum 20.0034"));
    free(text);
}

static void test_a_histogram_with_its_own_bounds_renders_them(void **state) {
    (void)state;
    static const double sizes[] = {1, 2, 4};
    metrics_observe_in("group", "", 1, sizes, 3);
    metrics_observe_in("group", "", 3, sizes, 3);
    metrics_observe_in("group", "", 9, sizes, 3);
    size_t len;
    char *text = metrics_render(&len);
    assert_string_equal(text, "group_bucket{le=\"1\"} 1\n"
                              "group_bucket{le=\"2\"} 1\n"
                              "group_bucket{le=\"4\"} 2\n"
                              "group_bucket{le=\"+Inf\"} 3\n"
                              "group_sum 13\n"
                              "group_count 3\n");
    free(text);
}

static void test_clear_forgets_every_series_of_one_name_only(void **state) {
    (void)state;
    metrics_set("lag", "current_id=\"a\"", 1);
    metrics_set("lag", "current_id=\"b\"", 2);
    metrics_set("other", "", 3);
    metrics_clear("lag");
    metrics_set("lag", "current_id=\"b\"", 4);
    size_t len;
    char *text = metrics_render(&len);
    assert_string_equal(text, "lag{current_id=\"b\"} 4\nother 3\n");
    free(text);
}

static void set_from_collector(void *ctx) {
    metrics_set("collected", "", *(double *)ctx);
}

static void test_collectors_run_before_every_render_until_removed(void **state) {
    (void)state;
    double v = 7;
    assert_int_equal(metrics_collect(set_from_collector, &v), 0);
    size_t len;
    char *text = metrics_render(&len);
    assert_string_equal(text, "collected 7\n");
    free(text);
    v = 8;
    metrics_uncollect(set_from_collector, &v);
    text = metrics_render(&len);
    assert_string_equal(text, "collected 7\n");
    free(text);
}

static void test_label_values_are_escaped_and_cut_to_the_buffer(void **state) {
    (void)state;
    char buf[16];
    assert_string_equal(metrics_label(buf, sizeof buf, "a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    assert_string_equal(metrics_label(buf, 4, "abcdef"), "abc");
    assert_string_equal(metrics_label(buf, 3, "\"\""), "\\\"");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_counters_and_gauges_render_with_help_type_and_sorted_series,
                               reset),
        cmocka_unit_test_setup(test_histogram_buckets_are_cumulative_with_sum_and_count, reset),
        cmocka_unit_test_setup(test_a_histogram_with_its_own_bounds_renders_them, reset),
        cmocka_unit_test_setup(test_clear_forgets_every_series_of_one_name_only, reset),
        cmocka_unit_test_setup(test_collectors_run_before_every_render_until_removed, reset),
        cmocka_unit_test_setup(test_label_values_are_escaped_and_cut_to_the_buffer, reset),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_reset();
    return rc;
}
