/*
 * liquid_filters_braze.c — the filters Braze adds to Liquid: escaping for JSON and URLs
 * (json_escape, url_escape, url_param_escape), digests and signatures (md5, sha1, sha2 /
 * sha256, hmac_sha1, hmac_sha256 and their _base64 forms), base64_encode / base64_decode,
 * number_with_delimiter, property_accessor and time_zone (liquid_date.c). Digests are
 * OpenSSL's, printed as lower-case hex.
 */
#include "core/messaging/liquid/liquid_int.h"

#include <ctype.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS struct lq_filter_ctx *c, const json_t *in, json_t *const *a, size_t n

static const char hex[] = "0123456789abcdef";
static const char HEX[] = "0123456789ABCDEF";

static json_t *take(struct lq_buf *b, struct lq_filter_ctx *c) {
    bool full = b->full;
    char *out = lq_buf_take(b);
    json_t *r = out ? json_stringn_nocheck(out, strlen(out)) : NULL;
    if (!out && full)
        c->error = "a value grew over the output limit";
    free(out);
    return r;
}

static const char *text_of(const json_t *v, json_t **hold) {
    *hold = lq_to_string(v, LIQUID_MAX_OUTPUT);
    return *hold ? json_string_value(*hold) : "";
}

/* For the inside of a JSON string: quotes, backslashes and control characters escaped. */
static json_t *f_json_escape(ARGS) {
    (void)a, (void)n;
    json_t *h;
    const char *s = text_of(in, &h);
    struct lq_buf b = {0};
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *esc = *p == '"'    ? "\\\""
                          : *p == '\\' ? "\\\\"
                          : *p == '\n' ? "\\n"
                          : *p == '\r' ? "\\r"
                          : *p == '\t' ? "\\t"
                          : *p == '\b' ? "\\b"
                          : *p == '\f' ? "\\f"
                                       : NULL;
        if (esc) {
            lq_puts(&b, esc);
        } else if (*p < 0x20) {
            char u[7] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], 0};
            lq_puts(&b, u);
        } else {
            lq_put(&b, (const char *)p, 1);
        }
    }
    json_decref(h);
    return take(&b, c);
}

/* Percent-encodes every byte but the letters, digits and `keep`. */
static json_t *percent(struct lq_filter_ctx *c, const json_t *in, const char *keep) {
    json_t *h;
    const char *s = text_of(in, &h);
    struct lq_buf b = {0};
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr(keep, *p)) {
            lq_put(&b, (const char *)p, 1);
        } else {
            char esc[3] = {'%', HEX[*p >> 4], HEX[*p & 15]};
            lq_put(&b, esc, 3);
        }
    }
    json_decref(h);
    return take(&b, c);
}

static json_t *f_url_escape(ARGS) {
    (void)a, (void)n;
    return percent(c, in, "-_.!~*'();/?:@&=+$,#");
}

static json_t *f_url_param_escape(ARGS) {
    (void)a, (void)n;
    return percent(c, in, "-_.!~*'()");
}

static json_t *hex_of(const unsigned char *d, unsigned len) {
    char out[EVP_MAX_MD_SIZE * 2 + 1];
    for (unsigned i = 0; i < len; i++) {
        out[(size_t)2 * i] = hex[d[i] >> 4];
        out[(size_t)2 * i + 1] = hex[d[i] & 15];
    }
    return json_stringn(out, (size_t)len * 2);
}

static json_t *base64_of(const unsigned char *d, size_t len) {
    size_t cap = 4 * ((len + 2) / 3) + 1;
    unsigned char *out = malloc(cap);
    if (!out)
        return NULL;
    int got = EVP_EncodeBlock(out, d, (int)len);
    json_t *r = json_stringn((const char *)out, (size_t)got);
    free(out);
    return r;
}

static json_t *digest(const json_t *in, const EVP_MD *md) {
    json_t *h;
    const char *s = text_of(in, &h);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    json_t *r = EVP_Digest(s, strlen(s), d, &len, md, NULL) ? hex_of(d, len) : NULL;
    json_decref(h);
    return r;
}

static json_t *f_md5(ARGS) {
    (void)c, (void)a, (void)n;
    return digest(in, EVP_md5());
}

static json_t *f_sha1(ARGS) {
    (void)c, (void)a, (void)n;
    return digest(in, EVP_sha1());
}

static json_t *f_sha2(ARGS) {
    (void)c, (void)a, (void)n;
    return digest(in, EVP_sha256());
}

static json_t *hmac(const json_t *in, const json_t *key, const EVP_MD *md, bool b64) {
    json_t *h1, *h2;
    const char *s = text_of(in, &h1), *k = text_of(key, &h2);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    json_t *r = NULL;
    if (HMAC(md, k, (int)strlen(k), (const unsigned char *)s, strlen(s), d, &len))
        r = b64 ? base64_of(d, len) : hex_of(d, len);
    json_decref(h1);
    json_decref(h2);
    return r;
}

static json_t *f_hmac_sha1(ARGS) {
    (void)c, (void)n;
    return hmac(in, a[0], EVP_sha1(), false);
}

static json_t *f_hmac_sha256(ARGS) {
    (void)c, (void)n;
    return hmac(in, a[0], EVP_sha256(), false);
}

static json_t *f_hmac_sha1_base64(ARGS) {
    (void)c, (void)n;
    return hmac(in, a[0], EVP_sha1(), true);
}

static json_t *f_hmac_sha256_base64(ARGS) {
    (void)c, (void)n;
    return hmac(in, a[0], EVP_sha256(), true);
}

static json_t *f_base64_encode(ARGS) {
    (void)c, (void)a, (void)n;
    json_t *h;
    const char *s = text_of(in, &h);
    json_t *r = base64_of((const unsigned char *)s, strlen(s));
    json_decref(h);
    return r;
}

static json_t *f_base64_decode(ARGS) {
    (void)a, (void)n;
    json_t *h;
    const char *s = text_of(in, &h);
    size_t len = strlen(s);
    unsigned char *out = malloc(len / 4 * 3 + 4);
    json_t *r = NULL;
    if (out) {
        int got = len % 4 == 0 ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)len) : -1;
        if (got < 0) {
            c->error = "base64_decode: not base64";
            r = json_null();
        } else {
            /* EVP_DecodeBlock counts the padding as data */
            for (size_t i = len; i > 0 && s[i - 1] == '='; i--)
                got--;
            r = json_stringn_nocheck((const char *)out, (size_t)got);
        }
        free(out);
    }
    json_decref(h);
    return r;
}

/* 1234567.891 → "1,234,567.891": commas between thousands of the integer part. */
static json_t *f_number_with_delimiter(ARGS) {
    (void)a, (void)n;
    json_t *num = lq_to_number(in);
    if (!num)
        return NULL;
    struct lq_buf b = {0};
    lq_put_value(&b, num);
    json_decref(num);
    char *text = lq_buf_take(&b);
    if (!text)
        return NULL;
    const char *digits = text[0] == '-' ? text + 1 : text;
    size_t int_len = strcspn(digits, ".e");
    struct lq_buf o = {0};
    if (digits != text)
        lq_put(&o, "-", 1);
    for (size_t i = 0; i < int_len; i++) {
        if (i && (int_len - i) % 3 == 0)
            lq_put(&o, ",", 1);
        lq_put(&o, digits + i, 1);
    }
    lq_puts(&o, digits + int_len);
    free(text);
    return take(&o, c);
}

static json_t *f_property_accessor(ARGS) {
    (void)c, (void)n;
    json_t *h;
    const char *key = text_of(a[0], &h);
    json_t *v = json_is_object(in) ? json_object_get(in, key) : NULL;
    json_decref(h);
    return v ? json_incref(v) : json_null();
}

static const struct lq_filter_def filters[] = {
    {"base64_decode", 0, 0, f_base64_decode, false},
    {"base64_encode", 0, 0, f_base64_encode, false},
    {"hmac_sha1", 1, 1, f_hmac_sha1, false},
    {"hmac_sha1_base64", 1, 1, f_hmac_sha1_base64, false},
    {"hmac_sha256", 1, 1, f_hmac_sha256, false},
    {"hmac_sha256_base64", 1, 1, f_hmac_sha256_base64, false},
    {"json_escape", 0, 0, f_json_escape, false},
    {"md5", 0, 0, f_md5, false},
    {"number_with_delimiter", 0, 0, f_number_with_delimiter, false},
    {"property_accessor", 1, 1, f_property_accessor, false},
    {"sha1", 0, 0, f_sha1, false},
    {"sha2", 0, 0, f_sha2, false},
    {"sha256", 0, 0, f_sha2, false},
    {"time_zone", 1, 1, lq_filter_time_zone, false},
    {"url_escape", 0, 0, f_url_escape, true},
    {"url_param_escape", 0, 0, f_url_param_escape, true},
};

const struct lq_filter_def *lq_filter_find_braze(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
        if (strlen(filters[i].name) == len && strncmp(filters[i].name, name, len) == 0)
            return &filters[i];
    return NULL;
}
