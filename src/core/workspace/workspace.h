/*
 * workspace.h — the in-memory state of one workspace (tenant) and of the process: the
 * registry of workspaces over one store, and the write discipline every domain change uses.
 *
 * Write discipline (docs/internals/threads.md has every lock): a workspace has one write at a
 * time (its writer lock), and writes of different workspaces run in parallel up to the store,
 * where concurrent commits share one sync.
 *
 * In-place writes: workspace_write_begin takes the writer lock, waits for pipelined imports to
 * be published, takes the write lock, opens a store transaction and hands the indexes the
 * workspace's undo journal (core/index/undo.h); the operation writes to the store and updates
 * the in-memory indexes as it goes (so later steps of the same request see earlier ones), each
 * index change recording how to put it back; workspace_write_end commits, waits for the sync and
 * drops the journal. If the operation or the commit fails, the store rolls back and the journal
 * is replayed backwards, so memory is exactly as before the write (no reload). Only when the
 * journal itself could not be kept (no memory) is memory rebuilt from the store. Readers of the
 * workspace wait for the write lock, so they never see a change before it is durable.
 *
 * Store-only writes (a webhook step's targets, its outcomes and their events, its end:
 * core/messaging/campaign_run.c): workspace_store_write_begin takes the writer lock and opens a
 * store transaction, nothing else; workspace_store_write_end commits and waits for the sync.
 * Such a write changes no memory, so readers never wait for it nor for its sync.
 *
 * Pipelined writes (cohort imports, core/cohorts/cohort_import.c): the change is planned under
 * the writer lock and the read lock, committed without waiting for the sync, and published under
 * the write lock once durable, in commit order. Readers never wait for their sync.
 *
 * Load shedding: a request's write (in-place or pipelined) waits for the workspace's writer
 * lock behind at most app_set_write_limits' max_queued others and for at most its timeout;
 * past either it fails at once with CD_E_BUSY and changes nothing (the API answers 429 with
 * Retry-After). The bound is per workspace, so one tenant's full queue never refuses another's
 * writes, and it caps the HTTP threads one workspace's writes can hold. A background thread
 * whose write cannot be refused (the webhook sender records outcomes it already sent) calls
 * workspace_thread_unbounded once and always waits.
 *
 * Readers take the read lock.
 *
 * Loading: a workspace whose load (or rebuild) fails stays registered but not loaded:
 * app_workspace answers CD_E_STORE with a message naming it and the reason, and retries the
 * load at most once a second on later requests; it never hands out a half-built workspace.
 *
 * Outside core, struct workspace and struct app are opaque: api/ asks core for what it needs
 * (core/workspace/auth.h, the verbs of each concept). Their fields are in workspace_int.h.
 */
#ifndef COHORTD_CORE_WORKSPACE_WORKSPACE_H
#define COHORTD_CORE_WORKSPACE_WORKSPACE_H

#include <roaring/roaring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Not needed here since the fields moved to workspace_int.h, but headers of later core folders
 * (segments/, messaging/) still take the index and store types from this one. */
#include "core/index/attr_index.h"
#include "core/index/cohort.h"
#include "core/index/event_index.h"
#include "core/index/identity.h"
#include "store/store.h"
#include "util/err.h"

struct workspace; /* opaque outside core: workspace_int.h */
struct app;

/*
 * Called inside the write of a cohort import with the users the import newly added to
 * (partner, cohort_id), before its commit; an error rolls the import back. The composition
 * root (cli/serve.c) wires the campaigns' cohort-entry trigger here, so the import path does
 * not depend on messaging. NULL: nothing is triggered.
 */
typedef enum cd_err (*app_cohort_entry_fn)(struct app *app, struct workspace *ws,
                                           const char *partner, const char *cohort_id,
                                           const roaring_bitmap_t *added, int64_t now);

/* Called, from the thread that made it, after a write committed a dispatch that is due by now:
 * the webhook sender starts it at once rather than at its next poll. Must not block. */
typedef void (*app_dispatch_due_fn)(void *ctx);

/* Creates the process state over an open store (borrowed) and loads every workspace. */
enum cd_err app_new(struct store *store, struct app **out);
/* app_new that loads each workspace from its start-up snapshot in snap_dir when one is usable
 * (docs/internals/snapshot.md; the directory must exist) and lets workspace_snapshot_save
 * write them there. */
enum cd_err app_new_snapshots(struct store *store, const char *snap_dir, struct app **out);
/* Writes the start-up snapshot of ws when memory holds something the file does not (another
 * user changed, or another log position): *written says whether it did, *bytes its size. Blocks the
 * writes of ws only while it reads the store's positions, and their publishing while it writes
 * the file. CD_E_IO / CD_E_NOMEM with why when it could not (the old file stays). Nothing to do
 * for a workspace not loaded; an app without snapshots only forgets the store's user changes
 * of ws (kept for snapshot loads alone). */
enum cd_err workspace_snapshot_save(struct app *app, struct workspace *ws, bool *written,
                                    uint64_t *bytes, char *why, size_t why_cap);
/* A copy of the registry (the workspaces live as long as app); malloc'd, NULL when empty or
 * out of memory. */
struct workspace **app_workspaces(struct app *app, size_t *n);
/* Creates the process state over a store several nodes share, loading nothing: a workspace
 * loads once this node takes its lease (core/workspace/leases.h: app_set_node, then
 * app_leases_take). */
enum cd_err app_new_leased(struct store *store, struct app **out);
void app_free(struct app *app);

/* Sets (or, with NULL, clears) the cohort-entry hook. Call before serving requests. */
void app_set_cohort_entry(struct app *app, app_cohort_entry_fn fn);

/* Sets (or, with NULL, clears) the due-dispatch hook; safe while serving: once it returns,
 * the previous hook is no longer running nor called. */
void app_set_dispatch_due(struct app *app, app_dispatch_due_fn fn, void *ctx);
/* Calls the due-dispatch hook, if any. */
void app_dispatch_due(struct app *app);

/* The workspace with this internal id, loading it when a CLI created it after start-up.
 * CD_E_NOT_FOUND when the store has no such workspace. The result lives as long as app. */
enum cd_err app_workspace(struct app *app, int64_t ws_id, struct workspace **out);
/* app_workspace that explains a CD_E_STORE for a workspace that is not loaded in msg
 * ("workspace <public id> is not loaded: <reason>; retrying"); msg untouched otherwise. */
enum cd_err app_workspace_msg(struct app *app, int64_t ws_id, struct workspace **out,
                              struct cd_msg *msg);

/* Bounds the wait of a request's write for a workspace's writer lock: at most max_queued
 * writes waiting behind the one that holds it (0: no bound) and at most timeout_ms of waiting
 * (0: no bound). Both 0 (the default of app_new) waits as long as it takes. Call before
 * serving requests. */
void app_set_write_limits(struct app *app, int max_queued, int64_t timeout_ms);

/* The most elements a custom array attribute keeps (Braze: 25 by default, up to 100): a longer
 * array is truncated to its first n elements when it is set or added to. n is clamped to 1 to
 * 100; the default of app_new is APP_MAX_ARRAY_LENGTH_DEFAULT. Call before serving requests. */
#define APP_MAX_ARRAY_LENGTH_DEFAULT 25
void app_set_max_array_length(struct app *app, int n);

/* Makes the calling thread's writes wait for the writer lock without the bounds above (for
 * background workers whose writes must not be refused). */
void workspace_thread_unbounded(void);

/* CD_E_BUSY when the workspace's write queue is full or the wait timed out (see
 * app_set_write_limits): nothing was done, nothing is held. */
enum cd_err workspace_write_begin(struct app *app, struct workspace *ws);
/* Commits when err is CD_OK, else rolls back the store and the journal (memory as before the
 * write); unlocks. Returns CD_OK only when the change is durable. workspace_write_begin fails
 * with CD_E_STORE on a workspace that is not loaded. */
enum cd_err workspace_write_end(struct app *app, struct workspace *ws, enum cd_err err);

/* A write that changes only the store (see the top): CD_E_BUSY and CD_E_STORE as
 * workspace_write_begin; end commits when err is CD_OK, else rolls back, and unlocks. Between
 * them no in-memory index may be changed, and none is locked. */
enum cd_err workspace_store_write_begin(struct app *app, struct workspace *ws);
enum cd_err workspace_store_write_end(struct app *app, struct workspace *ws, enum cd_err err);

/* Waits until every import of ws committed so far is published (in memory), holding nothing
 * after: a reader that saw an import's effect in the store (a cohort-entry dispatch it
 * created) then finds the import's members in memory too. */
void workspace_wait_imports(struct app *app, struct workspace *ws);

/* The transaction of the open write of ws (valid between begin and end, for its thread). */
struct store_txn *workspace_txn(struct workspace *ws);

void workspace_read_begin(struct workspace *ws);
void workspace_read_end(struct workspace *ws);

#endif
