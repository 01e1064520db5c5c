/*
 * bitmap.h — Roaring bitmaps to and from the portable form the store keeps (cohort checkpoints
 * and logs, campaign audiences and targets), and a free that accepts NULL. A blob read back is
 * checked, not trusted: one that breaks the format's invariants is refused with a reason.
 */
#ifndef COHORTD_CORE_INDEX_BITMAP_H
#define COHORTD_CORE_INDEX_BITMAP_H

#include <roaring/roaring.h>
#include <stddef.h>

/* The portable serialisation of b (malloc'd, *len set; an empty bitmap gives a short blob, not
 * NULL), or NULL when out of memory. */
void *bitmap_to_blob(const roaring_bitmap_t *b, size_t *len);

/*
 * The bitmap of a portable blob (owned by the caller), or NULL when blob is NULL, out of
 * memory, or not exactly one valid bitmap: a blob that does not deserialise, has bytes after
 * the bitmap, or deserialises into containers that break Roaring's invariants (keys in order,
 * array values strictly increasing, a bitset's cardinality matching its bits, runs within
 * their container, in order and not overlapping, no empty container). Operations on such a
 * bitmap would be undefined, so it is never handed out. With why, *why is set to a static text
 * saying what is wrong ("array container values out of order", …), or NULL on success.
 * Cost: one pass over the blob and one over each container (a bitset: 1024 words).
 */
roaring_bitmap_t *bitmap_from_blob(const void *blob, size_t len, const char **why);

/* roaring_bitmap_free that accepts NULL (this CRoaring's does not). */
void bitmap_free(roaring_bitmap_t *b);

/* Bytes the containers of b hold (0 for NULL); one pass over its containers. */
size_t bitmap_mem_bytes(const roaring_bitmap_t *b);

#endif
