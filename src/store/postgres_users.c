/*
 * postgres_users.c — users, their aliases and devices, and per-user event summaries in
 * PostgreSQL (store_user_ops). Users are never removed, only marked deleted, so a uid is never
 * reused. The batch calls (events_bump, aliases_put) send each step as one statement over
 * arrays (unnest), whatever the number of rows.
 */
#include "store/postgres_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* STORE_EVENT_RECENT as SQL text */
#define PG_STR(x) #x
#define PG_NUM(x) PG_STR(x)
#define RECENT_SQL PG_NUM(STORE_EVENT_RECENT)

#define USER_COLS                                                                                  \
    "uid, braze_id, external_id, created_anonymous, deleted, attrs, created_at, updated_at"

struct user_cb {
    void (*cb)(void *, const struct user_row *);
    void *ctx;
};

static void row_user(struct pg_row *r, void *ctx) {
    struct user_cb *uc = ctx;
    struct user_row u = {
        .uid = (uint32_t)pg_int(r, 0),
        .braze_id = pg_text(r, 1),
        .external_id = pg_text(r, 2),
        .created_anonymous = pg_int(r, 3) != 0,
        .deleted = pg_int(r, 4) != 0,
        .attrs = pg_text(r, 5),
        .created_at = pg_int(r, 6),
        .updated_at = pg_int(r, 7),
    };
    uc->cb(uc->ctx, &u);
}

struct ident_cb {
    void (*cb)(void *, const struct ident_row *);
    void *ctx;
};

static void row_ident(struct pg_row *r, void *ctx) {
    struct ident_cb *ic = ctx;
    struct ident_row row = {
        .uid = (uint32_t)pg_int(r, 0),
        .a = pg_text(r, 1),
        .b = PQnfields(r->res) > 2 ? pg_text(r, 2) : NULL,
    };
    ic->cb(ic->ctx, &row);
}

static enum cd_err uid_next(struct store_txn *t, int64_t ws, uint32_t *uid) {
    int64_t i[] = {ws};
    int64_t v = 0;
    *uid = 0;
    enum cd_err err = pg_txn_read_row(t->s, t,
                                      "SELECT coalesce(max(uid), 0) + 1 FROM users "
                                      "WHERE workspace_id = $1",
                                      "i", NULL, i, pg_row_int64, &v);
    if (err == CD_OK && (v <= 0 || v >= UINT32_MAX))
        return CD_E_INTERNAL;
    *uid = (uint32_t)v;
    return err;
}

static enum cd_err insert(struct store_txn *tx, int64_t ws, const struct user_row *u) {
    const char *t[] = {u->braze_id, u->external_id, u->attrs ? u->attrs : "{}"};
    int64_t i[] = {ws, u->uid, u->created_anonymous, u->created_at, u->updated_at};
    return pg_txn_write(
        tx,
        "INSERT INTO users(workspace_id, uid, braze_id, external_id, created_anonymous,"
        " attrs, created_at, updated_at) VALUES ($4, $5, $1, $2, $6, $3, $7, $8)",
        "tttiiiii", t, i, NULL);
}

static enum cd_err set_external_id(struct store_txn *s, int64_t ws, uint32_t uid, const char *ext,
                                   int64_t now) {
    const char *t[] = {ext};
    int64_t i[] = {ws, uid, now};
    return pg_txn_write(s,
                        "UPDATE users SET external_id = $1, updated_at = $4 "
                        "WHERE workspace_id = $2 AND uid = $3",
                        "tiii", t, i, NULL);
}

static enum cd_err set_attrs(struct store_txn *s, int64_t ws, uint32_t uid, const char *attrs,
                             int64_t now) {
    const char *t[] = {attrs};
    int64_t i[] = {ws, uid, now};
    return pg_txn_write(s,
                        "UPDATE users SET attrs = $1, updated_at = $4 "
                        "WHERE workspace_id = $2 AND uid = $3",
                        "tiii", t, i, NULL);
}

static enum cd_err remove_user(struct store_txn *s, int64_t ws, uint32_t uid, int64_t now) {
    int64_t i[] = {ws, uid, now};
    enum cd_err err =
        pg_txn_write(s,
                     "UPDATE users SET deleted = 1, external_id = NULL, attrs = '{}', "
                     "updated_at = $3 WHERE workspace_id = $1 AND uid = $2",
                     "iii", NULL, i, NULL);
    if (err == CD_OK)
        err = pg_txn_write(s, "DELETE FROM aliases WHERE workspace_id = $1 AND uid = $2", "ii",
                           NULL, i, NULL);
    if (err == CD_OK)
        err = pg_txn_write(s, "DELETE FROM devices WHERE workspace_id = $1 AND uid = $2", "ii",
                           NULL, i, NULL);
    if (err == CD_OK)
        err = pg_txn_write(s, "DELETE FROM user_events WHERE workspace_id = $1 AND uid = $2", "ii",
                           NULL, i, NULL);
    if (err == CD_OK)
        err = pg_txn_write(s, "DELETE FROM user_event_times WHERE workspace_id = $1 AND uid = $2",
                           "ii", NULL, i, NULL);
    return err;
}

static enum cd_err get(struct store *s, struct store_txn *t, int64_t ws, uint32_t uid,
                       void (*cb)(void *, const struct user_row *), void *ctx) {
    struct user_cb uc = {cb, ctx};
    int64_t i[] = {ws, uid};
    return pg_txn_read_row(s, t,
                           "SELECT " USER_COLS " FROM users WHERE workspace_id = $1 AND uid = $2",
                           "ii", NULL, i, row_user, &uc);
}

static enum cd_err aliases_put(struct store_txn *t, int64_t ws, const struct ident_row *rows,
                               size_t n) {
    if (n == 0)
        return CD_OK;
    int64_t *uids = malloc(n * sizeof *uids);
    if (!uids)
        return CD_E_NOMEM;
    for (size_t k = 0; k < n; k++)
        uids[k] = rows[k].uid;
    char *labels = pg_array_texts(&rows[0].a, n, sizeof rows[0]);
    char *names = pg_array_texts(&rows[0].b, n, sizeof rows[0]);
    char *us = pg_array_ints(uids, n);
    free(uids);
    enum cd_err err = CD_E_NOMEM;
    if (labels && names && us) {
        const char *tx[] = {labels, names, us};
        int64_t i[] = {ws};
        /* the last row of a (label, name) wins, as when they are put one by one */
        err = pg_txn_write(t,
                           "INSERT INTO aliases(workspace_id, label, name, uid) "
                           "SELECT DISTINCT ON (l, n) $4, l, n, u FROM unnest($1::text[], "
                           "$2::text[], $3::bigint[]) WITH ORDINALITY AS x(l, n, u, o) "
                           "ORDER BY l, n, o DESC "
                           "ON CONFLICT (workspace_id, label, name) DO UPDATE SET uid = "
                           "excluded.uid",
                           "ttti", tx, i, NULL);
    }
    free(labels);
    free(names);
    free(us);
    return err;
}

static enum cd_err aliases_of(struct store *s, struct store_txn *t, int64_t ws, uint32_t uid,
                              void (*cb)(void *, const struct ident_row *), void *ctx) {
    struct ident_cb ic = {cb, ctx};
    int64_t i[] = {ws, uid};
    return pg_txn_rows(s, t,
                       "SELECT uid, label, name FROM aliases WHERE workspace_id = $1 AND uid = $2 "
                       "ORDER BY label, name",
                       "ii", NULL, i, row_ident, &ic);
}

static enum cd_err device_put(struct store_txn *s, int64_t ws, const char *device_id,
                              uint32_t uid) {
    const char *t[] = {device_id};
    int64_t i[] = {ws, uid};
    return pg_txn_write(s,
                        "INSERT INTO devices(device_id, workspace_id, uid) VALUES ($1,$2,$3) "
                        "ON CONFLICT(workspace_id, device_id) DO UPDATE SET uid = excluded.uid",
                        "tii", t, i, NULL);
}

static enum cd_err devices_of(struct store *s, struct store_txn *t, int64_t ws, uint32_t uid,
                              void (*cb)(void *, const struct ident_row *), void *ctx) {
    struct ident_cb ic = {cb, ctx};
    int64_t i[] = {ws, uid};
    return pg_txn_rows(s, t,
                       "SELECT uid, device_id FROM devices WHERE workspace_id = $1 AND uid = $2 "
                       "ORDER BY device_id",
                       "ii", NULL, i, row_ident, &ic);
}

/* events_bump in three statements over the rows as arrays: the summaries (rows of one key
 * added up first: one statement may not update a row twice), the kept times of custom events
 * (min(count, STORE_EVENT_RECENT) copies of each row's time), then the trim of the touched
 * keys to their STORE_EVENT_RECENT newest times. */
static enum cd_err events_bump(struct store_txn *t, int64_t ws, const struct event_bump_row *rows,
                               size_t n) {
    if (n == 0)
        return CD_OK;
    int64_t *v = malloc(4 * n * sizeof *v);
    if (!v)
        return CD_E_NOMEM;
    bool custom = false;
    for (size_t k = 0; k < n; k++) {
        v[k] = rows[k].uid;
        v[n + k] = rows[k].kind;
        v[2 * n + k] = rows[k].count;
        v[3 * n + k] = rows[k].at;
        custom = custom || rows[k].kind == EVENT_KIND_CUSTOM;
    }
    char *uids = pg_array_ints(v, n);
    char *kinds = pg_array_ints(v + n, n);
    char *counts = pg_array_ints(v + 2 * n, n);
    char *ats = pg_array_ints(v + 3 * n, n);
    char *names = pg_array_texts(&rows[0].name, n, sizeof rows[0]);
    free(v);
    enum cd_err err = CD_E_NOMEM;
    if (uids && kinds && counts && ats && names) {
        const char *tx[] = {uids, kinds, names, counts, ats};
        int64_t i[] = {ws};
        err = pg_txn_write(
            t,
            "INSERT INTO user_events(workspace_id, uid, kind, name, count, first_at, last_at) "
            "SELECT $6, u, k, n, sum(c), min(a), max(a) FROM unnest($1::bigint[], $2::int[], "
            "$3::text[], $4::bigint[], $5::bigint[]) AS x(u, k, n, c, a) GROUP BY u, k, n "
            "ON CONFLICT (workspace_id, uid, kind, name) DO UPDATE SET "
            "count = user_events.count + excluded.count, "
            "first_at = least(user_events.first_at, excluded.first_at), "
            "last_at = greatest(user_events.last_at, excluded.last_at)",
            "ttttti", tx, i, NULL);
        if (err == CD_OK && custom)
            err = pg_txn_write(t,
                               "INSERT INTO user_event_times(workspace_id, uid, kind, name, at) "
                               "SELECT $6, u, k, n, a FROM unnest($1::bigint[], $2::int[], "
                               "$3::text[], $4::bigint[], $5::bigint[]) AS x(u, k, n, c, a), "
                               "generate_series(1, least(c, " RECENT_SQL ")) "
                               "WHERE k = 0 AND c > 0",
                               "ttttti", tx, i, NULL);
        if (err == CD_OK && custom)
            err = pg_txn_write(t,
                               "DELETE FROM user_event_times t USING (SELECT ctid AS r, "
                               "row_number() OVER (PARTITION BY uid, name ORDER BY at DESC) AS rn "
                               "FROM user_event_times WHERE workspace_id = $6 AND kind = 0 AND "
                               "(uid, name) IN (SELECT u, n FROM unnest($1::bigint[], $2::int[], "
                               "$3::text[]) AS x(u, k, n) WHERE k = 0)) d "
                               "WHERE t.ctid = d.r AND d.rn > " RECENT_SQL,
                               "ttttti", tx, i, NULL);
    }
    free(uids);
    free(kinds);
    free(counts);
    free(ats);
    free(names);
    return err;
}

struct event_cb {
    void (*cb)(void *, const struct event_summary_row *);
    void *ctx;
};

static void row_event(struct pg_row *r, void *ctx) {
    struct event_cb *ec = ctx;
    struct event_summary_row row = {
        .kind = pg_int(r, 0) == EVENT_KIND_PURCHASE ? EVENT_KIND_PURCHASE : EVENT_KIND_CUSTOM,
        .name = pg_text(r, 1),
        .count = pg_int(r, 2),
        .first_at = pg_int(r, 3),
        .last_at = pg_int(r, 4),
    };
    ec->cb(ec->ctx, &row);
}

static enum cd_err events_of(struct store *s, struct store_txn *t, int64_t ws, uint32_t uid,
                             void (*cb)(void *, const struct event_summary_row *), void *ctx) {
    struct event_cb ec = {cb, ctx};
    int64_t i[] = {ws, uid};
    return pg_txn_rows(s, t,
                       "SELECT kind, name, count, first_at, last_at FROM user_events "
                       "WHERE workspace_id = $1 AND uid = $2 ORDER BY kind, name",
                       "ii", NULL, i, row_event, &ec);
}

static enum cd_err merge_into(struct store_txn *s, int64_t ws, uint32_t from, uint32_t to) {
    int64_t i[] = {ws, from, to};
    enum cd_err err = pg_txn_write(s,
                                   "INSERT INTO user_events(workspace_id, uid, kind, name, count, "
                                   "first_at, last_at) SELECT workspace_id, $3, kind, name, count, "
                                   "first_at, last_at FROM user_events WHERE workspace_id = $1 AND "
                                   "uid = $2 ON CONFLICT (workspace_id, uid, kind, name) DO "
                                   "UPDATE SET count = user_events.count + excluded.count, "
                                   "first_at = least(user_events.first_at, excluded.first_at), "
                                   "last_at = greatest(user_events.last_at, excluded.last_at)",
                                   "iii", NULL, i, NULL);
    if (err == CD_OK)
        err = pg_txn_write(
            s, "UPDATE user_event_times SET uid = $3 WHERE workspace_id = $1 AND uid = $2", "iii",
            NULL, i, NULL);
    if (err == CD_OK)
        err = pg_txn_write(s,
                           "DELETE FROM user_event_times t USING (SELECT ctid AS r, row_number() "
                           "OVER (PARTITION BY kind, name ORDER BY at DESC) AS rn FROM "
                           "user_event_times WHERE workspace_id = $1 AND uid = $3) d "
                           "WHERE t.ctid = d.r AND d.rn > " RECENT_SQL,
                           "iii", NULL, i, NULL);
    if (err == CD_OK)
        err = pg_txn_write(s, "UPDATE aliases SET uid = $3 WHERE workspace_id = $1 AND uid = $2",
                           "iii", NULL, i, NULL);
    if (err == CD_OK)
        err = pg_txn_write(s, "UPDATE devices SET uid = $3 WHERE workspace_id = $1 AND uid = $2",
                           "iii", NULL, i, NULL);
    return err;
}

static enum cd_err range(struct store *s, int64_t ws, uint32_t from, int64_t limit,
                         void (*cb)(void *, const struct user_row *), void *ctx) {
    struct user_cb uc = {cb, ctx};
    int64_t i[] = {ws, from, limit < 0 ? INT64_MAX : limit};
    return pg_rows(s,
                   "SELECT " USER_COLS " FROM users WHERE workspace_id = $1 AND uid >= $2 "
                   "ORDER BY uid LIMIT $3",
                   "iii", NULL, i, row_user, &uc);
}

/* The loads read with a binary COPY (pg_copy_rows): one result per table instead of one per
 * row, integers not converted to text and back. */
struct copy_user_cb {
    void (*cb)(void *, const struct user_row *);
    void *ctx;
    bool bad; /* a row of the wrong shape */
};

static void copy_user(const struct pg_copy_row *r, void *ctx) {
    struct copy_user_cb *uc = ctx;
    if (r->n != 8 || !r->v[1]) {
        uc->bad = true;
        return;
    }
    struct user_row u = {
        .uid = (uint32_t)pg_copy_int(r, 0),
        .braze_id = r->v[1],
        .external_id = r->v[2],
        .created_anonymous = pg_copy_int(r, 3) != 0,
        .deleted = pg_copy_int(r, 4) != 0,
        .attrs = r->v[5],
        .created_at = pg_copy_int(r, 6),
        .updated_at = pg_copy_int(r, 7),
    };
    uc->cb(uc->ctx, &u);
}

static enum cd_err load_users(struct store *s, int64_t ws,
                              void (*cb)(void *, const struct user_row *), void *ctx) {
    struct copy_user_cb uc = {cb, ctx, false};
    char sql[192];
    snprintf(sql, sizeof sql,
             "SELECT " USER_COLS " FROM users WHERE workspace_id = %lld ORDER BY uid",
             (long long)ws);
    enum cd_err err = pg_copy_rows(s, sql, copy_user, &uc);
    return err == CD_OK && uc.bad ? CD_E_STORE : err;
}

struct copy_ident_cb {
    void (*cb)(void *, const struct ident_row *);
    void *ctx;
    int cols;
    bool bad;
};

static void copy_ident(const struct pg_copy_row *r, void *ctx) {
    struct copy_ident_cb *ic = ctx;
    if (r->n != ic->cols || !r->v[1] || (ic->cols > 2 && !r->v[2])) {
        ic->bad = true;
        return;
    }
    struct ident_row row = {
        .uid = (uint32_t)pg_copy_int(r, 0),
        .a = r->v[1],
        .b = ic->cols > 2 ? r->v[2] : NULL,
    };
    ic->cb(ic->ctx, &row);
}

static enum cd_err load_idents(struct store *s, const char *select, int cols,
                               void (*cb)(void *, const struct ident_row *), void *ctx) {
    struct copy_ident_cb ic = {cb, ctx, cols, false};
    enum cd_err err = pg_copy_rows(s, select, copy_ident, &ic);
    return err == CD_OK && ic.bad ? CD_E_STORE : err;
}

static enum cd_err load_aliases(struct store *s, int64_t ws,
                                void (*cb)(void *, const struct ident_row *), void *ctx) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT uid, label, name FROM aliases WHERE workspace_id = %lld",
             (long long)ws);
    return load_idents(s, sql, 3, cb, ctx);
}

static enum cd_err load_devices(struct store *s, int64_t ws,
                                void (*cb)(void *, const struct ident_row *), void *ctx) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT uid, device_id FROM devices WHERE workspace_id = %lld",
             (long long)ws);
    return load_idents(s, sql, 2, cb, ctx);
}

struct event_load_cb {
    void (*cb)(void *, uint32_t, const struct event_summary_row *);
    void *ctx;
    int64_t *times; /* reused for every row */
    size_t cap;
    int failed;
};

/* Parses "t1,t2,…" (string_agg) into ec->times; returns the count. */
static size_t parse_times(struct event_load_cb *ec, const char *text) {
    size_t n = 0;
    while (text && *text) {
        char *end;
        long long v = strtoll(text, &end, 10);
        if (end == text)
            break;
        if (n == ec->cap) {
            size_t cap = ec->cap ? ec->cap * 2 : STORE_EVENT_RECENT;
            int64_t *t = realloc(ec->times, cap * sizeof *t);
            if (!t) {
                ec->failed = 1;
                break;
            }
            ec->times = t;
            ec->cap = cap;
        }
        ec->times[n++] = v;
        text = *end == ',' ? end + 1 : end;
    }
    return n;
}

static void row_event_load(struct pg_row *r, void *ctx) {
    struct event_load_cb *ec = ctx;
    struct event_summary_row row = {
        .kind = pg_int(r, 1) == EVENT_KIND_PURCHASE ? EVENT_KIND_PURCHASE : EVENT_KIND_CUSTOM,
        .name = pg_text(r, 2),
        .count = pg_int(r, 3),
        .first_at = pg_int(r, 4),
        .last_at = pg_int(r, 5),
    };
    row.n_recent = parse_times(ec, pg_text(r, 6));
    row.recent = row.n_recent ? ec->times : NULL;
    ec->cb(ec->ctx, (uint32_t)pg_int(r, 0), &row);
}

static enum cd_err load_events(struct store *s, int64_t ws,
                               void (*cb)(void *, uint32_t, const struct event_summary_row *),
                               void *ctx) {
    struct event_load_cb ec = {cb, ctx, NULL, 0, 0};
    int64_t i[] = {ws};
    enum cd_err err =
        pg_rows(s,
                "SELECT e.uid, e.kind, e.name, e.count, e.first_at, e.last_at, "
                "(SELECT string_agg(t.at::text, ',') FROM user_event_times t WHERE "
                "t.workspace_id = e.workspace_id AND t.uid = e.uid AND t.kind = e.kind AND "
                "t.name = e.name) FROM user_events e WHERE e.workspace_id = $1",
                "i", NULL, i, row_event_load, &ec);
    free(ec.times);
    return err == CD_OK && ec.failed ? CD_E_NOMEM : err;
}

/* Several nodes write one PostgreSQL store: a node-local snapshot has no change positions to
 * check against (docs/internals/snapshot.md), so this store offers none. */
static enum cd_err snapshot_mark(struct store *s, int64_t ws, struct store_snapshot_mark *out) {
    (void)s;
    (void)ws;
    memset(out, 0, sizeof *out);
    return CD_OK;
}

/* No positions here (see snapshot_mark): every load is a full load. */
static enum cd_err changed_since(struct store *s, int64_t ws, int64_t after,
                                 void (*cb)(void *, uint32_t), void *ctx, bool *supported) {
    (void)s;
    (void)ws;
    (void)after;
    (void)cb;
    (void)ctx;
    *supported = false;
    return CD_OK;
}

static enum cd_err load_changed(struct store *s, int64_t ws, int64_t after,
                                const struct store_user_load *fns, void *ctx) {
    (void)s;
    (void)ws;
    (void)after;
    (void)fns;
    (void)ctx;
    return CD_E_INVALID;
}

static enum cd_err changes_prune(struct store *s, int64_t ws, int64_t before) {
    (void)s;
    (void)ws;
    (void)before;
    return CD_OK;
}

const struct store_user_ops postgres_user_ops = {
    .uid_next = uid_next,
    .insert = insert,
    .set_external_id = set_external_id,
    .set_attrs = set_attrs,
    .remove = remove_user,
    .get = get,
    .aliases_put = aliases_put,
    .aliases_of = aliases_of,
    .device_put = device_put,
    .devices_of = devices_of,
    .events_bump = events_bump,
    .events_of = events_of,
    .merge_into = merge_into,
    .range = range,
    .load_users = load_users,
    .load_aliases = load_aliases,
    .load_devices = load_devices,
    .load_events = load_events,
    .snapshot_mark = snapshot_mark,
    .changed_since = changed_since,
    .load_changed = load_changed,
    .changes_prune = changes_prune,
};
