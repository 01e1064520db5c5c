/*
 * bitmap.h — Roaring bitmaps to and from the portable form the store keeps (cohort checkpoints
 * and logs, campaign audiences and targets), and a free that accepts NULL.
 */
#ifndef COHORTD_CORE_INDEX_BITMAP_H
#define COHORTD_CORE_INDEX_BITMAP_H

#include <roaring/roaring.h>
#include <stddef.h>

/* The portable serialisation of b (malloc'd, *len set; an empty bitmap gives a short blob, not
 * NULL), or NULL when out of memory. */
void *bitmap_to_blob(const roaring_bitmap_t *b, size_t *len);

/* The bitmap of a portable blob; NULL when blob is NULL or not a valid bitmap. */
roaring_bitmap_t *bitmap_from_blob(const void *blob, size_t len);

/* roaring_bitmap_free that accepts NULL (this CRoaring's does not). */
void bitmap_free(roaring_bitmap_t *b);

#endif
