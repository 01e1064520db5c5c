/*
 * fuzz_bitmap_blob.c — libFuzzer driver for cohort bitmaps read back from the store
 * (bitmap_from_blob, core/index/bitmap.c): the input is a stored blob (a checkpoint, a log
 * row's adds or removes, a campaign audience). A blob that is refused says why. A blob that is
 * accepted must give a bitmap that behaves: iterating it yields strictly increasing values, as
 * many as its cardinality; it serialises and reads back to an equal bitmap; and the operations
 * a segment and an import run on members (and, or, andnot, in place or not, run_optimize before
 * a checkpoint) agree with each other on a fixed second bitmap. Only operations cohortd calls
 * are used: this CRoaring's roaring_bitmap_remove_run_compression writes past an array when a
 * run ends at 65535 (fixed in later CRoaring), even on a bitmap built by CRoaring itself.
 */
#include <roaring/roaring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/index/bitmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Iterating more values than this is left out (a run container covers 65536 in 4 bytes). */
#define MAX_ITERATED 2000000

static roaring_bitmap_t *other;

static void fail(const char *what) {
    fprintf(stderr, "fuzz_bitmap_blob: %s\n", what);
    abort();
}

struct walk {
    uint64_t n;
    int64_t last;
    bool ordered;
};

static bool step(uint32_t v, void *ctx) {
    struct walk *w = ctx;
    if ((int64_t)v <= w->last)
        w->ordered = false;
    w->last = v;
    w->n++;
    return true;
}

static void check(const roaring_bitmap_t *b) {
    uint64_t card = roaring_bitmap_get_cardinality(b);
    if (card <= MAX_ITERATED) {
        struct walk w = {0, -1, true};
        roaring_iterate(b, step, &w);
        if (!w.ordered || w.n != card)
            fail("an accepted bitmap iterates out of order or not its cardinality");
    }
    size_t len = 0;
    void *blob = bitmap_to_blob(b, &len);
    const char *why = NULL;
    roaring_bitmap_t *again = blob ? bitmap_from_blob(blob, len, &why) : NULL;
    if (!again || !roaring_bitmap_equals(again, b))
        fail(why ? why : "an accepted bitmap does not read back from its own blob");
    bitmap_free(again);
    free(blob);

    uint64_t inter = roaring_bitmap_and_cardinality(b, other);
    uint64_t uni = roaring_bitmap_or_cardinality(b, other);
    if (uni != card + roaring_bitmap_get_cardinality(other) - inter)
        fail("and and or cardinalities disagree");
    roaring_bitmap_t *m = roaring_bitmap_copy(b);
    roaring_bitmap_or_inplace(m, other);
    if (roaring_bitmap_get_cardinality(m) != uni)
        fail("or disagrees with its cardinality");
    roaring_bitmap_andnot_inplace(m, other);
    if (roaring_bitmap_get_cardinality(m) != card - inter)
        fail("andnot disagrees with and");
    roaring_bitmap_run_optimize(m);
    roaring_bitmap_t *n = roaring_bitmap_andnot(b, other);
    roaring_bitmap_and_inplace(m, b);
    if (!roaring_bitmap_equals(m, n))
        fail("andnot in place and andnot disagree after run_optimize");
    roaring_bitmap_free(n);
    roaring_bitmap_t *in = roaring_bitmap_and(b, other);
    if (roaring_bitmap_get_cardinality(in) != inter)
        fail("and disagrees with its cardinality");
    roaring_bitmap_free(in);
    if (card && (roaring_bitmap_minimum(b) > roaring_bitmap_maximum(b) ||
                 !roaring_bitmap_contains(b, roaring_bitmap_maximum(b))))
        fail("minimum and maximum are wrong");
    roaring_bitmap_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!other) {
        /* arrays, a bitset and a run: users 1..200 odd, 70000..80000, every 3rd of 2^17.. */
        other = roaring_bitmap_create();
        for (uint32_t u = 1; u < 200; u += 2)
            roaring_bitmap_add(other, u);
        roaring_bitmap_add_range(other, 70000, 80000);
        for (uint32_t u = 1u << 17; u < (1u << 17) + 30000; u += 3)
            roaring_bitmap_add(other, u);
        roaring_bitmap_run_optimize(other);
    }
    const char *why = NULL;
    roaring_bitmap_t *b = bitmap_from_blob(data, size, &why);
    if (!b && !why)
        fail("a refused blob without a reason");
    if (b) {
        if (why)
            fail("an accepted blob with a reason");
        check(b);
        roaring_bitmap_free(b);
    }
    return 0;
}
