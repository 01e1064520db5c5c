/*
 * test_users_limits.c — the users API at the edges of api/limits.h against the real server:
 * long identifiers travel whole (export, Currents, delete), a request over a limit is refused
 * whole (400 naming the field, nothing stored, no Currents event), and the Braze answers kept
 * for array attributes refuse oversized adds before any work.
 */
#include "harness.h"
#include "sink.h"

#include <stdlib.h>
#include <string.h>

/* --max-array-length 100: the array tests work at the largest cap (Braze's maximum) */
static const char *const fast[] = {"--max-array-length",
                                   "100",
                                   "--currents-poll-ms",
                                   "50",
                                   "--currents-retry-base-ms",
                                   "50",
                                   "--campaigns-poll-ms",
                                   "50",
                                   NULL};

static int setup(void **state) {
    *state = server_new(fast);
    return 0;
}

/* A string of exactly len bytes that starts with tag and ends in "-end" (free it). */
static char *long_text(const char *tag, size_t len) {
    char *s = malloc(len + 1);
    assert_non_null(s);
    memset(s, 'x', len);
    size_t t = strlen(tag);
    assert_true(t + 4 <= len);
    memcpy(s, tag, t);
    memcpy(s + len - 4, "-end", 4);
    s[len] = '\0';
    return s;
}

static char *braze_id_of(struct server *s, const char *ext) {
    json_t *u = export_ext(s, ext, "[\"braze_id\"]");
    assert_non_null(u);
    char *bid = strdup(json_string_value(json_object_get(u, "braze_id")));
    json_decref(u);
    return bid;
}

/* ---- long identifiers travel whole ---- */

static void test_long_external_id_reaches_currents_whole(void **state) {
    struct server *s = *state;
    char url[128];
    struct sink *k = sink_start(url, sizeof url);
    current_create(s, url,
                   "[\"users.behaviors.CustomEvent\",\"users.behaviors.Purchase\","
                   "\"users.behaviors.app.SessionStart\"]",
                   10, NULL);
    char *ext = long_text("cur-", 1500);
    char *body = strf("{\"events\":[{\"external_id\":\"%s\",\"name\":\"opened\",\"time\":"
                      "\"2024-05-02T08:15:00Z\"}],\"purchases\":[{\"external_id\":\"%s\","
                      "\"product_id\":\"p\",\"currency\":\"EUR\",\"price\":1,\"time\":"
                      "\"2024-05-02T08:15:00Z\"}]}",
                      ext, ext);
    post_expect(s, "/users/track", body, 201,
                "{\"message\":\"success\",\"events_processed\":1,\"purchases_processed\":1}");
    free(body);
    char *bid = braze_id_of(s, ext);
    body = strf("{\"device_id\":\"cur-dev\",\"external_id\":\"%s\",\"session_start\":true}", ext);
    char *want = strf("{\"message\":\"success\",\"braze_id\":\"%s\",\"identified\":true}", bid);
    post_expect(s, "/devices/track", body, 201, want);
    free(want);
    free(body);
    assert_int_equal(sink_wait_events(k, 3, 5000), 3);
    json_t *all = sink_accepted_events(k);
    char *user = strf("{\"user_id\":\"%s\",\"external_user_id\":\"%s\"}", bid, ext);
    char *user_dev = strf("{\"user_id\":\"%s\",\"external_user_id\":\"%s\",\"device_id\":"
                          "\"cur-dev\"}",
                          bid, ext);
    assert_json_equal(json_object_get(json_array_get(all, 0), "user"), user);
    assert_json_equal(json_object_get(json_array_get(all, 1), "user"), user);
    assert_json_equal(json_object_get(json_array_get(all, 2), "user"), user_dev);
    free(user);
    free(user_dev);
    json_decref(all);
    sink_stop(k);
    free(bid);
    free(ext);
}

static void test_long_external_id_reaches_webhook_templates_whole(void **state) {
    struct server *s = *state;
    char url[128];
    struct sink *k = sink_start(url, sizeof url);
    char *ext = long_text("hook-", 1500);
    char *body = strf("{\"attributes\":[{\"external_id\":\"%s\",\"plan\":\"hooked\"}]}", ext);
    post_expect(s, "/users/track", body, 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
    free(body);
    struct resp r;
    http_post_rest(s, "/segments/create",
                   "{\"name\":\"hooked\",\"filter\":{\"attribute\":\"plan\",\"op\":\"equals\","
                   "\"value\":\"hooked\"}}",
                   &r);
    assert_int_equal(r.status, 201);
    char *segment = strdup(json_string_value(json_object_get(r.json, "segment_id")));
    resp_free(&r);
    body = strf("{\"name\":\"long\",\"segment_id\":\"%s\",\"schedule\":{\"type\":"
                "\"api_triggered\"},\"message\":{\"webhook\":{\"url\":\"%s\",\"body\":"
                "\"id={{${external_id}}}\"}}}",
                segment, url);
    http_post_rest(s, "/campaigns/create", body, &r);
    assert_int_equal(r.status, 201);
    char *campaign = strdup(json_string_value(json_object_get(r.json, "campaign_id")));
    resp_free(&r);
    free(body);
    body = strf("{\"campaign_id\":\"%s\",\"broadcast\":true}", campaign);
    http_post_rest(s, "/campaigns/trigger/send", body, &r);
    if (r.status != 201)
        fail_msg("trigger: %ld %s", r.status, r.body);
    resp_free(&r);
    free(body);
    assert_int_equal(sink_wait_requests(k, 1, 10000), 1);
    char *want = strf("id=%s", ext);
    assert_string_equal(sink_get(k, 0)->raw, want);
    free(want);
    sink_stop(k);
    free(campaign);
    free(segment);
    free(ext);
}

static void test_deleting_user_with_long_external_id_frees_it(void **state) {
    struct server *s = *state;
    char *ext = long_text("del-", 1500);
    char *body = strf("{\"attributes\":[{\"external_id\":\"%s\",\"plan\":\"pro\"}]}", ext);
    post_expect(s, "/users/track", body, 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
    char *old = braze_id_of(s, ext);
    char *del = strf("{\"external_ids\":[\"%s\"]}", ext);
    post_expect(s, "/users/delete", del, 201, "{\"deleted\":1,\"message\":\"success\"}");
    /* the id is unknown now: export lists it as invalid, delete and identify find nobody */
    char *exp = strf("{\"external_ids\":[\"%s\"]}", ext);
    char *want = strf("{\"message\":\"success\",\"users\":[],\"invalid_user_ids\":[\"%s\"]}", ext);
    post_expect(s, "/users/export/ids", exp, 200, want);
    post_expect(s, "/users/delete", del, 201, "{\"deleted\":0,\"message\":\"success\"}");
    char *alias = strf("{\"user_aliases\":[{\"external_id\":\"%s\",\"alias_name\":\"d\","
                       "\"alias_label\":\"crm\"}]}",
                       ext);
    post_expect(s, "/users/alias/new", alias, 201,
                "{\"aliases_processed\":0,\"message\":\"success\",\"errors\":[{\"type\":\"no user "
                "has this external_id\",\"input_array\":\"user_aliases\",\"index\":0}]}");
    /* a new track creates a new user: new braze_id, none of the old attributes */
    post_expect(s, "/users/track", body, 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
    json_t *u = export_ext(s, ext, "[\"external_id\",\"braze_id\",\"custom_attributes\"]");
    assert_non_null(u);
    assert_string_equal(json_string_value(json_object_get(u, "external_id")), ext);
    assert_string_not_equal(json_string_value(json_object_get(u, "braze_id")), old);
    assert_json_equal(json_object_get(u, "custom_attributes"), "{\"plan\":\"pro\"}");
    json_decref(u);
    /* the same after a restart (the identity index is rebuilt from the store) */
    char *now = braze_id_of(s, ext);
    server_stop(s);
    server_start(s);
    char *again = braze_id_of(s, ext);
    assert_string_equal(again, now);
    free(again);
    free(now);
    free(alias);
    free(want);
    free(exp);
    free(del);
    free(old);
    free(body);
    free(ext);
}

/* ---- identifiers over their limit ---- */

static void test_external_id_over_limit_is_refused_whole(void **state) {
    struct server *s = *state;
    long outbox = sql_count(s, "SELECT count(*) FROM outbox"),
         users = sql_count(s, "SELECT count(*) FROM users");
    char *at_limit = long_text("lim-", 2048);
    char *over = long_text("over-", 2049);
    char *body = strf("{\"attributes\":[{\"external_id\":\"ok-1\",\"a\":1},{\"external_id\":"
                      "\"%s\",\"a\":2},{\"external_id\":\"%s\",\"a\":3}],\"events\":["
                      "{\"external_id\":\"ok-1\",\"name\":\"e\",\"time\":\"2024-01-01\"}]}",
                      at_limit, over);
    post_expect(s, "/users/track", body, 400,
                "{\"message\":\"attributes[2].external_id is longer than 2048 bytes\"}");
    free(body);
    assert_null(export_ext(s, "ok-1", "[\"external_id\"]"));
    assert_null(export_ext(s, at_limit, "[\"external_id\"]"));
    assert_int_equal(sql_count(s, "SELECT count(*) FROM outbox"), outbox);
    assert_int_equal(sql_count(s, "SELECT count(*) FROM users"), users);
    /* in an event, with the attributes valid */
    body = strf("{\"attributes\":[{\"external_id\":\"ok-1\"}],\"events\":[{\"external_id\":"
                "\"%s\",\"name\":\"e\",\"time\":\"2024-01-01\"}]}",
                over);
    post_expect(s, "/users/track", body, 400,
                "{\"message\":\"events[0].external_id is longer than 2048 bytes\"}");
    free(body);
    assert_null(export_ext(s, "ok-1", "[\"external_id\"]"));
    /* at the limit it is stored whole */
    body = strf("{\"attributes\":[{\"external_id\":\"%s\",\"a\":2}]}", at_limit);
    post_expect(s, "/users/track", body, 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
    free(body);
    json_t *u = export_ext(s, at_limit, "[\"external_id\"]");
    assert_non_null(u);
    assert_string_equal(json_string_value(json_object_get(u, "external_id")), at_limit);
    json_decref(u);
    /* the other surfaces */
    body = strf("{\"user_aliases\":[{\"alias_name\":\"a\",\"alias_label\":\"b\"},{\"external_id\":"
                "\"%s\",\"alias_name\":\"a2\",\"alias_label\":\"b\"}]}",
                over);
    post_expect(s, "/users/alias/new", body, 400,
                "{\"message\":\"user_aliases[1].external_id is longer than 2048 bytes\"}");
    free(body);
    body = strf("{\"external_ids\":[\"%s\",\"%s\"]}", at_limit, over);
    post_expect(s, "/users/delete", body, 400,
                "{\"message\":\"external_ids[1] is longer than 2048 bytes\"}");
    post_expect(s, "/users/export/ids", body, 400,
                "{\"message\":\"external_ids[1] is longer than 2048 bytes\"}");
    free(body);
    body = strf("{\"aliases_to_identify\":[{\"external_id\":\"%s\",\"user_alias\":{\"alias_name\":"
                "\"a\",\"alias_label\":\"b\"}}]}",
                over);
    post_expect(s, "/users/identify", body, 400,
                "{\"message\":\"aliases_to_identify[0].external_id is longer than 2048 bytes\"}");
    free(body);
    body = strf("{\"device_id\":\"dv\",\"external_id\":\"%s\"}", over);
    post_expect(s, "/devices/track", body, 400,
                "{\"message\":\"external_id is longer than 2048 bytes\"}");
    free(body);
    u = export_ext(s, at_limit, "[\"external_id\"]");
    assert_non_null(u); /* the delete above deleted nothing */
    json_decref(u);
    assert_int_equal(sql_count(s, "SELECT count(*) FROM users"), users + 1);
    free(over);
    free(at_limit);
}

static void test_alias_and_device_ids_over_limit_are_refused_whole(void **state) {
    struct server *s = *state;
    long users = sql_count(s, "SELECT count(*) FROM users");
    char *label = long_text("lab-", 2049);
    char *body = strf("{\"attributes\":[{\"user_alias\":{\"alias_name\":\"n\",\"alias_label\":"
                      "\"%s\"},\"_update_existing_only\":false}]}",
                      label);
    post_expect(s, "/users/track", body, 400,
                "{\"message\":\"attributes[0].user_alias.alias_label is longer than 2048 "
                "bytes\"}");
    free(body);
    body = strf("{\"user_aliases\":[{\"alias_name\":\"%s\",\"alias_label\":\"crm\"}]}", label);
    post_expect(s, "/users/alias/new", body, 400,
                "{\"message\":\"user_aliases[0].alias_name is longer than 2048 bytes\"}");
    free(body);
    body = strf("{\"device_id\":\"%s\"}", label);
    post_expect(s, "/devices/track", body, 400,
                "{\"message\":\"device_id is longer than 2048 bytes\"}");
    free(body);
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"braze_id\":\"0000000000000000000000000\",\"x\":1}]}", 400,
                "{\"message\":\"attributes[0].braze_id is longer than 24 bytes\"}");
    assert_int_equal(sql_count(s, "SELECT count(*) FROM users"), users);
    free(label);
}

/* ---- names, values, arrays, properties ---- */

static void test_attribute_and_event_names_over_limit_are_refused_whole(void **state) {
    struct server *s = *state;
    char *name = long_text("n-", 256);
    char *ok = long_text("n-", 255);
    char *body = strf("{\"attributes\":[{\"external_id\":\"nm-1\",\"%s\":1},{\"external_id\":"
                      "\"nm-1\",\"%s\":1}]}",
                      ok, name);
    post_expect(s, "/users/track", body, 400,
                "{\"message\":\"attributes[1] attribute name is longer than 255 bytes\"}");
    free(body);
    assert_null(export_ext(s, "nm-1", "[\"external_id\"]"));
    long outbox = sql_count(s, "SELECT count(*) FROM outbox");
    body = strf("{\"attributes\":[{\"external_id\":\"nm-1\"}],\"events\":[{\"external_id\":"
                "\"nm-1\",\"name\":\"%s\",\"time\":\"2024-01-01\"},{\"external_id\":\"nm-1\","
                "\"name\":\"%s\",\"time\":\"2024-01-01\"}]}",
                ok, name);
    post_expect(s, "/users/track", body, 400,
                "{\"message\":\"events[1].name is longer than 255 bytes\"}");
    free(body);
    assert_null(export_ext(s, "nm-1", "[\"external_id\"]"));
    assert_int_equal(sql_count(s, "SELECT count(*) FROM outbox"), outbox);
    /* at the limit both are taken */
    body = strf("{\"attributes\":[{\"external_id\":\"nm-1\",\"%s\":1}],\"events\":[{"
                "\"external_id\":\"nm-1\",\"name\":\"%s\",\"time\":\"2024-01-01\"}]}",
                ok, ok);
    post_expect(s, "/users/track", body, 201,
                "{\"message\":\"success\",\"attributes_processed\":1,\"events_processed\":1}");
    free(body);
    free(ok);
    free(name);
}

static void test_string_values_over_limit_are_refused_whole(void **state) {
    struct server *s = *state;
    char *big = long_text("v-", 65537);
    char *body = strf("{\"attributes\":[{\"external_id\":\"val-1\",\"bio\":\"short\"},"
                      "{\"external_id\":\"val-2\",\"bio\":\"%s\"}]}",
                      big);
    post_expect(s, "/users/track", body, 400,
                "{\"message\":\"attributes[1].bio is longer than 65536 bytes\"}");
    free(body);
    /* inside an array value, and inside an add */
    body = strf("{\"attributes\":[{\"external_id\":\"val-1\",\"tags\":[\"a\",\"%s\"]}]}", big);
    post_expect(s, "/users/track", body, 400,
                "{\"message\":\"attributes[0].tags is longer than 65536 bytes\"}");
    free(body);
    body = strf("{\"attributes\":[{\"external_id\":\"val-1\",\"tags\":{\"add\":[\"%s\"]}}]}", big);
    post_expect(s, "/users/track", body, 400,
                "{\"message\":\"attributes[0].tags is longer than 65536 bytes\"}");
    free(body);
    assert_null(export_ext(s, "val-1", "[\"external_id\"]"));
    assert_null(export_ext(s, "val-2", "[\"external_id\"]"));
    /* exactly at the limit the value is stored whole */
    big[65536] = '\0';
    body = strf("{\"attributes\":[{\"external_id\":\"val-1\",\"bio\":\"%s\"}]}", big);
    post_expect(s, "/users/track", body, 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
    free(body);
    json_t *u = export_ext(s, "val-1", "[\"custom_attributes\"]");
    assert_int_equal(
        json_string_length(json_object_get(json_object_get(u, "custom_attributes"), "bio")), 65536);
    json_decref(u);
    free(big);
}

/* An {"add": [...]} of n distinct values for attribute "tags" of user ext. */
static char *add_body(const char *ext, int n) {
    size_t cap = (size_t)n * 16 + 128, len = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    len += (size_t)snprintf(b, cap, "{\"attributes\":[{\"external_id\":\"%s\",\"tags\":{\"add\":[",
                            ext);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(b + len, cap - len, "%s\"t%d\"", i ? "," : "", i);
    snprintf(b + len, cap - len, "]}},{\"external_id\":\"arr-other\",\"k\":1}]}");
    return b;
}

static void test_array_add_over_limit_is_refused_before_work(void **state) {
    struct server *s = *state;
    long users = sql_count(s, "SELECT count(*) FROM users");
    /* 40,000 values: Braze's answer for the object, at once; the user is not even created */
    char *body = add_body("arr-1", 40000);
    post_expect(s, "/users/track", body, 201,
                "{\"message\":\"success\",\"attributes_processed\":1,\"errors\":[{\"type\":"
                "\"array attributes hold at most 100 values\",\"input_array\":\"attributes\","
                "\"index\":0}]}");
    free(body);
    assert_null(export_ext(s, "arr-1", "[\"external_id\"]"));
    assert_int_equal(sql_count(s, "SELECT count(*) FROM users"), users + 1); /* arr-other only */
    body = add_body("arr-1", 101);
    post_expect(s, "/users/track", body, 201,
                "{\"message\":\"success\",\"attributes_processed\":1,\"errors\":[{\"type\":"
                "\"array attributes hold at most 100 values\",\"input_array\":\"attributes\","
                "\"index\":0}]}");
    free(body);
    assert_null(export_ext(s, "arr-1", "[\"external_id\"]"));
    /* 100 values fit; one more distinct value is cut off (Braze truncates an array at its
     * maximum), a value already there changes nothing */
    body = add_body("arr-1", 100);
    post_expect(s, "/users/track", body, 201,
                "{\"message\":\"success\",\"attributes_processed\":2}");
    free(body);
    post_expect(
        s, "/users/track",
        "{\"attributes\":[{\"external_id\":\"arr-1\",\"tags\":{\"add\":[\"t5\",\"new\"]}}]}", 201,
        "{\"message\":\"success\",\"attributes_processed\":1}");
    json_t *full = export_ext(s, "arr-1", "[\"custom_attributes\"]");
    const json_t *ft = json_object_get(json_object_get(full, "custom_attributes"), "tags");
    assert_int_equal(json_array_size(ft), 100);
    assert_string_equal(json_string_value(json_array_get(ft, 99)), "t99");
    json_decref(full);
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"arr-1\",\"tags\":{\"add\":[\"t5\",\"new\"],"
                "\"remove\":[\"t0\",\"t1\"]}}]}",
                201, "{\"message\":\"success\",\"attributes_processed\":1}");
    json_t *u = export_ext(s, "arr-1", "[\"custom_attributes\"]");
    const json_t *tags = json_object_get(json_object_get(u, "custom_attributes"), "tags");
    assert_int_equal(json_array_size(tags), 99);
    assert_string_equal(json_string_value(json_array_get(tags, 0)), "t2");
    assert_string_equal(json_string_value(json_array_get(tags, 98)), "new");
    json_decref(u);
    /* a plain array value of 101 keeps the same answer */
    char *arr = malloc(101 * 8 + 128);
    size_t len = (size_t)snprintf(arr, 64, "{\"attributes\":[{\"external_id\":\"arr-2\",\"l\":[");
    for (int i = 0; i < 101; i++)
        len += (size_t)snprintf(arr + len, 8, "%s%d", i ? "," : "", i);
    snprintf(arr + len, 8, "]}]}");
    post_expect(s, "/users/track", arr, 201,
                "{\"message\":\"success\",\"attributes_processed\":0,\"errors\":[{\"type\":"
                "\"array attributes hold at most 100 values\",\"input_array\":\"attributes\","
                "\"index\":0}]}");
    free(arr);
}

static void test_properties_over_limit_are_refused_whole(void **state) {
    struct server *s = *state;
    long outbox = sql_count(s, "SELECT count(*) FROM outbox");
    /* {"p":"xxx…"} serialises to 51201 bytes: the value plus 8 bytes of syntax */
    char *v = long_text("p-", 51201 - 8);
    char *body = strf("{\"events\":[{\"external_id\":\"pr-1\",\"name\":\"e\",\"time\":"
                      "\"2024-01-01\",\"properties\":{\"p\":\"%s\"}}]}",
                      v);
    post_expect(s, "/users/track", body, 400,
                "{\"message\":\"events[0].properties is longer than 51200 bytes\"}");
    free(body);
    body = strf("{\"events\":[{\"external_id\":\"pr-1\",\"name\":\"e\",\"time\":\"2024-01-01\"}],"
                "\"purchases\":[{\"external_id\":\"pr-1\",\"product_id\":\"p\",\"currency\":"
                "\"EUR\",\"price\":1,\"time\":\"2024-01-01\",\"properties\":{\"p\":\"%s\"}}]}",
                v);
    post_expect(s, "/users/track", body, 400,
                "{\"message\":\"purchases[0].properties is longer than 51200 bytes\"}");
    free(body);
    assert_null(export_ext(s, "pr-1", "[\"external_id\"]"));
    assert_int_equal(sql_count(s, "SELECT count(*) FROM outbox"), outbox);
    /* 51200 bytes are taken */
    v[51200 - 8] = '\0';
    body = strf("{\"events\":[{\"external_id\":\"pr-1\",\"name\":\"e\",\"time\":"
                "\"2024-01-01\",\"properties\":{\"p\":\"%s\"}}]}",
                v);
    post_expect(s, "/users/track", body, 201, "{\"message\":\"success\",\"events_processed\":1}");
    free(body);
    assert_int_equal(sql_count(s, "SELECT count(*) FROM outbox"), outbox + 1);
    free(v);
}

/* inc stays inside the attribute's number type: past int64 or to an infinity the object is a
 * minor error (none of it applied, the stored value unchanged) and the rest of the request is. */
static void test_inc_past_int64_or_to_infinity_is_refused_per_object(void **state) {
    struct server *s = *state;
    const char *stored = "{\"custom_attributes\":{\"n\":9223372036854775807,"
                         "\"m\":-9223372036854775808,\"f\":1.7e308,\"plan\":\"trial\"}}";
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"inc-1\",\"n\":9223372036854775807,"
                "\"m\":-9223372036854775808,\"f\":1.7e308,\"plan\":\"trial\"}]}",
                201, "{\"message\":\"success\",\"attributes_processed\":1}");
    const char *refused =
        "{\"message\":\"success\",\"attributes_processed\":1,\"errors\":[{\"type\":"
        "\"'inc' would take the attribute out of the range of its number type\",\"input_array\":"
        "\"attributes\",\"index\":0}]}";
    /* integer past INT64_MAX, with another attribute in the same object */
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"inc-1\",\"n\":{\"inc\":1},\"plan\":"
                "\"pro\"},{\"external_id\":\"inc-2\",\"k\":1}]}",
                201, refused);
    /* integer below INT64_MIN */
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"inc-1\",\"m\":{\"inc\":-1}},"
                "{\"external_id\":\"inc-2\",\"k\":2}]}",
                201, refused);
    /* float to +infinity */
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"inc-1\",\"f\":{\"inc\":1.7e308}},"
                "{\"external_id\":\"inc-2\",\"k\":3}]}",
                201, refused);
    json_t *u = export_ext(s, "inc-1", "[\"custom_attributes\"]");
    assert_json_equal(u, stored);
    json_decref(u);
    u = export_ext(s, "inc-2", "[\"custom_attributes\"]");
    assert_json_equal(u, "{\"custom_attributes\":{\"k\":3}}");
    json_decref(u);
    /* up to the edges inc still applies */
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"inc-1\",\"n\":{\"inc\":-1},"
                "\"m\":{\"inc\":1},\"f\":{\"inc\":-1.7e308}}]}",
                201, "{\"message\":\"success\",\"attributes_processed\":1}");
    u = export_ext(s, "inc-1", "[\"custom_attributes\"]");
    assert_json_equal(u, "{\"custom_attributes\":{\"n\":9223372036854775806,"
                         "\"m\":-9223372036854775807,\"f\":0.0,\"plan\":\"trial\"}}");
    json_decref(u);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_external_id_reaches_currents_whole),
        cmocka_unit_test(test_long_external_id_reaches_webhook_templates_whole),
        cmocka_unit_test(test_deleting_user_with_long_external_id_frees_it),
        cmocka_unit_test(test_external_id_over_limit_is_refused_whole),
        cmocka_unit_test(test_alias_and_device_ids_over_limit_are_refused_whole),
        cmocka_unit_test(test_attribute_and_event_names_over_limit_are_refused_whole),
        cmocka_unit_test(test_string_values_over_limit_are_refused_whole),
        cmocka_unit_test(test_array_add_over_limit_is_refused_before_work),
        cmocka_unit_test(test_properties_over_limit_are_refused_whole),
        cmocka_unit_test(test_inc_past_int64_or_to_infinity_is_refused_per_object),
    };
    return cmocka_run_group_tests(tests, setup, server_teardown);
}
