/* test_identity.c — the identity rules of DESIGN.md on the in-memory index. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <string.h>

#include "core/index/identity.h"

static void add(struct identity *id, uint32_t uid, const char *ext, bool anon) {
    uint8_t bid[12];
    assert_int_equal(identity_new_braze_id(uid, 1700000000000, bid), 0);
    assert_int_equal(identity_add_user(id, uid, bid, ext, anon, false), 0);
}

static void test_device_id_matches_only_users_anonymous_now(void **state) {
    (void)state;
    struct identity id;
    identity_init(&id);
    add(&id, 1, NULL, true);
    assert_int_equal(identity_put_device(&id, "dev-1", 1), 0);
    enum match_miss miss;
    assert_int_equal(identity_by_device(&id, "dev-1", &miss), 1);
    assert_int_equal(miss, MATCH_OK);
    /* identified later: the device no longer reaches the user */
    assert_int_equal(identity_set_external(&id, 1, "u-1"), 0);
    assert_int_equal(identity_by_device(&id, "dev-1", &miss), 0);
    assert_int_equal(miss, MISS_DEVICE_IDENTIFIED);
    assert_string_equal(identity_miss_name(miss), "device of an identified user");
    assert_int_equal(identity_by_external(&id, "u-1", NULL), 1);
    assert_int_equal(identity_by_device(&id, "dev-404", &miss), 0);
    assert_int_equal(miss, MISS_UNKNOWN_DEVICE);
    identity_free(&id);
}

static void test_alias_keys_do_not_collide_across_label_boundaries(void **state) {
    (void)state;
    struct identity id;
    identity_init(&id);
    add(&id, 1, NULL, false);
    add(&id, 2, NULL, false);
    assert_int_equal(identity_put_alias(&id, "ab", "c", 1), 0);
    assert_int_equal(identity_put_alias(&id, "a", "bc", 2), 0);
    assert_int_equal(identity_by_alias(&id, "ab", "c", NULL), 1);
    assert_int_equal(identity_by_alias(&id, "a", "bc", NULL), 2);
    enum match_miss miss;
    assert_int_equal(identity_by_alias(&id, "abc", "", &miss), 0);
    assert_int_equal(miss, MISS_UNKNOWN_ALIAS);
    identity_free(&id);
}

static void test_deleted_users_match_nothing(void **state) {
    (void)state;
    struct identity id;
    identity_init(&id);
    add(&id, 1, "gone", false);
    assert_int_equal(identity_put_alias(&id, "l", "n", 1), 0);
    assert_true(roaring_bitmap_contains(id.live, 1));
    identity_kill_user(&id, 1);
    assert_int_equal(identity_by_external(&id, "gone", NULL), 0);
    assert_int_equal(identity_by_alias(&id, "l", "n", NULL), 0);
    assert_false(roaring_bitmap_contains(id.live, 1));
    assert_int_equal(id.n_live, 0);
    identity_free(&id);
}

static void test_braze_id_round_trips_and_rejects_forgeries(void **state) {
    (void)state;
    struct identity id;
    identity_init(&id);
    add(&id, 7, "x", false);
    char text[BRAZE_ID_LEN + 1];
    identity_braze_id_text(id.users[7].bid, text);
    assert_int_equal(strlen(text), 24);
    assert_int_equal(identity_by_braze_id(&id, text), 7);
    text[9] = text[9] == '0' ? '1' : '0'; /* same uid, other random bytes */
    assert_int_equal(identity_by_braze_id(&id, text), 0);
    assert_int_equal(identity_by_braze_id(&id, "zz"), 0);
    uint8_t bid[12];
    assert_int_equal(identity_braze_id_parse("0123456789abcdefABCDEF01", bid), 0);
    assert_int_equal(bid[0], 0x01);
    assert_int_equal(bid[11], 0x01);
    assert_int_equal(bid[8], 0xab); /* upper-case digits too */
    assert_int_equal(identity_braze_id_parse("0123456789abcdefABCDEF012", bid), -1); /* long */
    assert_int_equal(identity_braze_id_parse("0123456789abcdefABCDEF0", bid), -1);   /* short */
    assert_int_equal(identity_braze_id_parse("0123456789abcdefABCDEF0g", bid), -1);
    identity_free(&id);
}

static void test_a_bulk_load_finds_every_identifier_and_trims_the_user_table(void **state) {
    (void)state;
    struct identity id;
    identity_init(&id);
    identity_load_begin(&id);
    for (uint32_t u = 1; u <= 3000; u++) {
        char ext[32];
        snprintf(ext, sizeof ext, "u-%u", u);
        add(&id, u, u % 3 ? ext : NULL, u % 3 == 0);
        if (u % 3 == 0) {
            snprintf(ext, sizeof ext, "dev-%u", u);
            assert_int_equal(identity_put_device(&id, ext, u), 0);
            assert_int_equal(identity_put_alias(&id, "email", ext, u), 0);
        }
    }
    assert_int_equal(identity_load_end(&id), 0);
    assert_int_equal(id.users_cap, 3001); /* uid 0 and the users there are, no spare */
    enum match_miss miss;
    assert_int_equal(identity_by_external(&id, "u-2998", &miss), 2998);
    assert_int_equal(identity_by_external(&id, "u-2997", &miss), 0);
    assert_int_equal(miss, MISS_UNKNOWN_EXTERNAL_ID);
    assert_int_equal(identity_by_device(&id, "dev-2997", &miss), 2997);
    assert_int_equal(identity_by_alias(&id, "email", "dev-3", &miss), 3);
    assert_true(identity_is_identified(&id, 1));
    assert_false(identity_is_identified(&id, 3));
    /* after the load: a new user grows the table, identifiers go straight in */
    add(&id, 3001, "u-3001", false);
    assert_int_equal(identity_by_external(&id, "u-3001", NULL), 3001);
    struct identity_bytes b;
    identity_mem_bytes(&id, &b);
    assert_true(b.users >= 3002 * sizeof(struct user_mem));
    assert_true(b.external > 2001 * 6); /* at least the key bytes */
    identity_free(&id);
}

static size_t holders(struct identity *id, enum identity_contact c, const char *addr,
                      uint32_t *out) {
    return identity_by_contact(id, c, addr, strlen(addr), out, 8);
}

static void test_several_users_share_an_email_and_leave_it_one_by_one(void **state) {
    (void)state;
    struct identity id;
    identity_init(&id);
    for (uint32_t u = 1; u <= 3; u++) {
        add(&id, u, NULL, false);
        assert_int_equal(identity_put_contact(&id, IDENTITY_EMAIL, "A@x.io", 6, u), 0);
    }
    uint32_t v[8];
    /* case and surrounding white space do not count */
    assert_int_equal(holders(&id, IDENTITY_EMAIL, " a@X.IO\n", v), 3);
    identity_del_contact(&id, IDENTITY_EMAIL, "a@x.io", 6, 1);
    assert_int_equal(holders(&id, IDENTITY_EMAIL, "a@x.io", v), 2);
    assert_true((v[0] == 2 && v[1] == 3) || (v[0] == 3 && v[1] == 2));
    identity_del_contact(&id, IDENTITY_EMAIL, "a@x.io", 6, 3);
    assert_int_equal(holders(&id, IDENTITY_EMAIL, "a@x.io", v), 1);
    assert_int_equal(v[0], 2);
    /* a dead holder is not found; removing a non-holder changes nothing */
    identity_del_contact(&id, IDENTITY_EMAIL, "a@x.io", 6, 9);
    identity_kill_user(&id, 2);
    assert_int_equal(holders(&id, IDENTITY_EMAIL, "a@x.io", v), 0);
    identity_del_contact(&id, IDENTITY_EMAIL, "a@x.io", 6, 2);
    assert_int_equal(id.contact[IDENTITY_EMAIL].n_used, 0);
    identity_free(&id);
}

static void test_phone_numbers_compare_by_their_digits(void **state) {
    (void)state;
    struct identity id;
    identity_init(&id);
    add(&id, 1, NULL, false);
    assert_int_equal(identity_put_contact(&id, IDENTITY_PHONE, "+1 (504) 327-7269", 17, 1), 0);
    uint32_t v[8];
    assert_int_equal(holders(&id, IDENTITY_PHONE, "15043277269", v), 1);
    assert_int_equal(holders(&id, IDENTITY_EMAIL, "15043277269", v), 0);
    char key[16];
    assert_int_equal(identity_contact_key(IDENTITY_PHONE, "+4-9", 4, key, sizeof key), 2);
    assert_string_equal(key, "49");
    /* an address with a NUL, or none left after normalising, gives no key */
    assert_int_equal(identity_contact_key(IDENTITY_EMAIL, "a\0b", 3, key, sizeof key), 0);
    assert_int_equal(identity_contact_key(IDENTITY_PHONE, "ab", 2, key, sizeof key), 0);
    identity_free(&id);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_id_matches_only_users_anonymous_now),
        cmocka_unit_test(test_alias_keys_do_not_collide_across_label_boundaries),
        cmocka_unit_test(test_deleted_users_match_nothing),
        cmocka_unit_test(test_braze_id_round_trips_and_rejects_forgeries),
        cmocka_unit_test(test_a_bulk_load_finds_every_identifier_and_trims_the_user_table),
        cmocka_unit_test(test_several_users_share_an_email_and_leave_it_one_by_one),
        cmocka_unit_test(test_phone_numbers_compare_by_their_digits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
