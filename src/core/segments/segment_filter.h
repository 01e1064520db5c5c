/*
 * segment_filter.h — the segment filter language: parsing JSON into a tree with strict
 * validation (unknown keys, operators, value types, cohorts, nesting past SEGMENT_MAX_DEPTH are
 * refused with a message that names the part, e.g. "filter.and[1].op: …"), and evaluation of a
 * tree into the exact audience bitmap of a workspace.
 *
 *   filter := {"and": [filter, …]} | {"or": [filter, …]} | {"not": filter}
 *           | {"cohort": {"partner", "cohort_id"}, "op": "includes" | "excludes"}
 *           | {"identified": true | false}
 *           | {"attribute": NAME, "op": equals | not_equals | exists | not_exists | gt | gte
 *                                  | lt | lte | contains, "value": V}
 *           | {"event": NAME, "op": performed | not_performed, "min_count"?, "within_days"?}
 *
 * Evaluation costs: cohort and identity filters are bitmap copies and AND / OR / ANDNOT;
 * NOT is `live ANDNOT x`; attribute and event filters cost what attr_index.h and
 * event_index.h say. not_equals means "has the attribute with another value".
 */
#ifndef COHORTD_CORE_SEGMENTS_SEGMENT_FILTER_H
#define COHORTD_CORE_SEGMENTS_SEGMENT_FILTER_H

#include <jansson.h>
#include <roaring/roaring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/workspace/workspace.h"

#define SEGMENT_MAX_DEPTH 10
#define SEGMENT_MAX_NODES 200

enum seg_kind { SEG_AND, SEG_OR, SEG_NOT, SEG_COHORT, SEG_IDENTIFIED, SEG_ATTR, SEG_EVENT };

enum seg_attr_op {
    SEG_EQUALS,
    SEG_NOT_EQUALS,
    SEG_EXISTS,
    SEG_NOT_EXISTS,
    SEG_GT,
    SEG_GTE,
    SEG_LT,
    SEG_LTE,
    SEG_CONTAINS
};

struct seg_node {
    enum seg_kind kind;
    struct seg_node **kids; /* and / or / not */
    size_t n_kids;
    const char *partner;   /* cohort (borrowed from the filter JSON) */
    const char *cohort_id; /* cohort */
    bool negate;           /* cohort excludes, identified false, event not_performed */
    const char *name;      /* attribute or event name */
    enum seg_attr_op op;
    const json_t *value; /* attribute value */
    int64_t min_count;   /* event, default 1 */
    int64_t within_days; /* event, 0 = any time */
};

/*
 * Parses `filter` (borrowed: the tree points into it, keep it alive). With `cohorts`, a cohort
 * not in the set is an error (creation time); without, any cohort is accepted (stored filters
 * keep working after a cohort is gone). Returns NULL with `err` set on invalid input.
 */
struct seg_node *segment_filter_parse(const json_t *filter, const struct cohort_set *cohorts,
                                      char *err, size_t err_len);
void segment_filter_free(struct seg_node *node);

/* The audience (new bitmap). Caller holds the workspace read or write lock. */
roaring_bitmap_t *segment_eval(const struct seg_node *node, const struct workspace *ws,
                               int64_t now_ms);

/* Appends to `out` (a JSON array) every "partner/cohort_id" the filter names that the set does
 * not hold. */
void segment_missing_cohorts(const struct seg_node *node, const struct cohort_set *cohorts,
                             json_t *out);

/* A human-readable rendering ("Heap Cohorts includes Free Customers AND …"), malloc'd. */
char *segment_describe(const struct seg_node *node, const struct cohort_set *cohorts);

#endif
