/* test_template.c — personalisation templates through template.h: which tags are valid where,
 * what they render, and how a refused tag is quoted. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdlib.h>
#include <string.h>

#include "core/messaging/template.h"

static char *render(const char *text, const struct liquid_vars *v) {
    char *out = NULL, *reason = NULL;
    assert_int_equal(tmpl_render(text, v, &out, &reason), LIQUID_OK);
    assert_null(reason);
    assert_non_null(out);
    return out;
}

static void expect_render(const char *text, const struct liquid_vars *v, const char *want) {
    struct tmpl_fault fault;
    assert_int_equal(tmpl_check(text, TMPL_CAMPAIGN, &fault), CD_OK);
    char *got = render(text, v);
    assert_string_equal(got, want);
    free(got);
}

static void test_tags_render_user_fields_attributes_and_trigger_properties(void **state) {
    (void)state;
    json_t *attrs = json_pack("{s:s, s:i, s:b, s:[s,s], s:n, s:f}", "first_name", "Ada", "visits",
                              12, "vip", 1, "tags", "a", "b", "gone", "score", 2.5);
    json_t *props = json_pack("{s:s}", "plan", "trial");
    struct liquid_vars v = {
        .user_id = "u-1", .braze_id = "639a35d192b0df004d06514c", .attrs = attrs, .props = props};
    expect_render("{\"id\":\"{{${user_id}}}\",\"b\":\"{{ ${braze_id} }}\"}", &v,
                  "{\"id\":\"u-1\",\"b\":\"639a35d192b0df004d06514c\"}");
    /* cohortd's older name of the user's id keeps rendering it */
    expect_render("{{${external_id}}}", &v, "u-1");
    /* a standard field through its tag, or as an attribute */
    expect_render("Hi {{${first_name}}} / {{custom_attribute.${first_name}}}, "
                  "{{custom_attribute.${visits}}} {{custom_attribute.${vip}}} "
                  "{{custom_attribute.${tags}}} {{custom_attribute.${score}}}",
                  &v, "Hi Ada / Ada, 12 true ab 2.5");
    expect_render("plan={{api_trigger_properties.${plan}}}", &v, "plan=trial");
    json_decref(attrs);
    json_decref(props);
}

static void test_default_applies_to_missing_null_and_absent_values(void **state) {
    (void)state;
    json_t *attrs = json_pack("{s:n}", "gone");
    struct liquid_vars v = {.braze_id = "639a35d192b0df004d06514c", .attrs = attrs};
    expect_render("{{custom_attribute.${nope} | default: 'friend'}}|"
                  "{{custom_attribute.${gone}|default:\"x y\"}}|{{${user_id} | default: "
                  "'anon'}}|{{api_trigger_properties.${p}}}|",
                  &v, "friend|x y|anon||");
    json_decref(attrs);
}

static void test_json_escape_makes_any_value_safe_inside_a_json_string(void **state) {
    (void)state;
    json_t *attrs = json_pack("{s:s}", "quote", "say \"hi\"\\ now\n");
    struct liquid_vars v = {.user_id = "u", .braze_id = "b", .attrs = attrs};
    expect_render("{\"q\":\"{{custom_attribute.${quote} | json_escape}}\",\"d\":\""
                  "{{custom_attribute.${none} | default: 'a\"b' | json_escape}}\"}",
                  &v, "{\"q\":\"say \\\"hi\\\"\\\\ now\\n\",\"d\":\"a\\\"b\"}");
    char *out = render("{\"q\":\"{{custom_attribute.${quote} | json_escape}}\"}", &v);
    json_t *parsed = json_loads(out, 0, NULL);
    assert_non_null(parsed); /* the rendered body is valid JSON */
    assert_string_equal(json_string_value(json_object_get(parsed, "q")), "say \"hi\"\\ now\n");
    json_decref(parsed);
    free(out);
    json_decref(attrs);
}

static void test_values_inserted_into_urls_are_percent_encoded(void **state) {
    (void)state;
    json_t *attrs = json_pack("{s:s}", "city", "São Paulo & co/x");
    struct liquid_vars v = {.user_id = "a b", .braze_id = "b", .attrs = attrs, .url_encode = true};
    const char *text = "https://h.example/u/{{${user_id}}}?c={{custom_attribute.${city}}}&d="
                       "{{custom_attribute.${none} | default: 'x y'}}";
    char *got = render(text, &v);
    assert_string_equal(got, "https://h.example/u/a%20b?c=S%C3%A3o%20Paulo%20%26%20co%2Fx&d=x%20y");
    free(got);
    /* a value its last filter encoded already is not encoded twice; the template's own text
     * (here "&" and "=") is never encoded */
    got = render("https://h.example/?q={{ ${user_id} | url_param_escape }}&r={{ ${user_id} | "
                 "url_encode }}&s={{ ${user_id} | url_param_escape | upcase }}",
                 &v);
    assert_string_equal(got, "https://h.example/?q=a%20b&r=a+b&s=A%2520B");
    free(got);
    json_decref(attrs);
}

static void test_text_without_tags_is_copied_byte_for_byte(void **state) {
    (void)state;
    struct liquid_vars v = {.user_id = "u", .braze_id = "b"};
    expect_render("", &v, "");
    expect_render("{\"a\":{\"b\":1}} { single }", &v, "{\"a\":{\"b\":1}} { single }");
}

static void test_unknown_or_malformed_tags_are_refused_with_the_tag_named(void **state) {
    (void)state;
    struct {
        const char *text;
        enum tmpl_scope scope;
        const char *msg;
    } bad[] = {
        {"{{${nickname}}}", TMPL_CAMPAIGN,
         "unknown tag '${nickname}' at line 1, column 1: {{${nickname}}}"},
        {"a\n  {{custom_attribute.${}}}", TMPL_CAMPAIGN,
         "a name is needed inside ${…} at line 2, column 3: {{custom_attribute.${}}}"},
        {"{{${user_id} | shout}}", TMPL_CAMPAIGN,
         "unknown filter 'shout' at line 1, column 1: {{${user_id} | shout}}"},
        {"{{${user_id} | default}}", TMPL_CAMPAIGN,
         "wrong number of arguments for filter 'default' at line 1, column 1: "
         "{{${user_id} | default}}"},
        {"x {{${user_id}", TMPL_CAMPAIGN, "expected }} at line 1, column 3: {{${user_id}"},
        {"{{canvas_entry_properties.${a}}}", TMPL_CAMPAIGN,
         "Canvas entry properties exist only in Canvases at line 1, column 1: "
         "{{canvas_entry_properties.${a}}}"},
        {"{{api_trigger_properties.${a}}}", TMPL_CANVAS,
         "API trigger properties exist only in campaigns at line 1, column 1: "
         "{{api_trigger_properties.${a}}}"},
        {"\n\n{% if x %}yes", TMPL_CAMPAIGN, "if has no endif at line 3, column 1: {% if x %}"},
        {"{% connected_content https://x.test :save r %}", TMPL_CAMPAIGN,
         "not supported by cohortd: tag 'connected_content' at line 1, column 1: "
         "{% connected_content https://x.test :save r %}"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct tmpl_fault fault;
        assert_int_equal(tmpl_check(bad[i].text, bad[i].scope, &fault), CD_E_INVALID);
        char *text = tmpl_fault_text(&fault);
        assert_string_equal(text, bad[i].msg);
        free(text);
    }
}

/* A refused tag of any length is located whole; its quote is cut explicitly, at 200 bytes on a
 * character boundary and marked with "…", never silently. */
static void test_a_long_bad_tag_is_located_whole_and_quoted_with_a_marked_cut(void **state) {
    (void)state;
    size_t n = 5000;
    char *text = malloc(n + 16);
    /* "x {{é…é}} y" (no value: "expected a value"): 2-byte characters, so byte 200 of the tag
     * falls inside one */
    size_t len = 0;
    len += (size_t)snprintf(text, n + 16, "x {{");
    while (len < n)
        len += (size_t)snprintf(text + len, n + 16 - len, "é");
    len += (size_t)snprintf(text + len, n + 16 - len, "}} y");
    struct tmpl_fault fault;
    assert_int_equal(tmpl_check(text, TMPL_CAMPAIGN, &fault), CD_E_INVALID);
    assert_ptr_equal(fault.tag, text + 2);
    assert_int_equal(fault.tag_len, len - 2 - 2); /* from "{{" through "}}" */
    assert_memory_equal(fault.tag + fault.tag_len - 2, "}}", 2);
    char *msg = tmpl_fault_text(&fault);
    const char *head = "expected a value at line 1, column 3: ";
    assert_memory_equal(msg, head, strlen(head));
    size_t quoted = strlen(msg) - strlen(head) - strlen("…");
    assert_true(quoted <= TMPL_QUOTE_MAX);
    assert_true(quoted >= TMPL_QUOTE_MAX - 1);
    assert_string_equal(msg + strlen(msg) - strlen("…"), "…");
    assert_memory_equal(msg + strlen(head), fault.tag, quoted);
    /* the quote ends on a character boundary: the message is valid UTF-8 */
    json_t *j = json_string(msg);
    assert_non_null(j);
    json_decref(j);
    free(msg);
    /* a tag just at the bound is quoted whole, unmarked */
    char exact[TMPL_QUOTE_MAX + 1];
    memset(exact, '#', TMPL_QUOTE_MAX);
    memcpy(exact, "{{", 2);
    memcpy(exact + TMPL_QUOTE_MAX - 2, "}}", 2);
    exact[TMPL_QUOTE_MAX] = '\0';
    assert_int_equal(tmpl_check(exact, TMPL_CAMPAIGN, &fault), CD_E_INVALID);
    msg = tmpl_fault_text(&fault);
    assert_int_equal(strlen(msg),
                     strlen("expected a value at line 1, column 1: ") + TMPL_QUOTE_MAX);
    assert_null(strstr(msg, "…"));
    free(msg);
    free(text);
}

static void test_canvas_reads_entry_properties_under_both_names(void **state) {
    (void)state;
    json_t *props = json_pack("{s:s}", "hint", "a");
    struct liquid_vars v = {.user_id = "u", .braze_id = "b", .props = props};
    const char *text = "{{canvas_entry_properties.${hint}}}{{context.${hint}}}";
    struct tmpl_fault fault;
    assert_int_equal(tmpl_check(text, TMPL_CANVAS, &fault), CD_OK);
    char *got = render(text, &v);
    assert_string_equal(got, "aa");
    free(got);
    json_decref(props);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tags_render_user_fields_attributes_and_trigger_properties),
        cmocka_unit_test(test_default_applies_to_missing_null_and_absent_values),
        cmocka_unit_test(test_json_escape_makes_any_value_safe_inside_a_json_string),
        cmocka_unit_test(test_values_inserted_into_urls_are_percent_encoded),
        cmocka_unit_test(test_text_without_tags_is_copied_byte_for_byte),
        cmocka_unit_test(test_unknown_or_malformed_tags_are_refused_with_the_tag_named),
        cmocka_unit_test(test_canvas_reads_entry_properties_under_both_names),
        cmocka_unit_test(test_a_long_bad_tag_is_located_whole_and_quoted_with_a_marked_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
