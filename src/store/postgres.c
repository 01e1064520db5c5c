/*
 * postgres.c — the PostgreSQL store: opening (connections, the migrations of
 * src/store/migrations/postgres/ in one transaction under an advisory lock), transactions, the
 * read pool, prepared statements and the helpers the postgres_*.c files share. May touch only
 * libpq. postgres_int.h says how connections and statements are organised.
 *
 * Cost: every statement is one round trip to the server, a transaction's first one carrying its
 * BEGIN (and a lease check left by check_with_next) in the same pipeline (begin itself sends
 * nothing); a COMMIT returns once PostgreSQL has flushed its WAL (synchronous_commit = on).
 * commit_ticket sends the COMMIT and returns: the connection, its COMMIT in flight, goes to a
 * commit slot and the writer takes the slot's idle connection, so the next transaction runs
 * while this one flushes and PostgreSQL flushes the commits in flight together; durable reads
 * the COMMIT's answer. The batch calls (events_bump, aliases_put, misses_add) send one
 * multi-row statement per step whatever the number of rows.
 */
#include "store/postgres_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/metrics.h"

#define INT8_OID 20
#define BYTEA_OID 17
#define TEXT_OID 25

/* The advisory lock key that serialises migrations between processes opening the store. */
#define PG_MIGRATE_LOCK 5262001

int64_t pg_int(const struct pg_row *r, int col) {
    if (PQgetisnull(r->res, r->row, col))
        return 0;
    return strtoll(PQgetvalue(r->res, r->row, col), NULL, 10);
}

const char *pg_text(const struct pg_row *r, int col) {
    if (PQgetisnull(r->res, r->row, col))
        return NULL;
    return PQgetvalue(r->res, r->row, col);
}

bool pg_is_null(const struct pg_row *r, int col) {
    return PQgetisnull(r->res, r->row, col) != 0;
}

const void *pg_bytes(struct pg_row *r, int col, size_t *len) {
    *len = 0;
    if (PQgetisnull(r->res, r->row, col) ||
        r->n_scratch == (int)(sizeof r->scratch / sizeof r->scratch[0]))
        return NULL;
    size_t n = 0;
    unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(r->res, r->row, col), &n);
    if (!b)
        return NULL;
    r->scratch[r->n_scratch++] = b;
    *len = n;
    return b;
}

void pg_row_int64(struct pg_row *r, void *ctx) {
    *(int64_t *)ctx = pg_int(r, 0);
}

/* A growing string for array literals. */
struct buf {
    char *p;
    size_t n, cap;
    bool nomem;
};

static void buf_put(struct buf *b, const char *s, size_t n) {
    if (b->nomem)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->nomem = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static char *buf_done(struct buf *b) {
    if (b->nomem) {
        free(b->p);
        return NULL;
    }
    return b->p;
}

char *pg_array_ints(const int64_t *v, size_t n) {
    struct buf b = {0};
    buf_put(&b, "{", 1);
    for (size_t k = 0; k < n; k++) {
        char num[32];
        int len = snprintf(num, sizeof num, "%s%lld", k ? "," : "", (long long)v[k]);
        buf_put(&b, num, (size_t)len);
    }
    buf_put(&b, "}", 1);
    return buf_done(&b);
}

char *pg_array_texts(const char *const *v, size_t n, size_t stride) {
    struct buf b = {0};
    buf_put(&b, "{", 1);
    for (size_t k = 0; k < n; k++) {
        const char *s = *(const char *const *)(const void *)((const char *)v + k * stride);
        if (k)
            buf_put(&b, ",", 1);
        if (!s) {
            buf_put(&b, "NULL", 4);
            continue;
        }
        buf_put(&b, "\"", 1);
        for (const char *c = s; *c; c++) {
            if (*c == '"' || *c == '\\')
                buf_put(&b, "\\", 1);
            buf_put(&b, c, 1);
        }
        buf_put(&b, "\"", 1);
    }
    buf_put(&b, "}", 1);
    return buf_done(&b);
}

/* The server's message of a failed result, on one line. */
static void one_line(char *dst, size_t len, const char *msg) {
    snprintf(dst, len, "%s", msg ? msg : "");
    size_t n = strlen(dst);
    while (n && (dst[n - 1] == '\n' || dst[n - 1] == ' '))
        dst[--n] = '\0';
    for (char *p = dst; *p; p++)
        if (*p == '\n' || *p == '\t' || *p == '"')
            *p = *p == '"' ? '\'' : ' ';
}

static void full_set(struct store *s, bool full) {
    if (atomic_exchange(&s->full, full) == full)
        return;
    metrics_set("cohortd_store_full", "", full ? 1 : 0);
    if (full)
        log_error("store", "op=write result=store_full action=\"writes answer 503 until space "
                           "is freed\"");
    else
        log_info("store", "op=write result=space_available");
}

/* The error of a failed result. */
static enum cd_err result_error(struct pg_conn *c, PGresult *res, const char *what) {
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char msg[512];
    one_line(msg, sizeof msg, res ? PQresultErrorMessage(res) : PQerrorMessage(c->db));
    if (c->in_txn)
        c->failed = true;
    if (state && strncmp(state, "23", 2) == 0) {
        log_debug("store", "op=%s constraint=\"%s\"", what, msg);
        return CD_E_EXISTS;
    }
    if (state && strcmp(state, "53100") == 0) {
        log_warn("store", "op=%s error=\"%s\"", what, msg);
        metrics_add("cohortd_store_full_refusals_total", "", 1);
        full_set(c->owner, true);
        return CD_E_FULL;
    }
    log_error("store", "op=%s sqlstate=%s error=\"%s\"", what, state ? state : "none", msg);
    return CD_E_STORE;
}

/* Runs SQL text on c with the simple protocol (several statements allowed); CD_OK when every
 * one succeeded. *tag, when not NULL, receives the last command tag. */
static enum cd_err exec_simple(struct pg_conn *c, const char *sql, char *tag, size_t tag_len) {
    PGresult *res = PQexec(c->db, sql);
    ExecStatusType st = PQresultStatus(res);
    enum cd_err err = CD_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        err = result_error(c, res, "exec");
    else if (tag)
        snprintf(tag, tag_len, "%s", PQcmdStatus(res));
    PQclear(res);
    return err;
}

/* Session settings of every connection: durable commits, quiet notices, read-only readers. */
static enum cd_err conn_setup(struct pg_conn *c) {
    c->n_stmts = 0;
    return exec_simple(c,
                       c->writer
                           ? "SET synchronous_commit = on; SET client_min_messages = warning"
                           : "SET synchronous_commit = on; SET client_min_messages = warning; "
                             "SET default_transaction_read_only = on",
                       NULL, 0);
}

/* Whether c can run a statement: reconnects a broken connection outside a transaction. */
static bool conn_ready(struct pg_conn *c) {
    if (PQstatus(c->db) == CONNECTION_OK)
        return true;
    if (c->in_txn)
        return false;
    PQreset(c->db);
    if (PQstatus(c->db) != CONNECTION_OK) {
        char msg[512];
        one_line(msg, sizeof msg, PQerrorMessage(c->db));
        log_error("store", "op=reconnect error=\"%s\"", msg);
        return false;
    }
    log_warn("store", "op=reconnect result=ok");
    return conn_setup(c) == CD_OK;
}

/* The prepared name of sql on c ("s<i>"), preparing it on first use; NULL on error. */
static const char *prepared(struct pg_conn *c, const char *sql, const char *binds, char *name,
                            size_t len) {
    for (int i = 0; i < c->n_stmts; i++)
        if (c->stmts[i] == sql) {
            snprintf(name, len, "s%d", i);
            return name;
        }
    if (c->n_stmts == PG_STMT_CAP) {
        log_error("store", "op=prepare error=\"statement cache full\"");
        return NULL;
    }
    Oid types[PG_PARAMS_MAX];
    int n = (int)strlen(binds);
    for (int i = 0; i < n; i++)
        types[i] = binds[i] == 'i' ? INT8_OID : binds[i] == 'b' ? BYTEA_OID : TEXT_OID;
    snprintf(name, len, "s%d", c->n_stmts);
    PGresult *res = PQprepare(c->db, name, sql, n, types);
    enum cd_err err =
        PQresultStatus(res) == PGRES_COMMAND_OK ? CD_OK : result_error(c, res, "prepare");
    PQclear(res);
    if (err != CD_OK) {
        log_error("store", "op=prepare sql=\"%.120s\"", sql);
        return NULL;
    }
    c->stmts[c->n_stmts++] = sql;
    return name;
}

/* What one statement's results are handed to, and what they came to. */
struct run_state {
    bool one_row;
    pg_row_fn row;
    void *ctx;
    int64_t *changes;
    bool any; /* a row was seen */
    enum cd_err err;
};

/* Takes one result of the statement (rows, its command tag, or its error) and clears it. */
static void run_result(struct pg_conn *c, struct run_state *rs, PGresult *res) {
    ExecStatusType st = PQresultStatus(res);
    if (rs->err != CD_OK) {
        /* drain after an error */
    } else if (st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK) {
        for (int i = 0; i < PQntuples(res); i++) {
            if (rs->one_row && rs->any)
                break;
            rs->any = true;
            if (rs->row) {
                struct pg_row r = {.res = res, .row = i};
                rs->row(&r, rs->ctx);
                for (int k = 0; k < r.n_scratch; k++)
                    PQfreemem(r.scratch[k]);
            }
        }
        if (st == PGRES_TUPLES_OK && rs->changes && *PQcmdTuples(res))
            *rs->changes = strtoll(PQcmdTuples(res), NULL, 10);
    } else if (st == PGRES_COMMAND_OK) {
        if (rs->changes && *PQcmdTuples(res))
            *rs->changes = strtoll(PQcmdTuples(res), NULL, 10);
    } else {
        rs->err = result_error(c, res, rs->one_row ? "read_row" : "rows");
    }
    PQclear(res);
}

/* The first statement of a transaction together with its BEGIN (and the lease check that
 * check_with_next left pending, between them): all sent in one pipeline and their answers read
 * after one round trip (the statement's rows are not streamed; a transaction's statements
 * return few). A failed BEGIN or check fails the statement and the transaction; a check that
 * finds no live lease answers CD_E_MOVED. */
static enum cd_err run_with_begin(struct pg_conn *c, bool one_row, const char *name, int n,
                                  const char *const *vals, const int *lens, const int *fmts,
                                  pg_row_fn row, void *ctx, int64_t *changes) {
    c->begin_pending = false;
    bool with_check = c->check_pending;
    c->check_pending = false;
    char check_name[16], epoch[24], ws[24];
    if (with_check && !prepared(c, pg_lease_check_sql, "iti", check_name, sizeof check_name))
        return CD_E_STORE;
    snprintf(ws, sizeof ws, "%lld", (long long)c->check_ws);
    snprintf(epoch, sizeof epoch, "%lld", (long long)c->check_epoch);
    const char *check_vals[] = {ws, c->check_node, epoch};
    if (!PQenterPipelineMode(c->db))
        return result_error(c, NULL, "begin");
    if (!PQsendQueryParams(c->db, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) ||
        (with_check && !PQsendQueryPrepared(c->db, check_name, 3, check_vals, NULL, NULL, 0)) ||
        !PQsendQueryPrepared(c->db, name, n, vals, lens, fmts, 0) || !PQpipelineSync(c->db)) {
        enum cd_err err = result_error(c, NULL, "send");
        PQexitPipelineMode(c->db);
        return err;
    }
    struct run_state rs = {one_row, row, ctx, changes, false, CD_OK};
    enum cd_err begin_err = CD_OK; /* BEGIN's or the check's */
    bool lease_held = false;
    /* query 0: BEGIN's results, 1: the check's (when sent), then the statement's (stmt), then
     * the sync (done) */
    int query = 0, stmt = with_check ? 2 : 1, done = stmt + 1;
    for (int nulls = 0; nulls < 3;) {
        PGresult *res = PQgetResult(c->db);
        if (!res) { /* the end of one query's results */
            query++;
            nulls++;
            continue;
        }
        nulls = 0;
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            query = done + 1;
            break;
        }
        if (query < stmt) { /* BEGIN, or the check */
            if (st == PGRES_TUPLES_OK && query == 1)
                lease_held = PQntuples(res) > 0;
            else if (st != PGRES_COMMAND_OK && begin_err == CD_OK)
                begin_err =
                    st == PGRES_PIPELINE_ABORTED ? CD_E_STORE : result_error(c, res, "begin");
            PQclear(res);
        } else if (st == PGRES_PIPELINE_ABORTED) {
            if (rs.err == CD_OK)
                rs.err = begin_err != CD_OK ? begin_err : CD_E_STORE;
            PQclear(res);
        } else {
            run_result(c, &rs, res);
        }
    }
    if (query != done + 1 || !PQexitPipelineMode(c->db)) { /* the answers did not all arrive */
        if (rs.err == CD_OK && begin_err == CD_OK)
            rs.err = result_error(c, NULL, "pipeline");
        if (PQpipelineStatus(c->db) != PQ_PIPELINE_OFF) { /* left mid-pipeline: start over */
            PQreset(c->db);
            if (PQstatus(c->db) == CONNECTION_OK)
                conn_setup(c);
        }
    }
    c->failed = c->failed || rs.err != CD_OK || begin_err != CD_OK;
    if (begin_err != CD_OK)
        return begin_err;
    if (with_check && !lease_held) {
        c->failed = true; /* the statement ran, but this transaction must not commit */
        log_warn("store", "op=lease_check workspace=%lld node=%s epoch=%lld result=not_held",
                 (long long)c->check_ws, c->check_node, (long long)c->check_epoch);
        return CD_E_MOVED;
    }
    if (rs.err == CD_OK && one_row && !rs.any)
        rs.err = CD_E_NOT_FOUND;
    return rs.err;
}

enum cd_err pg_run(struct pg_conn *c, bool one_row, const char *sql, const struct pg_args *a,
                   pg_row_fn row, void *ctx, int64_t *changes) {
    const char *binds = a && a->binds ? a->binds : "";
    int n = (int)strlen(binds);
    if (n > PG_PARAMS_MAX)
        return CD_E_INTERNAL;
    if (changes)
        *changes = 0;
    if (c->in_txn && c->failed)
        return CD_E_STORE; /* the transaction is aborted: nothing more runs in it */
    if (!conn_ready(c)) {
        if (c->in_txn)
            c->failed = true;
        return CD_E_STORE;
    }
    char name[16];
    if (!prepared(c, sql, binds, name, sizeof name))
        return CD_E_STORE;
    char nums[PG_PARAMS_MAX][24];
    const char *vals[PG_PARAMS_MAX];
    int lens[PG_PARAMS_MAX], fmts[PG_PARAMS_MAX];
    const char *const *texts = a ? a->texts : NULL;
    const int64_t *ints = a ? a->ints : NULL;
    const struct pg_blob *blobs = a ? a->blobs : NULL;
    for (int i = 0; i < n; i++) {
        lens[i] = 0;
        fmts[i] = 0;
        if (binds[i] == 't') {
            vals[i] = *texts++;
        } else if (binds[i] == 'i') {
            snprintf(nums[i], sizeof nums[i], "%lld", (long long)*ints++);
            vals[i] = nums[i];
        } else {
            if (!blobs)
                return CD_E_INTERNAL; /* a 'b' bind without its blob */
            vals[i] = blobs->p;
            lens[i] = (int)blobs->n;
            fmts[i] = 1;
            blobs++;
        }
    }
    if (c->begin_pending)
        return run_with_begin(c, one_row, name, n, vals, lens, fmts, row, ctx, changes);
    if (!PQsendQueryPrepared(c->db, name, n, vals, lens, fmts, 0))
        return result_error(c, NULL, "send");
    if (!one_row)
        PQsetSingleRowMode(c->db); /* rows stream: a load holds one row at a time */
    struct run_state rs = {one_row, row, ctx, changes, false, CD_OK};
    PGresult *res;
    while ((res = PQgetResult(c->db)) != NULL)
        run_result(c, &rs, res);
    if (rs.err == CD_OK && one_row && !rs.any)
        rs.err = CD_E_NOT_FOUND;
    return rs.err;
}

struct pg_conn *pg_reader(struct store *s) {
    unsigned start = atomic_fetch_add(&s->next_reader, 1);
    for (unsigned k = 0; k < PG_READERS; k++) {
        struct pg_conn *c = &s->r[(start + k) % PG_READERS];
        if (pthread_mutex_trylock(&c->lock) == 0)
            return c;
    }
    struct pg_conn *c = &s->r[start % PG_READERS];
    pthread_mutex_lock(&c->lock);
    return c;
}

void pg_reader_end(struct pg_conn *c) {
    pthread_mutex_unlock(&c->lock);
}

int64_t pg_copy_int(const struct pg_copy_row *r, int col) {
    if (col >= r->n || !r->v[col])
        return 0;
    const unsigned char *p = (const unsigned char *)r->v[col];
    uint64_t v = 0;
    for (int i = 0; i < r->len[col]; i++)
        v = v << 8 | p[i];
    int bits = r->len[col] * 8; /* sign-extend a smallint or integer */
    if (bits > 0 && bits < 64 && (v >> (bits - 1)) & 1)
        v |= ~(uint64_t)0 << bits;
    return (int64_t)v;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* What a binary COPY stream is parsed with: the header is read once, then one tuple (or the
 * trailer) per step; every field is copied into scratch with a NUL after it. */
struct copy_parse {
    bool header_done, trailer;
    char *scratch;
    size_t cap;
    void (*fn)(const struct pg_copy_row *r, void *ctx);
    void *ctx;
};

/* Parses one CopyData message (the server sends a tuple per message, the header with the
 * first); -1 when it does not parse or memory runs out. */
static int copy_message(struct copy_parse *cp, const unsigned char *m, size_t n) {
    static const unsigned char sig[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};
    size_t at = 0;
    while (at < n) {
        if (!cp->header_done) {
            if (n - at < 19 || memcmp(m + at, sig, sizeof sig) != 0)
                return -1;
            uint32_t ext = be32(m + at + 15);
            if (ext > n - at - 19)
                return -1;
            at += 19 + ext;
            cp->header_done = true;
            continue;
        }
        if (n - at < 2)
            return -1;
        int16_t cols = (int16_t)((uint16_t)m[at] << 8 | m[at + 1]);
        at += 2;
        if (cols == -1) {
            cp->trailer = true;
            return 0;
        }
        if (cols < 0 || cols > PG_COPY_COLS)
            return -1;
        if (!cp->scratch || cp->cap < n + (size_t)cols) {
            char *p = realloc(cp->scratch, n + (size_t)cols);
            if (!p)
                return -1;
            cp->scratch = p;
            cp->cap = n + (size_t)cols;
        }
        struct pg_copy_row row = {.n = cols};
        size_t used = 0;
        for (int i = 0; i < cols; i++) {
            if (n - at < 4)
                return -1;
            int32_t len = (int32_t)be32(m + at);
            at += 4;
            if (len == -1) {
                row.v[i] = NULL;
                row.len[i] = 0;
                continue;
            }
            if (len < 0 || (size_t)len > n - at)
                return -1;
            memcpy(cp->scratch + used, m + at, (size_t)len);
            cp->scratch[used + (size_t)len] = '\0';
            row.v[i] = cp->scratch + used;
            row.len[i] = len;
            used += (size_t)len + 1;
            at += (size_t)len;
        }
        cp->fn(&row, cp->ctx);
    }
    return 0;
}

enum cd_err pg_copy_rows(struct store *s, const char *select,
                         void (*fn)(const struct pg_copy_row *r, void *ctx), void *ctx) {
    size_t len = strlen(select) + 64;
    char *sql = malloc(len);
    if (!sql)
        return CD_E_NOMEM;
    snprintf(sql, len, "COPY (%s) TO STDOUT (FORMAT binary)", select);
    struct pg_conn *c = pg_reader(s);
    enum cd_err err = conn_ready(c) ? CD_OK : CD_E_STORE;
    PGresult *res = err == CD_OK ? PQexec(c->db, sql) : NULL;
    free(sql);
    if (err == CD_OK && PQresultStatus(res) != PGRES_COPY_OUT)
        err = result_error(c, res, "copy_out");
    PQclear(res);
    struct copy_parse cp = {.fn = fn, .ctx = ctx};
    if (err == CD_OK) {
        char *m;
        int got;
        while ((got = PQgetCopyData(c->db, &m, 0)) > 0) {
            if (err == CD_OK && copy_message(&cp, (const unsigned char *)m, (size_t)got) != 0) {
                log_error("store", "op=copy_out error=\"a row of the binary COPY does not parse\"");
                err = CD_E_STORE; /* read on to the end: the connection stays usable */
            }
            PQfreemem(m);
        }
        if (got == -2 && err == CD_OK)
            err = result_error(c, NULL, "copy_out");
        while ((res = PQgetResult(c->db)) != NULL) {
            if (PQresultStatus(res) != PGRES_COMMAND_OK && err == CD_OK)
                err = result_error(c, res, "copy_out");
            PQclear(res);
        }
        if (err == CD_OK && !cp.trailer) {
            log_error("store", "op=copy_out error=\"the binary COPY ended without its trailer\"");
            err = CD_E_STORE;
        }
    }
    free(cp.scratch);
    pg_reader_end(c);
    return err;
}

static struct pg_conn *write_begin(struct store *s) {
    if (pthread_mutex_lock(&s->w.lock) != 0) {
        log_error("store", "op=write error=\"autocommit write inside a transaction\"");
        return NULL;
    }
    return &s->w;
}

static enum cd_err write_end(struct store *s, enum cd_err err) {
    if (err == CD_OK)
        full_set(s, false);
    pthread_mutex_unlock(&s->w.lock);
    return err;
}

enum cd_err pg_write(struct store *s, const char *sql, const char *binds, const char *const *texts,
                     const int64_t *ints, int64_t *changes) {
    struct pg_args a = {binds, texts, ints, NULL};
    struct pg_conn *c = write_begin(s);
    if (!c)
        return CD_E_INTERNAL;
    return write_end(s, pg_run(c, false, sql, &a, NULL, NULL, changes));
}

enum cd_err pg_write_row(struct store *s, const char *sql, const struct pg_args *a, pg_row_fn row,
                         void *ctx) {
    struct pg_conn *c = write_begin(s);
    if (!c)
        return CD_E_INTERNAL;
    return write_end(s, pg_run(c, true, sql, a, row, ctx, NULL));
}

enum cd_err pg_txn_write(struct store_txn *t, const char *sql, const char *binds,
                         const char *const *texts, const int64_t *ints, int64_t *changes) {
    struct pg_args a = {binds, texts, ints, NULL};
    return pg_run(&t->s->w, false, sql, &a, NULL, NULL, changes);
}

enum cd_err pg_txn_run(struct store_txn *t, bool one_row, const char *sql, const struct pg_args *a,
                       pg_row_fn row, void *ctx, int64_t *changes) {
    return pg_run(&t->s->w, one_row, sql, a, row, ctx, changes);
}

static enum cd_err query(struct store *s, struct store_txn *t, bool one_row, const char *sql,
                         const char *binds, const char *const *texts, const int64_t *ints,
                         pg_row_fn row, void *ctx) {
    struct pg_args a = {binds, texts, ints, NULL};
    if (t)
        return pg_run(&t->s->w, one_row, sql, &a, row, ctx, NULL);
    struct pg_conn *c = pg_reader(s);
    enum cd_err err = pg_run(c, one_row, sql, &a, row, ctx, NULL);
    pg_reader_end(c);
    return err;
}

enum cd_err pg_read_row(struct store *s, const char *sql, const char *binds,
                        const char *const *texts, const int64_t *ints, pg_row_fn row, void *ctx) {
    return query(s, NULL, true, sql, binds, texts, ints, row, ctx);
}

enum cd_err pg_rows(struct store *s, const char *sql, const char *binds, const char *const *texts,
                    const int64_t *ints, pg_row_fn row, void *ctx) {
    return query(s, NULL, false, sql, binds, texts, ints, row, ctx);
}

enum cd_err pg_txn_read_row(struct store *s, struct store_txn *t, const char *sql,
                            const char *binds, const char *const *texts, const int64_t *ints,
                            pg_row_fn row, void *ctx) {
    return query(s, t, true, sql, binds, texts, ints, row, ctx);
}

enum cd_err pg_txn_rows(struct store *s, struct store_txn *t, const char *sql, const char *binds,
                        const char *const *texts, const int64_t *ints, pg_row_fn row, void *ctx) {
    return query(s, t, false, sql, binds, texts, ints, row, ctx);
}

/* ---- opening, migrations ---- */

/* url without its password, for messages */
static void url_redacted(const char *url, char *out, size_t len) {
    const char *scheme = strstr(url, "://");
    const char *host = scheme ? scheme + 3 : url;
    const char *at = strchr(host, '@');
    const char *slash = strchr(host, '/');
    const char *colon = strchr(host, ':');
    if (at && (!slash || at < slash) && colon && colon < at)
        snprintf(out, len, "%.*s:***%s", (int)(colon - url), url, at);
    else
        snprintf(out, len, "%s", url);
}

static enum cd_err conn_open(struct store *s, struct pg_conn *c, bool writer, char *err_msg,
                             size_t err_len) {
    c->owner = s;
    c->writer = writer;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    if (writer)
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&c->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    /* the URL's own settings come after the defaults and override them */
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {"10", "cohortd", s->url, NULL};
    c->db = PQconnectdbParams(keys, vals, 1);
    if (!c->db || PQstatus(c->db) != CONNECTION_OK) {
        char msg[400], where[300];
        one_line(msg, sizeof msg, c->db ? PQerrorMessage(c->db) : "out of memory");
        url_redacted(s->url, where, sizeof where);
        snprintf(err_msg, err_len, "cannot connect to the PostgreSQL store %s: %s", where, msg);
        return CD_E_STORE;
    }
    enum cd_err err = conn_setup(c);
    if (err != CD_OK)
        snprintf(err_msg, err_len, "cannot set up a PostgreSQL connection");
    return err;
}

static void conn_close(struct pg_conn *c) {
    if (c->owner) {
        PQfinish(c->db);
        pthread_mutex_destroy(&c->lock);
    }
    c->db = NULL;
    c->owner = NULL;
}

static void row_version(struct pg_row *r, void *ctx) {
    *(int *)ctx = (int)pg_int(r, 0);
}

/* Brings the schema to the newest version: every missing migration and the new version in one
 * transaction, under an advisory lock so that two processes opening the store together
 * migrate once. A newer schema than this build knows is refused. */
static enum cd_err migrate(struct pg_conn *c, char *err_msg, size_t err_len) {
    int want = pg_schema_latest();
    int have = -1;
    char lock_sql[96];
    snprintf(lock_sql, sizeof lock_sql, "SELECT pg_advisory_xact_lock(%d)", PG_MIGRATE_LOCK);
    enum cd_err err = exec_simple(c, "BEGIN", NULL, 0);
    if (err == CD_OK)
        err = exec_simple(c, lock_sql, NULL, 0);
    if (err == CD_OK)
        err = exec_simple(c, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
                          NULL, 0);
    if (err == CD_OK)
        err = pg_run(c, true, "SELECT coalesce(max(version), 0) FROM schema_version", NULL,
                     row_version, &have, NULL);
    if (err == CD_OK && have > want) {
        snprintf(err_msg, err_len,
                 "the PostgreSQL store has schema version %d, newer than this build's (%d)", have,
                 want);
        err = CD_E_STORE;
    }
    for (int v = have + 1; err == CD_OK && v <= want; v++)
        err = exec_simple(c, pg_schema_migration(v), NULL, 0);
    if (err == CD_OK && have < want) {
        char sql[128];
        snprintf(sql, sizeof sql,
                 "DELETE FROM schema_version; INSERT INTO schema_version VALUES (%d)", want);
        err = exec_simple(c, sql, NULL, 0);
    }
    char tag[32] = "";
    if (err == CD_OK)
        err = exec_simple(c, "COMMIT", tag, sizeof tag);
    if (err == CD_OK && strcmp(tag, "COMMIT") != 0)
        err = CD_E_STORE;
    if (err != CD_OK) {
        exec_simple(c, "ROLLBACK", NULL, 0);
        if (!*err_msg)
            snprintf(err_msg, err_len, "cannot bring the PostgreSQL schema to version %d", want);
        return err;
    }
    if (have < want)
        log_info("store", "op=migrate backend=postgresql from=%d to=%d", have, want);
    return CD_OK;
}

static void slots_close(struct store *s);

static void pg_close(struct store *s) {
    if (!s)
        return;
    slots_close(s);
    for (int i = 0; i < PG_READERS; i++)
        conn_close(&s->r[i]);
    conn_close(&s->lease);
    conn_close(&s->w);
    pthread_cond_destroy(&s->commit_cond);
    pthread_mutex_destroy(&s->commit_lock);
    pg_entries_free(s);
    pthread_mutex_destroy(&s->entry_lock);
    free(s->url);
    free(s);
}

enum cd_err postgres_open(const char *url, struct store **out, char *err_msg, size_t err_len) {
    *out = NULL;
    if (err_len)
        *err_msg = '\0';
    struct store *s = calloc(1, sizeof *s);
    if (!s || !(s->url = strdup(url))) {
        free(s);
        snprintf(err_msg, err_len, "out of memory");
        return CD_E_NOMEM;
    }
    s->base.ops = &postgres_store_ops;
    s->txn.s = s;
    pthread_mutex_init(&s->commit_lock, NULL);
    pthread_cond_init(&s->commit_cond, NULL);
    pthread_mutex_init(&s->entry_lock, NULL);
    metrics_describe("cohortd_store_full", METRIC_GAUGE,
                     "1 while the last write failed because the store's disk (or page limit) "
                     "is full, until a write succeeds or space is found again");
    metrics_describe("cohortd_store_full_refusals_total", METRIC_COUNTER,
                     "store statements that failed for lack of space (their requests got 503)");
    metrics_set("cohortd_store_full", "", 0);
    enum cd_err err = conn_open(s, &s->w, true, err_msg, err_len);
    if (err == CD_OK)
        err = migrate(&s->w, err_msg, err_len);
    for (int i = 0; err == CD_OK && i < PG_READERS; i++)
        err = conn_open(s, &s->r[i], false, err_msg, err_len);
    if (err == CD_OK) /* a writer's session, its own lock */
        err = conn_open(s, &s->lease, true, err_msg, err_len);
    if (err != CD_OK) {
        pg_close(s);
        return err;
    }
    *out = s;
    return CD_OK;
}

static enum cd_err pg_open(const char *url, struct store **out) {
    char msg[512];
    enum cd_err err = postgres_open(url, out, msg, sizeof msg);
    if (err != CD_OK)
        log_error("store", "op=open backend=postgresql error=\"%s\"", msg);
    return err;
}

static bool pg_healthy(struct store *s) {
    if (atomic_load(&s->commit_failed))
        return false;
    struct pg_conn *c = pg_reader(s);
    bool ok = conn_ready(c) && exec_simple(c, "SELECT 1", NULL, 0) == CD_OK;
    pg_reader_end(c);
    return ok;
}

static bool pg_full(struct store *s) {
    return atomic_load(&s->full);
}

static enum cd_err pg_begin(struct store *s, struct store_txn **out) {
    *out = NULL;
    if (pthread_mutex_lock(&s->w.lock) != 0) {
        log_error("store", "op=begin error=\"transaction inside a transaction\"");
        return CD_E_INTERNAL;
    }
    if (!conn_ready(&s->w)) {
        pthread_mutex_unlock(&s->w.lock);
        return CD_E_STORE;
    }
    s->w.in_txn = true;
    s->w.failed = false;
    s->w.begin_pending = true; /* sent with the first statement (run_with_begin) */
    s->w.check_pending = false;
    s->txn_campaigns = false;
    *out = &s->txn;
    return CD_OK;
}

/* Ends the transaction on w, its COMMIT (if any) answered; caller holds w.lock, which this
 * releases. */
static void txn_end(struct store *s) {
    if (s->txn_campaigns) /* on_cohort's sets read before the commit was visible are stale */
        pg_entries_changed(s);
    s->txn_campaigns = false;
    s->w.in_txn = false;
    s->w.failed = false;
    s->w.begin_pending = false;
    s->w.check_pending = false;
    pthread_mutex_unlock(&s->w.lock);
}

static enum cd_err pg_commit(struct store_txn *t) {
    struct store *s = t->s;
    char tag[32] = "";
    enum cd_err err = CD_E_STORE;
    if (atomic_load(&s->commit_failed)) {
        log_error("store", "op=commit error=\"an earlier commit failed: restart the server\"");
        if (PQstatus(s->w.db) == CONNECTION_OK && !s->w.begin_pending)
            exec_simple(&s->w, "ROLLBACK", NULL, 0);
    } else if (s->w.begin_pending && !s->w.failed) { /* nothing ran: nothing to commit */
        err = CD_OK;
    } else if (!s->w.failed && PQstatus(s->w.db) == CONNECTION_OK) {
        s->w.in_txn = false; /* COMMIT itself may fail without aborting anything more */
        err = exec_simple(&s->w, "COMMIT", tag, sizeof tag);
        /* an aborted transaction answers COMMIT with the tag ROLLBACK */
        if (err == CD_OK && strcmp(tag, "COMMIT") != 0) {
            log_error("store", "op=commit error=\"the transaction was aborted\"");
            err = CD_E_STORE;
        }
    } else if (PQstatus(s->w.db) == CONNECTION_OK && !s->w.begin_pending) {
        exec_simple(&s->w, "ROLLBACK", NULL, 0);
    }
    if (err == CD_OK) {
        full_set(s, false);
    } else if (err != CD_E_FULL) {
        err = CD_E_STORE;
    }
    txn_end(s);
    return err;
}

static void pg_rollback(struct store_txn *t) {
    struct store *s = t->s;
    if (PQstatus(s->w.db) == CONNECTION_OK && !s->w.begin_pending) {
        s->w.in_txn = false;
        exec_simple(&s->w, "ROLLBACK", NULL, 0);
    }
    txn_end(s);
}

/* ---- the split commit: commit_ticket sends COMMIT, durable reads its answer ---- */

/* Swaps the sessions of two write connections (the PostgreSQL connection and the statements
 * prepared on it); their locks and transaction states stay where they are. */
static void conn_swap(struct pg_conn *a, struct pg_conn *b) {
    PGconn *db = a->db;
    a->db = b->db;
    b->db = db;
    int n = a->n_stmts;
    a->n_stmts = b->n_stmts;
    b->n_stmts = n;
    const char *stmts[PG_STMT_CAP];
    memcpy(stmts, a->stmts, sizeof stmts);
    memcpy(a->stmts, b->stmts, sizeof stmts);
    memcpy(b->stmts, stmts, sizeof stmts);
}

/* Reads the answer of the COMMIT in flight on c: CD_OK once PostgreSQL committed the
 * transaction and (synchronous_commit = on) flushed its commit record. */
static enum cd_err commit_answer(struct pg_conn *c) {
    enum cd_err err = CD_OK;
    bool committed = false;
    PGresult *res;
    while ((res = PQgetResult(c->db)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            if (err == CD_OK)
                err = result_error(c, res, "commit");
        } else if (strcmp(PQcmdStatus(res), "COMMIT") == 0) {
            committed = true;
        }
        PQclear(res);
    }
    if (err == CD_OK && !committed) {
        if (PQstatus(c->db) != CONNECTION_OK)
            result_error(c, NULL, "commit");
        else /* an aborted transaction answers COMMIT with the tag ROLLBACK */
            log_error("store", "op=commit error=\"the transaction was aborted\"");
        err = CD_E_STORE;
    }
    return err;
}

/* Reads the answer of slot's COMMIT; caller holds commit_lock, which is let go meanwhile, and
 * slot is COMMITTING. A failed COMMIT is final: what was planned on top of it cannot be trusted
 * (every later commit and durable fails, healthy answers false). The slot is idle after. */
static void slot_resolve(struct store *s, struct pg_slot *slot) {
    slot->state = PG_SLOT_TAKEN;
    uint64_t ticket = slot->ticket;
    pthread_mutex_unlock(&s->commit_lock);
    enum cd_err err = commit_answer(&slot->c);
    if (err == CD_OK)
        full_set(s, false);
    else if (!atomic_exchange(&s->commit_failed, true))
        log_error("store",
                  "op=sync result=failed ticket=%llu error=%s action=\"writes refused until "
                  "restart\"",
                  (unsigned long long)ticket, cd_err_name(err));
    pthread_mutex_lock(&s->commit_lock);
    slot->state = PG_SLOT_IDLE;
    slot->ticket = 0;
    pthread_cond_broadcast(&s->commit_cond);
}

/* An idle slot, TAKEN for the caller (who holds commit_lock): when every slot has a COMMIT in
 * flight, the oldest one's answer is read first. */
static struct pg_slot *slot_take(struct store *s) {
    for (;;) {
        struct pg_slot *oldest = NULL;
        for (int i = 0; i < PG_COMMITTERS; i++) {
            struct pg_slot *x = &s->slots[i];
            if (x->state == PG_SLOT_IDLE) {
                x->state = PG_SLOT_TAKEN;
                return x;
            }
            if (x->state == PG_SLOT_COMMITTING && (!oldest || x->ticket < oldest->ticket))
                oldest = x;
        }
        if (oldest)
            slot_resolve(s, oldest);
        else
            pthread_cond_wait(&s->commit_cond, &s->commit_lock);
    }
}

static void slot_give_back(struct store *s, struct pg_slot *slot) {
    pthread_mutex_lock(&s->commit_lock);
    slot->state = PG_SLOT_IDLE;
    pthread_cond_broadcast(&s->commit_cond);
    pthread_mutex_unlock(&s->commit_lock);
}

/* Whether the TAKEN slot's connection can become the writer: opened on first use. */
static bool slot_ready(struct store *s, struct pg_slot *slot) {
    if (slot->c.owner)
        return conn_ready(&slot->c);
    char msg[512];
    if (conn_open(s, &slot->c, true, msg, sizeof msg) == CD_OK)
        return true;
    log_warn("store", "op=commit_slot error=\"%s\" action=\"this commit waits for its flush\"",
             msg);
    conn_close(&slot->c);
    return false;
}

static enum cd_err pg_commit_ticket(struct store_txn *t, uint64_t *ticket) {
    struct store *s = t->s;
    *ticket = 0;
    struct pg_slot *slot = NULL;
    /* a transaction that inserted a campaign commits here: on_cohort's sets must go stale
     * once its COMMIT is answered, which a slot would read later */
    if (!atomic_load(&s->commit_failed) && !s->w.failed && !s->w.begin_pending &&
        !s->txn_campaigns && PQstatus(s->w.db) == CONNECTION_OK) {
        pthread_mutex_lock(&s->commit_lock);
        slot = slot_take(s);
        pthread_mutex_unlock(&s->commit_lock);
        if (!slot_ready(s, slot)) {
            slot_give_back(s, slot);
            slot = NULL;
        }
    }
    if (!slot) { /* commits (or reports why not) here: the ticket is durable at once */
        enum cd_err err = pg_commit(t);
        pthread_mutex_lock(&s->commit_lock);
        if (err == CD_OK)
            *ticket = ++s->tickets;
        pthread_mutex_unlock(&s->commit_lock);
        return err;
    }
    s->w.in_txn = false;
    if (!PQsendQuery(s->w.db, "COMMIT")) {
        enum cd_err err = result_error(&s->w, NULL, "commit");
        slot_give_back(s, slot);
        txn_end(s);
        return err == CD_E_FULL ? err : CD_E_STORE;
    }
    conn_swap(&s->w, &slot->c); /* the writer goes on with the slot's idle connection */
    pthread_mutex_lock(&s->commit_lock);
    slot->state = PG_SLOT_COMMITTING;
    slot->ticket = *ticket = ++s->tickets;
    pthread_mutex_unlock(&s->commit_lock);
    txn_end(s);
    return CD_OK;
}

static enum cd_err pg_durable(struct store *s, uint64_t ticket) {
    pthread_mutex_lock(&s->commit_lock);
    enum cd_err err = ticket <= s->tickets ? CD_OK : CD_E_STORE;
    for (int i = 0; err == CD_OK && ticket && i < PG_COMMITTERS; i++) {
        struct pg_slot *x = &s->slots[i];
        if (x->ticket != ticket)
            continue;
        if (x->state == PG_SLOT_COMMITTING)
            slot_resolve(s, x);
        else /* another thread reads its answer */
            pthread_cond_wait(&s->commit_cond, &s->commit_lock);
        i = -1; /* look again: the slot is idle or still being read */
    }
    if (atomic_load(&s->commit_failed))
        err = CD_E_STORE;
    pthread_mutex_unlock(&s->commit_lock);
    return err;
}

/* Reads the answers of the COMMITs still in flight and closes the slots' connections. */
static void slots_close(struct store *s) {
    pthread_mutex_lock(&s->commit_lock);
    for (int i = 0; i < PG_COMMITTERS; i++) {
        struct pg_slot *x = &s->slots[i];
        while (x->state == PG_SLOT_TAKEN)
            pthread_cond_wait(&s->commit_cond, &s->commit_lock);
        if (x->state == PG_SLOT_COMMITTING)
            slot_resolve(s, x);
    }
    pthread_mutex_unlock(&s->commit_lock);
    for (int i = 0; i < PG_COMMITTERS; i++)
        conn_close(&s->slots[i].c);
}

enum cd_err pg_write_all(struct store *s, const char *const *sqls, size_t n, const char *binds,
                         const char *const *texts, const int64_t *ints) {
    struct store_txn *t;
    enum cd_err err = pg_begin(s, &t);
    for (size_t k = 0; err == CD_OK && k < n; k++)
        err = pg_txn_write(t, sqls[k], binds, texts, ints, NULL);
    if (err == CD_OK)
        return pg_commit(t);
    if (t)
        pg_rollback(t);
    return err;
}

const struct store_ops postgres_store_ops = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .healthy = pg_healthy,
    .full = pg_full,
    .begin = pg_begin,
    .commit = pg_commit,
    .commit_ticket = pg_commit_ticket,
    .durable = pg_durable,
    .rollback = pg_rollback,
    .admin = &postgres_admin_ops,
    .dashboard = &postgres_dashboard_ops,
    .users = &postgres_user_ops,
    .outbox = &postgres_outbox_ops,
    .heap = &postgres_heap_ops,
    .cohorts = &postgres_cohort_ops,
    .segments = &postgres_segment_ops,
    .currents = &postgres_currents_ops,
    .campaigns = &postgres_campaign_ops,
    .retention = &postgres_retention_ops,
    .history = &postgres_history_ops,
    .leases = &postgres_lease_ops,
    .files = NULL, /* pg_dump and pg_restore */
};
