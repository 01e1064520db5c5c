/*
 * sqlite_int.h — private to the SQLite backend: the handle, the prepared-statement cache and
 * the helpers the sqlite_*.c files share. Nothing outside src/store/sqlite*.c includes it.
 *
 * Two connections: `w` runs transactions (held under `w.lock` from begin to commit), `r`
 * answers "any time" reads (auth look-ups, loading) under `r.lock`, so an fsync in progress
 * never stalls a key check. WAL mode lets `r` read while `w` writes.
 */
#ifndef COHORTD_STORE_SQLITE_INT_H
#define COHORTD_STORE_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/store.h"

#define SQ_STMT_CAP 128

struct sq_conn {
    sqlite3 *db;
    pthread_mutex_t lock;
    int n_stmts;
    struct {
        const char *sql; /* compared by address: callers pass string literals */
        sqlite3_stmt *stmt;
    } stmts[SQ_STMT_CAP];
};

struct store {
    struct store_base base;
    struct sq_conn w;
    struct sq_conn r;
    int in_txn;
};

/* A reset, cleared statement for `sql` (a string literal) on c; NULL on error (logged). */
sqlite3_stmt *sq_prep(struct sq_conn *c, const char *sql);

/* Runs a prepared statement that returns no rows; resets it. CD_OK, CD_E_EXISTS on a
 * uniqueness violation, CD_E_STORE otherwise. */
enum cd_err sq_exec(struct sq_conn *c, sqlite3_stmt *st);

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

/* The connection to use now: `w` inside a transaction of this thread, `r` otherwise.
 * sq_any_begin/end lock `r` when it is the one chosen. */
struct sq_conn *sq_any_begin(struct store *s);
void sq_any_end(struct store *s, struct sq_conn *c);

/* Locks `w` for a write outside any transaction of this thread (autocommit). */
struct sq_conn *sq_write_begin(struct store *s);
void sq_write_end(struct store *s, struct sq_conn *c);

/* Binds arguments as `binds` says ('t' text from texts, 'i' int64 from ints, in order). */
void sq_bind_all(sqlite3_stmt *st, const char *binds, const char *const *texts,
                 const int64_t *ints);

/* Runs one write statement (inside this thread's transaction, or autocommit). *changes, when
 * not NULL, receives the number of rows changed. */
enum cd_err sq_write(struct store *s, const char *sql, const char *binds, const char *const *texts,
                     const int64_t *ints, int *changes);

/* Runs a one-row read; calls row(st, ctx) on it. CD_E_NOT_FOUND when there is no row.
 * sq_read_row and sq_rows hold the connection's lock while their callback runs: a callback must
 * not call the store again (outside a transaction that would deadlock on `r.lock`). */
enum cd_err sq_read_row(struct store *s, const char *sql, const char *binds,
                        const char *const *texts, const int64_t *ints,
                        void (*row)(sqlite3_stmt *, void *), void *ctx);

/* Runs a read; calls row(st, ctx) on every row. */
enum cd_err sq_rows(struct store *s, const char *sql, const char *binds, const char *const *texts,
                    const int64_t *ints, void (*row)(sqlite3_stmt *, void *), void *ctx);

/* Logs the connection's last error under `what`; returns CD_E_STORE. */
enum cd_err sq_fail(struct sq_conn *c, const char *what);

extern const struct store_ops sqlite_store_ops;
extern const struct store_admin_ops sqlite_admin_ops;
extern const struct store_user_ops sqlite_user_ops;
extern const struct store_outbox_ops sqlite_outbox_ops;
extern const struct store_heap_ops sqlite_heap_ops;
extern const struct store_cohort_ops sqlite_cohort_ops;
extern const struct store_segment_ops sqlite_segment_ops;
extern const struct store_currents_ops sqlite_currents_ops;
extern const struct store_campaign_ops sqlite_campaign_ops;

#endif
