/*
 * liquid_value.c — Liquid's values, held as Jansson values: truth (only nil and false are
 * false), empty and blank, == and ordering, and how a value prints (Ruby's way: 2.0 stays
 * "2.0", an array prints its elements one after the other, a hash prints as {"k"=>"v"}). Also
 * the tree's arena and the bounded text buffer every file of the module writes into.
 */
#include "core/messaging/liquid/liquid_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---- */

struct lq_chunk {
    struct lq_chunk *next;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char data[];
};

#define CHUNK_MIN 8192

void *lq_alloc(struct liquid_tree *t, size_t n) {
    n = (n + 15) & ~(size_t)15;
    struct lq_chunk *c = t->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = t->chunks;
        t->chunks = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *lq_strndup(struct liquid_tree *t, const char *s, size_t n) {
    char *p = lq_alloc(t, n + 1);
    if (p)
        memcpy(p, s, n);
    return p;
}

void liquid_free(struct liquid_tree *tree) {
    if (!tree)
        return;
    for (struct lq_chunk *c = tree->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    json_decref(tree->literals);
    free(tree);
}

/* ---- buffers ---- */

void lq_put(struct lq_buf *b, const char *s, size_t n) {
    if (b->failed || b->full)
        return;
    size_t max = b->max ? b->max : LIQUID_MAX_OUTPUT;
    if (b->len + n > max) {
        b->full = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (!b->p) { /* not reached: the block above made room */
        b->failed = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void lq_puts(struct lq_buf *b, const char *s) {
    lq_put(b, s, strlen(s));
}

char *lq_buf_take(struct lq_buf *b) {
    if (b->failed || b->full) {
        free(b->p);
        b->p = NULL;
        return NULL;
    }
    char *p = b->p ? b->p : strdup("");
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

/* ---- truth, emptiness, equality ---- */

bool lq_truthy(const json_t *v) {
    return v && !json_is_null(v) && !json_is_false(v);
}

bool lq_is_empty(const json_t *v) {
    return (json_is_string(v) && json_string_length(v) == 0) ||
           (json_is_array(v) && json_array_size(v) == 0) ||
           (json_is_object(v) && json_object_size(v) == 0);
}

bool lq_is_blank(const json_t *v) {
    if (!lq_truthy(v) || lq_is_empty(v))
        return true;
    if (!json_is_string(v))
        return false;
    for (const char *p = json_string_value(v); *p; p++)
        if (!isspace((unsigned char)*p))
            return false;
    return true;
}

double lq_number(const json_t *v) {
    if (json_is_number(v))
        return json_number_value(v);
    if (json_is_string(v))
        return strtod(json_string_value(v), NULL);
    return 0;
}

long long lq_count(const json_t *v) {
    double x = lq_number(v);
    if (!(x == x))
        return 0;
    if (x > (double)LQ_COUNT_MAX)
        return LQ_COUNT_MAX;
    if (x < -(double)LQ_COUNT_MAX)
        return -LQ_COUNT_MAX;
    return (long long)x;
}

json_t *lq_to_number(const json_t *v) {
    if (json_is_number(v))
        return json_incref((json_t *)v);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        while (isspace((unsigned char)*s))
            s++;
        char *end = NULL;
        long long i = strtoll(s, &end, 10);
        if (end != s && (*end == '\0' || isspace((unsigned char)*end)))
            return json_integer(i);
        double d = strtod(s, &end);
        if (end != s)
            return json_real(d);
    }
    return json_integer(0);
}

bool lq_equal(const json_t *a, const json_t *b) {
    bool a_nil = !a || json_is_null(a), b_nil = !b || json_is_null(b);
    if (a_nil || b_nil)
        return a_nil && b_nil;
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!lq_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

int lq_compare(const json_t *a, const json_t *b, bool *ok) {
    *ok = true;
    if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (json_is_string(a) && json_is_string(b))
        return strcmp(json_string_value(a), json_string_value(b));
    *ok = false;
    return 0;
}

/* ---- printing ---- */

/* A float the way Ruby prints it: the shortest text that reads back the same, with ".0" when
 * it would look like an integer. */
static void put_real(struct lq_buf *b, double d) {
    char text[40];
    if (isnan(d) || isinf(d)) {
        lq_puts(b, isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    /* Ruby uses exponents only below 1e-4 and from 1e16 on */
    bool plain = fabs(d) >= 1e-4 && fabs(d) < 1e16;
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(text, sizeof text, "%.*g", prec, d);
        if (strtod(text, NULL) == d && (!plain || !strchr(text, 'e')))
            break;
    }
    if (!strpbrk(text, ".e")) {
        if (strlen(text) >= 17) /* Ruby writes large integral floats in full too */
            snprintf(text, sizeof text, "%.1f", d);
        else
            memcpy(text + strlen(text), ".0", 3); /* under 17 bytes: room for 3 more */
    }
    lq_puts(b, text);
}

static void put_inspect(struct lq_buf *b, const json_t *v);

static void put_quoted(struct lq_buf *b, const char *s, size_t n) {
    lq_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            lq_put(b, "\\", 1);
        lq_put(b, s + i, 1);
    }
    lq_put(b, "\"", 1);
}

/* Ruby's inspect: strings quoted, nil as nil, arrays [a, b], hashes {"k"=>v}. */
static void put_inspect(struct lq_buf *b, const json_t *v) {
    if (json_is_string(v)) {
        put_quoted(b, json_string_value(v), json_string_length(v));
    } else if (!v || json_is_null(v)) {
        lq_puts(b, "nil");
    } else if (json_is_array(v)) {
        lq_put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                lq_put(b, ", ", 2);
            put_inspect(b, json_array_get(v, i));
        }
        lq_put(b, "]", 1);
    } else if (json_is_object(v)) {
        const char *k;
        const json_t *x;
        bool first = true;
        lq_put(b, "{", 1);
        json_object_foreach((json_t *)v, k, x) {
            if (!first)
                lq_put(b, ", ", 2);
            first = false;
            put_quoted(b, k, strlen(k));
            lq_put(b, "=>", 2);
            put_inspect(b, x);
        }
        lq_put(b, "}", 1);
    } else {
        lq_put_value(b, v);
    }
}

void lq_put_value(struct lq_buf *b, const json_t *v) {
    char num[32];
    if (!v || json_is_null(v))
        return;
    switch (json_typeof(v)) {
    case JSON_STRING:
        lq_put(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        lq_puts(b, num);
        break;
    case JSON_REAL:
        put_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        lq_puts(b, "true");
        break;
    case JSON_FALSE:
        lq_puts(b, "false");
        break;
    case JSON_ARRAY:
        for (size_t i = 0; i < json_array_size(v); i++)
            lq_put_value(b, json_array_get(v, i));
        break;
    case JSON_OBJECT:
        put_inspect(b, v);
        break;
    default:
        break;
    }
}

json_t *lq_to_string(const json_t *v, size_t max) {
    if (json_is_string(v))
        return json_incref((json_t *)v);
    struct lq_buf b = {.max = max};
    lq_put_value(&b, v);
    char *text = lq_buf_take(&b);
    json_t *s = text ? json_string(text) : NULL;
    if (text && !s) /* not UTF-8: keep the bytes anyway */
        s = json_stringn_nocheck(text, strlen(text));
    free(text);
    return s;
}
