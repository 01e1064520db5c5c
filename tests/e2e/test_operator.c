/*
 * test_operator.c — operator rules of the command line: a port in use is refused, one server
 * per data directory, --workspace takes an id or a name, --version, `workspace list`, and
 * `api-key revoke` taking the key from standard input or a file (never the command line), and
 * the server's worker threads named for `top -H` and `perf`.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

/* A `serve` that must be refused runs at most this long before the test fails. */
#define REFUSE_LIMIT_S 30

static int healthz_status(const struct server *s) {
    struct resp r;
    http_req(s, "GET", "/healthz", NULL, NULL, &r);
    int status = (int)r.status;
    resp_free(&r);
    return status;
}

/* Runs the CLI on s, asserts the exit code and an empty stderr, returns stdout (free it). */
static char *cli_out(const struct server *s, const char *const *args, int want_rc) {
    char *out = NULL, *err = NULL;
    int rc = run_cli(s, args, &out, &err);
    if (rc != want_rc) {
        print_error("exit %d (want %d)\nstdout: %s\nstderr: %s\n", rc, want_rc, out, err);
        fail();
    }
    free(err);
    return out;
}

/* Creates workspace `name` on s; copies its public id into id (64 bytes). */
static void create_workspace(const struct server *s, const char *name, char *id) {
    const char *args[] = {"workspace", "create", name, "--json", NULL};
    char *out = cli_out(s, args, 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_non_null(json_string_value(json_object_get(j, "workspace_id")));
    snprintf(id, 64, "%s", json_string_value(json_object_get(j, "workspace_id")));
    json_decref(j);
    free(out);
}

/* The data import key of partner heap in workspace ref (an id or a name). */
static char *import_key_of(const struct server *s, const char *ref) {
    const char *args[] = {"import-key", "show", "--partner", "heap", "--workspace", ref, NULL};
    return cli_out(s, args, 0);
}

static void test_port_in_use_is_refused(void **state) {
    struct server *s = *state;
    struct server other;
    server_init(&other);
    char *listen = strf("127.0.0.1:%d", s->port);
    const char *args[] = {"serve", "--listen", listen, NULL};
    char *err = NULL;
    int rc = run_cli_limited(&other, args, REFUSE_LIMIT_S, NULL, &err);
    char *want =
        strf("cohortd serve: 127.0.0.1:%d is in use (another process listens there)\n", s->port);
    if (rc != 1 || !strstr(err, want)) {
        print_error("exit %d (want 1)\nstderr: %s\n", rc, err);
        fail();
    }
    /* the first server still answers, every time (nothing shares its port) */
    for (int i = 0; i < 20; i++)
        assert_int_equal(healthz_status(s), 200);
    free(want);
    free(err);
    free(listen);
    server_cleanup(&other);
}

static void test_one_server_per_data_directory(void **state) {
    struct server *s = *state;
    const char *args[] = {"serve", "--listen", "127.0.0.1:0", NULL};
    char *err = NULL;
    int rc = run_cli_limited(s, args, REFUSE_LIMIT_S, NULL, &err);
    char *want = strf("cohortd serve: data directory %s is in use by another cohortd (pid %d)\n",
                      s->data, (int)s->pid);
    if (rc != 1 || !strstr(err, want)) {
        print_error("exit %d (want 1)\nwant: %sstderr: %s\n", rc, want, err);
        fail();
    }
    assert_int_equal(healthz_status(s), 200);
    free(want);
    free(err);
    /* the lock goes with the server: the directory serves again after a clean stop */
    server_stop(s);
    server_start(s);
    assert_int_equal(healthz_status(s), 200);
}

static void test_workspace_flag_takes_an_id_or_a_name(void **state) {
    struct server *s = *state;
    char second[64];
    create_workspace(s, "second", second);
    char *by_name = import_key_of(s, "second");
    char *by_id = import_key_of(s, second);
    char *first_by_name = import_key_of(s, "default");
    char *first_by_id = import_key_of(s, s->workspace_id);
    char *first_key = strf("data_import_key: %s\n", s->import_key);
    assert_string_equal(first_by_id, first_key);
    assert_string_equal(first_by_name, first_key);
    assert_string_equal(by_name, by_id);
    assert_int_equal(strlen(by_name), strlen("data_import_key: \n") + 36);
    assert_string_not_equal(by_name, first_key);
    free(by_name);
    free(by_id);
    free(first_by_name);
    free(first_by_id);
    free(first_key);

    const char *missing[] = {"import-key",  "show", "--partner", "heap",
                             "--workspace", "nope", NULL};
    char *err = NULL;
    assert_int_equal(run_cli(s, missing, NULL, &err), 1);
    assert_string_equal(err, "cohortd import-key: no workspace 'nope'\n");
    free(err);
}

static void test_version_prints_name_and_version(void **state) {
    (void)state;
    const char *flag[] = {"--version", NULL};
    const char *word[] = {"version", NULL};
    const char *const *both[] = {flag, word};
    for (int i = 0; i < 2; i++) {
        char *out = NULL, *err = NULL;
        assert_int_equal(run_cli_bare(both[i], &out, &err), 0);
        assert_string_equal(out, "cohortd 0.2.0\n");
        assert_string_equal(err, "");
        free(out);
        free(err);
    }
}

static void test_workspace_list_lists_every_workspace(void **state) {
    struct server *s = *state;
    char second[64];
    create_workspace(s, "second", second);
    const char *json_args[] = {"workspace", "list", "--json", NULL};
    char *out = cli_out(s, json_args, 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    char *want = strf("{\"workspaces\":[{\"workspace_id\":\"%s\",\"name\":\"default\"},"
                      "{\"workspace_id\":\"%s\",\"name\":\"second\"}]}",
                      s->workspace_id, second);
    assert_json_equal(j, want);
    json_decref(j);
    free(out);
    free(want);

    const char *text_args[] = {"workspace", "list", NULL};
    out = cli_out(s, text_args, 0);
    want = strf("%s default\n%s second\n", s->workspace_id, second);
    assert_string_equal(out, want);
    free(out);
    free(want);
}

static void test_workspace_option_says_id_or_name(void **state) {
    (void)state;
    static const char *const cmds[] = {"api-key", "import-key", "heap-integration"};
    for (int i = 0; i < 3; i++) {
        const char *args[] = {cmds[i], "--help", NULL};
        char *out = NULL;
        assert_int_equal(run_cli_bare(args, &out, NULL), 0);
        if (!strstr(out, "  --workspace ID|NAME      workspace ID or NAME (default: the first "
                         "workspace) [env COHORTD_WORKSPACE]\n")) {
            print_error("cohortd %s --help:\n%s\n", cmds[i], out);
            fail();
        }
        free(out);
    }
}

/* Runs `cohortd ARGS… --data DIR` with `input` on its standard input; returns the exit code,
 * stdout and stderr in *out / *err (free them). */
static int run_with_stdin(const struct server *s, const char *const *args, const char *input,
                          char **out, char **err) {
    char *in_path = strf("%s/stdin.txt", s->data);
    char *out_path = strf("%s/stdout.txt", s->data);
    char *err_path = strf("%s/stderr.txt", s->data);
    FILE *f = fopen(in_path, "w");
    assert_non_null(f);
    fputs(input, f);
    assert_int_equal(fclose(f), 0);
    pid_t pid = fork();
    if (pid == 0) {
        const char *argv[16];
        int n = 0;
        const char *bin = getenv("COHORTD_BIN");
        argv[n++] = bin ? bin : "build-test/cohortd";
        for (int i = 0; args[i] && n < 12; i++)
            argv[n++] = args[i];
        argv[n++] = "--data";
        argv[n++] = s->data;
        argv[n] = NULL;
        if (!freopen(in_path, "r", stdin) || !freopen(out_path, "w", stdout) ||
            !freopen(err_path, "w", stderr))
            _exit(126);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    const char *paths[] = {out_path, err_path};
    char **dst[] = {out, err};
    for (int i = 0; i < 2; i++) {
        f = fopen(paths[i], "r");
        assert_non_null(f);
        char buf[4096];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        assert_null(strstr(buf, "Sanitizer"));
        assert_null(strstr(buf, "runtime error:"));
        *dst[i] = strdup(buf);
    }
    free(in_path);
    free(out_path);
    free(err_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* A new REST API key of the first workspace (owned); asserts that it authenticates. */
static char *new_api_key(const struct server *s) {
    const char *args[] = {"api-key", "create", "--json", NULL};
    char *out = cli_out(s, args, 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(json_string_value(json_object_get(j, "rest_api_key")));
    char *key = strdup(json_string_value(json_object_get(j, "rest_api_key")));
    json_decref(j);
    free(out);
    return key;
}

/* The status /users/export/ids answers with `key` as the bearer key. */
static long status_with_key(const struct server *s, const char *key) {
    char *auth = strf("Authorization: Bearer %s", key);
    const char *h[] = {auth, NULL};
    struct resp r;
    http_req(s, "POST", "/users/export/ids", h, "{\"external_ids\":[\"x\"]}", &r);
    long status = r.status;
    if (status == 401)
        assert_resp(&r, 401,
                    "{\"message\":\"Unauthorized\",\"errors\":[\"invalid or revoked REST API "
                    "key\"]}");
    resp_free(&r);
    free(auth);
    return status;
}

static void test_api_key_revoke_reads_the_key_from_standard_input(void **state) {
    struct server *s = *state;
    /* "-" and no argument both read standard input; blanks around the key do not matter */
    const char *dash[] = {"api-key", "revoke", "-", NULL};
    const char *none[] = {"api-key", "revoke", "--json", NULL};
    const char *const *forms[] = {dash, none};
    const char *want_out[] = {"revoked\n", "{\"revoked\":true}\n"};
    for (int i = 0; i < 2; i++) {
        char *key = new_api_key(s);
        assert_int_equal(status_with_key(s, key), 200);
        char *input = strf("  %s \r\n", key);
        char *out = NULL, *err = NULL;
        assert_int_equal(run_with_stdin(s, forms[i], input, &out, &err), 0);
        assert_string_equal(out, want_out[i]);
        assert_string_equal(err, "");
        assert_int_equal(status_with_key(s, key), 401);
        /* the workspace's first key still works */
        assert_int_equal(status_with_key(s, s->rest_key), 200);
        free(out);
        free(err);
        free(input);
        free(key);
    }
}

static void test_api_key_revoke_reads_the_key_from_a_key_file(void **state) {
    struct server *s = *state;
    char *key = new_api_key(s);
    char *path = strf("%s/key.txt", s->data);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", key);
    assert_int_equal(fclose(f), 0);
    const char *args[] = {"api-key", "revoke", "--key-file", path, NULL};
    char *out = cli_out(s, args, 0);
    assert_string_equal(out, "revoked\n");
    assert_int_equal(status_with_key(s, key), 401);
    free(out);
    free(path);
    free(key);
}

static void test_api_key_revoke_still_takes_the_key_as_an_argument(void **state) {
    struct server *s = *state;
    char *key = new_api_key(s);
    const char *args[] = {"api-key", "revoke", key, NULL};
    char *out = cli_out(s, args, 0);
    assert_string_equal(out, "revoked\n");
    assert_int_equal(status_with_key(s, key), 401);
    free(out);
    /* a key revoked already matches nothing */
    char *err = NULL;
    assert_int_equal(run_cli(s, args, NULL, &err), 1);
    assert_string_equal(err, "cohortd api-key: no active REST API key matches\n");
    free(err);
    free(key);
}

static void test_api_key_revoke_without_a_key_is_refused(void **state) {
    struct server *s = *state;
    const char *args[] = {"api-key", "revoke", NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(run_with_stdin(s, args, "\n", &out, &err), 1);
    assert_string_equal(out, "");
    assert_string_equal(err, "cohortd api-key: no key in standard input\n");
    free(out);
    free(err);

    const char *missing[] = {"api-key", "revoke", "--key-file", "/nonexistent/key", NULL};
    assert_int_equal(run_cli(s, missing, NULL, &err), 1);
    assert_string_equal(err, "cohortd api-key: cannot read /nonexistent/key: No such file or "
                             "directory\n");
    free(err);

    const char *both[] = {"api-key", "revoke", "some-key", "--key-file", "/dev/null", NULL};
    assert_int_equal(run_cli(s, both, NULL, &err), 2);
    assert_string_equal(err, "cohortd api-key: give the key as an argument or with --key-file, "
                             "not both\n");
    free(err);
    /* nothing was revoked on the way */
    assert_int_equal(status_with_key(s, s->rest_key), 200);
}

/* Whether process pid has a thread named name (/proc/PID/task/TID/comm). */
static bool has_thread(pid_t pid, const char *name) {
    char *dir = strf("/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    assert_non_null(d);
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d));) {
        char *path = strf("%s/%s/comm", dir, e->d_name), comm[32] = "";
        FILE *f = fopen(path, "r");
        if (f && fgets(comm, sizeof comm, f))
            comm[strcspn(comm, "\n")] = '\0';
        if (f)
            fclose(f);
        found = strcmp(comm, name) == 0;
        free(path);
    }
    closedir(d);
    free(dir);
    return found;
}

static void test_worker_threads_are_named(void **state) {
    const struct server *s = *state;
    static const char *const names[] = {"cd-sender",  "cd-recorder", "cd-currents", "cd-exporter",
                                        "cd-sweeper", "cd-snapshot", "cd-history",  "cd-retention"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!has_thread(s->pid, names[i]))
            fail_msg("no thread named %s", names[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_port_in_use_is_refused, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_one_server_per_data_directory, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_workspace_flag_takes_an_id_or_a_name, server_setup,
                                        server_teardown),
        cmocka_unit_test(test_version_prints_name_and_version),
        cmocka_unit_test_setup_teardown(test_workspace_list_lists_every_workspace, server_setup,
                                        server_teardown),
        cmocka_unit_test(test_workspace_option_says_id_or_name),
        cmocka_unit_test_setup_teardown(test_api_key_revoke_reads_the_key_from_standard_input,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_api_key_revoke_reads_the_key_from_a_key_file,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_api_key_revoke_still_takes_the_key_as_an_argument,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_api_key_revoke_without_a_key_is_refused, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_worker_threads_are_named, server_setup,
                                        server_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
