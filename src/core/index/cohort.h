/*
 * cohort.h — partner cohorts of one workspace held in memory: each cohort is identified by
 * (partner, cohort_id) and holds its members as one Roaring bitmap over dense user ids.
 * The store is the source of truth; this set is rebuilt from it at start-up.
 *
 * Readers (segments, exports) take the workspace read lock and may read `members`, `name`
 * and the counters of a cohort found with cohort_find. Writers change them under the
 * workspace write lock through the functions below, which record each change in the set's
 * journal (set->undo) so a failed write can put it back; a writer that sets the scalar fields
 * itself calls cohort_touch first.
 *
 * Invariant: members hold only live users (members ⊆ ident.live). Imports add matched live
 * users only, a deleted user leaves every cohort (cohort_set_drop_user) and start-up intersects
 * the loaded members with the live set, so segment evaluation uses members as they are.
 */
#ifndef COHORTD_CORE_INDEX_COHORT_H
#define COHORTD_CORE_INDEX_COHORT_H

#include <roaring/roaring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/index/strmap.h"
#include "core/index/undo.h"

#define COHORT_PARTNER_CAP 33

struct cohort {
    int64_t id;                       /* store row id */
    char partner[COHORT_PARTNER_CAP]; /* partner slug, e.g. "heap" */
    char *cohort_id;                  /* the partner's id (owned) */
    char *name;                       /* NULL until a name arrives (owned) */
    int64_t created_at;               /* UNIX ms */
    int64_t changed_at;               /* last membership change, UNIX ms; 0 = never */
    roaring_bitmap_t *members;        /* dense uids */
    int64_t n_ids_received;           /* lifetime counters */
    int64_t n_ids_matched;
    int64_t n_ids_unmatched;
    int n_log; /* store log rows since the last checkpoint */
};

struct cohort_set {
    struct cohort **v; /* in creation order */
    size_t n;
    size_t cap;
    struct strmap by_key; /* "<partner>\0<cohort_id>" -> index in v */
    struct undo *undo;    /* the open write's journal, or NULL (see undo.h) */
};

void cohort_set_init(struct cohort_set *set);
void cohort_set_free(struct cohort_set *set);

/* Adds an empty, unnamed cohort to the in-memory set (no store write: callers that create a
 * cohort durably write the store first). Returns NULL when memory ran out or it exists. */
struct cohort *cohort_set_add(struct cohort_set *set, const char *partner, const char *cohort_id);

/* The cohort (partner, cohort_id), or NULL. Borrowed; valid while the workspace lives. */
struct cohort *cohort_find(const struct cohort_set *set, const char *partner,
                           const char *cohort_id);

/* Removes uid from every cohort of the set (memory; the store's tombstone makes it durable). */
void cohort_set_drop_user(struct cohort_set *set, uint32_t uid);

/* Names c (a copy of name) and moves created_at back to created_at when earlier.
 * Returns 0 or -1 (no memory; c unchanged). */
int cohort_set_name(struct cohort_set *set, struct cohort *c, const char *name, int64_t created_at);

/* Records c's scalar fields (id, created_at, changed_at, counters, n_log) so the caller may
 * set them directly in this write. Returns 0 or -1 (no memory: do not change them). */
int cohort_touch(struct cohort_set *set, struct cohort *c);

/* members |= adds, members &= ~removes (adds and removes disjoint). Returns 0 or -1 (no
 * memory; members unchanged). Cost under a journal: a copy of the bits that change. */
int cohort_members_change(struct cohort_set *set, struct cohort *c, const roaring_bitmap_t *adds,
                          const roaring_bitmap_t *removes);

#endif
