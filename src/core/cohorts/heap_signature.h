/*
 * heap_signature.h — verifying Heap's `Heap-Hash: ts:<ms>,hmac:<base64>` header
 * (CONTRACT.md §2.4; the HMAC may also be 64 hex digits, in either case): HMAC-SHA256 keyed by
 * the webhook secret over the decimal timestamp
 * followed by the request body, compared in constant time, with a timestamp window.
 * The clock is a parameter so the worked vectors can be checked.
 */
#ifndef COHORTD_CORE_COHORTS_HEAP_SIGNATURE_H
#define COHORTD_CORE_COHORTS_HEAP_SIGNATURE_H

#include <stddef.h>
#include <stdint.h>

enum heap_sig_result {
    HEAP_SIG_OK = 0,
    HEAP_SIG_MISSING,  /* no header */
    HEAP_SIG_GARBLED,  /* not "ts:…,hmac:…" */
    HEAP_SIG_STALE,    /* ts older than the past tolerance */
    HEAP_SIG_FUTURE,   /* ts at or beyond the future tolerance */
    HEAP_SIG_MISMATCH, /* wrong HMAC */
};

struct heap_sig_window {
    int64_t max_past_ms;   /* default 60000 */
    int64_t max_future_ms; /* default 1000: ts - now >= this is rejected */
};

/* Stable text of a result for logs ("stale timestamp", …). */
const char *heap_sig_result_name(enum heap_sig_result r);

/*
 * Verifies `header` for `body` under `secret` at time `now_ms`. The HMAC is checked over the
 * raw body first and, failing that, over its compact re-serialisation with key order kept
 * (what Heap's reference validator signs), so a pretty-printing sender still verifies.
 */
enum heap_sig_result heap_sig_verify(const char *header, const char *secret, const char *body,
                                     size_t body_len, int64_t now_ms,
                                     const struct heap_sig_window *window);

#endif
