/* dash_sessions.c — the session table in the store (see dash_sessions.h). A request reads its
 * session's row; the last use is written back only when it is older than a twentieth of the
 * idle time (at most 10 s), so a busy dashboard does not write on every request. */
#include "core/workspace/dash_sessions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/crypto.h"
#include "util/log.h"

struct dash_sessions {
    struct store *s;
    int64_t idle_ms, max_ms;
    int64_t not_before; /* sessions created earlier are ended (0: none) */
};

static const struct store_dashboard_ops *ops(const struct dash_sessions *ss) {
    return STORE_OPS(ss->s)->dashboard;
}

struct dash_sessions *dash_sessions_new(struct store *s, int64_t idle_ms, int64_t max_ms,
                                        bool keep_existing, int64_t now) {
    struct dash_sessions *ss = calloc(1, sizeof *ss);
    if (!ss)
        return NULL;
    ss->s = s;
    ss->idle_ms = idle_ms;
    ss->max_ms = max_ms;
    ss->not_before = keep_existing ? 0 : now;
    return ss;
}

void dash_sessions_free(struct dash_sessions *ss) {
    free(ss);
}

static int random_hex(char out[DASH_TOKEN_LEN + 1]) {
    unsigned char b[DASH_TOKEN_LEN / 2];
    if (crypto_random(b, sizeof b) != 0)
        return -1;
    crypto_hex(b, sizeof b, out);
    return 0;
}

/* The stored key of a token: its SHA-256; false when the token cannot be one of ours. */
static bool token_hash(const char *token, char hash[65]) {
    if (!token || strlen(token) != DASH_TOKEN_LEN)
        return false;
    crypto_sha256_hex(token, DASH_TOKEN_LEN, hash);
    return true;
}

/* The CSRF token of a session token: SHA-256 of "csrf:" and the token, first 64 hex digits. */
static void token_csrf(const char *token, char csrf[DASH_TOKEN_LEN + 1]) {
    char text[5 + DASH_TOKEN_LEN + 1], hash[65];
    snprintf(text, sizeof text, "csrf:%s", token);
    crypto_sha256_hex(text, strlen(text), hash);
    snprintf(csrf, DASH_TOKEN_LEN + 1, "%s", hash);
}

static bool expired(const struct dash_sessions *ss, const struct dash_session_row *r, int64_t now) {
    return now - r->used_at >= ss->idle_ms || now - r->created_at >= ss->max_ms ||
           r->created_at < ss->not_before;
}

enum cd_err dash_session_create(struct dash_sessions *ss, int64_t user_id, int64_t password_set_at,
                                int64_t ws_id, int64_t now, struct dash_session *out) {
    memset(out, 0, sizeof *out);
    if (random_hex(out->token) != 0)
        return CD_E_INTERNAL;
    token_csrf(out->token, out->csrf);
    out->user_id = user_id;
    out->password_set_at = password_set_at;
    out->ws_id = ws_id;
    out->created_at = now;
    /* room for one more: the expired ones go, then the least recently used beyond the cap */
    int64_t created_before = now - ss->max_ms + 1;
    if (created_before < ss->not_before)
        created_before = ss->not_before;
    enum cd_err err =
        ops(ss)->session_prune(ss->s, now - ss->idle_ms + 1, created_before, DASH_SESSIONS_MAX - 1);
    char hash[65];
    token_hash(out->token, hash);
    struct dash_session_row row = {.hash = hash,
                                   .user_id = user_id,
                                   .password_set_at = password_set_at,
                                   .ws_id = ws_id,
                                   .created_at = now,
                                   .used_at = now};
    if (err == CD_OK)
        err = ops(ss)->session_add(ss->s, &row);
    if (err != CD_OK) {
        log_error("dashboard", "op=session_create error=%s", cd_err_name(err));
        memset(out, 0, sizeof *out);
    }
    return err;
}

enum cd_err dash_session_use(struct dash_sessions *ss, const char *token, int64_t now,
                             struct dash_session *out) {
    memset(out, 0, sizeof *out);
    char hash[65];
    if (!token_hash(token, hash))
        return CD_E_NOT_FOUND;
    struct dash_session_row row;
    enum cd_err err = ops(ss)->session_get(ss->s, hash, &row);
    if (err != CD_OK)
        return err;
    if (expired(ss, &row, now)) {
        (void)ops(ss)->session_end(ss->s, hash);
        return CD_E_NOT_FOUND;
    }
    int64_t touch_ms = ss->idle_ms / 20 < 10000 ? ss->idle_ms / 20 : 10000;
    if (now - row.used_at >= touch_ms) {
        err = ops(ss)->session_touch(ss->s, hash, now);
        if (err != CD_OK) /* CD_E_NOT_FOUND: ended meanwhile (a logout on another node) */
            return err;
    }
    token_csrf(token, out->csrf);
    out->user_id = row.user_id;
    out->password_set_at = row.password_set_at;
    out->ws_id = row.ws_id;
    out->created_at = row.created_at;
    return CD_OK;
}

enum cd_err dash_session_set_workspace(struct dash_sessions *ss, const char *token, int64_t ws_id) {
    char hash[65];
    if (!token_hash(token, hash))
        return CD_E_NOT_FOUND;
    return ops(ss)->session_set_workspace(ss->s, hash, ws_id);
}

enum cd_err dash_session_end(struct dash_sessions *ss, const char *token) {
    char hash[65];
    if (!token_hash(token, hash))
        return CD_OK;
    return ops(ss)->session_end(ss->s, hash);
}

enum cd_err dash_sessions_end_user(struct dash_sessions *ss, int64_t user_id) {
    return user_id > 0 ? ops(ss)->session_end_user(ss->s, user_id) : CD_OK;
}
