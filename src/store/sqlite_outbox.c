/* sqlite_outbox.c — the Currents outbox in SQLite (store_outbox_ops): an append-only table
 * keyed by a sequence, written in the same transaction as the change that caused the event. */
#include "store/sqlite_int.h"

static enum cd_err append(struct store *s, int64_t ws, const char *event_type, int64_t now,
                          const char *body, int64_t *seq) {
    const char *t[] = {event_type, body};
    int64_t i[] = {ws, now};
    enum cd_err err = sq_write(s,
                               "INSERT INTO outbox(event_type, body, workspace_id, created_at) "
                               "VALUES (?,?,?,?)",
                               "ttii", t, i, NULL);
    if (err == CD_OK && seq)
        *seq = sqlite3_last_insert_rowid(s->w.db);
    return err;
}

const struct store_outbox_ops sqlite_outbox_ops = {
    .append = append,
};
