/*
 * conns.c — the table of open connections and the request-deadline sweeper (see conns.h).
 *
 * libmicrohttpd's own timeout only measures inactivity, so a client that sends a byte every
 * few seconds holds a connection for ever. Here each connection carries a deadline, armed when
 * it is accepted and again when a response finished (the next request starts), and disarmed
 * when a request has arrived whole. Every SWEEP_MS the sweeper walks the list and calls
 * shutdown(2) on the socket of each connection past its deadline; the worker thread that owns
 * the connection then reads end-of-stream and closes it as usual (the sweeper never closes a
 * descriptor, and a connection leaves the list under the lock before its descriptor is
 * closed). So no connection spends more than request_timeout_s + SWEEP_MS receiving a request.
 *
 * Costs: a walk of the list (at most --max-connections entries) four times a second, under a
 * lock that opening and closing a connection also take briefly. Arming is an atomic store.
 */
#include "http/conns.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "util/log.h"

#define SWEEP_MS 250

struct conns {
    pthread_mutex_t lock; /* the list and `stopping` */
    pthread_cond_t wake;
    struct conn *head;
    bool stopping;
    pthread_t sweeper;
    int64_t timeout_ms;
    atomic_int n_open;
    atomic_uint_fast64_t n_expired;
};

int64_t conns_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Shuts down every connection past its deadline; returns how many (and how many shutdowns
 * failed, in *failed). Runs under the table's lock, so it writes no log line itself. */
static int sweep(struct conns *t, int64_t now, int *failed) {
    int n = 0;
    for (struct conn *c = t->head; c; c = c->next) {
        int64_t d = atomic_load(&c->deadline_ms);
        if (d == 0 || now < d)
            continue;
        atomic_store(&c->deadline_ms, 0);
        n++;
        /* end of stream for the owner thread, which then closes the connection */
        if (shutdown(c->fd, SHUT_RDWR) != 0 && errno != ENOTCONN)
            (*failed)++;
    }
    return n;
}

static void *sweeper_main(void *arg) {
    struct conns *t = arg;
    pthread_mutex_lock(&t->lock);
    while (!t->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)SWEEP_MS * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&t->wake, &t->lock, &until);
        if (t->stopping)
            break;
        int failed = 0, n = sweep(t, conns_now_ms(), &failed);
        if (n == 0)
            continue;
        atomic_fetch_add(&t->n_expired, (uint_fast64_t)n);
        pthread_mutex_unlock(&t->lock);
        log_info("http", "op=request_deadline closed=%d shutdown_failed=%d timeout_ms=%lld", n,
                 failed, (long long)t->timeout_ms);
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

struct conns *conns_new(int request_timeout_s) {
    struct conns *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->timeout_ms = (int64_t)request_timeout_s * 1000;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&t->lock, NULL);
    if (pthread_create(&t->sweeper, NULL, sweeper_main, t) != 0) {
        pthread_cond_destroy(&t->wake);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
    }
    pthread_setname_np(t->sweeper, "cd-sweeper");
    return t;
}

void conns_free(struct conns *t) {
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->sweeper, NULL);
    /* libmicrohttpd reported every connection closed before this; free any left anyway */
    for (struct conn *c = t->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

struct conn *conns_open(struct conns *t, int fd) {
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    atomic_fetch_add(&t->n_open, 1);
    c->fd = fd;
    conn_arm(t, c);
    pthread_mutex_lock(&t->lock);
    c->next = t->head;
    if (t->head)
        t->head->prev = c;
    t->head = c;
    pthread_mutex_unlock(&t->lock);
    return c;
}

void conns_close(struct conns *t, struct conn *c) {
    if (!c)
        return;
    atomic_fetch_sub(&t->n_open, 1);
    pthread_mutex_lock(&t->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        t->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&t->lock);
    free(c);
}

void conn_arm(const struct conns *t, struct conn *c) {
    if (c)
        atomic_store(&c->deadline_ms, conns_now_ms() + t->timeout_ms);
}

void conn_disarm(struct conn *c) {
    if (c)
        atomic_store(&c->deadline_ms, 0);
}

int conns_count(const struct conns *t) {
    return atomic_load(&t->n_open);
}

uint64_t conns_expired(const struct conns *t) {
    return atomic_load(&t->n_expired);
}
