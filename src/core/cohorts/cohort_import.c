/*
 * cohort_import.c — partner cohort changes on top of the identity index and the cohort set
 * (see cohort_import.h). Durable layout: store_cohort_ops (checkpoint + per-request log).
 * A request's changes reduce to two disjoint bitmaps (net adds, net removes) before anything
 * is written, so the log row and the in-memory update are the same set operation.
 *
 * Two paths (workspace.h): an import into an existing cohort is pipelined — matched and netted
 * under the read lock against the members as every committed import leaves them (the published
 * members, then the pending imports in turn order), written and committed without waiting for
 * the sync, and published under the write lock once durable. Creating a cohort, naming it and
 * the Heap webhook's pages are in-place writes: memory is changed only through cohort.h's
 * recording verbs (cohort_touch before the fields are set), so a failed write's rollback puts
 * every change back.
 */
#include "core/cohorts/cohort_import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/index/bitmap.h"
#include "core/workspace/workspace_int.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"

#define MISSES_PER_REQUEST 20

/* ---- naming ---- */

/* The cohort, created (durably, unnamed unless name) when missing. */
static enum cd_err find_or_create(struct app *app, struct workspace *ws, const char *partner,
                                  const char *cohort_id, const char *name, int64_t created_at,
                                  struct cohort **out) {
    struct cohort *c = cohort_find(&ws->cohorts, partner, cohort_id);
    if (c && !name) {
        *out = c;
        return CD_OK;
    }
    int64_t id;
    enum cd_err err =
        STORE_OPS(app->store)
            ->cohorts->upsert(workspace_txn(ws), ws->id, partner, cohort_id, name, created_at, &id);
    if (err != CD_OK)
        return err;
    if (!c) {
        c = cohort_set_add(&ws->cohorts, partner, cohort_id);
        if (!c)
            return CD_E_NOMEM;
        c->id = id;
        c->created_at = created_at;
    }
    if (name && cohort_set_name(&ws->cohorts, c, name, created_at) != 0)
        return CD_E_NOMEM;
    *out = c;
    return CD_OK;
}

enum cd_err cohort_name_locked(struct app *app, struct workspace *ws, const char *partner,
                               const char *cohort_id, const char *name, int64_t created_at) {
    struct cohort *c;
    return find_or_create(app, ws, partner, cohort_id, name, created_at, &c);
}

enum cd_err cohort_name(struct app *app, struct workspace *ws, const char *partner,
                        const char *cohort_id, const char *name, int64_t created_at) {
    enum cd_err err = workspace_write_begin(app, ws);
    if (err != CD_OK)
        return err;
    err = cohort_name_locked(app, ws, partner, cohort_id, name, created_at);
    return workspace_write_end(app, ws, err);
}

/* ---- applying changes ---- */

static uint32_t match(const struct identity *id, const struct cohort_ident *ci,
                      enum match_miss *miss) {
    switch (ci->kind) {
    case COHORT_ID_EXTERNAL:
        return identity_by_external(id, ci->a, miss);
    case COHORT_ID_ALIAS:
        return identity_by_alias(id, ci->a, ci->b, miss);
    case COHORT_ID_DEVICE:
        return identity_by_device(id, ci->a, miss);
    case COHORT_ID_EXTERNAL_OR_DEVICE:
        break;
    }
    uint32_t uid = identity_by_external(id, ci->a, miss);
    if (uid)
        return uid;
    enum match_miss dev_miss;
    uid = identity_by_device(id, ci->a, &dev_miss);
    /* an id that is neither is reported as the external id it most likely was, unless it is
     * a device that stopped matching because its user was identified */
    if (!uid && dev_miss == MISS_DEVICE_IDENTIFIED)
        *miss = dev_miss;
    return uid;
}

/* Serialises b into a malloc'd portable blob (NULL when b is empty: a log row stores nothing). */
static void *serialise(const roaring_bitmap_t *b, size_t *len) {
    *len = 0;
    return roaring_bitmap_is_empty(b) ? NULL : bitmap_to_blob(b, len);
}

/* The identifier as the unmatched sample shows it, whole (owned; NULL when out of memory). */
static char *identifier_text(const struct cohort_ident *ci) {
    char *text = NULL;
    int n = ci->kind == COHORT_ID_ALIAS    ? asprintf(&text, "alias:%s:%s", ci->a, ci->b)
            : ci->kind == COHORT_ID_DEVICE ? asprintf(&text, "device_id:%s", ci->a)
                                           : asprintf(&text, "%s", ci->a);
    return n < 0 ? NULL : text;
}

/* Writes the log row of a request's net change (adds the counters); sets *seq. */
static enum cd_err cohort_log_write(struct app *app, struct store_txn *t, struct cohort *c,
                                    const roaring_bitmap_t *adds, const roaring_bitmap_t *removes,
                                    const struct cohort_apply_result *r, int64_t now,
                                    int64_t *seq) {
    size_t al, rl;
    void *ab = serialise(adds, &al), *rb = serialise(removes, &rl);
    enum cd_err err = (al && !ab) || (rl && !rb) ? CD_E_NOMEM : CD_OK;
    struct cohort_log_row row = {.adds = ab, .adds_len = al, .removes = rb, .removes_len = rl};
    if (err == CD_OK)
        err = STORE_OPS(app->store)
                  ->cohorts->log_append(t, c->id, &row, r->received, r->matched, r->unmatched, now,
                                        seq);
    free(ab);
    free(rb);
    return err;
}

/* Replaces c's checkpoint with `after` (the members once the log row `seq` is applied). */
static enum cd_err checkpoint_write(struct app *app, struct store_txn *t, struct cohort *c,
                                    roaring_bitmap_t *after, int64_t seq) {
    roaring_bitmap_run_optimize(after);
    size_t len;
    void *blob = serialise(after, &len);
    enum cd_err err = len && !blob
                          ? CD_E_NOMEM
                          : STORE_OPS(app->store)->cohorts->checkpoint(t, c->id, blob, len, seq);
    free(blob);
    if (err == CD_OK)
        c->n_log = 0;
    return err;
}

/* What a request asks, matched to users: every matched uid in adds or removes (a later change
 * of the same user wins), and a sample of the unmatched ids. */
struct plan {
    roaring_bitmap_t *adds, *removes;
    struct cohort_miss_row misses[MISSES_PER_REQUEST];
    char *miss_text[MISSES_PER_REQUEST];
    size_t n_misses;
};

static void plan_free(struct plan *p) {
    for (size_t i = 0; i < p->n_misses; i++)
        free(p->miss_text[i]);
    if (p->adds) /* this CRoaring's free does not take NULL */
        roaring_bitmap_free(p->adds);
    if (p->removes)
        roaring_bitmap_free(p->removes);
}

/* Matches every id of the request (caller holds the read or write lock). */
static enum cd_err plan_match(const struct identity *ident, const struct cohort_change *changes,
                              size_t n_changes, int64_t now, struct cohort_apply_result *out,
                              struct plan *p) {
    memset(p, 0, sizeof *p);
    p->adds = roaring_bitmap_create();
    p->removes = roaring_bitmap_create();
    if (!p->adds || !p->removes)
        return CD_E_NOMEM;
    /* identity look-ups dominate an import: prefetch the whole batch in two stages first */
    for (int stage = 0; stage < 2; stage++)
        for (size_t i = 0; i < n_changes; i++)
            for (size_t k = 0; k < changes[i].n_ids; k++) {
                const struct cohort_ident *ci = &changes[i].ids[k];
                enum identity_map map = ci->kind == COHORT_ID_ALIAS    ? IDENTITY_ALIAS
                                        : ci->kind == COHORT_ID_DEVICE ? IDENTITY_DEVICE
                                                                       : IDENTITY_EXTERNAL;
                identity_prefetch(ident, map, ci->a, ci->b, stage);
            }
    for (size_t i = 0; i < n_changes; i++) {
        const struct cohort_change *ch = &changes[i];
        for (size_t k = 0; k < ch->n_ids; k++) {
            enum match_miss miss = MATCH_OK;
            uint32_t uid = match(ident, &ch->ids[k], &miss);
            out->received++;
            if (!uid) {
                out->unmatched++;
                if (p->n_misses < MISSES_PER_REQUEST) {
                    char *text = identifier_text(&ch->ids[k]);
                    if (!text)
                        return CD_E_NOMEM;
                    p->miss_text[p->n_misses] = text;
                    p->misses[p->n_misses] =
                        (struct cohort_miss_row){text, identity_miss_name(miss), now};
                    p->n_misses++;
                }
                continue;
            }
            out->matched++;
            roaring_bitmap_add(ch->remove ? p->removes : p->adds, uid);
            roaring_bitmap_remove(ch->remove ? p->adds : p->removes, uid);
        }
    }
    return CD_OK;
}

/* Writes the sampled misses and runs the cohort-entry trigger, in the open transaction. */
static enum cd_err misses_and_trigger(struct app *app, struct workspace *ws, struct cohort *c,
                                      const char *partner, const char *cohort_id,
                                      const struct plan *p, int64_t now) {
    enum cd_err err = CD_OK;
    if (p->n_misses)
        err = STORE_OPS(app->store)
                  ->cohorts->misses_add(workspace_txn(ws), c->id, p->misses, p->n_misses,
                                        COHORT_MISS_SAMPLE);
    if (err == CD_OK && app->on_cohort_entry) /* the "user just entered the cohort" trigger */
        err = app->on_cohort_entry(app, ws, partner, cohort_id, p->adds, now);
    return err;
}

static void count(struct cohort *c, const struct cohort_apply_result *r, int64_t now) {
    c->n_ids_received += r->received;
    c->n_ids_matched += r->matched;
    c->n_ids_unmatched += r->unmatched;
    c->changed_at = now;
}

/*
 * Turns p's matched sets into the net change against the members as every committed import
 * leaves them: the published members, then each pending import of c in turn order (nets are
 * disjoint, so a uid to add is a member after one iff it was and that one did not remove it,
 * or that one added it). Caller holds writer and the read lock.
 */
static void net_against_pending(struct workspace *ws, struct cohort *c, struct plan *p) {
    roaring_bitmap_t *adds = roaring_bitmap_andnot(p->adds, c->members);
    roaring_bitmap_t *removes = roaring_bitmap_and(p->removes, c->members);
    for (struct import_pending *e = ws->pending; e; e = e->next) {
        if (e->cohort != c)
            continue;
        roaring_bitmap_andnot_inplace(adds, e->adds);
        roaring_bitmap_t *back = roaring_bitmap_and(p->adds, e->removes);
        roaring_bitmap_or_inplace(adds, back);
        roaring_bitmap_free(back);
        roaring_bitmap_t *more = roaring_bitmap_and(p->removes, e->adds);
        roaring_bitmap_or_inplace(removes, more);
        roaring_bitmap_free(more);
        roaring_bitmap_andnot_inplace(removes, e->removes);
    }
    roaring_bitmap_free(p->adds);
    roaring_bitmap_free(p->removes);
    p->adds = adds;
    p->removes = removes;
}

/* The members of c once the pending imports and then p are applied (caller as above). */
static roaring_bitmap_t *members_after_pending(struct workspace *ws, struct cohort *c,
                                               const struct plan *p) {
    roaring_bitmap_t *after = roaring_bitmap_copy(c->members);
    for (struct import_pending *e = ws->pending; after && e; e = e->next)
        if (e->cohort == c) {
            roaring_bitmap_or_inplace(after, e->adds);
            roaring_bitmap_andnot_inplace(after, e->removes);
        }
    if (after) {
        roaring_bitmap_or_inplace(after, p->adds);
        roaring_bitmap_andnot_inplace(after, p->removes);
    }
    return after;
}

/* Nets p against the members as every committed import leaves them and, when c's log is due
 * for a checkpoint, builds the members after p (*checkpoint, NULL otherwise). Caller holds
 * writer and the read or write lock (for an in-place write no import is pending). */
static enum cd_err plan_net(struct workspace *ws, struct cohort *c, struct plan *p,
                            struct cohort_apply_result *out, roaring_bitmap_t **checkpoint) {
    net_against_pending(ws, c, p);
    out->added = (int64_t)roaring_bitmap_get_cardinality(p->adds);
    out->removed = (int64_t)roaring_bitmap_get_cardinality(p->removes);
    *checkpoint = NULL;
    if (c->n_log + 1 < COHORT_CHECKPOINT_EVERY)
        return CD_OK;
    *checkpoint = members_after_pending(ws, c, p);
    return *checkpoint ? CD_OK : CD_E_NOMEM;
}

/* Writes p in the open transaction: its log row, the checkpoint when one is due (it folds the
 * log, this row included), the misses, and runs the cohort-entry trigger. Frees checkpoint. */
static enum cd_err plan_write(struct app *app, struct workspace *ws, struct cohort *c,
                              const char *partner, const char *cohort_id, const struct plan *p,
                              const struct cohort_apply_result *out, roaring_bitmap_t *checkpoint,
                              int64_t now) {
    int64_t seq = 0;
    enum cd_err err =
        cohort_log_write(app, workspace_txn(ws), c, p->adds, p->removes, out, now, &seq);
    if (err == CD_OK && checkpoint)
        err = checkpoint_write(app, workspace_txn(ws), c, checkpoint, seq); /* n_log = 0 */
    else if (err == CD_OK)
        c->n_log++;
    if (checkpoint)
        roaring_bitmap_free(checkpoint);
    return err == CD_OK ? misses_and_trigger(app, ws, c, partner, cohort_id, p, now) : err;
}

enum cd_err cohort_apply_locked(struct app *app, struct workspace *ws, const char *partner,
                                const char *cohort_id, const struct cohort_change *changes,
                                size_t n_changes, int64_t now, struct cohort_apply_result *out) {
    memset(out, 0, sizeof *out);
    struct cohort *c;
    enum cd_err err = find_or_create(app, ws, partner, cohort_id, NULL, now, &c);
    if (err == CD_OK && cohort_touch(&ws->cohorts, c) != 0) /* plan_write and below set fields */
        err = CD_E_NOMEM;
    if (err != CD_OK)
        return err;
    struct plan p;
    roaring_bitmap_t *checkpoint = NULL;
    err = plan_match(&ws->ident, changes, n_changes, now, out, &p);
    if (err == CD_OK)
        err = plan_net(ws, c, &p, out, &checkpoint);
    if (err == CD_OK)
        err = plan_write(app, ws, c, partner, cohort_id, &p, out, checkpoint, now);
    else if (checkpoint)
        roaring_bitmap_free(checkpoint);
    if (err == CD_OK && cohort_members_change(&ws->cohorts, c, p.adds, p.removes) != 0)
        err = CD_E_NOMEM;
    if (err == CD_OK)
        count(c, out, now);
    plan_free(&p);
    return err;
}

/*
 * The pipelined import of an existing cohort (see the top of this file), its ids already
 * matched in p (under the read lock only, so that imports of one workspace match in parallel).
 * Takes p's bitmaps.
 */
static enum cd_err apply_pipelined(struct app *app, struct workspace *ws, const char *partner,
                                   const char *cohort_id, struct plan p, int64_t now,
                                   struct cohort_apply_result *out) {
    struct import_pending *pend = calloc(1, sizeof *pend);
    enum cd_err err = pend ? workspace_pipe_begin(ws) : CD_E_NOMEM;
    if (err != CD_OK) {
        free(pend);
        plan_free(&p);
        return err;
    }
    roaring_bitmap_t *checkpoint = NULL;
    workspace_read_begin(ws);
    workspace_pending_drop(ws, ws->turn_done);
    /* found again under the writer lock, which a reload needs: the pointer stays valid */
    struct cohort *c = cohort_find(&ws->cohorts, partner, cohort_id);
    err = c ? CD_OK : CD_E_INTERNAL;
    if (err == CD_OK) {
        /* a user deleted since the match is not added: as if the request came after it */
        roaring_bitmap_and_inplace(p.adds, ws->ident.live);
        err = plan_net(ws, c, &p, out, &checkpoint);
    }
    workspace_read_end(ws);
    if (err == CD_OK) /* only now the store's writer: matching and netting are done */
        err = workspace_pipe_txn(app, ws);
    if (err == CD_OK) {
        err = plan_write(app, ws, c, partner, cohort_id, &p, out, checkpoint, now);
    } else if (checkpoint) {
        roaring_bitmap_free(checkpoint);
    }
    *pend = (struct import_pending){.cohort = c, .adds = p.adds, .removes = p.removes};
    uint64_t ticket = 0;
    err = workspace_pipe_commit(app, ws, err, pend, &ticket);
    if (err != CD_OK || !c) { /* (c is set whenever the commit happened) */
        free(pend);
        plan_free(&p);
        return err;
    }
    p.adds = p.removes = NULL; /* the queued entry owns them now */
    plan_free(&p);
    uint64_t turn = pend->turn;
    err = workspace_pipe_publish_begin(app, ws, ticket, turn);
    if (err == CD_OK && cohort_members_change(&ws->cohorts, c, pend->adds, pend->removes) != 0) {
        /* durable but not in memory: rebuild from the store on the next request */
        workspace_mark_unloaded(ws, CD_E_NOMEM);
        err = CD_E_NOMEM;
    }
    if (err == CD_OK)
        count(c, out, now);
    workspace_pipe_publish_end(ws, turn);
    return err;
}

enum cd_err cohort_apply(struct app *app, struct workspace *ws, const char *partner,
                         const char *cohort_id, const struct cohort_change *changes,
                         size_t n_changes, struct cohort_apply_result *out) {
    int64_t now = time_now_ms();
    memset(out, 0, sizeof *out);
    struct plan p;
    workspace_read_begin(ws);
    bool exists = cohort_find(&ws->cohorts, partner, cohort_id) != NULL;
    enum cd_err err = exists ? plan_match(&ws->ident, changes, n_changes, now, out, &p) : CD_OK;
    workspace_read_end(ws);
    if (exists && err != CD_OK) {
        plan_free(&p);
    } else if (exists) {
        err = apply_pipelined(app, ws, partner, cohort_id, p, now, out);
    } else { /* a new cohort: created in place */
        err = workspace_write_begin(app, ws);
        if (err == CD_OK) {
            err = cohort_apply_locked(app, ws, partner, cohort_id, changes, n_changes, now, out);
            err = workspace_write_end(app, ws, err);
        }
    }
    if (err == CD_OK) {
        cohort_ids_count(ws, partner, "partner_import", out);
        log_info("cohort",
                 "workspace_id=%s partner=%s received=%lld matched=%lld "
                 "unmatched=%lld added=%lld removed=%lld",
                 ws->public_id, partner, (long long)out->received, (long long)out->matched,
                 (long long)out->unmatched, (long long)out->added, (long long)out->removed);
    }
    return err;
}

void cohort_ids_count(const struct workspace *ws, const char *partner, const char *source,
                      const struct cohort_apply_result *r) {
    char ws_label[160], partner_label[80], labels[320];
    snprintf(labels, sizeof labels, "workspace_id=\"%s\",partner=\"%s\",source=\"%s\"",
             metrics_label(ws_label, sizeof ws_label, ws->public_id),
             metrics_label(partner_label, sizeof partner_label, partner), source);
    metrics_add("cohortd_cohort_ids_received_total", labels, (double)r->received);
    metrics_add("cohortd_cohort_ids_matched_total", labels, (double)r->matched);
    metrics_add("cohortd_cohort_ids_unmatched_total", labels, (double)r->unmatched);
}
