/*
 * server.c — the libmicrohttpd glue: a thread pool on one listening socket, bodies gathered
 * up to a cap (413 past it, without reading the rest), routing, and the JSON answers for
 * 404 / 405 / 413. One log line per request (id, client, method, path with its query string,
 * secrets masked, route pattern, status, duration), and the request counters and latency
 * histogram of /metrics by route pattern (never the raw path: ids in paths would make a series
 * per id). Nothing else in cohortd includes <microhttpd.h>.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/router.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"

struct http_server {
    struct MHD_Daemon *daemon;
    struct http_server_config cfg;
};

struct http_request {
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    char *body;
    size_t body_len;
    size_t body_cap;
    int too_large;
    struct route_params params;
    unsigned long id;
    int64_t started_ms;
    struct timespec started; /* monotonic, for the latency histogram */
    const char *route;       /* the matched pattern; NULL when none matched */
};

static atomic_ulong next_request_id = 1;

const char *http_body(const struct http_request *req, size_t *len) {
    if (len)
        *len = req->body_len;
    return req->body ? req->body : "";
}

const char *http_header(const struct http_request *req, const char *name) {
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_query(const struct http_request *req, const char *name) {
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_param(const struct http_request *req, int i) {
    return i >= 0 && i < req->params.n ? req->params.values[i] : NULL;
}

unsigned long http_request_id(const struct http_request *req) {
    return req->id;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    struct http_stream *st = cls;
    size_t n = st->next(st->ctx, buf, max);
    return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void stream_free(void *cls) {
    struct http_stream *st = cls;
    if (st->done)
        st->done(st->ctx);
    free(st);
}

static struct MHD_Response *make_response(struct http_response *res) {
    if (!res->stream.next)
        return MHD_create_response_from_buffer(res->body_len, res->body, MHD_RESPMEM_MUST_FREE);
    struct http_stream *st = malloc(sizeof *st);
    if (!st) {
        if (res->stream.done)
            res->stream.done(res->stream.ctx);
        return NULL;
    }
    *st = res->stream;
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, (size_t)64 * 1024,
                                                               stream_read, st, stream_free);
    if (!r)
        stream_free(st);
    return r;
}

/* ---- the access line and the request metrics ---- */

#define ACCESS_MAX_ARGS 64

struct query_args {
    const char *names[ACCESS_MAX_ARGS];
    const char *values[ACCESS_MAX_ARGS];
    size_t n;
    bool more; /* past ACCESS_MAX_ARGS (then the line ends in "&…") */
};

static enum MHD_Result take_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value) {
    (void)kind;
    struct query_args *q = cls;
    if (q->n == ACCESS_MAX_ARGS) {
        q->more = true;
        return MHD_NO;
    }
    q->names[q->n] = key;
    q->values[q->n++] = value;
    return MHD_YES;
}

/* The client's address as text ("-" when unknown). */
static void client_address(struct MHD_Connection *conn, char *buf, size_t len) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    snprintf(buf, len, "-");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
                  (socklen_t)len);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
                  (socklen_t)len);
}

static void log_and_count(const struct http_request *req, int status) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double seconds = (double)(now.tv_sec - req->started.tv_sec) +
                     (double)(now.tv_nsec - req->started.tv_nsec) / 1e9;
    const char *route = req->route ? req->route : "unmatched";
    char route_label[160], labels[200];
    metrics_label(route_label, sizeof route_label, route);
    snprintf(labels, sizeof labels, "route=\"%s\",status=\"%d\"", route_label, status);
    metrics_add("cohortd_http_requests_total", labels, 1);
    snprintf(labels, sizeof labels, "route=\"%s\"", route_label);
    metrics_observe("cohortd_http_request_duration_seconds", labels, seconds);
    if (LOG_INFO > log_threshold)
        return;
    struct query_args q = {.n = 0};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, take_arg, &q);
    if (q.more) { /* the line says that arguments were left out */
        q.names[ACCESS_MAX_ARGS - 1] = "\xe2\x80\xa6";
        q.values[ACCESS_MAX_ARGS - 1] = NULL;
    }
    char *url = log_url(req->path, q.names, q.values, q.n);
    char client[INET6_ADDRSTRLEN];
    client_address(req->conn, client, sizeof client);
    log_info("http", "req=%lu client=%s method=%s path=%s route=%s status=%d ms=%lld", req->id,
             client, log_q(req->method), log_q(url ? url : req->path), log_q(route), status,
             (long long)(seconds * 1000));
    free(url);
}

static enum MHD_Result send_response(struct http_request *req, struct http_response *res) {
    struct MHD_Response *r = make_response(res);
    if (!r) {
        free(res->body);
        return MHD_NO;
    }
    res->body = NULL;
    if (res->body_len || res->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                res->content_type ? res->content_type : "application/json");
    for (int i = 0; i < res->n_headers; i++)
        MHD_add_response_header(r, res->headers[i].name, res->headers[i].value);
    /* counted and logged before the answer leaves: a client that saw it finds it counted */
    log_and_count(req, res->status);
    enum MHD_Result ok = MHD_queue_response(req->conn, (unsigned)res->status, r);
    MHD_destroy_response(r);
    return ok;
}

static void dispatch(struct http_server *srv, struct http_request *req) {
    struct http_response res = {0};
    bool path_known = false;
    if (req->too_large) {
        char detail[96];
        snprintf(detail, sizeof detail, "the request body is larger than %zu bytes",
                 srv->cfg.max_body);
        http_reply_error(&res, 413, "Payload Too Large", detail);
    } else {
        const struct http_route *route = router_match(
            srv->cfg.routes, srv->cfg.n_routes, req->method, req->path, &req->params, &path_known);
        req->route = route ? route->pattern : NULL;
        if (route) {
            route->handler(srv->cfg.ctx, req, &res);
            if (!res.status)
                http_reply_message(&res, 500, "Internal Server Error");
        } else if (path_known) {
            http_reply_message(&res, 405, "Method Not Allowed");
        } else {
            http_reply_message(&res, 404, "Not Found");
        }
    }
    send_response(req, &res);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)version;
    struct http_server *srv = cls;
    struct http_request *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        req->conn = conn;
        req->method = method;
        req->path = url;
        req->id = atomic_fetch_add(&next_request_id, 1);
        req->started_ms = time_now_ms();
        clock_gettime(CLOCK_MONOTONIC, &req->started);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > srv->cfg.max_body)
            req->too_large = 1;
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->too_large || req->body_len + n > srv->cfg.max_body) {
            req->too_large = 1;
            return MHD_YES;
        }
        if (req->body_len + n + 1 > req->body_cap) {
            size_t cap = req->body_cap ? req->body_cap : 4096;
            while (cap < req->body_len + n + 1)
                cap *= 2;
            char *b = realloc(req->body, cap);
            if (!b)
                return MHD_NO;
            req->body = b;
            req->body_cap = cap;
        }
        memcpy(req->body + req->body_len, upload_data, n);
        req->body_len += n;
        req->body[req->body_len] = '\0';
        return MHD_YES;
    }
    dispatch(srv, req);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)conn;
    (void)toe;
    struct http_request *req = *con_cls;
    if (req) {
        free(req->body);
        free(req);
    }
    *con_cls = NULL;
}

/* Scrape-time gauge: the connections the daemon holds now. */
static void collect_connections(void *ctx) {
    struct http_server *srv = ctx;
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    if (info)
        metrics_set("cohortd_http_open_connections", "", info->num_connections);
}

enum cd_err http_server_start(const struct http_server_config *cfg, struct http_server **out,
                              int *bound_port) {
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)cfg->port);
    if (inet_pton(AF_INET, cfg->host, &addr.sin_addr) != 1) {
        log_error("http", "op=listen host=%s error=\"not an IPv4 address\"", log_q(cfg->host));
        return CD_E_INVALID;
    }
    struct http_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return CD_E_NOMEM;
    srv->cfg = *cfg;
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    srv->daemon = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, srv,
                                   MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                   MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads,
                                   MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                                   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
    if (!srv->daemon) {
        log_error("http", "op=listen host=%s port=%d error=\"cannot listen\"", log_q(cfg->host),
                  cfg->port);
        free(srv);
        return CD_E_IO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = info ? info->port : cfg->port;
    metrics_collect(collect_connections, srv);
    *out = srv;
    return CD_OK;
}

void http_server_stop(struct http_server *srv) {
    if (!srv)
        return;
    metrics_uncollect(collect_connections, srv);
    /* MHD_stop_daemon stops accepting and joins the workers itself. (No MHD_quiesce_daemon
     * first: with epoll and a thread pool, libmicrohttpd 0.9.75 can race a worker removing the
     * listen socket from its epoll set and abort the process, about one stop in 70.) */
    MHD_stop_daemon(srv->daemon);
    free(srv);
}
