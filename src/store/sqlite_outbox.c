/* sqlite_outbox.c — the Currents outbox in SQLite (store_outbox_ops): an append-only table
 * keyed by a sequence, written in the same transaction as the change that caused the event,
 * and the durable-seq watermark its readers stop at (with sqlite_sync.c). */
#include "store/sqlite_int.h"

static enum cd_err append(struct store_txn *t, int64_t ws, const char *event_type, int64_t now,
                          const char *body, int64_t *seq) {
    const char *tx[] = {event_type, body};
    int64_t i[] = {ws, now};
    enum cd_err err = sq_txn_write(t,
                                   "INSERT INTO outbox(event_type, body, workspace_id, created_at) "
                                   "VALUES (?,?,?,?)",
                                   "ttii", tx, i, NULL);
    int64_t got = sqlite3_last_insert_rowid(t->s->w.db);
    if (err == CD_OK && got > t->outbox_hi)
        t->outbox_hi = got;
    if (err == CD_OK && seq)
        *seq = got;
    return err;
}

int64_t sq_outbox_durable_seq(struct store *s) {
    if (pthread_mutex_trylock(&s->w.lock) == 0) {
        if (sq_sync_idle(s))
            sq_sync_raise_seq(s, sq_outbox_max_seq(&s->w));
        pthread_mutex_unlock(&s->w.lock);
    }
    return sq_sync_durable_seq(s);
}

const struct store_outbox_ops sqlite_outbox_ops = {
    .append = append,
};
