/*
 * backup.c — `cohortd backup DEST` and `cohortd restore SRC`, through the store's file ops
 * (store.h): a backup copies the store consistently while a server serves and writes it; a
 * restore takes the data-directory lock (so it never runs beside a server), checks SRC, keeps
 * the store it replaces and puts a copy of SRC in its place. A PostgreSQL store has its own
 * tools (pg_dump, pg_restore); these commands say so.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/timeutil.h"

static bool is_postgres(const char *url) {
    return strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
}

/* The store URL of the command: --store, else sqlite:DATA/cohortd.db. */
static void store_url(const struct cli_command *cmd, const char *const *values, char *url,
                      size_t len) {
    const char *given = cli_value(cmd, values, "store");
    if (given)
        snprintf(url, len, "%s", given);
    else
        snprintf(url, len, "sqlite:%s/cohortd.db", cli_value(cmd, values, "data"));
}

/* ---- backup DEST ---- */

static const struct cli_opt backup_opts[] = {
    CLI_OPT_DATA, CLI_OPT_STORE, {"force", NULL, NULL, NULL, "replace DEST when it exists"},
    CLI_OPT_JSON, CLI_OPT_HELP,  {0},
};

static int run_backup(const struct cli_command *cmd, const char *const *values,
                      const char *const *pos, int n_pos) {
    (void)n_pos;
    char url[4096], err_msg[512];
    store_url(cmd, values, url, sizeof url);
    if (is_postgres(url))
        return cli_fail(cmd, "backup of postgresql stores: use pg_dump");
    const char *location = NULL;
    const struct store_ops *ops = store_backend(url, &location, err_msg, sizeof err_msg);
    if (!ops)
        return cli_fail(cmd, "%s", err_msg);
    if (!ops->files)
        return cli_fail(cmd, "the %s store has no backup command: use its own tools", ops->name);
    if (access(location, F_OK) != 0)
        return cli_fail(cmd, "no store at %s (run cohortd init first)", location);
    struct store_copy_info info = {0};
    bool force = cli_value(cmd, values, "force") != NULL;
    if (ops->files->backup(location, pos[0], force, &info, err_msg, sizeof err_msg) != CD_OK)
        return cli_fail(cmd, "%s", err_msg);
    if (cli_value(cmd, values, "json"))
        cli_print_json(json_pack("{s:s, s:I, s:i}", "backup", pos[0], "bytes",
                                 (json_int_t)info.bytes, "schema_version", info.schema_version));
    else
        printf("backup %s: %lld bytes, schema version %d\n", pos[0], (long long)info.bytes,
               info.schema_version);
    return 0;
}

const struct cli_command cli_backup_cmd = {
    .name = "backup",
    .synopsis = "DEST [--data DIR] [--store URL] [--force] [--json]",
    .summary = "copy the store to DEST, consistently, while a server may be serving it",
    .opts = backup_opts,
    .min_pos = 1,
    .max_pos = 1,
    .run = run_backup,
};

/* ---- restore SRC ---- */

static const struct cli_opt restore_opts[] = {
    CLI_OPT_DATA, CLI_OPT_STORE, CLI_OPT_JSON, CLI_OPT_HELP, {0},
};

static bool same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static int run_restore(const struct cli_command *cmd, const char *const *values,
                       const char *const *pos, int n_pos) {
    (void)n_pos;
    const char *data = cli_value(cmd, values, "data");
    const char *src = pos[0];
    char url[4096], err_msg[512], holder[32], kept[4200];
    store_url(cmd, values, url, sizeof url);
    if (is_postgres(url))
        return cli_fail(cmd, "restore of postgresql stores: use pg_restore");
    const char *location = NULL;
    const struct store_ops *ops = store_backend(url, &location, err_msg, sizeof err_msg);
    if (!ops)
        return cli_fail(cmd, "%s", err_msg);
    if (!ops->files)
        return cli_fail(cmd, "the %s store has no restore command: use its own tools", ops->name);
    if (access(src, R_OK) != 0)
        return cli_fail(cmd, "cannot read %s", src);
    if (same_file(src, location))
        return cli_fail(cmd, "%s is the store itself", src);
    /* held until the process exits: no server starts on the directory while we replace it */
    int lock_fd = cli_datalock_take(data, holder, sizeof holder, err_msg, sizeof err_msg);
    if (lock_fd == -1)
        return cli_fail(cmd, "a running cohortd (pid %s) uses %s: stop it before restoring", holder,
                        data);
    if (lock_fd < 0)
        return cli_fail(cmd, "%s", err_msg);
    char stamp[32];
    time_t now = (time_t)(time_now_ms() / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    struct store_copy_info info = {0};
    enum cd_err err = ops->files->restore(location, src, stamp, &info, kept, sizeof kept, err_msg,
                                          sizeof err_msg);
    close(lock_fd);
    if (err != CD_OK)
        return cli_fail(cmd, "%s", err_msg);
    int have = 0, latest = 0;
    ops->files->schema_version(location, &have, &latest);
    if (cli_value(cmd, values, "json")) {
        cli_print_json(json_pack("{s:s, s:s, s:I, s:i, s:o}", "restored", src, "store", location,
                                 "bytes", (json_int_t)info.bytes, "schema_version",
                                 info.schema_version, "kept",
                                 kept[0] ? json_string(kept) : json_null()));
    } else {
        printf("restored %s into %s (schema version %d)\n", src, location, info.schema_version);
        if (kept[0])
            printf("the store it replaced is kept as %s\n", kept);
        if (info.schema_version < latest)
            printf("the next start migrates it to schema version %d (after a backup)\n", latest);
    }
    return 0;
}

const struct cli_command cli_restore_cmd = {
    .name = "restore",
    .synopsis = "SRC [--data DIR] [--store URL] [--json]",
    .summary = "replace the store by a backup (no server may run on the directory)",
    .opts = restore_opts,
    .min_pos = 1,
    .max_pos = 1,
    .run = run_restore,
};
