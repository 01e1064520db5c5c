/* login_throttle.c — failed-login counts per email and per address (see login_throttle.h). */
#include "core/workspace/login_throttle.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crypto.h"

struct entry {
    char key[65]; /* SHA-256 of "e:" email or "i:" address: fixed size, nothing kept in clear */
    int failures;
    int64_t last_at;
};

struct login_throttle {
    pthread_mutex_t lock;
    struct entry *e;
    size_t n, cap;
};

struct login_throttle *login_throttle_new(void) {
    struct login_throttle *t = calloc(1, sizeof *t);
    if (t)
        pthread_mutex_init(&t->lock, NULL);
    return t;
}

void login_throttle_free(struct login_throttle *t) {
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t->e);
    free(t);
}

static void key_of(char kind, const char *text, char out[65]) {
    char buf[300];
    int n = snprintf(buf, sizeof buf, "%c:%s", kind, text ? text : "");
    crypto_sha256_hex(buf, n < (int)sizeof buf ? (size_t)n : sizeof buf - 1, out);
}

/* Under the lock: the entry of key, or NULL; forgotten entries are dropped on the way. */
static struct entry *find(struct login_throttle *t, const char *key, int64_t now) {
    for (size_t i = t->n; i-- > 0;) {
        if (now - t->e[i].last_at >= LOGIN_FORGET_MS) {
            t->e[i] = t->e[--t->n];
            continue;
        }
        if (memcmp(t->e[i].key, key, 64) == 0)
            return &t->e[i];
    }
    return NULL;
}

static int64_t delay_ms(int failures, int free_failures) {
    if (failures < free_failures)
        return 0;
    int64_t d = LOGIN_FIRST_DELAY_MS;
    for (int i = free_failures; i < failures && d < LOGIN_MAX_DELAY_MS; i++)
        d *= 2;
    return d < LOGIN_MAX_DELAY_MS ? d : LOGIN_MAX_DELAY_MS;
}

static int64_t wait_of(struct login_throttle *t, char kind, const char *text, int free_failures,
                       int64_t now) {
    char key[65];
    key_of(kind, text, key);
    struct entry *e = find(t, key, now);
    if (!e)
        return 0;
    int64_t until = e->last_at + delay_ms(e->failures, free_failures);
    return until > now ? until - now : 0;
}

int64_t login_throttle_wait_ms(struct login_throttle *t, const char *email, const char *ip,
                               int64_t now) {
    pthread_mutex_lock(&t->lock);
    int64_t a = wait_of(t, 'e', email, LOGIN_FREE_PER_EMAIL, now);
    int64_t b = wait_of(t, 'i', ip, LOGIN_FREE_PER_IP, now);
    pthread_mutex_unlock(&t->lock);
    return a > b ? a : b;
}

static void count(struct login_throttle *t, char kind, const char *text, int64_t now) {
    char key[65];
    key_of(kind, text, key);
    struct entry *e = find(t, key, now);
    if (!e) {
        if (t->n >= LOGIN_THROTTLE_MAX) { /* the oldest failure goes */
            size_t old = 0;
            for (size_t i = 1; i < t->n; i++)
                if (t->e[i].last_at < t->e[old].last_at)
                    old = i;
            t->e[old] = t->e[--t->n];
        }
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 16;
            struct entry *ne = realloc(t->e, cap * sizeof *ne);
            if (!ne)
                return; /* not counted: the login stays as slow as the hash makes it */
            t->e = ne;
            t->cap = cap;
        }
        e = &t->e[t->n++];
        memcpy(e->key, key, sizeof e->key);
        e->failures = 0;
    }
    e->failures++;
    e->last_at = now;
}

void login_throttle_failed(struct login_throttle *t, const char *email, const char *ip,
                           int64_t now) {
    pthread_mutex_lock(&t->lock);
    count(t, 'e', email, now);
    count(t, 'i', ip, now);
    pthread_mutex_unlock(&t->lock);
}

void login_throttle_succeeded(struct login_throttle *t, const char *email) {
    char key[65];
    key_of('e', email, key);
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->n; i++)
        if (memcmp(t->e[i].key, key, 64) == 0) {
            t->e[i] = t->e[--t->n];
            break;
        }
    pthread_mutex_unlock(&t->lock);
}
