/*
 * test_logs.c — what the server log may and may not hold: every event is one line (a request
 * path cannot inject a forged line), values from outside are escaped on the access line, and
 * values from request bodies (the Heap sync_task_id, cohort id, action type, user ids) are
 * never logged.
 */
#include "harness.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
                                "error auth: forged=1\\\"\\\\\\r\\t\\x01\" status=404 ms="));
    /* no line starts with the forged time stamp; every line is one event */
    assert_null(strstr(log, "\n1999-01-01T00:00:00.000Z"));
    assert_every_line_is_an_event(log);
    free(log);
    /* a plain path stays plain (the harness's own /healthz polls) */
    log = log_with(s, " method=GET path=/healthz status=200 ms=");
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
    char *line = strf("path=%s status=404", path);
    char *log = log_with(s, line);
    assert_every_line_is_an_event(log);
    free(log);
    free(line);
}

/* ---- Heap's webhook ---- */

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "ts:<ts>,hmac:<base64 HMAC-SHA256(secret, ts || body)>" */
static char *sign(const char *secret, long long ts, const char *body) {
    char *msg = strf("%lld%s", ts, body);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, strlen(msg), mac,
         &mac_len);
    free(msg);
    unsigned char b64[64];
    EVP_EncodeBlock(b64, mac, (int)mac_len);
    return strf("ts:%lld,hmac:%s", ts, b64);
}

static void deliver(struct server *s, const char *id, const char *secret, const char *body,
                    long status) {
    char *sig = sign(secret, now_ms(), body);
    char *h = strf("Heap-Hash: %s", sig);
    const char *headers[] = {h, NULL};
    char *path = strf("/heap/webhooks/%s", id);
    struct resp r;
    http_req(s, "POST", path, headers, body, &r);
    if (r.status != status)
        fail_msg("webhook answered %ld %s (want %ld)", r.status, r.body, status);
    resp_free(&r);
    free(sig);
    free(h);
    free(path);
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
    deliver(s, id, secret, body, 200); /* applied */
    deliver(s, id, secret, body, 200); /* duplicate */
    deliver(s, id, secret, "{\"action_type\":\"segment.zq81.drain\",\"data\":{}}", 200);
    char *log = log_with(s, "result=ignored");
    char *dup = strf("integration=%s result=duplicate", id);
    assert_non_null(strstr(log, dup));
    assert_null(strstr(log, "zq81"));
    assert_null(strstr(log, "918273645"));
    assert_every_line_is_an_event(log);
    free(dup);
    free(log);
    free(id);
    free(secret);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_path_cannot_forge_a_log_line, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_a_long_path_is_logged_whole, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_heap_sync_task_id_is_not_logged, server_setup,
                                        server_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
