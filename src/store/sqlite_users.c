/*
 * sqlite_users.c — users, their aliases and devices, and per-user event summaries in SQLite
 * (store_user_ops). Users are never removed, only marked deleted, so a uid is never reused
 * and a stale cohort bit can never point at a new user.
 */
#include "store/sqlite_int.h"

#include <stdlib.h>
#include <string.h>

/* STORE_EVENT_RECENT as SQL text */
#define SQ_STR(x) #x
#define SQ_NUM(x) SQ_STR(x)
#define RECENT_SQL SQ_NUM(STORE_EVENT_RECENT)

#define USER_COLS                                                                                  \
    "uid, braze_id, external_id, created_anonymous, deleted, attrs, created_at, updated_at"

struct user_cb {
    void (*cb)(void *, const struct user_row *);
    void *ctx;
};

static void row_user(sqlite3_stmt *st, void *ctx) {
    struct user_cb *uc = ctx;
    struct user_row u = {
        .uid = (uint32_t)sqlite3_column_int64(st, 0),
        .braze_id = sq_col_text(st, 1),
        .external_id = sq_col_text(st, 2),
        .created_anonymous = sqlite3_column_int(st, 3) != 0,
        .deleted = sqlite3_column_int(st, 4) != 0,
        .attrs = sq_col_text(st, 5),
        .created_at = sqlite3_column_int64(st, 6),
        .updated_at = sqlite3_column_int64(st, 7),
    };
    uc->cb(uc->ctx, &u);
}

struct ident_cb {
    void (*cb)(void *, const struct ident_row *);
    void *ctx;
};

static void row_ident(sqlite3_stmt *st, void *ctx) {
    struct ident_cb *ic = ctx;
    struct ident_row r = {
        .uid = (uint32_t)sqlite3_column_int64(st, 0),
        .a = sq_col_text(st, 1),
        .b = sqlite3_column_count(st) > 2 ? sq_col_text(st, 2) : NULL,
    };
    ic->cb(ic->ctx, &r);
}

static void row_count(sqlite3_stmt *st, void *ctx) {
    *(int64_t *)ctx = sqlite3_column_int64(st, 0);
}

static void row_uid(sqlite3_stmt *st, void *ctx) {
    *(uint32_t *)ctx = (uint32_t)sqlite3_column_int64(st, 0);
}

static enum cd_err uid_next(struct store_txn *t, int64_t ws, uint32_t *uid) {
    int64_t i[] = {ws};
    *uid = 0;
    enum cd_err err = sq_txn_read_row(t->s, t,
                                      "SELECT coalesce(max(uid), 0) + 1 FROM users "
                                      "WHERE workspace_id = ?",
                                      "i", NULL, i, row_uid, uid);
    return err == CD_OK && (*uid == 0 || *uid == UINT32_MAX) ? CD_E_INTERNAL : err;
}

static enum cd_err insert(struct store_txn *tx, int64_t ws, const struct user_row *u) {
    const char *t[] = {u->braze_id, u->external_id, u->attrs ? u->attrs : "{}"};
    int64_t i[] = {ws, u->uid, u->created_anonymous, u->created_at, u->updated_at};
    return sq_txn_write(
        tx,
        "INSERT INTO users(workspace_id, uid, braze_id, external_id, created_anonymous,"
        " attrs, created_at, updated_at) VALUES (?4, ?5, ?1, ?2, ?6, ?3, ?7, ?8)",
        "tttiiiii", t, i, NULL);
}

static enum cd_err set_external_id(struct store_txn *s, int64_t ws, uint32_t uid, const char *ext,
                                   int64_t now) {
    const char *t[] = {ext};
    int64_t i[] = {ws, uid, now};
    return sq_txn_write(s,
                        "UPDATE users SET external_id = ?1, updated_at = ?4 "
                        "WHERE workspace_id = ?2 AND uid = ?3",
                        "tiii", t, i, NULL);
}

static enum cd_err set_attrs(struct store_txn *s, int64_t ws, uint32_t uid, const char *attrs,
                             int64_t now) {
    const char *t[] = {attrs};
    int64_t i[] = {ws, uid, now};
    return sq_txn_write(s,
                        "UPDATE users SET attrs = ?1, updated_at = ?4 "
                        "WHERE workspace_id = ?2 AND uid = ?3",
                        "tiii", t, i, NULL);
}

static enum cd_err remove_user(struct store_txn *s, int64_t ws, uint32_t uid, int64_t now) {
    int64_t i[] = {ws, uid, now};
    enum cd_err err =
        sq_txn_write(s,
                     "UPDATE users SET deleted = 1, external_id = NULL, attrs = '{}', "
                     "updated_at = ?3 WHERE workspace_id = ?1 AND uid = ?2",
                     "iii", NULL, i, NULL);
    if (err == CD_OK)
        err = sq_txn_write(s, "DELETE FROM aliases WHERE workspace_id = ?1 AND uid = ?2", "ii",
                           NULL, i, NULL);
    if (err == CD_OK)
        err = sq_txn_write(s, "DELETE FROM devices WHERE workspace_id = ?1 AND uid = ?2", "ii",
                           NULL, i, NULL);
    if (err == CD_OK)
        err = sq_txn_write(s, "DELETE FROM user_events WHERE workspace_id = ?1 AND uid = ?2", "ii",
                           NULL, i, NULL);
    if (err == CD_OK)
        err = sq_txn_write(s, "DELETE FROM user_event_times WHERE workspace_id = ?1 AND uid = ?2",
                           "ii", NULL, i, NULL);
    return err;
}

static enum cd_err get(struct store *s, struct store_txn *t, int64_t ws, uint32_t uid,
                       void (*cb)(void *, const struct user_row *), void *ctx) {
    struct user_cb uc = {cb, ctx};
    int64_t i[] = {ws, uid};
    return sq_txn_read_row(s, t,
                           "SELECT " USER_COLS " FROM users WHERE workspace_id = ? AND uid = ?",
                           "ii", NULL, i, row_user, &uc);
}

static enum cd_err aliases_put(struct store_txn *t, int64_t ws, const struct ident_row *rows,
                               size_t n) {
    enum cd_err err = CD_OK;
    for (size_t k = 0; err == CD_OK && k < n; k++) {
        const char *tx[] = {rows[k].a, rows[k].b};
        int64_t i[] = {ws, rows[k].uid};
        err = sq_txn_write(t,
                           "INSERT INTO aliases(label, name, workspace_id, uid) VALUES (?,?,?,?) "
                           "ON CONFLICT(workspace_id, label, name) DO UPDATE SET uid = "
                           "excluded.uid",
                           "ttii", tx, i, NULL);
    }
    return err;
}

static enum cd_err aliases_of(struct store *s, struct store_txn *t, int64_t ws, uint32_t uid,
                              void (*cb)(void *, const struct ident_row *), void *ctx) {
    struct ident_cb ic = {cb, ctx};
    int64_t i[] = {ws, uid};
    return sq_txn_rows(s, t,
                       "SELECT uid, label, name FROM aliases WHERE workspace_id = ? AND uid = ? "
                       "ORDER BY label, name",
                       "ii", NULL, i, row_ident, &ic);
}

static enum cd_err device_put(struct store_txn *s, int64_t ws, const char *device_id,
                              uint32_t uid) {
    const char *t[] = {device_id};
    int64_t i[] = {ws, uid};
    return sq_txn_write(s,
                        "INSERT INTO devices(device_id, workspace_id, uid) VALUES (?,?,?) "
                        "ON CONFLICT(workspace_id, device_id) DO UPDATE SET uid = excluded.uid",
                        "tii", t, i, NULL);
}

static enum cd_err devices_of(struct store *s, struct store_txn *t, int64_t ws, uint32_t uid,
                              void (*cb)(void *, const struct ident_row *), void *ctx) {
    struct ident_cb ic = {cb, ctx};
    int64_t i[] = {ws, uid};
    return sq_txn_rows(s, t,
                       "SELECT uid, device_id FROM devices WHERE workspace_id = ? AND uid = ? "
                       "ORDER BY device_id",
                       "ii", NULL, i, row_ident, &ic);
}

/* One row of events_bump: the summary, then for a custom event its kept times. The trim runs
 * only once the user may hold more than STORE_EVENT_RECENT times of the event. */
static enum cd_err event_bump(struct store_txn *s, int64_t ws, const struct event_bump_row *r) {
    const char *t[] = {r->name};
    int64_t i[] = {ws, r->uid, r->kind, r->count, r->at};
    int64_t total = 0;
    enum cd_err err =
        sq_txn_write(s,
                     "INSERT INTO user_events(name, workspace_id, uid, kind, count, first_at, "
                     "last_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) "
                     "ON CONFLICT(workspace_id, uid, kind, name) DO UPDATE SET "
                     "count = count + excluded.count, first_at = min(first_at, excluded.first_at), "
                     "last_at = max(last_at, excluded.last_at)",
                     "tiiiii", t, i, NULL);
    if (err != CD_OK || r->kind != EVENT_KIND_CUSTOM)
        return err;
    /* min(count, STORE_EVENT_RECENT) times, then only the newest STORE_EVENT_RECENT stay */
    err = sq_txn_write(s,
                       "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n "
                       "WHERE k < min(?5, " RECENT_SQL ")) "
                       "INSERT INTO user_event_times(workspace_id, uid, kind, name, at) "
                       "SELECT ?2, ?3, ?4, ?1, ?6 FROM n WHERE ?5 > 0",
                       "tiiiii", t, i, NULL);
    if (err == CD_OK)
        err = sq_txn_read_row(s->s, s,
                              "SELECT count FROM user_events WHERE workspace_id = ?2 AND uid = ?3 "
                              "AND kind = ?4 AND name = ?1",
                              "tiii", t, i, row_count, &total);
    if (err == CD_OK && total > STORE_EVENT_RECENT)
        err = sq_txn_write(s,
                           "DELETE FROM user_event_times WHERE rowid IN (SELECT rowid FROM "
                           "user_event_times WHERE workspace_id = ?2 AND uid = ?3 AND kind = ?4 "
                           "AND name = ?1 ORDER BY at DESC LIMIT -1 OFFSET " RECENT_SQL ")",
                           "tiii", t, i, NULL);
    return err;
}

static enum cd_err events_bump(struct store_txn *t, int64_t ws, const struct event_bump_row *rows,
                               size_t n) {
    enum cd_err err = CD_OK;
    for (size_t k = 0; err == CD_OK && k < n; k++)
        err = event_bump(t, ws, &rows[k]);
    return err;
}

struct event_cb {
    void (*cb)(void *, const struct event_summary_row *);
    void *ctx;
};

static void row_event(sqlite3_stmt *st, void *ctx) {
    struct event_cb *ec = ctx;
    struct event_summary_row r = {
        .kind = sqlite3_column_int(st, 0) == EVENT_KIND_PURCHASE ? EVENT_KIND_PURCHASE
                                                                 : EVENT_KIND_CUSTOM,
        .name = sq_col_text(st, 1),
        .count = sqlite3_column_int64(st, 2),
        .first_at = sqlite3_column_int64(st, 3),
        .last_at = sqlite3_column_int64(st, 4),
    };
    ec->cb(ec->ctx, &r);
}

static enum cd_err events_of(struct store *s, struct store_txn *t, int64_t ws, uint32_t uid,
                             void (*cb)(void *, const struct event_summary_row *), void *ctx) {
    struct event_cb ec = {cb, ctx};
    int64_t i[] = {ws, uid};
    return sq_txn_rows(s, t,
                       "SELECT kind, name, count, first_at, last_at FROM user_events "
                       "WHERE workspace_id = ? AND uid = ? ORDER BY kind, name",
                       "ii", NULL, i, row_event, &ec);
}

static enum cd_err merge_into(struct store_txn *s, int64_t ws, uint32_t from, uint32_t to) {
    int64_t i[] = {ws, from, to};
    enum cd_err err = sq_txn_write(s,
                                   "INSERT INTO user_events(workspace_id, uid, kind, name, count, "
                                   "first_at, last_at) SELECT workspace_id, ?3, kind, name, count, "
                                   "first_at, last_at FROM user_events WHERE workspace_id = ?1 AND "
                                   "uid = ?2 AND 1 ON CONFLICT(workspace_id, uid, kind, name) DO "
                                   "UPDATE SET count = count + excluded.count, "
                                   "first_at = min(first_at, excluded.first_at), "
                                   "last_at = max(last_at, excluded.last_at)",
                                   "iii", NULL, i, NULL);
    if (err == CD_OK)
        err = sq_txn_write(
            s, "UPDATE user_event_times SET uid = ?3 WHERE workspace_id = ?1 AND uid = ?2", "iii",
            NULL, i, NULL);
    if (err == CD_OK)
        err =
            sq_txn_write(s,
                         "DELETE FROM user_event_times WHERE rowid IN (SELECT r FROM (SELECT rowid "
                         "AS r, row_number() OVER (PARTITION BY kind, name ORDER BY at DESC) AS rn "
                         "FROM user_event_times WHERE workspace_id = ?1 AND uid = ?3) "
                         "WHERE rn > " RECENT_SQL ")",
                         "iii", NULL, i, NULL);
    if (err == CD_OK)
        err = sq_txn_write(s, "UPDATE aliases SET uid = ?3 WHERE workspace_id = ?1 AND uid = ?2",
                           "iii", NULL, i, NULL);
    if (err == CD_OK)
        err = sq_txn_write(s, "UPDATE devices SET uid = ?3 WHERE workspace_id = ?1 AND uid = ?2",
                           "iii", NULL, i, NULL);
    return err;
}

static enum cd_err range(struct store *s, int64_t ws, uint32_t from, int64_t limit,
                         void (*cb)(void *, const struct user_row *), void *ctx) {
    struct user_cb uc = {cb, ctx};
    int64_t i[] = {ws, from, limit};
    return sq_rows(s,
                   "SELECT " USER_COLS " FROM users WHERE workspace_id = ? AND uid >= ? "
                   "ORDER BY uid LIMIT ?",
                   "iii", NULL, i, row_user, &uc);
}

static enum cd_err load_users(struct store *s, int64_t ws,
                              void (*cb)(void *, const struct user_row *), void *ctx) {
    return range(s, ws, 0, -1, cb, ctx); /* LIMIT -1: no limit */
}

static enum cd_err load_aliases(struct store *s, int64_t ws,
                                void (*cb)(void *, const struct ident_row *), void *ctx) {
    struct ident_cb ic = {cb, ctx};
    int64_t i[] = {ws};
    return sq_rows(s, "SELECT uid, label, name FROM aliases WHERE workspace_id = ?", "i", NULL, i,
                   row_ident, &ic);
}

static enum cd_err load_devices(struct store *s, int64_t ws,
                                void (*cb)(void *, const struct ident_row *), void *ctx) {
    struct ident_cb ic = {cb, ctx};
    int64_t i[] = {ws};
    return sq_rows(s, "SELECT uid, device_id FROM devices WHERE workspace_id = ?", "i", NULL, i,
                   row_ident, &ic);
}

struct event_load_cb {
    void (*cb)(void *, uint32_t, const struct event_summary_row *);
    void *ctx;
    int64_t *times; /* reused for every row */
    size_t cap;
    int failed;
};

/* Parses "t1,t2,…" (group_concat) into ec->times; returns the count. */
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

static void row_event_load(sqlite3_stmt *st, void *ctx) {
    struct event_load_cb *ec = ctx;
    struct event_summary_row r = {
        .kind = sqlite3_column_int(st, 1) == EVENT_KIND_PURCHASE ? EVENT_KIND_PURCHASE
                                                                 : EVENT_KIND_CUSTOM,
        .name = sq_col_text(st, 2),
        .count = sqlite3_column_int64(st, 3),
        .first_at = sqlite3_column_int64(st, 4),
        .last_at = sqlite3_column_int64(st, 5),
    };
    r.n_recent = parse_times(ec, sq_col_text(st, 6));
    r.recent = r.n_recent ? ec->times : NULL;
    ec->cb(ec->ctx, (uint32_t)sqlite3_column_int64(st, 0), &r);
}

/* Every event summary of workspace ?1 with its kept times. */
#define EVENTS_LOAD_SQL                                                                            \
    "SELECT e.uid, e.kind, e.name, e.count, e.first_at, e.last_at, "                               \
    "(SELECT group_concat(t.at) FROM user_event_times t WHERE t.workspace_id = e.workspace_id "    \
    "AND t.uid = e.uid AND t.kind = e.kind AND t.name = e.name) "                                  \
    "FROM user_events e WHERE e.workspace_id = ?1"

static enum cd_err load_events(struct store *s, int64_t ws,
                               void (*cb)(void *, uint32_t, const struct event_summary_row *),
                               void *ctx) {
    struct event_load_cb ec = {cb, ctx, NULL, 0, 0};
    int64_t i[] = {ws};
    enum cd_err err = sq_rows(s, EVENTS_LOAD_SQL, "i", NULL, i, row_event_load, &ec);
    free(ec.times);
    return err == CD_OK && ec.failed ? CD_E_NOMEM : err;
}

static void row_mark(sqlite3_stmt *st, void *ctx) {
    struct store_snapshot_mark *m = ctx;
    const void *id = sqlite3_column_blob(st, 0);
    if (id && sqlite3_column_bytes(st, 0) == (int)sizeof m->store_id) {
        memcpy(m->store_id, id, sizeof m->store_id);
        m->supported = true;
    }
    m->user_seq = sqlite3_column_int64(st, 1);
    m->log_seq = sqlite3_column_int64(st, 2);
}

/* The user change position is the last seq of user_changes (appended to by the triggers of
 * migration 17 on every table the load reads users from, never deleted from, so it never goes
 * back); the log position is cohort_log's AUTOINCREMENT counter (never reused). */
static enum cd_err snapshot_mark(struct store *s, int64_t ws, struct store_snapshot_mark *out) {
    (void)ws; /* both positions are the store's: one counter each for every workspace */
    memset(out, 0, sizeof *out);
    return sq_read_row(s,
                       "SELECT (SELECT id FROM store_identity LIMIT 1), "
                       "coalesce((SELECT max(seq) FROM user_changes), 0), "
                       "coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'cohort_log'), 0)",
                       "", NULL, NULL, row_mark, out);
}

/* The uids of workspace ?1 changed after position ?2: a range of user_changes' primary key. */
#define CHANGED_SQL "SELECT uid FROM user_changes WHERE seq > ?2 AND workspace_id = ?1"

struct uid_cb {
    void (*cb)(void *, uint32_t);
    void *ctx;
};

static void row_changed(sqlite3_stmt *st, void *ctx) {
    struct uid_cb *uc = ctx;
    uc->cb(uc->ctx, (uint32_t)sqlite3_column_int64(st, 0));
}

static enum cd_err changed_since(struct store *s, int64_t ws, int64_t after,
                                 void (*cb)(void *, uint32_t), void *ctx, bool *supported) {
    struct uid_cb uc = {cb, ctx};
    int64_t i[] = {ws, after};
    *supported = true;
    return sq_rows(s, "SELECT DISTINCT uid FROM (" CHANGED_SQL ")", "ii", NULL, i, row_changed,
                   &uc);
}

static enum cd_err load_changed(struct store *s, int64_t ws, int64_t after,
                                const struct store_user_load *fns, void *ctx) {
    int64_t i[] = {ws, after};
    struct user_cb uc = {fns->user, ctx};
    enum cd_err err = sq_rows(s,
                              "SELECT " USER_COLS " FROM users WHERE workspace_id = ?1 AND uid IN "
                              "(" CHANGED_SQL ") ORDER BY uid",
                              "ii", NULL, i, row_user, &uc);
    struct ident_cb ac = {fns->alias, ctx}, dc = {fns->device, ctx};
    if (err == CD_OK)
        err = sq_rows(s,
                      "SELECT uid, label, name FROM aliases WHERE workspace_id = ?1 AND uid IN "
                      "(" CHANGED_SQL ")",
                      "ii", NULL, i, row_ident, &ac);
    if (err == CD_OK)
        err = sq_rows(s,
                      "SELECT uid, device_id FROM devices WHERE workspace_id = ?1 AND uid IN "
                      "(" CHANGED_SQL ")",
                      "ii", NULL, i, row_ident, &dc);
    if (err != CD_OK)
        return err;
    struct event_load_cb ec = {fns->event, ctx, NULL, 0, 0};
    err = sq_rows(s, EVENTS_LOAD_SQL " AND e.uid IN (" CHANGED_SQL ")", "ii", NULL, i,
                  row_event_load, &ec);
    free(ec.times);
    return err == CD_OK && ec.failed ? CD_E_NOMEM : err;
}

/* Change positions removed per statement by changes_prune. */
#define PRUNE_CHUNK 20000

static void row_range(sqlite3_stmt *st, void *ctx) {
    int64_t *v = ctx;
    v[0] = sqlite3_column_int64(st, 0);
    v[1] = sqlite3_column_int64(st, 1);
}

/* Below `before` and below the last position: that row always stays, so that seq (a rowid
 * without AUTOINCREMENT) never goes back. */
static enum cd_err changes_prune(struct store *s, int64_t ws, int64_t before) {
    int64_t range[2] = {0, 0};
    enum cd_err err =
        sq_read_row(s, "SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM user_changes", "",
                    NULL, NULL, row_range, range);
    if (before > range[1])
        before = range[1];
    for (int64_t lo = range[0]; err == CD_OK && lo < before; lo += PRUNE_CHUNK) {
        int64_t hi = lo + PRUNE_CHUNK < before ? lo + PRUNE_CHUNK : before;
        int64_t i[] = {ws, lo, hi};
        err = sq_write(s,
                       "DELETE FROM user_changes WHERE seq >= ?2 AND seq < ?3 AND "
                       "workspace_id = ?1",
                       "iii", NULL, i, NULL);
    }
    return err;
}

const struct store_user_ops sqlite_user_ops = {
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
