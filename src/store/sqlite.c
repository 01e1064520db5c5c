/*
 * sqlite.c — the embedded SQLite store: opening (WAL; the write connection does not sync at
 * COMMIT, sqlite_sync.c's group commit does, so an acknowledged commit still survives power
 * loss), migrations, transactions, the read pool and the statement cache shared by the
 * sqlite_*.c files. May touch only SQLite.
 *
 * Cost: a transaction holds w.lock for its statements and a COMMIT that writes the WAL
 * (no sync); concurrent commits then share one fdatasync (~0.2 ms on this machine kind).
 *
 * A full disk (SQLITE_FULL, from the disk or from the database's page limit) fails the one
 * statement as CD_E_FULL and marks the store full until a commit succeeds or sq_full's probe
 * finds space again; the store stays consistent (SQLite undoes the statement or the whole
 * transaction) and nothing acknowledged is lost. When SQLite has already ended the
 * transaction, no ROLLBACK is sent (it would only fail with "no transaction is active").
 */
#include "store/sqlite_int.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "store/sqlite_schema.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"

/*
 * Fault injection for tests, compiled in only with the CMake option COHORTD_FAULTS (on in the
 * sanitizer test build, off in `make run` and `make bench`); docs/internals/faults.md.
 *
 * COHORTD_STORE_FAIL_WRITE=N: the Nth sq_write after the store opens fails.
 * COHORTD_STORE_COMMIT_DELAY_MS=N: every commit waits N ms first, so a test can keep a
 *   request in flight on purpose (the Heap webhook's 429 when too many pages are applied).
 * COHORTD_STORE_MAX_PAGES=N: the write connection's PRAGMA max_page_count (SQLite raises it to
 *   the database's current size when N is smaller): writes that would grow the database past
 *   it fail with a real SQLITE_FULL, as on a full disk.
 * COHORTD_FAULT_STORE_CALL=N or N:KIND: the Nth store call counted from store_faults_arm()
 *   (which `serve` calls after loading, just before it listens) fails as an I/O error
 *   would: CD_E_STORE, logged, the statement not run. A "call" is one execution of a statement
 *   that changes the database, at the one place they all pass (sq_exec): KIND "write" is every
 *   INSERT/UPDATE/DELETE (sq_write and the direct ones: cohort log rows and checkpoints,
 *   dispatches…), "begin" is BEGIN IMMEDIATE, "commit" is COMMIT; without KIND all count.
 *   Reads and ROLLBACK never count (a failing rollback cannot be reported to anyone).
 */
#ifdef COHORTD_FAULTS
static atomic_long fail_countdown;
static atomic_long commit_delay_ms;
static atomic_long sync_delay_ms;
static atomic_long call_countdown; /* > 0 once armed: calls left before the failing one */
static long call_target;           /* N of COHORTD_FAULT_STORE_CALL, 0 when unset */
static enum sq_call call_kind;     /* SQ_CALL_ANY or the one kind counted */

static void fault_init(void) {
    const char *v = getenv("COHORTD_STORE_FAIL_WRITE");
    if (v && *v) {
        atomic_store(&fail_countdown, strtol(v, NULL, 10));
        log_warn("store", "fault_injection=on fail_write=%s", log_q(v));
    }
    v = getenv("COHORTD_STORE_COMMIT_DELAY_MS");
    if (v && *v) {
        atomic_store(&commit_delay_ms, strtol(v, NULL, 10));
        log_warn("store", "fault_injection=on commit_delay_ms=%s", log_q(v));
    }
    v = getenv("COHORTD_STORE_SYNC_DELAY_MS");
    if (v && *v) {
        atomic_store(&sync_delay_ms, strtol(v, NULL, 10));
        log_warn("store", "fault_injection=on sync_delay_ms=%s", log_q(v));
    }
    v = getenv("COHORTD_FAULT_STORE_CALL");
    if (v && *v) {
        char *end = NULL;
        long n = strtol(v, &end, 10);
        enum sq_call kind = SQ_CALL_ANY;
        if (end && strcmp(end, ":write") == 0)
            kind = SQ_CALL_WRITE;
        else if (end && strcmp(end, ":begin") == 0)
            kind = SQ_CALL_BEGIN;
        else if (end && strcmp(end, ":commit") == 0)
            kind = SQ_CALL_COMMIT;
        else if (!end || *end)
            n = 0;
        call_target = n > 0 ? n : 0;
        call_kind = kind;
        log_warn("store", "fault_injection=%s fail_store_call=%s", n > 0 ? "on" : "ignored",
                 log_q(v));
    }
}

void store_faults_arm(void) {
    if (call_target > 0)
        atomic_store(&call_countdown, call_target);
}

static bool fault_now(void) {
    if (atomic_load(&fail_countdown) <= 0)
        return false;
    return atomic_fetch_sub(&fail_countdown, 1) == 1;
}

static bool call_fault_now(enum sq_call kind) {
    if (call_kind != SQ_CALL_ANY && call_kind != kind)
        return false;
    if (atomic_load(&call_countdown) <= 0)
        return false;
    return atomic_fetch_sub(&call_countdown, 1) == 1;
}

static void sleep_ms(long delay) {
    if (delay > 0) {
        struct timespec ts = {delay / 1000, (delay % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void commit_delay(void) {
    sleep_ms(atomic_load(&commit_delay_ms));
}

void sq_fault_sync_delay(void) {
    sleep_ms(atomic_load(&sync_delay_ms));
}

static int64_t pragma_int(sqlite3 *db, const char *sql);

static void fault_max_pages(sqlite3 *db) {
    const char *v = getenv("COHORTD_STORE_MAX_PAGES");
    if (!v || !*v)
        return;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count=%ld", strtol(v, NULL, 10));
    log_warn("store", "fault_injection=on max_pages=%s effective=%lld", log_q(v),
             (long long)pragma_int(db, sql));
}
#else
static void fault_init(void) {}
void store_faults_arm(void) {}
static bool fault_now(void) {
    return false;
}
static bool call_fault_now(enum sq_call kind) {
    (void)kind;
    return false;
}
static void commit_delay(void) {}
void sq_fault_sync_delay(void) {}
static void fault_max_pages(sqlite3 *db) {
    (void)db;
}
#endif

/* The store-full state: set by a statement that failed with SQLITE_FULL, cleared by a commit
 * that succeeded or by sq_full's probe. Logged and exported on every change. */
static void full_set(struct store *s, bool full) {
    if (atomic_load(&s->full) == full || atomic_exchange(&s->full, full) == full)
        return;
    metrics_set("cohortd_store_full", "", full ? 1 : 0);
    if (full)
        log_error("store", "op=write result=store_full action=\"writes answer 503 until space "
                           "is freed\"");
    else
        log_info("store", "op=write result=space_available");
}

enum cd_err sq_fail(struct sq_conn *c, const char *what) {
    log_error("store", "op=%s error=\"%s\"", what, sqlite3_errmsg(c->db));
    return CD_E_STORE;
}

sqlite3_stmt *sq_prep(struct sq_conn *c, const char *sql) {
    for (int i = 0; i < c->n_stmts; i++) {
        if (c->stmts[i].sql == sql) {
            sqlite3_stmt *st = c->stmts[i].stmt;
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return st;
        }
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        sq_fail(c, "prepare");
        return NULL;
    }
    if (c->n_stmts < SQ_STMT_CAP) {
        c->stmts[c->n_stmts].sql = sql;
        c->stmts[c->n_stmts].stmt = st;
        c->n_stmts++;
    } else {
        log_error("store", "op=prepare error=\"statement cache full\"");
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

enum cd_err sq_exec(struct sq_conn *c, sqlite3_stmt *st) {
    return sq_exec_call(c, st, SQ_CALL_WRITE);
}

enum cd_err sq_exec_call(struct sq_conn *c, sqlite3_stmt *st, enum sq_call kind) {
    if (call_fault_now(kind)) {
        sqlite3_reset(st);
        log_error("store", "op=exec error=\"injected fault\"");
        return CD_E_STORE;
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return CD_OK;
    if (rc == SQLITE_CONSTRAINT) {
        log_debug("store", "op=exec constraint=\"%s\"", sqlite3_errmsg(c->db));
        return CD_E_EXISTS;
    }
    if (rc == SQLITE_FULL) {
        log_warn("store", "op=exec error=\"%s\" in_transaction=%d", sqlite3_errmsg(c->db),
                 !sqlite3_get_autocommit(c->db));
        metrics_add("cohortd_store_full_refusals_total", "", 1);
        full_set(c->owner, true);
        return CD_E_FULL;
    }
    return sq_fail(c, "exec");
}

void sq_bind_text(sqlite3_stmt *st, int i, const char *v) {
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

void sq_bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n) {
    if (p)
        sqlite3_bind_blob(st, i, p, (int)n, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

const char *sq_col_text(sqlite3_stmt *st, int i) {
    return (const char *)sqlite3_column_text(st, i);
}

struct sq_conn *sq_reader(struct store *s) {
    /* the first free connection from a rotating start, else wait for the start one */
    unsigned start = atomic_fetch_add(&s->next_reader, 1);
    for (unsigned k = 0; k < SQ_READERS; k++) {
        struct sq_conn *c = &s->r[(start + k) % SQ_READERS];
        if (pthread_mutex_trylock(&c->lock) == 0)
            return c;
    }
    struct sq_conn *c = &s->r[start % SQ_READERS];
    pthread_mutex_lock(&c->lock);
    return c;
}

void sq_reader_end(struct sq_conn *c) {
    pthread_mutex_unlock(&c->lock);
}

struct sq_conn *sq_write_begin(struct store *s) {
    /* w.lock is an error-checking mutex: a thread inside its own transaction gets EDEADLK */
    if (pthread_mutex_lock(&s->w.lock) != 0) {
        log_error("store", "op=write error=\"autocommit write inside a transaction\"");
        return NULL;
    }
    return &s->w;
}

enum cd_err sq_write_end(struct store *s, struct sq_conn *c, enum cd_err err) {
    if (!c)
        return CD_E_INTERNAL;
    uint64_t ticket = 0;
    if (err == CD_OK && sqlite3_get_autocommit(c->db)) {
        ticket = sq_sync_committed(s, s->outbox_hi);
        full_set(s, false);
    }
    pthread_mutex_unlock(&c->lock);
    return ticket ? sq_sync_wait(s, ticket) : err;
}

/* Runs a write statement with (text, text|int, int) arguments as the `binds` string says:
 * 't' text, 'i' int64. Arguments come from the two arrays in order. */
void sq_bind_all(sqlite3_stmt *st, const char *binds, const char *const *texts,
                 const int64_t *ints) {
    for (int i = 0; binds[i]; i++) {
        if (binds[i] == 't')
            sq_bind_text(st, i + 1, *texts++);
        else
            sqlite3_bind_int64(st, i + 1, *ints++);
    }
}

static enum cd_err write_on(struct sq_conn *c, const char *sql, const char *binds,
                            const char *const *texts, const int64_t *ints, int *changes) {
    sqlite3_stmt *st = sq_prep(c, sql);
    if (!st)
        return CD_E_STORE;
    if (fault_now()) {
        log_error("store", "op=write error=\"injected fault\"");
        return CD_E_STORE;
    }
    sq_bind_all(st, binds, texts, ints);
    enum cd_err err = sq_exec(c, st);
    if (changes)
        *changes = sqlite3_changes(c->db);
    return err;
}

enum cd_err sq_write(struct store *s, const char *sql, const char *binds, const char *const *texts,
                     const int64_t *ints, int *changes) {
    struct sq_conn *c = sq_write_begin(s);
    enum cd_err err = c ? write_on(c, sql, binds, texts, ints, changes) : CD_E_INTERNAL;
    return sq_write_end(s, c, err);
}

enum cd_err sq_txn_write(struct store_txn *t, const char *sql, const char *binds,
                         const char *const *texts, const int64_t *ints, int *changes) {
    return write_on(&t->s->w, sql, binds, texts, ints, changes);
}

/* Runs a read on c, calling row(st, ctx) on every row (only the first when one_row, and then
 * CD_E_NOT_FOUND without one). */
static enum cd_err query_on(struct sq_conn *c, bool one_row, const char *sql, const char *binds,
                            const char *const *texts, const int64_t *ints,
                            void (*row)(sqlite3_stmt *, void *), void *ctx) {
    sqlite3_stmt *st = sq_prep(c, sql);
    if (!st)
        return CD_E_STORE;
    sq_bind_all(st, binds, texts, ints);
    bool any = false;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        any = true;
        if (row)
            row(st, ctx);
        if (one_row)
            break;
    }
    enum cd_err err = rc != SQLITE_ROW && rc != SQLITE_DONE
                          ? sq_fail(c, one_row ? "read_row" : "rows")
                      : one_row && !any ? CD_E_NOT_FOUND
                                        : CD_OK;
    sqlite3_reset(st);
    return err;
}

/* query_on inside t, or on a pool connection when t is NULL. */
static enum cd_err query(struct store *s, struct store_txn *t, bool one_row, const char *sql,
                         const char *binds, const char *const *texts, const int64_t *ints,
                         void (*row)(sqlite3_stmt *, void *), void *ctx) {
    if (t)
        return query_on(&t->s->w, one_row, sql, binds, texts, ints, row, ctx);
    struct sq_conn *c = sq_reader(s);
    enum cd_err err = query_on(c, one_row, sql, binds, texts, ints, row, ctx);
    sq_reader_end(c);
    return err;
}

enum cd_err sq_txn_read_row(struct store *s, struct store_txn *t, const char *sql,
                            const char *binds, const char *const *texts, const int64_t *ints,
                            void (*row)(sqlite3_stmt *, void *), void *ctx) {
    return query(s, t, true, sql, binds, texts, ints, row, ctx);
}

enum cd_err sq_txn_rows(struct store *s, struct store_txn *t, const char *sql, const char *binds,
                        const char *const *texts, const int64_t *ints,
                        void (*row)(sqlite3_stmt *, void *), void *ctx) {
    return query(s, t, false, sql, binds, texts, ints, row, ctx);
}

enum cd_err sq_read_row(struct store *s, const char *sql, const char *binds,
                        const char *const *texts, const int64_t *ints,
                        void (*row)(sqlite3_stmt *, void *), void *ctx) {
    return query(s, NULL, true, sql, binds, texts, ints, row, ctx);
}

enum cd_err sq_rows(struct store *s, const char *sql, const char *binds, const char *const *texts,
                    const int64_t *ints, void (*row)(sqlite3_stmt *, void *), void *ctx) {
    return query(s, NULL, false, sql, binds, texts, ints, row, ctx);
}

static void row_int64(sqlite3_stmt *st, void *ctx) {
    *(int64_t *)ctx = sqlite3_column_int64(st, 0);
}

int64_t sq_outbox_max_seq(struct sq_conn *c) {
    int64_t hi = 0;
    query_on(c, true, "SELECT coalesce(max(seq), 0) FROM outbox", "", NULL, NULL, row_int64, &hi);
    return hi;
}

static int exec_sql(sqlite3 *db, const char *sql) {
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_error("store", "op=exec error=\"%s\"", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
    }
    return rc;
}

/* The integer a PRAGMA (or any one-value statement) answers; -1 on error. */
static int64_t pragma_int(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int user_version(sqlite3 *db) {
    return (int)pragma_int(db, "PRAGMA user_version");
}

/* Brings the schema to the newest version: every missing migration and the new user_version
 * in one transaction, so an upgrade that fails half-way leaves the schema it found. A newer
 * schema than this build knows is refused. */
static enum cd_err migrate(sqlite3 *db) {
    int have = user_version(db);
    int want = sqlite_schema_latest();
    if (have < 0)
        return CD_E_STORE;
    if (have > want) {
        log_error("store", "op=migrate error=\"schema version %d is newer than this build (%d)\"",
                  have, want);
        return CD_E_STORE;
    }
    if (have == want)
        return CD_OK;
    if (exec_sql(db, "BEGIN IMMEDIATE") != SQLITE_OK)
        return CD_E_STORE;
    /* another process may have migrated while we waited for the write lock */
    int from = user_version(db);
    for (int v = from + 1; from >= 0 && v <= want; v++)
        if (exec_sql(db, sqlite_schema_migration(v)) != SQLITE_OK) {
            exec_sql(db, "ROLLBACK");
            return CD_E_STORE;
        }
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", want);
    if (from < 0 || exec_sql(db, pragma) != SQLITE_OK) {
        exec_sql(db, "ROLLBACK");
        return CD_E_STORE;
    }
    if (exec_sql(db, "COMMIT") != SQLITE_OK) {
        exec_sql(db, "ROLLBACK");
        return CD_E_STORE;
    }
    if (from < want)
        log_info("store", "op=migrate from=%d to=%d", from, want);
    return CD_OK;
}

/* Opens one connection. The writer does not sync at COMMIT (synchronous=NORMAL: the WAL stays
 * consistent, and sqlite_sync.c makes each commit durable before it is acknowledged); a
 * checkpoint still syncs the WAL before it copies pages into the database. */
static enum cd_err conn_open(struct store *s, struct sq_conn *c, const char *path, bool writer) {
    c->owner = s;
    /* the writer's lock reports a thread that takes it twice (a write inside its own
     * transaction) instead of hanging */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    if (writer)
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&c->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK)
        return sq_fail(c, "open");
    sqlite3_busy_timeout(c->db, 10000);
    const char *pragmas = writer ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                                 : "PRAGMA journal_mode=WAL; PRAGMA query_only=1;";
    if (exec_sql(c->db, pragmas) != SQLITE_OK)
        return CD_E_STORE;
    return CD_OK;
}

static void conn_close(struct sq_conn *c) {
    for (int i = 0; i < c->n_stmts; i++)
        sqlite3_finalize(c->stmts[i].stmt);
    c->n_stmts = 0;
    if (c->db)
        sqlite3_close(c->db);
    c->db = NULL;
    pthread_mutex_destroy(&c->lock);
}

static void sq_close(struct store *s) {
    if (!s)
        return;
    for (int i = 0; i < SQ_READERS; i++)
        conn_close(&s->r[i]);
    conn_close(&s->w);
    sq_sync_close(s);
    free(s);
}

static enum cd_err sq_open(const char *path, struct store **out) {
    struct store *s = calloc(1, sizeof *s);
    if (!s)
        return CD_E_NOMEM;
    s->base.ops = &sqlite_store_ops;
    s->txn.s = s;
    sq_sync_init(s);
    metrics_describe("cohortd_store_full", METRIC_GAUGE,
                     "1 while the last write failed because the store's disk (or page limit) "
                     "is full, until a write succeeds or space is found again");
    metrics_describe("cohortd_store_full_refusals_total", METRIC_COUNTER,
                     "store statements that failed for lack of space (their requests got 503)");
    metrics_set("cohortd_store_full", "", 0);
    enum cd_err err = conn_open(s, &s->w, path, true);
    if (err == CD_OK)
        err = migrate(s->w.db);
    for (int i = 0; err == CD_OK && i < SQ_READERS; i++)
        err = conn_open(s, &s->r[i], path, false);
    if (err == CD_OK)
        err = sq_sync_attach(s, path);
    if (err == CD_OK) { /* rows committed before this process started are durable */
        s->outbox_hi = sq_outbox_max_seq(&s->w);
        sq_sync_raise_seq(s, s->outbox_hi);
    }
    fault_init();
    if (err == CD_OK)
        fault_max_pages(s->w.db);
    if (err != CD_OK) {
        sq_close(s);
        return err;
    }
    *out = s;
    return CD_OK;
}

static bool sq_healthy(struct store *s) {
    struct sq_conn *c = sq_reader(s);
    bool ok = exec_sql(c->db, "SELECT 1 FROM workspaces LIMIT 1") == SQLITE_OK;
    sq_reader_end(c);
    return ok && sq_sync_ok(s);
}

/* How often sq_full looks for space while the store is full, and how much counts as space:
 * this many free bytes on the disk and this many pages below the page limit. */
#define FULL_PROBE_MS 1000
#define FULL_PROBE_MIN_BYTES (4LL << 20)

/* Whether there is room again: free space on the WAL's file system and pages left below
 * max_page_count (free pages inside the file count too). Takes w only if free: a write in
 * progress answers the question itself. */
static bool space_found(struct store *s) {
    struct statvfs vfs;
    if (fstatvfs(s->sync.wal_fd, &vfs) != 0 ||
        (long long)vfs.f_bavail * (long long)vfs.f_frsize < FULL_PROBE_MIN_BYTES)
        return false;
    if (pthread_mutex_trylock(&s->w.lock) != 0)
        return false;
    int64_t max = pragma_int(s->w.db, "PRAGMA max_page_count");
    int64_t used = pragma_int(s->w.db, "PRAGMA page_count");
    int64_t spare = pragma_int(s->w.db, "PRAGMA freelist_count");
    int64_t size = pragma_int(s->w.db, "PRAGMA page_size");
    pthread_mutex_unlock(&s->w.lock);
    if (max < 0 || used < 0 || spare < 0 || size <= 0)
        return false;
    return (max - used + spare) * size >= FULL_PROBE_MIN_BYTES;
}

static bool sq_full(struct store *s) {
    if (!atomic_load(&s->full))
        return false;
    int64_t now = time_now_ms();
    long long last = atomic_load(&s->full_probe_ms);
    if (now - last >= FULL_PROBE_MS &&
        atomic_compare_exchange_strong(&s->full_probe_ms, &last, now) && space_found(s))
        full_set(s, false);
    return atomic_load(&s->full);
}

static enum cd_err sq_begin(struct store *s, struct store_txn **out) {
    *out = NULL;
    if (pthread_mutex_lock(&s->w.lock) != 0) {
        log_error("store", "op=begin error=\"transaction inside a transaction\"");
        return CD_E_INTERNAL;
    }
    sqlite3_stmt *st = sq_prep(&s->w, "BEGIN IMMEDIATE");
    if (!st || sq_exec_call(&s->w, st, SQ_CALL_BEGIN) != CD_OK) {
        pthread_mutex_unlock(&s->w.lock);
        return CD_E_STORE;
    }
    s->txn.outbox_hi = 0;
    *out = &s->txn;
    return CD_OK;
}

/* Rolls back the write connection's transaction, unless SQLite already ended it: after
 * SQLITE_FULL, SQLITE_IOERR or SQLITE_NOMEM it may roll the whole transaction back itself, and
 * a ROLLBACK then only fails with "cannot rollback - no transaction is active". Caller holds
 * w.lock. */
static void rollback_if_open(struct store *s) {
    if (sqlite3_get_autocommit(s->w.db)) {
        log_debug("store", "op=rollback result=already_rolled_back");
        return;
    }
    exec_sql(s->w.db, "ROLLBACK");
}

static enum cd_err sq_commit_ticket(struct store_txn *t, uint64_t *ticket) {
    struct store *s = t->s;
    commit_delay();
    sqlite3_stmt *st = sq_prep(&s->w, "COMMIT");
    enum cd_err err = st ? sq_exec_call(&s->w, st, SQ_CALL_COMMIT) : CD_E_STORE;
    *ticket = 0;
    if (err != CD_OK) {
        if (err != CD_E_FULL)
            err = CD_E_STORE;
        rollback_if_open(s);
    } else {
        if (t->outbox_hi > s->outbox_hi)
            s->outbox_hi = t->outbox_hi;
        *ticket = sq_sync_committed(s, s->outbox_hi);
        full_set(s, false);
    }
    pthread_mutex_unlock(&s->w.lock);
    return err;
}

static enum cd_err sq_commit(struct store_txn *t) {
    struct store *s = t->s;
    uint64_t ticket;
    enum cd_err err = sq_commit_ticket(t, &ticket);
    return err == CD_OK ? sq_sync_wait(s, ticket) : err;
}

static void sq_rollback(struct store_txn *t) {
    rollback_if_open(t->s);
    pthread_mutex_unlock(&t->s->w.lock);
}

enum cd_err sq_write_all(struct store *s, const char *const *sqls, size_t n, const char *binds,
                         const char *const *texts, const int64_t *ints) {
    struct store_txn *t;
    enum cd_err err = sq_begin(s, &t);
    for (size_t k = 0; err == CD_OK && k < n; k++)
        err = write_on(&t->s->w, sqls[k], binds, texts, ints, NULL);
    if (err == CD_OK)
        return sq_commit(t);
    if (t)
        sq_rollback(t);
    return err;
}

const struct store_ops sqlite_store_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .healthy = sq_healthy,
    .full = sq_full,
    .begin = sq_begin,
    .commit = sq_commit,
    .commit_ticket = sq_commit_ticket,
    .durable = sq_sync_wait,
    .rollback = sq_rollback,
    .admin = &sqlite_admin_ops,
    .dashboard = &sqlite_dashboard_ops,
    .users = &sqlite_user_ops,
    .outbox = &sqlite_outbox_ops,
    .heap = &sqlite_heap_ops,
    .cohorts = &sqlite_cohort_ops,
    .segments = &sqlite_segment_ops,
    .currents = &sqlite_currents_ops,
    .campaigns = &sqlite_campaign_ops,
    .retention = &sqlite_retention_ops,
    .history = &sqlite_history_ops,
    .leases = &sqlite_lease_ops,
    .files = &sqlite_file_ops,
};
