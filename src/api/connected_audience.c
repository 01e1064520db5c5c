/*
 * connected_audience.c — a connected audience object into a segment filter: the Braze JSON is
 * rewritten into the segment filter's JSON ({"and"}, {"or"}, {"not"}, attribute leaves), each
 * leaf is checked alone so a fault is named by its Braze path, and the whole is parsed once into
 * the tree core evaluates. Braze's comparisons cohortd cannot evaluate (regular expressions,
 * times relative to now, subscription states, last used app) are refused with a 400 naming
 * them, never ignored. Cost: linear in the object.
 */
#include "api/connected_audience.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "api/limits.h"

/* Braze's comparison → the segment filter's op; negate wraps the leaf in "not". */
static const struct {
    const char *comparison;
    const char *op;
    bool negate;
} comparisons[] = {
    {"equals", "equals", false},
    {"not_equal", "not_equals", false},
    {"does_not_equal", "not_equals", false},
    {"exists", "exists", false},
    {"does_not_exist", "not_exists", false},
    {"greater_than", "gt", false},
    {"greater_than_or_equal_to", "gte", false},
    {"less_than", "lt", false},
    {"less_than_or_equal_to", "lte", false},
    {"includes_value", "contains", false},
    {"does_not_include_value", "contains", true},
};

/* Braze's filters and comparisons that cohortd does not evaluate. */
static const char *const unsupported_filters[] = {
    "push_subscription_status", "email_subscription_status", "last_used_app", NULL};

static bool in_list(const char *const *list, const char *s) {
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

static json_t *fail(char *err, size_t err_len, const char *path, const char *what) {
    snprintf(err, err_len, "%s%s", path, what);
    return NULL;
}

/* A leaf's segment filter JSON is parsed alone: its fault, if any, named by the Braze path. */
static json_t *checked_leaf(json_t *leaf, const char *path, char *err, size_t err_len) {
    char msg[512];
    struct seg_node *n = leaf ? segment_filter_parse(leaf, NULL, msg, sizeof msg) : NULL;
    if (!leaf)
        return fail(err, err_len, path, ": out of memory");
    if (!n) {
        json_decref(leaf);
        /* the parser names the leaf "filter…": put the Braze path there instead */
        const char *rest = strncmp(msg, "filter", 6) == 0 ? msg + 6 : msg;
        snprintf(err, err_len, "%s%s", path, rest);
        return NULL;
    }
    segment_filter_free(n);
    return leaf;
}

static json_t *custom_attribute(const json_t *ca, const char *path, char *err, size_t err_len) {
    char where[256];
    snprintf(where, sizeof where, "%s.custom_attribute", path);
    if (!json_is_object(ca))
        return fail(err, err_len, where, ": must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)ca, key, v) {
        if (strcmp(key, "custom_attribute_name") != 0 && strcmp(key, "comparison") != 0 &&
            strcmp(key, "value") != 0) {
            snprintf(err, err_len, "%s: unknown key '%.64s'", where, key);
            return NULL;
        }
    }
    const char *name = json_string_value(json_object_get(ca, "custom_attribute_name"));
    const char *cmp = json_string_value(json_object_get(ca, "comparison"));
    const json_t *value = json_object_get(ca, "value");
    if (!name || !*name)
        return fail(err, err_len, where, ".custom_attribute_name: must be a non-empty string");
    if (strlen(name) > LIMIT_ATTRIBUTE_NAME) {
        snprintf(err, err_len, "%s.custom_attribute_name is longer than %d bytes", where,
                 LIMIT_ATTRIBUTE_NAME);
        return NULL;
    }
    if (!cmp)
        return fail(err, err_len, where, ".comparison: must be a string");
    size_t k = 0;
    while (k < sizeof comparisons / sizeof comparisons[0] &&
           strcmp(comparisons[k].comparison, cmp) != 0)
        k++;
    if (k == sizeof comparisons / sizeof comparisons[0]) {
        snprintf(err, err_len,
                 "%s.comparison: '%.64s' is not supported (equals, not_equal, does_not_equal, "
                 "exists, does_not_exist, greater_than, greater_than_or_equal_to, less_than, "
                 "less_than_or_equal_to, includes_value, does_not_include_value)",
                 where, cmp);
        return NULL;
    }
    bool has_value =
        strcmp(comparisons[k].op, "exists") != 0 && strcmp(comparisons[k].op, "not_exists") != 0;
    if (has_value && !value)
        return fail(err, err_len, where, ".value: is required");
    if (json_is_string(value) && json_string_length(value) > LIMIT_STRING_VALUE) {
        snprintf(err, err_len, "%s.value is longer than %d bytes", where, LIMIT_STRING_VALUE);
        return NULL;
    }
    json_t *leaf = json_pack("{s:s, s:s}", "attribute", name, "op", comparisons[k].op);
    if (leaf && has_value)
        json_object_set(leaf, "value", (json_t *)value);
    if (!(leaf = checked_leaf(leaf, where, err, err_len)))
        return NULL;
    if (!comparisons[k].negate)
        return leaf;
    json_t *neg = json_pack("{s:o}", "not", leaf);
    return neg ? neg : fail(err, err_len, where, ": out of memory");
}

static json_t *translate(const json_t *a, const char *path, int depth, char *err, size_t err_len) {
    if (depth > LIMIT_FILTER_DEPTH) {
        snprintf(err, err_len, "%s: nested deeper than %d", path, LIMIT_FILTER_DEPTH);
        return NULL;
    }
    if (!json_is_object(a) || json_object_size(a) == 0)
        return fail(err, err_len, path, ": must be a non-empty object");
    const json_t *and = json_object_get(a, "AND"), * or = json_object_get(a, "OR");
    const json_t *ca = json_object_get(a, "custom_attribute");
    if (and || or || ca) {
        if (json_object_size(a) != 1)
            return fail(err, err_len, path, ": must hold one of AND, OR, custom_attribute alone");
        if (ca)
            return custom_attribute(ca, path, err, err_len);
        const json_t *list = and? and : or ;
        const char *word = and? "AND" : "OR";
        char where[256];
        snprintf(where, sizeof where, "%s.%s", path, word);
        if (!json_is_array(list) || json_array_size(list) == 0)
            return fail(err, err_len, where, ": must be a non-empty array");
        json_t *kids = json_array();
        if (!kids)
            return fail(err, err_len, where, ": out of memory");
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v) {
            char kid_path[300];
            snprintf(kid_path, sizeof kid_path, "%s[%zu]", where, i);
            json_t *kid = translate(v, kid_path, depth + 1, err, err_len);
            if (!kid || json_array_append_new(kids, kid) != 0) {
                json_decref(kids);
                return kid ? fail(err, err_len, where, ": out of memory") : NULL;
            }
        }
        json_t *group = json_pack("{s:o}", and? "and" : "or", kids);
        return group ? group : fail(err, err_len, where, ": out of memory");
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)a, key, v) {
        if (in_list(unsupported_filters, key)) {
            snprintf(err, err_len, "%s.%s: not supported; filter on attributes, events or cohorts",
                     path, key);
            return NULL;
        }
    }
    /* one of cohortd's own filters: {"cohort": …}, {"event": …}, {"identified": …}, … */
    return checked_leaf(json_deep_copy(a), path, err, err_len);
}

struct seg_node *api_connected_audience_parse(const json_t *audience, char *err, size_t err_len) {
    json_t *filter = translate(audience, "audience", 1, err, err_len);
    if (!filter)
        return NULL;
    char msg[512];
    struct seg_node *n = segment_filter_parse(filter, NULL, msg, sizeof msg);
    if (!n) /* every leaf parsed alone; only the whole's size can fail here */
        snprintf(err, err_len, "audience: %s", msg);
    json_decref(filter);
    return n;
}
