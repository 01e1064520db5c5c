/* test_heap_integrations.c — setting up Heap segment-sync integrations over the REST API and
 * the CLI: create (with each identity mapping), list, rotate the secret, delete. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static void test_create_returns_path_and_secret_and_lists_without_secret(void **state) {
    struct server *s = *state;
    struct resp r;
    http_post_rest(s, "/integrations/heap/create",
                   "{\"name\":\"Heap prod\",\"identity_mapping\":{\"type\":\"alias\","
                   "\"alias_label\":\"email\"}}",
                   &r);
    assert_int_equal(r.status, 201);
    const char *id = json_string_value(json_object_get(r.json, "integration_id"));
    const char *secret = json_string_value(json_object_get(r.json, "webhook_secret"));
    assert_non_null(id);
    assert_int_equal(strlen(secret), 64);
    char *path = strf("/heap/webhooks/%s", id);
    assert_string_equal(json_string_value(json_object_get(r.json, "webhook_path")), path);
    resp_free(&r);
    http_get_rest(s, "/integrations/heap/list", &r);
    json_t *first = json_array_get(json_object_get(r.json, "integrations"), 0);
    assert_non_null(first);
    assert_null(json_object_get(first, "webhook_secret"));
    assert_json_equal(json_object_get(first, "identity_mapping"),
                      "{\"type\":\"alias\",\"alias_label\":\"email\"}");
    assert_string_equal(json_string_value(json_object_get(first, "webhook_path")), path);
    assert_json_equal(json_object_get(first, "pages_received"), "0");
    free(path);
    resp_free(&r);
}

static void test_create_validates_name_and_mapping(void **state) {
    struct server *s = *state;
    struct resp r;
    http_post_rest(s, "/integrations/heap/create", "{\"name\":\"\"}", &r);
    assert_resp(&r, 400, "{\"message\":\"'name' must be a string of 1 to 200 characters\"}");
    resp_free(&r);
    http_post_rest(s, "/integrations/heap/create",
                   "{\"name\":\"x\",\"identity_mapping\":{\"type\":\"email\"}}", &r);
    assert_resp(&r, 400,
                "{\"message\":\"'identity_mapping.type' must be 'external_id', 'alias' or "
                "'device_id'\"}");
    resp_free(&r);
    http_post_rest(s, "/integrations/heap/create",
                   "{\"name\":\"x\",\"identity_mapping\":{\"type\":\"alias\"}}", &r);
    assert_resp(&r, 400,
                "{\"message\":\"'identity_mapping' of type 'alias' needs a non-empty "
                "'alias_label'\"}");
    resp_free(&r);
    /* none of them was stored */
    http_get_rest(s, "/integrations/heap/list", &r);
    size_t i;
    const json_t *it;
    json_array_foreach(json_object_get(r.json, "integrations"), i, it) {
        const char *name = json_string_value(json_object_get(it, "name"));
        assert_true(strcmp(name, "x") != 0 && *name);
    }
    resp_free(&r);
}

static void test_rotate_and_delete_need_a_known_integration(void **state) {
    struct server *s = *state;
    struct resp r;
    http_post_rest(s, "/integrations/heap/create", "{\"name\":\"rot\"}", &r);
    char id[64], old[80];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r.json, "integration_id")));
    snprintf(old, sizeof old, "%s", json_string_value(json_object_get(r.json, "webhook_secret")));
    resp_free(&r);
    char *body = strf("{\"integration_id\":\"%s\"}", id);
    http_post_rest(s, "/integrations/heap/rotate_secret", body, &r);
    assert_int_equal(r.status, 201);
    assert_string_not_equal(json_string_value(json_object_get(r.json, "webhook_secret")), old);
    resp_free(&r);
    http_post_rest(s, "/integrations/heap/delete", body, &r);
    assert_resp(&r, 201, "{\"message\":\"success\"}");
    resp_free(&r);
    http_post_rest(s, "/integrations/heap/delete", body, &r);
    assert_resp(&r, 404, "{\"message\":\"Not Found\"}");
    resp_free(&r);
    http_post_rest(s, "/integrations/heap/rotate_secret", body, &r);
    assert_resp(&r, 404, "{\"message\":\"Not Found\"}");
    resp_free(&r);
    free(body);
}

static void test_cli_creates_lists_and_deletes(void **state) {
    struct server *s = *state;
    const char *create[] = {"heap-integration", "create", "from-cli", "--mapping",
                            "device_id",        "--json", NULL};
    char *out = NULL;
    assert_int_equal(run_cli(s, create, &out, NULL), 0);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(j, "integration_id")));
    json_decref(j);
    struct resp r;
    http_get_rest(s, "/integrations/heap/list", &r);
    int found = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(r.json, "integrations"), i, v) {
        if (strcmp(json_string_value(json_object_get(v, "integration_id")), id) == 0) {
            assert_json_equal(json_object_get(v, "identity_mapping"), "{\"type\":\"device_id\"}");
            found = 1;
        }
    }
    assert_true(found);
    resp_free(&r);
    const char *del[] = {"heap-integration", "delete", id, "--json", NULL};
    assert_int_equal(run_cli(s, del, NULL, NULL), 0);
    assert_int_equal(run_cli(s, del, NULL, NULL), 1);
    const char *bad[] = {"heap-integration", "create", "x", "--mapping", "email", NULL};
    assert_int_equal(run_cli(s, bad, NULL, NULL), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_returns_path_and_secret_and_lists_without_secret),
        cmocka_unit_test(test_create_validates_name_and_mapping),
        cmocka_unit_test(test_rotate_and_delete_need_a_known_integration),
        cmocka_unit_test(test_cli_creates_lists_and_deletes),
    };
    return cmocka_run_group_tests(tests, server_setup, server_teardown);
}
