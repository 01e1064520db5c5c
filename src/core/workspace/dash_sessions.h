/*
 * dash_sessions.h — the dashboard's login sessions, kept in the store (store_dashboard_ops),
 * so that every node of a shared store (PostgreSQL) knows every session: a marketer logged in
 * through one node is logged in on all of them, and a logout ends the session everywhere. A
 * session is a random 256-bit token (the cookie); the store keeps only its SHA-256, so a copy
 * of the store or a backup holds nothing that logs in. Its CSRF token is derived from the
 * token (never stored either). A row holds the user, the password generation the session was
 * made with (sessions die with a password change) and the session's current workspace. A
 * session ends when unused for idle_ms, max_ms after login, at logout, or when the table is
 * full and it is the least recently used. With a store one server has to itself (SQLite), the
 * sessions begun before the server started count as ended: a restart logs everyone out. Safe
 * from any thread.
 */
#ifndef COHORTD_CORE_WORKSPACE_DASH_SESSIONS_H
#define COHORTD_CORE_WORKSPACE_DASH_SESSIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

struct store;

#define DASH_TOKEN_LEN 64 /* hex characters of a session or CSRF token */
#define DASH_SESSIONS_MAX 10000

struct dash_session {
    char token[DASH_TOKEN_LEN + 1]; /* only filled by dash_session_create */
    char csrf[DASH_TOKEN_LEN + 1];
    int64_t user_id;
    int64_t password_set_at;
    int64_t ws_id;
    int64_t created_at;
};

struct dash_sessions;

/* The sessions of store s. keep_existing: sessions already in the store stay valid (other
 * nodes share them); otherwise those begun before `now` count as ended (and go at the next
 * prune): nothing is written at start. NULL when memory ran out. */
struct dash_sessions *dash_sessions_new(struct store *s, int64_t idle_ms, int64_t max_ms,
                                        bool keep_existing, int64_t now);
void dash_sessions_free(struct dash_sessions *ss);

/* A new session of user (whose password was set at password_set_at) on workspace ws_id; out
 * gets its token and CSRF token. CD_E_INTERNAL without randomness, CD_E_NOMEM, CD_E_STORE. */
enum cd_err dash_session_create(struct dash_sessions *ss, int64_t user_id, int64_t password_set_at,
                                int64_t ws_id, int64_t now, struct dash_session *out);
/* The live session of token, marked used at now (out->token is left empty). CD_E_NOT_FOUND
 * when there is none, or it expired (then it is removed); CD_E_STORE. */
enum cd_err dash_session_use(struct dash_sessions *ss, const char *token, int64_t now,
                             struct dash_session *out);
/* Switches the session's current workspace; CD_E_NOT_FOUND when it is gone. */
enum cd_err dash_session_set_workspace(struct dash_sessions *ss, const char *token, int64_t ws_id);
/* Ends the session of token (nothing when there is none). */
enum cd_err dash_session_end(struct dash_sessions *ss, const char *token);
/* Ends every session of a user (removed, or its password changed). */
enum cd_err dash_sessions_end_user(struct dash_sessions *ss, int64_t user_id);

#endif
