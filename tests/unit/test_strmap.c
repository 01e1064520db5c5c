/* test_strmap.c — the identity hash map against a plain array model under random
 * inserts, replacements and deletions. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/index/strmap.h"

#define N_KEYS 5000

static void test_strmap_agrees_with_a_naive_model(void **state) {
    (void)state;
    struct strmap m;
    strmap_init(&m);
    static uint32_t model[N_KEYS]; /* 0 = absent */
    unsigned seed = 12345;
    for (int step = 0; step < 200000; step++) {
        int k = (int)(rand_r(&seed) % N_KEYS);
        char key[32];
        int len = snprintf(key, sizeof key, "user_%d", k);
        int op = (int)(rand_r(&seed) % 3);
        if (op < 2) {
            uint32_t v = (uint32_t)(rand_r(&seed) % 1000000) + 1;
            assert_int_equal(strmap_put(&m, key, (size_t)len, v), 0);
            model[k] = v;
        } else {
            assert_int_equal(strmap_del(&m, key, (size_t)len), model[k] != 0);
            model[k] = 0;
        }
    }
    size_t live = 0;
    for (int k = 0; k < N_KEYS; k++) {
        char key[32];
        int len = snprintf(key, sizeof key, "user_%d", k);
        uint32_t v = 0;
        bool found = strmap_get(&m, key, (size_t)len, &v);
        assert_int_equal(found, model[k] != 0);
        if (found)
            assert_int_equal(v, model[k]);
        live += model[k] != 0;
    }
    assert_int_equal(m.n_used, live);
    strmap_free(&m);
}

static void test_strmap_rejects_empty_keys(void **state) {
    (void)state;
    struct strmap m;
    strmap_init(&m);
    assert_int_equal(strmap_put(&m, "", 0, 1), -1);
    uint32_t v;
    assert_false(strmap_get(&m, "", 0, &v));
    strmap_free(&m);
}

/* strmap_each hands out every entry once, each found again by strmap_get. */
struct each_check {
    const struct strmap *m;
    size_t seen;
};

static void check_entry(void *ctx, uint32_t key_off, uint32_t key_len, uint32_t value) {
    struct each_check *c = ctx;
    uint32_t got = 0;
    assert_true(strmap_get(c->m, strmap_key(c->m, key_off), key_len, &got));
    assert_int_equal(got, value);
    c->seen++;
}

static void test_strmap_built_in_bulk_finds_what_put_would(void **state) {
    (void)state;
    struct strmap m;
    strmap_init(&m);
    /* two keys put before the bulk build stay; "user_7" deferred twice keeps its last value */
    assert_int_equal(strmap_put(&m, "before_1", 8, 11), 0);
    assert_int_equal(strmap_put(&m, "user_3", 6, 99), 0);
    for (uint32_t k = 0; k < 20000; k++) {
        char key[32];
        int len = snprintf(key, sizeof key, "user_%u", k);
        assert_int_equal(strmap_defer(&m, key, (size_t)len, k + 1), 0);
    }
    assert_int_equal(strmap_defer(&m, "user_7", 6, 424242), 0);
    uint32_t v = 0;
    assert_false(strmap_get(&m, "user_5", 6, &v)); /* deferred: not found before place */
    assert_int_equal(strmap_place(&m), 0);
    assert_int_equal(m.n_used, 20001);
    assert_int_equal(m.n_deferred, 0);
    /* sized for what was built: a load of about 0.7, whatever the power of two */
    assert_true(m.cap * 6 / 10 < m.n_used && m.n_used * 10 < m.cap * 8);
    for (uint32_t k = 0; k < 20000; k++) {
        char key[32];
        int len = snprintf(key, sizeof key, "user_%u", k);
        assert_true(strmap_get(&m, key, (size_t)len, &v));
        assert_int_equal(v, k == 7 ? 424242 : k + 1); /* user_3's deferred value replaced 99 */
    }
    assert_true(strmap_get(&m, "before_1", 8, &v));
    assert_int_equal(v, 11);
    /* after the build the map takes puts and deletes as before */
    assert_int_equal(strmap_put(&m, "after", 5, 5), 0);
    assert_true(strmap_del(&m, "user_9", 6));
    assert_false(strmap_get(&m, "user_9", 6, &v));
    assert_true(strmap_get(&m, "after", 5, &v));
    assert_int_equal(v, 5);
    struct each_check c = {&m, 0};
    strmap_each(&m, check_entry, &c);
    assert_int_equal(c.seen, m.n_used);
    strmap_free(&m);
}

static void test_strmap_keeps_long_keys_whole(void **state) {
    (void)state;
    struct strmap m;
    strmap_init(&m);
    /* lengths of one, two and three length bytes */
    static char key[20000];
    memset(key, 'k', sizeof key);
    size_t lens[] = {1, 127, 128, 300, 16383, 16384, sizeof key};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        assert_int_equal(strmap_put(&m, key, lens[i], (uint32_t)i + 1), 0);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint32_t v = 0;
        assert_true(strmap_get(&m, key, lens[i], &v));
        assert_int_equal(v, i + 1);
    }
    uint32_t v = 0;
    assert_false(strmap_get(&m, key, 129, &v));
    strmap_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strmap_agrees_with_a_naive_model),
        cmocka_unit_test(test_strmap_rejects_empty_keys),
        cmocka_unit_test(test_strmap_built_in_bulk_finds_what_put_would),
        cmocka_unit_test(test_strmap_keeps_long_keys_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
