/*
 * test_config.c — the config file (/etc/cohortd/cohortd.conf, --config FILE, COHORTD_CONFIG):
 * its values reach `serve` and the operator commands, a flag beats the environment which
 * beats the file which beats the default, and a bad file is refused naming FILE:LINE.
 * ctest runs every test with COHORTD_CONFIG=/dev/null; tests that change it put it back.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes text to DIR/name; returns the path (free it). */
static char *write_file(const char *dir, const char *name, const char *text) {
    char *path = strf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* A valid /users/track body of exactly len bytes (padded with blanks). */
static char *track_body(size_t len) {
    const char *head = "{\"attributes\":[{\"external_id\":\"sized\",\"x\":1}]";
    char *body = repeat(' ', len);
    memcpy(body, head, strlen(head));
    body[len - 1] = '}';
    return body;
}

/* POSTs a body of len bytes to /users/track; asserts 201, or 413 naming limit (limit > 0). */
static void post_sized(struct server *s, size_t len, long limit) {
    char *body = track_body(len);
    struct resp r;
    http_post_rest(s, "/users/track", body, &r);
    if (limit > 0) {
        char *want = strf("{\"message\":\"Payload Too Large\",\"errors\":[\"the request body is "
                          "larger than %ld bytes\"]}",
                          limit);
        assert_resp(&r, 413, want);
        free(want);
    } else {
        assert_resp(&r, 201, "{\"message\":\"success\",\"attributes_processed\":1}");
    }
    resp_free(&r);
    free(body);
}

/* Runs `cohortd ARGS…` without --data; asserts the exit code and returns stderr (free it). */
static char *cli_err(const char *const *args, int want_rc, char **out) {
    char *o = NULL, *e = NULL;
    int rc = run_cli_bare(args, &o, &e);
    if (rc != want_rc) {
        print_error("exit %d (want %d)\nstdout: %s\nstderr: %s\n", rc, want_rc, o, e);
        fail();
    }
    if (out)
        *out = o;
    else
        free(o);
    return e;
}

static void test_config_value_is_used_and_env_then_flag_override_it(void **state) {
    (void)state;
    struct server s;
    server_init(&s);
    /* listen is set by the harness's --listen flag as well: the flag wins, or the server
     * would not answer on its port */
    char *conf =
        write_file(s.data, "cohortd.conf", "# sizes\nmax-body = 2048\n\nlisten = 127.0.0.1:1\n");
    s.extra_args[0] = "--config";
    s.extra_args[1] = conf;

    server_start(&s); /* file: 2048 */
    post_sized(&s, 3000, 2048);
    post_sized(&s, 2000, 0);
    server_stop(&s);

    assert_int_equal(setenv("COHORTD_MAX_BODY", "4096", 1), 0);
    server_start(&s); /* environment over file: 4096 */
    post_sized(&s, 5000, 4096);
    post_sized(&s, 3000, 0);
    server_stop(&s);

    s.extra_args[2] = "--max-body";
    s.extra_args[3] = "8192";
    server_start(&s); /* flag over environment: 8192 */
    post_sized(&s, 9000, 8192);
    post_sized(&s, 5000, 0);
    server_stop(&s);
    assert_int_equal(unsetenv("COHORTD_MAX_BODY"), 0);

    /* the same file named by COHORTD_CONFIG instead of --config */
    s.extra_args[0] = NULL;
    assert_int_equal(setenv("COHORTD_CONFIG", conf, 1), 0);
    server_start(&s);
    post_sized(&s, 3000, 2048);
    server_stop(&s);
    assert_int_equal(setenv("COHORTD_CONFIG", "/dev/null", 1), 0);
    free(conf);
    server_cleanup(&s);
}

static void test_operator_commands_take_data_and_workspace_from_the_file(void **state) {
    (void)state;
    struct server s;
    server_init(&s);
    /* threads is a serve option: other commands ignore it */
    char *text = strf("data = %s\nworkspace = default\nthreads = 2\njson = true\n", s.data);
    char *conf = write_file(s.data, "c.conf", text);
    const char *args[] = {"import-key", "show", "--partner", "heap", "--config", conf, NULL};
    char *out = NULL;
    char *err = cli_err(args, 0, &out);
    char *want = strf("{\"data_import_key\":\"%s\"}\n", s.import_key);
    assert_string_equal(out, want);
    free(out);
    free(err);
    free(want);

    /* the file named by COHORTD_CONFIG: its data directory and `json = true` */
    assert_int_equal(setenv("COHORTD_CONFIG", conf, 1), 0);
    const char *list[] = {"workspace", "list", NULL};
    err = cli_err(list, 0, &out);
    want =
        strf("{\"workspaces\":[{\"workspace_id\":\"%s\",\"name\":\"default\"}]}\n", s.workspace_id);
    assert_string_equal(out, want);
    free(out);
    free(err);
    free(want);
    assert_int_equal(setenv("COHORTD_CONFIG", "/dev/null", 1), 0);
    free(conf);
    free(text);
    server_cleanup(&s);
}

/* Runs `cohortd workspace list --config FILE` on a file holding text; asserts exit 2 and that
 * stderr is "cohortd workspace: FILE" + want_after_path. */
static void assert_file_refused(const char *dir, const char *text, const char *want_after_path) {
    char *conf = write_file(dir, "bad.conf", text);
    const char *args[] = {"workspace", "list", "--config", conf, NULL};
    char *err = cli_err(args, 2, NULL);
    char *want = strf("cohortd workspace: %s%s\n", conf, want_after_path);
    assert_string_equal(err, want);
    free(err);
    free(want);
    free(conf);
}

static void test_a_bad_file_is_refused_naming_file_and_line(void **state) {
    (void)state;
    char dir[] = "/tmp/cohortd-config-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_file_refused(dir, "# ok\nlisten = 127.0.0.1:8080\nlisen = 0.0.0.0:80\n",
                        ":3: unknown setting 'lisen'");
    assert_file_refused(dir, "\n\nlisten 127.0.0.1:8080\n",
                        ":3: expected 'name = value', not 'listen 127.0.0.1:8080'");
    assert_file_refused(dir, "threads =\n", ":1: 'threads' has no value");
    assert_file_refused(dir, " = 4\n", ":1: a setting without a name");
    assert_file_refused(dir, "threads = 2\nthreads = 3\n",
                        ":2: 'threads' is set twice (first on line 1)");
    assert_file_refused(dir, "help = true\n", ":1: unknown setting 'help'");
    assert_file_refused(dir, "json = maybe\n", ":1: 'json' must be true or false, not 'maybe'");
    char *rm = strf("rm -rf '%s'", dir);
    assert_int_equal(system(rm), 0);
    free(rm);
}

static void test_a_missing_named_file_is_refused(void **state) {
    (void)state;
    const char *flag[] = {"workspace", "list", "--config", "/nonexistent/cohortd.conf", NULL};
    char *err = cli_err(flag, 2, NULL);
    assert_string_equal(err, "cohortd workspace: cannot read /nonexistent/cohortd.conf: No such "
                             "file or directory\n");
    free(err);
    assert_int_equal(setenv("COHORTD_CONFIG", "/nonexistent/env.conf", 1), 0);
    const char *env[] = {"serve", "--data", "/nonexistent", NULL};
    err = cli_err(env, 2, NULL);
    assert_string_equal(err, "cohortd serve: cannot read /nonexistent/env.conf: No such file or "
                             "directory\n");
    free(err);
    assert_int_equal(setenv("COHORTD_CONFIG", "/dev/null", 1), 0);
}

static void test_a_missing_default_file_is_fine(void **state) {
    (void)state;
    struct stat st;
    if (stat("/etc/cohortd/cohortd.conf", &st) == 0)
        skip(); /* this machine has one: what it holds is not ours to assume */
    struct server s;
    server_init(&s);
    assert_int_equal(unsetenv("COHORTD_CONFIG"), 0);
    const char *args[] = {"workspace", "list", NULL};
    char *out = NULL;
    int rc = run_cli(&s, args, &out, NULL);
    assert_int_equal(setenv("COHORTD_CONFIG", "/dev/null", 1), 0);
    assert_int_equal(rc, 0);
    char *want = strf("%s default\n", s.workspace_id);
    assert_string_equal(out, want);
    free(want);
    free(out);
    /* an empty name reads no file at all */
    assert_int_equal(setenv("COHORTD_CONFIG", "", 1), 0);
    rc = run_cli(&s, args, &out, NULL);
    assert_int_equal(setenv("COHORTD_CONFIG", "/dev/null", 1), 0);
    assert_int_equal(rc, 0);
    free(out);
    server_cleanup(&s);
}

static void test_help_names_the_config_file_and_the_precedence(void **state) {
    (void)state;
    const char *args[] = {"serve", "--help", NULL};
    char *out = NULL;
    char *err = cli_err(args, 0, &out);
    assert_non_null(strstr(out, "  --config FILE            settings file, lines 'name = value' "
                                "[env COHORTD_CONFIG] (default: /etc/cohortd/cohortd.conf)\n"));
    assert_non_null(strstr(out, "A flag wins over its environment variable, which wins over the "
                                "file,\nwhich wins over the default.\n"));
    free(out);
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_value_is_used_and_env_then_flag_override_it),
        cmocka_unit_test(test_operator_commands_take_data_and_workspace_from_the_file),
        cmocka_unit_test(test_a_bad_file_is_refused_naming_file_and_line),
        cmocka_unit_test(test_a_missing_named_file_is_refused),
        cmocka_unit_test(test_a_missing_default_file_is_fine),
        cmocka_unit_test(test_help_names_the_config_file_and_the_precedence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
