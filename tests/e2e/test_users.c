/*
 * test_users.c — the Braze-compatible users API against the real server: /users/track
 * (attributes, events, purchases, minor and fatal errors), /users/alias/new, /users/identify,
 * /users/delete, /users/export/ids, /devices/track, and durability across restarts.
 */
#include "harness.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *braze_id_of(struct server *s, const char *ext, char *buf) {
    json_t *u = export_ext(s, ext, "[\"braze_id\"]");
    assert_non_null(u);
    snprintf(buf, 32, "%s", json_string_value(json_object_get(u, "braze_id")));
    json_decref(u);
    return buf;
}

/* Rows in the outbox table of the server's SQLite file. */
static long outbox_rows(struct server *s, const char *event_type) {
    char *path = strf("%s/cohortd.db", s->data);
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT count(*) FROM outbox WHERE event_type = ?", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_text(st, 1, event_type, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(path);
    return n;
}

static void test_track_creates_user_with_profile_and_custom_attributes(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"ann\",\"first_name\":\"Ann\","
                "\"plan\":\"trial\",\"score\":3,\"vip\":false,\"tags\":[\"a\",\"b\"]}]}",
                201, "{\"message\":\"success\",\"attributes_processed\":1}");
    json_t *u = export_ext(s, "ann", "[\"external_id\",\"first_name\",\"custom_attributes\"]");
    assert_json_equal(u, "{\"external_id\":\"ann\",\"first_name\":\"Ann\",\"custom_attributes\":"
                         "{\"plan\":\"trial\",\"score\":3,\"vip\":false,\"tags\":[\"a\",\"b\"]}}");
    json_decref(u);
}

static void test_attribute_operations_inc_add_remove_and_null_delete(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"ops\",\"n\":1,\"list\":[\"x\"],\"gone\":1}]}",
                201, "{\"message\":\"success\",\"attributes_processed\":1}");
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"ops\",\"n\":{\"inc\":4},"
                "\"list\":{\"add\":[\"y\",\"x\"],\"remove\":[\"x\"]},\"gone\":null}]}",
                201, "{\"message\":\"success\",\"attributes_processed\":1}");
    json_t *u = export_ext(s, "ops", "[\"custom_attributes\"]");
    assert_json_equal(u, "{\"custom_attributes\":{\"n\":5,\"list\":[\"y\"]}}");
    json_decref(u);
}

static void test_update_existing_only_does_not_create_users(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"ghost\",\"_update_existing_only\":true,"
                "\"x\":1}]}",
                201,
                "{\"message\":\"success\",\"attributes_processed\":0,\"errors\":[{\"type\":\"no "
                "user matches this identifier and none may be created\",\"input_array\":"
                "\"attributes\",\"index\":0}]}");
    json_t *u = export_ext(s, "ghost", "[\"external_id\"]");
    assert_null(u);
}

static void test_alias_creates_user_only_with_explicit_update_existing_only_false(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"user_alias\":{\"alias_name\":\"a1\",\"alias_label\":"
                "\"email\"},\"x\":1},{\"user_alias\":{\"alias_name\":\"a2\",\"alias_label\":"
                "\"email\"},\"_update_existing_only\":false,\"x\":2}]}",
                201,
                "{\"message\":\"success\",\"attributes_processed\":1,\"errors\":[{\"type\":\"no "
                "user matches this identifier and none may be created\",\"input_array\":"
                "\"attributes\",\"index\":0}]}");
    struct resp r;
    http_post_rest(s, "/users/export/ids",
                   "{\"user_aliases\":[{\"alias_name\":\"a1\",\"alias_label\":\"email\"},"
                   "{\"alias_name\":\"a2\",\"alias_label\":\"email\"}],\"fields_to_export\":"
                   "[\"user_aliases\",\"custom_attributes\"]}",
                   &r);
    assert_resp(&r, 200,
                "{\"message\":\"success\",\"users\":[{\"user_aliases\":[{\"alias_name\":\"a2\","
                "\"alias_label\":\"email\"}],\"custom_attributes\":{\"x\":2}}]}");
    resp_free(&r);
}

static void test_braze_id_identifies_an_existing_user(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track", "{\"attributes\":[{\"external_id\":\"bz\"}]}", 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
    char bid[32];
    braze_id_of(s, "bz", bid);
    assert_int_equal(strlen(bid), 24);
    char *body = strf("{\"attributes\":[{\"braze_id\":\"%s\",\"color\":\"red\"}]}", bid);
    post_expect(s, "/users/track", body, 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
    free(body);
    json_t *u = export_ext(s, "bz", "[\"custom_attributes\"]");
    assert_json_equal(u, "{\"custom_attributes\":{\"color\":\"red\"}}");
    json_decref(u);
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"braze_id\":\"000000000000000000000000\",\"c\":1}]}", 201,
                "{\"message\":\"success\",\"attributes_processed\":0,\"errors\":[{\"type\":\"no "
                "user matches this identifier and none may be created\",\"input_array\":"
                "\"attributes\",\"index\":0}]}");
}

static void test_object_without_identifier_is_a_minor_error_and_others_apply(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"first_name\":\"Nobody\"},{\"external_id\":\"minor-ok\"}]}",
                201,
                "{\"message\":\"success\",\"attributes_processed\":1,\"errors\":[{\"type\":"
                "\"'external_id' or 'braze_id' or 'user_alias' or 'email' or 'phone' is required\","
                "\"input_array\":"
                "\"attributes\",\"index\":0}]}");
    json_t *u = export_ext(s, "minor-ok", "[\"external_id\"]");
    assert_json_equal(u, "{\"external_id\":\"minor-ok\"}");
    json_decref(u);
}

/* Braze's custom attribute keys are non-empty strings: an attribute named "" makes its object a
 * minor error (nothing of it applied, its user not created) and the rest of the request applies. */
static void test_attribute_named_empty_is_a_minor_error_and_others_apply(void **state) {
    struct server *s = *state;
    const char *refused =
        "{\"message\":\"success\",\"attributes_processed\":1,\"errors\":[{\"type\":"
        "\"custom attribute names must be non-empty strings\",\"input_array\":\"attributes\","
        "\"index\":0}]}";
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"empty-1\",\"\":1,\"plan\":\"pro\"},"
                "{\"external_id\":\"empty-2\",\"plan\":\"basic\"}]}",
                201, refused);
    assert_null(export_ext(s, "empty-1", "[\"external_id\"]"));
    json_t *u = export_ext(s, "empty-2", "[\"custom_attributes\"]");
    assert_json_equal(u, "{\"custom_attributes\":{\"plan\":\"basic\"}}");
    json_decref(u);
    /* on an existing user, whatever the operation: the stored attributes stay */
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"empty-2\",\"plan\":\"pro\",\"\":null},"
                "{\"external_id\":\"empty-3\",\"plan\":\"basic\"}]}",
                201, refused);
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"empty-2\",\"\":{\"inc\":1}},"
                "{\"external_id\":\"empty-3\",\"plan\":\"gold\"}]}",
                201, refused);
    u = export_ext(s, "empty-2", "[\"custom_attributes\"]");
    assert_json_equal(u, "{\"custom_attributes\":{\"plan\":\"basic\"}}");
    json_decref(u);
    u = export_ext(s, "empty-3", "[\"custom_attributes\"]");
    assert_json_equal(u, "{\"custom_attributes\":{\"plan\":\"gold\"}}");
    json_decref(u);
}

static void test_more_than_75_objects_is_fatal_and_stores_nothing(void **state) {
    struct server *s = *state;
    char *body = malloc(76 * 40 + 64);
    size_t len = (size_t)snprintf(body, 64, "{\"attributes\":[");
    for (int i = 0; i < 76; i++)
        len += (size_t)snprintf(body + len, 40, "%s{\"external_id\":\"many%d\"}", i ? "," : "", i);
    snprintf(body + len, 8, "]}");
    post_expect(s, "/users/track", body, 400, "{\"message\":\"Max Input Length Exceeded\"}");
    free(body);
    assert_null(export_ext(s, "many0", "[\"external_id\"]"));
}

static void test_wrong_types_are_fatal_400(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track", "{\"attributes\":{\"external_id\":\"x\"}}", 400,
                "{\"message\":\"'attributes' must be an array\"}");
    post_expect(s, "/users/delete", "{\"external_ids\":\"x\"}", 400,
                "{\"message\":\"'external_ids' must be an array\"}");
    post_expect(s, "/users/alias/new", "{}", 400,
                "{\"message\":\"'user_aliases' must be an array\"}");
}

static void test_events_and_purchases_are_summarised_per_user(void **state) {
    struct server *s = *state;
    long before_ev = outbox_rows(s, "users.behaviors.CustomEvent");
    long before_pu = outbox_rows(s, "users.behaviors.Purchase");
    post_expect(
        s, "/users/track",
        "{\"events\":[{\"external_id\":\"buyer\",\"name\":\"viewed\","
        "\"time\":\"2024-05-02T08:15:00Z\",\"properties\":{\"p\":1}},"
        "{\"external_id\":\"buyer\",\"name\":\"viewed\",\"time\":\"2024-05-03T10:00:00+02:00\"}],"
        "\"purchases\":[{\"external_id\":\"buyer\",\"product_id\":\"pro\",\"currency\":"
        "\"EUR\",\"price\":9.5,\"quantity\":3,\"time\":\"2024-05-02T08:16:00.5Z\"}]}",
        201, "{\"message\":\"success\",\"events_processed\":2,\"purchases_processed\":1}");
    json_t *u = export_ext(s, "buyer", "[\"custom_events\",\"purchases\"]");
    assert_json_equal(u, "{\"custom_events\":[{\"name\":\"viewed\",\"first\":"
                         "\"2024-05-02T08:15:00.000Z\",\"last\":\"2024-05-03T08:00:00.000Z\","
                         "\"count\":2}],\"purchases\":[{\"name\":\"pro\",\"first\":"
                         "\"2024-05-02T08:16:00.500Z\",\"last\":\"2024-05-02T08:16:00.500Z\","
                         "\"count\":3}]}");
    json_decref(u);
    /* each event, and each unit of a purchase, is one Currents event in the outbox */
    assert_int_equal(outbox_rows(s, "users.behaviors.CustomEvent") - before_ev, 2);
    assert_int_equal(outbox_rows(s, "users.behaviors.Purchase") - before_pu, 3);
}

static void test_invalid_events_and_purchases_are_minor_errors(void **state) {
    struct server *s = *state;
    post_expect(
        s, "/users/track",
        "{\"events\":[{\"external_id\":\"e1\",\"name\":\"x\",\"time\":\"yesterday\"},"
        "{\"external_id\":\"e1\",\"name\":\"x\",\"time\":\"2024-01-01\",\"properties\":"
        "{\"time\":1}}],\"purchases\":[{\"external_id\":\"e1\",\"product_id\":\"p\","
        "\"currency\":\"euro\",\"price\":1,\"time\":\"2024-01-01\"},{\"external_id\":\"e1\","
        "\"product_id\":\"p\",\"currency\":\"EUR\",\"price\":1,\"quantity\":101,"
        "\"time\":\"2024-01-01\"}]}",
        201,
        "{\"message\":\"success\",\"events_processed\":0,\"purchases_processed\":0,\"errors\":["
        "{\"type\":\"'time' must be an ISO-8601 time\",\"input_array\":\"events\",\"index\":0},"
        "{\"type\":\"'time' and 'event_name' are reserved property names\",\"input_array\":"
        "\"events\",\"index\":1},{\"type\":\"'currency' must be an ISO-4217 alphabetic code\","
        "\"input_array\":\"purchases\",\"index\":0},{\"type\":\"'quantity' must be an integer "
        "from 1 to 100\",\"input_array\":\"purchases\",\"index\":1}]}");
    assert_null(export_ext(s, "e1", "[\"external_id\"]"));
}

static void test_alias_new_attaches_to_identified_user_or_creates_alias_only_user(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track", "{\"attributes\":[{\"external_id\":\"al\"}]}", 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
    post_expect(s, "/users/alias/new",
                "{\"user_aliases\":[{\"external_id\":\"al\",\"alias_name\":\"al@x\","
                "\"alias_label\":\"email\"},{\"alias_name\":\"anon-1\",\"alias_label\":\"crm\"},"
                "{\"external_id\":\"nobody\",\"alias_name\":\"n\",\"alias_label\":\"crm\"}]}",
                201,
                "{\"aliases_processed\":2,\"message\":\"success\",\"errors\":[{\"type\":\"no user "
                "has this external_id\",\"input_array\":\"user_aliases\",\"index\":2}]}");
    json_t *u = export_ext(s, "al", "[\"user_aliases\"]");
    assert_json_equal(u, "{\"user_aliases\":[{\"alias_name\":\"al@x\",\"alias_label\":"
                         "\"email\"}]}");
    json_decref(u);
    struct resp r;
    http_post_rest(s, "/users/export/ids",
                   "{\"user_aliases\":[{\"alias_name\":\"anon-1\",\"alias_label\":\"crm\"}],"
                   "\"fields_to_export\":[\"external_id\",\"user_aliases\"]}",
                   &r);
    assert_resp(&r, 200,
                "{\"message\":\"success\",\"users\":[{\"user_aliases\":[{\"alias_name\":\"anon-1\","
                "\"alias_label\":\"crm\"}]}]}");
    resp_free(&r);
}

static void test_identify_gives_alias_only_user_the_external_id(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/alias/new",
                "{\"user_aliases\":[{\"alias_name\":\"lead-7\",\"alias_label\":\"crm\"}]}", 201,
                "{\"aliases_processed\":1,\"message\":\"success\"}");
    post_expect(s, "/users/identify",
                "{\"aliases_to_identify\":[{\"external_id\":\"lead7\",\"user_alias\":"
                "{\"alias_name\":\"lead-7\",\"alias_label\":\"crm\"}}]}",
                201, "{\"aliases_processed\":1,\"message\":\"success\"}");
    json_t *u = export_ext(s, "lead7", "[\"external_id\",\"user_aliases\"]");
    assert_json_equal(u, "{\"external_id\":\"lead7\",\"user_aliases\":[{\"alias_name\":"
                         "\"lead-7\",\"alias_label\":\"crm\"}]}");
    json_decref(u);
}

static void test_identify_merges_alias_profile_into_existing_user(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"main\",\"plan\":\"pro\"},"
                "{\"user_alias\":{\"alias_name\":\"m-anon\",\"alias_label\":\"web\"},"
                "\"_update_existing_only\":false,\"plan\":\"free\",\"city\":\"Oslo\"}],"
                "\"events\":[{\"external_id\":\"main\",\"name\":\"open\",\"time\":\"2024-01-02\"},"
                "{\"user_alias\":{\"alias_name\":\"m-anon\",\"alias_label\":\"web\"},"
                "\"name\":\"open\",\"time\":\"2024-01-01\"}]}",
                201, "{\"message\":\"success\",\"attributes_processed\":2,\"events_processed\":2}");
    post_expect(s, "/users/identify",
                "{\"aliases_to_identify\":[{\"external_id\":\"main\",\"user_alias\":"
                "{\"alias_name\":\"m-anon\",\"alias_label\":\"web\"}}],\"merge_behavior\":"
                "\"merge\"}",
                201, "{\"aliases_processed\":1,\"message\":\"success\"}");
    json_t *u = export_ext(s, "main", "[\"custom_attributes\",\"custom_events\",\"user_aliases\"]");
    assert_json_equal(u, "{\"custom_attributes\":{\"plan\":\"pro\",\"city\":\"Oslo\"},"
                         "\"custom_events\":[{\"name\":\"open\",\"first\":"
                         "\"2024-01-01T00:00:00.000Z\",\"last\":\"2024-01-02T00:00:00.000Z\","
                         "\"count\":2}],\"user_aliases\":[{\"alias_name\":\"m-anon\","
                         "\"alias_label\":\"web\"}]}");
    json_decref(u);
}

static void test_identify_does_not_merge_when_label_taken(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"taken\"},{\"user_alias\":{\"alias_name\":"
                "\"t2\",\"alias_label\":\"web\"},\"_update_existing_only\":false}]}",
                201, "{\"message\":\"success\",\"attributes_processed\":2}");
    post_expect(s, "/users/alias/new",
                "{\"user_aliases\":[{\"external_id\":\"taken\",\"alias_name\":\"t1\","
                "\"alias_label\":\"web\"}]}",
                201, "{\"aliases_processed\":1,\"message\":\"success\"}");
    post_expect(s, "/users/identify",
                "{\"aliases_to_identify\":[{\"external_id\":\"taken\",\"user_alias\":"
                "{\"alias_name\":\"t2\",\"alias_label\":\"web\"}}]}",
                201,
                "{\"aliases_processed\":0,\"message\":\"success\",\"errors\":[{\"type\":\"the "
                "identified user already has an alias with this label; not merged\","
                "\"input_array\":\"aliases_to_identify\",\"index\":0}]}");
}

static void test_delete_removes_user_and_external_id_can_be_reused(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"del1\",\"x\":1},{\"external_id\":\"del2\"}]}",
                201, "{\"message\":\"success\",\"attributes_processed\":2}");
    char old[32], bid[32];
    braze_id_of(s, "del1", old);
    braze_id_of(s, "del2", bid);
    char *body = strf("{\"external_ids\":[\"del1\",\"unknown\"],\"braze_ids\":[\"%s\"]}", bid);
    post_expect(s, "/users/delete", body, 201, "{\"deleted\":2,\"message\":\"success\"}");
    free(body);
    assert_null(export_ext(s, "del1", "[\"external_id\"]"));
    assert_null(export_ext(s, "del2", "[\"external_id\"]"));
    post_expect(s, "/users/track", "{\"attributes\":[{\"external_id\":\"del1\"}]}", 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
    json_t *u = export_ext(s, "del1", "[\"custom_attributes\",\"braze_id\"]");
    assert_non_null(u);
    assert_null(json_object_get(u, "custom_attributes"));
    assert_string_not_equal(json_string_value(json_object_get(u, "braze_id")), old);
    json_decref(u);
}

static void test_delete_over_50_ids_is_rejected_whole(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track", "{\"attributes\":[{\"external_id\":\"keep50\"}]}", 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
    char *body = malloc(51 * 20 + 64);
    size_t len = (size_t)snprintf(body, 64, "{\"external_ids\":[\"keep50\"");
    for (int i = 0; i < 50; i++)
        len += (size_t)snprintf(body + len, 20, ",\"x%d\"", i);
    snprintf(body + len, 8, "]}");
    post_expect(s, "/users/delete", body, 400,
                "{\"message\":\"The max number of ids per request was exceeded\"}");
    free(body);
    json_t *u = export_ext(s, "keep50", "[\"external_id\"]");
    assert_non_null(u);
    json_decref(u);
}

static void test_export_rejects_unknown_fields_and_more_than_50_ids(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/export/ids",
                "{\"external_ids\":[\"a\"],\"fields_to_export\":[\"shoe_size\"]}", 400,
                "{\"message\":\"unknown field in 'fields_to_export': shoe_size\"}");
    char *body = malloc(51 * 20 + 64);
    size_t len = (size_t)snprintf(body, 64, "{\"external_ids\":[\"x\"");
    for (int i = 0; i < 50; i++)
        len += (size_t)snprintf(body + len, 20, ",\"x%d\"", i);
    snprintf(body + len, 8, "]}");
    post_expect(s, "/users/export/ids", body, 400,
                "{\"message\":\"The max number of external_ids and aliases per request was "
                "exceeded\"}");
    free(body);
}

static void test_unknown_device_creates_anonymous_user_and_external_id_identifies_it(void **state) {
    struct server *s = *state;
    struct resp r;
    http_post_rest(s, "/devices/track", "{\"device_id\":\"dev-a\",\"platform\":\"ios\"}", &r);
    assert_int_equal(r.status, 201);
    assert_json_equal(json_object_get(r.json, "identified"), "false");
    char bid[32];
    snprintf(bid, sizeof bid, "%s", json_string_value(json_object_get(r.json, "braze_id")));
    resp_free(&r);
    http_post_rest(s, "/devices/track", "{\"device_id\":\"dev-a\",\"external_id\":\"dana\"}", &r);
    char *want = strf("{\"message\":\"success\",\"braze_id\":\"%s\",\"identified\":true}", bid);
    assert_resp(&r, 201, want);
    free(want);
    resp_free(&r);
    json_t *u = export_ext(s, "dana", "[\"braze_id\",\"devices\"]");
    char *exp = strf("{\"braze_id\":\"%s\",\"devices\":[{\"device_id\":\"dev-a\"}]}", bid);
    assert_json_equal(u, exp);
    free(exp);
    json_decref(u);
}

static void test_device_moves_to_existing_user_of_the_external_id(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track", "{\"attributes\":[{\"external_id\":\"erin\"}]}", 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
    char bid[32];
    braze_id_of(s, "erin", bid);
    struct resp r;
    http_post_rest(s, "/devices/track", "{\"device_id\":\"dev-e\"}", &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    http_post_rest(s, "/devices/track", "{\"device_id\":\"dev-e\",\"external_id\":\"erin\"}", &r);
    char *want = strf("{\"message\":\"success\",\"braze_id\":\"%s\",\"identified\":true}", bid);
    assert_resp(&r, 201, want);
    free(want);
    resp_free(&r);
    http_post_rest(s, "/users/export/ids",
                   "{\"device_id\":\"dev-e\",\"fields_to_export\":"
                   "[\"external_id\"]}",
                   &r);
    assert_resp(&r, 200, "{\"message\":\"success\",\"users\":[{\"external_id\":\"erin\"}]}");
    resp_free(&r);
}

static void test_device_track_validates_input(void **state) {
    struct server *s = *state;
    post_expect(s, "/devices/track", "{\"device_id\":7}", 400,
                "{\"message\":\"'device_id' must be a non-empty string\"}");
    post_expect(s, "/devices/track", "{\"device_id\":\"d\",\"session_start\":\"yes\"}", 400,
                "{\"message\":\"'session_start' must be a boolean\"}");
}

static void test_session_start_writes_one_currents_event(void **state) {
    struct server *s = *state;
    long before = outbox_rows(s, "users.behaviors.app.SessionStart");
    struct resp r;
    http_post_rest(s, "/devices/track", "{\"device_id\":\"dev-s\",\"session_start\":false}", &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    assert_int_equal(outbox_rows(s, "users.behaviors.app.SessionStart"), before);
    http_post_rest(s, "/devices/track", "{\"device_id\":\"dev-s\",\"session_start\":true}", &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    assert_int_equal(outbox_rows(s, "users.behaviors.app.SessionStart"), before + 1);
}

static void test_changes_survive_restart_and_kill(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track", "{\"attributes\":[{\"external_id\":\"durable\",\"k\":\"v\"}]}",
                201, "{\"message\":\"success\",\"attributes_processed\":1}");
    server_stop(s);
    server_start(s);
    json_t *u = export_ext(s, "durable", "[\"custom_attributes\"]");
    assert_json_equal(u, "{\"custom_attributes\":{\"k\":\"v\"}}");
    json_decref(u);
    post_expect(s, "/users/alias/new",
                "{\"user_aliases\":[{\"external_id\":\"durable\",\"alias_name\":\"d@x\","
                "\"alias_label\":\"email\"}]}",
                201, "{\"aliases_processed\":1,\"message\":\"success\"}");
    server_kill(s);
    server_start(s);
    u = export_ext(s, "durable", "[\"custom_attributes\",\"user_aliases\"]");
    assert_json_equal(u, "{\"custom_attributes\":{\"k\":\"v\"},\"user_aliases\":[{\"alias_name\":"
                         "\"d@x\",\"alias_label\":\"email\"}]}");
    json_decref(u);
}

static void test_failed_store_write_leaves_nothing_behind(void **state) {
    (void)state;
#ifndef COHORTD_FAULTS
    skip(); /* COHORTD_STORE_FAIL_WRITE is compiled in only with -DCOHORTD_FAULTS=ON */
#endif
    struct server f;
    server_init(&f);
    /* writes 1-2 succeed (first request), write 5 fails inside the second request */
    setenv("COHORTD_STORE_FAIL_WRITE", "5", 1);
    server_start(&f);
    unsetenv("COHORTD_STORE_FAIL_WRITE");
    post_expect(&f, "/users/track", "{\"attributes\":[{\"external_id\":\"before\"}]}", 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
    post_expect(&f, "/users/track",
                "{\"attributes\":[{\"external_id\":\"f1\",\"a\":1},{\"external_id\":\"f2\"}]}", 503,
                "{\"message\":\"Service Unavailable\",\"errors\":[\"the store is not "
                "available\"]}");
    /* neither user of the failed request exists, in memory or after a restart */
    assert_null(export_ext(&f, "f1", "[\"external_id\"]"));
    assert_null(export_ext(&f, "f2", "[\"external_id\"]"));
    post_expect(&f, "/users/track", "{\"attributes\":[{\"external_id\":\"f1\",\"a\":2}]}", 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
    server_stop(&f);
    server_start(&f);
    json_t *u = export_ext(&f, "f1", "[\"custom_attributes\"]");
    assert_json_equal(u, "{\"custom_attributes\":{\"a\":2}}");
    json_decref(u);
    assert_null(export_ext(&f, "f2", "[\"external_id\"]"));
    json_t *b = export_ext(&f, "before", "[\"external_id\"]");
    assert_non_null(b);
    json_decref(b);
    server_cleanup(&f);
}

/* Issue 16: "Users can have multiple aliases with different labels, but only one alias_name per
 * alias_label" (objects_filters/user_alias_object.md). /users/alias/new refuses a second name
 * for a label the user holds (a minor error; the other aliases apply), also within one request;
 * /users/track never adds an alias to a user it finds by external_id; /users/identify does not
 * merge a profile whose alias label the user already holds. */
static void test_a_user_holds_one_alias_name_per_alias_label(void **state) {
    struct server *s = *state;
    post_status(s, "/users/track", "{\"attributes\":[{\"external_id\":\"one\"}]}", 201);
#define HELD                                                                                       \
    "{\"type\":\"the user already has an alias with this alias_label; a user holds one "           \
    "alias_name per alias_label\",\"input_array\":\"user_aliases\",\"index\":%d}"
    char *e1 = strf(HELD, 1);
    char *want = strf("{\"aliases_processed\":3,\"message\":\"success\",\"errors\":[%s]}", e1);
    post_expect(s, "/users/alias/new",
                "{\"user_aliases\":[{\"external_id\":\"one\",\"alias_name\":\"a1\","
                "\"alias_label\":\"mail16\"},{\"external_id\":\"one\",\"alias_name\":\"a2\","
                "\"alias_label\":\"mail16\"},{\"external_id\":\"one\",\"alias_name\":\"a1\","
                "\"alias_label\":\"mail16\"},{\"external_id\":\"one\",\"alias_name\":\"c1\","
                "\"alias_label\":\"crm16\"}]}",
                201, want);
    free(want);
    free(e1);
    char *e0 = strf(HELD, 0);
    want = strf("{\"aliases_processed\":0,\"message\":\"success\",\"errors\":[%s]}", e0);
    post_expect(s, "/users/alias/new",
                "{\"user_aliases\":[{\"external_id\":\"one\",\"alias_name\":\"a3\","
                "\"alias_label\":\"mail16\"}]}",
                201, want);
    free(want);
    free(e0);
    /* track finds "one" by external_id and leaves its aliases alone */
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"one\",\"user_alias\":{\"alias_name\":\"a4\","
                "\"alias_label\":\"mail16\"},\"plan\":\"x\"}]}",
                201, "{\"message\":\"success\",\"attributes_processed\":1}");
    /* an alias-only profile under the held label is not merged into "one" */
    post_status(s, "/users/alias/new",
                "{\"user_aliases\":[{\"alias_name\":\"a5\",\"alias_label\":\"mail16\"}]}", 201);
    post_expect(
        s, "/users/identify",
        "{\"aliases_to_identify\":[{\"external_id\":\"one\",\"user_alias\":"
        "{\"alias_name\":\"a5\",\"alias_label\":\"mail16\"}}],\"merge_behavior\":\"merge\"}",
        201,
        "{\"aliases_processed\":0,\"message\":\"success\",\"errors\":[{\"type\":\"the "
        "identified user already has an alias with this label; not merged\","
        "\"input_array\":\"aliases_to_identify\",\"index\":0}]}");
    const char *aliases = "{\"user_aliases\":[{\"alias_name\":\"a1\",\"alias_label\":\"mail16\"},"
                          "{\"alias_name\":\"c1\",\"alias_label\":\"crm16\"}]}";
    for (int pass = 0; pass < 2; pass++) {
        json_t *u = export_ext(s, "one", "[\"user_aliases\"]");
        /* the store keeps aliases in no particular order: compare as a set of two */
        const json_t *arr = json_object_get(u, "user_aliases");
        assert_int_equal(json_array_size(arr), 2);
        json_t *want_root = json_loads(aliases, 0, NULL);
        const json_t *want_arr = json_object_get(want_root, "user_aliases");
        for (size_t i = 0; i < 2; i++) {
            bool found = false;
            for (size_t j = 0; j < 2; j++)
                found = found || json_equal(json_array_get(arr, i), json_array_get(want_arr, j));
            assert_true(found);
        }
        json_decref(want_root);
        json_decref(u);
        /* a2, a3 and a4 name nobody */
        struct resp r;
        http_post_rest(s, "/users/export/ids",
                       "{\"user_aliases\":[{\"alias_name\":\"a2\",\"alias_label\":\"mail16\"},"
                       "{\"alias_name\":\"a3\",\"alias_label\":\"mail16\"},{\"alias_name\":\"a4\","
                       "\"alias_label\":\"mail16\"}],\"fields_to_export\":[\"external_id\"]}",
                       &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(json_array_size(json_object_get(r.json, "users")), 0);
        resp_free(&r);
        if (pass == 0) {
            server_stop(s);
            server_start(s);
        }
    }
}

/* Issue 16: Braze documents event and purchase times as yyyy-MM-dd'T'HH:mm:ss:SSSZ (a colon
 * before the milliseconds); /users/track takes that form as well as ISO 8601's. */
static void test_track_times_in_brazes_colon_millisecond_form(void **state) {
    struct server *s = *state;
    post_expect(s, "/users/track",
                "{\"events\":[{\"external_id\":\"colon\",\"name\":\"opened\","
                "\"time\":\"2026-12-01T10:11:12:345Z\"},{\"external_id\":\"colon\",\"name\":"
                "\"opened\",\"time\":\"2026-12-01T12:11:13:007+01:00\"},{\"external_id\":"
                "\"colon\",\"name\":\"opened\",\"time\":\"2026-12-01T10:11:12:34Z\"}],"
                "\"purchases\":[{\"external_id\":\"colon\",\"product_id\":\"pc\",\"currency\":"
                "\"EUR\",\"price\":1,\"time\":\"2026-12-01T10:11:14:999Z\"}]}",
                201,
                "{\"message\":\"success\",\"events_processed\":2,\"purchases_processed\":1,"
                "\"errors\":[{\"type\":\"'time' must be an ISO-8601 time\",\"input_array\":"
                "\"events\",\"index\":2}]}");
    json_t *u = export_ext(s, "colon", "[\"custom_events\",\"purchases\"]");
    assert_json_equal(u, "{\"custom_events\":[{\"name\":\"opened\",\"first\":"
                         "\"2026-12-01T10:11:12.345Z\",\"last\":\"2026-12-01T11:11:13.007Z\","
                         "\"count\":2}],\"purchases\":[{\"name\":\"pc\",\"first\":"
                         "\"2026-12-01T10:11:14.999Z\",\"last\":\"2026-12-01T10:11:14.999Z\","
                         "\"count\":1}]}");
    json_decref(u);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_track_creates_user_with_profile_and_custom_attributes),
        cmocka_unit_test(test_a_user_holds_one_alias_name_per_alias_label),
        cmocka_unit_test(test_track_times_in_brazes_colon_millisecond_form),
        cmocka_unit_test(test_attribute_operations_inc_add_remove_and_null_delete),
        cmocka_unit_test(test_update_existing_only_does_not_create_users),
        cmocka_unit_test(test_alias_creates_user_only_with_explicit_update_existing_only_false),
        cmocka_unit_test(test_braze_id_identifies_an_existing_user),
        cmocka_unit_test(test_object_without_identifier_is_a_minor_error_and_others_apply),
        cmocka_unit_test(test_attribute_named_empty_is_a_minor_error_and_others_apply),
        cmocka_unit_test(test_more_than_75_objects_is_fatal_and_stores_nothing),
        cmocka_unit_test(test_wrong_types_are_fatal_400),
        cmocka_unit_test(test_events_and_purchases_are_summarised_per_user),
        cmocka_unit_test(test_invalid_events_and_purchases_are_minor_errors),
        cmocka_unit_test(test_alias_new_attaches_to_identified_user_or_creates_alias_only_user),
        cmocka_unit_test(test_identify_gives_alias_only_user_the_external_id),
        cmocka_unit_test(test_identify_merges_alias_profile_into_existing_user),
        cmocka_unit_test(test_identify_does_not_merge_when_label_taken),
        cmocka_unit_test(test_delete_removes_user_and_external_id_can_be_reused),
        cmocka_unit_test(test_delete_over_50_ids_is_rejected_whole),
        cmocka_unit_test(test_export_rejects_unknown_fields_and_more_than_50_ids),
        cmocka_unit_test(test_unknown_device_creates_anonymous_user_and_external_id_identifies_it),
        cmocka_unit_test(test_device_moves_to_existing_user_of_the_external_id),
        cmocka_unit_test(test_device_track_validates_input),
        cmocka_unit_test(test_session_start_writes_one_currents_event),
        cmocka_unit_test(test_changes_survive_restart_and_kill),
        cmocka_unit_test(test_failed_store_write_leaves_nothing_behind),
    };
    return cmocka_run_group_tests(tests, server_setup, server_teardown);
}
