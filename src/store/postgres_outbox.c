/* postgres_outbox.c — the Currents outbox in PostgreSQL (store_outbox_ops): an append-only
 * table keyed by an identity sequence, written in the same transaction as the change that
 * caused the event. Appends are serialised with the process's transactions, so sequences grow
 * in commit order; a committed row is durable (synchronous_commit), so readers need no
 * watermark of their own (docs/internals/store.md, "PostgreSQL specifics"). */
#include "store/postgres_int.h"

static enum cd_err append(struct store_txn *t, int64_t ws, const char *event_type, int64_t now,
                          const char *body, int64_t *seq) {
    const char *tx[] = {event_type, body};
    int64_t i[] = {ws, now};
    struct pg_args a = {"ttii", tx, i, NULL};
    int64_t got = 0;
    enum cd_err err = pg_txn_run(t, true,
                                 "INSERT INTO outbox(event_type, body, workspace_id, created_at) "
                                 "VALUES ($1,$2,$3,$4) RETURNING seq",
                                 &a, pg_row_int64, &got, NULL);
    if (err == CD_OK && seq)
        *seq = got;
    return err;
}

const struct store_outbox_ops postgres_outbox_ops = {
    .append = append,
};
