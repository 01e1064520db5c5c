/* test_bitmap.c — stored bitmap blobs (core/index/bitmap.c): real blobs of every container kind
 * read back equal, and the same blobs corrupted the ways a damaged store row can be (values out
 * of order, a bit flipped under a bitset's count, a run past its container, overlapping runs,
 * cut short, bytes after it) are refused with the reason, never handed out. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdlib.h>
#include <string.h>

#include "core/index/bitmap.h"

/* The blob of b (b freed). */
static uint8_t *blob_of(roaring_bitmap_t *b, size_t *len) {
    uint8_t *blob = bitmap_to_blob(b, len);
    assert_non_null(blob);
    roaring_bitmap_free(b);
    return blob;
}

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v & 0xFF);
    p[1] = (uint8_t)(v >> 8);
}

static void assert_refused(const uint8_t *blob, size_t len, const char *reason) {
    const char *why = NULL;
    roaring_bitmap_t *b = bitmap_from_blob(blob, len, &why);
    assert_null(b);
    assert_non_null(why);
    assert_string_equal(why, reason);
}

static roaring_bitmap_t *array_bitmap(void) {
    roaring_bitmap_t *b = roaring_bitmap_create();
    for (uint32_t u = 1; u <= 5; u++)
        roaring_bitmap_add(b, u * 7);
    return b;
}

static roaring_bitmap_t *bitset_bitmap(void) {
    roaring_bitmap_t *b = roaring_bitmap_create();
    for (uint32_t u = 0; u <= 20000; u += 2)
        roaring_bitmap_add(b, u);
    return b;
}

/* runs [100, 200] and [300, 400] */
static roaring_bitmap_t *run_bitmap(void) {
    roaring_bitmap_t *b = roaring_bitmap_create();
    roaring_bitmap_add_range(b, 100, 201);
    roaring_bitmap_add_range(b, 300, 401);
    roaring_bitmap_run_optimize(b);
    return b;
}

static void test_real_blobs_of_every_container_kind_read_back_equal(void **state) {
    (void)state;
    roaring_bitmap_t *(*make[])(void) = {array_bitmap, bitset_bitmap, run_bitmap,
                                         roaring_bitmap_create};
    for (size_t i = 0; i < sizeof make / sizeof make[0]; i++) {
        roaring_bitmap_t *want = make[i]();
        size_t len;
        uint8_t *blob = blob_of(make[i](), &len);
        const char *why = "unset";
        roaring_bitmap_t *got = bitmap_from_blob(blob, len, &why);
        assert_non_null(got);
        assert_null(why);
        assert_true(roaring_bitmap_equals(got, want));
        roaring_bitmap_free(got);
        roaring_bitmap_free(want);
        free(blob);
    }
}

static void test_array_values_out_of_order_are_refused(void **state) {
    (void)state;
    size_t len;
    uint8_t *blob = blob_of(array_bitmap(), &len);
    /* the values 7, 14, 21, 28, 35 end the blob: swap the first two */
    put16(blob + len - 10, 14);
    put16(blob + len - 8, 7);
    assert_refused(blob, len, "array container values out of order");
    put16(blob + len - 8, 14); /* a duplicate: the count says 5, the set holds 4 */
    assert_refused(blob, len, "array container values out of order");
    free(blob);
}

static void test_a_bitset_whose_bits_disagree_with_its_count_is_refused(void **state) {
    (void)state;
    size_t len;
    uint8_t *blob = blob_of(bitset_bitmap(), &len);
    blob[len - 1] |= 0x80; /* value 65535, not counted in the header */
    assert_refused(blob, len, "bitset container cardinality does not match its bits");
    free(blob);
}

static void test_a_run_past_its_container_is_refused(void **state) {
    (void)state;
    size_t len;
    uint8_t *blob = blob_of(run_bitmap(), &len);
    /* the blob ends with the runs: value, length-1 of [100, 200], then of [300, 400] */
    put16(blob + len - 2, 0xFFFF); /* 300 + 65535 */
    assert_refused(blob, len, "run container run past the end of its container");
    free(blob);
}

static void test_overlapping_runs_are_refused(void **state) {
    (void)state;
    size_t len;
    uint8_t *blob = blob_of(run_bitmap(), &len);
    put16(blob + len - 4, 150); /* [150, 250] overlaps [100, 200] */
    assert_refused(blob, len, "run container runs out of order or overlapping");
    free(blob);
}

static void test_a_blob_cut_short_or_with_bytes_after_it_is_refused(void **state) {
    (void)state;
    size_t len;
    uint8_t *blob = blob_of(bitset_bitmap(), &len);
    assert_refused(blob, len - 1, "not one portable bitmap of this length");
    assert_refused(blob, 3, "not one portable bitmap of this length");
    uint8_t *longer = calloc(1, len + 1);
    assert_non_null(longer);
    memcpy(longer, blob, len);
    assert_refused(longer, len + 1, "not one portable bitmap of this length");
    assert_refused(NULL, 0, "no blob");
    free(longer);
    free(blob);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_blobs_of_every_container_kind_read_back_equal),
        cmocka_unit_test(test_array_values_out_of_order_are_refused),
        cmocka_unit_test(test_a_bitset_whose_bits_disagree_with_its_count_is_refused),
        cmocka_unit_test(test_a_run_past_its_container_is_refused),
        cmocka_unit_test(test_overlapping_runs_are_refused),
        cmocka_unit_test(test_a_blob_cut_short_or_with_bytes_after_it_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
