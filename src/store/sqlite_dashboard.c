/*
 * sqlite_dashboard.c — dashboard users in SQLite (store_dashboard_ops): one row each, with the
 * Argon2id hash of the password; and their login sessions, a row each by the token's hash. Reads
 * use the read pool; every write is one autocommit statement.
 */
#include "store/sqlite_int.h"

#include <stdio.h>
#include <string.h>

#define USER_COLUMNS "id, email, role, password_hash, password_set_at, created_at"

struct user_cb {
    void (*cb)(void *, const struct dash_user_row *);
    void *ctx;
};

static void user_row(sqlite3_stmt *st, void *vctx) {
    struct user_cb *u = vctx;
    struct dash_user_row row = {
        .id = sqlite3_column_int64(st, 0),
        .email = sq_col_text(st, 1),
        .role = sq_col_text(st, 2),
        .password_hash = sq_col_text(st, 3),
        .password_set_at = sqlite3_column_int64(st, 4),
        .created_at = sqlite3_column_int64(st, 5),
    };
    u->cb(u->ctx, &row);
}

static void row_int64(sqlite3_stmt *st, void *ctx) {
    *(int64_t *)ctx = sqlite3_column_int64(st, 0);
}

static enum cd_err user_add(struct store *s, const char *email, const char *role,
                            const char *password_hash, int64_t now, int64_t *id) {
    const char *t[] = {email, role, password_hash};
    int64_t i[] = {now};
    enum cd_err err = sq_write(s,
                               "INSERT INTO dashboard_users(email, role, password_hash, "
                               "password_set_at, created_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                               "ttti", t, i, NULL);
    if (err != CD_OK)
        return err;
    /* the id is read back by email: the insert ran on the writer, whose rowid is not ours to
     * read once its lock is released */
    const char *te[] = {email};
    return sq_read_row(s, "SELECT id FROM dashboard_users WHERE email = ?", "t", te, NULL,
                       row_int64, id);
}

static enum cd_err user_get(struct store *s, const char *email, int64_t id,
                            void (*cb)(void *, const struct dash_user_row *), void *ctx) {
    struct user_cb u = {cb, ctx};
    if (email) {
        const char *t[] = {email};
        return sq_read_row(s, "SELECT " USER_COLUMNS " FROM dashboard_users WHERE email = ?", "t",
                           t, NULL, user_row, &u);
    }
    int64_t i[] = {id};
    return sq_read_row(s, "SELECT " USER_COLUMNS " FROM dashboard_users WHERE id = ?", "i", NULL, i,
                       user_row, &u);
}

static enum cd_err user_list(struct store *s, void (*cb)(void *, const struct dash_user_row *),
                             void *ctx) {
    struct user_cb u = {cb, ctx};
    return sq_rows(s, "SELECT " USER_COLUMNS " FROM dashboard_users ORDER BY id", "", NULL, NULL,
                   user_row, &u);
}

static enum cd_err user_delete(struct store *s, const char *email) {
    const char *t[] = {email};
    int changes = 0;
    enum cd_err err =
        sq_write(s, "DELETE FROM dashboard_users WHERE email = ?", "t", t, NULL, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

static enum cd_err user_set_password(struct store *s, const char *email, const char *password_hash,
                                     int64_t now) {
    const char *t[] = {email, password_hash};
    int64_t i[] = {now};
    int changes = 0;
    enum cd_err err = sq_write(s,
                               "UPDATE dashboard_users SET password_hash = ?2, "
                               "password_set_at = ?3 WHERE email = ?1",
                               "tti", t, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

static void session_row(sqlite3_stmt *st, void *ctx) {
    struct dash_session_row *r = ctx;
    r->hash = NULL;
    r->user_id = sqlite3_column_int64(st, 0);
    r->password_set_at = sqlite3_column_int64(st, 1);
    r->ws_id = sqlite3_column_int64(st, 2);
    r->created_at = sqlite3_column_int64(st, 3);
    r->used_at = sqlite3_column_int64(st, 4);
}

static enum cd_err session_add(struct store *s, const struct dash_session_row *row) {
    const char *t[] = {row->hash};
    int64_t i[] = {row->user_id, row->password_set_at, row->ws_id, row->created_at, row->used_at};
    return sq_write(s,
                    "INSERT INTO dashboard_sessions(hash, user_id, password_set_at, ws_id, "
                    "created_at, used_at) VALUES (?, ?, ?, ?, ?, ?)",
                    "tiiiii", t, i, NULL);
}

static enum cd_err session_get(struct store *s, const char *hash, struct dash_session_row *out) {
    const char *t[] = {hash};
    return sq_read_row(s,
                       "SELECT user_id, password_set_at, ws_id, created_at, used_at FROM "
                       "dashboard_sessions WHERE hash = ?",
                       "t", t, NULL, session_row, out);
}

/* One write of a session's column `set` (an int); CD_E_NOT_FOUND when no row has the hash. */
static enum cd_err session_update(struct store *s, const char *sql, const char *hash,
                                  int64_t value) {
    const char *t[] = {hash};
    int64_t i[] = {value};
    int changes = 0;
    enum cd_err err = sq_write(s, sql, "ti", t, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

static enum cd_err session_touch(struct store *s, const char *hash, int64_t used_at) {
    return session_update(s, "UPDATE dashboard_sessions SET used_at = ?2 WHERE hash = ?1", hash,
                          used_at);
}

static enum cd_err session_set_workspace(struct store *s, const char *hash, int64_t ws_id) {
    return session_update(s, "UPDATE dashboard_sessions SET ws_id = ?2 WHERE hash = ?1", hash,
                          ws_id);
}

static enum cd_err session_end(struct store *s, const char *hash) {
    const char *t[] = {hash};
    return sq_write(s, "DELETE FROM dashboard_sessions WHERE hash = ?", "t", t, NULL, NULL);
}

static enum cd_err session_end_user(struct store *s, int64_t user_id) {
    int64_t i[] = {user_id};
    return sq_write(s, "DELETE FROM dashboard_sessions WHERE ?1 = 0 OR user_id = ?1", "i", NULL, i,
                    NULL);
}

static enum cd_err session_prune(struct store *s, int64_t used_before, int64_t created_before,
                                 int64_t keep) {
    static const char *const sqls[] = {
        "DELETE FROM dashboard_sessions WHERE used_at < ?1 OR created_at < ?2",
        "DELETE FROM dashboard_sessions WHERE hash NOT IN (SELECT hash FROM dashboard_sessions "
        "ORDER BY used_at DESC, hash LIMIT ?3)"};
    int64_t i[] = {used_before, created_before, keep};
    return sq_write_all(s, sqls, 2, "iii", NULL, i);
}

const struct store_dashboard_ops sqlite_dashboard_ops = {
    .user_add = user_add,
    .user_get = user_get,
    .user_list = user_list,
    .user_delete = user_delete,
    .user_set_password = user_set_password,
    .session_add = session_add,
    .session_get = session_get,
    .session_touch = session_touch,
    .session_set_workspace = session_set_workspace,
    .session_end = session_end,
    .session_end_user = session_end_user,
    .session_prune = session_prune,
};
