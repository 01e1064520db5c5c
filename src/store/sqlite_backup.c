/*
 * sqlite_backup.c — copies of the SQLite store (store_file_ops): an online backup through
 * SQLite's backup API, a restore that checks its source before it replaces anything and keeps
 * the store it replaces, and the schema version of a file. Works on paths with connections of
 * its own, never on a server's handle: a backup usually runs in another process than the server
 * whose store it copies. May touch only SQLite and the files it names.
 *
 * Consistency: the copy holds one read transaction on the source from its first page to its
 * last, so it copies one snapshot. In WAL mode that blocks no writer and the copy never restarts
 * (the backup API restarts only when its source changes under a new read transaction). It runs
 * in steps of BACKUP_STEP_PAGES pages so a cancelled or failing copy stops early.
 *
 * Cost: every page read once and written once, one fsync of the copy and one of its directory.
 * A copy is a file in rollback-journal mode: one self-contained file, nothing beside it.
 */
#include "store/sqlite_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/sqlite_schema.h"

#define BACKUP_STEP_PAGES 256

static enum cd_err fail_with(char *err_msg, size_t err_len, enum cd_err err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum cd_err fail_with(char *err_msg, size_t err_len, enum cd_err err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, err_len, fmt, ap);
    va_end(ap);
    return err;
}

static int path_join(char *buf, size_t len, const char *a, const char *b) {
    int n = snprintf(buf, len, "%s%s", a, b);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* fsyncs a file, or the directory that holds path when dir is set. */
static int sync_path(const char *path, bool dir) {
    char buf[PATH_MAX];
    const char *target = path;
    if (dir) {
        const char *slash = strrchr(path, '/');
        if (!slash)
            target = ".";
        else if (slash == path)
            target = "/";
        else {
            snprintf(buf, sizeof buf, "%.*s", (int)(slash - path), path);
            target = buf;
        }
    }
    int fd = open(target, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int int_pragma(sqlite3 *db, const char *sql, int *out) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/*
 * Copies the snapshot of src (a read transaction is open on it) into a new file tmp, turns it
 * into a rollback-journal database, syncs it and reads its schema version and size. On failure
 * tmp is removed.
 */
static enum cd_err copy_to(sqlite3 *src, const char *tmp, struct store_copy_info *info,
                           char *err_msg, size_t err_len) {
    sqlite3 *dst = NULL;
    enum cd_err err = CD_OK;
    unlink(tmp); /* a leftover of a copy that died */
    if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        err = fail_with(err_msg, err_len, CD_E_IO, "cannot create %s: %s", tmp,
                        dst ? sqlite3_errmsg(dst) : "out of memory");
        goto done;
    }
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
        err = fail_with(err_msg, err_len, CD_E_STORE, "cannot start the copy: %s",
                        sqlite3_errmsg(dst));
        goto done;
    }
    int rc;
    do {
        rc = sqlite3_backup_step(b, BACKUP_STEP_PAGES);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
            sqlite3_sleep(5);
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        err = fail_with(err_msg, err_len, CD_E_STORE, "copy failed: %s", sqlite3_errstr(rc));
        goto done;
    }
    char *msg = NULL;
    if (sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, &msg) != SQLITE_OK) {
        err = fail_with(err_msg, err_len, CD_E_STORE, "cannot finish the copy: %s",
                        msg ? msg : "unknown error");
        sqlite3_free(msg);
        goto done;
    }
    if (int_pragma(dst, "PRAGMA user_version", &info->schema_version) != SQLITE_OK) {
        err = fail_with(err_msg, err_len, CD_E_STORE, "cannot read the copy: %s",
                        sqlite3_errmsg(dst));
        goto done;
    }
done:
    if (dst && sqlite3_close(dst) != SQLITE_OK && err == CD_OK)
        err = fail_with(err_msg, err_len, CD_E_IO, "cannot close %s", tmp);
    struct stat st = {0};
    /* a copy holds what the store holds (Heap secrets, import keys): for its owner only */
    if (err == CD_OK && chmod(tmp, 0600) != 0)
        err = fail_with(err_msg, err_len, CD_E_IO, "cannot chmod %s: %s", tmp, strerror(errno));
    if (err == CD_OK && (sync_path(tmp, false) != 0 || stat(tmp, &st) != 0))
        err = fail_with(err_msg, err_len, CD_E_IO, "cannot sync %s: %s", tmp, strerror(errno));
    if (err == CD_OK)
        info->bytes = (int64_t)st.st_size;
    else
        unlink(tmp);
    return err;
}

/* Opens location, holding a read transaction on it (so the copy sees one snapshot). */
static enum cd_err open_snapshot(const char *location, int flags, sqlite3 **out, char *err_msg,
                                 size_t err_len) {
    sqlite3 *db = NULL;
    *out = NULL;
    if (sqlite3_open_v2(location, &db, flags, NULL) != SQLITE_OK) {
        enum cd_err err = fail_with(err_msg, err_len, CD_E_NOT_FOUND, "cannot open %s: %s",
                                    location, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return err;
    }
    sqlite3_busy_timeout(db, 10000);
    char *msg = NULL;
    if (sqlite3_exec(db, "BEGIN; SELECT count(*) FROM sqlite_master", NULL, NULL, &msg) !=
        SQLITE_OK) {
        enum cd_err err = fail_with(err_msg, err_len, CD_E_INVALID, "cannot read %s: %s", location,
                                    msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        sqlite3_close(db);
        return err;
    }
    *out = db;
    return CD_OK;
}

static void close_snapshot(sqlite3 *db) {
    if (!db)
        return;
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
}

static enum cd_err backup(const char *location, const char *dest, bool replace,
                          struct store_copy_info *info, char *err_msg, size_t err_len) {
    char tmp[PATH_MAX];
    int w = snprintf(tmp, sizeof tmp, "%s.tmp-%ld", dest, (long)getpid());
    if (w < 0 || (size_t)w >= sizeof tmp)
        return fail_with(err_msg, err_len, CD_E_INVALID, "path too long: %s", dest);
    if (!replace && access(dest, F_OK) == 0)
        return fail_with(err_msg, err_len, CD_E_EXISTS, "%s exists (--force replaces it)", dest);
    sqlite3 *src = NULL;
    enum cd_err err = open_snapshot(location, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, &src,
                                    err_msg, err_len);
    if (err == CD_OK)
        err = copy_to(src, tmp, info, err_msg, err_len);
    close_snapshot(src);
    if (err != CD_OK)
        return err;
    /* without replace, link() refuses a dest that appeared meanwhile: never overwritten (a
     * file system without hard links gets a check and a rename) */
    int rc = replace ? rename(tmp, dest) : link(tmp, dest);
    if (rc != 0 && !replace && (errno == EPERM || errno == ENOTSUP || errno == EOPNOTSUPP)) {
        errno = EEXIST;
        rc = access(dest, F_OK) == 0 ? -1 : rename(tmp, dest);
    }
    if (rc != 0) {
        int e = errno;
        unlink(tmp);
        return e == EEXIST
                   ? fail_with(err_msg, err_len, CD_E_EXISTS, "%s exists (--force replaces it)",
                               dest)
                   : fail_with(err_msg, err_len, CD_E_IO, "cannot write %s: %s", dest, strerror(e));
    }
    if (!replace)
        unlink(tmp);
    if (sync_path(dest, true) != 0)
        return fail_with(err_msg, err_len, CD_E_IO, "cannot sync the directory of %s: %s", dest,
                         strerror(errno));
    return CD_OK;
}

static enum cd_err schema_version(const char *location, int *have, int *latest) {
    *latest = sqlite_schema_latest();
    *have = 0;
    if (access(location, F_OK) != 0)
        return errno == ENOENT ? CD_OK : CD_E_IO;
    sqlite3 *db = NULL;
    enum cd_err err = CD_OK;
    if (sqlite3_open_v2(location, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        int_pragma(db, "PRAGMA user_version", have) != SQLITE_OK)
        err = CD_E_STORE;
    sqlite3_close(db);
    return err;
}

/* Checks that src is a cohortd store this build can open: the file's integrity, the tables of
 * migration 1, and a schema version from 1 to the newest. Leaves a snapshot open in *out. */
static enum cd_err check_source(const char *src, sqlite3 **out, char *err_msg, size_t err_len) {
    sqlite3 *db = NULL;
    enum cd_err err = open_snapshot(src, SQLITE_OPEN_READONLY, &db, err_msg, err_len);
    if (err == CD_E_INVALID) { /* opened, but unreadable: "file is not a database" */
        const char *why = strrchr(err_msg, ':');
        char reason[256];
        snprintf(reason, sizeof reason, "%s", why && why[0] ? why + 2 : "unreadable");
        return fail_with(err_msg, err_len, CD_E_INVALID, "%s is not a cohortd database (%s)", src,
                         reason);
    }
    if (err != CD_OK)
        return err;
    sqlite3_stmt *st = NULL;
    int version = 0, n_tables = 0;
    char first[256] = "";
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        snprintf(first, sizeof first, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (strcmp(first, "ok") != 0) {
        err = fail_with(err_msg, err_len, CD_E_INVALID, "%s fails the integrity check: %s", src,
                        first[0] ? first : sqlite3_errmsg(db));
        goto done;
    }
    if (int_pragma(db, "PRAGMA user_version", &version) != SQLITE_OK ||
        int_pragma(db,
                   "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                   "('workspaces', 'users', 'outbox')",
                   &n_tables) != SQLITE_OK ||
        version < 1 || n_tables != 3) {
        err = fail_with(err_msg, err_len, CD_E_INVALID, "%s is not a cohortd database", src);
        goto done;
    }
    if (version > sqlite_schema_latest()) {
        err = fail_with(err_msg, err_len, CD_E_INVALID,
                        "%s has schema version %d, newer than this build (%d)", src, version,
                        sqlite_schema_latest());
        goto done;
    }
done:
    if (err != CD_OK)
        close_snapshot(db);
    else
        *out = db;
    return err;
}

/* Best effort: folds location's write-ahead log into the file, so the file alone is whole. */
static void fold_wal(const char *location) {
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(location, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 10000);
        sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    }
    sqlite3_close(db);
}

/* Moves location (and its -wal, if one is left) to location.before-restore-stamp[-N]. */
static enum cd_err keep_current(const char *location, const char *stamp, char *kept,
                                size_t kept_len, char *err_msg, size_t err_len) {
    char wal[PATH_MAX], kept_wal[PATH_MAX];
    for (int n = 1; n < 100; n++) {
        int w = n == 1 ? snprintf(kept, kept_len, "%s.before-restore-%s", location, stamp)
                       : snprintf(kept, kept_len, "%s.before-restore-%s-%d", location, stamp, n);
        if (w < 0 || (size_t)w >= kept_len)
            return fail_with(err_msg, err_len, CD_E_INVALID, "path too long: %s", location);
        /* a link keeps the store in place until the new one replaces it in one rename */
        if (link(location, kept) == 0)
            break;
        if (errno == EEXIST)
            continue;
        if (rename(location, kept) != 0)
            return fail_with(err_msg, err_len, CD_E_IO, "cannot keep %s as %s: %s", location, kept,
                             strerror(errno));
        break;
    }
    if (path_join(wal, sizeof wal, location, "-wal") != 0 ||
        path_join(kept_wal, sizeof kept_wal, kept, "-wal") != 0)
        return fail_with(err_msg, err_len, CD_E_INVALID, "path too long: %s", location);
    struct stat st;
    if (stat(wal, &st) == 0 && st.st_size > 0 && rename(wal, kept_wal) != 0)
        return fail_with(err_msg, err_len, CD_E_IO, "cannot keep %s: %s", wal, strerror(errno));
    return CD_OK;
}

static enum cd_err restore(const char *location, const char *src, const char *stamp,
                           struct store_copy_info *info, char *kept_out, size_t kept_len,
                           char *err_msg, size_t err_len) {
    char tmp[PATH_MAX], side[PATH_MAX];
    kept_out[0] = '\0';
    if (path_join(tmp, sizeof tmp, location, ".restore-tmp") != 0)
        return fail_with(err_msg, err_len, CD_E_INVALID, "path too long: %s", location);
    sqlite3 *db = NULL;
    enum cd_err err = check_source(src, &db, err_msg, err_len);
    if (err != CD_OK)
        return err;
    err = copy_to(db, tmp, info, err_msg, err_len);
    close_snapshot(db);
    if (err != CD_OK)
        return err;
    if (access(location, F_OK) == 0) {
        fold_wal(location);
        err = keep_current(location, stamp, kept_out, kept_len, err_msg, err_len);
        if (err != CD_OK) {
            unlink(tmp);
            kept_out[0] = '\0';
            return err;
        }
    }
    /* a -wal or -shm left beside the path belongs to the store replaced: never to the copy */
    static const char *const sides[] = {"-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof sides / sizeof sides[0]; i++)
        if (path_join(side, sizeof side, location, sides[i]) == 0)
            unlink(side);
    if (rename(tmp, location) != 0) {
        int e = errno;
        unlink(tmp);
        return fail_with(err_msg, err_len, CD_E_IO, "cannot put the copy at %s: %s", location,
                         strerror(e));
    }
    if (sync_path(location, true) != 0)
        return fail_with(err_msg, err_len, CD_E_IO, "cannot sync the directory of %s: %s", location,
                         strerror(errno));
    return CD_OK;
}

const struct store_file_ops sqlite_file_ops = {
    .schema_version = schema_version,
    .backup = backup,
    .restore = restore,
};
