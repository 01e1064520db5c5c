/*
 * heap_signature.c — Heap-Hash verification (see heap_signature.h). Touches only memory;
 * costs one or two HMAC-SHA256 passes over the body.
 */
#include "core/cohorts/heap_signature.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crypto.h"

const char *heap_sig_result_name(enum heap_sig_result r) {
    switch (r) {
    case HEAP_SIG_OK:
        return "ok";
    case HEAP_SIG_MISSING:
        return "missing header";
    case HEAP_SIG_GARBLED:
        return "garbled header";
    case HEAP_SIG_STALE:
        return "stale timestamp";
    case HEAP_SIG_FUTURE:
        return "future timestamp";
    case HEAP_SIG_MISMATCH:
        return "signature mismatch";
    }
    return "unknown";
}

/* Copies the trimmed span [b, e) into out (cap bytes); returns its length or -1. */
static int trimmed(const char *b, const char *e, char *out, size_t cap) {
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    size_t n = (size_t)(e - b);
    if (n == 0 || n >= cap)
        return -1;
    memcpy(out, b, n);
    out[n] = '\0';
    return (int)n;
}

/* Splits "ts:…,hmac:…" (pairs in either order) into ts text and hmac text. */
static int parse_header(const char *h, char ts[32], char hmac[128]) {
    const char *comma = strchr(h, ',');
    if (!comma || strchr(comma + 1, ','))
        return -1;
    const char *parts[2][2] = {{h, comma}, {comma + 1, h + strlen(h)}};
    int have_ts = 0, have_hmac = 0;
    for (int i = 0; i < 2; i++) {
        char pair[256], key[16];
        if (trimmed(parts[i][0], parts[i][1], pair, sizeof pair) < 0)
            return -1;
        char *colon = strchr(pair, ':');
        if (!colon || trimmed(pair, colon, key, sizeof key) < 0)
            return -1;
        const char *value_end = pair + strlen(pair);
        if (strcmp(key, "ts") == 0 && !have_ts)
            have_ts = trimmed(colon + 1, value_end, ts, 32) > 0;
        else if (strcmp(key, "hmac") == 0 && !have_hmac)
            have_hmac = trimmed(colon + 1, value_end, hmac, 128) > 0;
        else
            return -1;
    }
    if (!have_ts || !have_hmac)
        return -1;
    for (const char *p = ts; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    return 0;
}

/* The HMAC as Heap documents it (base64), or as hex in either case, which some senders (and
 * hand-made test requests) use: 64 hex digits can never be a base64 SHA-256 (44 characters). */
static int hmac_matches(const char *secret, const char *ts, const char *body, size_t len,
                        const char *hmac) {
    uint8_t mac[32];
    char b64[48], hex[65];
    crypto_hmac_sha256(secret, strlen(secret), ts, strlen(ts), body, len, mac);
    size_t n = strlen(hmac);
    if (n == 64) {
        char lower[65];
        for (size_t i = 0; i < n; i++)
            lower[i] = (char)tolower((unsigned char)hmac[i]);
        lower[n] = '\0';
        crypto_hex(mac, sizeof mac, hex);
        return crypto_equal(hex, 64, lower, n);
    }
    crypto_base64(mac, sizeof mac, b64);
    return crypto_equal(b64, strlen(b64), hmac, n);
}

enum heap_sig_result heap_sig_verify(const char *header, const char *secret, const char *body,
                                     size_t body_len, int64_t now_ms,
                                     const struct heap_sig_window *window) {
    char ts[32], hmac[128];
    if (!header || !*header)
        return HEAP_SIG_MISSING;
    if (parse_header(header, ts, hmac) != 0 || strlen(ts) > 15)
        return HEAP_SIG_GARBLED;
    int64_t t = strtoll(ts, NULL, 10);
    if (now_ms - t > window->max_past_ms)
        return HEAP_SIG_STALE;
    if (t - now_ms >= window->max_future_ms)
        return HEAP_SIG_FUTURE;
    if (hmac_matches(secret, ts, body, body_len, hmac))
        return HEAP_SIG_OK;
    /* Heap's reference validator signs JSON.stringify(parsed body): compact, keys in order. */
    json_t *parsed = json_loadb(body, body_len, JSON_DECODE_ANY, NULL);
    char *compact = parsed ? json_dumps(parsed, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                                    JSON_ENCODE_ANY | JSON_REAL_PRECISION(17))
                           : NULL;
    json_decref(parsed);
    int ok = compact && (strlen(compact) != body_len || memcmp(compact, body, body_len) != 0) &&
             hmac_matches(secret, ts, compact, strlen(compact), hmac);
    free(compact);
    return ok ? HEAP_SIG_OK : HEAP_SIG_MISMATCH;
}
