/*
 * test_api_keys.c — REST API keys with permissions and rate limits (issue 16): what a key may
 * call (403 {"message":"Access Denied"} otherwise), the keys made without a list keeping every
 * permission, the per-key limit with Braze's X-RateLimit-* headers and 429, the CLI
 * (`api-key create --permissions --rate-limit`, `api-key list`), the dashboard's
 * /api_keys/create|list|revoke, and all of it across a restart.
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TRACK_BODY "{\"attributes\":[{\"external_id\":\"%s\"}]}"

/* Runs the CLI, asserts the exit code, returns stdout parsed as JSON (new ref) or NULL; the
 * standard error in *err when err is not NULL (free it). */
static json_t *cli_json(struct server *s, const char *const *args, int want_rc, char **err) {
    char *out = NULL, *e = NULL;
    int rc = run_cli(s, args, &out, &e);
    if (rc != want_rc)
        fail_msg("exit %d (want %d)\nstdout: %s\nstderr: %s\n", rc, want_rc, out, e);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    if (err)
        *err = e;
    else
        free(e);
    return j;
}

/* `api-key create --json` with more arguments (NULL-terminated, at most 6): the key into key
 * (64 bytes) and its id into id (32 bytes, or NULL). */
static void cli_key(struct server *s, const char *a1, const char *a2, const char *a3,
                    const char *a4, char *key, char *id) {
    const char *args[] = {"api-key", "create", "--json", a1, a2, a3, a4, NULL};
    json_t *j = cli_json(s, args, 0, NULL);
    const char *k = json_string_value(json_object_get(j, "rest_api_key"));
    const char *i = json_string_value(json_object_get(j, "id"));
    assert_non_null(k);
    assert_non_null(i);
    assert_int_equal(strlen(i), 16);
    snprintf(key, 64, "%s", k);
    if (id)
        snprintf(id, 32, "%s", i);
    json_decref(j);
}

/* A request with `key` as the bearer key (body NULL: a GET). */
static void with_key(const struct server *s, const char *key, const char *path, const char *body,
                     struct resp *r) {
    char *auth = strf("Authorization: Bearer %s", key);
    const char *h[] = {auth, NULL};
    http_req(s, body ? "POST" : "GET", path, h, body, r);
    free(auth);
}

/* Asserts the answer of `key` to path (body NULL: GET): status and exact body. */
static void key_expect(const struct server *s, const char *key, const char *path, const char *body,
                       long status, const char *expected) {
    struct resp r;
    with_key(s, key, path, body, &r);
    assert_resp(&r, status, expected);
    resp_free(&r);
}

/* The value of response header name (case-insensitive), owned; NULL when absent. */
static char *header_of(const struct resp *r, const char *name) {
    size_t n = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            return strndup(v, len - (size_t)(v - line));
        }
        line = end ? end + 2 : line + len;
    }
    return NULL;
}

static void assert_header(const struct resp *r, const char *name, const char *want) {
    char *v = header_of(r, name);
    if (!v || strcmp(v, want) != 0)
        fail_msg("header %s: '%s', want '%s'\nheaders:\n%s", name, v ? v : "(none)", want,
                 r->headers);
    free(v);
}

static char *track_body(const char *ext) {
    return strf(TRACK_BODY, ext);
}

static void
test_a_key_limited_to_users_track_is_denied_segments_list_and_allowed_users_track(void **state) {
    struct server *s = *state;
    char key[64];
    cli_key(s, "--permissions", "users.track", NULL, NULL, key, NULL);
    key_expect(s, key, "/segments/list", NULL, 403, "{\"message\":\"Access Denied\"}");
    char *body = track_body("tracked");
    key_expect(s, key, "/users/track", body, 201,
               "{\"message\":\"success\",\"attributes_processed\":1}");
    /* a denied write changes nothing */
    key_expect(s, key, "/users/delete", "{\"external_ids\":[\"tracked\"]}", 403,
               "{\"message\":\"Access Denied\"}");
    json_t *u = export_ext(s, "tracked", "[\"external_id\"]");
    assert_json_equal(u, "{\"external_id\":\"tracked\"}");
    json_decref(u);
    /* the dashboard's key endpoints need the api_keys permission */
    key_expect(s, key, "/api_keys/list", NULL, 403, "{\"message\":\"Access Denied\"}");
    key_expect(s, key, "/api_keys/create", "{}", 403, "{\"message\":\"Access Denied\"}");
    /* a key without permissions is still a key: a wrong one is 401, not 403 */
    key_expect(s, "not-a-key", "/segments/list", NULL, 401,
               "{\"message\":\"Unauthorized\",\"errors\":[\"invalid or revoked REST API key\"]}");
    free(body);
}

static void test_a_group_grant_allows_the_group_only(void **state) {
    struct server *s = *state;
    char key[64];
    cli_key(s, "--permissions", "users.*,segments.list", NULL, NULL, key, NULL);
    char *body = track_body("grouped");
    key_expect(s, key, "/users/track", body, 201,
               "{\"message\":\"success\",\"attributes_processed\":1}");
    key_expect(s, key, "/users/export/ids",
               "{\"external_ids\":[\"grouped\"],"
               "\"fields_to_export\":[\"external_id\"]}",
               200, "{\"message\":\"success\",\"users\":[{\"external_id\":\"grouped\"}]}");
    key_expect(s, key, "/segments/list", NULL, 200, "{\"message\":\"success\",\"segments\":[]}");
    key_expect(s, key, "/segments/details?segment_id=x", NULL, 403,
               "{\"message\":\"Access Denied\"}");
    key_expect(s, key, "/cohorts/list", NULL, 403, "{\"message\":\"Access Denied\"}");
    free(body);
}

static void test_keys_made_without_a_list_keep_every_permission(void **state) {
    struct server *s = *state;
    /* the key init made, and one made now without --permissions */
    char key[64], id[32];
    cli_key(s, "--name", "ops", NULL, NULL, key, id);
    const char *keys[] = {s->rest_key, key};
    for (int i = 0; i < 2; i++) {
        key_expect(s, keys[i], "/segments/list", NULL, 200,
                   "{\"message\":\"success\",\"segments\":[]}");
        key_expect(s, keys[i], "/cohorts/list", NULL, 200,
                   "{\"message\":\"success\",\"cohorts\":[]}");
        struct resp r;
        with_key(s, keys[i], "/api_keys/list", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_null(header_of(&r, "X-RateLimit-Limit")); /* no limit, no headers */
        resp_free(&r);
    }
    const char *list[] = {"api-key", "list", "--json", NULL};
    json_t *j = cli_json(s, list, 0, NULL);
    json_t *all = json_object_get(j, "api_keys");
    assert_int_equal(json_array_size(all), 2);
    assert_json_equal(json_object_get(json_array_get(all, 0), "permissions"), "[\"*\"]");
    json_t *mine = json_array_get(all, 1);
    char *want =
        strf("{\"id\":\"%s\",\"name\":\"ops\",\"permissions\":[\"*\"],\"rate_limit\":null}", id);
    assert_json_equal(mine, want);
    free(want);
    json_decref(j);
}

/* Waits (polling the clock) until at least margin_ms remain in the current window of period_s
 * seconds, so that a burst of requests falls in one window; returns the window's end (UNIX s). */
static long long window_end_with_margin(long long period_s, long long margin_ms) {
    for (;;) {
        long long now = wall_ms();
        long long end = (now / 1000 / period_s + 1) * period_s;
        if (end * 1000 - now >= margin_ms)
            return end;
        sleep_ms(50);
    }
}

static void test_a_limit_of_3_per_minute_answers_429_to_the_4th_with_headers(void **state) {
    struct server *s = *state;
    char key[64];
    cli_key(s, "--rate-limit", "3/minute", "--permissions", "users.track", key, NULL);
    long long reset = window_end_with_margin(60, 20000);
    char *reset_text = strf("%lld", reset);
    for (int i = 0; i < 3; i++) {
        char ext[16];
        snprintf(ext, sizeof ext, "limited%d", i);
        char *body = track_body(ext);
        struct resp r;
        with_key(s, key, "/users/track", body, &r);
        assert_resp(&r, 201, "{\"message\":\"success\",\"attributes_processed\":1}");
        char remaining[8];
        snprintf(remaining, sizeof remaining, "%d", 2 - i);
        assert_header(&r, "X-RateLimit-Limit", "3");
        assert_header(&r, "X-RateLimit-Remaining", remaining);
        assert_header(&r, "X-RateLimit-Reset", reset_text);
        resp_free(&r);
        free(body);
    }
    char *body = track_body("fourth");
    struct resp r;
    with_key(s, key, "/users/track", body, &r);
    assert_resp(&r, 429, "{\"message\":\"Rate Limited\"}");
    assert_header(&r, "X-RateLimit-Limit", "3");
    assert_header(&r, "X-RateLimit-Remaining", "0");
    assert_header(&r, "X-RateLimit-Reset", reset_text);
    char *retry = header_of(&r, "Retry-After");
    assert_non_null(retry);
    long wait = strtol(retry, NULL, 10);
    assert_true(wait >= 1 && wait <= 60);
    free(retry);
    resp_free(&r);
    /* the refused request changed nothing */
    json_t *u = export_ext(s, "fourth", "[\"external_id\"]");
    assert_null(u);
    /* a denied request of a limited key carries the headers too (and is refused for the limit
     * first: it was counted) */
    with_key(s, key, "/segments/list", NULL, &r);
    assert_resp(&r, 429, "{\"message\":\"Rate Limited\"}");
    assert_header(&r, "X-RateLimit-Remaining", "0");
    resp_free(&r);
    /* another key is not limited by this one's window */
    post_expect(s, "/users/track", body, 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
    free(body);
    free(reset_text);
}

static void test_a_limited_key_gets_the_headers_on_a_403(void **state) {
    struct server *s = *state;
    char key[64];
    cli_key(s, "--rate-limit", "100/hour", "--permissions", "users.track", key, NULL);
    long long reset = window_end_with_margin(3600, 20000);
    struct resp r;
    with_key(s, key, "/segments/list", NULL, &r);
    assert_resp(&r, 403, "{\"message\":\"Access Denied\"}");
    char *reset_text = strf("%lld", reset);
    assert_header(&r, "X-RateLimit-Limit", "100");
    assert_header(&r, "X-RateLimit-Remaining", "99");
    assert_header(&r, "X-RateLimit-Reset", reset_text);
    free(reset_text);
    resp_free(&r);
}

struct burst {
    const struct server *s;
    const char *key;
    atomic_int ok;
    atomic_int limited;
    atomic_int other;
};

static void *burst_thread(void *arg) {
    struct burst *b = arg;
    for (int i = 0; i < 10; i++) {
        struct resp r;
        with_key(b->s, b->key, "/segments/list", NULL, &r);
        if (r.status == 200)
            atomic_fetch_add(&b->ok, 1);
        else if (r.status == 429)
            atomic_fetch_add(&b->limited, 1);
        else
            atomic_fetch_add(&b->other, 1);
        resp_free(&r);
    }
    return NULL;
}

static void test_concurrent_requests_of_a_limited_key_get_exactly_the_limit(void **state) {
    struct server *s = *state;
    char key[64];
    cli_key(s, "--rate-limit", "25/hour", NULL, NULL, key, NULL);
    window_end_with_margin(3600, 60000);
    struct burst b = {.s = s, .key = key};
    pthread_t t[6];
    for (int i = 0; i < 6; i++)
        assert_int_equal(pthread_create(&t[i], NULL, burst_thread, &b), 0);
    for (int i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&b.ok), 25);
    assert_int_equal(atomic_load(&b.limited), 35);
    assert_int_equal(atomic_load(&b.other), 0);
}

static void test_permissions_and_limits_survive_a_restart(void **state) {
    struct server *s = *state;
    char key[64], id[32];
    cli_key(s, "--permissions", "users.track", "--rate-limit", "1000/day", key, id);
    server_stop(s);
    server_start(s);
    key_expect(s, key, "/segments/list", NULL, 403, "{\"message\":\"Access Denied\"}");
    char *body = track_body("restarted");
    struct resp r;
    with_key(s, key, "/users/track", body, &r);
    assert_resp(&r, 201, "{\"message\":\"success\",\"attributes_processed\":1}");
    assert_header(&r, "X-RateLimit-Limit", "1000");
    resp_free(&r);
    http_get_rest(s, "/api_keys/list", &r);
    assert_int_equal(r.status, 200);
    json_t *keys = json_object_get(r.json, "api_keys");
    assert_int_equal(json_array_size(keys), 2);
    json_t *k = json_deep_copy(json_array_get(keys, 1));
    assert_non_null(json_string_value(json_object_get(k, "created_at")));
    json_object_del(k, "created_at");
    char *want = strf("{\"id\":\"%s\",\"name\":\"\",\"permissions\":[\"users.track\"],"
                      "\"rate_limit\":\"1000/day\"}",
                      id);
    assert_json_equal(k, want);
    free(want);
    json_decref(k);
    resp_free(&r);
    free(body);
}

static void test_the_dashboard_creates_lists_and_revokes_keys(void **state) {
    struct server *s = *state;
    struct resp r;
    http_post_rest(s, "/api_keys/create",
                   "{\"name\":\"Segment sync\",\"permissions\":[\"segments.list\","
                   "\"segments.details\"],\"rate_limit\":\"10/minute\"}",
                   &r);
    assert_int_equal(r.status, 201);
    char key[64], id[32];
    snprintf(key, sizeof key, "%s", json_string_value(json_object_get(r.json, "rest_api_key")));
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r.json, "id")));
    assert_int_equal(strlen(key), 36);
    char *want = strf("{\"message\":\"success\",\"id\":\"%s\",\"name\":\"Segment sync\","
                      "\"rest_api_key\":\"%s\",\"permissions\":[\"segments.list\","
                      "\"segments.details\"],\"rate_limit\":\"10/minute\"}",
                      id, key);
    assert_resp(&r, 201, want);
    free(want);
    resp_free(&r);
    key_expect(s, key, "/segments/list", NULL, 200, "{\"message\":\"success\",\"segments\":[]}");
    key_expect(s, key, "/cohorts/list", NULL, 403, "{\"message\":\"Access Denied\"}");

    /* the list names keys by id, never the key */
    http_get_rest(s, "/api_keys/list", &r);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, key));
    assert_null(strstr(r.body, s->rest_key));
    json_t *list = json_deep_copy(r.json);
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(list, "api_keys"), i, k) {
        assert_non_null(json_string_value(json_object_get(k, "created_at")));
        json_object_del(k, "created_at");
        json_object_del(k, "id");
    }
    assert_json_equal(list, "{\"message\":\"success\",\"api_keys\":["
                            "{\"name\":\"\",\"permissions\":[\"*\"],\"rate_limit\":null},"
                            "{\"name\":\"Segment sync\",\"permissions\":[\"segments.list\","
                            "\"segments.details\"],\"rate_limit\":\"10/minute\"}]}");
    json_decref(list);
    resp_free(&r);

    char *revoke = strf("{\"id\":\"%s\"}", id);
    post_expect(s, "/api_keys/revoke", revoke, 201, "{\"message\":\"success\"}");
    key_expect(s, key, "/segments/list", NULL, 401,
               "{\"message\":\"Unauthorized\",\"errors\":[\"invalid or revoked REST API key\"]}");
    char *again = strf("{\"message\":\"no active REST API key of this workspace has the id "
                       "'%s'\"}",
                       id);
    post_expect(s, "/api_keys/revoke", revoke, 404, again);
    free(again);
    free(revoke);
    http_get_rest(s, "/api_keys/list", &r);
    assert_int_equal(json_array_size(json_object_get(r.json, "api_keys")), 1);
    resp_free(&r);
}

static void test_a_key_gives_only_permissions_it_has(void **state) {
    struct server *s = *state;
    char key[64];
    cli_key(s, "--permissions", "api_keys,users.track,segments.*", NULL, NULL, key, NULL);
    struct resp r;
    with_key(s, key, "/api_keys/create", "{\"permissions\":[\"users.track\",\"segments.list\"]}",
             &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    with_key(s, key, "/api_keys/create", "{\"permissions\":[\"segments.*\",\"api_keys\"]}", &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    key_expect(s, key, "/api_keys/create", "{\"permissions\":[\"users.track\",\"cohorts.list\"]}",
               403,
               "{\"message\":\"Access Denied\",\"errors\":[\"a key can only give permissions it "
               "has; this one lacks some of 'cohorts.list'\"]}");
    key_expect(s, key, "/api_keys/create", "{\"permissions\":[\"users.*\"]}", 403,
               "{\"message\":\"Access Denied\",\"errors\":[\"a key can only give permissions it "
               "has; this one lacks some of 'users.*'\"]}");
    key_expect(s, key, "/api_keys/create", "{\"name\":\"everything\"}", 403,
               "{\"message\":\"Access Denied\",\"errors\":[\"a key can only give permissions it "
               "has; this one lacks some of '*'\"]}");
    /* init's key and its two, nothing from the refused ones */
    assert_int_equal(sql_count(s, "SELECT count(*) FROM api_keys"), 4);
    /* nor does it take away a key that may do more: init's key has every permission */
    struct resp list;
    http_get_rest(s, "/api_keys/list", &list);
    const char *init_id = json_string_value(
        json_object_get(json_array_get(json_object_get(list.json, "api_keys"), 0), "id"));
    char *revoke = strf("{\"id\":\"%s\"}", init_id);
    key_expect(s, key, "/api_keys/revoke", revoke, 403,
               "{\"message\":\"Access Denied\",\"errors\":[\"a key can revoke only keys whose "
               "permissions it has; this one lacks some of '*'\"]}");
    post_expect(s, "/users/track", "{\"attributes\":[{\"external_id\":\"still\"}]}", 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
    /* a key it covers, it may revoke */
    const char *second_id = json_string_value(
        json_object_get(json_array_get(json_object_get(list.json, "api_keys"), 2), "id"));
    char *revoke2 = strf("{\"id\":\"%s\"}", second_id);
    key_expect(s, key, "/api_keys/revoke", revoke2, 201, "{\"message\":\"success\"}");
    free(revoke2);
    free(revoke);
    resp_free(&list);
}

static void test_bad_key_requests_are_refused_and_create_nothing(void **state) {
    struct server *s = *state;
    post_expect(s, "/api_keys/create", "{\"permissions\":[\"users.fly\"]}", 400,
                "{\"message\":\"unknown permission 'users.fly'\"}");
    post_expect(s, "/api_keys/create", "{\"permissions\":[\"users.track,segments.list\"]}", 400,
                "{\"message\":\"unknown permission 'users.track,segments.list'\"}");
    post_expect(s, "/api_keys/create", "{\"permissions\":[\"nothing.*\"]}", 400,
                "{\"message\":\"unknown permission 'nothing.*'\"}");
    post_expect(s, "/api_keys/create", "{\"permissions\":[]}", 400,
                "{\"message\":\"'permissions' must name at least one permission\"}");
    post_expect(s, "/api_keys/create", "{\"permissions\":\"users.track\"}", 400,
                "{\"message\":\"'permissions' must be an array of permission names\"}");
    post_expect(s, "/api_keys/create", "{\"permissions\":[7]}", 400,
                "{\"message\":\"'permissions' must be an array of permission names\"}");
    const char *rate_msg =
        "{\"message\":\"'rate_limit' must be \\\"N/second\\\", \\\"N/minute\\\", "
        "\\\"N/hour\\\" or \\\"N/day\\\" with N from 1 to 1000000000\"}";
    post_expect(s, "/api_keys/create", "{\"rate_limit\":\"3/fortnight\"}", 400, rate_msg);
    post_expect(s, "/api_keys/create", "{\"rate_limit\":\"0/minute\"}", 400, rate_msg);
    post_expect(s, "/api_keys/create", "{\"rate_limit\":3}", 400, rate_msg);
    post_expect(s, "/api_keys/create", "{\"name\":5}", 400,
                "{\"message\":\"'name' must be a string of at most 127 bytes\"}");
    post_expect(s, "/api_keys/create", "{\"name\":\"a\\u0001b\"}", 400,
                "{\"message\":\"'name' must not hold control characters\"}");
    post_expect(s, "/api_keys/revoke", "{}", 400,
                "{\"message\":\"'id' must be the id of a REST API key (GET /api_keys/list)\"}");
    assert_int_equal(sql_count(s, "SELECT count(*) FROM api_keys"), 1);

    char *err = NULL;
    const char *fly[] = {"api-key", "create", "--permissions", "users.fly", NULL};
    json_decref(cli_json(s, fly, 1, &err));
    assert_string_equal(err, "cohortd api-key: unknown permission 'users.fly' (see README, REST "
                             "API keys)\n");
    free(err);
    const char *rate[] = {"api-key", "create", "--rate-limit", "many", NULL};
    json_decref(cli_json(s, rate, 1, &err));
    assert_string_equal(err, "cohortd api-key: --rate-limit must be N/second, N/minute, N/hour or "
                             "N/day with N from 1 to 1000000000\n");
    free(err);
    const char *empty[] = {"api-key", "create", "--permissions", "users.track,", NULL};
    json_decref(cli_json(s, empty, 1, &err));
    assert_string_equal(err, "cohortd api-key: --permissions has an empty name\n");
    free(err);
    assert_int_equal(sql_count(s, "SELECT count(*) FROM api_keys"), 1);
}

static void test_cli_list_shows_permissions_and_limits(void **state) {
    struct server *s = *state;
    char key[64], id[32];
    cli_key(s, "--permissions", "users.track,segments.*", "--rate-limit", "3/minute", key, id);
    const char *list[] = {"api-key", "list", NULL};
    char *out = NULL;
    assert_int_equal(run_cli(s, list, &out, NULL), 0);
    char *line = strf("%s users.track,segments.* 3/minute \n", id);
    if (!strstr(out, line))
        fail_msg("no '%s' in:\n%s", line, out);
    free(line);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_a_key_limited_to_users_track_is_denied_segments_list_and_allowed_users_track,
            server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_a_group_grant_allows_the_group_only, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_keys_made_without_a_list_keep_every_permission,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_limit_of_3_per_minute_answers_429_to_the_4th_with_headers, server_setup,
            server_teardown),
        cmocka_unit_test_setup_teardown(test_a_limited_key_gets_the_headers_on_a_403, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(
            test_concurrent_requests_of_a_limited_key_get_exactly_the_limit, server_setup,
            server_teardown),
        cmocka_unit_test_setup_teardown(test_permissions_and_limits_survive_a_restart, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_the_dashboard_creates_lists_and_revokes_keys,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_a_key_gives_only_permissions_it_has, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_bad_key_requests_are_refused_and_create_nothing,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_cli_list_shows_permissions_and_limits, server_setup,
                                        server_teardown),
    };
    return cmocka_run_group_tests_name("api_keys", tests, NULL, NULL);
}
