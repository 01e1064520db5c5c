/* test_partner_body.c — the fast reader of a partner cohort import body (api/partner_body.c)
 * reads the shapes real partners send, and whatever it reads means exactly what the general
 * path (jansson with duplicates refused, then api_cohort_changes_read) makes of it: the same
 * secrets and cohort id, the same changes, ids in the same order. Every body it declines takes
 * the general path, which gives the errors. Checked on hand-written bodies, on every one-byte
 * change of an accepted body, and on random bodies. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/partner_body.h"

static void same_string(const char *a, const char *b) {
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

/* Reads body both ways; when the fast reader reads it, both must agree. Returns whether it did. */
static bool agree(const char *body, size_t len) {
    struct partner_body fast;
    if (!partner_body_read(body, len, &fast))
        return false;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    assert_true(json_is_object(root));
    same_string(fast.partner_api_key, json_string_value(json_object_get(root, "partner_api_key")));
    same_string(fast.client_secret, json_string_value(json_object_get(root, "client_secret")));
    same_string(fast.cohort_id, json_string_value(json_object_get(root, "cohort_id")));
    struct http_response res = {0};
    struct api_cohort_changes cc;
    assert_int_equal(api_cohort_changes_read(json_object_get(root, "cohort_changes"), &cc, &res),
                     CD_OK);
    assert_int_equal(fast.cc.n_changes, cc.n_changes);
    assert_int_equal(fast.cc.n_ids, cc.n_ids);
    for (size_t i = 0; i < cc.n_changes; i++) {
        const struct cohort_change *f = &fast.cc.changes[i], *g = &cc.changes[i];
        assert_int_equal(f->remove, g->remove);
        assert_int_equal(f->n_ids, g->n_ids);
        for (size_t k = 0; k < g->n_ids; k++) {
            assert_int_equal(f->ids[k].kind, g->ids[k].kind);
            same_string(f->ids[k].a, g->ids[k].a);
            same_string(f->ids[k].b, g->ids[k].b);
        }
    }
    api_cohort_changes_release(&cc);
    http_response_release(&res);
    json_decref(root);
    partner_body_release(&fast);
    return true;
}

static bool agree_text(const char *body) {
    return agree(body, strlen(body));
}

#define HEAD "{\"partner_api_key\":\"pk\",\"client_secret\":\"cs\",\"cohort_id\":\"c1\","

static const char *const accepted[] = {
    HEAD "\"cohort_changes\":[]}",
    HEAD "\"cohort_changes\":[{\"user_ids\":[\"a\",\"b\"]},{\"user_ids\":[\"c\"],"
         "\"should_remove\":true}]}",
    HEAD "\"cohort_changes\":[{\"user_ids\":[\"u1\"],\"device_ids\":[\"d1\"],\"aliases\":"
         "[{\"alias_name\":\"x@y\",\"alias_label\":\"email\"},{\"alias_label\":\"l\","
         "\"alias_name\":\"n\"}],\"should_remove\":false}]}",
    HEAD "\"cohort_changes\":[{\"should_remove\":true,\"device_ids\":[],\"aliases\":[]}]}",
    " \n\t{ \"cohort_changes\" : [ { \"user_ids\" : [ \"a\" , \"b\" ] } ] , \"cohort_id\" :"
    " \"c\" , \"client_secret\" : \"s\" } \r\n",
    /* Segment sends no partner key at all */
    "{\"client_secret\":\"s\",\"cohort_id\":\"c\",\"cohort_changes\":[{\"user_ids\":[\"a\"]}]}",
    /* an odd cohort id is read, and refused by the handler as on the general path */
    "{\"cohort_id\":\"\",\"cohort_changes\":[{\"user_ids\":[\"a\"]}]}",
};

static const char *const declined[] = {
    "",
    "[]",
    "{}",
    HEAD "\"cohort_changes\":[{\"user_ids\":[\"a\\\"b\"]}]}",   /* an escape */
    HEAD "\"cohort_changes\":[{\"user_ids\":[\"\\u00e9\"]}]}",  /* an escape */
    HEAD "\"cohort_changes\":[{\"user_ids\":[\"\xc3\xa9\"]}]}", /* non-ASCII */
    HEAD "\"cohort_changes\":[{\"user_ids\":[\"a\tb\"]}]}",     /* a control character */
    HEAD "\"cohort_changes\":[{\"user_ids\":[\"\"]}]}",         /* an empty id */
    HEAD "\"cohort_changes\":[{\"user_ids\":[1]}]}",            /* a number */
    HEAD "\"cohort_changes\":[{\"user_ids\":[{\"alias_name\":\"n\",\"alias_label\":\"l\"}]}]}",
    HEAD "\"cohort_changes\":[{\"aliases\":{\"alias_name\":\"n\",\"alias_label\":\"l\"}}]}",
    HEAD "\"cohort_changes\":[{\"aliases\":[{\"alias_name\":\"n\"}]}]}",
    HEAD
    "\"cohort_changes\":[{\"aliases\":[{\"alias_name\":\"n\",\"alias_label\":\"l\",\"x\":1}]}]}",
    HEAD "\"cohort_changes\":[{\"aliases\":[{\"alias_name\":\"n\",\"alias_name\":\"l\"}]}]}",
    HEAD "\"cohort_changes\":[{\"aliases\":[],\"user_ids\":[\"a\"]}]}", /* groups out of order */
    HEAD "\"cohort_changes\":[{\"user_ids\":[\"a\"],\"user_ids\":[\"b\"]}]}",
    HEAD "\"cohort_changes\":[{\"user_ids\":[\"a\"],\"other\":[]}]}",
    HEAD "\"cohort_changes\":[{\"user_ids\":[\"a\"],\"should_remove\":null}]}",
    HEAD "\"cohort_changes\":[{\"user_ids\":[\"a\"],\"should_remove\":\"yes\"}]}",
    HEAD "\"cohort_changes\":[{\"user_ids\":[\"a\"],\"should_remove\":true,"
         "\"should_remove\":true}]}",
    HEAD "\"cohort_changes\":[{\"user_ids\":null}]}",
    HEAD "\"cohort_changes\":[{}]}",
    HEAD "\"cohort_changes\":[{\"user_ids\":[\"a\"],}]}", /* a trailing comma */
    HEAD "\"cohort_changes\":[{\"user_ids\":[\"a\"]}]} x",
    HEAD "\"cohort_changes\":[{\"user_ids\":[\"a\"]}]",
    HEAD "\"cohort_changes\":\"[]\"}",
    HEAD "\"cohort_changes\":[],\"cohort_changes\":[]}",
    HEAD "\"cohort_changes\":[],\"extra\":1}",
    "{\"partner_api_key\":\"pk\",\"partner_api_key\":\"pk\",\"cohort_changes\":[]}",
    "{\"partner_api_key\":1,\"cohort_changes\":[]}",
    "{\"client_secret\":\"s\",\"cohort_id\":\"c\"}", /* no cohort_changes */
};

static void test_the_shapes_partners_send_are_read_and_agree(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof accepted / sizeof *accepted; i++)
        if (!agree_text(accepted[i]))
            fail_msg("not read: %s", accepted[i]);
}

static void test_anything_else_takes_the_general_path(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof declined / sizeof *declined; i++) {
        struct partner_body fast;
        if (partner_body_read(declined[i], strlen(declined[i]), &fast)) {
            partner_body_release(&fast);
            fail_msg("read: %s", declined[i]);
        }
    }
    struct partner_body fast;
    assert_false(partner_body_read(NULL, 0, &fast));
    char nul[] = HEAD "\"cohort_changes\":[{\"user_ids\":[\"a\0b\"]}]}";
    assert_false(partner_body_read(nul, sizeof nul - 1, &fast));
}

/* HEAD, then n ids of id_len digits in one change ({"user_ids":[...]}) */
static char *many_ids(size_t n, size_t id_len) {
    size_t cap = strlen(HEAD) + 64 + n * (id_len + 3), len = 0;
    char *b = malloc(cap);
    len += (size_t)snprintf(b, cap, HEAD "\"cohort_changes\":[{\"user_ids\":[");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(b + len, cap - len, "%s\"%0*zu\"", i ? "," : "", (int)id_len, i);
    snprintf(b + len, cap - len, "]}]}");
    return b;
}

static void test_the_limits_are_the_general_paths(void **state) {
    (void)state;
    char *b = many_ids(1000, 8);
    assert_true(agree_text(b)); /* 1,000 ids: read */
    free(b);
    b = many_ids(1001, 8); /* the general path refuses it, with its text */
    assert_false(agree_text(b));
    free(b);
    b = many_ids(1, 2048);
    assert_true(agree_text(b));
    free(b);
    b = many_ids(1, 2049);
    assert_false(agree_text(b));
    free(b);
    /* 64 change objects are read, 65 are not */
    char big[8192];
    size_t len = (size_t)snprintf(big, sizeof big, HEAD "\"cohort_changes\":[");
    for (int i = 0; i < 64; i++)
        len += (size_t)snprintf(big + len, sizeof big - len, "%s{\"device_ids\":[\"d%d\"]}",
                                i ? "," : "", i);
    snprintf(big + len, sizeof big - len, "]}");
    assert_true(agree_text(big));
    snprintf(big + len, sizeof big - len, ",{\"device_ids\":[\"x\"]}]}");
    assert_false(agree_text(big));
}

static const char *const pieces[] = {
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    " ",
    "\"",
    "\\",
    "true",
    "false",
    "null",
    "1",
    "\"user_ids\"",
    "\"device_ids\"",
    "\"aliases\"",
    "\"should_remove\"",
    "\"alias_name\"",
    "\"alias_label\"",
    "\"cohort_changes\"",
    "\"cohort_id\"",
    "\"client_secret\"",
    "\"partner_api_key\"",
    "\"a\"",
    "\"\"",
    "\xc3\xa9",
};

static void test_every_one_byte_change_and_random_bodies_agree(void **state) {
    (void)state;
    unsigned seed = 12345;
    size_t read = 0;
    for (size_t i = 0; i < sizeof accepted / sizeof *accepted; i++) {
        size_t len = strlen(accepted[i]);
        char *b = malloc(len + 2);
        for (size_t at = 0; at < len; at++) {
            static const char subst[] = "{}[],:\" \\a0";
            for (size_t s = 0; s < sizeof subst - 1; s++) { /* replace the byte */
                memcpy(b, accepted[i], len);
                b[at] = subst[s];
                read += agree(b, len);
            }
            memcpy(b, accepted[i], at); /* drop it */
            memcpy(b + at, accepted[i] + at + 1, len - at - 1);
            read += agree(b, len - 1);
        }
        free(b);
    }
    /* random sequences of JSON pieces, most of them nonsense, some of them bodies */
    char body[512];
    for (int n = 0; n < 200000; n++) {
        size_t len = (size_t)snprintf(body, sizeof body, "%s", HEAD);
        int parts = (int)(rand_r(&seed) % 24);
        for (int k = 0; k < parts; k++)
            len += (size_t)snprintf(body + len, sizeof body - len, "%s",
                                    pieces[rand_r(&seed) % (sizeof pieces / sizeof *pieces)]);
        read += agree(body, len);
    }
    assert_true(read > 0); /* some changed bodies are still bodies (e.g. another id) */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_shapes_partners_send_are_read_and_agree),
        cmocka_unit_test(test_anything_else_takes_the_general_path),
        cmocka_unit_test(test_the_limits_are_the_general_paths),
        cmocka_unit_test(test_every_one_byte_change_and_random_bodies_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
