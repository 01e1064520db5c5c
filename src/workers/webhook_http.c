/* webhook_http.c — a webhook request's libcurl handle, and a single blocking send (see
 * webhook_http.h). */
#include "workers/webhook_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct webhook_headers {
    int refs;
    bool body;    /* a body: the default Content-Type applies */
    char **lines; /* the message's rendered lines, compared with the next request's */
    size_t n;
    struct curl_slist *list;
};

/* The first of names that is set (even empty), copied; *out NULL when none. False when out of
 * memory. */
static bool env_first(const char *const *names, char **out) {
    *out = NULL;
    for (; *names; names++) {
        const char *v = getenv(*names);
        if (v) {
            *out = strdup(v);
            return *out != NULL;
        }
    }
    return true;
}

bool webhook_proxy_from_env(struct webhook_proxy *p) {
    static const char *const http[] = {"http_proxy", "all_proxy", "ALL_PROXY", NULL};
    static const char *const https[] = {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                                        NULL};
    static const char *const no[] = {"no_proxy", "NO_PROXY", NULL};
    *p = (struct webhook_proxy){0};
    bool ok = env_first(http, &p->http) && env_first(https, &p->https) &&
              env_first(no, &p->no_proxy) && (p->no_proxy || (p->no_proxy = strdup("")));
    if (!ok)
        webhook_proxy_free(p);
    return ok;
}

void webhook_proxy_free(struct webhook_proxy *p) {
    free(p->http);
    free(p->https);
    free(p->no_proxy);
    *p = (struct webhook_proxy){0};
}

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

static bool fits(const struct webhook_headers *h, const struct webhook_request *req) {
    if (h->n != req->n_headers || h->body != (*req->body != '\0'))
        return false;
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->lines[i], req->headers[i]) != 0)
            return false;
    return true;
}

void webhook_headers_put(struct webhook_headers *h) {
    if (!h || --h->refs > 0)
        return;
    for (size_t i = 0; i < h->n; i++)
        free(h->lines[i]);
    free(h->lines);
    curl_slist_free_all(h->list);
    free(h);
}

static struct webhook_headers *headers_make(const struct webhook_request *req) {
    struct webhook_headers *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->refs = 1;
    h->body = *req->body != '\0';
    h->lines = calloc(req->n_headers ? req->n_headers : 1, sizeof *h->lines);
    bool ok = h->lines != NULL;
    for (; ok && h->n < req->n_headers; h->n++)
        ok = (h->lines[h->n] = strdup(req->headers[h->n])) != NULL;
    for (size_t i = 0; ok && i < req->n_headers; i++)
        ok = append(&h->list, req->headers[i]);
    ok = ok && append(&h->list, "Expect:");
    if (ok && !has_header(req, "User-Agent"))
        ok = append(&h->list, "User-Agent: cohortd-webhook/1");
    if (ok && h->body && !has_header(req, "Content-Type"))
        ok = append(&h->list, "Content-Type: application/json");
    if (!ok) {
        webhook_headers_put(h);
        return NULL;
    }
    return h;
}

struct webhook_headers *webhook_headers_get(struct webhook_headers **cache,
                                            const struct webhook_request *req) {
    if (*cache && fits(*cache, req)) {
        (*cache)->refs++;
        return *cache;
    }
    struct webhook_headers *h = headers_make(req);
    if (!h)
        return NULL;
    webhook_headers_put(*cache);
    *cache = h;
    h->refs++; /* the cache's and the caller's */
    return h;
}

void webhook_http_setup(CURL *e, int64_t timeout_ms) {
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
}

void webhook_http_request(CURL *e, const struct webhook_request *req, struct webhook_key_line *key,
                          const struct webhook_headers *h, const struct webhook_proxy *p,
                          char *error) {
    snprintf(key->text, sizeof key->text, "Idempotency-Key: %s", req->idempotency_key);
    key->node = (struct curl_slist){.data = key->text, .next = h->list};
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, &key->node);
    if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(req->body));
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST,
                         strcmp(req->method, "POST") != 0 ? req->method : NULL);
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    if (p) { /* set: libcurl reads no proxy variable itself ("" is none) */
        const char *proxy = strncmp(req->url, "https://", 8) == 0  ? p->https
                            : strncmp(req->url, "http://", 7) == 0 ? p->http
                                                                   : NULL;
        curl_easy_setopt(e, CURLOPT_PROXY, proxy ? proxy : "");
        curl_easy_setopt(e, CURLOPT_NOPROXY, p->no_proxy);
    }
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error);
}

static size_t discard(char *data, size_t size, size_t n, void *ctx) {
    (void)data;
    (void)ctx;
    return size * n;
}

int webhook_http_send_once(const struct webhook_request *req, int64_t timeout_ms, char *error,
                           size_t len) {
    char curl_error[CURL_ERROR_SIZE] = "";
    struct webhook_headers *h = headers_make(req);
    struct webhook_key_line key;
    CURL *e = h ? curl_easy_init() : NULL;
    long status = 0;
    if (!e) {
        snprintf(error, len, "out of memory");
    } else {
        webhook_http_setup(e, timeout_ms);
        webhook_http_request(e, req, &key, h, NULL, curl_error);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        CURLcode rc = curl_easy_perform(e);
        if (rc == CURLE_OK)
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        else
            snprintf(error, len, "%s", curl_easy_strerror(rc)); /* stable words, no timings */
        curl_easy_cleanup(e);
    }
    webhook_headers_put(h);
    return (int)status;
}
