/*
 * test_segment_export_stream.c — POST /users/export/segment/stream, byte for byte: each line is
 * exactly the compact JSON object (keys in the order braze_id, external_id, created_at,
 * custom_attributes) that jansson writes for the user, also for external_ids with quotes,
 * backslashes, control characters and multi-byte UTF-8; anonymous users have no external_id;
 * deleted users are left out; and a write that lands while a long export is being read shows in
 * the lines read after it (no line missing or repeated).
 */
#include "harness.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* external_ids as the request spells them (JSON text) and as they are (C bytes) */
static const struct {
    const char *json, *bytes;
} odd[] = {
    {"plain", "plain"},
    {"q\\\"uote", "q\"uote"},
    {"back\\\\slash", "back\\slash"},
    {"tab\\tnl\\ncr\\rbs\\bff\\f", "tab\tnl\ncr\rbs\bff\f"},
    {"ctl\\u0001\\u001f\\u007f", "ctl\x01\x1f\x7f"},
    {"caf\\u00e9 \\u20ac \\ud83d\\ude00", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
    {"sep\\u2028\\u2029", "sep\xe2\x80\xa8\xe2\x80\xa9"},
    {"sl/ash<\\/script>", "sl/ash</script>"},
};
#define N_ODD (sizeof odd / sizeof odd[0])

static int setup(void **state) {
    struct server *s = server_new(NULL);
    for (size_t i = 0; i < N_ODD; i++) {
        char *body = strf("{\"attributes\":[{\"external_id\":\"%s\",\"t\":\"x\",\"n\":%zu}]}",
                          odd[i].json, i);
        post_status(s, "/users/track", body, 201);
        free(body);
    }
    post_status(s, "/users/track",
                "{\"attributes\":[{\"user_alias\":{\"alias_name\":\"a1\",\"alias_label\":\"crm\"},"
                "\"_update_existing_only\":false,\"t\":\"x\",\"city\":\"Oslo\"},"
                "{\"external_id\":\"gone\",\"t\":\"x\"},{\"external_id\":\"other\",\"t\":\"y\"}]}",
                201);
    post_status(s, "/users/delete", "{\"external_ids\":[\"gone\"]}", 201);
    *state = s;
    return 0;
}

/* The export of one user by /users/export/ids (its braze_id, created_at, custom attributes). */
static json_t *export_one(struct server *s, const char *ids_body) {
    struct resp r;
    http_post_rest(s, "/users/export/ids", ids_body, &r);
    assert_int_equal(r.status, 200);
    json_t *u = json_incref(json_array_get(json_object_get(r.json, "users"), 0));
    assert_non_null(u);
    resp_free(&r);
    return u;
}

/* The line jansson writes for user u with the fields asked for (all four when `profile`). */
static void append_line(char **text, const json_t *u, const char *ext, bool profile) {
    json_t *o = json_object();
    json_object_set(o, "braze_id", json_object_get(u, "braze_id"));
    if (ext)
        json_object_set_new(o, "external_id", json_string(ext));
    if (profile) {
        json_object_set(o, "created_at", json_object_get(u, "created_at"));
        json_t *c = json_object_get(u, "custom_attributes");
        json_object_set_new(o, "custom_attributes", c ? json_incref(c) : json_object());
    }
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *t = strf("%s%s\n", *text, line);
    free(line);
    free(*text);
    json_decref(o);
    *text = t;
}

static char *segment(struct server *s, const char *value) {
    char *body = strf("{\"name\":\"t=%s\",\"filter\":{\"attribute\":\"t\",\"op\":\"equals\","
                      "\"value\":\"%s\"}}",
                      value, value);
    char *id = post_created(s, "/segments/create", body, "segment_id");
    free(body);
    return id;
}

/* The expected body: the odd users, then the alias-only one, in the order they were made. */
static char *expected(struct server *s, bool profile) {
    char *text = strf("%s", "");
    for (size_t i = 0; i < N_ODD; i++) {
        char *body = strf("{\"external_ids\":[\"%s\"]}", odd[i].json);
        json_t *u = export_one(s, body);
        append_line(&text, u, odd[i].bytes, profile);
        json_decref(u);
        free(body);
    }
    json_t *u =
        export_one(s, "{\"user_aliases\":[{\"alias_name\":\"a1\",\"alias_label\":\"crm\"}]}");
    append_line(&text, u, NULL, profile);
    json_decref(u);
    return text;
}

static void test_default_fields_are_the_bytes_jansson_writes(void **state) {
    struct server *s = *state;
    char *id = segment(s, "x");
    char *body = strf("{\"segment_id\":\"%s\"}", id);
    struct resp r;
    http_post_rest(s, "/users/export/segment/stream", body, &r);
    assert_int_equal(r.status, 200);
    char *want = expected(s, false);
    assert_string_equal(r.body, want);
    resp_free(&r);
    free(want);
    free(body);
    free(id);
}

static void test_all_fields_are_the_bytes_jansson_writes(void **state) {
    struct server *s = *state;
    char *id = segment(s, "x");
    char *body = strf("{\"segment_id\":\"%s\",\"fields_to_export\":[\"custom_attributes\","
                      "\"created_at\",\"external_id\",\"braze_id\"]}",
                      id);
    struct resp r;
    http_post_rest(s, "/users/export/segment/stream", body, &r);
    assert_int_equal(r.status, 200);
    char *want = expected(s, true);
    assert_string_equal(r.body, want);
    resp_free(&r);
    free(want);
    free(body);
    free(id);
}

/* ---- a write while a long export is read ---- */

#define N_BIG 30000

struct slow_read {
    struct server *s;
    char *data;
    size_t len;
    bool wrote;
};

/* On the first bytes (the server has made only the first chunks) the last user, anonymous so
 * far, is identified; the rest is read after. */
static size_t on_slow_data(char *p, size_t size, size_t n, void *ud) {
    struct slow_read *sr = ud;
    if (!sr->wrote) {
        sr->wrote = true;
        post_status(sr->s, "/users/identify",
                    "{\"aliases_to_identify\":[{\"external_id\":\"late\",\"user_alias\":"
                    "{\"alias_name\":\"last\",\"alias_label\":\"crm\"}}]}",
                    201);
    }
    sr->data = realloc(sr->data, sr->len + size * n + 1);
    memcpy(sr->data + sr->len, p, size * n);
    sr->len += size * n;
    sr->data[sr->len] = '\0';
    return size * n;
}

/* A small receive buffer, so that the server cannot write the whole export ahead. */
static int small_rcvbuf(void *ud, curl_socket_t fd, curlsocktype purpose) {
    (void)ud;
    (void)purpose;
    int size = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    return CURL_SOCKOPT_OK;
}

static void test_a_write_during_a_long_export_shows_in_later_lines(void **state) {
    struct server *s = *state;
    for (int i = 0; i < N_BIG; i += 75) {
        char *body = strf("%s", "{\"attributes\":[");
        for (int k = i; k < i + 75 && k < N_BIG; k++) {
            char *b =
                strf("%s%s{\"external_id\":\"big%d\",\"t\":\"big\"}", body, k == i ? "" : ",", k);
            free(body);
            body = b;
        }
        char *b = strf("%s]}", body);
        post_status(s, "/users/track", b, 201);
        free(b);
        free(body);
    }
    post_status(s, "/users/track",
                "{\"attributes\":[{\"user_alias\":{\"alias_name\":\"last\",\"alias_label\":"
                "\"crm\"},\"_update_existing_only\":false,\"t\":\"big\"}]}",
                201);
    char *id = segment(s, "big");
    char *body = strf("{\"segment_id\":\"%s\"}", id);
    char *url = strf("%s/users/export/segment/stream", s->base);
    char *auth = strf("Authorization: Bearer %s", s->rest_key);
    struct curl_slist *hl = curl_slist_append(NULL, auth);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    struct slow_read sr = {s, NULL, 0, false};
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 1024L);
    curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, small_rcvbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_slow_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sr);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 200);
    assert_true(sr.wrote);
    /* every user once, in order, and the last one with the external_id it got meanwhile */
    char *line = sr.data;
    for (int k = 0; k < N_BIG; k++) {
        char *end = strchr(line, '\n');
        assert_non_null(end);
        *end = '\0';
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        char want[32];
        snprintf(want, sizeof want, "big%d", k);
        assert_string_equal(json_string_value(json_object_get(j, "external_id")), want);
        json_decref(j);
        line = end + 1;
    }
    char *end = strchr(line, '\n');
    assert_non_null(end);
    *end = '\0';
    json_t *last = json_loads(line, 0, NULL);
    assert_non_null(last);
    assert_string_equal(json_string_value(json_object_get(last, "external_id")), "late");
    json_decref(last);
    assert_string_equal(end + 1, "");
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    free(sr.data);
    free(auth);
    free(url);
    free(body);
    free(id);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_fields_are_the_bytes_jansson_writes),
        cmocka_unit_test(test_all_fields_are_the_bytes_jansson_writes),
        cmocka_unit_test(test_a_write_during_a_long_export_shows_in_later_lines),
    };
    return cmocka_run_group_tests(tests, setup, server_teardown);
}
