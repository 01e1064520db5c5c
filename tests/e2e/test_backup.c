/*
 * test_backup.c — backups, restores and upgrades against the real binary: a backup taken while
 * the server serves and writes is one consistent snapshot; an existing DEST is never silently
 * overwritten; PostgreSQL stores are pointed to pg_dump; a restore is refused beside a running
 * server and for a file that is not a cohortd store, and otherwise keeps the store it replaces
 * (write-ahead log included) and serves the backup; an older schema is backed up then migrated
 * by serve and by a CLI command, is never migrated under a running server, and migrates in one
 * transaction. Old schemas are built from the first K migrations (sqlite_schema_migration).
 */
#include "harness.h"

#include <dirent.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/sqlite_schema.h"

/* ---- helpers ---- */

/* One integer from a query on the SQLite file at path (read-only). */
static long file_count(const char *path, const char *sql) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s on %s: %s", sql, path, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* The first text a query gives on the file at path (new string). */
static char *file_text(const char *path, const char *sql) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char *t = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return t;
}

/* Runs SQL that changes the file at path. */
static void file_exec(const char *path, const char *sql) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s on %s: %s", sql, path, msg);
    sqlite3_close(db);
}

static bool exists(const char *path) {
    return access(path, F_OK) == 0;
}

static long file_size(const char *path) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (long)st.st_size;
}

/* The files of DATA/backups (names, sorted, as one "a,b" string; "" when none or no dir). */
static char *backups_of(const struct server *s) {
    char *dir = strf("%s/backups", s->data);
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    char *out = strdup("");
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char *next = strf("%s%s%s", out, out[0] ? "," : "", names[i]->d_name);
            free(out);
            out = next;
        }
        free(names[i]);
    }
    free(names);
    free(dir);
    return out;
}

/* Runs the CLI, asserting the exit code; returns stdout, and stderr through *err_out (free). */
static char *cli_expect(const struct server *s, const char *const *args, int want_rc,
                        char **err_out) {
    char *out = NULL, *err = NULL;
    int rc = run_cli(s, args, &out, &err);
    if (rc != want_rc) {
        print_error("exit %d (want %d)\nstdout: %s\nstderr: %s\n", rc, want_rc, out, err);
        fail();
    }
    if (err_out)
        *err_out = err;
    else
        free(err);
    return out;
}

/* Tracks one new user with one custom event. */
static void track(const struct server *s, const char *ext) {
    char *body = strf("{\"attributes\":[{\"external_id\":\"%s\"}],\"events\":[{\"external_id\":"
                      "\"%s\",\"name\":\"signup\",\"time\":\"2024-05-02T08:15:00Z\"}]}",
                      ext, ext);
    struct resp r;
    http_post_rest(s, "/users/track", body, &r);
    if (r.status != 201)
        fail_msg("track %s: %ld %s", ext, r.status, r.body);
    resp_free(&r);
    free(body);
}

/* Whether /users/export/ids knows external id ext. */
static bool user_exists(struct server *s, const char *ext) {
    json_t *u = export_ext(s, ext, "[\"external_id\"]");
    bool found = u != NULL;
    json_decref(u);
    return found;
}

/* The name that follows `prefix` in migration v's SQL (owned), or NULL when prefix is not in
 * it. */
static char *migration_name_after(int v, const char *prefix) {
    const char *sql = sqlite_schema_migration(v);
    const char *t = sql ? strstr(sql, prefix) : NULL;
    if (!t)
        return NULL;
    t += strlen(prefix);
    if (strncmp(t, "IF NOT EXISTS ", 14) == 0)
        t += 14;
    size_t n = strcspn(t, " (;");
    return strf("%.*s", (int)n, t);
}

/* SQL that takes a store at schema v back to v-1, for a migration that creates a table (it is
 * dropped) or adds a column and an index (both are dropped); the test fails for another
 * migration. */
static char *migration_undo(int v) {
    char *table = migration_name_after(v, "CREATE TABLE ");
    if (table) {
        char *sql = strf("DROP TABLE %s;", table);
        free(table);
        return sql;
    }
    char *altered = migration_name_after(v, "ALTER TABLE ");
    char *column = migration_name_after(v, " ADD COLUMN ");
    char *index = migration_name_after(v, "CREATE INDEX ");
    if (!altered || !column)
        fail_msg("migration %d neither creates a table nor adds a column", v);
    char *sql = strf("%s%s%sALTER TABLE %s DROP COLUMN %s;", index ? "DROP INDEX " : "",
                     index ? index : "", index ? ";" : "", altered, column);
    free(altered);
    free(column);
    free(index);
    return sql;
}

/* The name of the first table migration v creates (owned); the test fails when it creates
 * none. Helpers append migrations and the integrator renumbers them, so tests name them by
 * what they create, never by number. */
static char *migration_table(int v) {
    const char *sql = sqlite_schema_migration(v);
    const char *t = sql ? strstr(sql, "CREATE TABLE ") : NULL;
    if (!t)
        fail_msg("migration %d creates no table", v);
    t += strlen("CREATE TABLE ");
    if (strncmp(t, "IF NOT EXISTS ", 14) == 0)
        t += 14;
    size_t n = strcspn(t, " (");
    return strf("%.*s", (int)n, t);
}

/* The migration that creates table name. */
static int migration_creating(const char *name) {
    char *want = strf("CREATE TABLE %s (", name);
    int found = 0;
    for (int v = 1; v <= sqlite_schema_latest() && !found; v++)
        if (strstr(sqlite_schema_migration(v), want))
            found = v;
    free(want);
    if (!found)
        fail_msg("no migration creates %s", name);
    return found;
}

/*
 * Replaces the store of an initialised data directory by one at schema version k, built by the
 * first k migrations only, holding the workspaces, keys and partners `init` made.
 */
static void make_old_store(const struct server *s, int k) {
    char *path = strf("%s/cohortd.db", s->data);
    char *old = strf("%s/old.db", s->data);
    unlink(old);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(old, &db), SQLITE_OK);
    for (int v = 1; v <= k; v++)
        assert_int_equal(sqlite3_exec(db, sqlite_schema_migration(v), NULL, NULL, NULL), SQLITE_OK);
    char *copy = strf("ATTACH '%s' AS cur; "
                      "INSERT INTO workspaces SELECT * FROM cur.workspaces; "
                      "INSERT INTO api_keys SELECT key_hash, workspace_id, created_at, "
                      "revoked_at FROM cur.api_keys; "
                      "INSERT INTO partners SELECT * FROM cur.partners; "
                      "INSERT INTO partner_keys SELECT * FROM cur.partner_keys; "
                      "INSERT INTO import_keys SELECT * FROM cur.import_keys; DETACH cur; "
                      "PRAGMA user_version=%d;",
                      path, k);
    char *msg = NULL;
    if (sqlite3_exec(db, copy, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("building a v%d store: %s", k, msg);
    sqlite3_close(db);
    char *wal = strf("%s-wal", path), *shm = strf("%s-shm", path);
    unlink(wal);
    unlink(shm);
    assert_int_equal(rename(old, path), 0);
    free(wal);
    free(shm);
    free(copy);
    free(old);
    free(path);
}

/* ---- backup ---- */

struct writer {
    struct server *s;
    atomic_bool stop;
    atomic_int n;
};

static void *write_users(void *arg) {
    struct writer *w = arg;
    while (!atomic_load(&w->stop)) {
        char ext[32];
        snprintf(ext, sizeof ext, "w%d", atomic_load(&w->n));
        track(w->s, ext);
        atomic_fetch_add(&w->n, 1);
    }
    return NULL;
}

static void test_backup_while_serving_and_writing_is_one_consistent_snapshot(void **state) {
    struct server *s = *state;
    track(s, "first");
    /* how many outbox events one tracked user brings, in the same transaction */
    long per_user =
        sql_count(s, "SELECT count(*) FROM outbox") / sql_count(s, "SELECT count(*) FROM users");
    assert_true(per_user >= 1);
    struct writer w = {.s = s};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, write_users, &w), 0);
    while (atomic_load(&w.n) < 20)
        sleep_ms(5);
    char *dest = strf("%s/snap.db", s->data);
    const char *args[] = {"backup", dest, "--json", NULL};
    char *out = cli_expect(s, args, 0, NULL);
    int during = atomic_load(&w.n);
    while (atomic_load(&w.n) < during + 20)
        sleep_ms(5);
    atomic_store(&w.stop, true);
    pthread_join(th, NULL);

    char *want = strf("{\"backup\":\"%s\",\"bytes\":%ld,\"schema_version\":%d}", dest,
                      file_size(dest), sqlite_schema_latest());
    json_t *j = json_loads(out, 0, NULL);
    assert_json_equal(j, want);
    char *check = file_text(dest, "PRAGMA integrity_check");
    assert_string_equal(check, "ok");
    free(check);
    char *mode = file_text(dest, "PRAGMA journal_mode");
    assert_string_equal(mode, "delete"); /* one self-contained file */
    free(mode);
    char *wal = strf("%s-wal", dest);
    assert_false(exists(wal));
    long users = file_count(dest, "SELECT count(*) FROM users");
    long events = file_count(dest, "SELECT count(*) FROM outbox");
    /* the writes went on during the copy, and none is torn in it */
    assert_true(users > 20);
    assert_true(users < sql_count(s, "SELECT count(*) FROM users"));
    assert_int_equal(events, users * per_user);
    /* the server went on serving: every write after the copy is there */
    assert_true(user_exists(s, "first"));
    json_decref(j);
    free(wal);
    free(want);
    free(out);
    free(dest);
}

static void test_an_existing_dest_is_refused_unless_force(void **state) {
    struct server *s = *state;
    char *dest = strf("%s/keep.db", s->data);
    FILE *f = fopen(dest, "w");
    fputs("precious", f);
    fclose(f);
    const char *args[] = {"backup", dest, NULL};
    char *err = NULL;
    char *out = cli_expect(s, args, 1, &err);
    char *want = strf("cohortd backup: %s exists (--force replaces it)\n", dest);
    assert_string_equal(err, want);
    assert_int_equal(file_size(dest), 8);
    free(out);
    free(err);
    const char *force[] = {"backup", dest, "--force", NULL};
    out = cli_expect(s, force, 0, NULL);
    char *line = strf("backup %s: %ld bytes, schema version %d\n", dest, file_size(dest),
                      sqlite_schema_latest());
    assert_string_equal(out, line);
    assert_int_equal(file_count(dest, "SELECT count(*) FROM workspaces"), 1);
    free(line);
    free(want);
    free(out);
    free(dest);
}

static void test_a_postgresql_store_is_pointed_to_pg_dump(void **state) {
    struct server *s = *state;
    const char *args[] = {"backup", "/tmp/never.db", "--store", "postgresql://127.0.0.1/x", NULL};
    char *err = NULL;
    free(cli_expect(s, args, 1, &err));
    assert_string_equal(err, "cohortd backup: backup of postgresql stores: use pg_dump\n");
    free(err);
    assert_false(exists("/tmp/never.db"));
}

/* ---- restore ---- */

static void test_restore_is_refused_while_a_server_runs_naming_its_pid(void **state) {
    struct server *s = *state;
    char *dest = strf("%s/r.db", s->data);
    const char *backup[] = {"backup", dest, NULL};
    free(cli_expect(s, backup, 0, NULL));
    const char *args[] = {"restore", dest, NULL};
    char *err = NULL;
    free(cli_expect(s, args, 1, &err));
    char *want = strf("cohortd restore: a running cohortd (pid %d) uses %s: stop it before "
                      "restoring\n",
                      (int)s->pid, s->data);
    assert_string_equal(err, want);
    /* nothing was replaced: the server still serves the same store */
    char *kept = strf("%s/cohortd.db.before-restore-", s->data);
    assert_false(exists(kept));
    struct resp r;
    http_req(s, "GET", "/healthz", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    free(kept);
    free(want);
    free(err);
    free(dest);
}

static void test_restore_refuses_what_is_not_a_cohortd_store_and_changes_nothing(void **state) {
    struct server *s = *state;
    track(s, "stays");
    server_stop(s);
    char *garbage = strf("%s/garbage.db", s->data);
    FILE *f = fopen(garbage, "w");
    fputs("this is not a database, not even close to one, but long enough", f);
    fclose(f);
    char *other = strf("%s/other.db", s->data);
    file_exec(other, "CREATE TABLE t(x); PRAGMA user_version=3;");
    char *newer = strf("%s/newer.db", s->data);
    const char *backup[] = {"backup", newer, NULL};
    free(cli_expect(s, backup, 0, NULL));
    char *pragma = strf("PRAGMA user_version=%d", sqlite_schema_latest() + 1);
    file_exec(newer, pragma);

    struct {
        const char *src;
        char *want;
    } cases[] = {
        {garbage,
         strf("cohortd restore: %s is not a cohortd database (file is not a database)\n", garbage)},
        {other, strf("cohortd restore: %s is not a cohortd database\n", other)},
        {newer, strf("cohortd restore: %s has schema version %d, newer than this build (%d)\n",
                     newer, sqlite_schema_latest() + 1, sqlite_schema_latest())},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[] = {"restore", cases[i].src, NULL};
        char *err = NULL;
        free(cli_expect(s, args, 1, &err));
        assert_string_equal(err, cases[i].want);
        free(err);
        free(cases[i].want);
    }
    char *dir = strf("ls %s | grep -c before-restore", s->data);
    assert_int_not_equal(system(dir), 0); /* grep found nothing: no store was moved aside */
    server_start(s);
    assert_true(user_exists(s, "stays"));
    free(dir);
    free(pragma);
    free(newer);
    free(other);
    free(garbage);
}

static void test_restore_keeps_the_replaced_store_with_its_log_and_serves_the_backup(void **state) {
    struct server *s = *state;
    track(s, "before");
    char *snap = strf("%s/snap.db", s->data);
    const char *backup[] = {"backup", snap, NULL};
    free(cli_expect(s, backup, 0, NULL));
    track(s, "after");
    /* a crash leaves "after" in the write-ahead log only */
    server_kill(s);
    char *wal = strf("%s/cohortd.db-wal", s->data), *shm = strf("%s/cohortd.db-shm", s->data);
    assert_true(exists(wal));
    const char *args[] = {"restore", snap, "--json", NULL};
    char *out = cli_expect(s, args, 0, NULL);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    const char *kept = json_string_value(json_object_get(j, "kept"));
    assert_non_null(kept);
    char *db = strf("%s/cohortd.db", s->data);
    char *want = strf("{\"restored\":\"%s\",\"store\":\"%s\",\"bytes\":%ld,\"schema_version\":%d,"
                      "\"kept\":\"%s\"}",
                      snap, db, file_size(db), sqlite_schema_latest(), kept);
    assert_json_equal(j, want);
    char *prefix = strf("%s.before-restore-", db);
    assert_memory_equal(kept, prefix, strlen(prefix));
    /* the stale log and shared memory of the store replaced are gone */
    assert_false(exists(wal));
    assert_false(exists(shm));
    /* the kept store is whole: it has the write only its log held */
    assert_int_equal(file_count(kept, "SELECT count(*) FROM users WHERE external_id = 'after'"), 1);
    assert_int_equal(file_count(db, "SELECT count(*) FROM users WHERE external_id = 'after'"), 0);
    server_start(s);
    assert_true(user_exists(s, "before"));
    assert_false(user_exists(s, "after"));
    track(s, "later");
    server_stop(s);
    server_start(s);
    assert_true(user_exists(s, "later"));
    free(prefix);
    free(want);
    free(db);
    json_decref(j);
    free(out);
    free(wal);
    free(shm);
    free(snap);
}

/* ---- upgrades ---- */

static int fresh_setup(void **state) {
    struct server *s = calloc(1, sizeof *s);
    server_init(s);
    *state = s;
    return 0;
}

static int fresh_teardown(void **state) {
    struct server *s = *state;
    server_cleanup(s);
    free(s);
    return 0;
}

static void test_serve_backs_an_old_schema_up_then_migrates_it(void **state) {
    struct server *s = *state;
    int latest = sqlite_schema_latest();
    int old_v = migration_creating("user_event_times") - 1;
    make_old_store(s, old_v);
    char *db = strf("%s/cohortd.db", s->data);
    /* a custom event summary a later migration turns into a kept event time */
    file_exec(db, "INSERT INTO users(workspace_id, uid, braze_id, external_id, "
                  "created_anonymous, created_at, updated_at) VALUES "
                  "(1, 1, '0123456789abcdef01234567', 'old', 0, 1, 1); "
                  "INSERT INTO user_events VALUES (1, 1, 0, 'signup', 1, 5, 5);");
    server_start(s);
    char *names = backups_of(s);
    char *prefix = strf("cohortd-v%d-", old_v);
    assert_memory_equal(names, prefix, strlen(prefix));
    assert_null(strchr(names, ',')); /* one backup */
    char *backup = strf("%s/backups/%s", s->data, names);
    char *log = server_log(s);
    char *line = strf("op=backup_before_migrate from=%d to=%d backup=%s", old_v, latest, backup);
    if (!strstr(log, line))
        fail_msg("no '%s' in the log:\n%s", line, log);
    char *migrated = strf("op=migrate from=%d to=%d", old_v, latest);
    assert_non_null(strstr(log, migrated));
    /* the backup is the old store, the store the new one */
    assert_int_equal(file_count(backup, "PRAGMA user_version"), old_v);
    assert_int_equal(file_count(backup, "SELECT count(*) FROM sqlite_master WHERE name = "
                                        "'user_event_times'"),
                     0);
    assert_int_equal(sql_count(s, "PRAGMA user_version"), latest);
    assert_int_equal(sql_count(s, "SELECT count(*) FROM user_event_times WHERE at = 5"), 1);
    assert_true(user_exists(s, "old"));
    track(s, "new");
    /* a key made before permissions existed keeps every one of them (issue 16) */
    struct resp r;
    http_get_rest(s, "/api_keys/list", &r);
    assert_int_equal(r.status, 200);
    assert_json_equal(
        json_object_get(json_array_get(json_object_get(r.json, "api_keys"), 0), "permissions"),
        "[\"*\"]");
    resp_free(&r);
    /* a restart on the current schema backs nothing up */
    server_stop(s);
    server_start(s);
    char *again = backups_of(s);
    assert_string_equal(again, names);
    assert_true(user_exists(s, "new"));
    free(again);
    free(migrated);
    free(line);
    free(log);
    free(backup);
    free(prefix);
    free(names);
    free(db);
}

static void test_serve_no_backup_before_migrate_migrates_without_a_backup(void **state) {
    struct server *s = *state;
    make_old_store(s, 5);
    s->extra_args[0] = "--no-backup-before-migrate";
    server_start(s);
    char *names = backups_of(s);
    assert_string_equal(names, "");
    assert_int_equal(sql_count(s, "PRAGMA user_version"), sqlite_schema_latest());
    char *log = server_log(s);
    assert_non_null(strstr(log, "backup=none"));
    track(s, "works");
    assert_true(user_exists(s, "works"));
    free(log);
    free(names);
}

static void
test_a_command_refuses_to_migrate_under_a_running_server_then_migrates_after(void **state) {
    struct server *s = *state;
    int latest = sqlite_schema_latest();
    server_start(s);
    /* the file goes back one schema version under the running server, as if that server were
     * the older build */
    char *db = strf("%s/cohortd.db", s->data);
    char *undo = migration_undo(latest);
    char *downgrade = strf("%s PRAGMA user_version=%d;", undo, latest - 1);
    free(undo);
    int old_v = latest - 1;
    file_exec(db, downgrade);
    const char *args[] = {"workspace", "list", NULL};
    char *err = NULL;
    free(cli_expect(s, args, 1, &err));
    char *want = strf("cohortd: a running cohortd (pid %d) uses this data directory: stop it "
                      "before upgrading (this build migrates the schema from v%d to v%d)\n",
                      (int)s->pid, old_v, latest);
    assert_string_equal(err, want);
    free(err);
    assert_int_equal(sql_count(s, "PRAGMA user_version"), old_v);
    char *names = backups_of(s);
    assert_string_equal(names, "");
    free(names);
    server_stop(s);

    char *out = cli_expect(s, args, 0, &err);
    assert_non_null(strstr(out, " default\n"));
    assert_non_null(strstr(err, "op=backup_before_migrate"));
    names = backups_of(s);
    char *prefix = strf("cohortd-v%d-", old_v);
    assert_memory_equal(names, prefix, strlen(prefix));
    assert_int_equal(sql_count(s, "PRAGMA user_version"), latest);
    /* the directory is free again: a server starts on it */
    server_start(s);
    track(s, "upgraded");
    assert_true(user_exists(s, "upgraded"));
    free(prefix);
    free(names);
    free(out);
    free(err);
    free(want);
    free(downgrade);
    free(db);
}

static void test_migrations_run_in_one_transaction_a_failure_keeps_the_old_schema(void **state) {
    struct server *s = *state;
    int k = migration_creating("user_event_times") - 2;
    make_old_store(s, k);
    char *db = strf("%s/cohortd.db", s->data);
    /* a table the last migration creates: that migration fails, after the one before it ran */
    char *last = migration_table(k + 2), *before = migration_table(k + 1);
    char *clash = strf("CREATE TABLE %s(x);", last);
    file_exec(db, clash);
    const char *args[] = {"workspace", "list", NULL};
    char *err = NULL;
    free(cli_expect(s, args, 1, &err));
    assert_non_null(strstr(err, "cannot open SQLite store"));
    assert_int_equal(sql_count(s, "PRAGMA user_version"), k);
    /* nothing of migration k+1 is left either */
    char *left = strf("SELECT count(*) FROM sqlite_master WHERE name = '%s'", before);
    assert_int_equal(sql_count(s, left), 0);
    free(left);
    free(clash);
    free(before);
    free(last);
    /* the backup taken before is the store as it was */
    char *names = backups_of(s);
    char *backup = strf("%s/backups/%s", s->data, names);
    assert_int_equal(file_count(backup, "PRAGMA user_version"), k);
    free(backup);
    free(names);
    free(err);
    free(db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_backup_while_serving_and_writing_is_one_consistent_snapshot, server_setup,
            server_teardown),
        cmocka_unit_test_setup_teardown(test_an_existing_dest_is_refused_unless_force, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_a_postgresql_store_is_pointed_to_pg_dump, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_restore_is_refused_while_a_server_runs_naming_its_pid,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(
            test_restore_refuses_what_is_not_a_cohortd_store_and_changes_nothing, server_setup,
            server_teardown),
        cmocka_unit_test_setup_teardown(
            test_restore_keeps_the_replaced_store_with_its_log_and_serves_the_backup, server_setup,
            server_teardown),
        cmocka_unit_test_setup_teardown(test_serve_backs_an_old_schema_up_then_migrates_it,
                                        fresh_setup, fresh_teardown),
        cmocka_unit_test_setup_teardown(
            test_serve_no_backup_before_migrate_migrates_without_a_backup, fresh_setup,
            fresh_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_command_refuses_to_migrate_under_a_running_server_then_migrates_after,
            fresh_setup, fresh_teardown),
        cmocka_unit_test_setup_teardown(
            test_migrations_run_in_one_transaction_a_failure_keeps_the_old_schema, fresh_setup,
            fresh_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
