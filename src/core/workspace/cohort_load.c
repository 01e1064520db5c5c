/*
 * cohort_load.c — a workspace's cohorts from the store at load time: each cohort's checkpoint
 * bitmap, then the change log behind it replayed in order (store_cohort_ops). Touches only
 * the workspace being loaded, which nobody else can see yet. Cost: one blob decode per
 * checkpoint and per log row, and a binary search per log row. After a snapshot
 * (snapshot.h) only the checkpoints and log rows past its log position are read.
 */
#include "core/workspace/workspace_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/index/bitmap.h"
#include "core/workspace/snapshot.h"
#include "util/log.h"
#include "util/metrics.h"

struct load_ctx {
    struct workspace *ws;
    struct snapshot_cohorts *snap; /* the members a snapshot holds, or NULL */
    size_t next;                   /* the first snapshot cohort not yet matched (row id order) */
    int failed;                    /* out of memory, or a stored bitmap did not decode (logged) */
    size_t replayed;               /* log rows applied */
};

/* The loaded cohort with store row `id`: the store hands cohorts out in id order, so the set is
 * sorted by id while loading and a binary search finds it (log replay calls this per row). */
static struct cohort *by_row_id(struct cohort_set *set, int64_t id) {
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set->v[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < set->n && set->v[lo]->id == id ? set->v[lo] : NULL;
}

/* A stored bitmap of cohort c does not decode: the load fails (the workspace stays not loaded
 * and is retried), and the log names the cohort, the blob and why, so an operator can find the
 * row; nothing is built on a bitmap that breaks Roaring's invariants. */
static void corrupt(struct load_ctx *lc, const struct cohort *c, const char *blob, int64_t seq,
                    const char *why) {
    lc->failed = 1;
    metrics_describe("cohortd_cohort_corrupt_blobs_total", METRIC_COUNTER,
                     "Stored cohort bitmaps refused at load (the workspace stays not loaded)");
    metrics_add("cohortd_cohort_corrupt_blobs_total",
                strcmp(blob, "checkpoint") == 0 ? "blob=\"checkpoint\"" : "blob=\"log\"", 1);
    log_error("cohort",
              "op=load ws=%s cohort_row=%lld partner=%s cohort_id=%s blob=\"%s\" seq=%lld "
              "result=corrupt reason=\"%s\"",
              lc->ws->public_id, (long long)c->id, log_q(c->partner), log_q(c->cohort_id), blob,
              (long long)seq, why ? why : "unknown");
}

static void load_cohort(void *ctx, const struct cohort_row *r) {
    struct load_ctx *lc = ctx;
    struct cohort *c = cohort_set_add(&lc->ws->cohorts, r->partner, r->cohort_id);
    if (!c) {
        lc->failed = 1;
        return;
    }
    c->id = r->id;
    c->name = r->name ? strdup(r->name) : NULL;
    c->created_at = r->created_at;
    c->changed_at = r->changed_at;
    c->n_ids_received = r->n_received;
    c->n_ids_matched = r->n_matched;
    c->n_ids_unmatched = r->n_unmatched;
    /* a snapshot's members stand for the checkpoint and the log up to its position, unless the
     * store checkpointed past that position since (then the store sent the checkpoint) */
    struct snapshot_cohorts *sn = lc->snap;
    while (sn && lc->next < sn->n && sn->v[lc->next].id < r->id)
        lc->next++;
    if (sn && r->checkpoint_seq <= sn->log_seq && lc->next < sn->n && sn->v[lc->next].id == r->id) {
        struct snapshot_cohort *from = &sn->v[lc->next];
        roaring_bitmap_free(c->members);
        c->members = from->members;
        c->n_log = from->n_log;
        from->members = NULL;
        return;
    }
    if (r->checkpoint && r->checkpoint_len) {
        const char *why = NULL;
        roaring_bitmap_t *b = bitmap_from_blob(r->checkpoint, r->checkpoint_len, &why);
        if (!b) {
            corrupt(lc, c, "checkpoint", r->checkpoint_seq, why);
            return;
        }
        roaring_bitmap_free(c->members);
        c->members = b;
    }
}

static void replay(void *ctx, const struct cohort_log_row *r) {
    struct load_ctx *lc = ctx;
    struct cohort *c = by_row_id(&lc->ws->cohorts, r->cohort);
    if (!c)
        return;
    const void *blobs[2] = {r->adds, r->removes};
    size_t lens[2] = {r->adds_len, r->removes_len};
    for (int k = 0; k < 2; k++) {
        if (!blobs[k] || !lens[k])
            continue;
        const char *why = NULL;
        roaring_bitmap_t *b = bitmap_from_blob(blobs[k], lens[k], &why);
        if (!b) {
            corrupt(lc, c, k == 0 ? "log adds" : "log removes", r->seq, why);
            return;
        }
        if (k == 0)
            roaring_bitmap_or_inplace(c->members, b);
        else
            roaring_bitmap_andnot_inplace(c->members, b);
        roaring_bitmap_free(b);
    }
    c->n_log++;
    lc->replayed++;
}

enum cd_err cohort_load(struct app *app, struct workspace *ws, struct snapshot_cohorts *snap,
                        size_t *replayed) {
    const struct store_cohort_ops *co = STORE_OPS(app->store)->cohorts;
    struct load_ctx lc = {ws, snap, 0, 0, 0};
    int64_t after = snap ? snap->log_seq : 0;
    enum cd_err err = co->load(app->store, ws->id, after, load_cohort, &lc);
    if (err == CD_OK)
        err = co->load_log(app->store, ws->id, after, replay, &lc);
    if (replayed)
        *replayed = lc.replayed;
    if (err == CD_OK && lc.failed)
        err = CD_E_INTERNAL;
    /* users deleted since a bit was written are not members */
    for (size_t i = 0; err == CD_OK && i < ws->cohorts.n; i++)
        roaring_bitmap_and_inplace(ws->cohorts.v[i]->members, ws->ident.live);
    return err;
}
