/*
 * postgres_heap.c — Heap segment-sync integrations in PostgreSQL (store_heap_ops): the
 * integration rows (secret in clear, since verifying an HMAC needs it), one row per sync run
 * with its page progress, and one row per page seen, which makes a replayed page a no-op.
 */
#include "store/postgres_int.h"

#include <stdio.h>
#include <string.h>

#define INTEGRATION_COLS                                                                           \
    "id, workspace_id, integration_id, name, mapping, alias_label, secret, created_at, n_pages, "  \
    "n_ignored"

struct integration_cb {
    void (*cb)(void *, const struct heap_integration_row *);
    void *ctx;
};

static void row_integration(struct pg_row *r, void *ctx) {
    struct integration_cb *ic = ctx;
    int64_t m = pg_int(r, 4);
    struct heap_integration_row row = {
        .id = pg_int(r, 0),
        .workspace_id = pg_int(r, 1),
        .integration_id = pg_text(r, 2),
        .name = pg_text(r, 3),
        .mapping = m == HEAP_MAP_ALIAS       ? HEAP_MAP_ALIAS
                   : m == HEAP_MAP_DEVICE_ID ? HEAP_MAP_DEVICE_ID
                                             : HEAP_MAP_EXTERNAL_ID,
        .alias_label = pg_text(r, 5),
        .secret = pg_text(r, 6),
        .created_at = pg_int(r, 7),
        .n_pages = pg_int(r, 8),
        .n_ignored = pg_int(r, 9),
    };
    ic->cb(ic->ctx, &row);
}

static enum cd_err create(struct store *s, const struct heap_integration_row *row, int64_t *id) {
    const char *t[] = {row->integration_id, row->name, row->alias_label, row->secret};
    int64_t i[] = {row->workspace_id, row->mapping, row->created_at};
    struct pg_args a = {"ttttiii", t, i, NULL};
    int64_t got = 0;
    enum cd_err err = pg_write_row(s,
                                   "INSERT INTO heap_integrations(integration_id, name, "
                                   "alias_label, secret, workspace_id, mapping, created_at) "
                                   "VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id",
                                   &a, pg_row_int64, &got);
    if (err == CD_OK && id)
        *id = got;
    return err;
}

static enum cd_err list(struct store *s, int64_t ws,
                        void (*cb)(void *, const struct heap_integration_row *), void *ctx) {
    struct integration_cb ic = {cb, ctx};
    int64_t i[] = {ws};
    return pg_rows(s,
                   "SELECT " INTEGRATION_COLS " FROM heap_integrations WHERE workspace_id = $1 "
                   "AND deleted_at IS NULL ORDER BY id",
                   "i", NULL, i, row_integration, &ic);
}

static enum cd_err get(struct store *s, const char *integration_id,
                       void (*cb)(void *, const struct heap_integration_row *), void *ctx) {
    struct integration_cb ic = {cb, ctx};
    const char *t[] = {integration_id};
    return pg_read_row(s,
                       "SELECT " INTEGRATION_COLS " FROM heap_integrations WHERE "
                       "integration_id = $1 AND deleted_at IS NULL",
                       "t", t, NULL, row_integration, &ic);
}

static enum cd_err set_secret(struct store *s, int64_t ws, const char *integration_id,
                              const char *secret) {
    const char *t[] = {secret, integration_id};
    int64_t i[] = {ws};
    int64_t changes = 0;
    enum cd_err err = pg_write(s,
                               "UPDATE heap_integrations SET secret = $1 WHERE integration_id = $2 "
                               "AND workspace_id = $3 AND deleted_at IS NULL",
                               "tti", t, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

static enum cd_err remove_integration(struct store *s, int64_t ws, const char *integration_id,
                                      int64_t now) {
    const char *t[] = {integration_id};
    int64_t i[] = {ws, now};
    int64_t changes = 0;
    enum cd_err err = pg_write(s,
                               "UPDATE heap_integrations SET deleted_at = $3 WHERE "
                               "integration_id = $1 AND workspace_id = $2 AND deleted_at IS NULL",
                               "tii", t, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

static enum cd_err count_ignored(struct store *s, int64_t integration) {
    int64_t i[] = {integration};
    return pg_write(s, "UPDATE heap_integrations SET n_ignored = n_ignored + 1 WHERE id = $1", "i",
                    NULL, i, NULL);
}

static void row_digest(struct pg_row *r, void *ctx) {
    const char *d = pg_text(r, 0);
    snprintf(ctx, 65, "%s", d ? d : "");
}

static enum cd_err page_record(struct store_txn *s, int64_t integration, const char *sync_task_id,
                               const char *cohort_id, int64_t page, int64_t total_pages,
                               int64_t n_added, int64_t n_removed, const char *digest, int64_t now,
                               bool *seen) {
    /* every statement binds the same nine values ($1 … $9); each uses the ones it names */
    const char *t[] = {sync_task_id, cohort_id, digest};
    int64_t i[] = {integration, page, total_pages, n_added, n_removed, now};
    const char *binds = "tttiiiiii";
    int64_t changes = 0;
    *seen = false;
    enum cd_err err =
        pg_txn_write(s,
                     "INSERT INTO heap_pages(sync_task_id, integration, page) VALUES ($1, $4, $5) "
                     "ON CONFLICT DO NOTHING",
                     binds, t, i, &changes);
    if (err != CD_OK)
        return err;
    bool again = changes == 0;
    if (again) {
        /* seen: a duplicate unless its content differs (a page recorded before digests were
         * kept has none, and stays a duplicate) */
        char stored[65] = "";
        err = pg_txn_read_row(s->s, s,
                              "SELECT digest FROM heap_page_digests WHERE integration = $4 AND "
                              "sync_task_id = $1 AND page = $5",
                              binds, t, i, row_digest, stored);
        if (err == CD_E_NOT_FOUND || (err == CD_OK && strcmp(stored, digest) == 0)) {
            *seen = true;
            return CD_OK;
        }
        if (err != CD_OK)
            return err;
    }
    err = pg_txn_write(s,
                       "INSERT INTO heap_page_digests(integration, sync_task_id, page, digest) "
                       "VALUES ($4, $1, $5, $3) ON CONFLICT (integration, sync_task_id, page) "
                       "DO UPDATE SET digest = EXCLUDED.digest",
                       binds, t, i, NULL);
    if (err == CD_OK && again)
        err = pg_txn_write(s,
                           "UPDATE heap_syncs SET n_added = n_added + $7, n_removed = n_removed "
                           "+ $8 WHERE integration = $4 AND sync_task_id = $1",
                           binds, t, i, NULL);
    else if (err == CD_OK)
        err = pg_txn_write(
            s,
            "INSERT INTO heap_syncs(sync_task_id, cohort_id, integration, workspace_id, "
            "total_pages, pages_seen, started_at, n_added, n_removed) "
            "SELECT $1, $2, $4, workspace_id, $6, 1, $9, $7, $8 FROM heap_integrations "
            "WHERE id = $4 "
            "ON CONFLICT (integration, sync_task_id) DO UPDATE SET "
            "pages_seen = heap_syncs.pages_seen + 1, "
            "total_pages = greatest(heap_syncs.total_pages, $6), "
            "n_added = heap_syncs.n_added + $7, n_removed = heap_syncs.n_removed + $8",
            binds, t, i, NULL);
    if (err == CD_OK && !again)
        err = pg_txn_write(s,
                           "UPDATE heap_syncs SET completed_at = $9 WHERE integration = $4 AND "
                           "sync_task_id = $1 AND completed_at IS NULL AND "
                           "pages_seen >= total_pages",
                           binds, t, i, NULL);
    if (err == CD_OK)
        err = pg_txn_write(s, "UPDATE heap_integrations SET n_pages = n_pages + 1 WHERE id = $4",
                           binds, t, i, NULL);
    return err;
}

struct sync_cb {
    void (*cb)(void *, const struct heap_sync_row *);
    void *ctx;
};

static void row_sync(struct pg_row *r, void *ctx) {
    struct sync_cb *sc = ctx;
    struct heap_sync_row row = {
        .sync_task_id = pg_text(r, 0),
        .cohort_id = pg_text(r, 1),
        .total_pages = pg_int(r, 2),
        .pages_seen = pg_int(r, 3),
        .started_at = pg_int(r, 4),
        .completed_at = pg_int(r, 5),
        .n_added = pg_int(r, 6),
        .n_removed = pg_int(r, 7),
    };
    sc->cb(sc->ctx, &row);
}

static enum cd_err syncs_of_cohort(struct store *s, int64_t ws, const char *cohort_id, int limit,
                                   void (*cb)(void *, const struct heap_sync_row *), void *ctx) {
    struct sync_cb sc = {cb, ctx};
    const char *t[] = {cohort_id};
    int64_t i[] = {ws, limit};
    return pg_rows(s,
                   "SELECT sync_task_id, cohort_id, total_pages, pages_seen, started_at, "
                   "coalesce(completed_at, 0), n_added, n_removed FROM heap_syncs "
                   "WHERE cohort_id = $1 AND workspace_id = $2 ORDER BY started_at DESC LIMIT $3",
                   "tii", t, i, row_sync, &sc);
}

const struct store_heap_ops postgres_heap_ops = {
    .create = create,
    .list = list,
    .get = get,
    .set_secret = set_secret,
    .remove = remove_integration,
    .count_ignored = count_ignored,
    .page_record = page_record,
    .syncs_of_cohort = syncs_of_cohort,
};
