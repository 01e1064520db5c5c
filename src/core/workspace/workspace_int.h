/*
 * workspace_int.h — the fields of struct workspace and struct app, and the loaders
 * workspace.c composes when it (re)builds a workspace from the store. Only files under
 * src/core/, the composition root src/cli/serve.c and unit tests of core (tests/unit/) may
 * include this header; api/ and the rest see the opaque types of workspace.h and call core's
 * verbs.
 */
#ifndef COHORTD_CORE_WORKSPACE_WORKSPACE_INT_H
#define COHORTD_CORE_WORKSPACE_WORKSPACE_INT_H

#include <pthread.h>
#include <roaring/roaring.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/index/attr_index.h"
#include "core/index/cohort.h"
#include "core/index/event_index.h"
#include "core/index/identity.h"
#include "core/index/undo.h"
#include "core/workspace/workspace.h"
#include "store/store.h"
#include "util/err.h"

/*
 * A committed cohort import not yet published (its turn has not come or its sync has not
 * finished): the net change it wrote, kept so that imports planned behind it see it. Appended
 * by the committing import under `writer`; immutable after; freed by a later import (under
 * `writer` and the read lock) once turn_done has passed it.
 */
struct app;

struct import_pending {
    uint64_t turn;
    struct cohort *cohort;
    roaring_bitmap_t *adds;    /* net adds against the members after every earlier turn */
    roaring_bitmap_t *removes; /* net removes, likewise */
    struct import_pending *next;
};

/*
 * Locks of a workspace, in the order they are taken (docs/internals/threads.md):
 *   writer  — one write (store transaction) of this workspace at a time, from the planning of
 *             the change to its COMMIT; in-place writes hold it to the end of their sync.
 *   lock    — readers (shared) against the change of memory (exclusive, writer-preferring).
 *   pub     — the publish order of pipelined imports (turn_done, with pub_cond).
 * n_writers counts the threads that hold or wait for `writer`: a request that would wait
 * behind app.max_queued_writes others, or longer than app.queue_timeout_ms, is refused
 * (CD_E_BUSY) instead (workspace.c, writer_lock).
 */
struct workspace {
    const struct app *app; /* the registry it is in (its write limits) */
    int64_t id;
    char public_id[64];
    char name[128];
    pthread_mutex_t writer;
    atomic_int n_writers; /* threads holding or waiting for writer */
    pthread_rwlock_t lock;
    pthread_mutex_t pub;
    pthread_cond_t pub_cond;
    struct store_txn *txn;          /* the open write's transaction (writer) */
    uint64_t turn_next;             /* turns handed to committed imports (writer) */
    uint64_t turn_done;             /* turns published (written under lock + pub) */
    struct import_pending *pending; /* oldest first (writer; see struct import_pending) */
    struct import_pending **pending_tail;
    struct identity ident;
    uint64_t ident_version; /* changes (under the write lock) whenever ident may change: every
                             * in-place write and every (re)load; readers compare it under the
                             * read lock to know a copy taken from ident still holds */
    struct cohort_set cohorts;
    struct attr_index attrs;   /* custom attribute values, for segments */
    struct event_index events; /* custom event summaries, for segments */
    struct undo undo;          /* the open write's journal (write lock) */
    atomic_bool loaded;        /* the indexes hold the store's state; false: answer 503 */
    enum cd_err load_err;      /* why the last load failed (write lock) */
    int64_t load_retry_at;     /* UNIX ms before which no load is retried (write lock) */
    /* its lease (leases.c), when app.leased: this node serves ws only while it holds it */
    pthread_mutex_t lease_mx;   /* one acquire of the lease at a time */
    atomic_bool held;           /* this node holds the lease at `epoch` */
    _Atomic int64_t epoch;      /* the epoch every write transaction checks */
    _Atomic int64_t held_until; /* monotonic ms past which the lease counts as lost */
    atomic_bool drop_memory;    /* lost: the renewer drops its indexes */
    /* the store positions of the snapshot file that holds what memory holds (write lock) */
    struct store_snapshot_mark snap_mark;
    bool snap_have; /* false: memory is not in the snapshot file (or there is none) */
};

struct app {
    struct store *store;
    app_cohort_entry_fn on_cohort_entry;
    pthread_mutex_t due_lock; /* guards on_due and due_ctx (set and cleared while serving) */
    app_dispatch_due_fn on_due;
    void *due_ctx;
    int max_queued_writes;           /* writes that may wait behind a workspace's writer; 0: any */
    int64_t queue_timeout_ms;        /* longest such wait; 0: no limit */
    struct rate_limiter *key_limits; /* REST API keys' request counters (rate_limit.h) */
    int max_array_length; /* elements a custom array attribute keeps (app_set_max_array_length) */
    /* several nodes on one store (leases.c): a workspace is served only by the node that holds
     * its lease; false (SQLite, unit tests): this process owns every workspace */
    bool leased;
    atomic_bool node_ready; /* node_id, address and lease_ms are set (app_set_node) */
    char node_id[STORE_LEASE_HOLDER_MAX + 1];
    char address[STORE_LEASE_ADDRESS_MAX + 1];
    int64_t lease_ms;
    char instance[33];     /* this process's random token in the store's node row of node_id */
    atomic_bool node_lost; /* another process took node_id: this one holds and takes nothing */
    /* where start-up snapshots live (snapshot.h), or NULL: every load reads the whole store */
    char *snap_dir;
    pthread_mutex_t reg_lock;
    struct workspace **ws;
    size_t n_ws;
    size_t ws_cap;
};

/*
 * Pipelined writes (cohort imports; workspace.h). The caller matches its ids under the read
 * lock alone; workspace_pipe_begin takes the writer lock (CD_E_STORE when ws is not loaded,
 * CD_E_BUSY when its write queue is full: see app_set_write_limits);
 * the caller nets its change under the read lock, then
 * workspace_pipe_txn opens ws->txn (after the read lock is released: the workspace's locks come
 * before the store's). workspace_pipe_commit commits it without waiting for the sync (or rolls
 * back, if it was opened, when err is not CD_OK), on success queues p (its turn set) and sets
 * *ticket; it always releases the writer lock. workspace_pipe_publish_begin waits for the sync of
 * ticket and for every earlier turn, then takes the write lock: the caller applies p's change to
 * memory (the indexes hold no journal) and calls workspace_pipe_publish_end, which marks the turn
 * done. publish_begin returns CD_E_STORE when the sync failed: the workspace is marked not loaded,
 * the caller applies nothing and still calls publish_end.
 */
enum cd_err workspace_pipe_begin(struct workspace *ws);
enum cd_err workspace_pipe_txn(struct app *app, struct workspace *ws);
enum cd_err workspace_pipe_commit(struct app *app, struct workspace *ws, enum cd_err err,
                                  struct import_pending *p, uint64_t *ticket);
enum cd_err workspace_pipe_publish_begin(struct app *app, struct workspace *ws, uint64_t ticket,
                                         uint64_t turn);
void workspace_pipe_publish_end(struct workspace *ws, uint64_t turn);
/* Marks ws not loaded (answers 503 and reloads from the store on a later request) after a
 * durable change could not be published. Caller holds the write lock. */
void workspace_mark_unloaded(struct workspace *ws, enum cd_err why);
/* Frees the pending imports with turn <= upto (caller holds writer, and the read or write
 * lock so that turn_done cannot move under it). */
void workspace_pending_drop(struct workspace *ws, uint64_t upto);

/* Leases (leases.c). workspace_lease_serve: CD_OK when this node holds the live lease of ws
 * (taking it when no node holds one), CD_E_MOVED and msg naming the owner when another node
 * does, CD_E_STORE when this node is not ready. workspace_lease_check: inside ws->txn, CD_OK
 * when the lease is still this node's (else ws is marked lost and CD_E_MOVED).
 * workspace_lease_check_with_next: the same, the store's check answered by ws->txn's next
 * statement (CD_E_MOVED there; workspace_pipe_commit then marks ws lost). */
enum cd_err workspace_lease_serve(struct app *app, struct workspace *ws, struct cd_msg *msg);
enum cd_err workspace_lease_check(struct app *app, struct workspace *ws);
enum cd_err workspace_lease_check_with_next(struct app *app, struct workspace *ws);
/* Marks the lease of ws lost: not served, not loaded, its memory dropped by the renewer. */
void workspace_lease_lost(struct workspace *ws, const char *why);
/* Loads ws when it is not loaded (a retry being due), as a request does (workspace.c). */
enum cd_err workspace_ensure_loaded(struct app *app, struct workspace *ws, struct cd_msg *msg);
/* Builds ws from the store now (after its lease was taken: memory may be behind what another
 * node wrote); the result is load_or_defer's. */
enum cd_err workspace_reload(struct app *app, struct workspace *ws);
/* Frees the indexes of a workspace this node no longer holds (under its locks). */
void workspace_drop_indexes(struct workspace *ws);

/* Loads the cohorts of ws from the store: checkpoints, then the log replayed behind them; with
 * snap (a start-up snapshot's cohorts, snapshot.h), its members and only what the store holds
 * past its log position (the bitmaps used are moved out of snap). *replayed (may be NULL):
 * the log rows applied. */
struct snapshot_cohorts;
enum cd_err cohort_load(struct app *app, struct workspace *ws, struct snapshot_cohorts *snap,
                        size_t *replayed);

#endif
