/* test_dashboard_static.c — the dashboard's files: / redirects to /dashboard/, the files of
 * --web-dir are served with their Content-Type and Cache-Control: no-cache, and nothing outside
 * the web directory can be reached (.., %2e%2e, absolute paths, hidden files, symbolic links). */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOT_FOUND "{\"message\":\"no such file in the dashboard\"}"

struct fixture {
    struct server *s;
    char web[256];
    char *web_arg;
};

static void write_file(const char *dir, const char *rel, const char *text) {
    char *path = strf("%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(path);
}

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->web, sizeof f->web, "/tmp/cohortd-web-XXXXXX");
    assert_non_null(mkdtemp(f->web));
    char *css = strf("%s/css", f->web);
    assert_int_equal(mkdir(css, 0755), 0);
    free(css);
    write_file(f->web, "index.html", "<!doctype html><title>cohortd</title>");
    write_file(f->web, "app.js", "console.log(1);");
    write_file(f->web, "css/style.css", "body{margin:0}");
    write_file(f->web, "logo.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>");
    write_file(f->web, "data.bin", "x");
    write_file(f->web, ".secret", "hidden");
    /* a link out of the web directory, and a file beside it that must stay unreachable */
    char *outside = strf("%s-outside.txt", f->web);
    FILE *o = fopen(outside, "w");
    fputs("outside", o);
    fclose(o);
    char *link = strf("%s/escape.txt", f->web);
    assert_int_equal(symlink(outside, link), 0);
    free(link);
    free(outside);
    const char *args[] = {"--web-dir", f->web, NULL};
    f->s = server_new(args);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    server_cleanup(f->s);
    free(f->s);
    char *cmd = strf("rm -rf '%s' '%s-outside.txt'", f->web, f->web);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(f);
    return 0;
}

static void expect_file(struct server *s, const char *path, const char *type, const char *body) {
    struct resp r;
    http_req(s, "GET", path, NULL, NULL, &r);
    if (r.status != 200)
        fail_msg("GET %s answered %ld %s", path, r.status, r.body);
    assert_string_equal(r.body, body);
    char v[128];
    resp_header(&r, "Content-Type", v, sizeof v);
    assert_string_equal(v, type);
    resp_header(&r, "Cache-Control", v, sizeof v);
    assert_string_equal(v, "no-cache");
    resp_free(&r);
}

static void expect_not_found(struct server *s, const char *path) {
    struct resp r;
    http_req(s, "GET", path, NULL, NULL, &r);
    if (r.status != 404 || !strstr(r.body, "no such file in the dashboard"))
        fail_msg("GET %s answered %ld %s, not the dashboard's 404", path, r.status, r.body);
    assert_resp(&r, 404, NOT_FOUND);
    resp_free(&r);
}

static void test_root_and_bare_dashboard_redirect_to_the_dashboard(void **state) {
    struct fixture *f = *state;
    const char *paths[] = {"/", "/dashboard"};
    for (int i = 0; i < 2; i++) {
        struct resp r;
        http_req(f->s, "GET", paths[i], NULL, NULL, &r);
        assert_int_equal(r.status, 302);
        char v[128];
        resp_header(&r, "Location", v, sizeof v);
        assert_string_equal(v, "/dashboard/");
        resp_free(&r);
    }
}

static void test_files_are_served_with_their_type_and_no_cache(void **state) {
    struct fixture *f = *state;
    const char *html = "<!doctype html><title>cohortd</title>";
    expect_file(f->s, "/dashboard/", "text/html; charset=utf-8", html);
    expect_file(f->s, "/dashboard/index.html", "text/html; charset=utf-8", html);
    expect_file(f->s, "/dashboard/app.js", "text/javascript; charset=utf-8", "console.log(1);");
    expect_file(f->s, "/dashboard/css/style.css", "text/css; charset=utf-8", "body{margin:0}");
    expect_file(f->s, "/dashboard/logo.svg", "image/svg+xml",
                "<svg xmlns=\"http://www.w3.org/2000/svg\"/>");
    expect_file(f->s, "/dashboard/data.bin", "application/octet-stream", "x");
    /* a directory answers its index.html when it has one */
    expect_not_found(f->s, "/dashboard/css");
    expect_not_found(f->s, "/dashboard/missing.js");
}

static void test_paths_leaving_the_web_directory_are_not_found(void **state) {
    struct fixture *f = *state;
    char *abs = strf("/dashboard/%s/index.html", f->web);
    const char *paths[] = {
        "/dashboard/../cohortd.db",
        "/dashboard/%2e%2e/cohortd.db",
        "/dashboard/%2E%2E/%2E%2E/etc/passwd",
        "/dashboard/css/../../cohortd.db",
        "/dashboard/css/%2e%2e/index.html",
        "/dashboard/./index.html",
        "/dashboard//etc/passwd",
        "/dashboard/%2fetc%2fpasswd",
        abs,
        "/dashboard/..%5c..%5cetc%5cpasswd",
        "/dashboard/.secret",
        "/dashboard/escape.txt",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        expect_not_found(f->s, paths[i]);
    free(abs);
    /* the files themselves are still there */
    expect_file(f->s, "/dashboard/index.html", "text/html; charset=utf-8",
                "<!doctype html><title>cohortd</title>");
}

static void test_a_web_dir_that_is_not_a_directory_is_refused_at_start(void **state) {
    struct fixture *f = *state;
    const char *args[] = {"serve",     "--listen",         "127.0.0.1:1",
                          "--web-dir", "/nonexistent-web", NULL};
    char *err = NULL;
    assert_int_equal(run_cli_limited(f->s, args, 20, NULL, &err), 2);
    assert_non_null(strstr(err, "--web-dir /nonexistent-web is not a directory"));
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_and_bare_dashboard_redirect_to_the_dashboard),
        cmocka_unit_test(test_files_are_served_with_their_type_and_no_cache),
        cmocka_unit_test(test_paths_leaving_the_web_directory_are_not_found),
        cmocka_unit_test(test_a_web_dir_that_is_not_a_directory_is_refused_at_start),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
