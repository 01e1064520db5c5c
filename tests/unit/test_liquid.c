/* test_liquid.c — the Liquid module: where a syntax error is located (line, column, tag), the
 * render bounds (steps, loop turns, ranges, output size, nesting), abort_message, and that a
 * rendered header value cannot start another header. */
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

#include "core/messaging/liquid/liquid.h"
#include "core/messaging/template.h"

static void expect_fault(const char *text, const char *why, int line, int column, const char *tag) {
    struct liquid_tree *tree = NULL;
    struct liquid_fault f;
    assert_int_equal(liquid_parse(text, LIQUID_CAMPAIGN, &tree, &f), CD_E_INVALID);
    assert_null(tree);
    assert_string_equal(f.detail[0] ? f.detail : f.why, why);
    assert_int_equal(f.line, line);
    assert_int_equal(f.column, column);
    assert_int_equal(f.tag_len, strlen(tag));
    assert_memory_equal(f.tag, tag, strlen(tag));
}

static void test_syntax_errors_name_their_line_column_and_tag(void **state) {
    (void)state;
    expect_fault("Hi\n  {{ ${first_name} | nope }}", "unknown filter 'nope'", 2, 3,
                 "{{ ${first_name} | nope }}");
    expect_fault("a\nb\n\tc {% iff x %}", "unknown tag 'iff'", 3, 4, "{% iff x %}");
    expect_fault("{% if a %}\n{% for x in y %}\n{% endif %}", "unknown tag 'endif'", 3, 1,
                 "{% endif %}");
    expect_fault("{% for x in y %}", "for has no endfor", 1, 1, "{% for x in y %}");
    /* found by fuzzing: a "$" not followed by "{" once refused the text without a reason */
    expect_fault("x {{x.$}}", "expected ${ after $", 1, 3, "{{x.$}}");
    expect_fault("ok {% capture c %}", "capture has no endcapture", 1, 4, "{% capture c %}");
    expect_fault("{% case x %}{% when 1 %}", "case has no endcase", 1, 1, "{% case x %}");
    expect_fault("{% unless x %}", "unless has no endunless", 1, 1, "{% unless x %}");
    expect_fault("{% raw %}{{ x }}", "raw has no endraw", 1, 1, "{% raw %}");
    expect_fault("{% comment %}x", "comment has no endcomment", 1, 1, "{% comment %}");
    expect_fault("x {% if a == %}{% endif %}", "expected a value", 1, 3, "{% if a == %}");
    expect_fault("{% assign = 1 %}", "assign needs a name and a value: assign x = 1", 1, 1,
                 "{% assign = 1 %}");
    expect_fault("{{ 'open }}", "expected }}", 1, 1, "{{ 'open }}");
    expect_fault("{% if x", "expected %}", 1, 1, "{% if x");
    expect_fault("{{ a b }}", "unexpected text in a tag", 1, 1, "{{ a b }}");
    expect_fault("{{ x | truncate: 1, 2, 3 }}", "wrong number of arguments for filter 'truncate'",
                 1, 1, "{{ x | truncate: 1, 2, 3 }}");
    expect_fault("{% for i in (1..3 %}{% endfor %}", "expected ) after a range", 1, 1,
                 "{% for i in (1..3 %}");
    expect_fault("{% abort_message('x' %}", "expected ) after the abort reason", 1, 1,
                 "{% abort_message('x' %}");
    /* columns count bytes: "é" is two */
    expect_fault("é {{ ${nope} }}", "unknown tag '${nope}'", 1, 4, "{{ ${nope} }}");
}

static void test_nesting_deeper_than_the_bound_is_refused(void **state) {
    (void)state;
    size_t n = LIQUID_MAX_DEPTH + 2;
    const char *open = "{% if true %}";
    size_t len = strlen(open);
    char *text = calloc(n, len + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(text + i * len, open, len);
    struct liquid_tree *tree = NULL;
    struct liquid_fault f;
    assert_int_equal(liquid_parse(text, LIQUID_ANY, &tree, &f), CD_E_INVALID);
    assert_string_equal(f.why, "nested too deep");
    free(text);
}

/* Renders text (which must parse) for a fixed user; returns the result, *out / *reason set. */
static enum liquid_result run(const char *text, bool url, char **out, char **reason) {
    json_t *attrs = json_pack("{s:s, s:[i,i,i]}", "first_name", "Ann", "n", 1, 2, 3);
    struct liquid_vars v = {.user_id = "ann", .braze_id = "b1", .attrs = attrs, .url_encode = url};
    struct liquid_tree *tree = NULL;
    struct liquid_fault f;
    assert_int_equal(liquid_parse(text, LIQUID_ANY, &tree, &f), CD_OK);
    enum liquid_result r = liquid_render(tree, &v, out, reason);
    liquid_free(tree);
    json_decref(attrs);
    return r;
}

static void expect_failed(const char *text, const char *reason_want) {
    char *out = NULL, *reason = NULL;
    assert_int_equal(run(text, false, &out, &reason), LIQUID_FAILED);
    assert_null(out);
    assert_string_equal(reason, reason_want);
    free(reason);
}

static void test_floor_and_ceil_of_a_number_no_integer_holds_stay_numbers(void **state) {
    (void)state;
    char *out = NULL, *reason = NULL;
    assert_int_equal(run("{{ 90003596000035966840800035960000359668408 | floor }} "
                         "{{ -9300000000000000000.5 | ceil }} {{ 12.5 | floor }}",
                         false, &out, &reason),
                     LIQUID_OK);
    /* the first literal is read as the largest integer, 2^63 - 1, whose floor as a double is 2^63:
     * no json_int_t holds it, so it stays a real (converting it was undefined behaviour) */
    assert_string_equal(out, "9.223372036854776e+18 -9.3e+18 12");
    free(out);
}

static void test_renders_past_a_bound_fail_with_the_bound_named(void **state) {
    (void)state;
    char want[96];
    snprintf(want, sizeof want, "a for loop over more than %d items", LIQUID_MAX_ITERATIONS);
    expect_failed("{% assign a = '' %}{% for i in (1..10) %}{% assign a = a | append: 'x' %}"
                  "{% endfor %}{% assign xs = a | split: '' %}{% assign ys = xs %}"
                  "{% for k in (1..200) %}{% assign ys = ys | concat: xs %}{% endfor %}"
                  "{% for y in ys %}{% endfor %}",
                  want);
    snprintf(want, sizeof want, "a range longer than %d", LIQUID_MAX_ITERATIONS);
    expect_failed("{% for i in (1..1000000) %}{% endfor %}", want);
    /* 1000 × 1000 turns: each inside the bound, the whole over the steps */
    snprintf(want, sizeof want, "the template took more than %d steps", LIQUID_MAX_STEPS);
    expect_failed("{% for i in (1..1000) %}{% for j in (1..1000) %}{% endfor %}{% endfor %}", want);
    /* a value doubled until it passes the output bound */
    snprintf(want, sizeof want, "a value grew over the output limit");
    expect_failed("{% assign s = 'xxxxxxxxxxxxxxxx' %}{% for i in (1..40) %}"
                  "{% assign s = s | append: s %}{% endfor %}",
                  want);
    snprintf(want, sizeof want, "the rendered text is over %d bytes", LIQUID_MAX_OUTPUT);
    expect_failed("{% for i in (1..1000) %}{% for j in (1..100) %}"
                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}{% endfor %}",
                  want);
    /* arrays doubled until they pass the item bound */
    snprintf(want, sizeof want, "an array grew over %d items", LIQUID_MAX_ITEMS);
    expect_failed("{% assign a = 'ab' | split: '' %}{% for i in (1..40) %}"
                  "{% assign a = a | concat: a %}{% endfor %}",
                  want);
    /* a 200 KB value copied again and again: each copy costs steps, so it ends */
    snprintf(want, sizeof want, "the template took more than %d steps", LIQUID_MAX_STEPS);
    expect_failed("{% assign s = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' %}"
                  "{% for i in (1..12) %}{% assign s = s | append: s %}{% endfor %}"
                  "{% for i in (1..1000) %}{% for j in (1..1000) %}{% assign t = s | append: '' %}"
                  "{% endfor %}{% endfor %}",
                  want);
    expect_failed("{{ 1 | divided_by: 0 }}", "divided by 0");
}

static void test_a_loop_inside_the_bounds_renders_whole(void **state) {
    (void)state;
    char *out = NULL, *reason = NULL;
    assert_int_equal(run("{% for i in (1..1000) %}x{% endfor %}", false, &out, &reason), LIQUID_OK);
    assert_int_equal(strlen(out), 1000);
    free(out);
}

static void test_abort_message_stops_the_render_with_its_reason(void **state) {
    (void)state;
    char *out = NULL, *reason = NULL;
    assert_int_equal(run("a{% if ${first_name} == 'Ann' %}{% abort_message(\"Ann opted out\") %}"
                         "{% endif %}b",
                         false, &out, &reason),
                     LIQUID_ABORTED);
    assert_null(out);
    assert_string_equal(reason, "Ann opted out");
    free(reason);
    assert_int_equal(run("{% abort_message() %}", false, &out, &reason), LIQUID_ABORTED);
    assert_string_equal(reason, "");
    free(reason);
    assert_int_equal(run("{% abort_message %}", false, &out, &reason), LIQUID_ABORTED);
    free(reason);
}

static void test_a_rendered_header_value_cannot_start_another_header(void **state) {
    (void)state;
    /* a value with CR/LF, from the profile or from the template's own logic */
    json_t *attrs = json_pack("{s:s}", "note", "x\r\nX-Injected: 1");
    struct liquid_vars v = {.user_id = "u", .attrs = attrs};
    char *out = NULL, *reason = NULL;
    assert_int_equal(tmpl_render("Bearer {{custom_attribute.${note}}}{% capture c %}\n"
                                 "Set-Cookie: a{% endcapture %}{{ c }}",
                                 &v, &out, &reason),
                     LIQUID_OK);
    tmpl_header_safe(out);
    assert_string_equal(out, "Bearer x  X-Injected: 1 Set-Cookie: a");
    assert_null(strpbrk(out, "\r\n"));
    free(out);
    json_decref(attrs);
}

static void test_whitespace_control_trims_only_beside_the_dash(void **state) {
    (void)state;
    char *out = NULL, *reason = NULL;
    assert_int_equal(run("a \n {%- if true %} b {% endif -%} \n c {{- ${first_name} -}} .", false,
                         &out, &reason),
                     LIQUID_OK);
    assert_string_equal(out, "a b cAnn.");
    free(out);
}

static void test_a_tree_renders_the_same_for_many_users(void **state) {
    (void)state;
    struct liquid_tree *tree = NULL;
    struct liquid_fault f;
    assert_int_equal(
        liquid_parse("{% assign n = ${first_name} | upcase %}{{ n }}", LIQUID_ANY, &tree, &f),
        CD_OK);
    const char *names[] = {"ann", "bob", "cy"}, *want[] = {"ANN", "BOB", "CY"};
    for (int i = 0; i < 3; i++) {
        json_t *attrs = json_pack("{s:s}", "first_name", names[i]);
        struct liquid_vars v = {.attrs = attrs};
        char *out = NULL, *reason = NULL;
        assert_int_equal(liquid_render(tree, &v, &out, &reason), LIQUID_OK);
        assert_string_equal(out, want[i]); /* assignments of one render do not leak to the next */
        free(out);
        json_decref(attrs);
    }
    liquid_free(tree);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax_errors_name_their_line_column_and_tag),
        cmocka_unit_test(test_nesting_deeper_than_the_bound_is_refused),
        cmocka_unit_test(test_floor_and_ceil_of_a_number_no_integer_holds_stay_numbers),
        cmocka_unit_test(test_renders_past_a_bound_fail_with_the_bound_named),
        cmocka_unit_test(test_a_loop_inside_the_bounds_renders_whole),
        cmocka_unit_test(test_abort_message_stops_the_render_with_its_reason),
        cmocka_unit_test(test_a_rendered_header_value_cannot_start_another_header),
        cmocka_unit_test(test_whitespace_control_trims_only_beside_the_dash),
        cmocka_unit_test(test_a_tree_renders_the_same_for_many_users),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
