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

    /* 5: Currents (a position in the outbox each) and their dead letters */
    "CREATE TABLE currents ("
    "  id INTEGER PRIMARY KEY,"
    "  workspace_id INTEGER NOT NULL,"
    "  current_id TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  endpoint TEXT NOT NULL,"
    "  bearer_token TEXT,"
    "  event_types TEXT NOT NULL,"
    "  batch_size INTEGER NOT NULL,"
    "  state TEXT NOT NULL,"
    "  position INTEGER NOT NULL,"
    "  n_delivered INTEGER NOT NULL DEFAULT 0,"
    "  n_retried INTEGER NOT NULL DEFAULT 0,"
    "  n_dead INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  deleted_at INTEGER);"
    "CREATE TABLE dead_letters ("
    "  id INTEGER PRIMARY KEY,"
    "  current INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  body TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  replay INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX dead_letters_current ON dead_letters(current, replay, id);"
    "CREATE INDEX outbox_ws ON outbox(workspace_id, seq);",

    /* 6: campaigns and Canvases, their dispatches, and one row per (dispatch, step, user) sent
     * or failed, which makes a dispatch resumable without double sends */
    "CREATE TABLE campaigns ("
    "  id INTEGER PRIMARY KEY,"
    "  workspace_id INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  public_id TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  segment_id TEXT NOT NULL,"
    "  definition TEXT NOT NULL,"
    "  schedule_type TEXT NOT NULL,"
    "  entry_partner TEXT,"
    "  entry_cohort TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  archived_at INTEGER NOT NULL DEFAULT 0,"
    "  n_entered INTEGER NOT NULL DEFAULT 0,"
    "  n_sent INTEGER NOT NULL DEFAULT 0,"
    "  n_failed INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX campaigns_ws ON campaigns(workspace_id, kind, id);"
    "CREATE INDEX campaigns_cohort ON campaigns(workspace_id, entry_partner, entry_cohort);"
    "CREATE TABLE dispatches ("
    "  id INTEGER PRIMARY KEY,"
    "  workspace_id INTEGER NOT NULL,"
    "  campaign INTEGER NOT NULL,"
    "  dispatch_id TEXT NOT NULL,"
    "  send_id TEXT,"
    "  properties TEXT,"
    "  step INTEGER NOT NULL DEFAULT 0,"
    "  due_at INTEGER NOT NULL,"
    "  audience BLOB,"
    "  targets BLOB,"
    "  created_at INTEGER NOT NULL,"
    "  finished_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX dispatches_due ON dispatches(finished_at, due_at);"
    "CREATE TABLE deliveries ("
    "  dispatch INTEGER NOT NULL,"
    "  step INTEGER NOT NULL,"
    "  uid INTEGER NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  PRIMARY KEY (dispatch, step, uid)) WITHOUT ROWID;",

    /* 7: the times of the most recent STORE_EVENT_RECENT occurrences of each (user, custom
     * event), for "at least N times in the last D days"; a summary stored before keeps the one
     * time it knows, its last */
    "CREATE TABLE user_event_times ("
    "  workspace_id INTEGER NOT NULL,"
    "  uid INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  at INTEGER NOT NULL);"
    "CREATE INDEX user_event_times_key ON user_event_times(workspace_id, uid, kind, name, at);"
    "INSERT INTO user_event_times(workspace_id, uid, kind, name, at) "
    "  SELECT workspace_id, uid, kind, name, last_at FROM user_events WHERE kind = 0;",

    /* 8: the name, permissions and rate limit of a REST API key, one row per key made since
     * (a key without a row, as every key made before, has every permission and no limit).
     * permissions: comma-separated grants, NULL for every permission; rate_limit requests per
     * rate_period seconds, 0 for none. IF NOT EXISTS: a store taken back by hand to an older
     * version (tests do) migrates again. */
    "CREATE TABLE IF NOT EXISTS api_key_grants ("
    "  key_hash TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  permissions TEXT,"
    "  rate_limit INTEGER NOT NULL,"
    "  rate_period INTEGER NOT NULL) WITHOUT ROWID;",
    /* 9: the answer to each Current's credential probe (the empty batch sent at creation) */
    "CREATE TABLE current_probes ("
    "  current INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  error TEXT);",

    /* 10: the digest of each recorded Heap page's content, so that a page seen before whose
     * content differs is applied, not dropped as a duplicate */
    "CREATE TABLE heap_page_digests ("
    "  integration INTEGER NOT NULL,"
    "  sync_task_id TEXT NOT NULL,"
    "  page INTEGER NOT NULL,"
    "  digest TEXT NOT NULL,"
    "  PRIMARY KEY (integration, sync_task_id, page)) WITHOUT ROWID;",
    /* 11: trigger schedules (/campaigns/trigger/schedule/create): a dispatch due later, found
     * by its schedule id for update and delete */
    "CREATE TABLE dispatch_schedules ("
    "  dispatch INTEGER PRIMARY KEY,"
    "  campaign INTEGER NOT NULL,"
    "  schedule_id TEXT NOT NULL);"
    "CREATE UNIQUE INDEX dispatch_schedules_id ON dispatch_schedules(campaign, schedule_id);",
    /* 12: daily history: the last sample of each UTC day of a segment's or cohort's size and of
     * a campaign's or Canvas's cumulative counters (what the data_series endpoints answer) */
    "CREATE TABLE daily_history ("
    "  workspace_id INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  object_id TEXT NOT NULL,"
    "  day INTEGER NOT NULL,"
    "  size INTEGER NOT NULL DEFAULT 0,"
    "  entered INTEGER NOT NULL DEFAULT 0,"
    "  sent INTEGER NOT NULL DEFAULT 0,"
    "  failed INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (workspace_id, kind, object_id, day)) WITHOUT ROWID;",
    /* 13: dashboard users: a lower-case email, a role and an Argon2id password hash (dashboard
     * sessions were kept in the server's memory until migration 15) */
    "CREATE TABLE dashboard_users ("
    "  id INTEGER PRIMARY KEY,"
    "  email TEXT NOT NULL UNIQUE,"
    "  role TEXT NOT NULL CHECK (role IN ('admin', 'member')),"
    "  password_hash TEXT NOT NULL,"
    "  password_set_at INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL);",
    /* 14: why a delivery failed (the answer's status and first bytes, or the transport error),
     * for the last failures of a campaign or Canvas (found through its dispatches); NULL for
     * a sent one and for those recorded before */
    ("ALTER TABLE deliveries ADD COLUMN reason TEXT;"
     "CREATE INDEX dispatches_campaign ON dispatches(campaign);"),
    /* 15: dashboard sessions, by the SHA-256 of their token (the token is never stored); those
     * begun before a server started count as ended (one server per file: a restart logs
     * everyone out) */
    ("CREATE TABLE dashboard_sessions ("
     "  hash TEXT PRIMARY KEY,"
     "  user_id INTEGER NOT NULL,"
     "  password_set_at INTEGER NOT NULL,"
     "  ws_id INTEGER NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  used_at INTEGER NOT NULL) WITHOUT ROWID;"
     "CREATE INDEX dashboard_sessions_user ON dashboard_sessions(user_id);"),
    /* 16: what a start-up snapshot records (docs/internals/snapshot.md): the store's identity,
     * and per workspace a generation every change to its users, aliases, devices and event
     * summaries moves (a snapshot taken at another generation is not used) */
    ("CREATE TABLE store_identity (id BLOB NOT NULL);"
     "INSERT INTO store_identity VALUES (randomblob(16));"
     "CREATE TABLE IF NOT EXISTS user_generations ("
     "  workspace_id INTEGER PRIMARY KEY,"
     "  gen INTEGER NOT NULL);"
     "CREATE TRIGGER IF NOT EXISTS users_insert_gen AFTER INSERT ON users BEGIN "
     "  INSERT INTO user_generations VALUES (NEW.workspace_id, 1) "
     "  ON CONFLICT (workspace_id) DO UPDATE SET gen = gen + 1; END;"
     "CREATE TRIGGER IF NOT EXISTS users_update_gen AFTER UPDATE ON users BEGIN "
     "  INSERT INTO user_generations VALUES (NEW.workspace_id, 1) "
     "  ON CONFLICT (workspace_id) DO UPDATE SET gen = gen + 1; END;"
     "CREATE TRIGGER IF NOT EXISTS users_delete_gen AFTER DELETE ON users BEGIN "
     "  INSERT INTO user_generations VALUES (OLD.workspace_id, 1) "
     "  ON CONFLICT (workspace_id) DO UPDATE SET gen = gen + 1; END;"
     "CREATE TRIGGER IF NOT EXISTS aliases_insert_gen AFTER INSERT ON aliases BEGIN "
     "  INSERT INTO user_generations VALUES (NEW.workspace_id, 1) "
     "  ON CONFLICT (workspace_id) DO UPDATE SET gen = gen + 1; END;"
     "CREATE TRIGGER IF NOT EXISTS aliases_update_gen AFTER UPDATE ON aliases BEGIN "
     "  INSERT INTO user_generations VALUES (NEW.workspace_id, 1) "
     "  ON CONFLICT (workspace_id) DO UPDATE SET gen = gen + 1; END;"
     "CREATE TRIGGER IF NOT EXISTS aliases_delete_gen AFTER DELETE ON aliases BEGIN "
     "  INSERT INTO user_generations VALUES (OLD.workspace_id, 1) "
     "  ON CONFLICT (workspace_id) DO UPDATE SET gen = gen + 1; END;"
     "CREATE TRIGGER IF NOT EXISTS devices_insert_gen AFTER INSERT ON devices BEGIN "
     "  INSERT INTO user_generations VALUES (NEW.workspace_id, 1) "
     "  ON CONFLICT (workspace_id) DO UPDATE SET gen = gen + 1; END;"
     "CREATE TRIGGER IF NOT EXISTS devices_update_gen AFTER UPDATE ON devices BEGIN "
     "  INSERT INTO user_generations VALUES (NEW.workspace_id, 1) "
     "  ON CONFLICT (workspace_id) DO UPDATE SET gen = gen + 1; END;"
     "CREATE TRIGGER IF NOT EXISTS devices_delete_gen AFTER DELETE ON devices BEGIN "
     "  INSERT INTO user_generations VALUES (OLD.workspace_id, 1) "
     "  ON CONFLICT (workspace_id) DO UPDATE SET gen = gen + 1; END;"
     "CREATE TRIGGER IF NOT EXISTS user_events_insert_gen AFTER INSERT ON user_events BEGIN "
     "  INSERT INTO user_generations VALUES (NEW.workspace_id, 1) "
     "  ON CONFLICT (workspace_id) DO UPDATE SET gen = gen + 1; END;"
     "CREATE TRIGGER IF NOT EXISTS user_events_update_gen AFTER UPDATE ON user_events BEGIN "
     "  INSERT INTO user_generations VALUES (NEW.workspace_id, 1) "
     "  ON CONFLICT (workspace_id) DO UPDATE SET gen = gen + 1; END;"
     "CREATE TRIGGER IF NOT EXISTS user_events_delete_gen AFTER DELETE ON user_events BEGIN "
     "  INSERT INTO user_generations VALUES (OLD.workspace_id, 1) "
     "  ON CONFLICT (workspace_id) DO UPDATE SET gen = gen + 1; END;"
     "CREATE TRIGGER IF NOT EXISTS user_event_times_insert_gen AFTER INSERT ON user_event_times "
     "BEGIN "
     "  INSERT INTO user_generations VALUES (NEW.workspace_id, 1) "
     "  ON CONFLICT (workspace_id) DO UPDATE SET gen = gen + 1; END;"
     "CREATE TRIGGER IF NOT EXISTS user_event_times_update_gen AFTER UPDATE ON user_event_times "
     "BEGIN "
     "  INSERT INTO user_generations VALUES (NEW.workspace_id, 1) "
     "  ON CONFLICT (workspace_id) DO UPDATE SET gen = gen + 1; END;"
     "CREATE TRIGGER IF NOT EXISTS user_event_times_delete_gen AFTER DELETE ON user_event_times "
     "BEGIN "
     "  INSERT INTO user_generations VALUES (OLD.workspace_id, 1) "
     "  ON CONFLICT (workspace_id) DO UPDATE SET gen = gen + 1; END;"),
};

const char *sqlite_schema_migration(int version) {
    if (version < 1 || (size_t)version > sizeof migrations / sizeof migrations[0])
        return NULL;
    return migrations[version - 1];
}

int sqlite_schema_latest(void) {
    return (int)(sizeof migrations / sizeof migrations[0]);
}
