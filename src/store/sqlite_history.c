/* sqlite_history.c — the daily history of sizes and counters (store_history_ops), and the
 * per-day outcomes of one send_id read from the deliveries. One row per (workspace, kind,
 * object, day), replaced by each later sample of the day. */
#include "store/sqlite_int.h"

static enum cd_err record(struct store *s, int64_t ws, const struct history_row *row) {
    const char *t[] = {row->object_id};
    int64_t i[] = {ws, row->kind, row->day, row->size, row->entered, row->sent, row->failed};
    return sq_write(s,
                    "INSERT OR REPLACE INTO daily_history(object_id, workspace_id, kind, day, "
                    "size, entered, sent, failed) VALUES (?,?,?,?,?,?,?,?)",
                    "tiiiiiii", t, i, NULL);
}

static enum cd_err add(struct store_txn *t, int64_t ws, const struct history_row *row) {
    const char *txt[] = {row->object_id};
    int64_t i[] = {ws, row->kind, row->day, row->size, row->entered, row->sent, row->failed};
    return sq_txn_write(
        t,
        "INSERT INTO daily_history(object_id, workspace_id, kind, day, size, "
        "entered, sent, failed) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (workspace_id, "
        "kind, object_id, day) DO UPDATE SET entered = daily_history.entered + "
        "excluded.entered, sent = daily_history.sent + excluded.sent, failed = "
        "daily_history.failed + excluded.failed",
        "tiiiiiii", txt, i, NULL);
}

struct history_cb {
    void (*cb)(void *, const struct history_row *);
    void *ctx;
    enum history_kind kind;
    const char *object_id;
};

static void row_history(sqlite3_stmt *st, void *ctx) {
    struct history_cb *hc = ctx;
    struct history_row r = {
        .kind = hc->kind,
        .object_id = hc->object_id,
        .day = sqlite3_column_int64(st, 0),
        .size = sqlite3_column_int64(st, 1),
        .entered = sqlite3_column_int64(st, 2),
        .sent = sqlite3_column_int64(st, 3),
        .failed = sqlite3_column_int64(st, 4),
    };
    hc->cb(hc->ctx, &r);
}

static enum cd_err series(struct store *s, int64_t ws, enum history_kind kind,
                          const char *object_id, int64_t from, int64_t to,
                          void (*cb)(void *, const struct history_row *), void *ctx) {
    struct history_cb hc = {cb, ctx, kind, object_id};
    const char *t[] = {object_id};
    int64_t i[] = {ws, kind, from, to};
    enum cd_err err = sq_read_row(s,
                                  "SELECT day, size, entered, sent, failed FROM daily_history "
                                  "WHERE object_id = ?1 AND workspace_id = ?2 AND kind = ?3 AND "
                                  "day < ?4 ORDER BY day DESC LIMIT 1",
                                  "tiii", t, i, row_history, &hc);
    if (err != CD_OK && err != CD_E_NOT_FOUND)
        return err;
    return sq_rows(s,
                   "SELECT day, size, entered, sent, failed FROM daily_history WHERE object_id = "
                   "?1 AND workspace_id = ?2 AND kind = ?3 AND day >= ?4 AND day <= ?5 ORDER BY "
                   "day",
                   "tiiii", t, i, row_history, &hc);
}

struct send_cb {
    void (*cb)(void *, const struct send_day *);
    void *ctx;
};

static void row_send(sqlite3_stmt *st, void *ctx) {
    struct send_cb *sc = ctx;
    struct send_day d = {sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                         sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3)};
    sc->cb(sc->ctx, &d);
}

static enum cd_err send_days(struct store *s, int64_t ws, const char *campaign_id,
                             const char *send_id, int64_t from_ms, int64_t to_ms,
                             void (*cb)(void *, const struct send_day *), void *ctx) {
    struct send_cb sc = {cb, ctx};
    const char *t[] = {campaign_id, send_id};
    int64_t i[] = {ws, from_ms, to_ms, DELIVERY_SENT, DELIVERY_FAILED};
    return sq_rows(s,
                   "SELECT d.at / 86400000 AS day, sum(d.state = ?6), sum(d.state = ?7), "
                   "count(DISTINCT d.uid) FROM deliveries d JOIN dispatches p ON p.id = "
                   "d.dispatch JOIN campaigns c ON c.id = p.campaign WHERE c.public_id = ?1 AND "
                   "p.send_id = ?2 AND c.workspace_id = ?3 AND d.at >= ?4 AND d.at < ?5 AND "
                   "d.state IN (?6, ?7) GROUP BY day ORDER BY day",
                   "ttiiiii", t, i, row_send, &sc);
}

const struct store_history_ops sqlite_history_ops = {
    .record = record,
    .add = add,
    .series = series,
    .send_days = send_days,
};
