/*
 * server.c — the libmicrohttpd glue: a thread pool on one listening socket (IPv4 or IPv6,
 * plain HTTP or HTTPS), bodies gathered up to a cap (413 past it, without reading the rest),
 * routing, and the JSON answers for 404 / 405 / 413. One log line per request (id, client, method,
 * path with its query string, secrets masked, route pattern, status, duration), and the request
 * counters and latency histogram of /metrics by route pattern (never the raw path: ids in paths
 * would make a series per id). Nothing else in cohortd includes <microhttpd.h>.
 *
 * Connection limits (docs/internals/http.md): the total cap is ours (the accept callback closes
 * a connection at once past --max-connections), and libmicrohttpd's own cap is set out of
 * reach, because at its cap libmicrohttpd stops accepting and new clients hang in the listen
 * backlog. The per-address cap is libmicrohttpd's (exact, shared by the workers): past it the
 * new connection is closed at once. Its inactivity timeout is --idle-timeout-s; conns.c adds
 * the deadline for a request to arrive whole. TLS certificates come from tls.c through the
 * per-handshake certificate callback, so a reload reaches the next handshake.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/conns.h"
#include "http/router.h"
#include "http/tls.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"

struct http_server {
    struct MHD_Daemon *daemon;
    struct http_server_config cfg;
    struct conns *conns;
    struct tls_store *tls; /* NULL: plain HTTP */
    atomic_bool started;   /* libmicrohttpd's messages are warnings until then, debug after */
};

#define REFUSED_METRIC "cohortd_http_connections_refused_total"

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
    const char *permission;  /* the matched route's permission; NULL when none */
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

const char *http_path(const struct http_request *req) {
    return req->path;
}

struct query_each {
    void (*cb)(void *ctx, const char *name, const char *value);
    void *ctx;
};

static enum MHD_Result each_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value) {
    (void)kind;
    struct query_each *q = cls;
    q->cb(q->ctx, key, value);
    return MHD_YES;
}

void http_query_each(const struct http_request *req,
                     void (*cb)(void *ctx, const char *name, const char *value), void *ctx) {
    struct query_each q = {cb, ctx};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, each_arg, &q);
}

const char *http_query(const struct http_request *req, const char *name) {
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_param(const struct http_request *req, int i) {
    return i >= 0 && i < req->params.n ? req->params.values[i] : NULL;
}

const char *http_route_permission(const struct http_request *req) {
    return req->permission;
}

const char *http_method(const struct http_request *req) {
    return req->method;
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

void http_client_ip(const struct http_request *req, char *buf, size_t len) {
    client_address(req->conn, buf, len);
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
        http_response_release(res);
        return MHD_NO;
    }
    res->body = NULL;
    if (res->body_len || res->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                res->content_type ? res->content_type : "application/json");
    for (int i = 0; i < res->n_headers; i++) /* libmicrohttpd copies them */
        MHD_add_response_header(r, res->headers[i].name, res->headers[i].value);
    http_response_release(res);
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
        req->permission = route ? route->permission : NULL;
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

/* Our record of a libmicrohttpd connection (set when it started), or NULL. */
static struct conn *conn_of(struct MHD_Connection *mc) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
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
    /* the request arrived whole: its deadline no longer runs while it is handled */
    conn_disarm(conn_of(conn));
    dispatch(srv, req);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    struct http_server *srv = cls;
    /* a kept-alive connection starts waiting for its next request now */
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        conn_arm(srv->conns, conn_of(conn));
    struct http_request *req = *con_cls;
    if (req) {
        free(req->body);
        free(req);
    }
    *con_cls = NULL;
}

/* Past the total cap a new connection is closed at once (libmicrohttpd's own cap, which would
 * leave it hanging in the backlog, is out of reach). The count may pass the cap by at most the
 * number of worker threads that accept at the same instant. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len) {
    (void)addr;
    (void)len;
    struct http_server *srv = cls;
    if (conns_count(srv->conns) < srv->cfg.max_connections)
        return MHD_YES;
    metrics_add(REFUSED_METRIC, "reason=\"max_connections\"", 1);
    log_debug("http", "op=accept refused=max_connections max=%d", srv->cfg.max_connections);
    return MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    struct http_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct conn *c = ci ? conns_open(srv->conns, ci->connect_fd) : NULL;
        if (c)
            c->owner = srv;
        *socket_context = c;
        return;
    }
    struct conn *c = *socket_context;
    if (c && srv->tls)
        tls_store_release(srv->tls, c->tls);
    conns_close(srv->conns, c);
    *socket_context = NULL;
}

/* GnuTLS asks for the certificate of a handshake: the current pair, referenced by the
 * connection until it closes (libmicrohttpd keeps its connection as the session's pointer). */
static int on_tls_cert(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                       const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                       gnutls_pcert_st **pcert, unsigned int *pcert_length,
                       gnutls_privkey_t *privkey) {
    (void)req_ca_rdn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    struct MHD_Connection *mc = gnutls_session_get_ptr(session);
    struct conn *c = mc ? conn_of(mc) : NULL;
    struct http_server *srv = c ? c->owner : NULL;
    if (!srv || !srv->tls)
        return -1; /* no record to hold the reference: refuse the handshake */
    struct tls_pair *p = tls_store_acquire(srv->tls);
    tls_store_release(srv->tls, c->tls); /* a second handshake on the connection */
    c->tls = p;
    *pcert = p->certs;
    *pcert_length = p->n_certs;
    *privkey = p->key;
    return 0;
}

/* libmicrohttpd's messages: the per-address refusal is counted (it is the only cap of its
 * own that can be reached); the rest are logged, as warnings until the server runs (they say
 * why it cannot start) and for debugging after (they are per-connection: resets, bad
 * handshakes). */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt,
                                                             va_list ap) {
    struct http_server *srv = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    if (strncmp(msg, "Server reached connection limit", 31) == 0) {
        metrics_add(REFUSED_METRIC, "reason=\"max_connections_per_ip\"", 1);
        log_debug("http", "op=accept refused=max_connections_per_ip max=%d", srv->cfg.max_per_ip);
    } else if (atomic_load(&srv->started)) {
        log_debug("http", "op=libmicrohttpd msg=%s", log_q(msg));
    } else {
        log_warn("http", "op=libmicrohttpd msg=%s", log_q(msg));
    }
}

static void collect(void *ctx) {
    struct http_server *srv = ctx;
    metrics_set("cohortd_http_connections", "", conns_count(srv->conns));
    metrics_set("cohortd_http_request_deadline_closes_total", "",
                (double)conns_expired(srv->conns));
}

static void describe_metrics(void) {
    metrics_describe("cohortd_http_connections", METRIC_GAUGE, "HTTP connections open now");
    metrics_describe(REFUSED_METRIC, METRIC_COUNTER,
                     "connections closed at accept by --max-connections or "
                     "--max-connections-per-ip");
    metrics_describe("cohortd_http_request_deadline_closes_total", METRIC_COUNTER,
                     "connections closed because a request did not arrive whole within "
                     "--request-timeout-s");
}

bool http_tls_supported(void) {
    return MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES &&
           MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK) == MHD_YES;
}

int http_tls_check(const char *cert_file, const char *key_file, char *err, size_t err_len) {
    struct tls_store *ts = tls_store_new(cert_file, key_file, err, err_len);
    int ok = ts != NULL;
    tls_store_free(ts);
    return ok ? 0 : -1;
}

/* The socket address of host:port; 0, or -1 when host is no IPv4 or IPv6 literal. */
static int make_addr(const char *host, int port, struct sockaddr_storage *ss, unsigned *flags) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        /* "::" takes IPv4 clients too (as ::ffff:a.b.c.d) where the system allows it */
        *flags |= IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr) ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
        return 0;
    }
    return -1;
}

/* The options both kinds of daemon get (a macro: MHD_start_daemon takes them as varargs). */
#define COMMON_OPTIONS(srv, addr, mhd_limit)                                                       \
    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, (srv), MHD_OPTION_SOCK_ADDR,                           \
        (struct sockaddr *)(addr), MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(srv)->cfg.threads,      \
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, (srv), MHD_OPTION_NOTIFY_CONNECTION,            \
        on_connection, (srv), MHD_OPTION_CONNECTION_LIMIT, (mhd_limit),                            \
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)(srv)->cfg.max_per_ip,                       \
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(srv)->cfg.idle_timeout_s

static void server_free(struct http_server *srv) {
    conns_free(srv->conns);
    tls_store_free(srv->tls);
    free(srv);
}

enum cd_err http_server_start(const struct http_server_config *cfg, struct http_server **out,
                              int *bound_port, char *err, size_t err_len) {
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    struct sockaddr_storage addr;
    if (make_addr(cfg->host, cfg->port, &addr, &flags) != 0) {
        snprintf(err, err_len, "%s is not an IPv4 or IPv6 address", cfg->host);
        return CD_E_INVALID;
    }
    if (cfg->max_connections < 1 || cfg->threads < 1 || cfg->request_timeout_s < 1) {
        snprintf(err, err_len, "max_connections, threads and request_timeout_s must be positive");
        return CD_E_INVALID;
    }
    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
        snprintf(err, err_len, "a TLS certificate needs its key and a key its certificate");
        return CD_E_INVALID;
    }
    struct http_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, err_len, "out of memory");
        return CD_E_NOMEM;
    }
    srv->cfg = *cfg;
    srv->conns = conns_new(cfg->request_timeout_s);
    if (!srv->conns) {
        snprintf(err, err_len, "cannot start the connection sweeper");
        free(srv);
        return CD_E_NOMEM;
    }
    if (cfg->tls_cert) {
        if (!http_tls_supported()) {
            snprintf(err, err_len, "this libmicrohttpd was built without TLS support");
            server_free(srv);
            return CD_E_INVALID;
        }
        srv->tls = tls_store_new(cfg->tls_cert, cfg->tls_key, err, err_len);
        if (!srv->tls) {
            server_free(srv);
            return CD_E_INVALID;
        }
    }
    describe_metrics();
    /* each worker gets limit / threads; make that more than the whole cap (see top) */
    unsigned mhd_limit = (unsigned)(cfg->max_connections + cfg->threads) * (unsigned)cfg->threads;
    if (srv->tls)
        srv->daemon = MHD_start_daemon(flags | MHD_USE_TLS, (uint16_t)cfg->port, on_accept, srv,
                                       on_request, srv, COMMON_OPTIONS(srv, &addr, mhd_limit),
                                       MHD_OPTION_HTTPS_CERT_CALLBACK, on_tls_cert,
                                       MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES, MHD_OPTION_END);
    else
        srv->daemon = MHD_start_daemon(flags, (uint16_t)cfg->port, on_accept, srv, on_request, srv,
                                       COMMON_OPTIONS(srv, &addr, mhd_limit), MHD_OPTION_END);
    if (!srv->daemon) {
        log_error("http", "op=listen host=%s port=%d error=\"cannot listen\"", log_q(cfg->host),
                  cfg->port);
        snprintf(err, err_len, "cannot listen");
        server_free(srv);
        return CD_E_IO;
    }
    atomic_store(&srv->started, true);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = info ? info->port : cfg->port;
    metrics_collect(collect, srv);
    if (srv->tls) {
        char serial[80];
        tls_store_serial(srv->tls, serial);
        log_info("http", "op=tls cert=%s serial=%s", log_q(cfg->tls_cert), serial);
    }
    *out = srv;
    return CD_OK;
}

int http_server_reload_tls(struct http_server *srv) {
    if (!srv->tls) {
        log_info("http", "op=tls_reload skipped=1 reason=\"no TLS configured\"");
        return -1;
    }
    char serial[80], err[512], old[80];
    if (tls_store_reload(srv->tls, serial, err, sizeof err) != 0) {
        tls_store_serial(srv->tls, old);
        log_error("http", "op=tls_reload error=%s kept_serial=%s", log_q(err), old);
        return -1;
    }
    log_info("http", "op=tls_reload cert=%s serial=%s", log_q(srv->cfg.tls_cert), serial);
    return 0;
}

void http_server_stop(struct http_server *srv) {
    if (!srv)
        return;
    metrics_uncollect(collect, srv);
    /* MHD_stop_daemon stops accepting and joins the workers itself. (No MHD_quiesce_daemon
     * first: with epoll and a thread pool, libmicrohttpd 0.9.75 can race a worker removing the
     * listen socket from its epoll set and abort the process, about one stop in 70.) */
    MHD_stop_daemon(srv->daemon);
    server_free(srv);
}
