/*
 * conns.h — the table of open HTTP connections (folder-private): how many there are (for the
 * total cap, checked when a connection is accepted) and a deadline per connection for the
 * request it is receiving. A sweeper thread shuts down the socket of any connection whose
 * deadline passed; libmicrohttpd then sees the end of the stream and closes it itself.
 */
#ifndef COHORTD_HTTP_CONNS_H
#define COHORTD_HTTP_CONNS_H

#include <stdatomic.h>
#include <stdint.h>

struct tls_pair;

/* One open connection. Created when libmicrohttpd reports it started, freed when it reports
 * it closed (before the socket is closed, so the sweeper never shuts down a reused fd). */
struct conn {
    struct conn *prev, *next; /* guarded by the table's lock */
    int fd;
    _Atomic int64_t deadline_ms; /* monotonic; 0: not receiving a request (no deadline) */
    struct tls_pair *tls;        /* the certificate its handshake chose, or NULL */
    void *owner;                 /* the server it belongs to (for callbacks without a closure) */
};

struct conns;

/* A table whose connections get request_timeout_s seconds to deliver a whole request (headers
 * and body), counted from their accept and from the end of each previous response; starts the
 * sweeper thread. NULL when memory or threads run out. */
struct conns *conns_new(int request_timeout_s);
/* Stops the sweeper and frees the table; call after libmicrohttpd stopped (no connection is
 * left). NULL-safe. */
void conns_free(struct conns *t);

/* Registers a started connection on socket fd with its deadline armed; NULL when memory runs
 * out (the connection then has no deadline and is not counted). */
struct conn *conns_open(struct conns *t, int fd);
/* Unregisters and frees c. NULL-safe. */
void conns_close(struct conns *t, struct conn *c);

/* The connection starts receiving a request: it must arrive whole within the timeout. */
void conn_arm(const struct conns *t, struct conn *c);
/* The request arrived whole: no deadline while it is handled and answered. */
void conn_disarm(struct conn *c);

/* Connections open now (started and not yet closed). */
int conns_count(const struct conns *t);
/* Connections shut down by the sweeper since start. */
uint64_t conns_expired(const struct conns *t);

/* The monotonic clock in milliseconds. */
int64_t conns_now_ms(void);

#endif
