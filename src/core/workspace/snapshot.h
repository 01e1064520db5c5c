/*
 * snapshot.h — the start-up snapshot of one workspace (docs/internals/snapshot.md): its
 * identity index, attribute and event indexes and cohort member bitmaps, in one file
 * `<dir>/ws-<id>.snap`, with the store positions it covers (store_snapshot_mark). A load
 * takes the snapshot when its header validates and its positions are not past the store's,
 * then replays the users changed and the cohort log written past them (workspace.c); anything
 * else is a full load from the store.
 * Memory and files only: the caller holds the workspace's locks (core/workspace/workspace.c).
 */
#ifndef COHORTD_CORE_WORKSPACE_SNAPSHOT_H
#define COHORTD_CORE_WORKSPACE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>

#include "core/index/attr_index.h"
#include "core/index/cohort.h"
#include "core/index/event_index.h"
#include "core/index/identity.h"
#include "store/store.h"
#include "util/err.h"

/* The indexes of one workspace a snapshot holds (the workspace's own, borrowed). */
struct snapshot_indexes {
    int64_t ws_id;
    struct identity *ident;
    struct attr_index *attrs;
    struct event_index *events;
    struct cohort_set *cohorts; /* written; a read hands the members out in snapshot_cohorts */
    /* written: each cohort's log rows since its checkpoint, in cohorts' order, as taken under
     * the writer lock with the positions (a pipelined import moves n_log before it publishes);
     * NULL: read from the cohorts themselves (nothing writes meanwhile) */
    const int *n_log;
};

/* The members of one cohort as the snapshot holds them (after the AND with the live users). */
struct snapshot_cohort {
    int64_t id; /* cohort row id */
    int n_log;  /* log rows since its checkpoint, as memory counted them */
    roaring_bitmap_t *members;
};

/* What a read took from the file beyond the indexes: the cohorts, by row id. */
struct snapshot_cohorts {
    struct snapshot_cohort *v; /* row id order */
    size_t n;
    int64_t log_seq;  /* the cohort log position the snapshot covers */
    int64_t user_seq; /* the user change position it covers: users changed after are replayed */
};

/* Frees the bitmaps still held (those not moved to a cohort) and the list. */
void snapshot_cohorts_free(struct snapshot_cohorts *c);

/* The snapshot file of workspace ws_id under dir into out. */
void snapshot_path(const char *dir, int64_t ws_id, char *out, size_t cap);

/*
 * Writes the indexes ix and mark to `path`: a temporary
 * file beside it, fsync'd, renamed over it, the directory fsync'd. Returns CD_OK, CD_E_IO
 * (why says what failed; nothing at `path` changed) or CD_E_NOMEM. *bytes: the file's size.
 */
enum cd_err snapshot_write(const struct snapshot_indexes *ix,
                           const struct store_snapshot_mark *mark, const char *path,
                           uint64_t *bytes, char *why, size_t why_cap);

/* Why a snapshot was not used. */
enum snapshot_miss {
    SNAPSHOT_USED = 0,
    SNAPSHOT_MISSING, /* no file */
    SNAPSHOT_CORRUPT, /* bad magic, length, checksum or content */
    SNAPSHOT_FOREIGN, /* another format version, store or workspace */
    SNAPSHOT_STALE,   /* the store is behind it, or too many users changed since */
    SNAPSHOT_NOMEM,   /* memory ran out while reading it */
};
const char *snapshot_miss_name(enum snapshot_miss m);

/*
 * Reads `path` into the fresh indexes ix->ident, attrs and events (as identity_init and the
 * others left them) when its header matches ix->ws_id and `now` (the store's positions): the same
 * store, user change and log positions not past the store's. On SNAPSHOT_USED the
 * indexes are filled and *cohorts holds the cohort bitmaps (the caller frees it); otherwise
 * why says what was wrong, *cohorts is empty, and the indexes may be half filled: the caller
 * frees them (and starts from fresh ones for a full load).
 */
enum snapshot_miss snapshot_read(const struct snapshot_indexes *ix, const char *path,
                                 const struct store_snapshot_mark *now,
                                 struct snapshot_cohorts *cohorts, char *why, size_t why_cap);

/* The checksum of the file body (exposed for tests): 64-bit words folded in order. */
uint64_t snapshot_checksum(const void *p, size_t len);

#endif
