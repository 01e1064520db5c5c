/*
 * segment_filter.h — the segment filter, the domain object of a segment: a tree (struct
 * seg_node) of and / or / not over cohort, identity, attribute and event leaves, its
 * evaluation into the exact audience bitmap of a workspace, and its JSON codec. The JSON is
 * both the wire form of a filter and its stored form (segments.filter, written by
 * segment_filter_to_json and read back by segment_filter_parse). Parsing validates strictly
 * (unknown keys, operators, value types, cohorts, nesting past SEGMENT_MAX_DEPTH are refused
 * with a message that names the part, e.g. "filter.and[1].op: …"); a tree owns its strings.
 *
 *   filter := {"and": [filter, …]} | {"or": [filter, …]} | {"not": filter}
 *           | {"cohort": {"partner", "cohort_id"}, "op": "includes" | "excludes"}
 *           | {"identified": true | false}
 *           | {"attribute": NAME, "op": equals | not_equals | exists | not_exists | gt | gte
 *                                  | lt | lte | contains, "value": V}
 *           | {"profile": FIELD, "op": …, "value": V}   (a standard profile field, as attribute)
 *           | {"event": NAME, "op": performed | not_performed, "min_count"?, "within_days"?}
 *
 * Evaluation costs (segment_eval.c): cohort and identity leaves borrow the index's bitmaps (no
 * copy); AND / OR / NOT combine them with at most one intermediate per and / or node, NOT being
 * `live ANDNOT x` only when the audience is built; attribute and event filters cost what
 * attr_index.h and event_index.h say. not_equals means "has the attribute with another value".
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
    char *path; /* where the node is in the filter JSON: "filter.and[1]" (for messages) */
    struct seg_node **kids; /* and / or / not */
    size_t n_kids;
    char *partner;   /* cohort */
    char *cohort_id; /* cohort */
    bool negate;     /* cohort excludes, identified false, event not_performed */
    char *name;      /* attribute, profile field or event name */
    bool profile;    /* attribute: written as a "profile" filter (name is a profile field) */
    enum seg_attr_op op;
    json_t *value;       /* attribute value (a reference the node holds), NULL for exists */
    int64_t min_count;   /* event, default 1 */
    int64_t within_days; /* event, 0 = any time */
};

/*
 * Parses `filter` into a new tree (it copies what it keeps). With `cohorts`, a cohort not in
 * the set is an error (creation time); without, any cohort is accepted (stored filters keep
 * working after a cohort is gone). Returns NULL with `err` set on invalid input.
 */
struct seg_node *segment_filter_parse(const json_t *filter, const struct cohort_set *cohorts,
                                      char *err, size_t err_len);
void segment_filter_free(struct seg_node *node);

/* The filter as JSON (new reference): the stored form, which segment_filter_parse reads back
 * into the same tree. min_count 1 and within_days 0 (the defaults) are left out. */
json_t *segment_filter_to_json(const struct seg_node *node);

/* 0 when every cohort the filter names is in `cohorts`, else -1 with err
 * "<path>.cohort: no such cohort" for the first one that is not. */
int segment_filter_check_cohorts(const struct seg_node *node, const struct cohort_set *cohorts,
                                 char *err, size_t err_len);

/* Calls fn on every node, parents before children; stops at the first non-zero answer and
 * returns it. */
int segment_filter_walk(const struct seg_node *node,
                        int (*fn)(void *ctx, const struct seg_node *node), void *ctx);

/* The audience (new bitmap; NULL when out of memory). Caller holds the workspace read or write
 * lock. */
roaring_bitmap_t *segment_eval(const struct seg_node *node, const struct workspace *ws,
                               int64_t now_ms);

/* The audience's size (*size), the same as the cardinality of segment_eval's bitmap but
 * counted with cardinality-only operations where the filter allows (no bitmap of the audience is
 * built for a cohort, "cohort AND NOT cohort", or an AND whose last step is one operation).
 * Returns 0, or -1 when out of memory. Caller holds the workspace read or write lock. */
int segment_size(const struct seg_node *node, const struct workspace *ws, int64_t now_ms,
                 uint64_t *size);

#ifdef COHORTD_FAULTS
/* Test builds: which pass segment_size counts chunks with. BEST is what this CPU runs best (the
 * 512-bit pass where AVX-512 with its popcount is present); the others force a narrower one, so
 * that a test on any CPU checks each pass it can run. */
enum segment_pass { SEGMENT_PASS_BEST, SEGMENT_PASS_POPCNT, SEGMENT_PASS_PLAIN };
void segment_force_pass(enum segment_pass pass);
#endif

/* Every "partner/cohort_id" the filter names that the set does not hold, malloc'd strings in
 * *out (malloc'd array, *n of them); -1 when out of memory. */
int segment_missing_cohorts(const struct seg_node *node, const struct cohort_set *cohorts,
                            char ***out, size_t *n);

/* A human-readable rendering ("Heap Cohorts includes Free Customers AND …"), malloc'd. */
char *segment_describe(const struct seg_node *node, const struct cohort_set *cohorts);

#endif
