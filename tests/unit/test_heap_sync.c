/* test_heap_sync.c — reading segment.users.sync pages (api_heap_page_read): the conformance
 * sample, list order, ignored action types, every validation error and the limits. */
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

#include "api/api.h"
#include "api/limits.h"
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
    struct heap_page p = {0};
    char reason[API_HEAP_REASON_LEN];
    assert_int_equal(api_heap_page_read(body, &p, reason), CD_OK);
    assert_int_equal(p.kind, HEAP_PAGE_SYNC);
    assert_string_equal(p.cohort_id, "1338065");
    assert_string_equal(p.name, "Free Customers");
    assert_true(p.has_sync_info);
    assert_string_equal(p.sync_task_id, "FreeCustomersSync");
    assert_int_equal(p.page_number, 1);
    assert_int_equal(p.total_pages, 1);
    assert_int_equal(p.n_lists, 2);
    assert_true(p.lists[0].remove); /* the sample lists remove first */
    assert_false(p.lists[1].remove);
    assert_int_equal(heap_page_ids(&p, false), 2);
    assert_int_equal(heap_page_ids(&p, true), 2);
    api_heap_page_release(&p);
    json_decref(body);
}

static void test_other_action_types_are_ignored(void **state) {
    (void)state;
    json_t *body = json_pack("{s:s}", "action_type", "segment.users.drain");
    struct heap_page p = {0};
    char reason[API_HEAP_REASON_LEN];
    assert_int_equal(api_heap_page_read(body, &p, reason), CD_OK);
    assert_int_equal(p.kind, HEAP_PAGE_OTHER);
    assert_string_equal(reason, ""); /* the action type is a body value: not kept for logs */
    api_heap_page_release(&p);
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
        struct heap_page p = {0};
        char reason[API_HEAP_REASON_LEN];
        assert_int_equal(api_heap_page_read(body, &p, reason), CD_OK);
        assert_int_equal(p.kind, HEAP_PAGE_MALFORMED);
        assert_string_equal(reason, cases[i].reason);
        api_heap_page_release(&p);
        json_decref(body);
    }
}

/* A page whose field at path is a string of len bytes, the rest valid. */
static json_t *page_with(const char *path, size_t len) {
    char *v = malloc(len + 1);
    assert_non_null(v);
    memset(v, 'x', len);
    v[len] = '\0';
    json_t *body =
        json_pack("{s:s, s:{s:{s:i, s:s}, s:{s:s, s:i, s:i}, s:[{s:s}], s:[{s:s}]}}", "action_type",
                  "segment.users.sync", "data", "segment", "id", 7, "name",
                  strcmp(path, "name") == 0 ? v : "n", "sync_info", "sync_task_id",
                  strcmp(path, "task") == 0 ? v : "t", "page_number", 1, "total_pages", 1, "add",
                  "id", "a", "remove", "id", strcmp(path, "remove") == 0 ? v : "r");
    free(v);
    assert_non_null(body);
    return body;
}

static void test_ids_names_and_task_ids_over_limit_are_refused_naming_the_field(void **state) {
    (void)state;
    struct {
        const char *path;
        size_t len;
        const char *reason; /* NULL: within the limit */
    } cases[] = {
        {"remove", LIMIT_EXTERNAL_ID, NULL},
        {"remove", LIMIT_EXTERNAL_ID + 1, "data.remove[0].id is longer than 2048 bytes"},
        {"name", LIMIT_COHORT_NAME, NULL},
        {"name", LIMIT_COHORT_NAME + 1, "data.segment.name is longer than 1024 bytes"},
        {"task", LIMIT_HEAP_SYNC_TASK_ID, NULL},
        {"task", LIMIT_HEAP_SYNC_TASK_ID + 1,
         "data.sync_info.sync_task_id is longer than 200 bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *body = page_with(cases[i].path, cases[i].len);
        struct heap_page p = {0};
        char reason[API_HEAP_REASON_LEN];
        assert_int_equal(api_heap_page_read(body, &p, reason), CD_OK);
        if (cases[i].reason) {
            assert_int_equal(p.kind, HEAP_PAGE_MALFORMED);
            assert_string_equal(reason, cases[i].reason);
        } else {
            assert_int_equal(p.kind, HEAP_PAGE_SYNC);
            assert_int_equal(heap_page_ids(&p, true), 1);
        }
        api_heap_page_release(&p);
        json_decref(body);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conformance_sample_reads_in_body_order),
        cmocka_unit_test(test_other_action_types_are_ignored),
        cmocka_unit_test(test_invalid_pages_say_what_is_wrong),
        cmocka_unit_test(test_ids_names_and_task_ids_over_limit_are_refused_naming_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
