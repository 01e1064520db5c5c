/*
 * postgres_admin.c — workspaces, REST API keys, partners, partner keys and data import keys in
 * PostgreSQL (store_admin_ops). Reads use the read pool; writes are single autocommit
 * statements, or one short transaction (a partner with its first key; replacing a key).
 */
#include "store/postgres_int.h"

#include <stdio.h>
#include <string.h>

#define WS_COLS "id, public_id, name, created_at"

struct ws_cb {
    void (*cb)(void *, const struct workspace_row *);
    void *ctx;
};

static void row_ws(struct pg_row *r, void *ctx) {
    struct ws_cb *wc = ctx;
    struct workspace_row row = {
        .id = pg_int(r, 0),
        .public_id = pg_text(r, 1),
        .name = pg_text(r, 2),
        .created_at = pg_int(r, 3),
    };
    wc->cb(wc->ctx, &row);
}

static enum cd_err workspace_create(struct store *s, const char *public_id, const char *name,
                                    int64_t now, int64_t *id) {
    const char *t[] = {public_id, name};
    int64_t i[] = {now};
    struct pg_args a = {"tti", t, i, NULL};
    return pg_write_row(s,
                        "INSERT INTO workspaces(public_id, name, created_at) VALUES ($1, $2, $3) "
                        "RETURNING id",
                        &a, pg_row_int64, id);
}

static enum cd_err workspace_find(struct store *s, const char *public_id,
                                  void (*cb)(void *, const struct workspace_row *), void *ctx) {
    struct ws_cb wc = {cb, ctx};
    if (public_id) {
        const char *t[] = {public_id};
        return pg_read_row(s,
                           "SELECT " WS_COLS " FROM workspaces WHERE public_id = $1 OR name = $1 "
                           "ORDER BY public_id = $1 DESC LIMIT 1",
                           "t", t, NULL, row_ws, &wc);
    }
    return pg_read_row(s, "SELECT " WS_COLS " FROM workspaces ORDER BY id LIMIT 1", "", NULL, NULL,
                       row_ws, &wc);
}

static enum cd_err workspace_get(struct store *s, int64_t id,
                                 void (*cb)(void *, const struct workspace_row *), void *ctx) {
    struct ws_cb wc = {cb, ctx};
    int64_t i[] = {id};
    return pg_read_row(s, "SELECT " WS_COLS " FROM workspaces WHERE id = $1", "i", NULL, i, row_ws,
                       &wc);
}

static enum cd_err workspace_list(struct store *s, void (*cb)(void *, const struct workspace_row *),
                                  void *ctx) {
    struct ws_cb wc = {cb, ctx};
    return pg_rows(s, "SELECT " WS_COLS " FROM workspaces ORDER BY id", "", NULL, NULL, row_ws,
                   &wc);
}

static enum cd_err api_key_add(struct store *s, const struct api_key_row *row, int64_t now) {
    const char *t[] = {row->key_hash, row->name ? row->name : "", row->permissions};
    int64_t i[] = {row->workspace_id, now, row->rate_limit, row->rate_period_s};
    const char *sql[] = {
        "INSERT INTO api_keys(key_hash, workspace_id, created_at) VALUES ($1, $4, $5)",
        "INSERT INTO api_key_grants(key_hash, name, permissions, rate_limit, rate_period) "
        "VALUES ($1, $2, $3, $6, $7)"};
    return pg_write_all(s, sql, 2, "tttiiii", t, i);
}

static enum cd_err api_key_revoke(struct store *s, const char *key_hash, int64_t now) {
    const char *t[] = {key_hash};
    int64_t i[] = {now};
    int64_t changes = 0;
    enum cd_err err = pg_write(
        s, "UPDATE api_keys SET revoked_at = $2 WHERE key_hash = $1 AND revoked_at IS NULL", "ti",
        t, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

static enum cd_err api_key_revoke_prefix(struct store *s, int64_t ws, const char *hash_prefix,
                                         int64_t now) {
    const char *t[] = {hash_prefix};
    int64_t i[] = {ws, now};
    int64_t changes = 0;
    /* one key at most: an id is long enough that two active keys never share it */
    enum cd_err err = pg_write(s,
                               "UPDATE api_keys SET revoked_at = $3 WHERE key_hash = (SELECT "
                               "key_hash FROM api_keys WHERE left(key_hash, length($1)) = $1 AND "
                               "workspace_id = $2 AND revoked_at IS NULL LIMIT 1)",
                               "tii", t, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

struct key_cb {
    void (*cb)(void *, const struct api_key_row *);
    void *ctx;
};

static void row_api_key(struct pg_row *r, void *ctx) {
    const struct key_cb *k = ctx;
    struct api_key_row row = {
        .workspace_id = pg_int(r, 0),
        .key_hash = pg_text(r, 1),
        .name = pg_text(r, 2),
        .permissions = pg_text(r, 3),
        .rate_limit = pg_int(r, 4),
        .rate_period_s = pg_int(r, 5),
        .created_at = pg_int(r, 6),
    };
    k->cb(k->ctx, &row);
}

/* A key with its grants row; a key without one (made before grants existed) reads NULL
 * permissions (every permission) and a 0 rate limit. */
#define API_KEY_COLUMNS                                                                            \
    "SELECT k.workspace_id, k.key_hash, g.name, g.permissions, coalesce(g.rate_limit, 0), "        \
    "coalesce(g.rate_period, 0), k.created_at FROM api_keys k LEFT JOIN api_key_grants g ON "      \
    "g.key_hash = k.key_hash "

static enum cd_err api_key_lookup(struct store *s, const char *key_hash,
                                  void (*cb)(void *, const struct api_key_row *), void *ctx) {
    const char *t[] = {key_hash};
    struct key_cb k = {cb, ctx};
    return pg_read_row(s, API_KEY_COLUMNS "WHERE k.key_hash = $1 AND k.revoked_at IS NULL", "t", t,
                       NULL, row_api_key, &k);
}

static enum cd_err api_key_list(struct store *s, int64_t ws,
                                void (*cb)(void *, const struct api_key_row *), void *ctx) {
    int64_t i[] = {ws};
    struct key_cb k = {cb, ctx};
    return pg_rows(
        s,
        API_KEY_COLUMNS
        "WHERE k.workspace_id = $1 AND k.revoked_at IS NULL ORDER BY k.created_at, k.key_hash",
        "i", NULL, i, row_api_key, &k);
}

static enum cd_err partner_add(struct store *s, const char *name, enum key_check check,
                               const char *key_hash, int64_t now) {
    const char *t[] = {name, key_hash};
    int64_t i[] = {check, now};
    struct store_txn *tx = NULL;
    enum cd_err err = postgres_store_ops.begin(s, &tx);
    if (err == CD_OK)
        err =
            pg_txn_write(tx, "INSERT INTO partners(name, key_check, created_at) VALUES ($1,$2,$3)",
                         "tii", t, i, NULL);
    if (err == CD_OK)
        err = pg_txn_write(tx,
                           "INSERT INTO partner_keys(key_hash, partner, created_at) "
                           "VALUES ($2,$1,$3)",
                           "tti", t, (int64_t[]){now}, NULL);
    if (err == CD_OK)
        return postgres_store_ops.commit(tx);
    if (tx)
        postgres_store_ops.rollback(tx);
    return err;
}

static enum cd_err partner_get(struct store *s, const char *name, enum key_check *check) {
    const char *t[] = {name};
    int64_t v = 0;
    enum cd_err err = pg_read_row(s, "SELECT key_check FROM partners WHERE name = $1", "t", t, NULL,
                                  pg_row_int64, &v);
    if (err == CD_OK && check)
        *check = v == KEY_CHECK_OFF ? KEY_CHECK_OFF : KEY_CHECK_REQUIRED;
    return err;
}

struct partner_rows {
    void (*cb)(void *ctx, const char *name, enum key_check check);
    void *ctx;
};

static void row_partner(struct pg_row *r, void *ctx) {
    struct partner_rows *pr = ctx;
    const char *name = pg_text(r, 0);
    pr->cb(pr->ctx, name ? name : "",
           pg_int(r, 1) == KEY_CHECK_OFF ? KEY_CHECK_OFF : KEY_CHECK_REQUIRED);
}

static enum cd_err partner_list(struct store *s,
                                void (*cb)(void *ctx, const char *name, enum key_check check),
                                void *ctx) {
    struct partner_rows pr = {cb, ctx};
    enum cd_err err = pg_rows(s, "SELECT name, key_check FROM partners ORDER BY name COLLATE \"C\"",
                              "", NULL, NULL, row_partner, &pr);
    return err == CD_E_NOT_FOUND ? CD_OK : err;
}

static enum cd_err partner_set_check(struct store *s, const char *name, enum key_check check) {
    const char *t[] = {name};
    int64_t i[] = {check};
    int64_t changes = 0;
    enum cd_err err =
        pg_write(s, "UPDATE partners SET key_check = $2 WHERE name = $1", "ti", t, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

static enum cd_err partner_key_check(struct store *s, const char *partner, const char *key_hash) {
    const char *t[] = {key_hash, partner};
    return pg_read_row(s,
                       "SELECT 1 FROM partner_keys WHERE key_hash = $1 AND partner = $2 "
                       "AND revoked_at IS NULL",
                       "tt", t, NULL, NULL, NULL);
}

static void row_key(struct pg_row *r, void *ctx) {
    const char *k = pg_text(r, 0);
    snprintf(ctx, 64, "%s", k ? k : "");
}

static enum cd_err import_key_active(struct store *s, int64_t ws, const char *partner,
                                     char key_out[64]) {
    const char *t[] = {partner};
    int64_t i[] = {ws};
    return pg_read_row(s,
                       "SELECT key FROM import_keys WHERE partner = $1 AND workspace_id = $2 "
                       "AND invalidated_at IS NULL",
                       "ti", t, i, row_key, key_out);
}

static enum cd_err import_key_invalidate(struct store *s, int64_t ws, const char *partner,
                                         int64_t now) {
    const char *t[] = {partner};
    int64_t i[] = {ws, now};
    int64_t changes = 0;
    enum cd_err err = pg_write(s,
                               "UPDATE import_keys SET invalidated_at = $3 WHERE partner = $1 "
                               "AND workspace_id = $2 AND invalidated_at IS NULL",
                               "tii", t, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

static enum cd_err import_key_replace(struct store *s, int64_t ws, const char *partner,
                                      const char *key, int64_t now) {
    const char *t[] = {partner, key};
    int64_t i[] = {ws, now};
    struct store_txn *tx = NULL;
    enum cd_err err = postgres_store_ops.begin(s, &tx);
    if (err == CD_OK)
        err = pg_txn_write(tx,
                           "UPDATE import_keys SET invalidated_at = $3 WHERE partner = $1 "
                           "AND workspace_id = $2 AND invalidated_at IS NULL",
                           "tii", t, i, NULL);
    if (err == CD_OK)
        err = pg_txn_write(tx,
                           "INSERT INTO import_keys(key, partner, workspace_id, created_at) "
                           "VALUES ($2, $1, $3, $4)",
                           "ttii", t, i, NULL);
    if (err == CD_OK)
        return postgres_store_ops.commit(tx);
    if (tx)
        postgres_store_ops.rollback(tx);
    return err;
}

struct key_info {
    int64_t *ws;
    char *partner;
    enum import_key_state *state;
};

/* An import key's workspace_id, partner and invalidated_at, from column col on. */
static void key_info_at(struct pg_row *r, int col, const struct key_info *ki) {
    *ki->ws = pg_int(r, col);
    const char *p = pg_text(r, col + 1);
    snprintf(ki->partner, 64, "%s", p ? p : "");
    *ki->state = pg_is_null(r, col + 2) ? IMPORT_KEY_ACTIVE : IMPORT_KEY_INVALIDATED;
}

static void row_key_info(struct pg_row *r, void *ctx) {
    key_info_at(r, 0, ctx);
}

static enum cd_err import_key_lookup(struct store *s, const char *key, int64_t *ws,
                                     char partner_out[64], enum import_key_state *state) {
    const char *t[] = {key};
    struct key_info ki = {ws, partner_out, state};
    return pg_read_row(
        s, "SELECT workspace_id, partner, invalidated_at FROM import_keys WHERE key = $1", "t", t,
        NULL, row_key_info, &ki);
}

struct partner_import {
    enum key_check *check;
    bool *key_found;
    struct key_info key;
};

static void row_partner_import(struct pg_row *r, void *ctx) {
    struct partner_import *pi = ctx;
    *pi->check = pg_int(r, 0) == KEY_CHECK_OFF ? KEY_CHECK_OFF : KEY_CHECK_REQUIRED;
    *pi->key_found = !pg_is_null(r, 1);
    if (*pi->key_found)
        key_info_at(r, 1, &pi->key);
}

static enum cd_err partner_import_key(struct store *s, const char *partner, const char *key,
                                      enum key_check *check, bool *key_found, int64_t *ws,
                                      char partner_out[64], enum import_key_state *state) {
    const char *t[] = {partner, key};
    struct partner_import pi = {check, key_found, {ws, partner_out, state}};
    *key_found = false;
    /* the partner's row, and the key's when there is one: one round trip for both */
    return pg_read_row(s,
                       "SELECT p.key_check, k.workspace_id, k.partner, k.invalidated_at "
                       "FROM partners p LEFT JOIN import_keys k ON k.key = $2 WHERE p.name = $1",
                       "tt", t, NULL, row_partner_import, &pi);
}

const struct store_admin_ops postgres_admin_ops = {
    .workspace_create = workspace_create,
    .workspace_find = workspace_find,
    .workspace_get = workspace_get,
    .workspace_list = workspace_list,
    .api_key_add = api_key_add,
    .api_key_revoke = api_key_revoke,
    .api_key_revoke_prefix = api_key_revoke_prefix,
    .api_key_lookup = api_key_lookup,
    .api_key_list = api_key_list,
    .partner_add = partner_add,
    .partner_get = partner_get,
    .partner_list = partner_list,
    .partner_set_check = partner_set_check,
    .partner_key_check = partner_key_check,
    .import_key_active = import_key_active,
    .import_key_replace = import_key_replace,
    .import_key_invalidate = import_key_invalidate,
    .import_key_lookup = import_key_lookup,
    .partner_import_key = partner_import_key,
};
