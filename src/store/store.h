/*
 * store.h — the one storage interface of cohortd. The store is the source of truth: every
 * acknowledged change is in it, and the in-memory indexes of core/ are rebuilt from it at
 * start-up. A backend (sqlite*.c, postgres*.c) exports one `const struct store_ops`.
 *
 * Threading: one store handle is shared by all threads. Writes that belong together happen
 * inside a transaction: `begin` hands out a `struct store_txn`, the writes take it, `commit` or
 * `rollback` ends it. A transaction is used by the thread that began it, which holds it for as
 * short a time as it can (the backend may serialise transactions). Calls marked "any time" take
 * the store, may run from any thread outside a transaction, read committed state only, and a
 * write among them is a transaction of its own, durable when it returns. A thread that holds a
 * transaction must not make an "any time" write (it fails: the backend may be serialised on it).
 * docs/internals/store.md states what every backend guarantees.
 *
 * Every call returns CD_OK or an error (CD_E_STORE when the database failed, CD_E_NOT_FOUND,
 * CD_E_EXISTS where said). Strings handed out through callbacks are borrowed for the call, and
 * a callback must not call the store again: copy what it needs and call after it returns.
 */
#ifndef COHORTD_STORE_STORE_H
#define COHORTD_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct store;
struct store_txn; /* an open write transaction */

/* ---- admin: workspaces, keys, partners (any time) ---- */

enum key_check { KEY_CHECK_REQUIRED = 0, KEY_CHECK_OFF = 1 };

struct workspace_row {
    int64_t id;
    const char *public_id;
    const char *name;
    int64_t created_at;
};

/* A REST API key as stored. permissions: comma-separated grants, NULL for every permission
 * (what keys made before permissions existed have); rate_limit 0: no limit. */
struct api_key_row {
    int64_t workspace_id;
    const char *key_hash;
    const char *name;
    const char *permissions;
    int64_t rate_limit;    /* requests per rate_period_s */
    int64_t rate_period_s; /* 0 when rate_limit is 0 */
    int64_t created_at;
};

enum import_key_state { IMPORT_KEY_ACTIVE = 0, IMPORT_KEY_INVALIDATED = 1 };

struct store_admin_ops {
    /* Creates a workspace; CD_E_EXISTS when the name is taken. Sets *id. */
    enum cd_err (*workspace_create)(struct store *s, const char *public_id, const char *name,
                                    int64_t now, int64_t *id);
    /* Finds a workspace by public id, or (public_id NULL) the oldest one. */
    enum cd_err (*workspace_find)(struct store *s, const char *public_id,
                                  void (*cb)(void *ctx, const struct workspace_row *), void *ctx);
    enum cd_err (*workspace_get)(struct store *s, int64_t id,
                                 void (*cb)(void *ctx, const struct workspace_row *), void *ctx);
    enum cd_err (*workspace_list)(struct store *s,
                                  void (*cb)(void *ctx, const struct workspace_row *), void *ctx);

    /* REST API keys, stored as SHA-256 hex (row: workspace_id, key_hash, name, permissions,
     * rate_limit, rate_period_s; created_at is `now`). */
    enum cd_err (*api_key_add)(struct store *s, const struct api_key_row *row, int64_t now);
    /* Revokes; CD_E_NOT_FOUND when no active key has this hash. */
    enum cd_err (*api_key_revoke)(struct store *s, const char *key_hash, int64_t now);
    /* Revokes the active key of workspace ws whose hash begins with hash_prefix (a key's id);
     * CD_E_NOT_FOUND when there is none. */
    enum cd_err (*api_key_revoke_prefix)(struct store *s, int64_t ws, const char *hash_prefix,
                                         int64_t now);
    /* Calls cb on the active key with this hash; CD_E_NOT_FOUND when there is none. */
    enum cd_err (*api_key_lookup)(struct store *s, const char *key_hash,
                                  void (*cb)(void *ctx, const struct api_key_row *), void *ctx);
    /* Calls cb on every active key of workspace ws, oldest first. */
    enum cd_err (*api_key_list)(struct store *s, int64_t ws,
                                void (*cb)(void *ctx, const struct api_key_row *), void *ctx);

    /* Partners. partner_add creates one with its first key (SHA-256 hex), in one transaction:
     * CD_E_EXISTS when present. */
    enum cd_err (*partner_add)(struct store *s, const char *name, enum key_check check,
                               const char *key_hash, int64_t now);
    enum cd_err (*partner_get)(struct store *s, const char *name, enum key_check *check);
    /* Calls cb on every partner, by name. */
    enum cd_err (*partner_list)(struct store *s,
                                void (*cb)(void *ctx, const char *name, enum key_check check),
                                void *ctx);
    /* Sets how a partner's key is checked; CD_E_NOT_FOUND when there is no such partner. */
    enum cd_err (*partner_set_check)(struct store *s, const char *name, enum key_check check);
    /* CD_OK when the hash is an active key of the partner, CD_E_NOT_FOUND otherwise. */
    enum cd_err (*partner_key_check)(struct store *s, const char *partner, const char *key_hash);

    /* Data import keys (client_secret), one active per (workspace, partner), kept in clear
     * because the dashboard shows them. import_key_active: CD_E_NOT_FOUND when none. */
    enum cd_err (*import_key_active)(struct store *s, int64_t ws, const char *partner,
                                     char key_out[64]);
    /* Invalidates the active key (if any) and makes `key` the active one. */
    enum cd_err (*import_key_replace)(struct store *s, int64_t ws, const char *partner,
                                      const char *key, int64_t now);
    /* Invalidates the active key; CD_E_NOT_FOUND when there is none. */
    enum cd_err (*import_key_invalidate)(struct store *s, int64_t ws, const char *partner,
                                         int64_t now);
    /* Looks a key up whatever its state. partner_out holds at least 64 bytes. */
    enum cd_err (*import_key_lookup)(struct store *s, const char *key, int64_t *ws,
                                     char partner_out[64], enum import_key_state *state);
    /* partner_get and import_key_lookup in one read (a partner import asks both): CD_E_NOT_FOUND
     * when there is no such partner; otherwise *check is set and *key_found says whether key is
     * an import key (of any partner), whose ws, partner_out and state are then set as by
     * import_key_lookup. */
    enum cd_err (*partner_import_key)(struct store *s, const char *partner, const char *key,
                                      enum key_check *check, bool *key_found, int64_t *ws,
                                      char partner_out[64], enum import_key_state *state);
};

/* ---- dashboard users (any time) ---- */

struct dash_user_row {
    int64_t id;
    const char *email;         /* lower-case */
    const char *role;          /* "admin" or "member" */
    const char *password_hash; /* Argon2id, encoded */
    int64_t password_set_at;   /* when the password was last set (sessions older are void) */
    int64_t created_at;
};

struct dash_session_row {
    const char *hash; /* SHA-256 of the token, 64 lower-case hex characters */
    int64_t user_id;
    int64_t password_set_at; /* the user's password generation when the session began */
    int64_t ws_id;           /* the session's current workspace */
    int64_t created_at;
    int64_t used_at;
};

struct store_dashboard_ops {
    /* Adds a user; CD_E_EXISTS when the email is taken. Sets *id. */
    enum cd_err (*user_add)(struct store *s, const char *email, const char *role,
                            const char *password_hash, int64_t now, int64_t *id);
    /* The user with this email, or (email NULL) this id; CD_E_NOT_FOUND when none. */
    enum cd_err (*user_get)(struct store *s, const char *email, int64_t id,
                            void (*cb)(void *ctx, const struct dash_user_row *), void *ctx);
    /* Every user, oldest first. */
    enum cd_err (*user_list)(struct store *s, void (*cb)(void *ctx, const struct dash_user_row *),
                             void *ctx);
    /* CD_E_NOT_FOUND when no user has this email. */
    enum cd_err (*user_delete)(struct store *s, const char *email);
    enum cd_err (*user_set_password)(struct store *s, const char *email, const char *password_hash,
                                     int64_t now);

    /* Dashboard login sessions (core/workspace/dash_sessions.h), shared by every node of a
     * store: a row per session, found by the SHA-256 (hex) of its token; the token itself is
     * never stored. */
    /* Adds a session; CD_E_EXISTS when its hash is taken. */
    enum cd_err (*session_add)(struct store *s, const struct dash_session_row *row);
    /* The session of this hash into *out (out->hash is left NULL); CD_E_NOT_FOUND when none. */
    enum cd_err (*session_get)(struct store *s, const char *hash, struct dash_session_row *out);
    /* Sets a session's last use; CD_E_NOT_FOUND when it is gone. */
    enum cd_err (*session_touch)(struct store *s, const char *hash, int64_t used_at);
    /* Switches a session's current workspace; CD_E_NOT_FOUND when it is gone. */
    enum cd_err (*session_set_workspace)(struct store *s, const char *hash, int64_t ws_id);
    /* Ends the session of this hash (CD_OK when there is none). */
    enum cd_err (*session_end)(struct store *s, const char *hash);
    /* Ends every session of a user (user_id > 0), or every session (user_id 0). */
    enum cd_err (*session_end_user)(struct store *s, int64_t user_id);
    /* Ends the sessions last used before used_before or created before created_before, then
     * the least recently used ones beyond the `keep` most recently used. */
    enum cd_err (*session_prune)(struct store *s, int64_t used_before, int64_t created_before,
                                 int64_t keep);
};

/* ---- users (inside a transaction, except load) ---- */

enum event_kind { EVENT_KIND_CUSTOM = 0, EVENT_KIND_PURCHASE = 1 };

struct user_row {
    uint32_t uid;
    const char *braze_id;
    const char *external_id; /* NULL when anonymous or alias-only */
    bool created_anonymous;
    bool deleted;
    const char *attrs; /* JSON object text */
    int64_t created_at;
    int64_t updated_at;
};

struct ident_row {
    uint32_t uid;
    const char *a; /* alias: label; device: device id */
    const char *b; /* alias: name;  device: NULL */
};

/* The times of the most recent occurrences kept per (user, custom event), by event time
 * (core/index/event_index.h's EVENT_RECENT_MAX). */
#define STORE_EVENT_RECENT 50

struct event_summary_row {
    enum event_kind kind;
    const char *name;
    int64_t count;
    int64_t first_at;
    int64_t last_at;
    /* load_events only, custom events: the times of the min(count, STORE_EVENT_RECENT) most
     * recent occurrences, in no order (fewer for summaries stored before migration 7). */
    const int64_t *recent;
    size_t n_recent;
};

/* One occurrence count to add to a user's event summary (events_bump). */
struct event_bump_row {
    uint32_t uid;
    enum event_kind kind;
    const char *name;
    int64_t count;
    int64_t at;
};

/*
 * Writes take the transaction; the reads that a transaction may need to see its own writes
 * through (get, aliases_of, devices_of, events_of) take the store and a transaction or NULL
 * (committed state).
 */
struct store_snapshot_mark {
    bool supported;
    uint8_t store_id[16];
    int64_t user_seq; /* the last user change position handed out (store-wide) */
    int64_t log_seq;
};

/* The callbacks of a load (load_changed hands the rows as the four loads below do). */
struct store_user_load {
    void (*user)(void *ctx, const struct user_row *);
    void (*alias)(void *ctx, const struct ident_row *);
    void (*device)(void *ctx, const struct ident_row *);
    void (*event)(void *ctx, uint32_t uid, const struct event_summary_row *);
};

struct store_user_ops {
    /* The uid the next user of ws gets: the store assigns uids, in the transaction, never
     * reusing one that a committed user holds. The caller inserts the user under it. */
    enum cd_err (*uid_next)(struct store_txn *t, int64_t ws, uint32_t *uid);
    enum cd_err (*insert)(struct store_txn *t, int64_t ws, const struct user_row *u);
    enum cd_err (*set_external_id)(struct store_txn *t, int64_t ws, uint32_t uid, const char *ext,
                                   int64_t now);
    enum cd_err (*set_attrs)(struct store_txn *t, int64_t ws, uint32_t uid, const char *attrs_json,
                             int64_t now);
    /* Marks the user deleted, clears its identifiers, attributes and event summaries. */
    enum cd_err (*remove)(struct store_txn *t, int64_t ws, uint32_t uid, int64_t now);
    /* One user (deleted ones included); CD_E_NOT_FOUND when no such uid. */
    enum cd_err (*get)(struct store *s, struct store_txn *t, int64_t ws, uint32_t uid,
                       void (*cb)(void *ctx, const struct user_row *), void *ctx);
    /* Puts n aliases (row.a label, row.b name) on their users; a (label, name) moves. */
    enum cd_err (*aliases_put)(struct store_txn *t, int64_t ws, const struct ident_row *rows,
                               size_t n);
    enum cd_err (*aliases_of)(struct store *s, struct store_txn *t, int64_t ws, uint32_t uid,
                              void (*cb)(void *ctx, const struct ident_row *), void *ctx);
    enum cd_err (*device_put)(struct store_txn *t, int64_t ws, const char *device_id, uint32_t uid);
    enum cd_err (*devices_of)(struct store *s, struct store_txn *t, int64_t ws, uint32_t uid,
                              void (*cb)(void *ctx, const struct ident_row *), void *ctx);
    /* Adds each row's `count` occurrences at time `at` to the summary of (uid, kind, name); for
     * a custom event also keeps the time, trimming its kept times to the STORE_EVENT_RECENT
     * newest. One call for a request's events. */
    enum cd_err (*events_bump)(struct store_txn *t, int64_t ws, const struct event_bump_row *rows,
                               size_t n);
    enum cd_err (*events_of)(struct store *s, struct store_txn *t, int64_t ws, uint32_t uid,
                             void (*cb)(void *ctx, const struct event_summary_row *), void *ctx);
    /* Moves every alias, device and event summary of `from` onto `to` (identify-merge). */
    enum cd_err (*merge_into)(struct store_txn *t, int64_t ws, uint32_t from, uint32_t to);

    /* Up to `limit` users with uid >= from, in uid order; any time (exports read in chunks). */
    enum cd_err (*range)(struct store *s, int64_t ws, uint32_t from, int64_t limit,
                         void (*cb)(void *ctx, const struct user_row *), void *ctx);

    /* Start-up loading, in uid order; any time. */
    enum cd_err (*load_users)(struct store *s, int64_t ws,
                              void (*cb)(void *ctx, const struct user_row *), void *ctx);
    enum cd_err (*load_aliases)(struct store *s, int64_t ws,
                                void (*cb)(void *ctx, const struct ident_row *), void *ctx);
    enum cd_err (*load_devices)(struct store *s, int64_t ws,
                                void (*cb)(void *ctx, const struct ident_row *), void *ctx);
    /* Every event summary of the workspace's users; uid is passed through `uid`. */
    enum cd_err (*load_events)(struct store *s, int64_t ws,
                               void (*cb)(void *ctx, uint32_t uid,
                                          const struct event_summary_row *),
                               void *ctx);
    /* The positions a start-up snapshot of ws records (docs/internals/snapshot.md): the store's
     * identity, the last user change position handed out (every change to a user, alias, device
     * or event summary of any workspace takes the next one, and records the uids it touched),
     * and the last cohort log seq handed out. A store without them (several nodes share it)
     * sets supported = false. Any time; exact only while no write of ws runs. */
    enum cd_err (*snapshot_mark)(struct store *s, int64_t ws, struct store_snapshot_mark *out);
    /* Each uid of ws changed after user change position `after` (created, changed, deleted,
     * merged away or into), once, in no order; read in a range of the change positions, so its
     * cost follows the changes made since, not the users. *supported = false (and no call) in
     * a store without positions. Any time. */
    enum cd_err (*changed_since)(struct store *s, int64_t ws, int64_t after,
                                 void (*cb)(void *ctx, uint32_t uid), void *ctx, bool *supported);
    /* The rows of the users changed_since gives (their user row, aliases, devices and event
     * summaries), as load_users / load_aliases / load_devices / load_events hand them, in that
     * order. CD_E_INVALID in a store without positions. Any time. */
    enum cd_err (*load_changed)(struct store *s, int64_t ws, int64_t after,
                                const struct store_user_load *fns, void *ctx);
    /* Forgets the changes of ws at positions below `before` (a snapshot at `before` was written:
     * no load asks for them again), in short transactions of their own (a store that had many
     * writes behind it does not hold the writer long). Nothing in a store without positions. */
    enum cd_err (*changes_prune)(struct store *s, int64_t ws, int64_t before);
};

/* ---- the Currents outbox (append inside a transaction) ---- */

struct store_outbox_ops {
    /* Appends one event (its JSON text); sets *seq. Readers of the outbox (outbox_after) see an
     * event only once its transaction is durable, and seqs grow in commit order. */
    enum cd_err (*append)(struct store_txn *t, int64_t ws, const char *event_type, int64_t now,
                          const char *body, int64_t *seq);
};

/* ---- partner cohorts (writes inside a transaction; load any time) ---- */

struct cohort_row {
    int64_t id;
    const char *partner;
    const char *cohort_id;
    const char *name; /* NULL until named */
    int64_t created_at;
    int64_t changed_at;
    int64_t n_received;
    int64_t n_matched;
    int64_t n_unmatched;
    const void *checkpoint; /* portable Roaring bitmap, or NULL */
    size_t checkpoint_len;
    int64_t checkpoint_seq; /* log rows up to this seq are in the checkpoint */
};

struct cohort_log_row {
    int64_t seq;
    int64_t cohort;   /* cohort_row.id */
    const void *adds; /* portable Roaring bitmaps of the uids a request added / removed */
    size_t adds_len;
    const void *removes;
    size_t removes_len;
};

struct cohort_miss_row {
    const char *identifier;
    const char *reason;
    int64_t at;
};

struct store_cohort_ops {
    /* Creates (partner, cohort_id) or updates it: a non-NULL name replaces the name, the
     * earliest created_at is kept. Sets *id. */
    enum cd_err (*upsert)(struct store_txn *t, int64_t ws, const char *partner,
                          const char *cohort_id, const char *name, int64_t created_at, int64_t *id);
    /* Appends one request's net change and adds to the counters; sets *seq. */
    enum cd_err (*log_append)(struct store_txn *t, int64_t cohort, const struct cohort_log_row *row,
                              int64_t n_received, int64_t n_matched, int64_t n_unmatched,
                              int64_t now, int64_t *seq);
    /* Replaces the checkpoint and drops the log rows it covers (seq <= upto). */
    enum cd_err (*checkpoint)(struct store_txn *t, int64_t cohort, const void *blob, size_t len,
                              int64_t upto);
    /* Records unmatched identifiers, keeping the `keep` most recent per cohort. */
    enum cd_err (*misses_add)(struct store_txn *t, int64_t cohort,
                              const struct cohort_miss_row *rows, size_t n, int keep);
    enum cd_err (*misses_list)(struct store *s, int64_t cohort,
                               void (*cb)(void *ctx, const struct cohort_miss_row *), void *ctx);
    /* Start-up: every cohort of ws (id order), then every log row after its checkpoint. With
     * after > 0 (a snapshot covers the log up to it): a checkpoint only when its checkpoint_seq
     * is past `after` (else checkpoint is NULL), and only the log rows past both. */
    enum cd_err (*load)(struct store *s, int64_t ws, int64_t after,
                        void (*cb)(void *ctx, const struct cohort_row *), void *ctx);
    enum cd_err (*load_log)(struct store *s, int64_t ws, int64_t after,
                            void (*cb)(void *ctx, const struct cohort_log_row *), void *ctx);
};

/* ---- segments (any time; single statements) ---- */

struct segment_row {
    const char *segment_id; /* public id */
    const char *name;
    const char *description; /* may be NULL */
    const char *filter;      /* JSON text */
    int64_t created_at;
    int64_t updated_at;
};

struct store_segment_ops {
    enum cd_err (*create)(struct store *s, int64_t ws, const struct segment_row *row);
    /* Replaces name / description / filter where not NULL; CD_E_NOT_FOUND when unknown. */
    enum cd_err (*update)(struct store *s, int64_t ws, const char *segment_id, const char *name,
                          const char *description, const char *filter, int64_t now);
    enum cd_err (*remove)(struct store *s, int64_t ws, const char *segment_id, int64_t now);
    enum cd_err (*get)(struct store *s, int64_t ws, const char *segment_id,
                       void (*cb)(void *ctx, const struct segment_row *), void *ctx);
    /* Live segments by creation time (ascending or not), `limit` from `offset`. */
    enum cd_err (*list)(struct store *s, int64_t ws, bool ascending, int64_t offset, int64_t limit,
                        void (*cb)(void *ctx, const struct segment_row *), void *ctx);
};

/* ---- Currents: export streams fed from the outbox (any time, except the progress records
 * advance, dead_letter and replayed, which take a transaction so they land together) ---- */

struct current_row {
    int64_t id;
    int64_t workspace_id;
    const char *current_id; /* public id */
    const char *name;
    const char *type; /* "heap" or "custom_http" */
    const char *endpoint;
    const char *bearer_token; /* NULL when none */
    const char *event_types;  /* JSON array text */
    int64_t batch_size;
    const char *state; /* "active", "paused", "failed" */
    int64_t position;  /* last outbox seq handled (delivered or dead-lettered) */
    int64_t n_delivered;
    int64_t n_retried;
    int64_t n_dead;
    const char *last_error; /* NULL when none */
    int64_t created_at;
    /* the credential probe sent at creation: probe_at 0 when none was recorded */
    int64_t probe_at;
    int64_t probe_status;    /* 0: nothing answered */
    const char *probe_error; /* NULL for a 2xx */
};

struct outbox_row {
    int64_t seq;
    const char *event_type;
    int64_t created_at;
    const char *body;
};

struct store_currents_ops {
    /* Creates a Current positioned after the newest outbox event. */
    enum cd_err (*create)(struct store *s, const struct current_row *row);
    /* Currents of a workspace (ws > 0) or of every workspace (ws == 0), oldest first. */
    enum cd_err (*list)(struct store *s, int64_t ws,
                        void (*cb)(void *ctx, const struct current_row *), void *ctx);
    enum cd_err (*get)(struct store *s, int64_t ws, const char *current_id,
                       void (*cb)(void *ctx, const struct current_row *), void *ctx);
    /* Sets state and last_error (NULL keeps it); CD_E_NOT_FOUND when unknown. */
    /* Keeps the answer of a Current's credential probe (replacing an earlier one);
     * CD_E_NOT_FOUND when ws has no such live Current. */
    enum cd_err (*probe_set)(struct store *s, int64_t ws, const char *current_id, int64_t at,
                             int64_t status, const char *error);
    enum cd_err (*set_state)(struct store *s, int64_t current, const char *state,
                             const char *last_error);
    enum cd_err (*remove)(struct store *s, int64_t ws, const char *current_id, int64_t now);
    /* Records progress: position moves to `position`, counters grow by the deltas. */
    enum cd_err (*advance)(struct store_txn *t, int64_t current, int64_t position,
                           int64_t delivered, int64_t retried, int64_t dead,
                           const char *last_error);
    /* Up to `limit` durable outbox events of ws after seq `after`, in order. */
    enum cd_err (*outbox_after)(struct store *s, int64_t ws, int64_t after, int64_t limit,
                                void (*cb)(void *ctx, const struct outbox_row *), void *ctx);
    /* Creation time of the first event after `after` whose type is in types (JSON array). */
    enum cd_err (*oldest_after)(struct store *s, int64_t ws, int64_t after, const char *types,
                                int64_t *created_at);
    /* How many durable events after `after` have a type in types (JSON array): a Current's
     * backlog, for /metrics. Cost: one indexed range count. */
    enum cd_err (*pending_after)(struct store *s, int64_t ws, int64_t after, const char *types,
                                 int64_t *n);
    enum cd_err (*dead_letter)(struct store_txn *t, int64_t current, int64_t seq, const char *body,
                               const char *reason, int64_t now);
    /* Marks every dead letter of the Current for replay; sets *n. */
    enum cd_err (*replay)(struct store *s, int64_t current, int64_t *n);
    /* Up to `limit` dead letters queued for replay (seq order); the row's seq is the letter id. */
    enum cd_err (*replays)(struct store *s, int64_t current, int64_t limit,
                           void (*cb)(void *ctx, const struct outbox_row *), void *ctx);
    /* Drops replayed letters up to id `upto` after a 2xx. */
    enum cd_err (*replayed)(struct store_txn *t, int64_t current, int64_t upto);
};

/* ---- Heap segment-sync integrations (any time, except page_record: in a transaction) ---- */

enum heap_mapping { HEAP_MAP_EXTERNAL_ID = 0, HEAP_MAP_ALIAS = 1, HEAP_MAP_DEVICE_ID = 2 };

struct heap_integration_row {
    int64_t id;
    int64_t workspace_id;
    const char *integration_id; /* public id, in the webhook path */
    const char *name;
    enum heap_mapping mapping;
    const char *alias_label; /* HEAP_MAP_ALIAS only */
    const char *secret;      /* kept in clear: HMAC verification needs it */
    int64_t created_at;
    int64_t n_pages;   /* sync pages applied */
    int64_t n_ignored; /* requests acknowledged but ignored (other action_type) */
};

struct heap_sync_row {
    const char *sync_task_id;
    const char *cohort_id;
    int64_t total_pages;
    int64_t pages_seen;
    int64_t started_at;
    int64_t completed_at; /* 0 while pages are missing */
    int64_t n_added;      /* ids received in add / remove lists */
    int64_t n_removed;
};

struct store_heap_ops {
    enum cd_err (*create)(struct store *s, const struct heap_integration_row *row, int64_t *id);
    /* Every live integration of a workspace, oldest first. */
    enum cd_err (*list)(struct store *s, int64_t ws,
                        void (*cb)(void *ctx, const struct heap_integration_row *), void *ctx);
    /* A live integration by public id (any workspace); CD_E_NOT_FOUND otherwise. */
    enum cd_err (*get)(struct store *s, const char *integration_id,
                       void (*cb)(void *ctx, const struct heap_integration_row *), void *ctx);
    /* Changes the secret of a live integration of ws; CD_E_NOT_FOUND otherwise. */
    enum cd_err (*set_secret)(struct store *s, int64_t ws, const char *integration_id,
                              const char *secret);
    enum cd_err (*remove)(struct store *s, int64_t ws, const char *integration_id, int64_t now);
    enum cd_err (*count_ignored)(struct store *s, int64_t integration);
    /*
     * Records page `page` of sync `sync_task_id` with the digest of its content (64 hex; in the
     * caller's transaction). Sets *seen when the page was recorded before with the same digest
     * (or before digests were kept): then nothing changes. A page seen with another digest is
     * recorded again (its new digest kept, its ids counted, pages_seen unchanged).
     */
    enum cd_err (*page_record)(struct store_txn *t, int64_t integration, const char *sync_task_id,
                               const char *cohort_id, int64_t page, int64_t total_pages,
                               int64_t n_added, int64_t n_removed, const char *digest, int64_t now,
                               bool *seen);
    /* Syncs that touched a cohort of a workspace, newest first (at most `limit`). */
    enum cd_err (*syncs_of_cohort)(struct store *s, int64_t ws, const char *cohort_id, int limit,
                                   void (*cb)(void *ctx, const struct heap_sync_row *), void *ctx);
};

/* ---- campaigns and Canvases (reads and archive any time; the other writes take the
 * transaction of the workspace write they belong to) ---- */

enum campaign_kind { CAMPAIGN_KIND_CAMPAIGN = 0, CAMPAIGN_KIND_CANVAS = 1 };

struct campaign_row {
    int64_t id;
    int64_t workspace_id;
    enum campaign_kind kind;
    const char *public_id;
    const char *name;
    const char *segment_id;
    const char *definition;    /* JSON: message or steps, schedule, rate limit, variation */
    const char *schedule_type; /* "immediate", "at", "api_triggered" or "cohort_entry" */
    const char *entry_partner; /* cohort_entry only, else NULL */
    const char *entry_cohort;  /* cohort_entry only, else NULL */
    int64_t created_at;
    int64_t archived_at; /* 0 while live */
    int64_t n_entered;   /* users that entered (Canvas) or were targeted (campaign) */
    int64_t n_sent;
    int64_t n_failed;
};

/*
 * A dispatch: one send of a campaign (or one entry batch of a Canvas) to a set of users, walked
 * step by step. `audience` is who may receive it (NULL: the segment's whole audience when the
 * step starts); `targets` is fixed when a step starts (audience ∩ segment then), so a restart
 * resumes the same recipients, and a delivery row per (step, uid) says who is done.
 */
struct dispatch_row {
    int64_t id;
    int64_t workspace_id;
    int64_t campaign; /* campaign_row.id */
    const char *dispatch_id;
    const char *send_id;    /* NULL when none */
    const char *properties; /* JSON {"all": {…}, "users": {"<uid>": {…}}}, or NULL */
    int64_t step;
    int64_t due_at;
    const void *audience; /* portable Roaring bitmap or NULL */
    size_t audience_len;
    const void *targets; /* portable Roaring bitmap or NULL until the step starts */
    size_t targets_len;
    int64_t created_at;
    const char *schedule_id; /* a trigger schedule's id (dispatch_add only); NULL when none */
};

/* A dispatch that has not started yet (a scheduled send), with its campaign. */
struct scheduled_row {
    const char *dispatch_id;
    const char *schedule_id; /* NULL: the campaign's own `at` schedule */
    enum campaign_kind kind;
    const char *public_id; /* the campaign's */
    const char *name;
    const char *definition;
    int64_t due_at;
};

/* Which campaigns a list shows: archived ones too or not, by creation time (then id) oldest or
 * newest first, only those last edited (archived, else created) after a time, one page. */
struct campaign_list_query {
    bool include_archived;
    bool newest_first;
    int64_t edited_after; /* UNIX ms; INT64_MIN: any */
    int64_t offset;
    int64_t limit;
};

enum delivery_state { DELIVERY_SENT = 0, DELIVERY_FAILED = 1, DELIVERY_ABORTED = 2 };

/* A failed delivery (DELIVERY_FAILED) of a campaign or Canvas. */
struct delivery_failure_row {
    int64_t dispatch;
    int64_t step;
    uint32_t uid;
    int64_t attempts;
    int64_t at;
    const char *reason; /* "" when none was recorded (deliveries recorded before reasons) */
};

struct store_campaign_ops {
    /* Creates a campaign or Canvas; sets *id. CD_E_EXISTS when the public id is taken. */
    enum cd_err (*create)(struct store_txn *t, const struct campaign_row *row, int64_t *id);
    /* CD_E_NOT_FOUND when no live one of this kind has the id. */
    enum cd_err (*archive)(struct store *s, int64_t ws, enum campaign_kind kind,
                           const char *public_id, int64_t now);
    /* One campaign of ws (archived included) by public id, or by row id when public_id is
     * NULL (then ws is not checked); CD_E_NOT_FOUND when none. */
    enum cd_err (*get)(struct store *s, int64_t ws, enum campaign_kind kind, const char *public_id,
                       int64_t id, void (*cb)(void *ctx, const struct campaign_row *), void *ctx);
    /* The campaigns of this kind of ws that q selects, in its order, from its offset, at most
     * its limit. */
    enum cd_err (*list)(struct store *s, int64_t ws, enum campaign_kind kind,
                        const struct campaign_list_query *q,
                        void (*cb)(void *ctx, const struct campaign_row *), void *ctx);
    /* Live cohort_entry campaigns and Canvases on (partner, cohort_id). */
    enum cd_err (*on_cohort)(struct store *s, int64_t ws, const char *partner,
                             const char *cohort_id,
                             void (*cb)(void *ctx, const struct campaign_row *), void *ctx);
    /* Adds users to the entered counter. */
    enum cd_err (*count_entered)(struct store_txn *t, int64_t campaign, int64_t n);

    /* Creates a dispatch (targets are ignored); sets *id. */
    enum cd_err (*dispatch_add)(struct store_txn *t, const struct dispatch_row *row, int64_t *id);
    /* Unfinished dispatches of every workspace due at `now`, by due time, at most `limit`. */
    enum cd_err (*dispatches_due)(struct store *s, int64_t now, int64_t limit,
                                  void (*cb)(void *ctx, const struct dispatch_row *), void *ctx);
    /* Fixes the targets of the current step. */
    enum cd_err (*dispatch_start)(struct store_txn *t, int64_t dispatch, const void *targets,
                                  size_t len);
    /* Moves to `step`, due at due_at, with a new audience and no targets yet. */
    enum cd_err (*dispatch_next)(struct store_txn *t, int64_t dispatch, int64_t step,
                                 int64_t due_at, const void *audience, size_t len);
    enum cd_err (*dispatch_finish)(struct store_txn *t, int64_t dispatch, int64_t now);
    /* The dispatch of `campaign` with this schedule id, while it has not started (step 0, no
     * targets, unfinished, due after now): moved to due_at, or finished when cancel. *found
     * is false (and nothing changes) when there is none. */
    enum cd_err (*schedule_change)(struct store_txn *t, int64_t campaign, const char *schedule_id,
                                   int64_t now, bool cancel, int64_t due_at, bool *found);
    /* Dispatches of ws of live campaigns not started yet and due in (now, until], by due
     * time. */
    enum cd_err (*scheduled)(struct store *s, int64_t ws, int64_t now, int64_t until,
                             void (*cb)(void *ctx, const struct scheduled_row *), void *ctx);
    /* Records the outcome for one user, with why it failed (NULL when it did not).
     * CD_E_EXISTS when the (dispatch, step, uid) outcome is already recorded. */
    enum cd_err (*delivery_record)(struct store_txn *t, int64_t dispatch, int64_t step,
                                   uint32_t uid, enum delivery_state state, int64_t attempts,
                                   int64_t now, const char *reason);
    /* Adds to the campaign's sent and failed counters. */
    enum cd_err (*count_outcomes)(struct store_txn *t, int64_t campaign, int64_t sent,
                                  int64_t failed);
    /* Users with a recorded outcome for (dispatch, step). */
    enum cd_err (*deliveries)(struct store *s, int64_t dispatch, int64_t step,
                              void (*cb)(void *ctx, uint32_t uid), void *ctx);
    /* The newest `limit` failed deliveries (DELIVERY_FAILED) of the dispatches of `campaign`
     * (row id), newest first (by time, then dispatch, step and uid, each descending); kept as
     * long as the deliveries are (retention). */
    enum cd_err (*failures)(struct store *s, int64_t campaign, int64_t limit,
                            void (*cb)(void *ctx, const struct delivery_failure_row *), void *ctx);
};

/* ---- daily history: one row per (workspace, object, UTC day) (any time) ---- */

/* What a history row is of; object_id is the segment id, "partner/cohort_id", or the public id
 * of a campaign or Canvas; for HISTORY_CANVAS_STEP "canvas public id/step id", whose row holds
 * what that day counted (sent, failed), not a cumulative sample (see add). */
enum history_kind {
    HISTORY_SEGMENT = 1,
    HISTORY_COHORT,
    HISTORY_CAMPAIGN,
    HISTORY_CANVAS,
    HISTORY_CANVAS_STEP
};

/* The last sample of one day: a size (segments, cohorts) or cumulative counters (campaigns and
 * Canvases: entered, sent, failed since creation). */
struct history_row {
    enum history_kind kind;
    const char *object_id;
    int64_t day; /* UNIX ms / 86400000 */
    int64_t size;
    int64_t entered, sent, failed;
};

/* One UTC day of a campaign's deliveries of one send_id. */
struct send_day {
    int64_t day;
    int64_t sent, failed;
    int64_t users; /* distinct recipients with an outcome that day */
};

struct store_history_ops {
    /* Sets the row of (ws, kind, object_id, day), replacing an earlier sample of that day. */
    enum cd_err (*record)(struct store *s, int64_t ws, const struct history_row *row);
    /* Adds row's entered, sent and failed to the row of (ws, kind, object_id, day), creating
     * it (in the caller's transaction): per-day counts kept as outcomes are recorded, so they
     * outlive the deliveries (retention). */
    enum cd_err (*add)(struct store_txn *t, int64_t ws, const struct history_row *row);
    /* The rows of an object with from <= day <= to, ascending, preceded by the newest row
     * before from when there is one. */
    enum cd_err (*series)(struct store *s, int64_t ws, enum history_kind kind,
                          const char *object_id, int64_t from, int64_t to,
                          void (*cb)(void *ctx, const struct history_row *), void *ctx);
    /* Per UTC day with outcomes, ascending: the deliveries (kept as long as
     * --retain-deliveries) of the dispatches of the campaign (public id) sent with send_id, at
     * from_ms <= at < to_ms. */
    enum cd_err (*send_days)(struct store *s, int64_t ws, const char *campaign_id,
                             const char *send_id, int64_t from_ms, int64_t to_ms,
                             void (*cb)(void *ctx, const struct send_day *), void *ctx);
};

/* ---- retention: deleting what no reader needs any more (any time) ---- */

/* The tables retention prunes, each by its own rule (docs/internals/store.md, "Retention"). */
enum store_prune_table {
    STORE_PRUNE_OUTBOX = 0,   /* events every live Current of the workspace has passed */
    STORE_PRUNE_DELIVERIES,   /* per-recipient outcomes of finished dispatches */
    STORE_PRUNE_DEAD_LETTERS, /* dead letters not queued for replay */
    STORE_PRUNE_HEAP_PAGES,   /* the page records of Heap syncs (duplicate detection) */
    STORE_PRUNE_HEAP_SYNCS,   /* Heap sync records beyond the newest `keep` of each cohort */
};
#define STORE_PRUNE_N_TABLES 5

struct store_prune_rule {
    int64_t before;      /* UNIX ms: only rows older than this may go */
    int64_t idle_before; /* outbox: the cutoff for a workspace that has no live Current */
    int keep;            /* heap syncs: the newest this many of each cohort always stay */
};

struct store_retention_ops {
    /*
     * Deletes at most `limit` rows of `table` that `rule` lets go, in one short transaction of
     * its own; the candidates are looked up before it, on a read connection, so the writer is
     * held only for the deletes by key. Sets *n to the rows of `table` deleted: call again
     * while *n == limit. Rows a reader still needs never go, whatever the rule: events a live
     * Current has not passed, deliveries of a dispatch that is not finished, dead letters
     * queued for replay. A Heap sync record goes with its page records.
     */
    enum cd_err (*prune)(struct store *s, enum store_prune_table table,
                         const struct store_prune_rule *rule, int64_t limit, int64_t *n);
};

/* ---- workspace leases: which node owns a workspace (any time, except check) ---- */

/* Longest node id and advertised address a lease row holds (bytes, without the NUL). */
#define STORE_LEASE_HOLDER_MAX 127
#define STORE_LEASE_ADDRESS_MAX 255

/* The lease of one workspace as stored. remaining_ms is measured on the store's clock (every
 * node compares against the same clock): <= 0 when the lease has expired. */
struct store_lease {
    char holder[STORE_LEASE_HOLDER_MAX + 1];
    char address[STORE_LEASE_ADDRESS_MAX + 1];
    int64_t epoch;
    int64_t remaining_ms;
};

/*
 * One owner per workspace (docs/internals/store.md, "Several nodes on one database"). A node
 * acquires the lease of a workspace, renews it well before it expires, and opens every write
 * transaction of the workspace with `check`, so a node that lost its lease cannot commit. A
 * backend one process has to itself (SQLite: the file is locked by the server) answers as if
 * this process always owns: acquire and renew succeed with epoch 1, owner finds no row.
 */
struct store_lease_ops {
    /* Takes the lease of ws for `node` (advertising `address`) for ttl_ms when it is free,
     * expired or already this node's; sets *epoch to its new epoch (one more than the last,
     * so every transaction checked against an earlier one fails). CD_E_EXISTS when another
     * node holds a live lease: *out (when not NULL) says which. CD_E_FORBIDDEN when node's
     * row (node_claim) is not this process's `instance`: nothing is taken. */
    enum cd_err (*acquire)(struct store *s, int64_t ws, const char *node, const char *instance,
                           const char *address, int64_t ttl_ms, int64_t *epoch,
                           struct store_lease *out);
    /* Extends the lease to ttl_ms from now when node still holds it at this epoch and it has
     * not expired; CD_E_NOT_FOUND when it was lost. */
    enum cd_err (*renew)(struct store *s, int64_t ws, const char *node, int64_t epoch,
                         int64_t ttl_ms);
    /* Ends the lease now (another node may take it at once) when node holds it at epoch. */
    enum cd_err (*release)(struct store *s, int64_t ws, const char *node, int64_t epoch);
    /* The lease row of ws, live or expired; CD_E_NOT_FOUND when there is none. */
    enum cd_err (*owner)(struct store *s, int64_t ws, struct store_lease *out);
    /* Inside t, first thing after begin: CD_OK when node holds the live lease of ws at epoch,
     * holding it until t ends (a take-over waits for t); CD_E_STORE otherwise (the caller
     * rolls t back and stops serving ws). */
    enum cd_err (*check)(struct store_txn *t, int64_t ws, const char *node, int64_t epoch);
    /* check, answered by t's next statement instead of now (a network backend sends both in
     * one round trip): CD_OK, or check's own answer when it cannot wait. The next statement
     * then answers CD_E_MOVED when node does not hold the live lease at epoch (its own
     * result is dropped and t fails: commit refuses it). A transaction with no statement after
     * it writes nothing. */
    enum cd_err (*check_with_next)(struct store_txn *t, int64_t ws, const char *node,
                                   int64_t epoch);
    /* The node ids (docs/internals/store.md, "Node ids"): one process per id at a time. A
     * process draws a random `instance` token at start and claims its id: CD_OK when the id is
     * free, expired, already this instance's, or held by `previous` (when not NULL: the
     * instance of the last process of this node's data directory, which is dead since this
     * process holds the directory's lock); its row then lasts ttl_ms. CD_E_EXISTS when another
     * instance holds it live (*out: holder = that instance, its address and the time left). */
    enum cd_err (*node_claim)(struct store *s, const char *node, const char *instance,
                              const char *previous, const char *address, int64_t ttl_ms,
                              struct store_lease *out);
    /* Extends the claim to ttl_ms from now; CD_E_NOT_FOUND when the id is another instance's
     * now (this one was stalled past its claim and another process took the id). */
    enum cd_err (*node_renew)(struct store *s, const char *node, const char *instance,
                              int64_t ttl_ms);
    /* Ends the claim now, when it is still this instance's (a clean stop). */
    enum cd_err (*node_release)(struct store *s, const char *node, const char *instance);
};

/* ---- backups, restores and the schema version: by the store's location (the path of an
 * SQLite file), with no handle open, whether or not a server has the store open ---- */

struct store_copy_info {
    int64_t bytes;      /* size of the copy written */
    int schema_version; /* schema version of the copy */
};

struct store_file_ops {
    /* The schema version of the store at `location` (0 when there is none yet) and the newest
     * this build has; reads only, never migrates. */
    enum cd_err (*schema_version)(const char *location, int *have, int *latest);
    /*
     * Writes a consistent copy of the store at `location` to the file `dest`, while other
     * processes read and write the store (it copies one snapshot, in steps, and blocks no
     * writer). The copy goes to a temporary file beside dest, is synced, then renamed to dest.
     * CD_E_EXISTS when dest exists and !replace. On failure err_msg says why and dest is as it
     * was.
     */
    enum cd_err (*backup)(const char *location, const char *dest, bool replace,
                          struct store_copy_info *info, char *err_msg, size_t err_len);
    /*
     * Replaces the store at `location` by a copy of `src`, once src proves to be a store of
     * this backend (integrity check, schema version not newer than this build; CD_E_INVALID
     * and why otherwise, nothing changed). The current store, if any, is kept whole (its
     * write-ahead log folded in) as `location`.before-restore-`stamp`, whose path goes to
     * kept_out ("" when there was none); stale -wal/-shm files are removed. The caller makes
     * sure no process has the store open (the data-directory lock).
     */
    enum cd_err (*restore)(const char *location, const char *src, const char *stamp,
                           struct store_copy_info *info, char *kept_out, size_t kept_len,
                           char *err_msg, size_t err_len);
};

struct store_ops {
    const char *name;
    /* Opens (creating and migrating as needed) the store. The migrations from an older schema
     * run in one transaction: all of them or none. Callers that must not migrate, or must back
     * the store up first, look at files->schema_version before (cli.c's migration guard). */
    enum cd_err (*open)(const char *url, struct store **out);
    void (*close)(struct store *s);
    /* Whether the store answers; any time. */
    bool (*healthy)(struct store *s);
    /* Whether the last write failed for lack of space (CD_E_FULL) and neither a write since nor
     * a look for space (at most once a second, here) found room; any time. */
    bool (*full)(struct store *s);
    /* Opens a write transaction; *out is valid until commit or rollback. */
    enum cd_err (*begin)(struct store *s, struct store_txn **out);
    /* Ends t, its writes applied whole, and returns once they are durable. CD_E_STORE: none of
     * them happened. */
    enum cd_err (*commit)(struct store_txn *t);
    /* Ends t like commit but returns before the sync: its writes are applied whole and ordered
     * after every transaction committed before, and *ticket says when they are durable
     * (durable(s, ticket)). Commits that wait together share one sync. */
    enum cd_err (*commit_ticket)(struct store_txn *t, uint64_t *ticket);
    /* Waits until the commit of `ticket` is durable; CD_E_STORE when it cannot become so. */
    enum cd_err (*durable)(struct store *s, uint64_t ticket);
    void (*rollback)(struct store_txn *t);
    const struct store_admin_ops *admin;
    const struct store_dashboard_ops *dashboard;
    const struct store_user_ops *users;
    const struct store_outbox_ops *outbox;
    const struct store_heap_ops *heap;
    const struct store_cohort_ops *cohorts;
    const struct store_segment_ops *segments;
    const struct store_currents_ops *currents;
    const struct store_campaign_ops *campaigns;
    const struct store_retention_ops *retention;
    const struct store_history_ops *history;
    const struct store_lease_ops *leases;
    const struct store_file_ops *files; /* NULL: the backend has its own tools (pg_dump) */
};

/* Every store handle starts with its ops. */
struct store_base {
    const struct store_ops *ops;
};

#define STORE_OPS(s) (((const struct store_base *)(const void *)(s))->ops)

/*
 * Opens a store by URL: "sqlite:PATH" or a plain path is SQLite; "postgresql://…" is
 * PostgreSQL. `err_msg` receives a reason (for PostgreSQL, the connection problem).
 */
enum cd_err store_open(const char *url, struct store **out, char *err_msg, size_t err_len);
/* The backend of a store URL and the location it names (a path inside url, for SQLite),
 * without opening anything; NULL and err_msg when no backend of this build serves the URL. */
const struct store_ops *store_backend(const char *url, const char **location, char *err_msg,
                                      size_t err_len);
void store_close(struct store *s);

/* Starts counting store calls for COHORTD_FAULT_STORE_CALL (test builds with COHORTD_FAULTS;
 * a no-op otherwise). `serve` calls it just before it listens. See docs/internals/faults.md. */
void store_faults_arm(void);

#endif
