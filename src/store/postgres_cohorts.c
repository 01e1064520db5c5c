/*
 * postgres_cohorts.c — partner cohorts in PostgreSQL (store_cohort_ops): a row per cohort with
 * a checkpoint (portable Roaring bitmap, bytea), an append-only log with one row per import
 * request (its net adds and removes and its counters), and a bounded sample of unmatched
 * identifiers.
 *
 * An import writes only its log row, one statement, and never the cohort's row: the next
 * import of the cohort must not wait for the row lock of one whose COMMIT is still flushing
 * (commit_ticket). A cohort's counters are its row's plus its log rows'; a checkpoint deletes
 * the rows it covers and adds their counters to the cohort's row in one statement (one
 * snapshot), so a row is counted once whether a checkpoint saw it or not. A log row committed
 * after a later checkpoint (its seq below checkpoint_seq) is in that checkpoint's members, is
 * not replayed, and is folded by the next checkpoint.
 */
#include "store/postgres_int.h"

#include <stdlib.h>

static enum cd_err upsert(struct store_txn *tx, int64_t ws, const char *partner,
                          const char *cohort_id, const char *name, int64_t created_at,
                          int64_t *id) {
    const char *t[] = {partner, cohort_id, name};
    int64_t i[] = {ws, created_at};
    struct pg_args a = {"tttii", t, i, NULL};
    return pg_txn_run(tx, true,
                      "INSERT INTO cohorts(partner, cohort_id, name, workspace_id, created_at) "
                      "VALUES ($1, $2, $3, $4, $5) "
                      "ON CONFLICT (workspace_id, partner, cohort_id) DO UPDATE SET "
                      "name = coalesce(excluded.name, cohorts.name), "
                      "created_at = least(cohorts.created_at, excluded.created_at) RETURNING id",
                      &a, pg_row_int64, id, NULL);
}

static enum cd_err log_append(struct store_txn *tx, int64_t cohort,
                              const struct cohort_log_row *row, int64_t n_received,
                              int64_t n_matched, int64_t n_unmatched, int64_t now, int64_t *seq) {
    struct pg_blob b[] = {{row->adds, row->adds_len}, {row->removes, row->removes_len}};
    int64_t i[] = {cohort, n_received, n_matched, n_unmatched, now};
    struct pg_args a = {"ibbiiii", NULL, i, b};
    int64_t got = 0;
    enum cd_err err = pg_txn_run(tx, true,
                                 "INSERT INTO cohort_log(cohort, adds, removes, n_received, "
                                 "n_matched, n_unmatched, changed_at) "
                                 "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
                                 &a, pg_row_int64, &got, NULL);
    if (err == CD_OK && seq)
        *seq = got;
    return err;
}

static enum cd_err checkpoint(struct store_txn *tx, int64_t cohort, const void *blob, size_t len,
                              int64_t upto) {
    struct pg_blob b[] = {{blob, len}};
    int64_t i[] = {upto, cohort};
    struct pg_args a = {"bii", NULL, i, b};
    return pg_txn_run(tx, false,
                      "WITH d AS (DELETE FROM cohort_log WHERE cohort = $3 AND seq <= $2 "
                      "RETURNING n_received, n_matched, n_unmatched, changed_at), "
                      "f AS (SELECT coalesce(sum(n_received), 0) AS r, "
                      "coalesce(sum(n_matched), 0) AS m, coalesce(sum(n_unmatched), 0) AS u, "
                      "coalesce(max(changed_at), 0) AS c FROM d) "
                      "UPDATE cohorts SET checkpoint = $1, checkpoint_seq = $2, "
                      "n_received = n_received + f.r, n_matched = n_matched + f.m, "
                      "n_unmatched = n_unmatched + f.u, changed_at = greatest(changed_at, f.c) "
                      "FROM f WHERE id = $3",
                      &a, NULL, NULL, NULL);
}

static enum cd_err misses_add(struct store_txn *tx, int64_t cohort,
                              const struct cohort_miss_row *rows, size_t n, int keep) {
    if (n == 0)
        return CD_OK;
    int64_t *ats = malloc(n * sizeof *ats);
    if (!ats)
        return CD_E_NOMEM;
    for (size_t k = 0; k < n; k++)
        ats[k] = rows[k].at;
    char *ids = pg_array_texts(&rows[0].identifier, n, sizeof rows[0]);
    char *reasons = pg_array_texts(&rows[0].reason, n, sizeof rows[0]);
    char *at = pg_array_ints(ats, n);
    free(ats);
    enum cd_err err = CD_E_NOMEM;
    if (ids && reasons && at) {
        const char *t[] = {ids, reasons, at};
        int64_t i[] = {cohort, keep};
        err = pg_txn_write(tx,
                           "INSERT INTO cohort_misses(identifier, reason, cohort, at) "
                           "SELECT DISTINCT ON (d) d, r, $4, a FROM unnest($1::text[], "
                           "$2::text[], $3::bigint[]) WITH ORDINALITY AS x(d, r, a, o) "
                           "ORDER BY d, o DESC "
                           "ON CONFLICT (cohort, identifier) DO UPDATE SET "
                           "reason = excluded.reason, at = excluded.at",
                           "tttii", t, i, NULL);
        if (err == CD_OK)
            err = pg_txn_write(tx,
                               "DELETE FROM cohort_misses WHERE cohort = $1 AND identifier NOT IN "
                               "(SELECT identifier FROM cohort_misses WHERE cohort = $1 "
                               "ORDER BY at DESC, identifier LIMIT $2)",
                               "ii", NULL, i, NULL);
    }
    free(ids);
    free(reasons);
    free(at);
    return err;
}

struct miss_cb {
    void (*cb)(void *, const struct cohort_miss_row *);
    void *ctx;
};

static void row_miss(struct pg_row *r, void *ctx) {
    struct miss_cb *mc = ctx;
    struct cohort_miss_row row = {pg_text(r, 0), pg_text(r, 1), pg_int(r, 2)};
    mc->cb(mc->ctx, &row);
}

static enum cd_err misses_list(struct store *s, int64_t cohort,
                               void (*cb)(void *, const struct cohort_miss_row *), void *ctx) {
    struct miss_cb mc = {cb, ctx};
    int64_t i[] = {cohort};
    return pg_rows(s,
                   "SELECT identifier, reason, at FROM cohort_misses WHERE cohort = $1 "
                   "ORDER BY at DESC, identifier",
                   "i", NULL, i, row_miss, &mc);
}

struct cohort_cb {
    void (*cb)(void *, const struct cohort_row *);
    void *ctx;
};

static void row_cohort(struct pg_row *r, void *ctx) {
    struct cohort_cb *cc = ctx;
    struct cohort_row row = {
        .id = pg_int(r, 0),
        .partner = pg_text(r, 1),
        .cohort_id = pg_text(r, 2),
        .name = pg_text(r, 3),
        .created_at = pg_int(r, 4),
        .changed_at = pg_int(r, 5),
        .n_received = pg_int(r, 6),
        .n_matched = pg_int(r, 7),
        .n_unmatched = pg_int(r, 8),
        .checkpoint_seq = pg_int(r, 10),
    };
    row.checkpoint = pg_bytes(r, 9, &row.checkpoint_len);
    cc->cb(cc->ctx, &row);
}

static enum cd_err load(struct store *s, int64_t ws, int64_t after,
                        void (*cb)(void *, const struct cohort_row *), void *ctx) {
    struct cohort_cb cc = {cb, ctx};
    int64_t i[] = {ws, after};
    return pg_rows(
        s,
        "SELECT c.id, c.partner, c.cohort_id, c.name, c.created_at, "
        "greatest(c.changed_at, coalesce(l.c, 0)), c.n_received + coalesce(l.r, 0), "
        "c.n_matched + coalesce(l.m, 0), c.n_unmatched + coalesce(l.u, 0), "
        "CASE WHEN $2 = 0 OR c.checkpoint_seq > $2 THEN c.checkpoint END, c.checkpoint_seq "
        "FROM cohorts c "
        "LEFT JOIN (SELECT cohort, sum(n_received) AS r, sum(n_matched) AS m, "
        "sum(n_unmatched) AS u, max(changed_at) AS c FROM cohort_log WHERE cohort IN "
        "(SELECT id FROM cohorts WHERE workspace_id = $1) GROUP BY cohort) "
        "l ON l.cohort = c.id WHERE c.workspace_id = $1 ORDER BY c.id",
        "ii", NULL, i, row_cohort, &cc);
}

struct log_cb {
    void (*cb)(void *, const struct cohort_log_row *);
    void *ctx;
};

static void row_log(struct pg_row *r, void *ctx) {
    struct log_cb *lc = ctx;
    struct cohort_log_row row = {
        .seq = pg_int(r, 0),
        .cohort = pg_int(r, 1),
    };
    row.adds = pg_bytes(r, 2, &row.adds_len);
    row.removes = pg_bytes(r, 3, &row.removes_len);
    lc->cb(lc->ctx, &row);
}

static enum cd_err load_log(struct store *s, int64_t ws, int64_t after,
                            void (*cb)(void *, const struct cohort_log_row *), void *ctx) {
    struct log_cb lc = {cb, ctx};
    int64_t i[] = {ws, after};
    return pg_rows(s,
                   "SELECT l.seq, l.cohort, l.adds, l.removes FROM cohort_log l "
                   "JOIN cohorts c ON c.id = l.cohort WHERE c.workspace_id = $1 "
                   "AND l.seq > greatest(c.checkpoint_seq, $2) ORDER BY l.seq",
                   "ii", NULL, i, row_log, &lc);
}

const struct store_cohort_ops postgres_cohort_ops = {
    .upsert = upsert,
    .log_append = log_append,
    .checkpoint = checkpoint,
    .misses_add = misses_add,
    .misses_list = misses_list,
    .load = load,
    .load_log = load_log,
};
