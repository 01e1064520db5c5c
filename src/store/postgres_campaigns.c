/*
 * postgres_campaigns.c — campaigns, Canvases, dispatches and deliveries in PostgreSQL
 * (store_campaign_ops). A dispatch row holds its audience and the targets of its current step as
 * portable Roaring bitmaps (bytea); the deliveries table has one row per (dispatch, step, user)
 * whose outcome is final. Inserts that may meet an existing row use ON CONFLICT DO NOTHING and
 * answer CD_E_EXISTS: a failed statement would abort the caller's whole transaction, which
 * goes on after that answer.
 */
#include "store/postgres_int.h"

#include <stdlib.h>
#include <string.h>

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

static void row_campaign(struct pg_row *r, void *ctx) {
    struct campaign_cb *cc = ctx;
    struct campaign_row row = {
        .id = pg_int(r, 0),
        .workspace_id = pg_int(r, 1),
        .kind =
            pg_int(r, 2) == CAMPAIGN_KIND_CANVAS ? CAMPAIGN_KIND_CANVAS : CAMPAIGN_KIND_CAMPAIGN,
        .public_id = pg_text(r, 3),
        .name = pg_text(r, 4),
        .segment_id = pg_text(r, 5),
        .definition = pg_text(r, 6),
        .schedule_type = pg_text(r, 7),
        .entry_partner = pg_text(r, 8),
        .entry_cohort = pg_text(r, 9),
        .created_at = pg_int(r, 10),
        .archived_at = pg_int(r, 11),
        .n_entered = pg_int(r, 12),
        .n_sent = pg_int(r, 13),
        .n_failed = pg_int(r, 14),
    };
    cc->cb(cc->ctx, &row);
}

static enum cd_err create(struct store_txn *tx, const struct campaign_row *r, int64_t *id) {
    const char *t[] = {r->public_id,     r->name,          r->segment_id,  r->definition,
                       r->schedule_type, r->entry_partner, r->entry_cohort};
    int64_t i[] = {r->workspace_id, r->kind, r->created_at};
    struct pg_args a = {"tttttttiii", t, i, NULL};
    int64_t got = 0;
    enum cd_err err = pg_txn_run(tx, true,
                                 "INSERT INTO campaigns(public_id, name, segment_id, definition, "
                                 "schedule_type, entry_partner, entry_cohort, workspace_id, kind, "
                                 "created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) "
                                 "ON CONFLICT (public_id) DO NOTHING RETURNING id",
                                 &a, pg_row_int64, &got, NULL);
    /* on_cohort's sets are stale now, and again when this transaction's commit is answered */
    tx->s->txn_campaigns = true;
    pg_entries_changed(tx->s);
    if (err == CD_E_NOT_FOUND)
        return CD_E_EXISTS;
    if (err == CD_OK && id)
        *id = got;
    return err;
}

static enum cd_err archive(struct store *s, int64_t ws, enum campaign_kind kind,
                           const char *public_id, int64_t now) {
    const char *t[] = {public_id};
    int64_t i[] = {ws, kind, now};
    int64_t changes = 0;
    enum cd_err err = pg_write(s,
                               "UPDATE campaigns SET archived_at = $4 WHERE public_id = $1 AND "
                               "workspace_id = $2 AND kind = $3 AND archived_at = 0",
                               "tiii", t, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

static enum cd_err get(struct store *s, int64_t ws, enum campaign_kind kind, const char *public_id,
                       int64_t id, void (*cb)(void *, const struct campaign_row *), void *ctx) {
    struct campaign_cb cc = {cb, ctx};
    if (!public_id) {
        int64_t i[] = {id};
        return pg_read_row(s, "SELECT " CAMPAIGN_COLS " FROM campaigns WHERE id = $1", "i", NULL, i,
                           row_campaign, &cc);
    }
    const char *t[] = {public_id};
    int64_t i[] = {ws, kind};
    return pg_read_row(s,
                       "SELECT " CAMPAIGN_COLS " FROM campaigns WHERE public_id = $1 AND "
                       "workspace_id = $2 AND kind = $3",
                       "tii", t, i, row_campaign, &cc);
}

#define LIST_WHERE                                                                                 \
    "SELECT " CAMPAIGN_COLS " FROM campaigns WHERE workspace_id = $1 AND kind = $2 AND "           \
    "($3 <> 0 OR archived_at = 0) AND greatest(created_at, archived_at) > $4 "

static enum cd_err list(struct store *s, int64_t ws, enum campaign_kind kind,
                        const struct campaign_list_query *q,
                        void (*cb)(void *, const struct campaign_row *), void *ctx) {
    struct campaign_cb cc = {cb, ctx};
    int64_t i[] = {ws, kind, q->include_archived, q->edited_after, q->limit, q->offset};
    return pg_rows(s,
                   q->newest_first ? LIST_WHERE
                       "ORDER BY created_at DESC, id DESC LIMIT $5 OFFSET $6"
                                   : LIST_WHERE "ORDER BY created_at, id LIMIT $5 OFFSET $6",
                   "iiiiii", NULL, i, row_campaign, &cc);
}

/* ---- on_cohort's cache: which cohorts a workspace's live campaigns enter on ----
 *
 * An import that added users asks on_cohort for the campaigns on its cohort, nearly always
 * none. The set of (partner, cohort) pairs that the workspace's live campaigns name is read
 * once and kept while entry_gen stands; a cohort outside it answers no rows without a round
 * trip, one inside it reads the rows as before. Only an insert adds to the set (an archive
 * only shrinks it, and a set that names too much costs a query, never a wrong answer), so the
 * generation moves when a campaign is inserted, when its transaction's commit is answered
 * (a set read meanwhile did not see it), and when this process takes a lease (another node
 * may have written the workspace while it held it). A set read while the generation moved
 * is not kept. */

void pg_entries_changed(struct store *s) {
    pthread_mutex_lock(&s->entry_lock);
    s->entry_gen++;
    pthread_mutex_unlock(&s->entry_lock);
}

static void entry_set_clear(struct pg_entry_set *e) {
    for (size_t k = 0; k < 2 * e->n; k++)
        free(e->pairs[k]);
    free(e->pairs);
    e->pairs = NULL;
    e->n = 0;
}

void pg_entries_free(struct store *s) {
    for (size_t i = 0; i < s->n_entry_sets; i++)
        entry_set_clear(&s->entry_sets[i]);
    free(s->entry_sets);
    s->entry_sets = NULL;
    s->n_entry_sets = 0;
}

static bool entry_set_has(const struct pg_entry_set *e, const char *partner,
                          const char *cohort_id) {
    for (size_t k = 0; k < e->n; k++)
        if (strcmp(e->pairs[2 * k], partner) == 0 && strcmp(e->pairs[2 * k + 1], cohort_id) == 0)
            return true;
    return false;
}

struct entry_read {
    struct pg_entry_set set;
    size_t cap;
    bool nomem;
};

static void row_entry_pair(struct pg_row *r, void *ctx) {
    struct entry_read *er = ctx;
    if (er->nomem)
        return;
    if (er->set.n == er->cap) {
        size_t cap = er->cap ? er->cap * 2 : 4;
        char **p = realloc(er->set.pairs, 2 * cap * sizeof *p);
        if (!p) {
            er->nomem = true;
            return;
        }
        er->set.pairs = p;
        er->cap = cap;
    }
    char *partner = strdup(pg_text(r, 0)), *cohort = strdup(pg_text(r, 1));
    if (!partner || !cohort) {
        free(partner);
        free(cohort);
        er->nomem = true;
        return;
    }
    er->set.pairs[2 * er->set.n] = partner;
    er->set.pairs[2 * er->set.n + 1] = cohort;
    er->set.n++;
}

/* Keeps er's set for ws, read at gen (caller holds entry_lock); false when out of memory. */
static bool entry_set_keep(struct store *s, int64_t ws, uint64_t gen, struct entry_read *er) {
    struct pg_entry_set *e = NULL;
    for (size_t i = 0; i < s->n_entry_sets && !e; i++)
        if (s->entry_sets[i].ws == ws)
            e = &s->entry_sets[i];
    if (!e) {
        struct pg_entry_set *v =
            realloc(s->entry_sets, (s->n_entry_sets + 1) * sizeof *s->entry_sets);
        if (!v)
            return false;
        s->entry_sets = v;
        e = &v[s->n_entry_sets++];
        *e = (struct pg_entry_set){.ws = ws};
    }
    entry_set_clear(e);
    *e = er->set;
    e->ws = ws;
    e->gen = gen;
    er->set = (struct pg_entry_set){0};
    return true;
}

/* Whether a live campaign of ws may enter on (partner, cohort_id): false only when the set
 * (kept, or read now) says none does. */
static enum cd_err entry_named(struct store *s, int64_t ws, const char *partner,
                               const char *cohort_id, bool *named) {
    *named = true;
    pthread_mutex_lock(&s->entry_lock);
    uint64_t gen = s->entry_gen;
    for (size_t i = 0; i < s->n_entry_sets; i++) {
        const struct pg_entry_set *e = &s->entry_sets[i];
        if (e->ws == ws && e->gen == gen) {
            *named = entry_set_has(e, partner, cohort_id);
            pthread_mutex_unlock(&s->entry_lock);
            return CD_OK;
        }
    }
    pthread_mutex_unlock(&s->entry_lock);
    struct entry_read er = {0};
    int64_t i[] = {ws};
    enum cd_err err = pg_rows(s,
                              "SELECT DISTINCT entry_partner, entry_cohort FROM campaigns WHERE "
                              "workspace_id = $1 AND archived_at = 0 AND entry_partner IS NOT "
                              "NULL AND entry_cohort IS NOT NULL",
                              "i", NULL, i, row_entry_pair, &er);
    if (err == CD_OK && !er.nomem) {
        pthread_mutex_lock(&s->entry_lock);
        bool current = s->entry_gen == gen; /* no insert or lease since the read began */
        if (current)
            *named = entry_set_has(&er.set, partner, cohort_id);
        if (current && !entry_set_keep(s, ws, gen, &er))
            *named = true;
        pthread_mutex_unlock(&s->entry_lock);
    }
    entry_set_clear(&er.set);
    return err;
}

static enum cd_err on_cohort(struct store *s, int64_t ws, const char *partner,
                             const char *cohort_id, void (*cb)(void *, const struct campaign_row *),
                             void *ctx) {
    bool named = true;
    enum cd_err err = entry_named(s, ws, partner, cohort_id, &named);
    if (err != CD_OK || !named)
        return err;
    struct campaign_cb cc = {cb, ctx};
    const char *t[] = {partner, cohort_id};
    int64_t i[] = {ws};
    return pg_rows(s,
                   "SELECT " CAMPAIGN_COLS " FROM campaigns WHERE entry_partner = $1 AND "
                   "entry_cohort = $2 AND workspace_id = $3 AND archived_at = 0 ORDER BY id",
                   "tti", t, i, row_campaign, &cc);
}

static enum cd_err count_entered(struct store_txn *t, int64_t campaign, int64_t n) {
    int64_t i[] = {campaign, n};
    return pg_txn_write(t, "UPDATE campaigns SET n_entered = n_entered + $2 WHERE id = $1", "ii",
                        NULL, i, NULL);
}

static enum cd_err dispatch_add(struct store_txn *t, const struct dispatch_row *r, int64_t *id) {
    const char *tx[] = {r->dispatch_id, r->send_id, r->properties};
    int64_t i[] = {r->workspace_id, r->campaign, r->step, r->due_at, r->created_at};
    struct pg_blob b[] = {{r->audience, r->audience_len}};
    struct pg_args a = {"iitttiibi", tx, i, b};
    int64_t got = 0;
    enum cd_err err = pg_txn_run(t, true,
                                 "INSERT INTO dispatches(workspace_id, campaign, dispatch_id, "
                                 "send_id, properties, step, due_at, audience, created_at) "
                                 "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING id",
                                 &a, pg_row_int64, &got, NULL);
    if (err == CD_OK && id)
        *id = got;
    if (err == CD_OK && r->schedule_id) {
        const char *texts[] = {r->schedule_id};
        int64_t si[] = {got, r->campaign};
        int64_t added = 0;
        /* a taken schedule id answers CD_E_EXISTS and the transaction goes on */
        err = pg_txn_write(t,
                           "INSERT INTO dispatch_schedules(dispatch, campaign, schedule_id) "
                           "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                           "iit", texts, si, &added);
        if (err == CD_OK && added == 0)
            err = CD_E_EXISTS;
    }
    return err;
}

struct dispatch_cb {
    void (*cb)(void *, const struct dispatch_row *);
    void *ctx;
};

static void row_dispatch(struct pg_row *r, void *ctx) {
    struct dispatch_cb *dc = ctx;
    struct dispatch_row row = {
        .id = pg_int(r, 0),
        .workspace_id = pg_int(r, 1),
        .campaign = pg_int(r, 2),
        .dispatch_id = pg_text(r, 3),
        .send_id = pg_text(r, 4),
        .properties = pg_text(r, 5),
        .step = pg_int(r, 6),
        .due_at = pg_int(r, 7),
        .created_at = pg_int(r, 10),
    };
    row.audience = pg_bytes(r, 8, &row.audience_len);
    row.targets = pg_bytes(r, 9, &row.targets_len);
    dc->cb(dc->ctx, &row);
}

static enum cd_err dispatches_due(struct store *s, int64_t now, int64_t limit,
                                  void (*cb)(void *, const struct dispatch_row *), void *ctx) {
    struct dispatch_cb dc = {cb, ctx};
    int64_t i[] = {now, limit};
    return pg_rows(s,
                   "SELECT " DISPATCH_COLS " FROM dispatches WHERE finished_at = 0 AND due_at <= "
                   "$1 ORDER BY due_at, id LIMIT $2",
                   "ii", NULL, i, row_dispatch, &dc);
}

static enum cd_err dispatch_start(struct store_txn *t, int64_t dispatch, const void *targets,
                                  size_t len) {
    struct pg_blob b[] = {{targets, len}};
    int64_t i[] = {dispatch};
    struct pg_args a = {"bi", NULL, i, b};
    return pg_txn_run(t, false, "UPDATE dispatches SET targets = $1 WHERE id = $2", &a, NULL, NULL,
                      NULL);
}

static enum cd_err dispatch_next(struct store_txn *t, int64_t dispatch, int64_t step,
                                 int64_t due_at, const void *audience, size_t len) {
    struct pg_blob b[] = {{audience, len}};
    int64_t i[] = {step, due_at, dispatch};
    struct pg_args a = {"iibi", NULL, i, b};
    return pg_txn_run(t, false,
                      "UPDATE dispatches SET step = $1, due_at = $2, audience = $3, "
                      "targets = NULL WHERE id = $4",
                      &a, NULL, NULL, NULL);
}

static enum cd_err dispatch_finish(struct store_txn *t, int64_t dispatch, int64_t now) {
    int64_t i[] = {dispatch, now};
    return pg_txn_write(t, "UPDATE dispatches SET finished_at = $2, targets = NULL WHERE id = $1",
                        "ii", NULL, i, NULL);
}

static enum cd_err schedule_change(struct store_txn *t, int64_t campaign, const char *schedule_id,
                                   int64_t now, bool cancel, int64_t due_at, bool *found) {
    const char *texts[] = {schedule_id};
    int64_t i[] = {campaign, now, cancel ? now : 0, due_at};
    int64_t changes = 0;
    enum cd_err err = pg_txn_write(
        t,
        cancel ? "UPDATE dispatches SET finished_at = $3 WHERE id = (SELECT dispatch FROM "
                 "dispatch_schedules WHERE campaign = $1 AND schedule_id = $5) AND finished_at = "
                 "0 AND step = 0 AND targets IS NULL AND due_at > $2"
               : "UPDATE dispatches SET due_at = $4 WHERE id = (SELECT dispatch FROM "
                 "dispatch_schedules WHERE campaign = $1 AND schedule_id = $5) AND finished_at = "
                 "0 AND step = 0 AND targets IS NULL AND due_at > $2",
        "iiiit", texts, i, &changes);
    *found = err == CD_OK && changes > 0;
    return err;
}

struct scheduled_cb {
    void (*cb)(void *, const struct scheduled_row *);
    void *ctx;
};

static void row_scheduled(struct pg_row *r, void *ctx) {
    struct scheduled_cb *sc = ctx;
    struct scheduled_row row = {
        .dispatch_id = pg_text(r, 0),
        .schedule_id = pg_text(r, 1),
        .kind = (enum campaign_kind)pg_int(r, 2),
        .public_id = pg_text(r, 3),
        .name = pg_text(r, 4),
        .definition = pg_text(r, 5),
        .due_at = pg_int(r, 6),
    };
    sc->cb(sc->ctx, &row);
}

static enum cd_err scheduled(struct store *s, int64_t ws, int64_t now, int64_t until,
                             void (*cb)(void *, const struct scheduled_row *), void *ctx) {
    struct scheduled_cb sc = {cb, ctx};
    int64_t i[] = {ws, now, until};
    return pg_rows(s,
                   "SELECT d.dispatch_id, s.schedule_id, c.kind, c.public_id, c.name, "
                   "c.definition, d.due_at FROM dispatches d JOIN campaigns c ON c.id = "
                   "d.campaign LEFT JOIN dispatch_schedules s ON s.dispatch = d.id WHERE "
                   "d.workspace_id = $1 AND d.finished_at = 0 AND d.step = 0 "
                   "AND d.targets IS NULL AND d.due_at > $2 AND d.due_at <= $3 AND "
                   "c.archived_at = 0 ORDER BY d.due_at, d.id",
                   "iii", NULL, i, row_scheduled, &sc);
}

static enum cd_err delivery_record(struct store_txn *t, int64_t dispatch, int64_t step,
                                   uint32_t uid, enum delivery_state state, int64_t attempts,
                                   int64_t now, const char *reason) {
    int64_t i[] = {dispatch, step, uid, state, attempts, now};
    const char *t_[] = {reason};
    int64_t changes = 0;
    enum cd_err err = pg_txn_write(t,
                                   "INSERT INTO deliveries(dispatch, step, uid, state, attempts, "
                                   "at, reason) VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO "
                                   "NOTHING",
                                   "iiiiiit", t_, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_EXISTS : err;
}

static enum cd_err count_outcomes(struct store_txn *t, int64_t campaign, int64_t sent,
                                  int64_t failed) {
    int64_t i[] = {campaign, sent, failed};
    return pg_txn_write(t,
                        "UPDATE campaigns SET n_sent = n_sent + $2, n_failed = n_failed + $3 "
                        "WHERE id = $1",
                        "iii", NULL, i, NULL);
}

struct uid_cb {
    void (*cb)(void *, uint32_t);
    void *ctx;
};

static void row_uid(struct pg_row *r, void *ctx) {
    struct uid_cb *uc = ctx;
    uc->cb(uc->ctx, (uint32_t)pg_int(r, 0));
}

static enum cd_err deliveries(struct store *s, int64_t dispatch, int64_t step,
                              void (*cb)(void *, uint32_t), void *ctx) {
    struct uid_cb uc = {cb, ctx};
    int64_t i[] = {dispatch, step};
    return pg_rows(s, "SELECT uid FROM deliveries WHERE dispatch = $1 AND step = $2", "ii", NULL, i,
                   row_uid, &uc);
}

struct failure_cb {
    void (*cb)(void *, const struct delivery_failure_row *);
    void *ctx;
};

static void row_failure(struct pg_row *r, void *ctx) {
    struct failure_cb *fc = ctx;
    const char *reason = pg_text(r, 5);
    struct delivery_failure_row f = {
        .dispatch = pg_int(r, 0),
        .step = pg_int(r, 1),
        .uid = (uint32_t)pg_int(r, 2),
        .attempts = pg_int(r, 3),
        .at = pg_int(r, 4),
        .reason = reason ? reason : "",
    };
    fc->cb(fc->ctx, &f);
}

static enum cd_err failures(struct store *s, int64_t campaign, int64_t limit,
                            void (*cb)(void *, const struct delivery_failure_row *), void *ctx) {
    struct failure_cb fc = {cb, ctx};
    int64_t i[] = {campaign, DELIVERY_FAILED, limit};
    return pg_rows(s,
                   "SELECT d.dispatch, d.step, d.uid, d.attempts, d.at, d.reason FROM dispatches p "
                   "JOIN deliveries d ON d.dispatch = p.id WHERE p.campaign = $1 AND d.state = $2 "
                   "ORDER BY d.at DESC, d.dispatch DESC, d.step DESC, d.uid DESC LIMIT $3",
                   "iii", NULL, i, row_failure, &fc);
}

const struct store_campaign_ops postgres_campaign_ops = {
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
