/* segment_filter.c — parsing, evaluating and describing segment filters (see
 * segment_filter.h). Memory only; touches the workspace's indexes read-only. */
#include "core/segments/segment_filter.h"
#include "core/workspace/workspace_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    const struct cohort_set *cohorts;
    char *err;
    size_t err_len;
    int n_nodes;
};

static struct seg_node *fail(struct parser *p, const char *path, const char *what) {
    if (!*p->err)
        snprintf(p->err, p->err_len, "%s: %s", path, what);
    return NULL;
}

/* True when obj has only keys from the NULL-terminated list. */
static const char *unknown_key(const json_t *obj, const char *const *allowed) {
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        (void)v;
        int ok = 0;
        for (int i = 0; allowed[i]; i++)
            ok = ok || strcmp(key, allowed[i]) == 0;
        if (!ok)
            return key;
    }
    return NULL;
}

static struct seg_node *parse(struct parser *p, const json_t *f, const char *path, int depth);

static struct seg_node *node_new(struct parser *p, enum seg_kind kind, const char *path) {
    if (++p->n_nodes > SEGMENT_MAX_NODES)
        return fail(p, path, "a filter holds at most 200 conditions");
    struct seg_node *n = calloc(1, sizeof *n);
    if (n)
        n->kind = kind;
    return n;
}

static struct seg_node *parse_list(struct parser *p, const json_t *f, const char *key,
                                   enum seg_kind kind, const char *path, int depth) {
    const json_t *arr = json_object_get(f, key);
    char sub[512];
    snprintf(sub, sizeof sub, "%s.%s", path, key);
    if (json_object_size(f) != 1)
        return fail(p, path, "an \"and\" or \"or\" object holds no other key");
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return fail(p, sub, "must be a non-empty array of filters");
    struct seg_node *n = node_new(p, kind, path);
    if (!n)
        return NULL;
    n->kids = calloc(json_array_size(arr), sizeof(void *));
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v) {
        char item[600];
        snprintf(item, sizeof item, "%s[%zu]", sub, i);
        n->kids[n->n_kids] = parse(p, v, item, depth + 1);
        if (!n->kids[n->n_kids]) {
            segment_filter_free(n);
            return NULL;
        }
        n->n_kids++;
    }
    return n;
}

static struct seg_node *parse_cohort(struct parser *p, const json_t *f, const char *path) {
    static const char *const keys[] = {"cohort", "op", NULL};
    static const char *const ref_keys[] = {"partner", "cohort_id", NULL};
    const char *bad = unknown_key(f, keys);
    const json_t *ref = json_object_get(f, "cohort");
    const char *op = json_string_value(json_object_get(f, "op"));
    char sub[512];
    snprintf(sub, sizeof sub, "%s.cohort", path);
    if (bad)
        return fail(p, path, "unknown key in a cohort filter");
    if (!json_is_object(ref) || unknown_key(ref, ref_keys) ||
        !json_string_value(json_object_get(ref, "partner")) ||
        !json_string_value(json_object_get(ref, "cohort_id")))
        return fail(p, sub, "must be {\"partner\": string, \"cohort_id\": string}");
    snprintf(sub, sizeof sub, "%s.op", path);
    if (!op || (strcmp(op, "includes") != 0 && strcmp(op, "excludes") != 0))
        return fail(p, sub, "must be \"includes\" or \"excludes\"");
    const char *partner = json_string_value(json_object_get(ref, "partner"));
    const char *cohort_id = json_string_value(json_object_get(ref, "cohort_id"));
    if (p->cohorts && !cohort_find(p->cohorts, partner, cohort_id)) {
        snprintf(sub, sizeof sub, "%s.cohort", path);
        return fail(p, sub, "no such cohort");
    }
    struct seg_node *n = node_new(p, SEG_COHORT, path);
    if (n) {
        n->partner = partner;
        n->cohort_id = cohort_id;
        n->negate = strcmp(op, "excludes") == 0;
    }
    return n;
}

static const struct {
    const char *name;
    enum seg_attr_op op;
} attr_ops[] = {{"equals", SEG_EQUALS},
                {"not_equals", SEG_NOT_EQUALS},
                {"exists", SEG_EXISTS},
                {"not_exists", SEG_NOT_EXISTS},
                {"gt", SEG_GT},
                {"gte", SEG_GTE},
                {"lt", SEG_LT},
                {"lte", SEG_LTE},
                {"contains", SEG_CONTAINS}};

static struct seg_node *parse_attr(struct parser *p, const json_t *f, const char *path) {
    static const char *const keys[] = {"attribute", "op", "value", NULL};
    const char *name = json_string_value(json_object_get(f, "attribute"));
    const char *op = json_string_value(json_object_get(f, "op"));
    const json_t *value = json_object_get(f, "value");
    char sub[512];
    if (unknown_key(f, keys))
        return fail(p, path, "unknown key in an attribute filter");
    snprintf(sub, sizeof sub, "%s.attribute", path);
    if (!name || !*name)
        return fail(p, sub, "must be a non-empty string");
    int k = -1;
    for (size_t i = 0; op && i < sizeof attr_ops / sizeof attr_ops[0]; i++)
        if (strcmp(op, attr_ops[i].name) == 0)
            k = (int)i;
    snprintf(sub, sizeof sub, "%s.op", path);
    if (k < 0)
        return fail(p, sub,
                    "must be one of equals, not_equals, exists, not_exists, gt, gte, lt, lte, "
                    "contains");
    enum seg_attr_op aop = attr_ops[k].op;
    snprintf(sub, sizeof sub, "%s.value", path);
    bool numeric = aop == SEG_GT || aop == SEG_GTE || aop == SEG_LT || aop == SEG_LTE;
    bool scalar = json_is_string(value) || json_is_number(value) || json_is_boolean(value);
    if (aop == SEG_EXISTS || aop == SEG_NOT_EXISTS) {
        if (value)
            return fail(p, sub, "exists and not_exists take no value");
    } else if (numeric && !json_is_number(value)) {
        return fail(p, sub, "must be a number for gt, gte, lt and lte");
    } else if (!numeric && !scalar) {
        return fail(p, sub, "must be a string, a number or a boolean");
    }
    struct seg_node *n = node_new(p, SEG_ATTR, path);
    if (n) {
        n->name = name;
        n->op = aop;
        n->value = value;
    }
    return n;
}

static struct seg_node *parse_event(struct parser *p, const json_t *f, const char *path) {
    static const char *const keys[] = {"event", "op", "min_count", "within_days", NULL};
    const char *name = json_string_value(json_object_get(f, "event"));
    const char *op = json_string_value(json_object_get(f, "op"));
    const json_t *mc = json_object_get(f, "min_count");
    const json_t *wd = json_object_get(f, "within_days");
    char sub[512];
    if (unknown_key(f, keys))
        return fail(p, path, "unknown key in an event filter");
    snprintf(sub, sizeof sub, "%s.event", path);
    if (!name || !*name)
        return fail(p, sub, "must be a non-empty string");
    snprintf(sub, sizeof sub, "%s.op", path);
    if (!op || (strcmp(op, "performed") != 0 && strcmp(op, "not_performed") != 0))
        return fail(p, sub, "must be \"performed\" or \"not_performed\"");
    snprintf(sub, sizeof sub, "%s.min_count", path);
    if (mc &&
        (!json_is_integer(mc) || json_integer_value(mc) < 1 || json_integer_value(mc) > 1000000000))
        return fail(p, sub, "must be a positive integer");
    snprintf(sub, sizeof sub, "%s.within_days", path);
    if (wd &&
        (!json_is_integer(wd) || json_integer_value(wd) < 1 || json_integer_value(wd) > 36500))
        return fail(p, sub, "must be an integer from 1 to 36500");
    struct seg_node *n = node_new(p, SEG_EVENT, path);
    if (n) {
        n->name = name;
        n->negate = strcmp(op, "not_performed") == 0;
        n->min_count = mc ? json_integer_value(mc) : 1;
        n->within_days = wd ? json_integer_value(wd) : 0;
    }
    return n;
}

static struct seg_node *parse(struct parser *p, const json_t *f, const char *path, int depth) {
    if (depth > SEGMENT_MAX_DEPTH)
        return fail(p, path, "filters nest at most 10 deep");
    if (!json_is_object(f))
        return fail(p, path, "must be an object");
    if (json_object_get(f, "and"))
        return parse_list(p, f, "and", SEG_AND, path, depth);
    if (json_object_get(f, "or"))
        return parse_list(p, f, "or", SEG_OR, path, depth);
    if (json_object_get(f, "not")) {
        char sub[512];
        snprintf(sub, sizeof sub, "%s.not", path);
        if (json_object_size(f) != 1)
            return fail(p, path, "a \"not\" object holds no other key");
        struct seg_node *n = node_new(p, SEG_NOT, path);
        if (!n)
            return NULL;
        n->kids = calloc(1, sizeof(void *));
        n->kids[0] = parse(p, json_object_get(f, "not"), sub, depth + 1);
        n->n_kids = n->kids[0] ? 1 : 0;
        if (!n->n_kids) {
            segment_filter_free(n);
            return NULL;
        }
        return n;
    }
    if (json_object_get(f, "cohort"))
        return parse_cohort(p, f, path);
    if (json_object_get(f, "identified")) {
        const json_t *v = json_object_get(f, "identified");
        char sub[512];
        snprintf(sub, sizeof sub, "%s.identified", path);
        if (json_object_size(f) != 1)
            return fail(p, path, "an \"identified\" object holds no other key");
        if (!json_is_boolean(v))
            return fail(p, sub, "must be true or false");
        struct seg_node *n = node_new(p, SEG_IDENTIFIED, path);
        if (n)
            n->negate = json_is_false(v);
        return n;
    }
    if (json_object_get(f, "attribute"))
        return parse_attr(p, f, path);
    if (json_object_get(f, "event"))
        return parse_event(p, f, path);
    return fail(p, path,
                "must hold one of \"and\", \"or\", \"not\", \"cohort\", \"identified\", "
                "\"attribute\", \"event\"");
}

struct seg_node *segment_filter_parse(const json_t *filter, const struct cohort_set *cohorts,
                                      char *err, size_t err_len) {
    struct parser p = {cohorts, err, err_len, 0};
    err[0] = '\0';
    struct seg_node *n = parse(&p, filter, "filter", 1);
    if (!n && !*err)
        snprintf(err, err_len, "filter: out of memory");
    return n;
}

void segment_filter_free(struct seg_node *node) {
    if (!node)
        return;
    for (size_t i = 0; i < node->n_kids; i++)
        segment_filter_free(node->kids[i]);
    free(node->kids);
    free(node);
}

/* live ANDNOT b, consuming b */
static roaring_bitmap_t *complement(const struct workspace *ws, roaring_bitmap_t *b) {
    roaring_bitmap_t *out = roaring_bitmap_copy(ws->ident.live);
    roaring_bitmap_andnot_inplace(out, b);
    roaring_bitmap_free(b);
    return out;
}

static roaring_bitmap_t *eval_attr(const struct seg_node *n, const struct workspace *ws) {
    const struct attr_index *ix = &ws->attrs;
    switch (n->op) {
    case SEG_EQUALS:
        return attr_index_equals(ix, n->name, n->value);
    case SEG_NOT_EQUALS: {
        roaring_bitmap_t *has = attr_index_exists(ix, n->name);
        roaring_bitmap_t *eq = attr_index_equals(ix, n->name, n->value);
        roaring_bitmap_andnot_inplace(has, eq);
        roaring_bitmap_free(eq);
        return has;
    }
    case SEG_EXISTS:
        return attr_index_exists(ix, n->name);
    case SEG_NOT_EXISTS:
        return complement(ws, attr_index_exists(ix, n->name));
    case SEG_GT:
        return attr_index_compare(ix, n->name, ATTR_GT, json_number_value(n->value));
    case SEG_GTE:
        return attr_index_compare(ix, n->name, ATTR_GTE, json_number_value(n->value));
    case SEG_LT:
        return attr_index_compare(ix, n->name, ATTR_LT, json_number_value(n->value));
    case SEG_LTE:
        return attr_index_compare(ix, n->name, ATTR_LTE, json_number_value(n->value));
    case SEG_CONTAINS:
        break;
    }
    return attr_index_contains(ix, n->name, n->value);
}

roaring_bitmap_t *segment_eval(const struct seg_node *n, const struct workspace *ws,
                               int64_t now_ms) {
    roaring_bitmap_t *out = NULL;
    switch (n->kind) {
    case SEG_AND:
        out = segment_eval(n->kids[0], ws, now_ms);
        for (size_t i = 1; i < n->n_kids && !roaring_bitmap_is_empty(out); i++) {
            roaring_bitmap_t *k = segment_eval(n->kids[i], ws, now_ms);
            roaring_bitmap_and_inplace(out, k);
            roaring_bitmap_free(k);
        }
        return out;
    case SEG_OR:
        out = roaring_bitmap_create();
        for (size_t i = 0; i < n->n_kids; i++) {
            roaring_bitmap_t *k = segment_eval(n->kids[i], ws, now_ms);
            roaring_bitmap_or_inplace(out, k);
            roaring_bitmap_free(k);
        }
        return out;
    case SEG_NOT:
        return complement(ws, segment_eval(n->kids[0], ws, now_ms));
    case SEG_COHORT: {
        const struct cohort *c = cohort_find(&ws->cohorts, n->partner, n->cohort_id);
        out = c ? roaring_bitmap_and(c->members, ws->ident.live) : roaring_bitmap_create();
        return n->negate ? complement(ws, out) : out;
    }
    case SEG_IDENTIFIED:
        out = roaring_bitmap_copy(ws->ident.identified);
        return n->negate ? complement(ws, out) : out;
    case SEG_ATTR:
        out = eval_attr(n, ws);
        roaring_bitmap_and_inplace(out, ws->ident.live);
        return out;
    case SEG_EVENT: {
        int64_t since = n->within_days ? now_ms - n->within_days * 86400000LL : 0;
        out = event_index_performed(&ws->events, n->name, n->min_count, since);
        roaring_bitmap_and_inplace(out, ws->ident.live);
        return n->negate ? complement(ws, out) : out;
    }
    }
    return roaring_bitmap_create();
}

void segment_missing_cohorts(const struct seg_node *n, const struct cohort_set *cohorts,
                             json_t *out) {
    for (size_t i = 0; i < n->n_kids; i++)
        segment_missing_cohorts(n->kids[i], cohorts, out);
    if (n->kind == SEG_COHORT && !cohort_find(cohorts, n->partner, n->cohort_id)) {
        char ref[600];
        snprintf(ref, sizeof ref, "%s/%s", n->partner, n->cohort_id);
        json_array_append_new(out, json_string(ref));
    }
}

/* Appends text to a growing buffer. */
struct text {
    char *buf;
    size_t len, cap;
};

static void put(struct text *t, const char *s) {
    size_t n = strlen(s);
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 128;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *b = realloc(t->buf, cap);
        if (!b)
            return;
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n + 1);
    t->len += n;
}

static void describe(const struct seg_node *n, const struct cohort_set *cohorts, struct text *t,
                     int nested) {
    char buf[700];
    switch (n->kind) {
    case SEG_AND:
    case SEG_OR:
        if (nested)
            put(t, "(");
        for (size_t i = 0; i < n->n_kids; i++) {
            if (i)
                put(t, n->kind == SEG_AND ? " AND " : " OR ");
            describe(n->kids[i], cohorts, t, 1);
        }
        if (nested)
            put(t, ")");
        return;
    case SEG_NOT:
        put(t, "NOT ");
        describe(n->kids[0], cohorts, t, 1);
        return;
    case SEG_COHORT: {
        const struct cohort *c = cohort_find(cohorts, n->partner, n->cohort_id);
        char partner[40];
        snprintf(partner, sizeof partner, "%s", n->partner);
        partner[0] = (char)toupper((unsigned char)partner[0]);
        snprintf(buf, sizeof buf, "%s Cohorts %s %s", partner, n->negate ? "excludes" : "includes",
                 c && c->name ? c->name : n->cohort_id);
        put(t, buf);
        return;
    }
    case SEG_IDENTIFIED:
        put(t, n->negate ? "is anonymous" : "is identified");
        return;
    case SEG_ATTR: {
        char *v = n->value ? json_dumps(n->value, JSON_ENCODE_ANY) : NULL;
        snprintf(buf, sizeof buf, "%s %s%s%s", n->name, attr_ops[n->op].name, v ? " " : "",
                 v ? v : "");
        free(v);
        put(t, buf);
        return;
    }
    case SEG_EVENT:
        snprintf(buf, sizeof buf, "%s %s", n->name, n->negate ? "not performed" : "performed");
        put(t, buf);
        if (n->min_count > 1) {
            snprintf(buf, sizeof buf, " at least %lld times", (long long)n->min_count);
            put(t, buf);
        }
        if (n->within_days) {
            snprintf(buf, sizeof buf, " in the last %lld days", (long long)n->within_days);
            put(t, buf);
        }
        return;
    }
}

char *segment_describe(const struct seg_node *node, const struct cohort_set *cohorts) {
    struct text t = {0};
    describe(node, cohorts, &t, 0);
    if (!t.buf)
        return strdup("");
    return t.buf;
}
