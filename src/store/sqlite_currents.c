/*
 * sqlite_currents.c — Currents in SQLite (store_currents_ops): one row per Current holding its
 * position in the outbox (moved only after a 2xx or a dead letter, so delivery is
 * at-least-once across crashes), and the dead letters, which a replay queues for sending again.
 */
#include "store/sqlite_int.h"

#define CURRENT_COLS                                                                               \
    "id, workspace_id, current_id, name, type, endpoint, bearer_token, event_types, batch_size, "  \
    "state, position, n_delivered, n_retried, n_dead, last_error, created_at, "                    \
    "coalesce(p.at, 0), coalesce(p.status, 0), p.error"

/* Every read of a Current shows its probe (current_probes, at most one row per Current). */
#define CURRENTS_FROM " FROM currents LEFT JOIN current_probes p ON p.current = currents.id "

struct current_cb {
    void (*cb)(void *, const struct current_row *);
    void *ctx;
};

static void row_current(sqlite3_stmt *st, void *ctx) {
    struct current_cb *cc = ctx;
    struct current_row r = {
        .id = sqlite3_column_int64(st, 0),
        .workspace_id = sqlite3_column_int64(st, 1),
        .current_id = sq_col_text(st, 2),
        .name = sq_col_text(st, 3),
        .type = sq_col_text(st, 4),
        .endpoint = sq_col_text(st, 5),
        .bearer_token = sq_col_text(st, 6),
        .event_types = sq_col_text(st, 7),
        .batch_size = sqlite3_column_int64(st, 8),
        .state = sq_col_text(st, 9),
        .position = sqlite3_column_int64(st, 10),
        .n_delivered = sqlite3_column_int64(st, 11),
        .n_retried = sqlite3_column_int64(st, 12),
        .n_dead = sqlite3_column_int64(st, 13),
        .last_error = sq_col_text(st, 14),
        .created_at = sqlite3_column_int64(st, 15),
        .probe_at = sqlite3_column_int64(st, 16),
        .probe_status = sqlite3_column_int64(st, 17),
        .probe_error = sq_col_text(st, 18),
    };
    cc->cb(cc->ctx, &r);
}

static enum cd_err create(struct store *s, const struct current_row *r) {
    const char *t[] = {r->current_id, r->name,         r->type,
                       r->endpoint,   r->bearer_token, r->event_types};
    int64_t i[] = {r->workspace_id, r->batch_size, r->created_at};
    return sq_write(s,
                    "INSERT INTO currents(current_id, name, type, endpoint, bearer_token, "
                    "event_types, workspace_id, batch_size, created_at, state, position) "
                    "VALUES (?,?,?,?,?,?,?,?,?,'active',"
                    "(SELECT coalesce(max(seq), 0) FROM outbox))",
                    "ttttttiii", t, i, NULL);
}

static enum cd_err list(struct store *s, int64_t ws, void (*cb)(void *, const struct current_row *),
                        void *ctx) {
    struct current_cb cc = {cb, ctx};
    int64_t i[] = {ws};
    return sq_rows(s,
                   "SELECT " CURRENT_COLS CURRENTS_FROM "WHERE (?1 = 0 OR workspace_id = ?1) "
                   "AND deleted_at IS NULL ORDER BY id",
                   "i", NULL, i, row_current, &cc);
}

static enum cd_err get(struct store *s, int64_t ws, const char *current_id,
                       void (*cb)(void *, const struct current_row *), void *ctx) {
    struct current_cb cc = {cb, ctx};
    const char *t[] = {current_id};
    int64_t i[] = {ws};
    return sq_read_row(s,
                       "SELECT " CURRENT_COLS CURRENTS_FROM "WHERE current_id = ? AND "
                       "workspace_id = ? AND deleted_at IS NULL",
                       "ti", t, i, row_current, &cc);
}

static enum cd_err probe_set(struct store *s, int64_t ws, const char *current_id, int64_t at,
                             int64_t status, const char *error) {
    const char *t[] = {current_id, error};
    int64_t i[] = {ws, at, status};
    int changes = 0;
    enum cd_err err = sq_write(s,
                               "INSERT OR REPLACE INTO current_probes(current, at, status, error) "
                               "SELECT id, ?4, ?5, ?2 FROM currents WHERE current_id = ?1 AND "
                               "workspace_id = ?3 AND deleted_at IS NULL",
                               "ttiii", t, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

static enum cd_err set_state(struct store *s, int64_t current, const char *state,
                             const char *last_error) {
    const char *t[] = {state, last_error};
    int64_t i[] = {current};
    int changes = 0;
    enum cd_err err = sq_write(s,
                               "UPDATE currents SET state = ?1, last_error = coalesce(?2, "
                               "last_error) WHERE id = ?3 AND deleted_at IS NULL",
                               "tti", t, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

static enum cd_err remove_current(struct store *s, int64_t ws, const char *current_id,
                                  int64_t now) {
    const char *t[] = {current_id};
    int64_t i[] = {ws, now};
    int changes = 0;
    enum cd_err err = sq_write(s,
                               "UPDATE currents SET deleted_at = ?3 WHERE current_id = ?1 AND "
                               "workspace_id = ?2 AND deleted_at IS NULL",
                               "tii", t, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

static enum cd_err advance(struct store_txn *s, int64_t current, int64_t position,
                           int64_t delivered, int64_t retried, int64_t dead,
                           const char *last_error) {
    const char *t[] = {last_error};
    int64_t i[] = {current, position, delivered, retried, dead};
    return sq_txn_write(
        s,
        "UPDATE currents SET position = max(position, ?3), n_delivered = n_delivered "
        "+ ?4, n_retried = n_retried + ?5, n_dead = n_dead + ?6, last_error = ?1 "
        "WHERE id = ?2",
        "tiiiii", t, i, NULL);
}

struct outbox_cb {
    void (*cb)(void *, const struct outbox_row *);
    void *ctx;
};

static void row_outbox(sqlite3_stmt *st, void *ctx) {
    struct outbox_cb *oc = ctx;
    struct outbox_row r = {sqlite3_column_int64(st, 0), sq_col_text(st, 1),
                           sqlite3_column_int64(st, 2), sq_col_text(st, 3)};
    oc->cb(oc->ctx, &r);
}

static enum cd_err outbox_after(struct store *s, int64_t ws, int64_t after, int64_t limit,
                                void (*cb)(void *, const struct outbox_row *), void *ctx) {
    struct outbox_cb oc = {cb, ctx};
    int64_t i[] = {ws, after, sq_outbox_durable_seq(s), limit};
    return sq_rows(s,
                   "SELECT seq, event_type, created_at, body FROM outbox WHERE workspace_id = ? "
                   "AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                   "iiii", NULL, i, row_outbox, &oc);
}

static void row_int(sqlite3_stmt *st, void *ctx) {
    *(int64_t *)ctx = sqlite3_column_int64(st, 0);
}

static enum cd_err oldest_after(struct store *s, int64_t ws, int64_t after, const char *types,
                                int64_t *created_at) {
    const char *t[] = {types};
    int64_t i[] = {ws, after, sq_outbox_durable_seq(s)};
    *created_at = 0;
    enum cd_err err = sq_read_row(s,
                                  "SELECT created_at FROM outbox WHERE workspace_id = ?2 AND "
                                  "seq > ?3 AND seq <= ?4 AND event_type IN (SELECT value FROM "
                                  "json_each(?1)) "
                                  "ORDER BY seq LIMIT 1",
                                  "tiii", t, i, row_int, created_at);
    return err == CD_E_NOT_FOUND ? CD_OK : err;
}

static enum cd_err pending_after(struct store *s, int64_t ws, int64_t after, const char *types,
                                 int64_t *n) {
    const char *t[] = {types};
    int64_t i[] = {ws, after, sq_outbox_durable_seq(s)};
    *n = 0;
    return sq_read_row(s,
                       "SELECT count(*) FROM outbox WHERE workspace_id = ?2 AND seq > ?3 AND "
                       "seq <= ?4 AND event_type IN (SELECT value FROM json_each(?1))",
                       "tiii", t, i, row_int, n);
}

static enum cd_err dead_letter(struct store_txn *s, int64_t current, int64_t seq, const char *body,
                               const char *reason, int64_t now) {
    const char *t[] = {body, reason};
    int64_t i[] = {current, seq, now};
    return sq_txn_write(
        s, "INSERT INTO dead_letters(body, reason, current, seq, at) VALUES (?,?,?,?,?)", "ttiii",
        t, i, NULL);
}

static enum cd_err replay(struct store *s, int64_t current, int64_t *n) {
    int64_t i[] = {current};
    int changes = 0;
    enum cd_err err =
        sq_write(s, "UPDATE dead_letters SET replay = 1 WHERE current = ?", "i", NULL, i, &changes);
    *n = changes;
    return err;
}

static enum cd_err replays(struct store *s, int64_t current, int64_t limit,
                           void (*cb)(void *, const struct outbox_row *), void *ctx) {
    struct outbox_cb oc = {cb, ctx};
    int64_t i[] = {current, limit};
    return sq_rows(s,
                   "SELECT id, 'replay', at, body FROM dead_letters WHERE current = ? AND "
                   "replay = 1 ORDER BY id LIMIT ?",
                   "ii", NULL, i, row_outbox, &oc);
}

static enum cd_err replayed(struct store_txn *s, int64_t current, int64_t upto) {
    int64_t i[] = {current, upto};
    return sq_txn_write(s, "DELETE FROM dead_letters WHERE current = ? AND replay = 1 AND id <= ?",
                        "ii", NULL, i, NULL);
}

const struct store_currents_ops sqlite_currents_ops = {
    .create = create,
    .list = list,
    .get = get,
    .probe_set = probe_set,
    .set_state = set_state,
    .remove = remove_current,
    .advance = advance,
    .outbox_after = outbox_after,
    .oldest_after = oldest_after,
    .pending_after = pending_after,
    .dead_letter = dead_letter,
    .replay = replay,
    .replays = replays,
    .replayed = replayed,
};
