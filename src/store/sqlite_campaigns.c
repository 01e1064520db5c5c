/*
 * sqlite_campaigns.c — campaigns, Canvases, dispatches and deliveries in SQLite
 * (store_campaign_ops). A dispatch row holds its audience and the targets of its current step as
 * portable Roaring bitmaps; the deliveries table has one row per (dispatch, step, user) whose
 * outcome is final, so a restarted sender skips exactly the users already done.
 */
#include "store/sqlite_int.h"

#define CAMPAIGN_COLS                                                                              \
    "id, workspace_id, kind, public_id, name, segment_id, definition, schedule_type, "             \
    "entry_partner, entry_cohort, created_at, archived_at, n_entered, n_sent, n_failed"

#define DISPATCH_COLS                                                                              \
    "id, workspace_id, campaign, dispatch_id, send_id, properties, step, due_at, audience, "       \
    "targets, created_at"

struct campaign_cb {
    void (*cb)(void *, const struct campaign_row *);
    void *ctx;
};

static void row_campaign(sqlite3_stmt *st, void *ctx) {
    struct campaign_cb *cc = ctx;
    struct campaign_row r = {
        .id = sqlite3_column_int64(st, 0),
        .workspace_id = sqlite3_column_int64(st, 1),
        .kind = (enum campaign_kind)sqlite3_column_int(st, 2),
        .public_id = sq_col_text(st, 3),
        .name = sq_col_text(st, 4),
        .segment_id = sq_col_text(st, 5),
        .definition = sq_col_text(st, 6),
        .schedule_type = sq_col_text(st, 7),
        .entry_partner = sq_col_text(st, 8),
        .entry_cohort = sq_col_text(st, 9),
        .created_at = sqlite3_column_int64(st, 10),
        .archived_at = sqlite3_column_int64(st, 11),
        .n_entered = sqlite3_column_int64(st, 12),
        .n_sent = sqlite3_column_int64(st, 13),
        .n_failed = sqlite3_column_int64(st, 14),
    };
    cc->cb(cc->ctx, &r);
}

static void row_id(sqlite3_stmt *st, void *ctx) {
    *(int64_t *)ctx = sqlite3_column_int64(st, 0);
}

static enum cd_err create(struct store_txn *tx, const struct campaign_row *r, int64_t *id) {
    const char *t[] = {r->public_id,     r->name,          r->segment_id,  r->definition,
                       r->schedule_type, r->entry_partner, r->entry_cohort};
    int64_t i[] = {r->workspace_id, r->kind, r->created_at};
    enum cd_err err =
        sq_txn_write(tx,
                     "INSERT INTO campaigns(public_id, name, segment_id, definition, "
                     "schedule_type, entry_partner, entry_cohort, workspace_id, kind, "
                     "created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                     "tttttttiii", t, i, NULL);
    if (err == CD_OK && id)
        err = sq_txn_read_row(tx->s, tx, "SELECT id FROM campaigns WHERE public_id = ?", "t", t,
                              NULL, row_id, id);
    return err;
}

static enum cd_err archive(struct store *s, int64_t ws, enum campaign_kind kind,
                           const char *public_id, int64_t now) {
    const char *t[] = {public_id};
    int64_t i[] = {ws, kind, now};
    int changes = 0;
    enum cd_err err = sq_write(s,
                               "UPDATE campaigns SET archived_at = ?4 WHERE public_id = ?1 AND "
                               "workspace_id = ?2 AND kind = ?3 AND archived_at = 0",
                               "tiii", t, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

static enum cd_err get(struct store *s, int64_t ws, enum campaign_kind kind, const char *public_id,
                       int64_t id, void (*cb)(void *, const struct campaign_row *), void *ctx) {
    struct campaign_cb cc = {cb, ctx};
    if (!public_id) {
        int64_t i[] = {id};
        return sq_read_row(s, "SELECT " CAMPAIGN_COLS " FROM campaigns WHERE id = ?", "i", NULL, i,
                           row_campaign, &cc);
    }
    const char *t[] = {public_id};
    int64_t i[] = {ws, kind};
    return sq_read_row(s,
                       "SELECT " CAMPAIGN_COLS " FROM campaigns WHERE public_id = ? AND "
                       "workspace_id = ? AND kind = ?",
                       "tii", t, i, row_campaign, &cc);
}

#define LIST_WHERE                                                                                 \
    "SELECT " CAMPAIGN_COLS " FROM campaigns WHERE workspace_id = ?1 AND kind = ?2 AND "           \
    "(?3 OR archived_at = 0) AND max(created_at, archived_at) > ?4 "

static enum cd_err list(struct store *s, int64_t ws, enum campaign_kind kind,
                        const struct campaign_list_query *q,
                        void (*cb)(void *, const struct campaign_row *), void *ctx) {
    struct campaign_cb cc = {cb, ctx};
    int64_t i[] = {ws, kind, q->include_archived, q->edited_after, q->limit, q->offset};
    return sq_rows(s,
                   q->newest_first ? LIST_WHERE
                       "ORDER BY created_at DESC, id DESC LIMIT ?5 OFFSET ?6"
                                   : LIST_WHERE "ORDER BY created_at, id LIMIT ?5 OFFSET ?6",
                   "iiiiii", NULL, i, row_campaign, &cc);
}

static enum cd_err on_cohort(struct store *s, int64_t ws, const char *partner,
                             const char *cohort_id, void (*cb)(void *, const struct campaign_row *),
                             void *ctx) {
    struct campaign_cb cc = {cb, ctx};
    const char *t[] = {partner, cohort_id};
    int64_t i[] = {ws};
    return sq_rows(s,
                   "SELECT " CAMPAIGN_COLS " FROM campaigns WHERE entry_partner = ?1 AND "
                   "entry_cohort = ?2 AND workspace_id = ?3 AND archived_at = 0 ORDER BY id",
                   "tti", t, i, row_campaign, &cc);
}

static enum cd_err count_entered(struct store_txn *t, int64_t campaign, int64_t n) {
    int64_t i[] = {campaign, n};
    return sq_txn_write(t, "UPDATE campaigns SET n_entered = n_entered + ?2 WHERE id = ?1", "ii",
                        NULL, i, NULL);
}

static enum cd_err dispatch_add(struct store_txn *t, const struct dispatch_row *r, int64_t *id) {
    struct sq_conn *c = &t->s->w;
    sqlite3_stmt *st = sq_prep(c, "INSERT INTO dispatches(workspace_id, campaign, dispatch_id, "
                                  "send_id, properties, step, due_at, audience, created_at) "
                                  "VALUES (?,?,?,?,?,?,?,?,?)");
    enum cd_err err = CD_E_STORE;
    if (st) {
        sqlite3_bind_int64(st, 1, r->workspace_id);
        sqlite3_bind_int64(st, 2, r->campaign);
        sq_bind_text(st, 3, r->dispatch_id);
        sq_bind_text(st, 4, r->send_id);
        sq_bind_text(st, 5, r->properties);
        sqlite3_bind_int64(st, 6, r->step);
        sqlite3_bind_int64(st, 7, r->due_at);
        sq_bind_blob(st, 8, r->audience, r->audience_len);
        sqlite3_bind_int64(st, 9, r->created_at);
        err = sq_exec(c, st);
    }
    int64_t rowid = err == CD_OK ? sqlite3_last_insert_rowid(c->db) : 0;
    if (err == CD_OK && id)
        *id = rowid;
    if (err == CD_OK && r->schedule_id) {
        const char *texts[] = {r->schedule_id};
        int64_t i[] = {rowid, r->campaign};
        err = sq_txn_write(t,
                           "INSERT INTO dispatch_schedules(dispatch, campaign, schedule_id) "
                           "VALUES (?,?,?)",
                           "iit", texts, i, NULL);
    }
    return err;
}

struct dispatch_cb {
    void (*cb)(void *, const struct dispatch_row *);
    void *ctx;
};

static void row_dispatch(sqlite3_stmt *st, void *ctx) {
    struct dispatch_cb *dc = ctx;
    struct dispatch_row r = {
        .id = sqlite3_column_int64(st, 0),
        .workspace_id = sqlite3_column_int64(st, 1),
        .campaign = sqlite3_column_int64(st, 2),
        .dispatch_id = sq_col_text(st, 3),
        .send_id = sq_col_text(st, 4),
        .properties = sq_col_text(st, 5),
        .step = sqlite3_column_int64(st, 6),
        .due_at = sqlite3_column_int64(st, 7),
        .audience = sqlite3_column_blob(st, 8),
        .audience_len = (size_t)sqlite3_column_bytes(st, 8),
        .targets = sqlite3_column_blob(st, 9),
        .targets_len = (size_t)sqlite3_column_bytes(st, 9),
        .created_at = sqlite3_column_int64(st, 10),
    };
    dc->cb(dc->ctx, &r);
}

static enum cd_err dispatches_due(struct store *s, int64_t now, int64_t limit,
                                  void (*cb)(void *, const struct dispatch_row *), void *ctx) {
    struct dispatch_cb dc = {cb, ctx};
    int64_t i[] = {now, limit};
    return sq_rows(s,
                   "SELECT " DISPATCH_COLS " FROM dispatches WHERE finished_at = 0 AND due_at <= "
                   "? ORDER BY due_at, id LIMIT ?",
                   "ii", NULL, i, row_dispatch, &dc);
}

static enum cd_err dispatch_start(struct store_txn *t, int64_t dispatch, const void *targets,
                                  size_t len) {
    struct sq_conn *c = &t->s->w;
    sqlite3_stmt *st = sq_prep(c, "UPDATE dispatches SET targets = ?1 WHERE id = ?2");
    enum cd_err err = CD_E_STORE;
    if (st) {
        sq_bind_blob(st, 1, targets, len);
        sqlite3_bind_int64(st, 2, dispatch);
        err = sq_exec(c, st);
    }
    return err;
}

static enum cd_err dispatch_next(struct store_txn *t, int64_t dispatch, int64_t step,
                                 int64_t due_at, const void *audience, size_t len) {
    struct sq_conn *c = &t->s->w;
    sqlite3_stmt *st = sq_prep(c, "UPDATE dispatches SET step = ?1, due_at = ?2, audience = ?3, "
                                  "targets = NULL WHERE id = ?4");
    enum cd_err err = CD_E_STORE;
    if (st) {
        sqlite3_bind_int64(st, 1, step);
        sqlite3_bind_int64(st, 2, due_at);
        sq_bind_blob(st, 3, audience, len);
        sqlite3_bind_int64(st, 4, dispatch);
        err = sq_exec(c, st);
    }
    return err;
}

static enum cd_err dispatch_finish(struct store_txn *t, int64_t dispatch, int64_t now) {
    int64_t i[] = {dispatch, now};
    return sq_txn_write(t, "UPDATE dispatches SET finished_at = ?2, targets = NULL WHERE id = ?1",
                        "ii", NULL, i, NULL);
}

static enum cd_err schedule_change(struct store_txn *t, int64_t campaign, const char *schedule_id,
                                   int64_t now, bool cancel, int64_t due_at, bool *found) {
    const char *texts[] = {schedule_id};
    int64_t i[] = {campaign, now, cancel ? now : 0, due_at};
    int changes = 0;
    enum cd_err err = sq_txn_write(
        t,
        cancel ? "UPDATE dispatches SET finished_at = ?3 WHERE id = (SELECT dispatch FROM "
                 "dispatch_schedules WHERE campaign = ?1 AND schedule_id = ?5) AND finished_at = "
                 "0 AND step = 0 AND targets IS NULL AND due_at > ?2"
               : "UPDATE dispatches SET due_at = ?4 WHERE id = (SELECT dispatch FROM "
                 "dispatch_schedules WHERE campaign = ?1 AND schedule_id = ?5) AND finished_at = "
                 "0 AND step = 0 AND targets IS NULL AND due_at > ?2",
        "iiiit", texts, i, &changes);
    *found = err == CD_OK && changes > 0;
    return err;
}

struct scheduled_cb {
    void (*cb)(void *, const struct scheduled_row *);
    void *ctx;
};

static void row_scheduled(sqlite3_stmt *st, void *ctx) {
    struct scheduled_cb *sc = ctx;
    struct scheduled_row r = {
        .dispatch_id = sq_col_text(st, 0),
        .schedule_id = sq_col_text(st, 1),
        .kind = (enum campaign_kind)sqlite3_column_int(st, 2),
        .public_id = sq_col_text(st, 3),
        .name = sq_col_text(st, 4),
        .definition = sq_col_text(st, 5),
        .due_at = sqlite3_column_int64(st, 6),
    };
    sc->cb(sc->ctx, &r);
}

static enum cd_err scheduled(struct store *s, int64_t ws, int64_t now, int64_t until,
                             void (*cb)(void *, const struct scheduled_row *), void *ctx) {
    struct scheduled_cb sc = {cb, ctx};
    int64_t i[] = {ws, now, until};
    return sq_rows(s,
                   "SELECT d.dispatch_id, s.schedule_id, c.kind, c.public_id, c.name, "
                   "c.definition, d.due_at FROM dispatches d JOIN campaigns c ON c.id = "
                   "d.campaign LEFT JOIN dispatch_schedules s ON s.dispatch = d.id WHERE "
                   "d.workspace_id = ?1 AND d.finished_at = 0 AND d.step = 0 "
                   "AND d.targets IS NULL AND d.due_at > ?2 AND d.due_at <= ?3 AND "
                   "c.archived_at = 0 ORDER BY d.due_at, d.id",
                   "iii", NULL, i, row_scheduled, &sc);
}

static enum cd_err delivery_record(struct store_txn *t, int64_t dispatch, int64_t step,
                                   uint32_t uid, enum delivery_state state, int64_t attempts,
                                   int64_t now, const char *reason) {
    int64_t i[] = {dispatch, step, uid, state, attempts, now};
    const char *t_[] = {reason};
    return sq_txn_write(t,
                        "INSERT INTO deliveries(dispatch, step, uid, state, attempts, at, reason) "
                        "VALUES (?,?,?,?,?,?,?)",
                        "iiiiiit", t_, i, NULL);
}

static enum cd_err count_outcomes(struct store_txn *t, int64_t campaign, int64_t sent,
                                  int64_t failed) {
    int64_t i[] = {campaign, sent, failed};
    return sq_txn_write(t,
                        "UPDATE campaigns SET n_sent = n_sent + ?2, n_failed = n_failed + ?3 "
                        "WHERE id = ?1",
                        "iii", NULL, i, NULL);
}

struct uid_cb {
    void (*cb)(void *, uint32_t);
    void *ctx;
};

static void row_uid(sqlite3_stmt *st, void *ctx) {
    struct uid_cb *uc = ctx;
    uc->cb(uc->ctx, (uint32_t)sqlite3_column_int64(st, 0));
}

static enum cd_err deliveries(struct store *s, int64_t dispatch, int64_t step,
                              void (*cb)(void *, uint32_t), void *ctx) {
    struct uid_cb uc = {cb, ctx};
    int64_t i[] = {dispatch, step};
    return sq_rows(s, "SELECT uid FROM deliveries WHERE dispatch = ? AND step = ?", "ii", NULL, i,
                   row_uid, &uc);
}

struct failure_cb {
    void (*cb)(void *, const struct delivery_failure_row *);
    void *ctx;
};

static void row_failure(sqlite3_stmt *st, void *ctx) {
    struct failure_cb *fc = ctx;
    const char *reason = sq_col_text(st, 5);
    struct delivery_failure_row r = {
        .dispatch = sqlite3_column_int64(st, 0),
        .step = sqlite3_column_int64(st, 1),
        .uid = (uint32_t)sqlite3_column_int64(st, 2),
        .attempts = sqlite3_column_int64(st, 3),
        .at = sqlite3_column_int64(st, 4),
        .reason = reason ? reason : "",
    };
    fc->cb(fc->ctx, &r);
}

static enum cd_err failures(struct store *s, int64_t campaign, int64_t limit,
                            void (*cb)(void *, const struct delivery_failure_row *), void *ctx) {
    struct failure_cb fc = {cb, ctx};
    int64_t i[] = {campaign, DELIVERY_FAILED, limit};
    return sq_rows(s,
                   "SELECT d.dispatch, d.step, d.uid, d.attempts, d.at, d.reason FROM dispatches p "
                   "JOIN deliveries d ON d.dispatch = p.id WHERE p.campaign = ?1 AND d.state = ?2 "
                   "ORDER BY d.at DESC, d.dispatch DESC, d.step DESC, d.uid DESC LIMIT ?3",
                   "iii", NULL, i, row_failure, &fc);
}

const struct store_campaign_ops sqlite_campaign_ops = {
    .create = create,
    .archive = archive,
    .get = get,
    .list = list,
    .on_cohort = on_cohort,
    .count_entered = count_entered,
    .dispatch_add = dispatch_add,
    .dispatches_due = dispatches_due,
    .dispatch_start = dispatch_start,
    .dispatch_next = dispatch_next,
    .dispatch_finish = dispatch_finish,
    .schedule_change = schedule_change,
    .scheduled = scheduled,
    .delivery_record = delivery_record,
    .count_outcomes = count_outcomes,
    .deliveries = deliveries,
    .failures = failures,
};
