/*
 * attr_index.c — value bitmaps of custom attributes (see attr_index.h). Value keys have no
 * length limit (stack buffer when short, exact-size allocation otherwise). Under a journal
 * (ix->undo) every bit, map entry, bitmap and attribute it adds or removes is recorded.
 */
#include "core/index/attr_index.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/index/bitmap.h"

void attr_index_init(struct attr_index *ix) {
    memset(ix, 0, sizeof *ix);
    strmap_init(&ix->names);
}

void attr_index_free(struct attr_index *ix) {
    for (size_t i = 0; i < ix->n; i++) {
        struct attr_values *a = ix->v[i];
        roaring_bitmap_free(a->exists);
        strmap_free(&a->eq);
        strmap_free(&a->elem);
        for (size_t k = 0; k < a->n_bitmaps; k++)
            roaring_bitmap_free(a->bitmaps[k]);
        free(a->bitmaps);
        free(a);
        free(ix->name_list[i]);
    }
    free(ix->v);
    free(ix->name_list);
    strmap_free(&ix->names);
    memset(ix, 0, sizeof *ix);
}

void attr_index_drop_users(struct attr_index *ix, const roaring_bitmap_t *gone) {
    for (size_t i = 0; i < ix->n; i++) {
        struct attr_values *a = ix->v[i];
        if (!roaring_bitmap_intersect(a->exists, gone))
            continue; /* none of them has the attribute: none holds one of its values */
        roaring_bitmap_andnot_inplace(a->exists, gone);
        for (size_t k = 0; k < a->n_bitmaps; k++)
            if (roaring_bitmap_intersect(a->bitmaps[k], gone))
                roaring_bitmap_andnot_inplace(a->bitmaps[k], gone);
    }
}

size_t attr_index_bytes(const struct attr_index *ix) {
    /* the tables of pointers: v, name_list, each attribute's bitmaps */
    size_t n = strmap_bytes(&ix->names) + ix->cap * 2 * sizeof(void *);
    for (size_t i = 0; i < ix->n; i++) {
        const struct attr_values *a = ix->v[i];
        n += sizeof *a + bitmap_mem_bytes(a->exists) + strmap_bytes(&a->eq) +
             strmap_bytes(&a->elem) + a->bitmaps_cap * sizeof(void *);
        for (size_t k = 0; k < a->n_bitmaps; k++)
            n += bitmap_mem_bytes(a->bitmaps[k]);
    }
    return n;
}

/* A canonical value text: in the stack buffer when short, else an exact-size allocation. */
struct value_key {
    char stack[128];
    char *p;
    size_t len;
};

static void key_done(struct value_key *k) {
    if (k->p != k->stack)
        free(k->p);
    k->p = k->stack;
}

/* Canonical text of a scalar (string, number, boolean): "s<bytes>", "n<number>", "b<0|1>".
 * Returns 1, 0 for other kinds, -1 when memory ran out. Free with key_done. */
static int canonical(const json_t *v, struct value_key *k) {
    k->p = k->stack;
    k->len = 0;
    int n = 0;
    if (json_is_string(v)) {
        size_t sl = json_string_length(v);
        if (sl + 1 > sizeof k->stack && !(k->p = malloc(sl + 1))) {
            k->p = k->stack;
            return -1;
        }
        k->p[0] = 's';
        memcpy(k->p + 1, json_string_value(v), sl);
        k->len = sl + 1;
        return 1;
    }
    /* numbers and booleans are at most ~25 characters: they always fit the stack buffer */
    if (json_is_number(v)) {
        double d = json_number_value(v);
        if (json_is_integer(v))
            n = snprintf(k->stack, sizeof k->stack, "n%lld", (long long)json_integer_value(v));
        else if (floor(d) == d && fabs(d) < 9007199254740992.0)
            n = snprintf(k->stack, sizeof k->stack, "n%lld", (long long)d);
        else
            n = snprintf(k->stack, sizeof k->stack, "n%.17g", d);
    } else if (json_is_boolean(v)) {
        n = snprintf(k->stack, sizeof k->stack, "b%d", json_is_true(v));
    }
    if (n <= 0 || (size_t)n >= sizeof k->stack)
        return 0;
    k->len = (size_t)n;
    return 1;
}

static struct attr_values *values_of(const struct attr_index *ix, const char *name) {
    uint32_t i;
    if (!strmap_get(&ix->names, name, strlen(name), &i))
        return NULL;
    return ix->v[i];
}

static void values_destroy(struct attr_values *a) {
    if (a->exists)
        roaring_bitmap_free(a->exists);
    strmap_free(&a->eq);
    strmap_free(&a->elem);
    free(a->bitmaps);
    free(a);
}

/* Undoes values_add of the newest attribute (its name's map entry has its own undo). */
static void values_add_undo(void *obj, void *state) {
    (void)state;
    struct attr_index *ix = obj;
    ix->n--;
    values_destroy(ix->v[ix->n]);
    free(ix->name_list[ix->n]);
}

static struct attr_values *values_add(struct attr_index *ix, const char *name) {
    struct attr_values *a = values_of(ix, name);
    if (a)
        return a;
    if (ix->n == ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 16;
        struct attr_values **v = realloc(ix->v, cap * sizeof(void *));
        if (v)
            ix->v = v;
        char **names = v ? realloc(ix->name_list, cap * sizeof(char *)) : NULL;
        if (!names)
            return NULL;
        ix->name_list = names;
        ix->cap = cap;
    }
    a = calloc(1, sizeof *a);
    char *copy = strdup(name);
    if (a)
        a->exists = roaring_bitmap_create();
    if (!a || !a->exists || !copy ||
        strmap_put_undo(&ix->names, name, strlen(name), (uint32_t)ix->n, ix->undo) != 0) {
        if (a)
            values_destroy(a);
        free(copy);
        return NULL;
    }
    ix->v[ix->n] = a;
    ix->name_list[ix->n] = copy;
    ix->n++;
    undo_push(ix->undo, values_add_undo, NULL, ix, NULL, 0); /* failure: journal lost */
    return a;
}

/* Undoes the creation of the newest value bitmap of an attribute. */
static void bitmap_add_undo(void *obj, void *state) {
    (void)state;
    struct attr_values *a = obj;
    roaring_bitmap_free(a->bitmaps[--a->n_bitmaps]);
}

/* The bitmap for key in map m (created when ix is not NULL), or NULL. */
static roaring_bitmap_t *value_bitmap(struct attr_index *ix, struct attr_values *a,
                                      struct strmap *m, const struct value_key *k) {
    uint32_t i;
    if (strmap_get(m, k->p, k->len, &i))
        return a->bitmaps[i];
    if (!ix)
        return NULL;
    if (a->n_bitmaps == a->bitmaps_cap) {
        size_t cap = a->bitmaps_cap ? a->bitmaps_cap * 2 : 8;
        roaring_bitmap_t **b = realloc(a->bitmaps, cap * sizeof(void *));
        if (!b)
            return NULL;
        a->bitmaps = b;
        a->bitmaps_cap = cap;
    }
    roaring_bitmap_t *b = roaring_bitmap_create();
    if (!b || strmap_put_undo(m, k->p, k->len, (uint32_t)a->n_bitmaps, ix->undo) != 0) {
        if (b)
            roaring_bitmap_free(b);
        return NULL;
    }
    a->bitmaps[a->n_bitmaps++] = b;
    undo_push(ix->undo, bitmap_add_undo, NULL, a, NULL, 0); /* failure: journal lost */
    return b;
}

/* Adds (add != 0) or removes uid under the value v of attribute a in map m. */
static int apply_value(struct attr_index *ix, struct attr_values *a, struct strmap *m,
                       const json_t *v, uint32_t uid, int add) {
    struct value_key k;
    int rc = canonical(v, &k);
    if (rc <= 0) {
        if (rc < 0 && ix->undo)
            ix->undo->lost = true; /* a stale bit may stay: only a reload clears it */
        return rc;
    }
    roaring_bitmap_t *b = value_bitmap(add ? ix : NULL, a, m, &k);
    key_done(&k);
    if (!b)
        return add ? -1 : 0;
    return add ? undo_bitmap_add(ix->undo, b, uid) : undo_bitmap_remove(ix->undo, b, uid);
}

/* Adds (add != 0) or removes uid under every value of attrs. */
static int apply(struct attr_index *ix, uint32_t uid, const json_t *attrs, int add) {
    const char *name;
    const json_t *v;
    int rc = 0;
    json_object_foreach((json_t *)attrs, name, v) {
        if (json_is_null(v))
            continue;
        struct attr_values *a = add ? values_add(ix, name) : values_of(ix, name);
        if (!a) {
            if (add)
                return -1;
            continue;
        }
        if (add)
            rc |= undo_bitmap_add(ix->undo, a->exists, uid);
        else
            rc |= undo_bitmap_remove(ix->undo, a->exists, uid);
        if (apply_value(ix, a, &a->eq, v, uid, add) < 0) {
            if (add)
                return -1;
            rc = -1;
        }
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) {
            if (apply_value(ix, a, &a->elem, e, uid, add) < 0) {
                if (add)
                    return -1;
                rc = -1;
            }
        }
    }
    return rc ? -1 : 0;
}

int attr_index_set(struct attr_index *ix, uint32_t uid, const json_t *old, const json_t *now) {
    int rc = old ? apply(ix, uid, old, 0) : 0;
    if (now && apply(ix, uid, now, 1) != 0)
        rc = -1;
    return rc;
}

roaring_bitmap_t *attr_index_exists(const struct attr_index *ix, const char *name) {
    const struct attr_values *a = values_of(ix, name);
    return a ? roaring_bitmap_copy(a->exists) : roaring_bitmap_create();
}

const roaring_bitmap_t *attr_index_equals_ref(const struct attr_index *ix, const char *name,
                                              const json_t *value) {
    struct attr_values *a = values_of(ix, name);
    struct value_key k;
    roaring_bitmap_t *b = a && canonical(value, &k) > 0 ? value_bitmap(NULL, a, &a->eq, &k) : NULL;
    if (a)
        key_done(&k);
    return b;
}

roaring_bitmap_t *attr_index_equals(const struct attr_index *ix, const char *name,
                                    const json_t *value) {
    const roaring_bitmap_t *b = attr_index_equals_ref(ix, name, value);
    return b ? roaring_bitmap_copy(b) : roaring_bitmap_create();
}

/* The numeric values ('n' keys) of a->eq that compare with `value` as `cmp` asks (strmap_each). */
struct compare_walk {
    const struct attr_values *a;
    enum attr_cmp cmp;
    double value;
    roaring_bitmap_t *out;
};

static void compare_one(void *ctx, uint32_t key_off, uint32_t key_len, uint32_t bi) {
    struct compare_walk *w = ctx;
    const char *key = strmap_key(&w->a->eq, key_off);
    if (key[0] != 'n')
        return;
    char num[64];
    size_t n = key_len - 1 < sizeof num - 1 ? key_len - 1 : sizeof num - 1;
    memcpy(num, key + 1, n);
    num[n] = '\0';
    double d = strtod(num, NULL);
    int hit = w->cmp == ATTR_GT    ? d > w->value
              : w->cmp == ATTR_GTE ? d >= w->value
              : w->cmp == ATTR_LT  ? d < w->value
                                   : d <= w->value;
    if (hit)
        roaring_bitmap_or_inplace(w->out, w->a->bitmaps[bi]);
}

roaring_bitmap_t *attr_index_compare(const struct attr_index *ix, const char *name,
                                     enum attr_cmp cmp, double value) {
    roaring_bitmap_t *out = roaring_bitmap_create();
    const struct attr_values *a = values_of(ix, name);
    if (!a)
        return out;
    struct compare_walk w = {a, cmp, value, out};
    strmap_each(&a->eq, compare_one, &w);
    return out;
}

/* The string values ('s' keys) of a->eq that hold `needle` (strmap_each). */
struct contains_walk {
    const struct attr_values *a;
    const char *needle;
    roaring_bitmap_t *out;
};

static void contains_one(void *ctx, uint32_t key_off, uint32_t key_len, uint32_t bi) {
    struct contains_walk *w = ctx;
    const char *key = strmap_key(&w->a->eq, key_off);
    if (key[0] != 's')
        return;
    char *text = strndup(key + 1, key_len - 1);
    if (text && strstr(text, w->needle))
        roaring_bitmap_or_inplace(w->out, w->a->bitmaps[bi]);
    free(text);
}

roaring_bitmap_t *attr_index_contains(const struct attr_index *ix, const char *name,
                                      const json_t *value) {
    roaring_bitmap_t *out = roaring_bitmap_create();
    struct attr_values *a = values_of(ix, name);
    if (!a)
        return out;
    struct value_key k;
    roaring_bitmap_t *b = canonical(value, &k) > 0 ? value_bitmap(NULL, a, &a->elem, &k) : NULL;
    key_done(&k);
    if (b)
        roaring_bitmap_or_inplace(out, b);
    const char *needle = json_string_value(value);
    if (needle) {
        struct contains_walk w = {a, needle, out};
        strmap_each(&a->eq, contains_one, &w);
    }
    return out;
}
