/*
 * bitmap.c — portable blobs of Roaring bitmaps (see bitmap.h), and the check of a blob read
 * back from the store. CRoaring's portable_deserialize_safe only guarantees it reads inside
 * the buffer; the values it builds containers from are taken as they are, so a corrupt blob
 * gives a bitmap whose later operations overflow buffers (an array container's cardinality
 * below its real count, a run past 65535). The CRoaring of Debian 12 (0.2.66) has no
 * roaring_bitmap_internal_validate, so the same invariants are checked here, on the
 * containers roaring.h lays out; with a CRoaring that has it, that call can replace
 * bitmap_invalid. Memory only.
 */
#include "core/index/bitmap.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

void *bitmap_to_blob(const roaring_bitmap_t *b, size_t *len) {
    size_t n = roaring_bitmap_portable_size_in_bytes(b);
    char *blob = malloc(n ? n : 1);
    *len = blob ? roaring_bitmap_portable_serialize(b, blob) : 0;
    return blob;
}

static const char *array_invalid(const array_container_t *a) {
    if (a->cardinality < 1 || a->cardinality > a->capacity)
        return "array container with a bad cardinality";
    for (int32_t i = 1; i < a->cardinality; i++)
        if (a->array[i] <= a->array[i - 1])
            return "array container values out of order";
    return NULL;
}

static const char *bitset_invalid(const bitset_container_t *b) {
    int64_t n = 0;
    for (int i = 0; i < BITSET_CONTAINER_SIZE_IN_WORDS; i++)
        n += __builtin_popcountll(b->array[i]);
    if (n == 0)
        return "empty bitset container";
    if (n != b->cardinality)
        return "bitset container cardinality does not match its bits";
    return NULL;
}

static const char *run_invalid(const run_container_t *r) {
    if (r->n_runs < 1 || r->n_runs > r->capacity)
        return "run container with a bad number of runs";
    int64_t next = 0; /* the least value the next run may start at */
    for (int32_t i = 0; i < r->n_runs; i++) {
        uint32_t start = r->runs[i].value;
        uint32_t end = start + r->runs[i].length; /* inclusive */
        if (end > UINT16_MAX)
            return "run container run past the end of its container";
        if ((int64_t)start < next)
            return "run container runs out of order or overlapping";
        next = (int64_t)end + 1;
    }
    return NULL;
}

/* Why b breaks an invariant of a Roaring bitmap, or NULL when it holds them all. */
static const char *bitmap_invalid(const roaring_bitmap_t *b) {
    const roaring_array_t *ra = &b->high_low_container;
    if (ra->size < 0 || ra->size > MAX_CONTAINERS || ra->size > ra->allocation_size)
        return "bad number of containers";
    for (int32_t i = 0; i < ra->size; i++) {
        if (i > 0 && ra->keys[i] <= ra->keys[i - 1])
            return "container keys out of order";
        const void *c = ra->containers[i];
        if (!c)
            return "missing container";
        const char *why = NULL;
        switch (ra->typecodes[i]) {
        case ARRAY_CONTAINER_TYPE_CODE:
            why = array_invalid(c);
            break;
        case BITSET_CONTAINER_TYPE_CODE:
            why = bitset_invalid(c);
            break;
        case RUN_CONTAINER_TYPE_CODE:
            why = run_invalid(c);
            break;
        default:
            why = "unknown container type";
            break;
        }
        if (why)
            return why;
    }
    return NULL;
}

roaring_bitmap_t *bitmap_from_blob(const void *blob, size_t len, const char **why) {
    const char *what = NULL;
    roaring_bitmap_t *b = NULL;
    if (!blob) {
        what = "no blob";
    } else if (roaring_bitmap_portable_deserialize_size(blob, len) != len) {
        /* 0 when the header or a container does not fit; less than len: bytes after it */
        what = "not one portable bitmap of this length";
    } else if (!(b = roaring_bitmap_portable_deserialize_safe(blob, len))) {
        what = "not a portable bitmap (or out of memory)";
    } else if ((what = bitmap_invalid(b)) != NULL) {
        roaring_bitmap_free(b);
        b = NULL;
    }
    if (why)
        *why = what;
    return b;
}

void bitmap_free(roaring_bitmap_t *b) {
    if (b)
        roaring_bitmap_free(b);
}

size_t bitmap_mem_bytes(const roaring_bitmap_t *b) {
    if (!b)
        return 0;
    roaring_statistics_t st;
    roaring_bitmap_statistics(b, &st);
    return (size_t)st.n_bytes_array_containers + st.n_bytes_run_containers +
           st.n_bytes_bitset_containers;
}
