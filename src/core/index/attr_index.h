/*
 * attr_index.h — in-memory indexes of one workspace's custom attributes, for segment filters.
 * Per attribute name: a bitmap of the users that have it, and one bitmap per distinct scalar
 * value (and per distinct array element), keyed by the value's canonical JSON text (numbers
 * written without a fraction when integral, so 3 and 3.0 are one value).
 *
 * Costs: equals / exists are a map probe and a bitmap copy; gt / gte / lt / lte and string
 * `contains` visit every distinct value of the attribute (fine for low-cardinality attributes,
 * linear in distinct values otherwise). Memory: a Roaring bitmap per distinct value, so a
 * unique-per-user attribute costs roughly one small bitmap per user.
 * Not thread-safe: the workspace lock guards it.
 */
#ifndef COHORTD_CORE_INDEX_ATTR_INDEX_H
#define COHORTD_CORE_INDEX_ATTR_INDEX_H

#include <jansson.h>
#include <roaring/roaring.h>
#include <stdint.h>

#include "core/index/strmap.h"
#include "core/index/undo.h"

struct attr_values {
    roaring_bitmap_t *exists;
    struct strmap eq;   /* canonical scalar text -> bitmap index */
    struct strmap elem; /* canonical array element text -> bitmap index */
    roaring_bitmap_t **bitmaps;
    size_t n_bitmaps;
    size_t bitmaps_cap;
};

struct attr_index {
    struct strmap names;    /* attribute name -> index in v */
    struct attr_values **v; /* each on its own, so journal entries may point at one */
    size_t n;
    size_t cap;
    char **name_list;  /* names in first-seen order */
    struct undo *undo; /* the open write's journal, or NULL (see undo.h) */
};

enum attr_cmp { ATTR_GT, ATTR_GTE, ATTR_LT, ATTR_LTE };

/* Bytes the index holds: its maps, value bitmaps and tables (for /metrics). */
size_t attr_index_bytes(const struct attr_index *ix);

void attr_index_init(struct attr_index *ix);
void attr_index_free(struct attr_index *ix);

/* Moves uid from the values of `old` (may be NULL) to those of `now` (may be NULL).
 * Returns 0 or -1 (no memory: the index may hold part of the change; under a journal the
 * write's rollback puts it back). */
int attr_index_set(struct attr_index *ix, uint32_t uid, const json_t *old, const json_t *now);

/* Takes the users of `gone` out of every bitmap (a snapshot load about to load them again);
 * the values stay, with fewer (maybe no) users. No journal: for an index nobody reads yet. */
void attr_index_drop_users(struct attr_index *ix, const roaring_bitmap_t *gone);

/* New bitmaps (caller frees); empty when the attribute is unknown. */
roaring_bitmap_t *attr_index_exists(const struct attr_index *ix, const char *name);
roaring_bitmap_t *attr_index_equals(const struct attr_index *ix, const char *name,
                                    const json_t *value);
roaring_bitmap_t *attr_index_compare(const struct attr_index *ix, const char *name,
                                     enum attr_cmp cmp, double value);
/* The index's own bitmap of the users whose attribute name equals value (NULL when there is
 * none): read-only, valid until the index next changes. attr_index_equals copies it. */
const roaring_bitmap_t *attr_index_equals_ref(const struct attr_index *ix, const char *name,
                                              const json_t *value);
/* A string attribute containing the text, or an array attribute holding the value. */
roaring_bitmap_t *attr_index_contains(const struct attr_index *ix, const char *name,
                                      const json_t *value);

#endif
