/*
 * http.h — what the HTTP layer hands to the API layer: a request (path parameters, query,
 * headers, the whole body), a response to fill (status, JSON body, a few
 * headers), and the route table that maps one onto a handler. libmicrohttpd stays inside
 * src/http/; no other layer includes it.
 */
#ifndef COHORTD_HTTP_HTTP_H
#define COHORTD_HTTP_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct http_request;

/* The raw body bytes (NUL-terminated for convenience; may hold NULs). */
const char *http_body(const struct http_request *req, size_t *len);
/* A header by case-insensitive name, or NULL. */
const char *http_header(const struct http_request *req, const char *name);
/* A query-string argument (URL-decoded), or NULL. */
const char *http_query(const struct http_request *req, const char *name);
/* The request path, without the query ("/users/track"). */
const char *http_path(const struct http_request *req);
/* Calls cb on every query-string argument in order (URL-decoded; value NULL for "?flag"). */
void http_query_each(const struct http_request *req,
                     void (*cb)(void *ctx, const char *name, const char *value), void *ctx);
/* The request method ("GET", "POST", …). */
const char *http_method(const struct http_request *req);
/* The client's address as text ("-" when unknown) into buf (at least 46 bytes). */
void http_client_ip(const struct http_request *req, char *buf, size_t len);
/* The i-th "{…}" segment of the matched route pattern, or NULL; a last segment "{path}" holds
 * the rest of the path (segments and the slashes between them; maybe ""). */
const char *http_param(const struct http_request *req, int i);
/* A request id for log lines. */
unsigned long http_request_id(const struct http_request *req);
/* The `permission` of the route the request matched (see struct http_route), or NULL. */
const char *http_route_permission(const struct http_request *req);

/* Headers a response may add: the three X-RateLimit-* of a rate-limited key, a Retry-After,
 * and room for the handler's own. */
#define HTTP_MAX_EXTRA_HEADERS 8

/* A streamed body: next() writes up to max bytes into buf and returns how many (0 = the end);
 * done() frees ctx once the response is finished or aborted. Both run on a server thread after
 * the handler returned. */
struct http_stream {
    size_t (*next)(void *ctx, char *buf, size_t max);
    void (*done)(void *ctx);
    void *ctx;
};

struct http_response {
    int status;
    char *body; /* owned, malloc'd */
    size_t body_len;
    const char *content_type;  /* static string; default application/json */
    struct http_stream stream; /* used when stream.next is set */
    int n_headers;
    struct {
        const char *name; /* static string */
        char *value;      /* owned, malloc'd: any length */
    } headers[HTTP_MAX_EXTRA_HEADERS];
};

/* Serialises body (stolen; may be NULL for an empty body) as compact JSON. */
void http_reply_json(struct http_response *res, int status, json_t *body);
/* {"message": message} */
void http_reply_message(struct http_response *res, int status, const char *message);
/* {"message": message, "errors": [detail]} — for errors that deserve an explanation. */
void http_reply_error(struct http_response *res, int status, const char *message,
                      const char *detail);
/* Hands over a malloc'd buffer as the body. */
void http_reply_raw(struct http_response *res, int status, const char *content_type, char *body,
                    size_t len);
/* Adds a header (name a static string; value copied whole, whatever its length). False, with a
 * log line, when the response already has HTTP_MAX_EXTRA_HEADERS or memory ran out: the header
 * is not sent, and a caller that relays headers must not answer as if it were. */
bool http_add_header(struct http_response *res, const char *name, const char *value);
/* Frees the headers' values and empties the list (the body stays). */
void http_clear_headers(struct http_response *res);
/* Frees what res owns (body and headers) once it is sent or dropped. */
void http_response_release(struct http_response *res);
/* The header a node adds to a request it forwards to another (its node id as the value): a
 * forwarded request is never forwarded again. */
#define HTTP_FORWARDED_HEADER "X-Cohortd-Forwarded-By"
/* Sends req (method, path, query, body and the headers that carry authentication and content
 * type) to base_url (http://host:port of another node) with the hop header `hop`, and copies
 * the answer into res: status, body, content type and the headers that matter (Retry-After,
 * X-RateLimit-*, Set-Cookie, Cache-Control, Content-Disposition, Location). When the node
 * cannot be reached (or answers nothing within timeout_ms), res is a 503 that says so and
 * *reached is false. Runs on the calling (server) thread; a connection per thread is kept. */
void http_forward(const char *base_url, const char *hop, const struct http_request *req,
                  struct http_response *res, int64_t timeout_ms, bool *reached);
/* Streams the body produced by stream (ownership of stream.ctx passes to the server). */
void http_reply_stream(struct http_response *res, int status, const char *content_type,
                       struct http_stream stream);

typedef void (*http_handler)(void *ctx, const struct http_request *req, struct http_response *res);

/* A route: method and a pattern of '/'-separated segments where "{name}" matches one
 * non-empty segment (captured as a parameter). permission is opaque here: the name of what
 * the layer above requires of the caller's credentials (a REST API key permission), handed
 * back by http_route_permission; NULL for none. */
struct http_route {
    const char *method;
    const char *pattern;
    http_handler handler;
    const char *permission;
};

struct http_server_config {
    const char *host; /* IPv4 or IPv6 literal, without brackets; "::" also serves IPv4 clients
                         where the system allows dual-stack sockets */
    int port;         /* 0: any free port */
    size_t max_body;  /* bytes; larger bodies get 413 */
    int threads;
    const char *tls_cert; /* PEM certificate chain and PEM key: HTTPS; both NULL: plain HTTP */
    const char *tls_key;
    int max_connections;   /* open at once; past it a new connection is closed at once */
    int max_per_ip;        /* open at once from one client address; 0: no limit */
    int idle_timeout_s;    /* a connection with no traffic this long is closed; 0: never */
    int request_timeout_s; /* a request (headers and body) must arrive whole within this */
    const struct http_route *routes;
    size_t n_routes;
    void *ctx; /* handed to every handler */
};

struct http_server;

/* Whether this libmicrohttpd can serve HTTPS. */
bool http_tls_supported(void);
/* Loads and checks a certificate chain and key as the server would; 0, or -1 with the reason
 * (naming the file) in err. */
int http_tls_check(const char *cert_file, const char *key_file, char *err, size_t err_len);

/* Starts serving; *bound_port receives the port actually bound. On failure err (err_len
 * bytes) says why: CD_E_INVALID for a bad address or an unusable certificate or key (the
 * message names the file), CD_E_IO when the address cannot be listened on. */
enum cd_err http_server_start(const struct http_server_config *cfg, struct http_server **out,
                              int *bound_port, char *err, size_t err_len);
/* Loads the certificate and key files again (SIGHUP): new connections get the new pair, open
 * ones keep theirs. A bad new pair is logged and the old one kept. Returns 0 when the new pair
 * is serving, -1 when the old one still is (or the server has no TLS). */
int http_server_reload_tls(struct http_server *srv);
/* Stops accepting, lets in-flight requests finish, frees the server. */
void http_server_stop(struct http_server *srv);

#endif
