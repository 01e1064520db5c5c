/*
 * postgres_int.h — private to the PostgreSQL backend: the handle, the connections and their
 * prepared statements, and the helpers the postgres_*.c files share. Nothing outside
 * src/store/postgres*.c includes it.
 *
 * The writer `w` runs every transaction and every "any time" write, held under `w.lock` (an
 * error-checking mutex: a write inside one's own transaction fails instead of hanging) from
 * begin to the COMMIT (BEGIN itself is sent with the transaction's first statement): `commit` waits
 * for its answer there, `commit_ticket` only sends it and hands the connection, its COMMIT in
 * flight, to one of PG_COMMITTERS commit slots, taking the slot's idle connection for w, so the
 * next transaction begins while PostgreSQL flushes (and groups the flushes of the commits in
 * flight); `durable` reads the answer and the slot is idle again. PG_READERS read connections
 * answer "any time" reads, each under its own lock. Every connection runs with synchronous_commit =
 * on, so a COMMIT that PostgreSQL acknowledged is durable, and a row another session can see is
 * durable too (the commit record is flushed before it becomes visible). Transactions of one process
 * are serialised up to their COMMIT, like SQLite's, which keeps outbox and cohort-log sequences in
 * commit order (docs/internals/store.md, "PostgreSQL specifics").
 *
 * Statements are prepared once per connection, named by their place in the connection's
 * cache (the SQL is a string literal, compared by address). Parameters go as text, bitmaps
 * (bytea) as binary; results come as text. A lost connection is reconnected on its next use
 * (its statements prepared again), except inside a transaction, which then fails whole.
 */
#ifndef COHORTD_STORE_POSTGRES_INT_H
#define COHORTD_STORE_POSTGRES_INT_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

#define PG_STMT_CAP 192
#define PG_READERS 4
#define PG_PARAMS_MAX 24
#define PG_COMMITTERS 16 /* ticketed COMMITs that may be in flight at once */

struct pg_conn {
    struct store *owner;
    PGconn *db;
    pthread_mutex_t lock;
    bool writer; /* w or a commit slot's: not read-only */
    bool in_txn; /* a transaction is open on it (w only): no reconnect until it ends */
    bool failed; /* a statement of the open transaction failed: COMMIT must not succeed */
    /* begun but BEGIN not sent yet: it goes in one round trip with the first statement (w) */
    bool begin_pending;
    /* a lease check (check_with_next) that goes in the pipeline of BEGIN and the first
     * statement, ahead of it (w) */
    bool check_pending;
    int64_t check_ws, check_epoch;
    char check_node[STORE_LEASE_HOLDER_MAX + 1];
    int n_stmts;
    const char *stmts[PG_STMT_CAP]; /* prepared as "s<index>" */
};

struct store_txn {
    struct store *s;
};

/* A commit slot: an idle write connection, or (COMMITTING) the one a ticketed COMMIT is in
 * flight on; TAKEN while one thread reads its answer or swaps it with w. */
enum pg_slot_state { PG_SLOT_IDLE = 0, PG_SLOT_COMMITTING, PG_SLOT_TAKEN };

struct pg_slot {
    struct pg_conn c; /* c.owner is NULL until first used */
    enum pg_slot_state state;
    uint64_t ticket; /* COMMITTING: the ticket of its COMMIT */
};

/* The cohorts that a workspace's live campaigns and Canvases enter on, as read once
 * (postgres_campaigns.c): valid while the store's entry_gen is still `gen`. */
struct pg_entry_set {
    int64_t ws;
    uint64_t gen;
    size_t n;
    char **pairs; /* n × 2: partner, cohort_id */
};

struct store {
    struct store_base base;
    char *url;
    struct pg_conn w;
    struct pg_conn r[PG_READERS];
    struct pg_conn lease; /* lease writes (postgres_leases.c): never queued behind `w` */
    atomic_uint next_reader;
    struct store_txn txn;
    atomic_bool full; /* the last write failed with disk_full (SQLSTATE 53100) */
    /* the split commit, under commit_lock: tickets handed out (in commit order), the slots */
    pthread_mutex_t commit_lock;
    pthread_cond_t commit_cond; /* a slot changed state */
    uint64_t tickets;
    struct pg_slot slots[PG_COMMITTERS];
    /* a ticketed COMMIT failed after commit_ticket returned: final, as SQLite's failed sync
     * (what was planned on top of it cannot be trusted); every later commit and durable fails */
    atomic_bool commit_failed;
    /* on_cohort's cache (postgres_campaigns.c), under entry_lock: a set per workspace read at
     * entry_gen, which every campaign insert, the end of its transaction and every lease taken
     * bump (pg_entries_changed) */
    pthread_mutex_t entry_lock;
    uint64_t entry_gen;
    struct pg_entry_set *entry_sets;
    size_t n_entry_sets;
    bool txn_campaigns; /* the open transaction inserted a campaign (under w.lock) */
};

/* A bytea parameter (NULL p: SQL NULL). */
struct pg_blob {
    const void *p;
    size_t n;
};

/* A result row handed to a row callback; the accessors read its columns. */
struct pg_row {
    PGresult *res;
    int row;
    unsigned char *scratch[4]; /* unescaped bytea columns, freed after the callback */
    int n_scratch;
};

int64_t pg_int(const struct pg_row *r, int col);
/* Text of a column, or NULL when it is SQL NULL. */
const char *pg_text(const struct pg_row *r, int col);
bool pg_is_null(const struct pg_row *r, int col);
/* The bytes of a bytea column (NULL and *len 0 when SQL NULL), valid during the callback. */
const void *pg_bytes(struct pg_row *r, int col, size_t *len);

typedef void (*pg_row_fn)(struct pg_row *r, void *ctx);

/* Arguments of a statement: `binds` says each one's kind in order ('t' text from texts, 'i'
 * int64 from ints, 'b' bytea from blobs), and the statement names them $1, $2, … in that
 * order (typed bigint, text and bytea: a text argument may be cast, "$2::bigint[]"). */
struct pg_args {
    const char *binds;
    const char *const *texts;
    const int64_t *ints;
    const struct pg_blob *blobs;
};

/* Runs one statement on c (which the caller holds): row(r, ctx) on every result row (only
 * the first when one_row: CD_E_NOT_FOUND without one), *changes the rows it affected (when
 * not NULL). CD_E_EXISTS on a constraint violation, CD_E_FULL on a full disk, CD_E_STORE
 * otherwise (logged). */
enum cd_err pg_run(struct pg_conn *c, bool one_row, const char *sql, const struct pg_args *a,
                   pg_row_fn row, void *ctx, int64_t *changes);

/* A row of a binary COPY out (pg_copy_rows): column i is v[i], len[i] bytes followed by a NUL
 * (NULL when SQL NULL), valid during the callback. */
#define PG_COPY_COLS 16
struct pg_copy_row {
    int n;
    const char *v[PG_COPY_COLS];
    int len[PG_COPY_COLS];
};

/* An integer column (smallint, integer or bigint) of a COPY row; 0 when NULL. */
int64_t pg_copy_int(const struct pg_copy_row *r, int col);

/* Runs `COPY (select) TO STDOUT (FORMAT binary)` on a pool connection and calls fn on every
 * row: a bulk read (start-up loads) without a result object per row and without text
 * conversion of integers. select takes no parameters (write literal integers into it). */
enum cd_err pg_copy_rows(struct store *s, const char *select,
                         void (*fn)(const struct pg_copy_row *r, void *ctx), void *ctx);

/* A read connection of the pool, locked; pg_reader_end unlocks it. */
struct pg_conn *pg_reader(struct store *s);
void pg_reader_end(struct pg_conn *c);

/* One autocommit write (its own transaction, durable when acknowledged) on w. */
enum cd_err pg_write(struct store *s, const char *sql, const char *binds, const char *const *texts,
                     const int64_t *ints, int64_t *changes);
/* pg_write with a returned row (INSERT … RETURNING). */
enum cd_err pg_write_row(struct store *s, const char *sql, const struct pg_args *a, pg_row_fn row,
                         void *ctx);
/* Runs n statements with the same arguments in one transaction of their own. */
enum cd_err pg_write_all(struct store *s, const char *const *sqls, size_t n, const char *binds,
                         const char *const *texts, const int64_t *ints);
/* A write inside t. */
enum cd_err pg_txn_write(struct store_txn *t, const char *sql, const char *binds,
                         const char *const *texts, const int64_t *ints, int64_t *changes);
/* Any statement inside t, with bytea arguments and returned rows. */
enum cd_err pg_txn_run(struct store_txn *t, bool one_row, const char *sql, const struct pg_args *a,
                       pg_row_fn row, void *ctx, int64_t *changes);

/* Reads of committed state on a pool connection (pg_read_row: CD_E_NOT_FOUND without a row).
 * The connection's lock is held while the callback runs: it must not call the store. */
enum cd_err pg_read_row(struct store *s, const char *sql, const char *binds,
                        const char *const *texts, const int64_t *ints, pg_row_fn row, void *ctx);
enum cd_err pg_rows(struct store *s, const char *sql, const char *binds, const char *const *texts,
                    const int64_t *ints, pg_row_fn row, void *ctx);
/* The same inside t (seeing its own writes), or on the pool when t is NULL. */
enum cd_err pg_txn_read_row(struct store *s, struct store_txn *t, const char *sql,
                            const char *binds, const char *const *texts, const int64_t *ints,
                            pg_row_fn row, void *ctx);
enum cd_err pg_txn_rows(struct store *s, struct store_txn *t, const char *sql, const char *binds,
                        const char *const *texts, const int64_t *ints, pg_row_fn row, void *ctx);

/* Row callback storing column 0 as an int64 into *(int64_t *)ctx. */
void pg_row_int64(struct pg_row *r, void *ctx);

/* A PostgreSQL array literal of n integers / n texts ("{1,2}", "{\"a\",\"b\"}") for a
 * $N::bigint[] / $N::text[] parameter; malloc'd, NULL when out of memory. A NULL text is
 * NULL in the array. */
char *pg_array_ints(const int64_t *v, size_t n);
char *pg_array_texts(const char *const *v, size_t n, size_t stride);

/* The lease check's statement ($1 workspace, $2 node, $3 epoch: one row when held live). */
extern const char pg_lease_check_sql[];

/* Makes every cached set of on_cohort stale: called when a campaign is inserted, when a
 * transaction that inserted one ends (its commit answered), and when a lease is taken (another
 * node may have written the workspace's campaigns meanwhile). */
void pg_entries_changed(struct store *s);
/* Frees the cache (pg_close). */
void pg_entries_free(struct store *s);

/* The migrations of the schema (postgres_schema.c, from src/store/migrations/postgres/). */
const char *pg_schema_migration(int version);
int pg_schema_latest(void);

/* Opens (creating and migrating the schema as needed) the store at a postgresql:// URL;
 * err_msg says why not (the connection problem, the password left out). store.c calls it. */
enum cd_err postgres_open(const char *url, struct store **out, char *err_msg, size_t err_len);

extern const struct store_ops postgres_store_ops;
extern const struct store_admin_ops postgres_admin_ops;
extern const struct store_dashboard_ops postgres_dashboard_ops;
extern const struct store_user_ops postgres_user_ops;
extern const struct store_outbox_ops postgres_outbox_ops;
extern const struct store_heap_ops postgres_heap_ops;
extern const struct store_cohort_ops postgres_cohort_ops;
extern const struct store_segment_ops postgres_segment_ops;
extern const struct store_currents_ops postgres_currents_ops;
extern const struct store_campaign_ops postgres_campaign_ops;
extern const struct store_retention_ops postgres_retention_ops;
extern const struct store_history_ops postgres_history_ops;
extern const struct store_lease_ops postgres_lease_ops;

#endif
