/*
 * log_json.c — a formatted log message as one JSON object (see log_json.h). The message is
 * read once into fields (keys point into it; unquoted values into a scratch copy), then the
 * object is written; when it comes out longer than the limit it is written again with every
 * value cut to an equal share. Cost: a few passes over the line, two allocations besides the
 * result.
 */
#include "util/log_json.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct field {
    const char *key;
    size_t key_len;
    const char *val;
    size_t val_len;
    bool number;
};

struct parsed {
    struct field *f;
    size_t n;
    char *words; /* the words that are not key=value, space-separated */
    size_t words_len;
};

struct jbuf {
    char *b;
    size_t len, cap;
    bool failed;
};

static void put(struct jbuf *j, const char *s, size_t n) {
    if (j->failed)
        return;
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 256;
        while (cap < j->len + n + 1)
            cap *= 2;
        char *b = realloc(j->b, cap);
        if (!b) {
            j->failed = true;
            return;
        }
        j->b = b;
        j->cap = cap;
    }
    memcpy(j->b + j->len, s, n);
    j->len += n;
    j->b[j->len] = '\0';
}

static void puts_(struct jbuf *j, const char *s) {
    put(j, s, strlen(s));
}

static bool is_key_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

static int hex_value(unsigned char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Reads a value quoted by log_q at m[*i] == '"' into o (unescaped); returns its length, or
 * SIZE_MAX when the quote does not close (then nothing is consumed). */
static size_t read_quoted(const char *m, size_t len, size_t *i, char *o) {
    size_t k = *i + 1, n = 0;
    while (k < len && m[k] != '"') {
        if (m[k] == '\\' && k + 1 < len) {
            char c = m[k + 1];
            if (c == 'n' || c == 'r' || c == 't' || c == '"' || c == '\\') {
                o[n++] = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
                k += 2;
                continue;
            }
            if (c == 'x' && k + 3 < len && hex_value((unsigned char)m[k + 2]) >= 0 &&
                hex_value((unsigned char)m[k + 3]) >= 0) {
                o[n++] = (char)(hex_value((unsigned char)m[k + 2]) * 16 +
                                hex_value((unsigned char)m[k + 3]));
                k += 4;
                continue;
            }
        }
        o[n++] = m[k++];
    }
    if (k >= len)
        return SIZE_MAX;
    *i = k + 1;
    return n;
}

static bool is_number(const char *v, size_t n) {
    size_t i = v[0] == '-' ? 1 : 0;
    if (n <= i || n - i > 15 || (v[i] == '0' && n - i > 1))
        return false;
    for (; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return false;
    return true;
}

/* Splits msg into fields and words; scratch and p->words have len + 1 bytes, p->f room for
 * len / 2 + 1 fields. */
static void parse(const char *m, size_t len, char *scratch, struct parsed *p) {
    size_t i = 0, used = 0;
    p->n = 0;
    p->words_len = 0;
    while (i < len) {
        while (i < len && m[i] == ' ')
            i++;
        if (i >= len)
            break;
        size_t k = i;
        while (k < len && is_key_char((unsigned char)m[k]))
            k++;
        if (k > i && k < len && m[k] == '=') {
            struct field *f = &p->f[p->n++];
            f->key = m + i;
            f->key_len = k - i;
            size_t v = k + 1;
            size_t qn = v < len && m[v] == '"' ? read_quoted(m, len, &v, scratch + used) : SIZE_MAX;
            if (qn != SIZE_MAX) {
                f->val = scratch + used;
                f->val_len = qn;
                f->number = false;
                used += qn;
                i = v;
            } else {
                size_t e = v;
                while (e < len && m[e] != ' ')
                    e++;
                f->val = m + v;
                f->val_len = e - v;
                f->number = is_number(f->val, f->val_len);
                i = e;
            }
            continue;
        }
        size_t e = i;
        while (e < len && m[e] != ' ')
            e++;
        if (p->words_len)
            p->words[p->words_len++] = ' ';
        memcpy(p->words + p->words_len, m + i, e - i);
        p->words_len += e - i;
        i = e;
    }
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        need = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else
        return 0;
    if (n < need || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return need;
}

/* s (n bytes) as a JSON string, cut after at most cap bytes at a character boundary; the bytes
 * left out are added to *dropped. */
static void put_string(struct jbuf *j, const char *s, size_t n, size_t cap, size_t *dropped) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    put(j, "\"", 1);
    size_t i = 0;
    while (i < n) {
        size_t l = utf8_len(u + i, n - i);
        if (i + (l ? l : 1) > cap)
            break;
        unsigned char c = u[i];
        if (l == 0) { /* not UTF-8: the text \xHH, as the text format writes it */
            char esc[6] = {'\\', '\\', 'x', hex[c >> 4], hex[c & 15], 0};
            put(j, esc, 5);
            i++;
            continue;
        }
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put(j, esc, 2);
        } else if (c == '\n') {
            put(j, "\\n", 2);
        } else if (c == '\r') {
            put(j, "\\r", 2);
        } else if (c == '\t') {
            put(j, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f) {
            char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            put(j, esc, 6);
        } else {
            put(j, s + i, l);
        }
        i += l;
    }
    *dropped += n - i;
    put(j, "\"", 1);
}

static bool reserved(const char *k, size_t n) {
    static const char *const names[] = {"time", "level", "module", "msg", "truncated_bytes"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && memcmp(names[i], k, n) == 0)
            return true;
    return false;
}

/* The whole object with every value cut to cap bytes; *dropped gets the bytes left out. */
static void render(struct jbuf *j, const char *time_text, const char *level, const char *module,
                   const struct parsed *p, size_t cap, size_t *dropped) {
    size_t none = 0;
    *dropped = 0;
    puts_(j, "{\"time\":");
    put_string(j, time_text, strlen(time_text), SIZE_MAX, &none);
    puts_(j, ",\"level\":");
    put_string(j, level, strlen(level), SIZE_MAX, &none);
    puts_(j, ",\"module\":");
    put_string(j, module, strlen(module), SIZE_MAX, &none);
    for (size_t i = 0; i < p->n; i++) {
        const struct field *f = &p->f[i];
        put(j, ",", 1);
        if (reserved(f->key, f->key_len)) {
            put(j, "\"_", 2);
            put(j, f->key, f->key_len);
            put(j, "\"", 1);
        } else {
            put_string(j, f->key, f->key_len, SIZE_MAX, &none);
        }
        put(j, ":", 1);
        if (f->number)
            put(j, f->val, f->val_len);
        else
            put_string(j, f->val, f->val_len, cap, dropped);
    }
    if (p->words_len) {
        puts_(j, ",\"msg\":");
        put_string(j, p->words, p->words_len, cap, dropped);
    }
    if (*dropped) {
        char t[48];
        snprintf(t, sizeof t, ",\"truncated_bytes\":%zu", *dropped);
        puts_(j, t);
    }
    puts_(j, "}\n");
}

char *log_json_line(const char *time_text, const char *level, const char *module, const char *msg,
                    size_t len, size_t max, size_t *out_len) {
    struct parsed p = {0};
    char *scratch = malloc(len + 1);
    p.words = malloc(len + 1);
    p.f = malloc((len / 2 + 1) * sizeof *p.f);
    struct jbuf j = {0};
    if (!scratch || !p.words || !p.f)
        goto fail;
    parse(msg, len, scratch, &p);
    size_t dropped;
    render(&j, time_text, level, module, &p, SIZE_MAX, &dropped);
    if (!j.failed && j.len > max) {
        /* again with equal shares: the bare structure, then at worst 6 bytes per value byte */
        j.len = 0;
        render(&j, time_text, level, module, &p, 0, &dropped);
        size_t n_values = p.n + (p.words_len ? 1 : 0);
        size_t room = j.len + 64 < max ? max - j.len - 64 : 0;
        size_t cap = n_values ? room / n_values / 6 : 0;
        j.len = 0;
        render(&j, time_text, level, module, &p, cap, &dropped);
    }
    if (j.failed)
        goto fail;
    free(scratch);
    free(p.words);
    free(p.f);
    *out_len = j.len;
    return j.b;
fail:
    free(scratch);
    free(p.words);
    free(p.f);
    free(j.b);
    return NULL;
}
