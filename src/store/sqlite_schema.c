/*
 * sqlite_schema.c — the versioned schema of the SQLite store. Migration N brings the schema
 * from user_version N-1 to N; they are applied in order at open, each in its own transaction.
 * Never edit a migration that has shipped: append a new one.
 */
#include "store/sqlite_schema.h"

#include <stddef.h>

static const char *const migrations[] = {
    /* 1: workspaces, keys, partners, users and their identifiers, event summaries, outbox */
    "CREATE TABLE workspaces ("
    "  id INTEGER PRIMARY KEY,"
    "  public_id TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE api_keys ("
    "  key_hash TEXT PRIMARY KEY,"
    "  workspace_id INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  revoked_at INTEGER);"
    "CREATE TABLE partners ("
    "  name TEXT PRIMARY KEY,"
    "  key_check INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE partner_keys ("
    "  key_hash TEXT PRIMARY KEY,"
    "  partner TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  revoked_at INTEGER);"
    "CREATE TABLE import_keys ("
    "  key TEXT PRIMARY KEY,"
    "  workspace_id INTEGER NOT NULL,"
    "  partner TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  invalidated_at INTEGER);"
    "CREATE UNIQUE INDEX import_keys_active ON import_keys(workspace_id, partner)"
    "  WHERE invalidated_at IS NULL;"
    "CREATE TABLE users ("
    "  workspace_id INTEGER NOT NULL,"
    "  uid INTEGER NOT NULL,"
    "  braze_id TEXT NOT NULL,"
    "  external_id TEXT,"
    "  created_anonymous INTEGER NOT NULL,"
    "  deleted INTEGER NOT NULL DEFAULT 0,"
    "  attrs TEXT NOT NULL DEFAULT '{}',"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (workspace_id, uid)) WITHOUT ROWID;"
    "CREATE UNIQUE INDEX users_external ON users(workspace_id, external_id)"
    "  WHERE external_id IS NOT NULL;"
    "CREATE TABLE aliases ("
    "  workspace_id INTEGER NOT NULL,"
    "  label TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  uid INTEGER NOT NULL,"
    "  PRIMARY KEY (workspace_id, label, name)) WITHOUT ROWID;"
    "CREATE INDEX aliases_user ON aliases(workspace_id, uid);"
    "CREATE TABLE devices ("
    "  workspace_id INTEGER NOT NULL,"
    "  device_id TEXT NOT NULL,"
    "  uid INTEGER NOT NULL,"
    "  PRIMARY KEY (workspace_id, device_id)) WITHOUT ROWID;"
    "CREATE INDEX devices_user ON devices(workspace_id, uid);"
    "CREATE TABLE user_events ("
    "  workspace_id INTEGER NOT NULL,"
    "  uid INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  count INTEGER NOT NULL,"
    "  first_at INTEGER NOT NULL,"
    "  last_at INTEGER NOT NULL,"
    "  PRIMARY KEY (workspace_id, uid, kind, name)) WITHOUT ROWID;"
    "CREATE TABLE outbox ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  workspace_id INTEGER NOT NULL,"
    "  event_type TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  body TEXT NOT NULL);",

    /* 2: Heap segment-sync integrations, and the pages of each sync run seen so far */
    "CREATE TABLE heap_integrations ("
    "  id INTEGER PRIMARY KEY,"
    "  workspace_id INTEGER NOT NULL,"
    "  integration_id TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  mapping INTEGER NOT NULL,"
    "  alias_label TEXT,"
    "  secret TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  deleted_at INTEGER,"
    "  n_pages INTEGER NOT NULL DEFAULT 0,"
    "  n_ignored INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE heap_syncs ("
    "  integration INTEGER NOT NULL,"
    "  sync_task_id TEXT NOT NULL,"
    "  workspace_id INTEGER NOT NULL,"
    "  cohort_id TEXT NOT NULL,"
    "  total_pages INTEGER NOT NULL,"
    "  pages_seen INTEGER NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  completed_at INTEGER,"
    "  n_added INTEGER NOT NULL,"
    "  n_removed INTEGER NOT NULL,"
    "  PRIMARY KEY (integration, sync_task_id)) WITHOUT ROWID;"
    "CREATE INDEX heap_syncs_cohort ON heap_syncs(workspace_id, cohort_id, started_at);"
    "CREATE TABLE heap_pages ("
    "  integration INTEGER NOT NULL,"
    "  sync_task_id TEXT NOT NULL,"
    "  page INTEGER NOT NULL,"
    "  PRIMARY KEY (integration, sync_task_id, page)) WITHOUT ROWID;",

    /* 3: partner cohorts: a row per cohort with a checkpointed member bitmap, an append-only
     * log of each request's net change after it, and a bounded sample of unmatched ids */
    "CREATE TABLE cohorts ("
    "  id INTEGER PRIMARY KEY,"
    "  workspace_id INTEGER NOT NULL,"
    "  partner TEXT NOT NULL,"
    "  cohort_id TEXT NOT NULL,"
    "  name TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  changed_at INTEGER NOT NULL DEFAULT 0,"
    "  n_received INTEGER NOT NULL DEFAULT 0,"
    "  n_matched INTEGER NOT NULL DEFAULT 0,"
    "  n_unmatched INTEGER NOT NULL DEFAULT 0,"
    "  checkpoint BLOB,"
    "  checkpoint_seq INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (workspace_id, partner, cohort_id));"
    "CREATE TABLE cohort_log ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  cohort INTEGER NOT NULL,"
    "  adds BLOB,"
    "  removes BLOB);"
    "CREATE INDEX cohort_log_cohort ON cohort_log(cohort, seq);"
    "CREATE TABLE cohort_misses ("
    "  cohort INTEGER NOT NULL,"
    "  identifier TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  PRIMARY KEY (cohort, identifier)) WITHOUT ROWID;",

    /* 4: segments (the filter is kept as JSON text and evaluated against memory) */
    "CREATE TABLE segments ("
    "  id INTEGER PRIMARY KEY,"
    "  workspace_id INTEGER NOT NULL,"
    "  segment_id TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  description TEXT,"
    "  filter TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  deleted_at INTEGER);"
    "CREATE INDEX segments_ws ON segments(workspace_id, created_at);",
};

const char *sqlite_schema_migration(int version) {
    if (version < 1 || (size_t)version > sizeof migrations / sizeof migrations[0])
        return NULL;
    return migrations[version - 1];
}

int sqlite_schema_latest(void) {
    return (int)(sizeof migrations / sizeof migrations[0]);
}
