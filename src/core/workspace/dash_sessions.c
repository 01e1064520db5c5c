/* dash_sessions.c — the in-memory session table (see dash_sessions.h). A plain array scanned
 * under the mutex: a dashboard has a handful of sessions, and the table is capped. */
#include "core/workspace/dash_sessions.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/crypto.h"

struct entry {
    char hash[65]; /* SHA-256 of the token */
    struct dash_session s;
    int64_t used_at;
};

struct dash_sessions {
    pthread_mutex_t lock;
    int64_t idle_ms, max_ms;
    struct entry *e;
    size_t n, cap;
};

struct dash_sessions *dash_sessions_new(int64_t idle_ms, int64_t max_ms) {
    struct dash_sessions *ss = calloc(1, sizeof *ss);
    if (!ss)
        return NULL;
    pthread_mutex_init(&ss->lock, NULL);
    ss->idle_ms = idle_ms;
    ss->max_ms = max_ms;
    return ss;
}

void dash_sessions_free(struct dash_sessions *ss) {
    if (!ss)
        return;
    pthread_mutex_destroy(&ss->lock);
    free(ss->e);
    free(ss);
}

static int random_hex(char out[DASH_TOKEN_LEN + 1]) {
    unsigned char b[DASH_TOKEN_LEN / 2];
    if (crypto_random(b, sizeof b) != 0)
        return -1;
    crypto_hex(b, sizeof b, out);
    return 0;
}

static bool expired(const struct dash_sessions *ss, const struct entry *e, int64_t now) {
    return now - e->used_at >= ss->idle_ms || now - e->s.created_at >= ss->max_ms;
}

static void remove_at(struct dash_sessions *ss, size_t i) {
    ss->e[i] = ss->e[--ss->n];
}

/* Under the lock: the index of the session with this token's hash, or -1. */
static long find(const struct dash_sessions *ss, const char *token) {
    if (!token || strlen(token) != DASH_TOKEN_LEN)
        return -1;
    char hash[65];
    crypto_sha256_hex(token, DASH_TOKEN_LEN, hash);
    for (size_t i = 0; i < ss->n; i++)
        if (memcmp(ss->e[i].hash, hash, 64) == 0)
            return (long)i;
    return -1;
}

/* Under the lock: room for one more, dropping the expired sessions, then the least recently
 * used one when the table is at DASH_SESSIONS_MAX. */
static enum cd_err make_room(struct dash_sessions *ss, int64_t now) {
    for (size_t i = ss->n; i-- > 0;)
        if (expired(ss, &ss->e[i], now))
            remove_at(ss, i);
    if (ss->n >= DASH_SESSIONS_MAX) {
        size_t lru = 0;
        for (size_t i = 1; i < ss->n; i++)
            if (ss->e[i].used_at < ss->e[lru].used_at)
                lru = i;
        remove_at(ss, lru);
    }
    if (ss->n < ss->cap)
        return CD_OK;
    size_t cap = ss->cap ? ss->cap * 2 : 16;
    struct entry *e = realloc(ss->e, cap * sizeof *e);
    if (!e)
        return CD_E_NOMEM;
    ss->e = e;
    ss->cap = cap;
    return CD_OK;
}

enum cd_err dash_session_create(struct dash_sessions *ss, int64_t user_id, int64_t password_set_at,
                                int64_t ws_id, int64_t now, struct dash_session *out) {
    memset(out, 0, sizeof *out);
    if (random_hex(out->token) != 0 || random_hex(out->csrf) != 0)
        return CD_E_INTERNAL;
    out->user_id = user_id;
    out->password_set_at = password_set_at;
    out->ws_id = ws_id;
    out->created_at = now;
    pthread_mutex_lock(&ss->lock);
    enum cd_err err = make_room(ss, now);
    if (err == CD_OK) {
        struct entry *e = &ss->e[ss->n++];
        crypto_sha256_hex(out->token, DASH_TOKEN_LEN, e->hash);
        e->s = *out;
        memset(e->s.token, 0, sizeof e->s.token); /* only its hash stays */
        e->used_at = now;
    }
    pthread_mutex_unlock(&ss->lock);
    return err;
}

enum cd_err dash_session_use(struct dash_sessions *ss, const char *token, int64_t now,
                             struct dash_session *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&ss->lock);
    long i = find(ss, token);
    enum cd_err err = CD_E_NOT_FOUND;
    if (i >= 0 && expired(ss, &ss->e[i], now)) {
        remove_at(ss, (size_t)i);
    } else if (i >= 0) {
        ss->e[i].used_at = now;
        *out = ss->e[i].s;
        err = CD_OK;
    }
    pthread_mutex_unlock(&ss->lock);
    return err;
}

enum cd_err dash_session_set_workspace(struct dash_sessions *ss, const char *token, int64_t ws_id) {
    pthread_mutex_lock(&ss->lock);
    long i = find(ss, token);
    if (i >= 0)
        ss->e[i].s.ws_id = ws_id;
    pthread_mutex_unlock(&ss->lock);
    return i >= 0 ? CD_OK : CD_E_NOT_FOUND;
}

void dash_session_end(struct dash_sessions *ss, const char *token) {
    pthread_mutex_lock(&ss->lock);
    long i = find(ss, token);
    if (i >= 0)
        remove_at(ss, (size_t)i);
    pthread_mutex_unlock(&ss->lock);
}

void dash_sessions_end_user(struct dash_sessions *ss, int64_t user_id) {
    pthread_mutex_lock(&ss->lock);
    for (size_t i = ss->n; i-- > 0;)
        if (ss->e[i].s.user_id == user_id)
            remove_at(ss, i);
    pthread_mutex_unlock(&ss->lock);
}
