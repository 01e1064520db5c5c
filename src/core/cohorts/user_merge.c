/*
 * user_merge.c — POST /users/merge (user_merge.h). Cohort memberships are moved first: for
 * each cohort the merged user is in and the kept one is not, one cohort log row adding the kept
 * user (counters unchanged: no partner sent ids) and the in-memory member bit, both undone by
 * the write's rollback; then the users domain merges the profiles and deletes the merged user,
 * whose deletion takes it out of every cohort. A merge is not a cohort entry: cohort_entry
 * campaigns are not started by it. Cost per item: a pass over the workspace's cohorts (a bitmap
 * probe each) plus what users_merge_locked costs.
 */
#include "core/cohorts/user_merge.h"

#include <stdlib.h>
#include <string.h>

#include "core/index/bitmap.h"
#include "core/workspace/workspace_int.h"
#include "util/timeutil.h"

static uint32_t uid_of(struct workspace *ws, const struct user_ref *r) {
    uint32_t uid = 0;
    if (r->kind == USER_REF_EXTERNAL_ID)
        uid = identity_by_external(&ws->ident, r->external_id, NULL);
    else if (r->kind == USER_REF_ALIAS)
        uid = identity_by_alias(&ws->ident, r->alias_label, r->alias_name, NULL);
    return uid && identity_is_live(&ws->ident, uid) ? uid : 0;
}

/* Adds `to` to every cohort `from` is in. */
static enum cd_err move_cohorts(struct app *app, struct workspace *ws, uint32_t from, uint32_t to,
                                int64_t now) {
    roaring_bitmap_t *adds = roaring_bitmap_create(), *none = roaring_bitmap_create();
    size_t len = 0;
    void *blob = NULL;
    if (adds)
        roaring_bitmap_add(adds, to);
    if (adds && none)
        blob = bitmap_to_blob(adds, &len);
    enum cd_err err = blob ? CD_OK : CD_E_NOMEM;
    for (size_t i = 0; err == CD_OK && i < ws->cohorts.n; i++) {
        struct cohort *c = ws->cohorts.v[i];
        if (!roaring_bitmap_contains(c->members, from) || roaring_bitmap_contains(c->members, to))
            continue;
        struct cohort_log_row row = {.adds = blob, .adds_len = len};
        int64_t seq = 0;
        if (cohort_touch(&ws->cohorts, c) != 0) {
            err = CD_E_NOMEM;
            break;
        }
        err = STORE_OPS(app->store)
                  ->cohorts->log_append(workspace_txn(ws), c->id, &row, 0, 0, 0, now, &seq);
        if (err == CD_OK && cohort_members_change(&ws->cohorts, c, adds, none) != 0)
            err = CD_E_NOMEM;
        if (err == CD_OK) {
            c->n_log++; /* the next import checkpoints when this passes its threshold */
            c->changed_at = now;
        }
    }
    free(blob);
    roaring_bitmap_free(adds);
    roaring_bitmap_free(none);
    return err;
}

enum cd_err users_merge(struct app *app, struct workspace *ws, const struct merge_item *items,
                        size_t n_items, struct users_count_result *res) {
    memset(res, 0, sizeof *res);
    int64_t now = time_now_ms();
    enum cd_err err = workspace_write_begin(app, ws);
    if (err != CD_OK)
        return err;
    for (size_t i = 0; i < n_items && err == CD_OK; i++) {
        enum user_minor minor = items[i].invalid;
        uint32_t from = minor ? 0 : uid_of(ws, &items[i].merge);
        uint32_t to = minor ? 0 : uid_of(ws, &items[i].keep);
        if (!minor && (!from || !to))
            minor = USER_MINOR_NO_MATCH;
        if (minor) {
            err = users_minors_add(&res->minors, minor, USER_ARRAY_MERGE_UPDATES, i);
            continue;
        }
        if (from != to) {
            err = move_cohorts(app, ws, from, to, now);
            if (err == CD_OK)
                err = users_merge_locked(app, ws, from, to, now);
        }
        if (err == CD_OK)
            res->n++;
    }
    if ((err = workspace_write_end(app, ws, err)) != CD_OK)
        users_minors_free(&res->minors);
    return err;
}
