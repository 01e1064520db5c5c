/*
 * sqlite_dashboard.c — dashboard users in SQLite (store_dashboard_ops): one row each, with the
 * Argon2id hash of the password. Reads use the read pool; every write is one autocommit
 * statement.
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

const struct store_dashboard_ops sqlite_dashboard_ops = {
    .user_add = user_add,
    .user_get = user_get,
    .user_list = user_list,
    .user_delete = user_delete,
    .user_set_password = user_set_password,
};
