/*
 * postgres_dashboard.c — dashboard users in PostgreSQL (store_dashboard_ops): one row each,
 * with the Argon2id hash of the password. Reads use the read pool; every write is one
 * autocommit statement.
 */
#include "store/postgres_int.h"

#define USER_COLUMNS "id, email, role, password_hash, password_set_at, created_at"

struct user_cb {
    void (*cb)(void *, const struct dash_user_row *);
    void *ctx;
};

static void user_row(struct pg_row *r, void *vctx) {
    struct user_cb *u = vctx;
    struct dash_user_row row = {
        .id = pg_int(r, 0),
        .email = pg_text(r, 1),
        .role = pg_text(r, 2),
        .password_hash = pg_text(r, 3),
        .password_set_at = pg_int(r, 4),
        .created_at = pg_int(r, 5),
    };
    u->cb(u->ctx, &row);
}

static enum cd_err user_add(struct store *s, const char *email, const char *role,
                            const char *password_hash, int64_t now, int64_t *id) {
    const char *t[] = {email, role, password_hash};
    int64_t i[] = {now};
    struct pg_args a = {"ttti", t, i, NULL};
    return pg_write_row(s,
                        "INSERT INTO dashboard_users(email, role, password_hash, "
                        "password_set_at, created_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
                        &a, pg_row_int64, id);
}

static enum cd_err user_get(struct store *s, const char *email, int64_t id,
                            void (*cb)(void *, const struct dash_user_row *), void *ctx) {
    struct user_cb u = {cb, ctx};
    if (email) {
        const char *t[] = {email};
        return pg_read_row(s, "SELECT " USER_COLUMNS " FROM dashboard_users WHERE email = $1", "t",
                           t, NULL, user_row, &u);
    }
    int64_t i[] = {id};
    return pg_read_row(s, "SELECT " USER_COLUMNS " FROM dashboard_users WHERE id = $1", "i", NULL,
                       i, user_row, &u);
}

static enum cd_err user_list(struct store *s, void (*cb)(void *, const struct dash_user_row *),
                             void *ctx) {
    struct user_cb u = {cb, ctx};
    return pg_rows(s, "SELECT " USER_COLUMNS " FROM dashboard_users ORDER BY id", "", NULL, NULL,
                   user_row, &u);
}

static enum cd_err user_delete(struct store *s, const char *email) {
    const char *t[] = {email};
    int64_t changes = 0;
    enum cd_err err =
        pg_write(s, "DELETE FROM dashboard_users WHERE email = $1", "t", t, NULL, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

static enum cd_err user_set_password(struct store *s, const char *email, const char *password_hash,
                                     int64_t now) {
    const char *t[] = {email, password_hash};
    int64_t i[] = {now};
    int64_t changes = 0;
    enum cd_err err = pg_write(s,
                               "UPDATE dashboard_users SET password_hash = $2, "
                               "password_set_at = $3 WHERE email = $1",
                               "tti", t, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

const struct store_dashboard_ops postgres_dashboard_ops = {
    .user_add = user_add,
    .user_get = user_get,
    .user_list = user_list,
    .user_delete = user_delete,
    .user_set_password = user_set_password,
};
