/*
 * postgres_currents.c — Currents in PostgreSQL (store_currents_ops): one row per Current
 * holding its position in the outbox (moved only after a 2xx or a dead letter: at-least-once
 * delivery across crashes), and the dead letters, which a replay queues for sending again.
 * Every committed outbox row is durable here, so the outbox reads stop at no watermark.
 */
#include "store/postgres_int.h"

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

static void row_current(struct pg_row *r, void *ctx) {
    struct current_cb *cc = ctx;
    struct current_row row = {
        .id = pg_int(r, 0),
        .workspace_id = pg_int(r, 1),
        .current_id = pg_text(r, 2),
        .name = pg_text(r, 3),
        .type = pg_text(r, 4),
        .endpoint = pg_text(r, 5),
        .bearer_token = pg_text(r, 6),
        .event_types = pg_text(r, 7),
        .batch_size = pg_int(r, 8),
        .state = pg_text(r, 9),
        .position = pg_int(r, 10),
        .n_delivered = pg_int(r, 11),
        .n_retried = pg_int(r, 12),
        .n_dead = pg_int(r, 13),
        .last_error = pg_text(r, 14),
        .created_at = pg_int(r, 15),
        .probe_at = pg_int(r, 16),
        .probe_status = pg_int(r, 17),
        .probe_error = pg_text(r, 18),
    };
    cc->cb(cc->ctx, &row);
}

static enum cd_err create(struct store *s, const struct current_row *r) {
    const char *t[] = {r->current_id, r->name,         r->type,
                       r->endpoint,   r->bearer_token, r->event_types};
    int64_t i[] = {r->workspace_id, r->batch_size, r->created_at};
    return pg_write(s,
                    "INSERT INTO currents(current_id, name, type, endpoint, bearer_token, "
                    "event_types, workspace_id, batch_size, created_at, state, position) "
                    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,'active',"
                    "(SELECT coalesce(max(seq), 0) FROM outbox))",
                    "ttttttiii", t, i, NULL);
}

static enum cd_err list(struct store *s, int64_t ws, void (*cb)(void *, const struct current_row *),
                        void *ctx) {
    struct current_cb cc = {cb, ctx};
    int64_t i[] = {ws};
    return pg_rows(s,
                   "SELECT " CURRENT_COLS CURRENTS_FROM "WHERE ($1 = 0 OR workspace_id = $1) "
                   "AND deleted_at IS NULL ORDER BY id",
                   "i", NULL, i, row_current, &cc);
}

static enum cd_err get(struct store *s, int64_t ws, const char *current_id,
                       void (*cb)(void *, const struct current_row *), void *ctx) {
    struct current_cb cc = {cb, ctx};
    const char *t[] = {current_id};
    int64_t i[] = {ws};
    return pg_read_row(s,
                       "SELECT " CURRENT_COLS CURRENTS_FROM "WHERE current_id = $1 AND "
                       "workspace_id = $2 AND deleted_at IS NULL",
                       "ti", t, i, row_current, &cc);
}

static enum cd_err probe_set(struct store *s, int64_t ws, const char *current_id, int64_t at,
                             int64_t status, const char *error) {
    const char *t[] = {current_id, error};
    int64_t i[] = {ws, at, status};
    int64_t changes = 0;
    enum cd_err err = pg_write(s,
                               "INSERT INTO current_probes(current, at, status, error) "
                               "SELECT id, $4, $5, $2 FROM currents WHERE current_id = $1 AND "
                               "workspace_id = $3 AND deleted_at IS NULL "
                               "ON CONFLICT (current) DO UPDATE SET at = EXCLUDED.at, "
                               "status = EXCLUDED.status, error = EXCLUDED.error",
                               "ttiii", t, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

static enum cd_err set_state(struct store *s, int64_t current, const char *state,
                             const char *last_error) {
    const char *t[] = {state, last_error};
    int64_t i[] = {current};
    int64_t changes = 0;
    enum cd_err err = pg_write(s,
                               "UPDATE currents SET state = $1, last_error = coalesce($2, "
                               "last_error) WHERE id = $3 AND deleted_at IS NULL",
                               "tti", t, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

static enum cd_err remove_current(struct store *s, int64_t ws, const char *current_id,
                                  int64_t now) {
    const char *t[] = {current_id};
    int64_t i[] = {ws, now};
    int64_t changes = 0;
    enum cd_err err = pg_write(s,
                               "UPDATE currents SET deleted_at = $3 WHERE current_id = $1 AND "
                               "workspace_id = $2 AND deleted_at IS NULL",
                               "tii", t, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

static enum cd_err advance(struct store_txn *s, int64_t current, int64_t position,
                           int64_t delivered, int64_t retried, int64_t dead,
                           const char *last_error) {
    const char *t[] = {last_error};
    int64_t i[] = {current, position, delivered, retried, dead};
    return pg_txn_write(s,
                        "UPDATE currents SET position = greatest(position, $3), n_delivered = "
                        "n_delivered + $4, n_retried = n_retried + $5, n_dead = n_dead + $6, "
                        "last_error = $1 WHERE id = $2",
                        "tiiiii", t, i, NULL);
}

struct outbox_cb {
    void (*cb)(void *, const struct outbox_row *);
    void *ctx;
};

static void row_outbox(struct pg_row *r, void *ctx) {
    struct outbox_cb *oc = ctx;
    struct outbox_row row = {pg_int(r, 0), pg_text(r, 1), pg_int(r, 2), pg_text(r, 3)};
    oc->cb(oc->ctx, &row);
}

static enum cd_err outbox_after(struct store *s, int64_t ws, int64_t after, int64_t limit,
                                void (*cb)(void *, const struct outbox_row *), void *ctx) {
    struct outbox_cb oc = {cb, ctx};
    int64_t i[] = {ws, after, limit};
    return pg_rows(s,
                   "SELECT seq, event_type, created_at, body FROM outbox WHERE workspace_id = $1 "
                   "AND seq > $2 ORDER BY seq LIMIT $3",
                   "iii", NULL, i, row_outbox, &oc);
}

static enum cd_err oldest_after(struct store *s, int64_t ws, int64_t after, const char *types,
                                int64_t *created_at) {
    const char *t[] = {types};
    int64_t i[] = {ws, after};
    *created_at = 0;
    enum cd_err err = pg_read_row(s,
                                  "SELECT created_at FROM outbox WHERE workspace_id = $2 AND "
                                  "seq > $3 AND event_type IN (SELECT jsonb_array_elements_text("
                                  "$1::jsonb)) ORDER BY seq LIMIT 1",
                                  "tii", t, i, pg_row_int64, created_at);
    return err == CD_E_NOT_FOUND ? CD_OK : err;
}

static enum cd_err pending_after(struct store *s, int64_t ws, int64_t after, const char *types,
                                 int64_t *n) {
    const char *t[] = {types};
    int64_t i[] = {ws, after};
    *n = 0;
    return pg_read_row(s,
                       "SELECT count(*) FROM outbox WHERE workspace_id = $2 AND seq > $3 AND "
                       "event_type IN (SELECT jsonb_array_elements_text($1::jsonb))",
                       "tii", t, i, pg_row_int64, n);
}

static enum cd_err dead_letter(struct store_txn *s, int64_t current, int64_t seq, const char *body,
                               const char *reason, int64_t now) {
    const char *t[] = {body, reason};
    int64_t i[] = {current, seq, now};
    return pg_txn_write(
        s, "INSERT INTO dead_letters(body, reason, current, seq, at) VALUES ($1,$2,$3,$4,$5)",
        "ttiii", t, i, NULL);
}

static enum cd_err replay(struct store *s, int64_t current, int64_t *n) {
    int64_t i[] = {current};
    int64_t changes = 0;
    enum cd_err err = pg_write(s, "UPDATE dead_letters SET replay = 1 WHERE current = $1", "i",
                               NULL, i, &changes);
    *n = changes;
    return err;
}

static enum cd_err replays(struct store *s, int64_t current, int64_t limit,
                           void (*cb)(void *, const struct outbox_row *), void *ctx) {
    struct outbox_cb oc = {cb, ctx};
    int64_t i[] = {current, limit};
    return pg_rows(s,
                   "SELECT id, 'replay', at, body FROM dead_letters WHERE current = $1 AND "
                   "replay = 1 ORDER BY id LIMIT $2",
                   "ii", NULL, i, row_outbox, &oc);
}

static enum cd_err replayed(struct store_txn *s, int64_t current, int64_t upto) {
    int64_t i[] = {current, upto};
    return pg_txn_write(s,
                        "DELETE FROM dead_letters WHERE current = $1 AND replay = 1 AND id <= $2",
                        "ii", NULL, i, NULL);
}

const struct store_currents_ops postgres_currents_ops = {
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
