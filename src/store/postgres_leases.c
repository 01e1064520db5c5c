/* postgres_leases.c — workspace leases in PostgreSQL (store_lease_ops): a row per workspace
 * with holder, advertised address, expiry and epoch, times on the database's clock. Each op is
 * one statement; the check of a write transaction takes the row FOR SHARE, so a take-over
 * (an UPDATE of the row) waits for the transaction and then sees its writes. */
#include <stdio.h>
#include <string.h>

#include "store/postgres_int.h"

/* acquire, renew and release run on a connection of their own (s->lease), so that a renewal
 * never waits behind the queue of write transactions on `w` (it waits at most for the one
 * transaction that holds the row FOR SHARE). */
static enum cd_err lease_write(struct store *s, const char *sql, const struct pg_args *a,
                               pg_row_fn row, void *ctx, int64_t *changes) {
    pthread_mutex_lock(&s->lease.lock);
    enum cd_err err = pg_run(&s->lease, row != NULL, sql, a, row, ctx, changes);
    pthread_mutex_unlock(&s->lease.lock);
    return err;
}

/* UNIX ms on the database's clock (clock_timestamp: the time of the statement, not of the
 * transaction's start). */
#define PG_NOW_MS "(extract(epoch from clock_timestamp()) * 1000)::bigint"

static void row_lease(struct pg_row *r, void *ctx) {
    struct store_lease *l = ctx;
    const char *holder = pg_text(r, 0), *address = pg_text(r, 1);
    snprintf(l->holder, sizeof l->holder, "%s", holder ? holder : "");
    snprintf(l->address, sizeof l->address, "%s", address ? address : "");
    l->epoch = pg_int(r, 2);
    l->remaining_ms = pg_int(r, 3);
}

static enum cd_err owner(struct store *s, int64_t ws, struct store_lease *out) {
    int64_t i[] = {ws};
    return pg_read_row(s,
                       "SELECT holder, address, epoch, expires_at - " PG_NOW_MS
                       " FROM workspace_leases WHERE workspace_id = $1",
                       "i", NULL, i, row_lease, out);
}

/* The node row of $2 is this process's ($5): a process whose id another one took takes
 * nothing, even a lease still recorded under the id. */
#define NODE_IS_MINE "EXISTS (SELECT 1 FROM cohortd_nodes WHERE node_id = $2 AND instance = $5)"

static enum cd_err acquire(struct store *s, int64_t ws, const char *node, const char *instance,
                           const char *address, int64_t ttl_ms, int64_t *epoch,
                           struct store_lease *out) {
    const char *t[] = {node, address, instance};
    int64_t i[] = {ws, ttl_ms};
    struct pg_args a = {"ittit", t, i, NULL}; /* $1 ws, $2 node, $3 address, $4 ttl, $5 inst */
    int64_t got = 0;
    enum cd_err err = lease_write(
        s,
        "INSERT INTO workspace_leases AS l(workspace_id, holder, address, "
        "expires_at, epoch) SELECT $1, $2, $3, " PG_NOW_MS " + $4, 1 WHERE " NODE_IS_MINE
        " ON CONFLICT (workspace_id) DO UPDATE SET holder = EXCLUDED.holder, "
        "address = EXCLUDED.address, expires_at = EXCLUDED.expires_at, "
        "epoch = l.epoch + 1 WHERE (l.holder = EXCLUDED.holder OR l.expires_at <= " PG_NOW_MS
        ") AND " NODE_IS_MINE " RETURNING epoch",
        &a, pg_row_int64, &got, NULL);
    if (err == CD_OK) {
        *epoch = got;
        pg_entries_changed(s); /* another node may have written its campaigns meanwhile */
        return CD_OK;
    }
    if (err != CD_E_NOT_FOUND)
        return err;
    const char *nt[] = {node, instance};
    int64_t one = 0;
    err = pg_read_row(s, "SELECT 1 FROM cohortd_nodes WHERE node_id = $1 AND instance = $2", "tt",
                      nt, NULL, pg_row_int64, &one);
    if (err == CD_E_NOT_FOUND)
        return CD_E_FORBIDDEN;
    if (err != CD_OK)
        return err;
    if (out && owner(s, ws, out) != CD_OK)
        memset(out, 0, sizeof *out);
    return CD_E_EXISTS;
}

static enum cd_err renew(struct store *s, int64_t ws, const char *node, int64_t epoch,
                         int64_t ttl_ms) {
    const char *t[] = {node};
    int64_t i[] = {ws, epoch, ttl_ms};
    int64_t n = 0; /* $1 ws, $2 node, $3 epoch, $4 ttl */
    struct pg_args a = {"itii", t, i, NULL};
    enum cd_err err = lease_write(s,
                                  "UPDATE workspace_leases SET expires_at = " PG_NOW_MS
                                  " + $4 WHERE workspace_id = $1 AND holder = $2 AND epoch = $3 "
                                  "AND expires_at > " PG_NOW_MS,
                                  &a, NULL, NULL, &n);
    if (err == CD_OK && n == 0)
        err = CD_E_NOT_FOUND;
    return err;
}

static enum cd_err release(struct store *s, int64_t ws, const char *node, int64_t epoch) {
    const char *t[] = {node};
    int64_t i[] = {ws, epoch};
    struct pg_args a = {"iti", t, i, NULL};
    return lease_write(s,
                       "UPDATE workspace_leases SET expires_at = 0 WHERE workspace_id = $1 AND "
                       "holder = $2 AND epoch = $3",
                       &a, NULL, NULL, NULL);
}

const char pg_lease_check_sql[] =
    "SELECT 1 FROM workspace_leases WHERE workspace_id = $1 AND holder = $2 AND epoch = $3 AND "
    "expires_at > " PG_NOW_MS " FOR SHARE";

static enum cd_err check(struct store_txn *t, int64_t ws, const char *node, int64_t epoch) {
    const char *tx[] = {node};
    int64_t i[] = {ws, epoch};
    struct pg_args a = {"iti", tx, i, NULL};
    int64_t one = 0;
    enum cd_err err = pg_txn_run(t, true, pg_lease_check_sql, &a, pg_row_int64, &one, NULL);
    return err == CD_E_NOT_FOUND ? CD_E_STORE : err;
}

/* Sent by run_with_begin (postgres.c) in the pipeline of BEGIN and t's first statement; checked
 * at once when a statement already ran. */
static enum cd_err check_with_next(struct store_txn *t, int64_t ws, const char *node,
                                   int64_t epoch) {
    struct pg_conn *c = &t->s->w;
    if (!c->begin_pending || strlen(node) >= sizeof c->check_node)
        return check(t, ws, node, epoch);
    c->check_pending = true;
    c->check_ws = ws;
    c->check_epoch = epoch;
    snprintf(c->check_node, sizeof c->check_node, "%s", node);
    return CD_OK;
}

static void row_node(struct pg_row *r, void *ctx) {
    struct store_lease *l = ctx;
    const char *instance = pg_text(r, 0), *address = pg_text(r, 1);
    snprintf(l->holder, sizeof l->holder, "%s", instance ? instance : "");
    snprintf(l->address, sizeof l->address, "%s", address ? address : "");
    l->epoch = 0;
    l->remaining_ms = pg_int(r, 2);
}

static enum cd_err node_claim(struct store *s, const char *node, const char *instance,
                              const char *previous, const char *address, int64_t ttl_ms,
                              struct store_lease *out) {
    const char *t[] = {node, instance, address, previous ? previous : ""};
    int64_t i[] = {ttl_ms};
    /* $1 node, $2 instance, $3 address, $4 ttl, $5 the previous instance ('' for none) */
    struct pg_args a = {"tttit", t, i, NULL};
    int64_t one = 0;
    enum cd_err err =
        lease_write(s,
                    "INSERT INTO cohortd_nodes AS n(node_id, instance, address, expires_at) "
                    "VALUES ($1, $2, $3, " PG_NOW_MS " + $4) ON CONFLICT (node_id) DO UPDATE SET "
                    "instance = EXCLUDED.instance, address = EXCLUDED.address, expires_at = "
                    "EXCLUDED.expires_at WHERE n.instance = EXCLUDED.instance OR (n.instance = $5 "
                    "AND $5 <> '') "
                    "OR n.expires_at <= " PG_NOW_MS " RETURNING 1",
                    &a, pg_row_int64, &one, NULL);
    if (err != CD_E_NOT_FOUND)
        return err;
    if (out) {
        memset(out, 0, sizeof *out);
        const char *nt[] = {node};
        (void)pg_read_row(s,
                          "SELECT instance, address, expires_at - " PG_NOW_MS
                          " FROM cohortd_nodes WHERE node_id = $1",
                          "t", nt, NULL, row_node, out);
    }
    return CD_E_EXISTS;
}

static enum cd_err node_renew(struct store *s, const char *node, const char *instance,
                              int64_t ttl_ms) {
    const char *t[] = {node, instance};
    int64_t i[] = {ttl_ms};
    struct pg_args a = {"tti", t, i, NULL};
    int64_t n = 0;
    enum cd_err err = lease_write(s,
                                  "UPDATE cohortd_nodes SET expires_at = " PG_NOW_MS
                                  " + $3 WHERE node_id = $1 AND instance = $2",
                                  &a, NULL, NULL, &n);
    return err == CD_OK && n == 0 ? CD_E_NOT_FOUND : err;
}

static enum cd_err node_release(struct store *s, const char *node, const char *instance) {
    const char *t[] = {node, instance};
    struct pg_args a = {"tt", t, NULL, NULL};
    return lease_write(s,
                       "UPDATE cohortd_nodes SET expires_at = 0 WHERE node_id = $1 AND "
                       "instance = $2",
                       &a, NULL, NULL, NULL);
}

const struct store_lease_ops postgres_lease_ops = {
    .acquire = acquire,
    .renew = renew,
    .release = release,
    .owner = owner,
    .check = check,
    .check_with_next = check_with_next,
    .node_claim = node_claim,
    .node_renew = node_renew,
    .node_release = node_release,
};
