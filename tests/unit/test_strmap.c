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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strmap_agrees_with_a_naive_model),
        cmocka_unit_test(test_strmap_rejects_empty_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
