/*
 * sqlite_int.h — private to the SQLite backend: the handle, the prepared-statement cache and
 * the helpers the sqlite_*.c files share. Nothing outside src/store/sqlite*.c includes it.
 *
 * One write connection `w` runs every transaction (held under `w.lock` from begin to the end
 * of COMMIT, which writes the WAL but does not sync it); SQ_READERS read connections answer
 * "any time" reads, each under its own lock, so a long export never stalls a key check. WAL mode
 * lets readers read while `w` writes. Durability is the group commit of sqlite_sync.c: commits
 * take a ticket, and one fdatasync of the WAL makes every ticket committed before it durable.
 * docs/internals/store.md says what a backend guarantees; docs/internals/threads.md the locks.
 */
#ifndef COHORTD_STORE_SQLITE_INT_H
#define COHORTD_STORE_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>

#include "store/store.h"

#define SQ_STMT_CAP 128
#define SQ_READERS 4

struct sq_conn {
    struct store *owner; /* the store it belongs to (its full-disk state) */
    sqlite3 *db;
    pthread_mutex_t lock;
    int n_stmts;
    struct {
        const char *sql; /* compared by address: callers pass string literals */
        sqlite3_stmt *stmt;
    } stmts[SQ_STMT_CAP];
};

/* The open transaction of a store: there is at most one (it holds w.lock), so it lives in the
 * store. Used only by the thread that began it. */
struct store_txn {
    struct store *s;
    int64_t outbox_hi; /* the highest outbox seq this transaction appended, or 0 */
};

/* Group commit (sqlite_sync.c). Tickets count successful commits in commit order. */
struct sq_sync {
    pthread_mutex_t lock;
    pthread_cond_t done;
    int wal_fd;              /* our own descriptor of the WAL file: fdatasync makes it durable */
    uint64_t committed;      /* tickets handed out (lock) */
    int64_t committed_seq;   /* highest outbox seq among them (lock) */
    uint64_t synced;         /* every ticket <= synced is durable (lock) */
    atomic_llong synced_seq; /* highest outbox seq that is durable */
    int syncing;             /* a thread is in fdatasync (lock) */
    int failed;              /* a sync failed: nothing is durable any more (lock) */
    uint64_t n_syncs;        /* fdatasync calls, for the log at close (lock) */
};

struct store {
    struct store_base base;
    struct sq_conn w;
    struct sq_conn r[SQ_READERS];
    atomic_uint next_reader;
    struct store_txn txn;
    int64_t outbox_hi; /* the highest outbox seq appended by any commit (w.lock) */
    struct sq_sync sync;
    atomic_bool full;           /* the last write failed for lack of space (SQLITE_FULL) */
    atomic_llong full_probe_ms; /* when sq_full last looked for space (UNIX ms) */
};

/* A reset, cleared statement for `sql` (a string literal) on c; NULL on error (logged). */
sqlite3_stmt *sq_prep(struct sq_conn *c, const char *sql);

/* Runs a prepared statement that returns no rows; resets it. CD_OK, CD_E_EXISTS on a
 * uniqueness violation, CD_E_FULL when the database or its disk is full (the store is marked
 * full until a commit succeeds), CD_E_STORE otherwise. */
enum cd_err sq_exec(struct sq_conn *c, sqlite3_stmt *st);

/* Waits COHORTD_STORE_SYNC_DELAY_MS before a sync (test builds; nothing otherwise): keeps
 * committed writes not yet durable on purpose (sqlite.c). */
void sq_fault_sync_delay(void);

/* What a statement run by sq_exec_call is, for COHORTD_FAULT_STORE_CALL=N:KIND (sqlite.c). */
enum sq_call { SQ_CALL_ANY = 0, SQ_CALL_WRITE, SQ_CALL_BEGIN, SQ_CALL_COMMIT };
/* sq_exec for a statement of that kind (sq_exec itself is SQ_CALL_WRITE). */
enum cd_err sq_exec_call(struct sq_conn *c, sqlite3_stmt *st, enum sq_call kind);

/* Binds a text argument (NULL binds SQL NULL). */
void sq_bind_text(sqlite3_stmt *st, int i, const char *v);
/* Binds a blob argument of n bytes (NULL binds SQL NULL). */
void sq_bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n);

/* Text of column i, or NULL. */
const char *sq_col_text(sqlite3_stmt *st, int i);

/* A read connection of the pool, locked; sq_reader_end unlocks it. */
struct sq_conn *sq_reader(struct store *s);
void sq_reader_end(struct sq_conn *c);

/* Locks `w` for one autocommit write (its own transaction). sq_write_end unlocks it and returns
 * `err`, or CD_E_STORE when the write could not be made durable: it waits for the sync. A thread
 * that holds a transaction must not call it (the lock reports EDEADLK, the call fails). */
struct sq_conn *sq_write_begin(struct store *s);
enum cd_err sq_write_end(struct store *s, struct sq_conn *c, enum cd_err err);

/* Group commit (sqlite_sync.c): sq_sync_init before the connections open, sq_sync_attach (the
 * WAL's descriptor) once the writer has put the database in WAL mode. */
void sq_sync_init(struct store *s);
enum cd_err sq_sync_attach(struct store *s, const char *db_path);
void sq_sync_close(struct store *s);
/* False once a sync has failed. */
bool sq_sync_ok(struct store *s);
/* The highest outbox seq that is durable: readers that follow the outbox stop there. */
int64_t sq_sync_durable_seq(struct store *s);
/* Whether every commit of ours is synced (then any committed row is durable or another
 * process's). */
bool sq_sync_idle(struct store *s);
/* Raises the durable outbox seq to seq (rows known durable: at open, or while idle). */
void sq_sync_raise_seq(struct store *s, int64_t seq);

/* The highest outbox seq, read on connection c (0 when empty or on error). */
int64_t sq_outbox_max_seq(struct sq_conn *c);
/* sq_sync_durable_seq, first raised to the newest row when none of our commits awaits a sync
 * (sqlite_outbox.c):
 * rows another process appended (tools writing the database directly) carry no ticket of ours.
 * w.lock, taken only if free, keeps a commit of ours from landing between check and read. */
int64_t sq_outbox_durable_seq(struct store *s);
/* Called under w.lock right after a successful COMMIT; returns its ticket. */
uint64_t sq_sync_committed(struct store *s, int64_t outbox_hi);
/* Waits until `ticket` is durable; CD_E_STORE when a sync failed. */
enum cd_err sq_sync_wait(struct store *s, uint64_t ticket);

/* Binds arguments as `binds` says ('t' text from texts, 'i' int64 from ints, in order). */
void sq_bind_all(sqlite3_stmt *st, const char *binds, const char *const *texts,
                 const int64_t *ints);

/* Runs one autocommit write statement, durable on return. *changes, when not NULL, receives
 * the number of rows changed. */
enum cd_err sq_write(struct store *s, const char *sql, const char *binds, const char *const *texts,
                     const int64_t *ints, int *changes);
/* Runs n write statements, all with the same arguments, in one transaction of their own:
 * all of them or none, durable on return. */
enum cd_err sq_write_all(struct store *s, const char *const *sqls, size_t n, const char *binds,
                         const char *const *texts, const int64_t *ints);
/* sq_write inside transaction t. */
enum cd_err sq_txn_write(struct store_txn *t, const char *sql, const char *binds,
                         const char *const *texts, const int64_t *ints, int *changes);

/* Runs a one-row read of committed state on a pool connection; calls row(st, ctx) on it.
 * CD_E_NOT_FOUND when there is no row. sq_read_row and sq_rows hold the connection's lock while
 * their callback runs: a callback must not call the store again. */
enum cd_err sq_read_row(struct store *s, const char *sql, const char *binds,
                        const char *const *texts, const int64_t *ints,
                        void (*row)(sqlite3_stmt *, void *), void *ctx);

/* Runs a read; calls row(st, ctx) on every row. */
enum cd_err sq_rows(struct store *s, const char *sql, const char *binds, const char *const *texts,
                    const int64_t *ints, void (*row)(sqlite3_stmt *, void *), void *ctx);

/* sq_rows inside transaction t (it sees t's own writes), or on the pool when t is NULL. */
enum cd_err sq_txn_rows(struct store *s, struct store_txn *t, const char *sql, const char *binds,
                        const char *const *texts, const int64_t *ints,
                        void (*row)(sqlite3_stmt *, void *), void *ctx);
/* sq_read_row likewise. */
enum cd_err sq_txn_read_row(struct store *s, struct store_txn *t, const char *sql,
                            const char *binds, const char *const *texts, const int64_t *ints,
                            void (*row)(sqlite3_stmt *, void *), void *ctx);

/* Logs the connection's last error under `what`; returns CD_E_STORE. */
enum cd_err sq_fail(struct sq_conn *c, const char *what);

extern const struct store_ops sqlite_store_ops;
extern const struct store_admin_ops sqlite_admin_ops;
extern const struct store_dashboard_ops sqlite_dashboard_ops;
extern const struct store_user_ops sqlite_user_ops;
extern const struct store_outbox_ops sqlite_outbox_ops;
extern const struct store_heap_ops sqlite_heap_ops;
extern const struct store_cohort_ops sqlite_cohort_ops;
extern const struct store_segment_ops sqlite_segment_ops;
extern const struct store_currents_ops sqlite_currents_ops;
extern const struct store_campaign_ops sqlite_campaign_ops;
extern const struct store_retention_ops sqlite_retention_ops;
extern const struct store_history_ops sqlite_history_ops;
extern const struct store_lease_ops sqlite_lease_ops;
extern const struct store_file_ops sqlite_file_ops;

#endif
