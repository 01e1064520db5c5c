/*
 * postgres_retention.c — retention in PostgreSQL (store_retention_ops): deletes the rows of the
 * outbox, deliveries, dead letters and Heap sync records that no reader needs any more, by the
 * rules of docs/internals/store.md ("Retention"). Each call is one DELETE of at most `limit`
 * rows chosen by a subquery on the same keys as SQLite's, its own transaction; the candidates
 * and the delete are one statement, so a replay queued meanwhile is seen by it.
 */
#include "store/postgres_int.h"

#define PRUNE_LIMIT_MAX 10000

static enum cd_err prune(struct store *s, enum store_prune_table table,
                         const struct store_prune_rule *rule, int64_t limit, int64_t *n) {
    *n = 0;
    if (limit < 1 || limit > PRUNE_LIMIT_MAX)
        return CD_E_INVALID;
    int64_t i[] = {rule->before, rule->idle_before, limit, rule->keep};
    const char *sql = NULL;
    switch (table) {
    case STORE_PRUNE_OUTBOX:
        /* a workspace's lowest live Current bounds it; without one, idle_before does */
        sql = "DELETE FROM outbox WHERE seq IN (SELECT o.seq FROM workspaces w "
              "CROSS JOIN LATERAL (SELECT min(c.position) AS pos FROM currents c WHERE "
              "c.workspace_id = w.id AND c.deleted_at IS NULL) p "
              "JOIN outbox o ON o.workspace_id = w.id "
              "WHERE o.seq <= coalesce(p.pos, o.seq) AND "
              "o.created_at < CASE WHEN p.pos IS NULL THEN $2 ELSE $1 END "
              "ORDER BY o.seq LIMIT $3)";
        break;
    case STORE_PRUNE_DELIVERIES:
        sql = "DELETE FROM deliveries WHERE (dispatch, step, uid) IN (SELECT d.dispatch, d.step, "
              "d.uid FROM dispatches p JOIN deliveries d ON d.dispatch = p.id WHERE "
              "p.finished_at > 0 AND p.finished_at < $1 LIMIT $3)";
        break;
    case STORE_PRUNE_DEAD_LETTERS:
        sql = "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters WHERE "
              "replay = 0 AND at < $1 ORDER BY id LIMIT $3) AND replay = 0";
        break;
    case STORE_PRUNE_HEAP_PAGES:
        sql = "WITH gone AS (SELECT p.integration, p.sync_task_id, p.page FROM heap_syncs s "
              "JOIN heap_pages p ON p.integration = s.integration AND p.sync_task_id = "
              "s.sync_task_id WHERE s.started_at < $1 LIMIT $3), digests AS (DELETE FROM "
              "heap_page_digests d USING gone g WHERE d.integration = g.integration AND "
              "d.sync_task_id = g.sync_task_id AND d.page = g.page) DELETE FROM heap_pages p "
              "USING gone g WHERE p.integration = g.integration AND p.sync_task_id = "
              "g.sync_task_id AND p.page = g.page";
        break;
    case STORE_PRUNE_HEAP_SYNCS:
        sql = "WITH gone AS (SELECT integration, sync_task_id FROM (SELECT integration, "
              "sync_task_id, started_at, row_number() OVER (PARTITION BY workspace_id, cohort_id "
              "ORDER BY started_at DESC) AS rn FROM heap_syncs) z WHERE started_at < $1 AND "
              "rn > $4 LIMIT $3), pages AS (DELETE FROM heap_pages p USING gone g WHERE "
              "p.integration = g.integration AND p.sync_task_id = g.sync_task_id), "
              "digests AS (DELETE FROM heap_page_digests d USING gone g WHERE "
              "d.integration = g.integration AND d.sync_task_id = g.sync_task_id) "
              "DELETE FROM heap_syncs s USING gone g WHERE s.integration = g.integration AND "
              "s.sync_task_id = g.sync_task_id";
        break;
    }
    if (!sql)
        return CD_E_INVALID;
    return pg_write(s, sql, "iiii", NULL, i, n);
}

const struct store_retention_ops postgres_retention_ops = {
    .prune = prune,
};
