/*
 * sqlite_retention.c — retention in SQLite (store_retention_ops): deletes the rows of the
 * outbox, deliveries, dead letters and Heap sync records that no reader needs any more.
 *
 * Each call finds at most `limit` candidates by key on a read connection (WAL: it waits for
 * nobody and nobody waits for it), then deletes them by primary key in one transaction, so the
 * writer is held for `limit` index deletes (about a millisecond per thousand here), never for a
 * scan. What may change between the two steps only makes a candidate more deletable (a
 * Current's position only grows, rows only age), except a replay queued meanwhile, which the
 * delete of a dead letter checks again.
 *
 * Rules (docs/internals/store.md, "Retention"):
 *   outbox        seq <= the lowest position of the workspace's live Currents and older than
 *                 rule.before; with no live Current, older than rule.idle_before. Rows are
 *                 taken in seq order and the first one too young stops the walk (created_at
 *                 grows with seq), so a pass reads at most `limit` rows per workspace.
 *   deliveries    of dispatches finished before rule.before (an unfinished dispatch resumes
 *                 from its deliveries).
 *   dead letters  older than rule.before and not queued for replay.
 *   heap pages    of syncs started before rule.before.
 *   heap syncs    started before rule.before and not among the newest rule.keep of their
 *                 (workspace, cohort); their page records go with them.
 */
#include "store/sqlite_int.h"

#include <stdlib.h>
#include <string.h>

#define PRUNE_LIMIT_MAX 10000

/* A row's primary key: up to three integers and one text. */
struct prune_key {
    int64_t a, b, c;
    char *text; /* owned; NULL when the table's key has no text */
};

struct keys {
    struct prune_key *v;
    int64_t n, cap;
    bool nomem;
    /* the outbox walk: rows younger than this stop it */
    int64_t cutoff;
    bool stopped;
};

static void keys_free(struct keys *k) {
    for (int64_t i = 0; i < k->n; i++)
        free(k->v[i].text);
    free(k->v);
}

static void keys_push(struct keys *k, int64_t a, int64_t b, int64_t c, const char *text) {
    if (k->n == k->cap || k->nomem)
        return; /* cap is the call's limit, allocated up front */
    char *t = text ? strdup(text) : NULL;
    if (text && !t) {
        k->nomem = true;
        return;
    }
    k->v[k->n++] = (struct prune_key){a, b, c, t};
}

static void row_ints(sqlite3_stmt *st, void *ctx) {
    keys_push(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
              sqlite3_column_int64(st, 2), NULL);
}

/* (a, text b, int c) rows of heap pages: integration, sync_task_id, page */
static void row_heap_page(sqlite3_stmt *st, void *ctx) {
    keys_push(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 2), 0, sq_col_text(st, 1));
}

static void row_heap_sync(sqlite3_stmt *st, void *ctx) {
    keys_push(ctx, sqlite3_column_int64(st, 0), 0, 0, sq_col_text(st, 1));
}

/* outbox rows in seq order: keeps the prefix older than the cutoff */
static void row_outbox(sqlite3_stmt *st, void *ctx) {
    struct keys *k = ctx;
    if (k->stopped || sqlite3_column_int64(st, 1) >= k->cutoff) {
        k->stopped = true;
        return;
    }
    keys_push(k, sqlite3_column_int64(st, 0), 0, 0, NULL);
}

struct ws_bound {
    int64_t ws;
    int64_t position; /* lowest live Current's position, -1 when there is none */
};

struct ws_bounds {
    struct ws_bound *v;
    size_t n, cap;
    bool nomem;
};

static void row_ws_bound(sqlite3_stmt *st, void *ctx) {
    struct ws_bounds *b = ctx;
    if (b->nomem)
        return;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct ws_bound *v = realloc(b->v, cap * sizeof *v);
        if (!v) {
            b->nomem = true;
            return;
        }
        b->v = v;
        b->cap = cap;
    }
    bool none = sqlite3_column_type(st, 1) == SQLITE_NULL;
    b->v[b->n++] =
        (struct ws_bound){sqlite3_column_int64(st, 0), none ? -1 : sqlite3_column_int64(st, 1)};
}

static enum cd_err find_outbox(struct store *s, const struct store_prune_rule *rule,
                               struct keys *k) {
    struct ws_bounds b = {0};
    enum cd_err err = sq_rows(s,
                              "SELECT w.id, (SELECT min(c.position) FROM currents c WHERE "
                              "c.workspace_id = w.id AND c.deleted_at IS NULL) "
                              "FROM workspaces w ORDER BY w.id",
                              "", NULL, NULL, row_ws_bound, &b);
    if (err == CD_OK && b.nomem)
        err = CD_E_NOMEM;
    for (size_t i = 0; err == CD_OK && i < b.n && k->n < k->cap && !k->nomem; i++) {
        k->cutoff = b.v[i].position < 0 ? rule->idle_before : rule->before;
        k->stopped = false;
        int64_t ints[] = {b.v[i].ws, b.v[i].position < 0 ? INT64_MAX : b.v[i].position,
                          k->cap - k->n};
        err = sq_rows(s,
                      "SELECT seq, created_at FROM outbox WHERE workspace_id = ? AND seq <= ? "
                      "ORDER BY seq LIMIT ?",
                      "iii", NULL, ints, row_outbox, k);
    }
    free(b.v);
    return err;
}

static enum cd_err find(struct store *s, enum store_prune_table table,
                        const struct store_prune_rule *rule, struct keys *k) {
    int64_t ints[] = {rule->before, k->cap, rule->keep};
    switch (table) {
    case STORE_PRUNE_OUTBOX:
        return find_outbox(s, rule, k);
    case STORE_PRUNE_DELIVERIES:
        return sq_rows(s,
                       "SELECT d.dispatch, d.step, d.uid FROM dispatches p JOIN deliveries d "
                       "ON d.dispatch = p.id WHERE p.finished_at > 0 AND p.finished_at < ? "
                       "LIMIT ?",
                       "ii", NULL, ints, row_ints, k);
    case STORE_PRUNE_DEAD_LETTERS:
        return sq_rows(s,
                       "SELECT id, 0, 0 FROM dead_letters WHERE replay = 0 AND at < ? ORDER BY id "
                       "LIMIT ?",
                       "ii", NULL, ints, row_ints, k);
    case STORE_PRUNE_HEAP_PAGES:
        return sq_rows(s,
                       "SELECT p.integration, p.sync_task_id, p.page FROM heap_syncs s "
                       "JOIN heap_pages p ON p.integration = s.integration AND "
                       "p.sync_task_id = s.sync_task_id WHERE s.started_at < ? LIMIT ?",
                       "ii", NULL, ints, row_heap_page, k);
    case STORE_PRUNE_HEAP_SYNCS:
        return sq_rows(s,
                       "SELECT integration, sync_task_id FROM (SELECT integration, "
                       "sync_task_id, started_at, row_number() OVER (PARTITION BY "
                       "workspace_id, cohort_id ORDER BY started_at DESC) AS rn FROM heap_syncs) "
                       "WHERE started_at < ?1 AND rn > ?3 LIMIT ?2",
                       "iii", NULL, ints, row_heap_sync, k);
    }
    return CD_E_INVALID;
}

/* Deletes one candidate in t; adds the rows of the table itself to *n. */
static enum cd_err delete_key(struct store_txn *t, enum store_prune_table table,
                              const struct prune_key *key, int64_t *n) {
    const char *texts[] = {key->text};
    int64_t ints[] = {key->a, key->b, key->c};
    int changes = 0;
    enum cd_err err = CD_E_INVALID;
    switch (table) {
    case STORE_PRUNE_OUTBOX:
        err = sq_txn_write(t, "DELETE FROM outbox WHERE seq = ?", "i", NULL, ints, &changes);
        break;
    case STORE_PRUNE_DELIVERIES:
        err = sq_txn_write(t, "DELETE FROM deliveries WHERE dispatch = ? AND step = ? AND uid = ?",
                           "iii", NULL, ints, &changes);
        break;
    case STORE_PRUNE_DEAD_LETTERS:
        /* a replay queued since the candidates were read keeps its letter */
        err = sq_txn_write(t, "DELETE FROM dead_letters WHERE id = ? AND replay = 0", "i", NULL,
                           ints, &changes);
        break;
    case STORE_PRUNE_HEAP_PAGES:
        err = sq_txn_write(t,
                           "DELETE FROM heap_page_digests WHERE integration = ?1 AND "
                           "sync_task_id = ?2 AND page = ?3",
                           "iti", texts, ints, NULL);
        if (err == CD_OK)
            err = sq_txn_write(t,
                               "DELETE FROM heap_pages WHERE integration = ?1 AND sync_task_id = "
                               "?2 AND page = ?3",
                               "iti", texts, ints, &changes);
        break;
    case STORE_PRUNE_HEAP_SYNCS:
        err = sq_txn_write(t,
                           "DELETE FROM heap_page_digests WHERE integration = ?1 AND "
                           "sync_task_id = ?2",
                           "it", texts, ints, NULL);
        if (err == CD_OK)
            err = sq_txn_write(
                t, "DELETE FROM heap_pages WHERE integration = ?1 AND sync_task_id = ?2", "it",
                texts, ints, NULL);
        if (err == CD_OK)
            err = sq_txn_write(t,
                               "DELETE FROM heap_syncs WHERE integration = ?1 AND "
                               "sync_task_id = ?2",
                               "it", texts, ints, &changes);
        break;
    }
    *n += changes;
    return err;
}

static enum cd_err prune(struct store *s, enum store_prune_table table,
                         const struct store_prune_rule *rule, int64_t limit, int64_t *n) {
    *n = 0;
    if (limit < 1 || limit > PRUNE_LIMIT_MAX)
        return CD_E_INVALID;
    struct keys k = {.v = calloc((size_t)limit, sizeof(struct prune_key)), .cap = limit};
    if (!k.v)
        return CD_E_NOMEM;
    enum cd_err err = find(s, table, rule, &k);
    if (err == CD_OK && k.nomem)
        err = CD_E_NOMEM;
    if (err == CD_OK && k.n > 0) {
        const struct store_ops *ops = s->base.ops;
        struct store_txn *t = NULL;
        int64_t deleted = 0;
        err = ops->begin(s, &t);
        for (int64_t i = 0; err == CD_OK && i < k.n; i++)
            err = delete_key(t, table, &k.v[i], &deleted);
        if (err == CD_OK)
            err = ops->commit(t);
        else if (t)
            ops->rollback(t);
        if (err == CD_OK)
            *n = deleted;
    }
    keys_free(&k);
    return err;
}

const struct store_retention_ops sqlite_retention_ops = {
    .prune = prune,
};
