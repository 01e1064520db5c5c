/*
 * liquid_filters.c — the standard Liquid filters (Shopify's set, as Braze's Ruby Liquid runs
 * them): text (append … upcase), numbers (plus … round), arrays (first … where) and URLs
 * (url_encode, url_decode). Lengths and positions count UTF-8 characters, as Ruby does;
 * changing case is ASCII-only. Each filter returns a new value; none grows a value past
 * LIQUID_MAX_OUTPUT (the renderer checks what they return). The date filter is in
 * liquid_date.c, Braze's own filters in liquid_filters_braze.c.
 */
#include "core/messaging/liquid/liquid_int.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS struct lq_filter_ctx *c, const json_t *in, json_t *const *a, size_t n

static json_t *str(const char *s, size_t len) {
    return json_stringn_nocheck(s, len);
}

/* The text of a value (borrowed from *hold, which the caller decrefs). */
static const char *text_of(const json_t *v, json_t **hold) {
    *hold = lq_to_string(v, LIQUID_MAX_OUTPUT);
    return *hold ? json_string_value(*hold) : "";
}

static size_t utf8_len(const char *s, size_t n) {
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            chars++;
    return chars;
}

/* Byte offset of character `ch` of s (n bytes); n when past the end. */
static size_t utf8_offset(const char *s, size_t n, size_t ch) {
    size_t i = 0;
    while (i < n && ch > 0) {
        i++;
        while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        ch--;
    }
    return i;
}

/* ---- text ---- */

static json_t *f_append(ARGS) {
    (void)c, (void)n;
    json_t *h1, *h2;
    const char *x = text_of(in, &h1), *y = text_of(a[0], &h2);
    struct lq_buf b = {0};
    lq_puts(&b, x);
    lq_puts(&b, y);
    json_decref(h1);
    json_decref(h2);
    char *t = lq_buf_take(&b);
    json_t *r = t ? str(t, strlen(t)) : NULL;
    if (!t && b.full)
        c->error = "a value grew over the output limit";
    free(t);
    return r;
}

static json_t *f_prepend(ARGS) {
    json_t *args[1] = {(json_t *)in};
    return f_append(c, a[0], args, n);
}

static json_t *map_chars(const json_t *in, int (*fn)(int), bool first_only) {
    json_t *h;
    const char *s = text_of(in, &h);
    size_t len = strlen(s);
    char *t = malloc(len + 1);
    if (!t) {
        json_decref(h);
        return NULL;
    }
    for (size_t i = 0; i < len; i++)
        t[i] =
            (char)((first_only && i > 0) ? tolower((unsigned char)s[i]) : fn((unsigned char)s[i]));
    json_t *r = str(t, len);
    free(t);
    json_decref(h);
    return r;
}

static json_t *f_downcase(ARGS) {
    (void)c, (void)a, (void)n;
    return map_chars(in, tolower, false);
}

static json_t *f_upcase(ARGS) {
    (void)c, (void)a, (void)n;
    return map_chars(in, toupper, false);
}

static json_t *f_capitalize(ARGS) {
    (void)c, (void)a, (void)n;
    return map_chars(in, toupper, true);
}

static json_t *strip_side(const json_t *in, bool left, bool right) {
    json_t *h;
    const char *s = text_of(in, &h);
    size_t start = 0, end = strlen(s);
    while (left && start < end && isspace((unsigned char)s[start]))
        start++;
    while (right && end > start && isspace((unsigned char)s[end - 1]))
        end--;
    json_t *r = str(s + start, end - start);
    json_decref(h);
    return r;
}

static json_t *f_strip(ARGS) {
    (void)c, (void)a, (void)n;
    return strip_side(in, true, true);
}

static json_t *f_lstrip(ARGS) {
    (void)c, (void)a, (void)n;
    return strip_side(in, true, false);
}

static json_t *f_rstrip(ARGS) {
    (void)c, (void)a, (void)n;
    return strip_side(in, false, true);
}

/* s with `from` replaced by `to` (every one, or the first). */
static json_t *replace(struct lq_filter_ctx *c, const json_t *in, const json_t *from,
                       const json_t *to, bool all) {
    json_t *h1, *h2, *h3 = NULL;
    const char *s = text_of(in, &h1), *f = text_of(from, &h2), *t = to ? text_of(to, &h3) : "";
    size_t flen = strlen(f);
    struct lq_buf b = {0};
    const char *p = s;
    bool done = false;
    while (*p) {
        const char *hit = flen ? strstr(p, f) : NULL;
        if (!hit || done) {
            lq_puts(&b, p);
            break;
        }
        lq_put(&b, p, (size_t)(hit - p));
        lq_puts(&b, t);
        p = hit + flen;
        done = !all;
    }
    json_decref(h1);
    json_decref(h2);
    json_decref(h3);
    char *out = lq_buf_take(&b);
    json_t *r = out ? str(out, strlen(out)) : NULL;
    if (!out && b.full)
        c->error = "a value grew over the output limit";
    free(out);
    return r;
}

static json_t *f_replace(ARGS) {
    (void)n;
    return replace(c, in, a[0], a[1], true);
}

static json_t *f_replace_first(ARGS) {
    (void)n;
    return replace(c, in, a[0], a[1], false);
}

static json_t *f_remove(ARGS) {
    (void)n;
    return replace(c, in, a[0], NULL, true);
}

static json_t *f_remove_first(ARGS) {
    (void)n;
    return replace(c, in, a[0], NULL, false);
}

static json_t *f_newline_to_br(ARGS) {
    (void)a, (void)n;
    json_t *h;
    const char *s = text_of(in, &h);
    struct lq_buf b = {0};
    for (const char *p = s; *p; p++) {
        if (*p == '\r' && p[1] == '\n')
            continue;
        if (*p == '\n')
            lq_puts(&b, "<br />\n");
        else
            lq_put(&b, p, 1);
    }
    json_decref(h);
    char *out = lq_buf_take(&b);
    json_t *r = out ? str(out, strlen(out)) : NULL;
    if (!out && b.full)
        c->error = "a value grew over the output limit";
    free(out);
    return r;
}

static json_t *f_strip_newlines(ARGS) {
    (void)c, (void)a, (void)n;
    json_t *h;
    const char *s = text_of(in, &h);
    size_t len = strlen(s), k = 0;
    char *t = malloc(len + 1);
    for (size_t i = 0; t && i < len; i++)
        if (s[i] != '\r' && s[i] != '\n')
            t[k++] = s[i];
    json_t *r = t ? str(t, k) : NULL;
    free(t);
    json_decref(h);
    return r;
}

/* Case-insensitive search for an ASCII needle. */
static const char *find_ci(const char *s, const char *needle) {
    size_t n = strlen(needle);
    for (; *s; s++)
        if (strncasecmp(s, needle, n) == 0)
            return s;
    return NULL;
}

static json_t *f_strip_html(ARGS) {
    (void)c, (void)a, (void)n;
    json_t *h;
    const char *s = text_of(in, &h);
    struct lq_buf b = {0};
    static const struct {
        const char *open, *close;
    } blocks[] = {{"<script", "</script>"}, {"<style", "</style>"}, {"<!--", "-->"}};
    const char *p = s;
    while (*p) {
        bool skipped = false;
        for (size_t i = 0; i < 3 && !skipped; i++) {
            if (strncasecmp(p, blocks[i].open, strlen(blocks[i].open)) != 0)
                continue;
            const char *end = find_ci(p, blocks[i].close);
            if (end) {
                p = end + strlen(blocks[i].close);
                skipped = true;
            }
        }
        if (skipped)
            continue;
        if (*p == '<') {
            const char *end = strchr(p, '>');
            if (end) {
                p = end + 1;
                continue;
            }
        }
        lq_put(&b, p, 1);
        p++;
    }
    json_decref(h);
    char *out = lq_buf_take(&b);
    json_t *r = out ? str(out, strlen(out)) : NULL;
    free(out);
    return r;
}

/* & < > " ' as HTML entities; with `once`, entities already there stay as they are. */
static json_t *escape_html(const json_t *in, bool once) {
    json_t *h;
    const char *s = text_of(in, &h);
    struct lq_buf b = {0};
    for (const char *p = s; *p; p++) {
        if (*p == '&' && once) {
            size_t k = 1;
            if (p[k] == '#') {
                k++;
                if (p[k] == 'x' || p[k] == 'X')
                    k++;
                while (isxdigit((unsigned char)p[k]))
                    k++;
            } else {
                while (isalnum((unsigned char)p[k]))
                    k++;
            }
            if (k > 1 && p[k] == ';') {
                lq_put(&b, p, k + 1);
                p += k;
                continue;
            }
        }
        switch (*p) {
        case '&':
            lq_puts(&b, "&amp;");
            break;
        case '<':
            lq_puts(&b, "&lt;");
            break;
        case '>':
            lq_puts(&b, "&gt;");
            break;
        case '"':
            lq_puts(&b, "&quot;");
            break;
        case '\'':
            lq_puts(&b, "&#39;");
            break;
        default:
            lq_put(&b, p, 1);
        }
    }
    json_decref(h);
    char *out = lq_buf_take(&b);
    json_t *r = out ? str(out, strlen(out)) : NULL;
    free(out);
    return r;
}

static json_t *f_escape(ARGS) {
    (void)c, (void)a, (void)n;
    return escape_html(in, false);
}

static json_t *f_escape_once(ARGS) {
    (void)c, (void)a, (void)n;
    return escape_html(in, true);
}

static json_t *f_truncate(ARGS) {
    (void)c;
    json_t *h, *h2 = NULL;
    const char *s = text_of(in, &h);
    const char *ell = n > 1 ? text_of(a[1], &h2) : "...";
    long long max = n > 0 ? lq_count(a[0]) : 50;
    size_t len = strlen(s), chars = utf8_len(s, len);
    json_t *r;
    if (max < 0 || (size_t)max >= chars) {
        r = str(s, len);
    } else {
        long long keep = max - (long long)utf8_len(ell, strlen(ell));
        size_t cut = utf8_offset(s, len, keep > 0 ? (size_t)keep : 0);
        struct lq_buf b = {0};
        lq_put(&b, s, cut);
        lq_puts(&b, ell);
        char *out = lq_buf_take(&b);
        r = out ? str(out, strlen(out)) : NULL;
        free(out);
    }
    json_decref(h);
    json_decref(h2);
    return r;
}

static json_t *f_truncatewords(ARGS) {
    (void)c;
    json_t *h, *h2 = NULL;
    const char *s = text_of(in, &h);
    const char *ell = n > 1 ? text_of(a[1], &h2) : "...";
    long long max = n > 0 ? lq_count(a[0]) : 15;
    if (max < 1)
        max = 1;
    struct lq_buf b = {0};
    long long words = 0;
    const char *p = s;
    bool more = false;
    while (*p) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        if (words == max) {
            more = true;
            break;
        }
        const char *w = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (words++)
            lq_put(&b, " ", 1);
        lq_put(&b, w, (size_t)(p - w));
    }
    if (more)
        lq_puts(&b, ell);
    char *out = lq_buf_take(&b);
    json_t *r = !more ? str(s, strlen(s)) : out ? str(out, strlen(out)) : NULL;
    free(out);
    json_decref(h);
    json_decref(h2);
    return r;
}

static json_t *f_size(ARGS) {
    (void)c, (void)a, (void)n;
    if (json_is_string(in))
        return json_integer((json_int_t)utf8_len(json_string_value(in), json_string_length(in)));
    if (json_is_array(in))
        return json_integer((json_int_t)json_array_size(in));
    if (json_is_object(in)) {
        json_t *s = json_object_get(in, "size");
        return s ? json_incref(s) : json_integer((json_int_t)json_object_size(in));
    }
    return json_integer(0);
}

static json_t *f_slice(ARGS) {
    (void)c;
    long long off = lq_count(a[0]), len = n > 1 ? lq_count(a[1]) : 1;
    if (json_is_array(in)) {
        long long total = (long long)json_array_size(in);
        if (off < 0)
            off += total;
        json_t *r = json_array();
        for (long long i = off; r && i >= 0 && i < off + len && i < total; i++)
            json_array_append(r, json_array_get(in, (size_t)i));
        return r;
    }
    json_t *h;
    const char *s = text_of(in, &h);
    size_t bytes = strlen(s);
    long long total = (long long)utf8_len(s, bytes);
    if (off < 0)
        off += total;
    json_t *r;
    if (off < 0 || off > total || len < 0) {
        r = json_null();
    } else {
        size_t from = utf8_offset(s, bytes, (size_t)off);
        size_t to = utf8_offset(s, bytes, (size_t)(off + len > total ? total : off + len));
        r = str(s + from, to - from);
    }
    json_decref(h);
    return r;
}

static json_t *f_split(ARGS) {
    (void)c, (void)n;
    json_t *h1, *h2;
    const char *s = text_of(in, &h1), *sep = text_of(a[0], &h2);
    json_t *r = json_array();
    size_t seplen = strlen(sep);
    if (r && seplen == 0) { /* every character */
        for (const char *p = s; *p;) {
            size_t k = utf8_offset(p, strlen(p), 1);
            json_array_append_new(r, str(p, k));
            p += k;
        }
    } else if (r && strcmp(sep, " ") == 0) { /* Ruby: runs of whitespace, none at the ends */
        for (const char *p = s; *p;) {
            while (isspace((unsigned char)*p))
                p++;
            const char *w = p;
            while (*p && !isspace((unsigned char)*p))
                p++;
            if (p > w)
                json_array_append_new(r, str(w, (size_t)(p - w)));
        }
    } else if (r) {
        const char *p = s;
        for (const char *hit; (hit = strstr(p, sep)); p = hit + seplen)
            json_array_append_new(r, str(p, (size_t)(hit - p)));
        json_array_append_new(r, str(p, strlen(p)));
        /* Ruby drops the empty strings at the end */
        while (json_array_size(r) &&
               json_string_length(json_array_get(r, json_array_size(r) - 1)) == 0)
            json_array_remove(r, json_array_size(r) - 1);
    }
    json_decref(h1);
    json_decref(h2);
    return r;
}

/* ---- numbers ---- */

/* An integer result stays a real when no json_int_t holds it (a huge, infinite or NaN value:
 * converting those is undefined). */
static json_t *number_result(double d, bool integer) {
    bool fits = d >= -9223372036854775808.0 && d < 9223372036854775808.0; /* ±2^63 */
    return integer && fits ? json_integer((json_int_t)d) : json_real(d);
}

static json_t *arith(struct lq_filter_ctx *c, const json_t *in, const json_t *arg, char op) {
    json_t *x = lq_to_number(in), *y = lq_to_number(arg);
    if (!x || !y) {
        json_decref(x);
        json_decref(y);
        return NULL;
    }
    bool ints = json_is_integer(x) && json_is_integer(y);
    json_t *r = NULL;
    long long sum = 0;
    /* a whole result that does not fit 64 bits is computed in floating point (Ruby would use a
     * bignum): never a signed overflow */
    if (ints) {
        long long p = json_integer_value(x), q = json_integer_value(y);
        if ((op == '+' && __builtin_add_overflow(p, q, &sum)) ||
            (op == '-' && __builtin_sub_overflow(p, q, &sum)) ||
            (op == '*' && __builtin_mul_overflow(p, q, &sum)) ||
            ((op == '/' || op == '%') && p == LLONG_MIN && q == -1))
            ints = false;
    }
    if (ints) {
        long long p = json_integer_value(x), q = json_integer_value(y);
        if ((op == '/' || op == '%') && q == 0) {
            c->error = "divided by 0";
            r = json_null();
        } else if (op == '+' || op == '-' || op == '*') {
            r = json_integer(sum);
        } else if (op == '/') { /* Ruby: floor division */
            long long d = p / q;
            if ((p % q != 0) && ((p < 0) != (q < 0)))
                d--;
            r = json_integer(d);
        } else {
            long long m = p % q;
            if (m != 0 && ((m < 0) != (q < 0)))
                m += q;
            r = json_integer(m);
        }
    } else {
        double p = json_number_value(x), q = json_number_value(y);
        if ((op == '/' || op == '%') && q == 0) {
            c->error = "divided by 0";
            r = json_null();
        } else {
            double v = op == '+'   ? p + q
                       : op == '-' ? p - q
                       : op == '*' ? p * q
                       : op == '/' ? p / q
                                   : p - q * floor(p / q);
            r = json_real(v);
        }
    }
    json_decref(x);
    json_decref(y);
    return r;
}

static json_t *f_plus(ARGS) {
    (void)n;
    return arith(c, in, a[0], '+');
}

static json_t *f_minus(ARGS) {
    (void)n;
    return arith(c, in, a[0], '-');
}

static json_t *f_times(ARGS) {
    (void)n;
    return arith(c, in, a[0], '*');
}

static json_t *f_divided_by(ARGS) {
    (void)n;
    return arith(c, in, a[0], '/');
}

static json_t *f_modulo(ARGS) {
    (void)n;
    return arith(c, in, a[0], '%');
}

static json_t *f_abs(ARGS) {
    (void)c, (void)a, (void)n;
    json_t *x = lq_to_number(in);
    if (!x)
        return NULL;
    json_t *r = json_is_integer(x) ? (json_integer_value(x) == LLONG_MIN
                                          ? json_real(-(double)LLONG_MIN)
                                          : json_integer(llabs((long long)json_integer_value(x))))
                                   : json_real(fabs(json_real_value(x)));
    json_decref(x);
    return r;
}

static json_t *f_ceil(ARGS) {
    (void)c, (void)a, (void)n;
    return number_result(ceil(lq_number(in)), true);
}

static json_t *f_floor(ARGS) {
    (void)c, (void)a, (void)n;
    return number_result(floor(lq_number(in)), true);
}

static json_t *f_round(ARGS) {
    (void)c;
    double d = lq_number(in);
    long long digits = n ? lq_count(a[0]) : 0;
    if (digits <= 0)
        return json_integer((json_int_t)llround(d));
    double scale = pow(10, (double)(digits > 15 ? 15 : digits));
    return json_real(round(d * scale) / scale);
}

/* ---- arrays ---- */

static json_t *f_first(ARGS) {
    (void)c, (void)a, (void)n;
    json_t *x = json_is_array(in) ? json_array_get(in, 0) : NULL;
    return x ? json_incref(x) : json_null();
}

static json_t *f_last(ARGS) {
    (void)c, (void)a, (void)n;
    size_t len = json_is_array(in) ? json_array_size(in) : 0;
    json_t *x = len ? json_array_get(in, len - 1) : NULL;
    return x ? json_incref(x) : json_null();
}

static json_t *f_join(ARGS) {
    json_t *h = NULL;
    const char *sep = n ? text_of(a[0], &h) : " ";
    if (!json_is_array(in)) {
        json_decref(h);
        return lq_to_string(in, LIQUID_MAX_OUTPUT);
    }
    struct lq_buf b = {0};
    for (size_t i = 0; i < json_array_size(in); i++) {
        if (i)
            lq_puts(&b, sep);
        lq_put_value(&b, json_array_get(in, i));
    }
    json_decref(h);
    char *out = lq_buf_take(&b);
    json_t *r = out ? str(out, strlen(out)) : NULL;
    if (!out && b.full)
        c->error = "a value grew over the output limit";
    free(out);
    return r;
}

/* in as an array: arrays as they are, nil as [], anything else as [in]. */
static json_t *as_array(const json_t *in) {
    if (json_is_array(in))
        return json_incref((json_t *)in);
    json_t *r = json_array();
    if (r && lq_truthy(in))
        json_array_append(r, (json_t *)in);
    return r;
}

static json_t *f_reverse(ARGS) {
    (void)c, (void)a, (void)n;
    json_t *arr = as_array(in), *r = json_array();
    for (size_t i = arr ? json_array_size(arr) : 0; r && i > 0; i--)
        json_array_append(r, json_array_get(arr, i - 1));
    json_decref(arr);
    return r;
}

static json_t *f_compact(ARGS) {
    (void)c, (void)a, (void)n;
    json_t *arr = as_array(in), *r = json_array();
    for (size_t i = 0; r && arr && i < json_array_size(arr); i++)
        if (!json_is_null(json_array_get(arr, i)))
            json_array_append(r, json_array_get(arr, i));
    json_decref(arr);
    return r;
}

static json_t *f_concat(ARGS) {
    (void)c, (void)n;
    json_t *x = as_array(in), *y = as_array(a[0]), *r = json_array();
    if (r && x && y) {
        json_array_extend(r, x);
        json_array_extend(r, y);
    }
    json_decref(x);
    json_decref(y);
    return r;
}

static json_t *f_uniq(ARGS) {
    (void)c, (void)a, (void)n;
    json_t *arr = as_array(in), *r = json_array();
    for (size_t i = 0; r && arr && i < json_array_size(arr); i++) {
        json_t *x = json_array_get(arr, i);
        bool seen = false;
        for (size_t k = 0; !seen && k < json_array_size(r); k++)
            seen = lq_equal(json_array_get(r, k), x);
        if (!seen)
            json_array_append(r, x);
    }
    json_decref(arr);
    return r;
}

static json_t *f_map(ARGS) {
    (void)c, (void)n;
    json_t *arr = as_array(in), *h, *r = json_array();
    const char *key = text_of(a[0], &h);
    for (size_t i = 0; r && arr && i < json_array_size(arr); i++) {
        json_t *x = json_object_get(json_array_get(arr, i), key);
        json_array_append(r, x ? x : json_null());
    }
    json_decref(arr);
    json_decref(h);
    return r;
}

static json_t *f_where(ARGS) {
    (void)c;
    json_t *arr = as_array(in), *h, *r = json_array();
    const char *key = text_of(a[0], &h);
    for (size_t i = 0; r && arr && i < json_array_size(arr); i++) {
        json_t *item = json_array_get(arr, i), *x = json_object_get(item, key);
        if (n > 1 ? lq_equal(x, a[1]) : lq_truthy(x))
            json_array_append(r, item);
    }
    json_decref(arr);
    json_decref(h);
    return r;
}

struct sort_item {
    json_t *v, *key;
    bool natural;
};

static int cmp_items(const void *pa, const void *pb) {
    const struct sort_item *x = pa, *y = pb;
    bool xn = !x->key || json_is_null(x->key), yn = !y->key || json_is_null(y->key);
    if (xn || yn)
        return xn == yn ? 0 : xn ? 1 : -1; /* nil last */
    if (x->natural && json_is_string(x->key) && json_is_string(y->key))
        return strcasecmp(json_string_value(x->key), json_string_value(y->key));
    bool ok;
    int r = lq_compare(x->key, y->key, &ok);
    if (ok)
        return r;
    /* mixed kinds: numbers before strings, as a stable order */
    return (int)json_is_string(x->key) - (int)json_is_string(y->key);
}

static json_t *sort(const json_t *in, json_t *const *a, size_t n, bool natural) {
    json_t *arr = as_array(in), *h = NULL;
    if (!arr)
        return NULL;
    const char *key = n ? text_of(a[0], &h) : NULL;
    size_t len = json_array_size(arr);
    struct sort_item *items = calloc(len ? len : 1, sizeof *items);
    json_t *r = items ? json_array() : NULL;
    for (size_t i = 0; items && i < len; i++) {
        items[i].v = json_array_get(arr, i);
        items[i].key = key ? json_object_get(items[i].v, key) : items[i].v;
        items[i].natural = natural;
    }
    if (items)
        qsort(items, len, sizeof *items, cmp_items);
    for (size_t i = 0; r && i < len; i++)
        json_array_append(r, items[i].v);
    free(items);
    json_decref(arr);
    json_decref(h);
    return r;
}

static json_t *f_sort(ARGS) {
    (void)c;
    return sort(in, a, n, false);
}

static json_t *f_sort_natural(ARGS) {
    (void)c;
    return sort(in, a, n, true);
}

static json_t *f_default(ARGS) {
    (void)c, (void)n;
    bool use = !lq_truthy(in) || lq_is_empty(in);
    return json_incref(use ? a[0] : (json_t *)in);
}

/* ---- URLs ---- */

static json_t *f_url_encode(ARGS) {
    (void)c, (void)a, (void)n;
    static const char hex[] = "0123456789ABCDEF";
    json_t *h;
    const char *s = text_of(in, &h);
    struct lq_buf b = {0};
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr("_.-~", *p)) {
            lq_put(&b, (const char *)p, 1);
        } else if (*p == ' ') {
            lq_put(&b, "+", 1);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            lq_put(&b, esc, 3);
        }
    }
    json_decref(h);
    char *out = lq_buf_take(&b);
    json_t *r = out ? str(out, strlen(out)) : NULL;
    if (!out && b.full)
        c->error = "a value grew over the output limit";
    free(out);
    return r;
}

static json_t *f_url_decode(ARGS) {
    (void)c, (void)a, (void)n;
    json_t *h;
    const char *s = text_of(in, &h);
    size_t len = strlen(s), k = 0;
    char *t = malloc(len + 1);
    for (size_t i = 0; t && i < len; i++) {
        if (s[i] == '+') {
            t[k++] = ' ';
        } else if (s[i] == '%' && isxdigit((unsigned char)s[i + 1]) &&
                   isxdigit((unsigned char)s[i + 2])) {
            char hexd[3] = {s[i + 1], s[i + 2], 0};
            t[k++] = (char)strtol(hexd, NULL, 16);
            i += 2;
        } else {
            t[k++] = s[i];
        }
    }
    json_t *r = t ? str(t, k) : NULL;
    free(t);
    json_decref(h);
    return r;
}

static const struct lq_filter_def filters[] = {
    {"abs", 0, 0, f_abs, false},
    {"append", 1, 1, f_append, false},
    {"capitalize", 0, 0, f_capitalize, false},
    {"ceil", 0, 0, f_ceil, false},
    {"compact", 0, 0, f_compact, false},
    {"concat", 1, 1, f_concat, false},
    {"date", 1, 1, lq_filter_date, false},
    {"default", 1, 1, f_default, false},
    {"divided_by", 1, 1, f_divided_by, false},
    {"downcase", 0, 0, f_downcase, false},
    {"escape", 0, 0, f_escape, false},
    {"escape_once", 0, 0, f_escape_once, false},
    {"first", 0, 0, f_first, false},
    {"floor", 0, 0, f_floor, false},
    {"join", 0, 1, f_join, false},
    {"last", 0, 0, f_last, false},
    {"lstrip", 0, 0, f_lstrip, false},
    {"map", 1, 1, f_map, false},
    {"minus", 1, 1, f_minus, false},
    {"modulo", 1, 1, f_modulo, false},
    {"newline_to_br", 0, 0, f_newline_to_br, false},
    {"plus", 1, 1, f_plus, false},
    {"prepend", 1, 1, f_prepend, false},
    {"remove", 1, 1, f_remove, false},
    {"remove_first", 1, 1, f_remove_first, false},
    {"replace", 2, 2, f_replace, false},
    {"replace_first", 2, 2, f_replace_first, false},
    {"reverse", 0, 0, f_reverse, false},
    {"round", 0, 1, f_round, false},
    {"rstrip", 0, 0, f_rstrip, false},
    {"size", 0, 0, f_size, false},
    {"slice", 1, 2, f_slice, false},
    {"sort", 0, 1, f_sort, false},
    {"sort_natural", 0, 1, f_sort_natural, false},
    {"split", 1, 1, f_split, false},
    {"strip", 0, 0, f_strip, false},
    {"strip_html", 0, 0, f_strip_html, false},
    {"strip_newlines", 0, 0, f_strip_newlines, false},
    {"times", 1, 1, f_times, false},
    {"truncate", 0, 2, f_truncate, false},
    {"truncatewords", 0, 2, f_truncatewords, false},
    {"uniq", 0, 0, f_uniq, false},
    {"upcase", 0, 0, f_upcase, false},
    {"url_decode", 0, 0, f_url_decode, false},
    {"url_encode", 0, 0, f_url_encode, true},
    {"where", 1, 2, f_where, false},
};

const struct lq_filter_def *lq_filter_find(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
        if (strlen(filters[i].name) == len && strncmp(filters[i].name, name, len) == 0)
            return &filters[i];
    return NULL;
}
