/*
 * cohort_import.c — partner cohort changes on top of the identity index and the cohort set
 * (see cohort_import.h). Durable layout: store_cohort_ops (checkpoint + per-request log).
 * A request's changes reduce to two disjoint bitmaps (net adds, net removes) before anything
 * is written, so the log row and the in-memory update are the same set operation. Memory is
 * changed only through cohort.h's recording verbs (cohort_touch before the fields are set), so
 * a failed write's rollback puts every change back.
 */
#include "core/cohorts/cohort_import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/index/bitmap.h"
#include "core/workspace/workspace_int.h"
#include "util/log.h"
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
            ->cohorts->upsert(app->store, ws->id, partner, cohort_id, name, created_at, &id);
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

static enum cd_err record(struct app *app, struct cohort *c, const roaring_bitmap_t *adds,
                          const roaring_bitmap_t *removes, const struct cohort_apply_result *r,
                          int64_t now) {
    const struct store_cohort_ops *co = STORE_OPS(app->store)->cohorts;
    size_t al, rl;
    void *ab = serialise(adds, &al), *rb = serialise(removes, &rl);
    enum cd_err err = (al && !ab) || (rl && !rb) ? CD_E_NOMEM : CD_OK;
    struct cohort_log_row row = {.adds = ab, .adds_len = al, .removes = rb, .removes_len = rl};
    int64_t seq = 0;
    if (err == CD_OK)
        err = co->log_append(app->store, c->id, &row, r->received, r->matched, r->unmatched, now,
                             &seq);
    free(ab);
    free(rb);
    if (err != CD_OK || ++c->n_log < COHORT_CHECKPOINT_EVERY)
        return err;
    /* fold the log into a new checkpoint of the members as they are after this request */
    roaring_bitmap_t *after = roaring_bitmap_copy(c->members);
    roaring_bitmap_or_inplace(after, adds);
    roaring_bitmap_andnot_inplace(after, removes);
    roaring_bitmap_run_optimize(after);
    size_t len;
    void *blob = serialise(after, &len);
    roaring_bitmap_free(after);
    err = len && !blob ? CD_E_NOMEM : co->checkpoint(app->store, c->id, blob, len, seq);
    free(blob);
    if (err == CD_OK)
        c->n_log = 0;
    return err;
}

enum cd_err cohort_apply_locked(struct app *app, struct workspace *ws, const char *partner,
                                const char *cohort_id, const struct cohort_change *changes,
                                size_t n_changes, int64_t now, struct cohort_apply_result *out) {
    memset(out, 0, sizeof *out);
    struct cohort *c;
    enum cd_err err = find_or_create(app, ws, partner, cohort_id, NULL, now, &c);
    if (err == CD_OK && cohort_touch(&ws->cohorts, c) != 0) /* record() and below set fields */
        err = CD_E_NOMEM;
    if (err != CD_OK)
        return err;
    /* identity look-ups dominate an import: prefetch the whole batch in two stages first */
    for (int stage = 0; stage < 2; stage++)
        for (size_t i = 0; i < n_changes; i++)
            for (size_t k = 0; k < changes[i].n_ids; k++) {
                const struct cohort_ident *ci = &changes[i].ids[k];
                enum identity_map map = ci->kind == COHORT_ID_ALIAS    ? IDENTITY_ALIAS
                                        : ci->kind == COHORT_ID_DEVICE ? IDENTITY_DEVICE
                                                                       : IDENTITY_EXTERNAL;
                identity_prefetch(&ws->ident, map, ci->a, ci->b, stage);
            }
    roaring_bitmap_t *adds = roaring_bitmap_create(), *removes = roaring_bitmap_create();
    struct cohort_miss_row misses[MISSES_PER_REQUEST];
    char *miss_text[MISSES_PER_REQUEST];
    size_t n_misses = 0;
    for (size_t i = 0; i < n_changes; i++) {
        const struct cohort_change *ch = &changes[i];
        for (size_t k = 0; k < ch->n_ids; k++) {
            enum match_miss miss = MATCH_OK;
            uint32_t uid = match(&ws->ident, &ch->ids[k], &miss);
            out->received++;
            if (!uid) {
                out->unmatched++;
                if (n_misses < MISSES_PER_REQUEST) {
                    miss_text[n_misses] = identifier_text(&ch->ids[k]);
                    if (!miss_text[n_misses]) {
                        err = CD_E_NOMEM;
                        goto done;
                    }
                    misses[n_misses] = (struct cohort_miss_row){miss_text[n_misses],
                                                                identity_miss_name(miss), now};
                    n_misses++;
                }
                continue;
            }
            out->matched++;
            roaring_bitmap_add(ch->remove ? removes : adds, uid);
            roaring_bitmap_remove(ch->remove ? adds : removes, uid);
        }
    }
    /* net change against the members now */
    roaring_bitmap_andnot_inplace(adds, c->members);
    roaring_bitmap_and_inplace(removes, c->members);
    out->added = (int64_t)roaring_bitmap_get_cardinality(adds);
    out->removed = (int64_t)roaring_bitmap_get_cardinality(removes);
    err = record(app, c, adds, removes, out, now);
    if (err == CD_OK && n_misses)
        err = STORE_OPS(app->store)
                  ->cohorts->misses_add(app->store, c->id, misses, n_misses, COHORT_MISS_SAMPLE);
    if (err == CD_OK && app->on_cohort_entry) /* the "user just entered the cohort" trigger */
        err = app->on_cohort_entry(app, ws, partner, cohort_id, adds, now);
    if (err == CD_OK && cohort_members_change(&ws->cohorts, c, adds, removes) != 0)
        err = CD_E_NOMEM;
    if (err == CD_OK) {
        c->n_ids_received += out->received;
        c->n_ids_matched += out->matched;
        c->n_ids_unmatched += out->unmatched;
        c->changed_at = now;
    }
done:
    for (size_t i = 0; i < n_misses; i++)
        free(miss_text[i]);
    roaring_bitmap_free(adds);
    roaring_bitmap_free(removes);
    return err;
}

enum cd_err cohort_apply(struct app *app, struct workspace *ws, const char *partner,
                         const char *cohort_id, const struct cohort_change *changes,
                         size_t n_changes, struct cohort_apply_result *out) {
    enum cd_err err = workspace_write_begin(app, ws);
    if (err != CD_OK)
        return err;
    err = cohort_apply_locked(app, ws, partner, cohort_id, changes, n_changes, time_now_ms(), out);
    err = workspace_write_end(app, ws, err);
    if (err == CD_OK)
        log_info("cohort",
                 "ws=%s partner=%s received=%lld matched=%lld "
                 "unmatched=%lld added=%lld removed=%lld",
                 ws->public_id, partner, (long long)out->received, (long long)out->matched,
                 (long long)out->unmatched, (long long)out->added, (long long)out->removed);
    return err;
}
