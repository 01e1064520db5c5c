/*
 * test_cli.c — the command line: init, the admin subcommands (workspace, api-key, partner,
 * import-key) on a data directory whose server is running, --help and usage errors.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs the CLI, asserts the exit code, returns stdout parsed as JSON (new ref) or NULL. */
static json_t *cli_json(struct server *s, const char *const *args, int want_rc) {
    char *out = NULL, *err = NULL;
    int rc = run_cli(s, args, &out, &err);
    if (rc != want_rc) {
        print_error("exit %d (want %d)\nstdout: %s\nstderr: %s\n", rc, want_rc, out, err);
        fail();
    }
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    free(err);
    return j;
}

static long track_status(struct server *s, const char *key) {
    char *auth = strf("Authorization: Bearer %s", key);
    const char *h[] = {auth, NULL};
    struct resp r;
    http_req(s, "POST", "/users/track", h, "{\"attributes\":[{\"external_id\":\"cli\"}]}", &r);
    long status = r.status;
    resp_free(&r);
    free(auth);
    return status;
}

static void test_init_prints_one_json_object_with_every_credential(void **state) {
    struct server *s = *state;
    assert_int_equal(strlen(s->workspace_id), 36);
    assert_int_equal(strlen(s->rest_key), 36);
    assert_int_equal(strlen(s->partner_key), 36);
    assert_int_equal(strlen(s->import_key), 36);
    assert_string_not_equal(s->rest_key, s->partner_key);
    assert_int_equal(track_status(s, s->rest_key), 201);
}

static void test_init_on_initialised_dir_fails_and_changes_nothing(void **state) {
    struct server *s = *state;
    const char *args[] = {"init", "--json", NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(run_cli(s, args, &out, &err), 1);
    assert_string_equal(out, "");
    assert_non_null(strstr(err, "is already initialised"));
    free(out);
    free(err);
    assert_int_equal(track_status(s, s->rest_key), 201);
}

static void test_new_workspace_key_works_on_running_server_at_once(void **state) {
    struct server *s = *state;
    const char *args[] = {"workspace", "create", "second", "--json", NULL};
    json_t *j = cli_json(s, args, 0);
    assert_int_equal(json_object_size(j), 2);
    const char *key = json_string_value(json_object_get(j, "rest_api_key"));
    assert_non_null(json_string_value(json_object_get(j, "workspace_id")));
    assert_int_equal(track_status(s, key), 201);
    json_decref(j);
    /* the same name twice is refused */
    json_decref(cli_json(s, args, 1));
}

static void test_revoked_api_key_is_refused_at_once(void **state) {
    struct server *s = *state;
    const char *create[] = {"api-key", "create", "--json", NULL};
    json_t *j = cli_json(s, create, 0);
    char key[64];
    snprintf(key, sizeof key, "%s", json_string_value(json_object_get(j, "rest_api_key")));
    json_decref(j);
    assert_int_equal(track_status(s, key), 201);
    const char *revoke[] = {"api-key", "revoke", key, "--json", NULL};
    j = cli_json(s, revoke, 0);
    assert_json_equal(j, "{\"revoked\":true}");
    json_decref(j);
    assert_int_equal(track_status(s, key), 401);
    /* revoking again: nothing active matches */
    json_decref(cli_json(s, revoke, 1));
    /* the first key is untouched */
    assert_int_equal(track_status(s, s->rest_key), 201);
}

/* The status of a partner cohort import into heap with this partner_api_key and the
 * workspace's data import key. */
static long heap_import_status(struct server *s, const char *partner_key) {
    char *body = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":\"c\","
                      "\"cohort_changes\":[]}",
                      partner_key, s->import_key);
    struct resp r;
    http_req(s, "POST", "/partners/heap/cohorts/users", NULL, body, &r);
    long status = r.status;
    resp_free(&r);
    free(body);
    return status;
}

/* Runs the CLI expecting exit code want_rc; returns stdout and stderr joined (owned). */
static char *cli_text(struct server *s, const char *const *args, int want_rc) {
    char *out = NULL, *err = NULL;
    int rc = run_cli(s, args, &out, &err);
    if (rc != want_rc) {
        print_error("exit %d (want %d)\nstdout: %s\nstderr: %s\n", rc, want_rc, out, err);
        fail();
    }
    char *both = strf("%s%s", out ? out : "", err ? err : "");
    free(out);
    free(err);
    return both;
}

/* Issue 16: hosted Heap cannot know a self-hosted server's partner key, so init makes heap a
 * hosted partner; `partner list` shows it and `partner set` changes it on a running server. */
static void test_init_makes_heap_hosted_and_partner_set_changes_the_key_check(void **state) {
    struct server *s = *state;
    const char *list[] = {"partner", "list", "--json", NULL};
    json_t *j = cli_json(s, list, 0);
    assert_json_equal(j, "{\"partners\":[{\"name\":\"heap\",\"key_check\":\"off\"}]}");
    json_decref(j);
    const char *list_text[] = {"partner", "list", NULL};
    char *text = cli_text(s, list_text, 0);
    assert_string_equal(text, "heap key_check=off\n");
    free(text);
    assert_int_equal(heap_import_status(s, "key-of-heap-itself"), 201);

    const char *required[] = {"partner", "set", "heap", "--key-check", "required", "--json", NULL};
    j = cli_json(s, required, 0);
    assert_json_equal(j, "{\"partner\":\"heap\",\"key_check\":\"required\"}");
    json_decref(j);
    assert_int_equal(heap_import_status(s, "key-of-heap-itself"), 401);
    assert_int_equal(heap_import_status(s, s->partner_key), 201);
    j = cli_json(s, list, 0);
    assert_json_equal(j, "{\"partners\":[{\"name\":\"heap\",\"key_check\":\"required\"}]}");
    json_decref(j);

    /* refusals name the fault and change nothing */
    const char *nobody[] = {"partner", "set", "nobody", "--key-check", "off", NULL};
    text = cli_text(s, nobody, 1);
    assert_string_equal(text, "cohortd partner: no partner 'nobody' (add it with: cohortd partner "
                              "add nobody)\n");
    free(text);
    const char *no_mode[] = {"partner", "set", "heap", NULL};
    text = cli_text(s, no_mode, 2);
    assert_string_equal(text, "cohortd partner: partner set needs --key-check required|off\n");
    free(text);
    const char *bad_mode[] = {"partner", "set", "heap", "--key-check", "maybe", NULL};
    text = cli_text(s, bad_mode, 2);
    assert_string_equal(text,
                        "cohortd partner: --key-check must be 'required' or 'off', not 'maybe'\n");
    free(text);
    const char *again[] = {"partner", "add", "heap", "--key-check", "off", NULL};
    text = cli_text(s, again, 1);
    assert_string_equal(text, "cohortd partner: partner 'heap' exists already (change its key "
                              "check with: cohortd partner set heap --key-check required|off)\n");
    free(text);
    const char *verb[] = {"partner", "remove", "heap", NULL};
    json_decref(cli_json(s, verb, 2));
    assert_int_equal(heap_import_status(s, "key-of-heap-itself"), 401);

    const char *off[] = {"partner", "set", "heap", "--key-check", "off", NULL};
    text = cli_text(s, off, 0);
    assert_string_equal(text, "partner: heap\nkey_check: off\n");
    free(text);
    assert_int_equal(heap_import_status(s, "key-of-heap-itself"), 201);
    const char *help[] = {"partner", "--help", NULL};
    text = cli_text(s, help, 0);
    assert_non_null(strstr(text, "set NAME --key-check required|off"));
    assert_non_null(strstr(text, "list"));
    free(text);
}

static void test_partner_add_returns_key_and_refuses_duplicates(void **state) {
    struct server *s = *state;
    const char *args[] = {"partner", "add", "amplitude", "--key-check", "off", "--json", NULL};
    json_t *j = cli_json(s, args, 0);
    assert_string_equal(json_string_value(json_object_get(j, "partner")), "amplitude");
    assert_int_equal(strlen(json_string_value(json_object_get(j, "partner_api_key"))), 36);
    assert_string_equal(json_string_value(json_object_get(j, "key_check")), "off");
    json_decref(j);
    json_decref(cli_json(s, args, 1));
    const char *bad[] = {"partner", "add", "Bad Name", NULL};
    json_decref(cli_json(s, bad, 2));
    const char *bad_check[] = {"partner", "add", "p2", "--key-check", "maybe", NULL};
    json_decref(cli_json(s, bad_check, 2));
}

static void test_import_key_show_rotate_invalidate(void **state) {
    struct server *s = *state;
    const char *show[] = {"import-key", "show", "--partner", "heap", "--json", NULL};
    json_t *j = cli_json(s, show, 0);
    assert_string_equal(json_string_value(json_object_get(j, "data_import_key")), s->import_key);
    json_decref(j);
    const char *rotate[] = {"import-key", "rotate", "--partner", "heap", "--json", NULL};
    j = cli_json(s, rotate, 0);
    const char *rotated = json_string_value(json_object_get(j, "data_import_key"));
    assert_string_not_equal(rotated, s->import_key);
    json_t *again = cli_json(s, show, 0);
    assert_string_equal(json_string_value(json_object_get(again, "data_import_key")), rotated);
    json_decref(again);
    json_decref(j);
    const char *inval[] = {"import-key", "invalidate", "--partner", "heap", "--json", NULL};
    j = cli_json(s, inval, 0);
    assert_json_equal(j, "{\"data_import_key\":null}");
    json_decref(j);
    json_decref(cli_json(s, inval, 1));
    /* show creates a fresh key when none is active */
    j = cli_json(s, show, 0);
    assert_int_equal(strlen(json_string_value(json_object_get(j, "data_import_key"))), 36);
    json_decref(j);
    const char *unknown[] = {"import-key", "show", "--partner", "nobody", NULL};
    json_decref(cli_json(s, unknown, 1));
    const char *missing[] = {"import-key", "show", NULL};
    json_decref(cli_json(s, missing, 2));
}

static void test_help_and_usage_errors(void **state) {
    struct server *s = *state;
    const char *cmds[] = {"init", "serve", "workspace", "api-key", "partner", "import-key"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        const char *args[] = {cmds[i], "--help", NULL};
        char *out = NULL;
        assert_int_equal(run_cli(s, args, &out, NULL), 0);
        assert_non_null(strstr(out, "usage: cohortd"));
        free(out);
    }
    const char *unknown_opt[] = {"serve", "--bogus", NULL};
    assert_int_equal(run_cli(s, unknown_opt, NULL, NULL), 2);
    const char *unknown_cmd[] = {"frobnicate", NULL};
    assert_int_equal(run_cli(s, unknown_cmd, NULL, NULL), 2);
}

static void test_serve_refuses_uninitialised_dir(void **state) {
    (void)state;
    struct server empty = {0};
    snprintf(empty.data, sizeof empty.data, "/tmp/cohortd-e2e-none-XXXXXX");
    assert_non_null(mkdtemp(empty.data));
    const char *args[] = {"serve", "--listen", "127.0.0.1:1", NULL};
    char *err = NULL;
    assert_int_equal(run_cli(&empty, args, NULL, &err), 1);
    assert_non_null(strstr(err, "is not initialised; run: cohortd init"));
    free(err);
    rmdir(empty.data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_prints_one_json_object_with_every_credential),
        cmocka_unit_test(test_init_on_initialised_dir_fails_and_changes_nothing),
        cmocka_unit_test(test_new_workspace_key_works_on_running_server_at_once),
        cmocka_unit_test(test_revoked_api_key_is_refused_at_once),
        cmocka_unit_test(test_init_makes_heap_hosted_and_partner_set_changes_the_key_check),
        cmocka_unit_test(test_partner_add_returns_key_and_refuses_duplicates),
        cmocka_unit_test(test_import_key_show_rotate_invalidate),
        cmocka_unit_test(test_help_and_usage_errors),
        cmocka_unit_test(test_serve_refuses_uninitialised_dir),
    };
    return cmocka_run_group_tests(tests, server_setup, server_teardown);
}
