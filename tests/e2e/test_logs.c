/*
 * test_logs.c — what the server log may and may not hold: every event is one line (a request
 * path cannot inject a forged line), values from outside are escaped on the access line, and
 * values from request bodies (the Heap sync_task_id, cohort id, action type, user ids) are
 * never logged. The access line carries the client, the query string with secret values
 * masked and the route; --log-format json (or COHORTD_LOG_FORMAT) gives one JSON object per
 * line; a failed webhook send logs curl's error text and names the campaign and user by their
 * API ids; the start line names the version and the listen address.
 */
#include "harness.h"
#include "sink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Polls the server log until it holds `needle` (a line is written after its answer may have
 * reached the client); returns the log (free it). */
static char *log_with(const struct server *s, const char *needle) {
    for (int i = 0; i < 400; i++) {
        char *log = server_log(s);
        if (strstr(log, needle))
            return log;
        free(log);
        sleep_ms(10);
    }
    char *log = server_log(s);
    fail_msg("the server log never showed %s; it holds:\n%s", needle, log);
    return NULL;
}

/* True when `line` starts like every log line: "YYYY-MM-DDTHH:MM:SS.mmmZ ". */
static bool starts_like_a_log_line(const char *line) {
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? (line[i] < '0' || line[i] > '9') : line[i] != shape[i])
            return false;
    }
    return true;
}

static void assert_every_line_is_an_event(const char *log) {
    for (const char *line = log; *line;) {
        const char *nl = strchr(line, '\n');
        if (!starts_like_a_log_line(line))
            fail_msg("a log line does not start with a time stamp: %.*s",
                     (int)(nl ? nl - line : (long)strlen(line)), line);
        if (!nl)
            break;
        line = nl + 1;
    }
}

static void test_request_path_cannot_forge_a_log_line(void **state) {
    struct server *s = *state;
    struct resp r;
    http_req(s, "GET", "/x%0A1999-01-01T00:00:00.000Z%20error%20auth:%20forged=1%22%5C%0D%09%01",
             NULL, NULL, &r);
    assert_resp(&r, 404, "{\"message\":\"Not Found\"}");
    resp_free(&r);
    char *log = log_with(s, "status=404");
    /* the path on the access line, whole, escaped and quoted */
    assert_non_null(strstr(log, " method=GET path=\"/x\\n1999-01-01T00:00:00.000Z "
                                "error auth: forged=1\\\"\\\\\\r\\t\\x01\" route=unmatched "
                                "status=404 ms="));
    /* no line starts with the forged time stamp; every line is one event */
    assert_null(strstr(log, "\n1999-01-01T00:00:00.000Z"));
    assert_every_line_is_an_event(log);
    free(log);
    /* a plain path stays plain (the harness's own /healthz polls) */
    log = log_with(s, " client=127.0.0.1 method=GET path=/healthz route=/healthz status=200 ms=");
    free(log);
}

static void test_a_long_path_is_logged_whole(void **state) {
    struct server *s = *state;
    char path[3001];
    path[0] = '/';
    for (int i = 1; i < 3000; i++)
        path[i] = (char)('a' + i % 26);
    path[3000] = '\0';
    struct resp r;
    http_req(s, "GET", path, NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    char *line = strf("path=%s route=unmatched status=404", path);
    char *log = log_with(s, line);
    assert_every_line_is_an_event(log);
    free(log);
    free(line);
}

static void test_heap_sync_task_id_is_not_logged(void **state) {
    struct server *s = *state;
    struct resp r;
    http_post_rest(s, "/integrations/heap/create", "{\"name\":\"Heap\"}", &r);
    assert_int_equal(r.status, 201);
    char *id = strdup(json_string_value(json_object_get(r.json, "integration_id")));
    char *secret = strdup(json_string_value(json_object_get(r.json, "webhook_secret")));
    resp_free(&r);
    const char *body =
        "{\"action_type\":\"segment.users.sync\",\"customer_config\":{\"fields\":[]},"
        "\"data\":{\"segment\":{\"id\":918273645,\"name\":\"Trial zq81\"},\"sync_info\":"
        "{\"page_number\":1,\"total_pages\":1,\"sync_task_id\":\"sync-zq81-task\"},"
        "\"add\":[{\"id\":\"user-zq81\"}]}}";
    heap_deliver(s, id, secret, body, 200); /* applied */
    heap_deliver(s, id, secret, body, 200); /* duplicate */
    heap_deliver(s, id, secret, "{\"action_type\":\"segment.zq81.drain\",\"data\":{}}", 200);
    char *log = log_with(s, "result=ignored");
    char *dup = strf("integration_id=%s result=duplicate", id);
    assert_non_null(strstr(log, dup));
    assert_null(strstr(log, "zq81"));
    assert_null(strstr(log, "918273645"));
    assert_every_line_is_an_event(log);
    free(dup);
    free(log);
    free(id);
    free(secret);
}

/* ---- the access line ---- */

static void test_access_line_has_the_query_string_with_secret_values_masked(void **state) {
    struct server *s = *state;
    char *path = strf("/segments/list?api_key=%s&page=0&note=a%%20b&token=zz-tok-77", s->rest_key);
    struct resp r;
    http_req(s, "GET", path, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    char *log = log_with(s, "route=/segments/list status=200");
    assert_non_null(strstr(log, " client=127.0.0.1 method=GET path=\"/segments/list?api_key=***&"
                                "page=0&note=a%20b&token=***\" route=/segments/list status=200 "
                                "ms="));
    assert_null(strstr(log, s->rest_key));
    assert_null(strstr(log, "zz-tok-77"));
    /* a route with a parameter: the pattern, and the path as sent */
    http_req(s, "POST", "/partners/nosuchpartner/cohorts", NULL, "{}", &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    free(log);
    log = log_with(s, "path=/partners/nosuchpartner/cohorts route=/partners/{partner}/cohorts "
                      "status=404 ms=");
    free(log);
    free(path);
}

/* ---- the json format ---- */

static int setup_json_by_env(void **state) {
    setenv("COHORTD_LOG_FORMAT", "json", 1);
    *state = server_new(NULL);
    unsetenv("COHORTD_LOG_FORMAT");
    return 0;
}

static void test_json_format_is_one_object_per_line_with_every_field(void **state) {
    struct server *s = *state;
    struct resp r;
    http_req(s, "GET", "/nope?api_key=k1&x=%0A1", NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    /* the start line comes after the listen (a request may be answered before it) */
    free(log_with(s, "\"listening\":"));
    char *log = log_with(s, "\"status\":404");
    json_t *access = NULL, *start = NULL;
    for (char *line = log; *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        json_error_t err;
        json_t *j = json_loadb(line, (size_t)(nl - line), 0, &err);
        if (!json_is_object(j))
            fail_msg("a log line is not a JSON object (%s): %.*s", err.text, (int)(nl - line),
                     line);
        assert_non_null(json_string_value(json_object_get(j, "time")));
        assert_non_null(json_string_value(json_object_get(j, "level")));
        const char *module = json_string_value(json_object_get(j, "module"));
        assert_non_null(module);
        if (strcmp(module, "http") == 0 &&
            json_integer_value(json_object_get(j, "status")) == 404 && !access)
            access = json_incref(j);
        if (strcmp(module, "serve") == 0 && json_object_get(j, "listening") && !start)
            start = json_incref(j);
        json_decref(j);
        line = nl + 1;
    }
    assert_non_null(access);
    assert_true(json_integer_value(json_object_get(access, "req")) > 0);
    assert_string_equal(json_string_value(json_object_get(access, "client")), "127.0.0.1");
    assert_string_equal(json_string_value(json_object_get(access, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(access, "path")),
                        "/nope?api_key=***&x=%0A1");
    assert_string_equal(json_string_value(json_object_get(access, "route")), "unmatched");
    assert_true(json_is_integer(json_object_get(access, "ms")));
    assert_string_equal(json_string_value(json_object_get(access, "level")), "info");
    /* the start line: version and address */
    assert_non_null(start);
    char *listening = strf("http://127.0.0.1:%d", s->port);
    assert_string_equal(json_string_value(json_object_get(start, "listening")), listening);
    char *out = NULL;
    const char *args[] = {"--version", NULL};
    assert_int_equal(run_cli_bare(args, &out, NULL), 0);
    char *want = strf("cohortd %s\n", json_string_value(json_object_get(start, "version")));
    assert_string_equal(out, want);
    free(want);
    free(out);
    free(listening);
    json_decref(start);
    json_decref(access);
    free(log);
}

/* ---- what the background workers log ---- */

/* A loopback port nobody listens on (bound, then closed). */
static int closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static int setup_one_attempt(void **state) {
    static const char *const args[] = {"--campaigns-poll-ms", "50", "--webhook-max-attempts", "1",
                                       NULL};
    *state = server_new(args);
    return 0;
}

static void test_a_failed_send_logs_curls_error_and_api_ids(void **state) {
    struct server *s = *state;
    struct resp r;
    http_post_rest(s, "/users/track",
                   "{\"attributes\":[{\"external_id\":\"send-u1\",\"plan\":\"x\"}]}", &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    http_post_rest(s, "/users/export/ids", "{\"external_ids\":[\"send-u1\"]}", &r);
    char *braze = strdup(json_string_value(
        json_object_get(json_array_get(json_object_get(r.json, "users"), 0), "braze_id")));
    resp_free(&r);
    http_post_rest(s, "/segments/create",
                   "{\"name\":\"x\",\"filter\":{\"attribute\":\"plan\",\"op\":\"equals\","
                   "\"value\":\"x\"}}",
                   &r);
    assert_int_equal(r.status, 201);
    char *segment = strdup(json_string_value(json_object_get(r.json, "segment_id")));
    resp_free(&r);
    int port = closed_port();
    char *body = strf("{\"name\":\"Closed\",\"segment_id\":\"%s\",\"schedule\":{\"type\":"
                      "\"immediate\"},\"message\":{\"webhook\":{\"url\":"
                      "\"http://127.0.0.1:%d/hook\"}}}",
                      segment, port);
    http_post_rest(s, "/campaigns/create", body, &r);
    assert_int_equal(r.status, 201);
    char *campaign = strdup(json_string_value(json_object_get(r.json, "campaign_id")));
    resp_free(&r);
    char *want = strf("campaign_id=%s braze_id=%s attempt=1 status=0 error=\"Failed to connect to "
                      "127.0.0.1 port %d",
                      campaign, braze, port);
    char *log = log_with(s, want);
    char *line = strstr(log, want);
    while (line > log && line[-1] != '\n') /* the whole line */
        line--;
    *strchr(line, '\n') = '\0';
    assert_non_null(strstr(line, "result=failed"));
    assert_non_null(strstr(line, "dispatch_id="));
    assert_null(strstr(line, "uid="));
    assert_null(strstr(log, "send-u1")); /* the external id is not logged */
    free(log);
    free(want);
    free(campaign);
    free(body);
    free(segment);
    free(braze);
}

static int setup_fast_currents(void **state) {
    static const char *const args[] = {"--currents-poll-ms", "50", NULL};
    *state = server_new(args);
    return 0;
}

static void test_a_failing_current_is_logged_by_its_current_id(void **state) {
    struct server *s = *state;
    char url[128], id[64];
    struct sink *k = sink_start(url, sizeof url);
    sink_answer(k, 503, 0);
    current_create(s, url, "[\"users.behaviors.CustomEvent\"]", 10, id);
    struct resp r;
    http_post_rest(s, "/users/track",
                   "{\"events\":[{\"external_id\":\"c-u1\",\"name\":\"e\",\"time\":"
                   "\"2024-05-02T08:15:00Z\"}]}",
                   &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    char *want = strf("current_id=%s events=1 result=retry error=\"HTTP 503\"", id);
    char *log = log_with(s, want);
    assert_null(strstr(log, "current=1 "));
    free(log);
    free(want);
    sink_stop(k);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_path_cannot_forge_a_log_line, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_a_long_path_is_logged_whole, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_heap_sync_task_id_is_not_logged, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(
            test_access_line_has_the_query_string_with_secret_values_masked, server_setup,
            server_teardown),
        cmocka_unit_test_setup_teardown(test_json_format_is_one_object_per_line_with_every_field,
                                        setup_json_by_env, server_teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_send_logs_curls_error_and_api_ids,
                                        setup_one_attempt, server_teardown),
        cmocka_unit_test_setup_teardown(test_a_failing_current_is_logged_by_its_current_id,
                                        setup_fast_currents, server_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
