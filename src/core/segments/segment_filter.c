/* segment_filter.c — parsing, encoding and describing segment filters (see segment_filter.h;
 * evaluation is segment_eval.c). Memory only; touches the workspace's indexes read-only. */
#include "core/segments/segment_filter.h"
#include "core/users/profile.h"
#include "core/workspace/workspace_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing text buffer; `failed` once an allocation failed (the text is then dropped). */
struct text {
    char *buf;
    size_t len, cap;
    bool failed;
};

/* Room for n more bytes and the NUL; false (and failed) when out of memory. */
static bool reserve(struct text *t, size_t n) {
    if (t->failed)
        return false;
    if (t->len + n + 1 <= t->cap)
        return true;
    size_t cap = t->cap ? t->cap * 2 : 128;
    while (cap < t->len + n + 1)
        cap *= 2;
    char *b = realloc(t->buf, cap);
    if (!b) {
        t->failed = true;
        return false;
    }
    t->buf = b;
    t->cap = cap;
    return true;
}

static void put_n(struct text *t, const char *s, size_t n) {
    if (!reserve(t, n))
        return;
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static void put(struct text *t, const char *s) {
    put_n(t, s, strlen(s));
}

static void putf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->failed = true;
        return;
    }
    if (!reserve(t, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(t->buf + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* The text (malloc'd) or NULL when an allocation failed. */
static char *text_take(struct text *t) {
    if (t->failed) {
        free(t->buf);
        return NULL;
    }
    return t->buf ? t->buf : strdup("");
}

struct parser {
    const struct cohort_set *cohorts;
    char *err;
    size_t err_len;
    int n_nodes;
    bool nomem;
};

/* Records the first error, "<path><suffix>: <what>" (paths hold keys and indexes only). */
static struct seg_node *fail(struct parser *p, const char *path, const char *suffix,
                             const char *what) {
    if (!*p->err)
        snprintf(p->err, p->err_len, "%s%s: %s", path, suffix, what);
    return NULL;
}

/* fail(), naming the offending value after the rule: "…: <what>, not <JSON of value>" (its
 * first 100 bytes, cut on a character boundary, then "…"), or ", none given" for no value. */
static struct seg_node *fail_v(struct parser *p, const char *path, const char *suffix,
                               const char *what, const json_t *value) {
    if (*p->err)
        return NULL;
    char *text = value ? json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (!value || !text) {
        snprintf(p->err, p->err_len, "%s%s: %s%s", path, suffix, what, value ? "" : ", none given");
        free(text);
        return NULL;
    }
    size_t n = strlen(text), cut = n > 100 ? 100 : n;
    while (cut < n && cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80)
        cut--;
    snprintf(p->err, p->err_len, "%s%s: %s, not %.*s%s", path, suffix, what, (int)cut, text,
             cut < n ? "\xE2\x80\xA6" : "");
    free(text);
    return NULL;
}

/* fail() for an unknown key of a filter, naming it (its first 100 bytes). */
static struct seg_node *fail_key(struct parser *p, const char *path, const char *kind,
                                 const char *key) {
    if (!*p->err) {
        size_t n = strlen(key), cut = n > 100 ? 100 : n;
        while (cut < n && cut > 0 && ((unsigned char)key[cut] & 0xC0) == 0x80)
            cut--;
        snprintf(p->err, p->err_len, "%s: unknown key '%.*s%s' in %s filter", path, (int)cut, key,
                 cut < n ? "\xE2\x80\xA6" : "", kind);
    }
    return NULL;
}

static struct seg_node *oom(struct parser *p) {
    p->nomem = true;
    return NULL;
}

/* The name of a key of obj not in the NULL-terminated list, or NULL. */
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
        return fail(p, path, "", "a filter holds at most 200 conditions");
    struct seg_node *n = calloc(1, sizeof *n);
    if (!n || !(n->path = strdup(path))) {
        free(n);
        return oom(p);
    }
    n->kind = kind;
    return n;
}

/* A copy of s into *dst; false when out of memory (the parser is told). */
static bool copy_into(struct parser *p, char **dst, const char *s) {
    *dst = strdup(s);
    if (!*dst)
        p->nomem = true;
    return *dst != NULL;
}

static struct seg_node *parse_list(struct parser *p, const json_t *f, const char *key,
                                   enum seg_kind kind, const char *path, int depth) {
    const json_t *arr = json_object_get(f, key);
    const char *suffix = kind == SEG_AND ? ".and" : ".or";
    if (json_object_size(f) != 1)
        return fail(p, path, "", "an \"and\" or \"or\" object holds no other key");
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return fail(p, path, suffix, "must be a non-empty array of filters");
    struct seg_node *n = node_new(p, kind, path);
    if (!n)
        return NULL;
    n->kids = calloc(json_array_size(arr), sizeof(void *));
    if (!n->kids) {
        segment_filter_free(n);
        return oom(p);
    }
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v) {
        struct text item = {0};
        putf(&item, "%s%s[%zu]", path, suffix, i);
        char *sub = text_take(&item);
        n->kids[n->n_kids] = sub ? parse(p, v, sub, depth + 1) : oom(p);
        free(sub);
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
    if (bad)
        return fail_key(p, path, "a cohort", bad);
    if (!json_is_object(ref) || unknown_key(ref, ref_keys) ||
        !json_string_value(json_object_get(ref, "partner")) ||
        !json_string_value(json_object_get(ref, "cohort_id")))
        return fail_v(p, path, ".cohort", "must be {\"partner\": string, \"cohort_id\": string}",
                      ref);
    if (!op || (strcmp(op, "includes") != 0 && strcmp(op, "excludes") != 0))
        return fail_v(p, path, ".op", "must be \"includes\" or \"excludes\"",
                      json_object_get(f, "op"));
    const char *partner = json_string_value(json_object_get(ref, "partner"));
    const char *cohort_id = json_string_value(json_object_get(ref, "cohort_id"));
    if (p->cohorts && !cohort_find(p->cohorts, partner, cohort_id))
        return fail_v(p, path, ".cohort", "no such cohort", ref);
    struct seg_node *n = node_new(p, SEG_COHORT, path);
    if (n && (!copy_into(p, &n->partner, partner) || !copy_into(p, &n->cohort_id, cohort_id))) {
        segment_filter_free(n);
        return NULL;
    }
    if (n)
        n->negate = strcmp(op, "excludes") == 0;
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

/* An attribute filter, or a profile filter (a standard profile field, core/users/profile.h:
 * the same operators over the same stored attribute object). */
static struct seg_node *parse_attr(struct parser *p, const json_t *f, const char *path,
                                   bool profile) {
    static const char *const keys[] = {"attribute", "op", "value", NULL};
    static const char *const profile_keys[] = {"profile", "op", "value", NULL};
    const char *key = profile ? "profile" : "attribute";
    const char *name = json_string_value(json_object_get(f, key));
    const char *op = json_string_value(json_object_get(f, "op"));
    json_t *value = json_object_get(f, "value");
    const char *const *allowed = profile ? profile_keys : keys;
    if (unknown_key(f, allowed))
        return fail_key(p, path, profile ? "a profile" : "an attribute", unknown_key(f, allowed));
    if (!name || !*name)
        return fail_v(p, path, profile ? ".profile" : ".attribute", "must be a non-empty string",
                      json_object_get(f, key));
    if (profile && !profile_field_is(name))
        return fail_v(p, path, ".profile", "must be a profile field", json_object_get(f, key));
    int k = -1;
    for (size_t i = 0; op && i < sizeof attr_ops / sizeof attr_ops[0]; i++)
        if (strcmp(op, attr_ops[i].name) == 0)
            k = (int)i;
    if (k < 0)
        return fail_v(p, path, ".op",
                      "must be one of equals, not_equals, exists, not_exists, gt, gte, lt, lte, "
                      "contains",
                      json_object_get(f, "op"));
    enum seg_attr_op aop = attr_ops[k].op;
    bool numeric = aop == SEG_GT || aop == SEG_GTE || aop == SEG_LT || aop == SEG_LTE;
    bool scalar = json_is_string(value) || json_is_number(value) || json_is_boolean(value);
    if (aop == SEG_EXISTS || aop == SEG_NOT_EXISTS) {
        if (value)
            return fail_v(p, path, ".value", "exists and not_exists take no value", value);
    } else if (numeric && !json_is_number(value)) {
        return fail_v(p, path, ".value", "must be a number for gt, gte, lt and lte", value);
    } else if (!numeric && !scalar) {
        return fail_v(p, path, ".value", "must be a string, a number or a boolean", value);
    }
    struct seg_node *n = node_new(p, SEG_ATTR, path);
    if (n && !copy_into(p, &n->name, name)) {
        segment_filter_free(n);
        return NULL;
    }
    if (n) {
        n->profile = profile;
        n->op = aop;
        n->value = value ? json_deep_copy(value) : NULL;
        if (value && !n->value) {
            segment_filter_free(n);
            return oom(p);
        }
    }
    return n;
}

static struct seg_node *parse_event(struct parser *p, const json_t *f, const char *path) {
    static const char *const keys[] = {"event", "op", "min_count", "within_days", NULL};
    const char *name = json_string_value(json_object_get(f, "event"));
    const char *op = json_string_value(json_object_get(f, "op"));
    const json_t *mc = json_object_get(f, "min_count");
    const json_t *wd = json_object_get(f, "within_days");
    if (unknown_key(f, keys))
        return fail_key(p, path, "an event", unknown_key(f, keys));
    if (!name || !*name)
        return fail_v(p, path, ".event", "must be a non-empty string", json_object_get(f, "event"));
    if (!op || (strcmp(op, "performed") != 0 && strcmp(op, "not_performed") != 0))
        return fail_v(p, path, ".op", "must be \"performed\" or \"not_performed\"",
                      json_object_get(f, "op"));
    if (mc &&
        (!json_is_integer(mc) || json_integer_value(mc) < 1 || json_integer_value(mc) > 1000000000))
        return fail_v(p, path, ".min_count", "must be a positive integer", mc);
    if (wd &&
        (!json_is_integer(wd) || json_integer_value(wd) < 1 || json_integer_value(wd) > 36500))
        return fail_v(p, path, ".within_days", "must be an integer from 1 to 36500", wd);
    struct seg_node *n = node_new(p, SEG_EVENT, path);
    if (n && !copy_into(p, &n->name, name)) {
        segment_filter_free(n);
        return NULL;
    }
    if (n) {
        n->negate = strcmp(op, "not_performed") == 0;
        n->min_count = mc ? json_integer_value(mc) : 1;
        n->within_days = wd ? json_integer_value(wd) : 0;
    }
    return n;
}

static struct seg_node *parse(struct parser *p, const json_t *f, const char *path, int depth) {
    if (depth > SEGMENT_MAX_DEPTH)
        return fail(p, path, "", "filters nest at most 10 deep");
    if (!json_is_object(f))
        return fail(p, path, "", "must be an object");
    if (json_object_get(f, "and"))
        return parse_list(p, f, "and", SEG_AND, path, depth);
    if (json_object_get(f, "or"))
        return parse_list(p, f, "or", SEG_OR, path, depth);
    if (json_object_get(f, "not")) {
        if (json_object_size(f) != 1)
            return fail(p, path, "", "a \"not\" object holds no other key");
        struct seg_node *n = node_new(p, SEG_NOT, path);
        if (!n)
            return NULL;
        struct text sub = {0};
        putf(&sub, "%s.not", path);
        char *sp = text_take(&sub);
        n->kids = calloc(1, sizeof(void *));
        if (!n->kids || !sp) {
            free(sp);
            segment_filter_free(n);
            return oom(p);
        }
        n->kids[0] = parse(p, json_object_get(f, "not"), sp, depth + 1);
        free(sp);
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
        if (json_object_size(f) != 1)
            return fail(p, path, "", "an \"identified\" object holds no other key");
        if (!json_is_boolean(v))
            return fail_v(p, path, ".identified", "must be true or false", v);
        struct seg_node *n = node_new(p, SEG_IDENTIFIED, path);
        if (n)
            n->negate = json_is_false(v);
        return n;
    }
    if (json_object_get(f, "attribute"))
        return parse_attr(p, f, path, false);
    if (json_object_get(f, "profile"))
        return parse_attr(p, f, path, true);
    if (json_object_get(f, "event"))
        return parse_event(p, f, path);
    return fail(p, path, "",
                "must hold one of \"and\", \"or\", \"not\", \"cohort\", \"identified\", "
                "\"attribute\", \"profile\", \"event\"");
}

struct seg_node *segment_filter_parse(const json_t *filter, const struct cohort_set *cohorts,
                                      char *err, size_t err_len) {
    struct parser p = {cohorts, err, err_len, 0, false};
    err[0] = '\0';
    struct seg_node *n = parse(&p, filter, "filter", 1);
    if (!n && (!*err || p.nomem))
        snprintf(err, err_len, "filter: out of memory");
    return n;
}

void segment_filter_free(struct seg_node *node) {
    if (!node)
        return;
    for (size_t i = 0; i < node->n_kids; i++)
        segment_filter_free(node->kids[i]);
    free(node->kids);
    free(node->path);
    free(node->partner);
    free(node->cohort_id);
    free(node->name);
    json_decref(node->value);
    free(node);
}

json_t *segment_filter_to_json(const struct seg_node *n) {
    switch (n->kind) {
    case SEG_AND:
    case SEG_OR: {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n->n_kids; i++) {
            json_t *k = segment_filter_to_json(n->kids[i]);
            if (!k || json_array_append_new(arr, k) != 0) {
                json_decref(arr);
                return NULL;
            }
        }
        return arr ? json_pack("{s:o}", n->kind == SEG_AND ? "and" : "or", arr) : NULL;
    }
    case SEG_NOT: {
        json_t *k = segment_filter_to_json(n->kids[0]);
        return k ? json_pack("{s:o}", "not", k) : NULL;
    }
    case SEG_COHORT:
        return json_pack("{s:{s:s, s:s}, s:s}", "cohort", "partner", n->partner, "cohort_id",
                         n->cohort_id, "op", n->negate ? "excludes" : "includes");
    case SEG_IDENTIFIED:
        return json_pack("{s:b}", "identified", !n->negate);
    case SEG_ATTR:
        return json_pack("{s:s, s:s, s:O*}", n->profile ? "profile" : "attribute", n->name, "op",
                         attr_ops[n->op].name, "value", n->value);
    case SEG_EVENT: {
        json_t *o = json_pack("{s:s, s:s}", "event", n->name, "op",
                              n->negate ? "not_performed" : "performed");
        if (o && n->min_count != 1)
            json_object_set_new(o, "min_count", json_integer(n->min_count));
        if (o && n->within_days)
            json_object_set_new(o, "within_days", json_integer(n->within_days));
        return o;
    }
    }
    return NULL;
}

int segment_filter_walk(const struct seg_node *node,
                        int (*fn)(void *ctx, const struct seg_node *node), void *ctx) {
    int rc = fn(ctx, node);
    for (size_t i = 0; rc == 0 && i < node->n_kids; i++)
        rc = segment_filter_walk(node->kids[i], fn, ctx);
    return rc;
}

struct cohort_check {
    const struct cohort_set *cohorts;
    char *err;
    size_t err_len;
};

static int check_cohort(void *ctx, const struct seg_node *n) {
    struct cohort_check *cc = ctx;
    if (n->kind != SEG_COHORT || cohort_find(cc->cohorts, n->partner, n->cohort_id))
        return 0;
    /* the text a creation-time parse gives (fail_v), with the reference as stored */
    json_t *ref = json_pack("{s:s, s:s}", "partner", n->partner, "cohort_id", n->cohort_id);
    struct parser p = {NULL, cc->err, cc->err_len, 0, false};
    cc->err[0] = '\0';
    fail_v(&p, n->path, ".cohort", "no such cohort", ref);
    json_decref(ref);
    return -1;
}

int segment_filter_check_cohorts(const struct seg_node *node, const struct cohort_set *cohorts,
                                 char *err, size_t err_len) {
    struct cohort_check cc = {cohorts, err, err_len};
    return segment_filter_walk(node, check_cohort, &cc);
}

struct missing {
    const struct cohort_set *cohorts;
    char **v;
    size_t n, cap;
};

static int add_missing(void *ctx, const struct seg_node *n) {
    struct missing *m = ctx;
    if (n->kind != SEG_COHORT || cohort_find(m->cohorts, n->partner, n->cohort_id))
        return 0;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 4;
        char **v = realloc(m->v, cap * sizeof *v);
        if (!v)
            return -1;
        m->v = v;
        m->cap = cap;
    }
    struct text t = {0};
    putf(&t, "%s/%s", n->partner, n->cohort_id);
    m->v[m->n] = text_take(&t);
    return m->v[m->n++] ? 0 : -1;
}

int segment_missing_cohorts(const struct seg_node *node, const struct cohort_set *cohorts,
                            char ***out, size_t *n) {
    struct missing m = {cohorts, NULL, 0, 0};
    int rc = segment_filter_walk(node, add_missing, &m);
    if (rc != 0) {
        for (size_t i = 0; i < m.n; i++)
            free(m.v[i]);
        free(m.v);
        m.v = NULL;
        m.n = 0;
    }
    *out = m.v;
    *n = m.n;
    return rc;
}

static void describe(const struct seg_node *n, const struct cohort_set *cohorts, struct text *t,
                     int nested) {
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
        if (*n->partner) {
            char first = (char)toupper((unsigned char)n->partner[0]);
            put_n(t, &first, 1);
            put(t, n->partner + 1);
        }
        putf(t, " Cohorts %s %s", n->negate ? "excludes" : "includes",
             c && c->name ? c->name : n->cohort_id);
        return;
    }
    case SEG_IDENTIFIED:
        put(t, n->negate ? "is anonymous" : "is identified");
        return;
    case SEG_ATTR: {
        char *v = n->value ? json_dumps(n->value, JSON_ENCODE_ANY) : NULL;
        putf(t, "%s %s%s%s", n->name, attr_ops[n->op].name, v ? " " : "", v ? v : "");
        free(v);
        return;
    }
    case SEG_EVENT:
        putf(t, "%s %s", n->name, n->negate ? "not performed" : "performed");
        if (n->min_count > 1)
            putf(t, " at least %lld times", (long long)n->min_count);
        if (n->within_days)
            putf(t, " in the last %lld days", (long long)n->within_days);
        return;
    }
}

char *segment_describe(const struct seg_node *node, const struct cohort_set *cohorts) {
    struct text t = {0};
    describe(node, cohorts, &t, 0);
    return text_take(&t);
}
