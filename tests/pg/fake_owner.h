/*
 * fake_owner.h — a stand-in for the node that owns a workspace, for the forward tests: a plain
 * HTTP/1.1 server on a free loopback port that keeps the head of the last request it got and
 * answers every request with a fixed, raw answer (status line, headers and body as given, so
 * a test can send headers cohortd itself never writes). One connection at a time.
 */
#ifndef COHORTD_TESTS_PG_FAKE_OWNER_H
#define COHORTD_TESTS_PG_FAKE_OWNER_H

#include <arpa/inet.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct fake_owner {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t lock;
    char head[16384]; /* the last request's line and headers (under lock) */
    const char *answer;
    _Atomic int stopping;
};

static inline void fake_owner_serve(struct fake_owner *f, int c) {
    char buf[sizeof f->head];
    size_t n = 0;
    const char *end = NULL;
    while (n < sizeof buf - 1 && !end) {
        ssize_t k = read(c, buf + n, sizeof buf - 1 - n);
        if (k <= 0)
            return;
        n += (size_t)k;
        buf[n] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (!end)
        return;
    size_t head_len = (size_t)(end - buf) + 4;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    size_t body_len = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
    char sink[4096];
    for (size_t have = n - head_len; have < body_len;) { /* the body: read and dropped */
        ssize_t k = read(c, sink, sizeof sink);
        if (k <= 0)
            break;
        have += (size_t)k;
    }
    pthread_mutex_lock(&f->lock);
    memcpy(f->head, buf, head_len);
    f->head[head_len] = '\0';
    const char *answer = f->answer;
    pthread_mutex_unlock(&f->lock);
    for (size_t off = 0, len = strlen(answer); off < len;) {
        ssize_t k = write(c, answer + off, len - off);
        if (k <= 0)
            break;
        off += (size_t)k;
    }
}

static inline void *fake_owner_loop(void *arg) {
    struct fake_owner *f = arg;
    while (!f->stopping) {
        int c = accept(f->fd, NULL, NULL);
        if (c < 0)
            continue;
        fake_owner_serve(f, c);
        close(c);
    }
    return NULL;
}

/* Starts it answering `answer` (a whole raw HTTP answer; it must say "Connection: close"). */
static inline struct fake_owner *fake_owner_start(const char *answer) {
    struct fake_owner *f = calloc(1, sizeof *f);
    f->answer = answer;
    pthread_mutex_init(&f->lock, NULL);
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (f->fd < 0 || bind(f->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(f->fd, 8) != 0 ||
        getsockname(f->fd, (struct sockaddr *)&a, &len) != 0)
        fail_msg("fake owner: cannot listen on a loopback port");
    f->port = ntohs(a.sin_port);
    pthread_create(&f->thread, NULL, fake_owner_loop, f);
    return f;
}

static inline void fake_owner_answer(struct fake_owner *f, const char *answer) {
    pthread_mutex_lock(&f->lock);
    f->answer = answer;
    pthread_mutex_unlock(&f->lock);
}

/* The value of header `name` in the last request (malloc'd), or NULL. */
static inline char *fake_owner_header(struct fake_owner *f, const char *name) {
    pthread_mutex_lock(&f->lock);
    char *out = NULL;
    size_t n = strlen(name);
    for (const char *line = strstr(f->head, "\r\n"); line && line[2] != '\r';
         line = strstr(line + 2, "\r\n"))
        if (strncasecmp(line + 2, name, n) == 0 && line[2 + n] == ':') {
            const char *v = line + 3 + n;
            while (*v == ' ')
                v++;
            out = strndup(v, strcspn(v, "\r"));
            break;
        }
    pthread_mutex_unlock(&f->lock);
    return out;
}

static inline void fake_owner_stop(struct fake_owner *f) {
    f->stopping = 1;
    shutdown(f->fd, SHUT_RDWR);
    close(f->fd);
    pthread_join(f->thread, NULL);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

#endif
