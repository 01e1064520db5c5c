/*
 * sqlite_cohorts.c — partner cohorts in SQLite (store_cohort_ops). Not a row per membership:
 * a row per cohort holding a checkpoint (portable Roaring bitmap), and an append-only log with
 * one row per import request (its net adds and removes as bitmaps). Appending is cheap whatever
 * the size of the cohort; start-up loads the checkpoints and replays the log after them.
 */
#include "store/sqlite_int.h"

#include <string.h>

static void row_id(sqlite3_stmt *st, void *ctx) {
    *(int64_t *)ctx = sqlite3_column_int64(st, 0);
}

static enum cd_err upsert(struct store_txn *tx, int64_t ws, const char *partner,
                          const char *cohort_id, const char *name, int64_t created_at,
                          int64_t *id) {
    const char *t[] = {partner, cohort_id, name};
    int64_t i[] = {ws, created_at};
    enum cd_err err = sq_txn_write(tx,
                                   "INSERT INTO cohorts(partner, cohort_id, name, workspace_id, "
                                   "created_at) VALUES (?1, ?2, ?3, ?4, ?5) "
                                   "ON CONFLICT(workspace_id, partner, cohort_id) DO UPDATE SET "
                                   "name = coalesce(excluded.name, name), "
                                   "created_at = min(created_at, excluded.created_at)",
                                   "tttii", t, i, NULL);
    if (err == CD_OK)
        err = sq_txn_read_row(tx->s, tx,
                              "SELECT id FROM cohorts WHERE partner = ?1 AND cohort_id = ?2 "
                              "AND workspace_id = ?4",
                              "tttii", t, i, row_id, id);
    return err;
}

static enum cd_err log_append(struct store_txn *tx, int64_t cohort,
                              const struct cohort_log_row *row, int64_t n_received,
                              int64_t n_matched, int64_t n_unmatched, int64_t now, int64_t *seq) {
    struct sq_conn *c = &tx->s->w;
    sqlite3_stmt *st = sq_prep(c, "INSERT INTO cohort_log(cohort, adds, removes) VALUES (?,?,?)");
    enum cd_err err = CD_E_STORE;
    if (st) {
        sqlite3_bind_int64(st, 1, cohort);
        sq_bind_blob(st, 2, row->adds, row->adds_len);
        sq_bind_blob(st, 3, row->removes, row->removes_len);
        err = sq_exec(c, st);
        if (err == CD_OK && seq)
            *seq = sqlite3_last_insert_rowid(c->db);
    }
    int64_t i[] = {cohort, n_received, n_matched, n_unmatched, now};
    if (err == CD_OK)
        err =
            sq_txn_write(tx,
                         "UPDATE cohorts SET n_received = n_received + ?2, n_matched = n_matched + "
                         "?3, n_unmatched = n_unmatched + ?4, changed_at = ?5 WHERE id = ?1",
                         "iiiii", NULL, i, NULL);
    return err;
}

static enum cd_err checkpoint(struct store_txn *tx, int64_t cohort, const void *blob, size_t len,
                              int64_t upto) {
    struct sq_conn *c = &tx->s->w;
    sqlite3_stmt *st =
        sq_prep(c, "UPDATE cohorts SET checkpoint = ?1, checkpoint_seq = ?2 WHERE id = ?3");
    enum cd_err err = CD_E_STORE;
    if (st) {
        sq_bind_blob(st, 1, blob, len);
        sqlite3_bind_int64(st, 2, upto);
        sqlite3_bind_int64(st, 3, cohort);
        err = sq_exec(c, st);
    }
    int64_t i[] = {cohort, upto};
    if (err == CD_OK)
        err = sq_txn_write(tx, "DELETE FROM cohort_log WHERE cohort = ?1 AND seq <= ?2", "ii", NULL,
                           i, NULL);
    return err;
}

static enum cd_err misses_add(struct store_txn *tx, int64_t cohort,
                              const struct cohort_miss_row *rows, size_t n, int keep) {
    enum cd_err err = CD_OK;
    for (size_t k = 0; k < n && err == CD_OK; k++) {
        const char *t[] = {rows[k].identifier, rows[k].reason};
        int64_t i[] = {cohort, rows[k].at};
        err = sq_txn_write(tx,
                           "INSERT INTO cohort_misses(identifier, reason, cohort, at) VALUES "
                           "(?,?,?,?) ON CONFLICT(cohort, identifier) DO UPDATE SET "
                           "reason = excluded.reason, at = excluded.at",
                           "ttii", t, i, NULL);
    }
    int64_t i[] = {cohort, keep};
    if (err == CD_OK && n)
        err = sq_txn_write(tx,
                           "DELETE FROM cohort_misses WHERE cohort = ?1 AND identifier NOT IN "
                           "(SELECT identifier FROM cohort_misses WHERE cohort = ?1 "
                           "ORDER BY at DESC, identifier LIMIT ?2)",
                           "ii", NULL, i, NULL);
    return err;
}

struct miss_cb {
    void (*cb)(void *, const struct cohort_miss_row *);
    void *ctx;
};

static void row_miss(sqlite3_stmt *st, void *ctx) {
    struct miss_cb *mc = ctx;
    struct cohort_miss_row r = {sq_col_text(st, 0), sq_col_text(st, 1),
                                sqlite3_column_int64(st, 2)};
    mc->cb(mc->ctx, &r);
}

static enum cd_err misses_list(struct store *s, int64_t cohort,
                               void (*cb)(void *, const struct cohort_miss_row *), void *ctx) {
    struct miss_cb mc = {cb, ctx};
    int64_t i[] = {cohort};
    return sq_rows(s,
                   "SELECT identifier, reason, at FROM cohort_misses WHERE cohort = ? "
                   "ORDER BY at DESC, identifier",
                   "i", NULL, i, row_miss, &mc);
}

struct cohort_cb {
    void (*cb)(void *, const struct cohort_row *);
    void *ctx;
};

static void row_cohort(sqlite3_stmt *st, void *ctx) {
    struct cohort_cb *cc = ctx;
    struct cohort_row r = {
        .id = sqlite3_column_int64(st, 0),
        .partner = sq_col_text(st, 1),
        .cohort_id = sq_col_text(st, 2),
        .name = sq_col_text(st, 3),
        .created_at = sqlite3_column_int64(st, 4),
        .changed_at = sqlite3_column_int64(st, 5),
        .n_received = sqlite3_column_int64(st, 6),
        .n_matched = sqlite3_column_int64(st, 7),
        .n_unmatched = sqlite3_column_int64(st, 8),
        .checkpoint = sqlite3_column_blob(st, 9),
        .checkpoint_len = (size_t)sqlite3_column_bytes(st, 9),
        .checkpoint_seq = sqlite3_column_int64(st, 10),
    };
    cc->cb(cc->ctx, &r);
}

static enum cd_err load(struct store *s, int64_t ws, int64_t after,
                        void (*cb)(void *, const struct cohort_row *), void *ctx) {
    struct cohort_cb cc = {cb, ctx};
    int64_t i[] = {ws, after};
    return sq_rows(
        s,
        "SELECT id, partner, cohort_id, name, created_at, changed_at, n_received, "
        "n_matched, n_unmatched, CASE WHEN ?2 = 0 OR checkpoint_seq > ?2 THEN checkpoint END, "
        "checkpoint_seq FROM cohorts WHERE workspace_id = ?1 ORDER BY id",
        "ii", NULL, i, row_cohort, &cc);
}

struct log_cb {
    void (*cb)(void *, const struct cohort_log_row *);
    void *ctx;
};

static void row_log(sqlite3_stmt *st, void *ctx) {
    struct log_cb *lc = ctx;
    struct cohort_log_row r = {
        .seq = sqlite3_column_int64(st, 0),
        .cohort = sqlite3_column_int64(st, 1),
        .adds = sqlite3_column_blob(st, 2),
        .adds_len = (size_t)sqlite3_column_bytes(st, 2),
        .removes = sqlite3_column_blob(st, 3),
        .removes_len = (size_t)sqlite3_column_bytes(st, 3),
    };
    lc->cb(lc->ctx, &r);
}

static enum cd_err load_log(struct store *s, int64_t ws, int64_t after,
                            void (*cb)(void *, const struct cohort_log_row *), void *ctx) {
    struct log_cb lc = {cb, ctx};
    int64_t i[] = {ws, after};
    return sq_rows(s,
                   "SELECT l.seq, l.cohort, l.adds, l.removes FROM cohort_log l "
                   "JOIN cohorts c ON c.id = l.cohort WHERE c.workspace_id = ?1 "
                   "AND l.seq > max(c.checkpoint_seq, ?2) ORDER BY l.seq",
                   "ii", NULL, i, row_log, &lc);
}

const struct store_cohort_ops sqlite_cohort_ops = {
    .upsert = upsert,
    .log_append = log_append,
    .checkpoint = checkpoint,
    .misses_add = misses_add,
    .misses_list = misses_list,
    .load = load,
    .load_log = load_log,
};
