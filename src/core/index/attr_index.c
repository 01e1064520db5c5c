/* attr_index.c — value bitmaps of custom attributes (see attr_index.h). */
#include "core/index/attr_index.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void attr_index_init(struct attr_index *ix) {
    memset(ix, 0, sizeof *ix);
    strmap_init(&ix->names);
}

void attr_index_free(struct attr_index *ix) {
    for (size_t i = 0; i < ix->n; i++) {
        struct attr_values *a = &ix->v[i];
        roaring_bitmap_free(a->exists);
        strmap_free(&a->eq);
        strmap_free(&a->elem);
        for (size_t k = 0; k < a->n_bitmaps; k++)
            roaring_bitmap_free(a->bitmaps[k]);
        free(a->bitmaps);
        free(ix->name_list[i]);
    }
    free(ix->v);
    free(ix->name_list);
    strmap_free(&ix->names);
    memset(ix, 0, sizeof *ix);
}

/* Canonical text of a scalar (string, number, boolean) into buf; 0 for other kinds. */
static size_t canonical(const json_t *v, char *buf, size_t len) {
    int n = 0;
    if (json_is_string(v)) {
        n = snprintf(buf, len, "s%s", json_string_value(v));
    } else if (json_is_number(v)) {
        double d = json_number_value(v);
        if (json_is_integer(v))
            n = snprintf(buf, len, "n%lld", (long long)json_integer_value(v));
        else if (floor(d) == d && fabs(d) < 9007199254740992.0)
            n = snprintf(buf, len, "n%lld", (long long)d);
        else
            n = snprintf(buf, len, "n%.17g", d);
    } else if (json_is_boolean(v)) {
        n = snprintf(buf, len, "b%d", json_is_true(v));
    }
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

static struct attr_values *values_of(const struct attr_index *ix, const char *name) {
    uint32_t i;
    if (!strmap_get(&ix->names, name, strlen(name), &i))
        return NULL;
    return &ix->v[i];
}

static struct attr_values *values_add(struct attr_index *ix, const char *name) {
    struct attr_values *a = values_of(ix, name);
    if (a)
        return a;
    if (ix->n == ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 16;
        struct attr_values *v = realloc(ix->v, cap * sizeof *v);
        char **names = v ? realloc(ix->name_list, cap * sizeof(char *)) : NULL;
        if (v)
            ix->v = v;
        if (!names)
            return NULL;
        ix->name_list = names;
        ix->cap = cap;
    }
    if (!ix->v)
        return NULL;
    a = &ix->v[ix->n];
    memset(a, 0, sizeof *a);
    a->exists = roaring_bitmap_create();
    strmap_init(&a->eq);
    strmap_init(&a->elem);
    ix->name_list[ix->n] = strdup(name);
    if (!ix->name_list[ix->n] || strmap_put(&ix->names, name, strlen(name), (uint32_t)ix->n) != 0)
        return NULL;
    ix->n++;
    return a;
}

/* The bitmap for key in map m (created when `create`), or NULL. */
static roaring_bitmap_t *value_bitmap(struct attr_values *a, struct strmap *m, const char *key,
                                      size_t len, int create) {
    uint32_t i;
    if (strmap_get(m, key, len, &i))
        return a->bitmaps[i];
    if (!create)
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
    if (strmap_put(m, key, len, (uint32_t)a->n_bitmaps) != 0) {
        roaring_bitmap_free(b);
        return NULL;
    }
    a->bitmaps[a->n_bitmaps++] = b;
    return b;
}

/* Adds (add != 0) or removes uid under every value of attrs. */
static int apply(struct attr_index *ix, uint32_t uid, const json_t *attrs, int add) {
    const char *name;
    const json_t *v;
    char key[1024];
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
            roaring_bitmap_add(a->exists, uid);
        else
            roaring_bitmap_remove(a->exists, uid);
        size_t len = canonical(v, key, sizeof key);
        roaring_bitmap_t *b = len ? value_bitmap(a, &a->eq, key, len, add) : NULL;
        if (b && add)
            roaring_bitmap_add(b, uid);
        else if (b)
            roaring_bitmap_remove(b, uid);
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) {
            len = canonical(e, key, sizeof key);
            b = len ? value_bitmap(a, &a->elem, key, len, add) : NULL;
            if (b && add)
                roaring_bitmap_add(b, uid);
            else if (b)
                roaring_bitmap_remove(b, uid);
        }
    }
    return 0;
}

int attr_index_set(struct attr_index *ix, uint32_t uid, const json_t *old, const json_t *now) {
    if (old)
        apply(ix, uid, old, 0);
    return now ? apply(ix, uid, now, 1) : 0;
}

roaring_bitmap_t *attr_index_exists(const struct attr_index *ix, const char *name) {
    const struct attr_values *a = values_of(ix, name);
    return a ? roaring_bitmap_copy(a->exists) : roaring_bitmap_create();
}

roaring_bitmap_t *attr_index_equals(const struct attr_index *ix, const char *name,
                                    const json_t *value) {
    struct attr_values *a = values_of(ix, name);
    char key[1024];
    size_t len = canonical(value, key, sizeof key);
    roaring_bitmap_t *b = a && len ? value_bitmap(a, &a->eq, key, len, 0) : NULL;
    return b ? roaring_bitmap_copy(b) : roaring_bitmap_create();
}

roaring_bitmap_t *attr_index_compare(const struct attr_index *ix, const char *name,
                                     enum attr_cmp cmp, double value) {
    roaring_bitmap_t *out = roaring_bitmap_create();
    const struct attr_values *a = values_of(ix, name);
    if (!a)
        return out;
    for (size_t i = 0; i < a->eq.cap; i++) {
        const struct strmap_slot *sl = &a->eq.slots[i];
        if (sl->key_len == 0 || sl->key_len == UINT32_MAX || a->eq.arena[sl->key_off] != 'n')
            continue;
        char num[64];
        size_t n = sl->key_len - 1 < sizeof num - 1 ? sl->key_len - 1 : sizeof num - 1;
        memcpy(num, a->eq.arena + sl->key_off + 1, n);
        num[n] = '\0';
        double d = strtod(num, NULL);
        int hit = cmp == ATTR_GT    ? d > value
                  : cmp == ATTR_GTE ? d >= value
                  : cmp == ATTR_LT  ? d < value
                                    : d <= value;
        if (hit)
            roaring_bitmap_or_inplace(out, a->bitmaps[sl->value]);
    }
    return out;
}

roaring_bitmap_t *attr_index_contains(const struct attr_index *ix, const char *name,
                                      const json_t *value) {
    roaring_bitmap_t *out = roaring_bitmap_create();
    struct attr_values *a = values_of(ix, name);
    if (!a)
        return out;
    char key[1024];
    size_t len = canonical(value, key, sizeof key);
    roaring_bitmap_t *b = len ? value_bitmap(a, &a->elem, key, len, 0) : NULL;
    if (b)
        roaring_bitmap_or_inplace(out, b);
    const char *needle = json_string_value(value);
    for (size_t i = 0; needle && i < a->eq.cap; i++) {
        const struct strmap_slot *sl = &a->eq.slots[i];
        if (sl->key_len == 0 || sl->key_len == UINT32_MAX || a->eq.arena[sl->key_off] != 's')
            continue;
        char *text = strndup(a->eq.arena + sl->key_off + 1, sl->key_len - 1);
        if (text && strstr(text, needle))
            roaring_bitmap_or_inplace(out, a->bitmaps[sl->value]);
        free(text);
    }
    return out;
}
