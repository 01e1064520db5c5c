/*
 * fuzz_heap_webhook.c — libFuzzer driver for what POST /heap/webhooks/{id} reads before the
 * store: the Heap-Hash header (core/cohorts/heap_signature.c) and the page body
 * (api_heap_page_read, api/heap_webhook.c). The input is the header's value, a newline, then
 * the body. The body is parsed as the handler parses it and read into a page whose fields must
 * hold what heap_sync.h promises (ids non-empty and within the limit, pages in order); the
 * header is verified at a fixed clock. Then the body is signed the way Heap signs (over the raw
 * bytes, and over its compact form when it is JSON), and that header must verify, in either
 * pair order; a stale, a future and a wrongly keyed one must not.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/limits.h"
#include "core/cohorts/heap_signature.h"
#include "core/cohorts/heap_sync.h"
#include "util/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_MS 1700000000000LL
static const char secret[] = "s3cr3t";
static const struct heap_sig_window window = {60000, 1000};

static void fail(const char *what) {
    fprintf(stderr, "fuzz_heap_webhook: %s\n", what);
    abort();
}

static void check_page(const char *body, size_t len) {
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        return;
    }
    struct heap_page page = {0};
    char reason[API_HEAP_REASON_LEN];
    enum cd_err err = api_heap_page_read(root, &page, reason);
    if (err == CD_OK && page.kind == HEAP_PAGE_MALFORMED && !*reason)
        fail("a malformed page without a reason");
    if (err == CD_OK && page.kind == HEAP_PAGE_SYNC) {
        if (page.n_lists < 1 || page.n_lists > 2 || !page.cohort_id[0])
            fail("a sync page without lists or segment");
        if (page.has_sync_info && (!page.sync_task_id || !*page.sync_task_id ||
                                   page.page_number < 1 || page.page_number > page.total_pages))
            fail("a sync page with bad sync_info");
        if (heap_page_ids(&page, false) + heap_page_ids(&page, true) > LIMIT_HEAP_PAGE_IDS)
            fail("a sync page over the id limit");
        for (int l = 0; l < page.n_lists; l++)
            for (size_t i = 0; i < page.lists[l].n_ids; i++) {
                const char *id = page.lists[l].ids[i];
                if (!id || !*id || strlen(id) > LIMIT_EXTERNAL_ID)
                    fail("a sync page with a bad id");
            }
    }
    api_heap_page_release(&page);
    json_decref(root);
}

/* "ts:<ts>,hmac:<base64 of HMAC(key, ts || msg)>" (or the pairs reversed) into out. */
static void sign(char *out, size_t cap, const char *key, int64_t ts, const char *msg, size_t len,
                 bool reversed) {
    char ts_text[32], b64[48];
    uint8_t mac[32];
    snprintf(ts_text, sizeof ts_text, "%lld", (long long)ts);
    crypto_hmac_sha256(key, strlen(key), ts_text, strlen(ts_text), msg, len, mac);
    crypto_base64(mac, sizeof mac, b64);
    if (reversed)
        snprintf(out, cap, " hmac:%s , ts:%s ", b64, ts_text);
    else
        snprintf(out, cap, "ts:%s,hmac:%s", ts_text, b64);
}

static void expect(const char *header, const char *body, size_t len, enum heap_sig_result want,
                   const char *what) {
    if (heap_sig_verify(header, secret, body, len, NOW_MS, &window) != want)
        fail(what);
}

static void check_signatures(const char *body, size_t len) {
    char h[128];
    sign(h, sizeof h, secret, NOW_MS, body, len, false);
    expect(h, body, len, HEAP_SIG_OK, "a signed body does not verify");
    sign(h, sizeof h, secret, NOW_MS - 500, body, len, true);
    expect(h, body, len, HEAP_SIG_OK, "a signed body with the pairs reversed does not verify");
    sign(h, sizeof h, secret, NOW_MS - window.max_past_ms - 1, body, len, false);
    expect(h, body, len, HEAP_SIG_STALE, "a stale signature is not refused as stale");
    sign(h, sizeof h, secret, NOW_MS + window.max_future_ms, body, len, false);
    expect(h, body, len, HEAP_SIG_FUTURE, "a future signature is not refused as future");
    sign(h, sizeof h, "another secret", NOW_MS, body, len, false);
    expect(h, body, len, HEAP_SIG_MISMATCH, "a signature under another key verifies");
    /* what Heap's reference validator signs: the compact JSON, keys in order */
    json_t *parsed = json_loadb(body, len, JSON_DECODE_ANY, NULL);
    char *compact = parsed ? json_dumps(parsed, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                                    JSON_ENCODE_ANY | JSON_REAL_PRECISION(17))
                           : NULL;
    if (compact) {
        sign(h, sizeof h, secret, NOW_MS, compact, strlen(compact), false);
        expect(h, body, len, HEAP_SIG_OK, "a body signed in its compact form does not verify");
    }
    free(compact);
    json_decref(parsed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nl = memchr(data, '\n', size);
    size_t header_len = nl ? (size_t)(nl - data) : 0;
    const uint8_t *body_start = nl ? nl + 1 : data;
    size_t body_len = size - (size_t)(body_start - data);
    /* the server hands both over NUL-terminated (http.h), the body possibly holding NULs */
    char *header = malloc(header_len + 1);
    char *body = malloc(body_len + 1);
    if (header && body) {
        memcpy(header, data, header_len);
        header[header_len] = '\0';
        memcpy(body, body_start, body_len);
        body[body_len] = '\0';
        check_page(body, body_len);
        enum heap_sig_result r =
            heap_sig_verify(nl ? header : NULL, secret, body, body_len, NOW_MS, &window);
        if (r > HEAP_SIG_MISMATCH || !heap_sig_result_name(r))
            fail("an unknown verification result");
        check_signatures(body, body_len);
    }
    free(header);
    free(body);
    return 0;
}
