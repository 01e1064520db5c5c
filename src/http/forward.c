/*
 * forward.c — http_forward (http.h): a request for a workspace another node owns is sent to
 * that node with libcurl and its answer relayed. Each server thread keeps one curl handle (its
 * connections to the other nodes stay open between requests), freed when the thread ends.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http.h"
#include "util/log.h"

static pthread_key_t handle_key;
static pthread_once_t handle_once = PTHREAD_ONCE_INIT;

static void handle_free(void *h) {
    curl_easy_cleanup(h);
}

static void handle_key_make(void) {
    (void)pthread_key_create(&handle_key, handle_free);
}

static CURL *thread_handle(void) {
    pthread_once(&handle_once, handle_key_make);
    CURL *h = pthread_getspecific(handle_key);
    if (!h && (h = curl_easy_init()) != NULL)
        (void)pthread_setspecific(handle_key, h);
    else if (h)
        curl_easy_reset(h);
    return h;
}

/* The request headers a forward carries (authentication, the body's type, the dashboard's). */
static const char *const sent_headers[] = {"Authorization", "Content-Type", "Cookie",
                                           "X-CSRF-Token", "Heap-Hash"};
/* The answer headers relayed (their names static, as http_add_header needs). */
static const char *const relayed_headers[] = {
    "Retry-After",         "X-RateLimit-Limit", "X-RateLimit-Remaining",
    "X-RateLimit-Reset",   "Set-Cookie",        "Cache-Control",
    "Content-Disposition", "Location",          "WWW-Authenticate"};
/* Content types relayed as they are (static strings); any other becomes octet-stream. */
static const char *const known_types[] = {"application/json",         "text/csv",
                                          "application/zip",          "application/gzip",
                                          "text/html; charset=utf-8", "text/plain; charset=utf-8",
                                          "application/x-ndjson"};

struct url_buf {
    CURL *h;
    char *url;
    size_t len, cap;
    bool failed;
};

static void url_add(struct url_buf *u, const char *text) {
    size_t n = strlen(text);
    if (u->len + n + 1 > u->cap) {
        size_t cap = (u->len + n + 1) * 2;
        char *v = realloc(u->url, cap);
        if (!v) {
            u->failed = true;
            return;
        }
        u->url = v;
        u->cap = cap;
    }
    memcpy(u->url + u->len, text, n + 1);
    u->len += n;
}

static void add_arg(void *ctx, const char *name, const char *value) {
    struct url_buf *u = ctx;
    url_add(u, strchr(u->url, '?') ? "&" : "?");
    char *k = curl_easy_escape(u->h, name, 0);
    url_add(u, k ? k : "");
    curl_free(k);
    if (value) {
        char *v = curl_easy_escape(u->h, value, 0);
        url_add(u, "=");
        url_add(u, v ? v : "");
        curl_free(v);
    }
}

struct answer {
    char *body;
    size_t len, cap;
    bool failed;
    struct http_response *res;
    const char *content_type;
    const char *dropped; /* a relayed header that could not be added */
};

static size_t on_body(char *p, size_t size, size_t n, void *ctx) {
    struct answer *a = ctx;
    size_t k = size * n;
    if (a->len + k + 1 > a->cap) {
        size_t cap = (a->len + k + 1) * 2;
        char *v = realloc(a->body, cap);
        if (!v) {
            a->failed = true;
            return 0;
        }
        a->body = v;
        a->cap = cap;
    }
    memcpy(a->body + a->len, p, k);
    a->len += k;
    a->body[a->len] = '\0';
    return k;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx) {
    struct answer *a = ctx;
    size_t k = size * n;
    const char *colon = memchr(p, ':', k);
    if (!colon)
        return k;
    size_t name_len = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t v_len = k - name_len - 1;
    while (v_len && (*v == ' ' || *v == '\t'))
        v++, v_len--;
    while (v_len && (v[v_len - 1] == '\r' || v[v_len - 1] == '\n' || v[v_len - 1] == ' '))
        v_len--;
    if (name_len == 12 && strncasecmp(p, "Content-Type", 12) == 0) {
        a->content_type = "application/octet-stream";
        for (size_t i = 0; i < sizeof known_types / sizeof *known_types; i++) {
            size_t t = strlen(known_types[i]);
            if (v_len >= t && strncasecmp(v, known_types[i], t) == 0 && (v_len == t || v[t] == ';'))
                a->content_type = known_types[i];
        }
        return k;
    }
    for (size_t i = 0; i < sizeof relayed_headers / sizeof *relayed_headers; i++) {
        if (strlen(relayed_headers[i]) != name_len ||
            strncasecmp(p, relayed_headers[i], name_len) != 0)
            continue;
        char *value = strndup(v, v_len); /* whole, whatever its length */
        if (!value || !http_add_header(a->res, relayed_headers[i], value)) {
            a->dropped = relayed_headers[i]; /* the answer is not relayed without it */
            free(value);
            return 0;
        }
        free(value);
    }
    return k;
}

/* "Name: value" (malloc'd, any length) for the request's header list; NULL without memory. */
static char *header_line(const char *name, const char *value) {
    size_t n = strlen(name) + 2 + strlen(value) + 1;
    char *line = malloc(n);
    if (line)
        snprintf(line, n, "%s: %s", name, value);
    return line;
}

/* Appends "name: value" to *list; false without memory (the list stays as it was). */
static bool append_header(struct curl_slist **list, const char *name, const char *value) {
    char *line = header_line(name, value);
    struct curl_slist *l = line ? curl_slist_append(*list, line) : NULL;
    free(line);
    if (!l)
        return false;
    *list = l;
    return true;
}

void http_forward(const char *base_url, const char *hop, const struct http_request *req,
                  struct http_response *res, int64_t timeout_ms, bool *reached) {
    *reached = false;
    CURL *h = thread_handle();
    struct url_buf u = {.h = h};
    url_add(&u, base_url);
    url_add(&u, http_path(req));
    if (h)
        http_query_each(req, add_arg, &u);
    struct curl_slist *hdrs = NULL;
    bool hdrs_ok = true;
    for (size_t i = 0; i < sizeof sent_headers / sizeof *sent_headers; i++) {
        const char *v = http_header(req, sent_headers[i]);
        if (v) /* whole, whatever its length */
            hdrs_ok = append_header(&hdrs, sent_headers[i], v) && hdrs_ok;
    }
    hdrs_ok = append_header(&hdrs, HTTP_FORWARDED_HEADER, hop) && hdrs_ok;
    struct curl_slist *l = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
    hdrs_ok = l != NULL && hdrs_ok;
    hdrs = l ? l : hdrs;
    struct answer a = {.res = res, .content_type = "application/json"};
    CURLcode rc = CURLE_OUT_OF_MEMORY;
    if (h && !u.failed && hdrs_ok) {
        size_t body_len;
        const char *body = http_body(req, &body_len);
        const char *method = http_method(req);
        curl_easy_setopt(h, CURLOPT_URL, u.url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        if (strcmp(method, "GET") == 0) {
            curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        } else if (strcmp(method, "HEAD") == 0) {
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        } else {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
            if (strcmp(method, "POST") != 0)
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        }
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);
        rc = curl_easy_perform(h);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    }
    curl_slist_free_all(hdrs);
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (a.dropped) { /* the owner answered, but not all of its answer could be relayed */
        log_error("http",
                  "op=forward url=%s error=\"header %s of the answer could not be relayed\"",
                  u.url ? u.url : base_url, a.dropped);
        free(a.body);
        free(u.url);
        http_clear_headers(res);
        char why[400];
        snprintf(why, sizeof why,
                 "the answer of the node that owns this workspace (%s) could not be relayed whole "
                 "(header %s)",
                 base_url, a.dropped);
        http_reply_error(res, 502, "Bad Gateway", why);
        *reached = true;
        return;
    }
    if (rc != CURLE_OK || a.failed || status < 100) {
        log_warn("http", "op=forward url=%s error=\"%s\"", u.url ? u.url : base_url,
                 curl_easy_strerror(rc));
        free(a.body);
        free(u.url);
        http_clear_headers(res);
        char why[400];
        snprintf(why, sizeof why,
                 "the node that owns this workspace (%s) could not be reached: %s; retry", base_url,
                 curl_easy_strerror(rc));
        http_add_header(res, "Retry-After", "1");
        http_reply_error(res, 503, "Service Unavailable", why);
        return;
    }
    free(u.url);
    *reached = true;
    http_reply_raw(res, (int)status, a.content_type, a.body ? a.body : strdup(""), a.len);
}
