/*
 * webhook_http.h — one personalised webhook request (core/campaign_run.h) as libcurl sends it,
 * shared by the sender's campaign sends and the API's test send: Idempotency-Key, the message's
 * headers, a default User-Agent and Content-Type, no "Expect: 100-continue", the method and
 * body, the timeout (connecting included), no redirects followed, no signals.
 *
 * The sender keeps its easy handles set up between requests (webhook_http_setup once, then
 * webhook_http_request per request) and shares the header lines that do not change between
 * requests (struct webhook_headers): only the Idempotency-Key line is made per request. It
 * reads the proxy settings from the environment once (webhook_proxy_from_env), the variables
 * libcurl would read for every transfer, so an operator's proxy works as before.
 */
#ifndef COHORTD_WORKERS_WEBHOOK_HTTP_H
#define COHORTD_WORKERS_WEBHOOK_HTTP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/messaging/campaign_run.h"

/* The proxy settings libcurl takes from the environment, read once: for http:// URLs
 * http_proxy (never HTTP_PROXY, as libcurl), else all_proxy, else ALL_PROXY; for https://
 * https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY; the hosts sent direct from no_proxy, else
 * NO_PROXY. The first variable set wins, even when empty (empty: no proxy). */
struct webhook_proxy {
    char *http, *https; /* NULL: none set, sent direct */
    char *no_proxy;     /* "" when none */
};

/* False when out of memory (p then holds nothing to free). */
bool webhook_proxy_from_env(struct webhook_proxy *p);
void webhook_proxy_free(struct webhook_proxy *p);

/* The header lines of a request after its Idempotency-Key: the message's rendered headers,
 * "Expect:", the default User-Agent and Content-Type. Shared, counted, by every request whose
 * rendered headers (and body or none) are the same. */
struct webhook_headers;

/* The lines for req: *cache when it fits req, else a new set that replaces it in *cache. The
 * caller holds one reference (webhook_headers_put); NULL when out of memory. */
struct webhook_headers *webhook_headers_get(struct webhook_headers **cache,
                                            const struct webhook_request *req);
void webhook_headers_put(struct webhook_headers *h);

/* One request's first header line (its Idempotency-Key) in front of the shared ones: kept by
 * the caller until the transfer is out of the multi handle. */
struct webhook_key_line {
    struct curl_slist node;
    char text[128];
};

/* The options that do not change between requests; once per easy handle (fresh or reset). */
void webhook_http_setup(CURL *e, int64_t timeout_ms);

/* Sets up e (after webhook_http_setup) for req: URL, method and body, headers (key in front of
 * h's lines), proxy (p; NULL: libcurl reads the environment itself), error buffer
 * (CURL_ERROR_SIZE bytes). Every option it sets is set on each call, so a handle can go from
 * one request to the next without curl_easy_reset. */
void webhook_http_request(CURL *e, const struct webhook_request *req, struct webhook_key_line *key,
                          const struct webhook_headers *h, const struct webhook_proxy *p,
                          char *error);

/* Sends req once and waits for the answer, at most timeout_ms; its body is discarded. Returns
 * the HTTP status, or 0 with error (len bytes) saying what failed. Blocks the calling thread;
 * safe from any thread once curl_global_init ran. */
int webhook_http_send_once(const struct webhook_request *req, int64_t timeout_ms, char *error,
                           size_t len);

#endif
