/* test_event_text.c — an outbox event written directly from a members text
 * (event_body_text) is byte for byte the event jansson builds and dumps from the same
 * properties object (event_body_json, event_emit's form): quotes, backslashes, control
 * characters, non-ASCII, long strings, optional user fields absent or present, empty
 * properties, negative and large times; a text jansson refuses (invalid UTF-8) gives jansson's
 * result too. And event ids are distinct version-4 UUIDs. */
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

#include "core/events/event.h"

/* Both forms of one event, whose properties are props (borrowed), compared. */
static void forms_agree(const char *type, int64_t time_ms, const struct event_user *u,
                        const char *app_group_id, const json_t *props) {
    const char *id = "0b7e9a4c-1d2f-4a3b-8c5d-6e7f8091a2b3";
    char *members = event_members_text(props);
    assert_non_null(members);
    char *want = event_body_json(type, id, time_ms, u, app_group_id, json_deep_copy(props));
    char *got = event_body_text(type, id, time_ms, u, app_group_id, members);
    if (want) {
        assert_non_null(got);
        assert_string_equal(got, want);
    } else {
        assert_null(got);
    }
    free(want);
    free(got);
    free(members);
}

static const char *odd[] = {
    "",
    "plain",
    "a \"quoted\" name",
    "back\\slash",
    "tab\there, new\nline, cr\r, bell\a, esc\x1b, unit\x1f, del\x7f",
    "slash / and </script>",
    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
    "\xe2\x80\xa8 line separator",
};

static void test_send_events_agree_with_jansson_for_odd_texts(void **state) {
    (void)state;
    size_t n = sizeof odd / sizeof *odd;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < n; k++) {
            const char *a = odd[i], *b = odd[k];
            json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "campaign_id", a,
                                  "campaign_name", b, "message_variation_id", a,
                                  "message_variation_name", b, "dispatch_id", a, "send_id", b);
            assert_non_null(p);
            struct event_user u = {"65f0c0ffee0123456789abcd", a, NULL, NULL};
            forms_agree("users.messages.webhook.Send", 1764763200123, &u, b, p);
            struct event_user all = {b, a, b, a};
            forms_agree("users.canvas.Entry", 1764763200999, &all, a, p);
            struct event_user none = {a, NULL, NULL, NULL};
            forms_agree("users.messages.webhook.Send", 0, &none, a, p);
            json_decref(p);
        }
}

static void test_other_value_types_and_empty_properties_agree(void **state) {
    (void)state;
    struct event_user u = {"65f0c0ffee0123456789abcd", "user_1", NULL, "Europe/Paris"};
    json_t *empty = json_object();
    forms_agree("users.messages.webhook.Send", 1000, &u, "ws", empty);
    json_decref(empty);
    json_t *p = json_pack("{s:s, s:b, s:i, s:f, s:n, s:[i,s], s:{s:s}}", "canvas_id", "c",
                          "in_control_group", 0, "n", -42, "x", 0.5, "nothing", "list", 1, "é",
                          "nested", "k", "\"v\"");
    assert_non_null(p);
    forms_agree("users.canvas.Entry", -1500, &u, "ws", p);
    forms_agree("users.canvas.Entry", INT64_MAX, &u, "ws", p);
    json_decref(p);
}

static void test_long_texts_agree_whole(void **state) {
    (void)state;
    size_t len = 70000;
    char *big = malloc(len + 1);
    assert_non_null(big);
    for (size_t i = 0; i < len; i++)
        big[i] = "ab\"\\\n\x01\xc3\xa9"[i % 8];
    big[len] = '\0';
    /* the é's two bytes stay together: the cycle is 8 and é sits at 6, 7 */
    json_t *p = json_pack("{s:s, s:s}", "campaign_name", big, "dispatch_id", "d");
    assert_non_null(p);
    struct event_user u = {"65f0c0ffee0123456789abcd", big, big, NULL};
    forms_agree("users.messages.webhook.Send", 1764763200123, &u, big, p);
    json_decref(p);
    free(big);
}

static void test_a_text_jansson_refuses_gives_what_jansson_gives(void **state) {
    (void)state;
    json_t *p = json_pack("{s:s}", "campaign_id", "c");
    assert_non_null(p);
    const char *bad[] = {"\xff", "a\xc3", "\xed\xa0\x80", "\xc0\xaf"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct event_user ext = {"65f0c0ffee0123456789abcd", bad[i], NULL, NULL};
        forms_agree("users.messages.webhook.Send", 1000, &ext, "ws", p); /* field left out */
        struct event_user bid = {bad[i], NULL, NULL, NULL};
        forms_agree("users.messages.webhook.Send", 1000, &bid, "ws", p); /* no event */
        struct event_user ok = {"b", NULL, NULL, NULL};
        forms_agree("users.messages.webhook.Send", 1000, &ok, bad[i], p);
    }
    json_decref(p);
}

static void test_members_text_refuses_what_it_cannot_stand_for(void **state) {
    (void)state;
    json_t *arr = json_array();
    assert_null(event_members_text(arr));
    json_decref(arr);
    json_t *p = json_pack("{s:s}", "app_group_id", "x");
    assert_null(event_members_text(p));
    json_decref(p);
    p = json_pack("{s:s, s:i}", "b", "1", "a", 2);
    char *m = event_members_text(p);
    assert_string_equal(m, "\"b\":\"1\",\"a\":2"); /* in insertion order */
    free(m);
    json_decref(p);
}

static void test_event_ids_are_distinct_version_4_uuids(void **state) {
    (void)state;
    enum { N = 1000 };
    static char ids[N][37];
    for (int i = 0; i < N; i++) {
        assert_int_equal(event_new_id(ids[i]), 0);
        assert_int_equal(strlen(ids[i]), 36);
        for (int k = 0; k < 36; k++) {
            char c = ids[i][k];
            if (k == 8 || k == 13 || k == 18 || k == 23)
                assert_int_equal(c, '-');
            else
                assert_true((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
        }
        assert_int_equal(ids[i][14], '4');
        assert_non_null(strchr("89ab", ids[i][19]));
        for (int k = 0; k < i; k++)
            assert_string_not_equal(ids[i], ids[k]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_events_agree_with_jansson_for_odd_texts),
        cmocka_unit_test(test_other_value_types_and_empty_properties_agree),
        cmocka_unit_test(test_long_texts_agree_whole),
        cmocka_unit_test(test_a_text_jansson_refuses_gives_what_jansson_gives),
        cmocka_unit_test(test_members_text_refuses_what_it_cannot_stand_for),
        cmocka_unit_test(test_event_ids_are_distinct_version_4_uuids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
