/* webhook_http.c — a webhook request's libcurl handle, and a single blocking send (see
 * webhook_http.h). */
#include "workers/webhook_http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool has_header(const struct webhook_request *r, const char *name) {
    size_t len = strlen(name);
    for (size_t i = 0; i < r->n_headers; i++)
        if (strncasecmp(r->headers[i], name, len) == 0 && r->headers[i][len] == ':')
            return true;
    return false;
}

/* Appends line to *list; false (the list kept for freeing) when out of memory. */
static bool append(struct curl_slist **list, const char *line) {
    struct curl_slist *next = curl_slist_append(*list, line);
    if (next)
        *list = next;
    return next != NULL;
}

bool webhook_http_prepare(CURL *e, const struct webhook_request *req, int64_t timeout_ms,
                          struct curl_slist **headers, char *error) {
    char key[128];
    snprintf(key, sizeof key, "Idempotency-Key: %s", req->idempotency_key);
    bool ok = true;
    *headers = NULL;
    for (size_t i = 0; ok && i < req->n_headers; i++)
        ok = append(headers, req->headers[i]);
    ok = ok && append(headers, key) && append(headers, "Expect:");
    if (ok && !has_header(req, "User-Agent"))
        ok = append(headers, "User-Agent: cohortd-webhook/1");
    if (ok && *req->body && !has_header(req, "Content-Type"))
        ok = append(headers, "Content-Type: application/json");
    if (!ok)
        return false;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, *headers);
    if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(req->body));
        if (strcmp(req->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    }
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    return true;
}

static size_t discard(char *data, size_t size, size_t n, void *ctx) {
    (void)data;
    (void)ctx;
    return size * n;
}

int webhook_http_send_once(const struct webhook_request *req, int64_t timeout_ms, char *error,
                           size_t len) {
    char curl_error[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    CURL *e = curl_easy_init();
    long status = 0;
    if (!e || !webhook_http_prepare(e, req, timeout_ms, &headers, curl_error)) {
        snprintf(error, len, "out of memory");
    } else {
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        CURLcode rc = curl_easy_perform(e);
        if (rc == CURLE_OK)
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        else
            snprintf(error, len, "%s", curl_easy_strerror(rc)); /* stable words, no timings */
    }
    curl_slist_free_all(headers);
    if (e)
        curl_easy_cleanup(e);
    return (int)status;
}
