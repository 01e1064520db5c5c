/* test_heap_sync.c — reading segment.users.sync pages: the conformance sample, list order,
 * ignored action types and every validation error. */
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

#include "core/cohorts/heap_sync.h"

static json_t *load_sample(void) {
    const char *dir = getenv("COHORTD_CONFORMANCE");
    char path[512];
    snprintf(path, sizeof path, "%s/heap/sync.json", dir ? dir : "../../shared/conformance");
    json_t *j = json_load_file(path, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_conformance_sample_reads_in_body_order(void **state) {
    (void)state;
    json_t *body = load_sample();
    struct heap_sync_page p;
    char reason[256];
    assert_int_equal(heap_sync_parse(body, &p, reason, sizeof reason), HEAP_SYNC_OK);
    assert_string_equal(p.cohort_id, "1338065");
    assert_string_equal(p.name, "Free Customers");
    assert_true(p.has_sync_info);
    assert_string_equal(p.sync_task_id, "FreeCustomersSync");
    assert_int_equal(p.page_number, 1);
    assert_int_equal(p.total_pages, 1);
    assert_int_equal(p.n_lists, 2);
    assert_true(p.lists[0].remove); /* the sample lists remove first */
    assert_false(p.lists[1].remove);
    assert_int_equal(p.n_add, 2);
    assert_int_equal(p.n_remove, 2);
    json_decref(body);
}

static void test_other_action_types_are_ignored(void **state) {
    (void)state;
    json_t *body = json_pack("{s:s}", "action_type", "segment.users.drain");
    struct heap_sync_page p;
    char reason[256];
    assert_int_equal(heap_sync_parse(body, &p, reason, sizeof reason), HEAP_SYNC_IGNORED);
    assert_string_equal(reason, "segment.users.drain");
    json_decref(body);
}

static void test_invalid_pages_say_what_is_wrong(void **state) {
    (void)state;
    struct {
        const char *body;
        const char *reason;
    } cases[] = {
        {"{}", "'action_type' must be a string"},
        {"{\"action_type\":\"segment.users.sync\"}", "'data' must be an object"},
        {"{\"action_type\":\"segment.users.sync\",\"data\":{\"segment\":{\"id\":\"7\"},"
         "\"add\":[]}}",
         "'data.segment.id' must be a positive integer"},
        {"{\"action_type\":\"segment.users.sync\",\"data\":{\"segment\":{\"id\":7}}}",
         "'data.add' or 'data.remove' is required"},
        {"{\"action_type\":\"segment.users.sync\",\"data\":{\"segment\":{\"id\":7},"
         "\"add\":[{\"id\":\"\"}]}}",
         "'data.add' and 'data.remove' must be arrays of {\"id\": string}"},
        {"{\"action_type\":\"segment.users.sync\",\"data\":{\"segment\":{\"id\":7},"
         "\"sync_info\":{\"sync_task_id\":\"t\",\"page_number\":3,\"total_pages\":2},"
         "\"add\":[]}}",
         "'data.sync_info' must hold a non-empty 'sync_task_id' and integers 1 <= "
         "'page_number' <= 'total_pages'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *body = json_loads(cases[i].body, 0, NULL);
        assert_non_null(body);
        struct heap_sync_page p;
        char reason[256];
        assert_int_equal(heap_sync_parse(body, &p, reason, sizeof reason), HEAP_SYNC_INVALID);
        assert_string_equal(reason, cases[i].reason);
        json_decref(body);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conformance_sample_reads_in_body_order),
        cmocka_unit_test(test_other_action_types_are_ignored),
        cmocka_unit_test(test_invalid_pages_say_what_is_wrong),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
