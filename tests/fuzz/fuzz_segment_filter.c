/*
 * fuzz_segment_filter.c — libFuzzer driver for the segment filter (core/segments/
 * segment_filter.c): the input is the JSON of a filter, as POST /segments/create and
 * /segments/preview receive it. A filter that parses is taken through its stored form (to JSON,
 * dumped as segments.c stores it, loaded and parsed again) and must come back the same;
 * it is described, and evaluated over a small fixed workspace (live, deleted, identified and
 * anonymous users, two cohorts, attributes of every kind, events), where its audience must hold
 * only live users and its negation must be exactly the live users outside it.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/segments/segment_filter.h"
#include "core/workspace/workspace_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_USERS 40
#define NOW_MS 1800000000000LL

static struct workspace ws;
static bool ready;

/* Users 1..N_USERS: every 7th deleted, every 3rd anonymous; in cohort heap/1338065 the even
 * ones, in heap/7 every 5th; attributes plan (string), age (number), vip (bool), tags (array);
 * "buy" events at different times. */
static void build(void) {
    identity_init(&ws.ident);
    cohort_set_init(&ws.cohorts);
    attr_index_init(&ws.attrs);
    event_index_init(&ws.events);
    struct cohort *c1 = cohort_set_add(&ws.cohorts, "heap", "1338065");
    struct cohort *c2 = cohort_set_add(&ws.cohorts, "heap", "7");
    static const char *const plans[] = {"free", "trial", "pro", "Free Customers"};
    for (uint32_t u = 1; u <= N_USERS; u++) {
        uint8_t bid[12] = {(uint8_t)u};
        char ext[16];
        snprintf(ext, sizeof ext, "user_%u", u);
        bool anon = u % 3 == 0;
        identity_add_user(&ws.ident, u, bid, anon ? NULL : ext, anon, false);
        if (u % 2 == 0)
            roaring_bitmap_add(c1->members, u);
        if (u % 5 == 0)
            roaring_bitmap_add(c2->members, u);
        json_t *attrs = json_pack("{s:s, s:i, s:b, s:[s, i]}", "plan", plans[u % 4], "age",
                                  (int)(u * 3 % 90), "vip", u % 4 == 1, "tags", "a", (int)u % 3);
        if (u % 6 == 0)
            json_object_set_new(attrs, "score", json_real(u / 7.0));
        attr_index_set(&ws.attrs, u, NULL, attrs);
        if (u % 2)
            event_index_bump(&ws.events, "buy", u, u % 4 + 1, NOW_MS - (int64_t)u * 86400000LL);
        if (u % 7 == 0) {
            /* as a real delete: out of every cohort too (cohort members are live users) */
            identity_kill_user(&ws.ident, u);
            roaring_bitmap_remove(c1->members, u);
            roaring_bitmap_remove(c2->members, u);
            attr_index_set(&ws.attrs, u, attrs, NULL);
            event_index_drop_user(&ws.events, u);
        }
        json_decref(attrs);
    }
    ready = true;
}

static void fail(const char *what, const json_t *filter) {
    char *text = json_dumps(filter, JSON_ENCODE_ANY | JSON_COMPACT);
    fprintf(stderr, "fuzz_segment_filter: %s for %s\n", what, text ? text : "(unprintable)");
    free(text);
    abort();
}

/* Audience checks: within the live users, and NOT gives exactly the rest of them. */
static void check_eval(const struct seg_node *n, const json_t *filter) {
    roaring_bitmap_t *in = segment_eval(n, &ws, NOW_MS);
    if (!roaring_bitmap_is_subset(in, ws.ident.live))
        fail("an audience holds users that are not live", filter);
    struct seg_node *kids[1] = {(struct seg_node *)n};
    struct seg_node not_node = {.kind = SEG_NOT, .path = "filter", .kids = kids, .n_kids = 1};
    roaring_bitmap_t *out = segment_eval(&not_node, &ws, NOW_MS);
    roaring_bitmap_t *all = roaring_bitmap_or(in, out);
    if (roaring_bitmap_intersect(in, out) || !roaring_bitmap_equals(all, ws.ident.live))
        fail("a filter and its negation do not split the live users", filter);
    roaring_bitmap_free(all);
    roaring_bitmap_free(out);
    roaring_bitmap_free(in);
}

/* to JSON, dumped as segments.c stores it, loaded, parsed: the same tree (same JSON again). */
static void check_stored_form(const struct seg_node *n, const json_t *filter) {
    json_t *j1 = segment_filter_to_json(n);
    if (!j1)
        fail("a parsed filter has no JSON form", filter);
    char *text = json_dumps(j1, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_t *loaded = text ? json_loads(text, 0, NULL) : NULL;
    if (!loaded)
        fail("the stored form does not load", filter);
    char err[512];
    struct seg_node *again = segment_filter_parse(loaded, NULL, err, sizeof err);
    if (!again)
        fail("the stored form does not parse back", filter);
    json_t *j2 = segment_filter_to_json(again);
    if (!j2 || !json_equal(j1, j2))
        fail("the stored form parses into another filter", filter);
    json_decref(j2);
    segment_filter_free(again);
    json_decref(loaded);
    free(text);
    json_decref(j1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ready)
        build();
    json_t *filter =
        json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (!filter)
        return 0;
    char err[512];
    /* creation time: only the workspace's cohorts; stored filters: any cohort */
    struct seg_node *strict = segment_filter_parse(filter, &ws.cohorts, err, sizeof err);
    bool strict_ok = strict != NULL;
    if (!strict_ok && !*err)
        fail("a refusal without a message", filter);
    segment_filter_free(strict);
    struct seg_node *n = segment_filter_parse(filter, NULL, err, sizeof err);
    if (n) {
        check_stored_form(n, filter);
        char *text = segment_describe(n, &ws.cohorts);
        if (!text)
            fail("no description", filter);
        free(text);
        char **missing = NULL;
        size_t n_missing = 0;
        if (segment_missing_cohorts(n, &ws.cohorts, &missing, &n_missing) != 0)
            fail("missing cohorts failed", filter);
        /* the lenient tree parsed, so the strict parse can only have failed on a cohort */
        bool known = segment_filter_check_cohorts(n, &ws.cohorts, err, sizeof err) == 0;
        if (known != strict_ok || known != (n_missing == 0))
            fail("the cohort checks disagree", filter);
        for (size_t i = 0; i < n_missing; i++)
            free(missing[i]);
        free(missing);
        check_eval(n, filter);
        segment_filter_free(n);
    }
    json_decref(filter);
    return 0;
}
