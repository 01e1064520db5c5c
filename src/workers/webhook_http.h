/*
 * webhook_http.h — one personalised webhook request (core/campaign_run.h) as libcurl sends it,
 * shared by the sender's campaign sends and the API's test send: the message's headers plus
 * Idempotency-Key, a default User-Agent and Content-Type, no "Expect: 100-continue", the
 * method and body, the timeout (connecting included), no redirects followed, no signals.
 */
#ifndef COHORTD_WORKERS_WEBHOOK_HTTP_H
#define COHORTD_WORKERS_WEBHOOK_HTTP_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "core/messaging/campaign_run.h"

/* Sets up e (fresh or reset) to send req; *headers gets the header list, to free with
 * curl_slist_free_all after the transfer (also on failure). error: CURL_ERROR_SIZE bytes for
 * the transport error. False when out of memory. The caller sets the write callback. */
bool webhook_http_prepare(CURL *e, const struct webhook_request *req, int64_t timeout_ms,
                          struct curl_slist **headers, char *error);

/* Sends req once and waits for the answer, at most timeout_ms; its body is discarded. Returns
 * the HTTP status, or 0 with error (len bytes) saying what failed. Blocks the calling thread;
 * safe from any thread once curl_global_init ran. */
int webhook_http_send_once(const struct webhook_request *req, int64_t timeout_ms, char *error,
                           size_t len);

#endif
