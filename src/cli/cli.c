/* cli.c — the subcommand table, option parsing (flag > environment > config file > default)
 * and --help (see cli.h). */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/config.h"
#include "util/log.h"
#include "util/timeutil.h"

/* clang-format off */
static const struct cli_command *const commands[] = {
    &cli_init_cmd,    &cli_serve_cmd,      &cli_workspace_cmd, &cli_api_key_cmd,
    &cli_partner_cmd, &cli_import_key_cmd, &cli_heap_cmd, &cli_user_cmd,
    &cli_backup_cmd,  &cli_restore_cmd,
    &cli_help_config_cmd, &cli_help_man_cmd, &cli_routes_cmd, &cli_render_cmd,
};
/* clang-format on */
#define N_COMMANDS (sizeof commands / sizeof commands[0])

const struct cli_command *const *cli_commands(size_t *n) {
    *n = N_COMMANDS;
    return commands;
}

static void usage_main(FILE *f) {
    fprintf(f, "usage: cohortd COMMAND [OPTIONS]\n\n"
               "cohortd is a self-hostable engagement data server: partner cohorts in,\n"
               "segments and campaigns on top, Currents out.\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!commands[i]->hidden)
            fprintf(f, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "  %-12s %s\n", "version", "print the version (also: cohortd --version)");
    fprintf(f, "\n'cohortd COMMAND --help' describes a command.\n");
}

static void usage_cmd(const struct cli_command *cmd, FILE *f) {
    fprintf(f, "usage: cohortd %s %s\n\n%s\n\noptions:\n", cmd->name, cmd->synopsis, cmd->summary);
    for (const struct cli_opt *o = cmd->opts; o->name; o++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(f, "  %-24s %s", flag, o->help);
        if (o->env)
            fprintf(f, " [env %s]", o->env);
        if (o->def)
            fprintf(f, " (default: %s)", o->def);
        fputc('\n', f);
    }
    if (cmd->no_config)
        return;
    fprintf(f, "  %-24s settings file, lines 'name = value' [env %s] (default: %s)\n",
            "--config FILE", CLI_CONFIG_ENV, CLI_CONFIG_PATH);
    fprintf(f, "\nEvery option can be set in the config file by its long name (listen = "
               "0.0.0.0:8080).\nA flag wins over its environment variable, which wins over "
               "the file,\nwhich wins over the default.\n");
}

const char *cli_value(const struct cli_command *cmd, const char *const *values, const char *name) {
    for (int i = 0; cmd->opts[i].name; i++)
        if (strcmp(cmd->opts[i].name, name) == 0)
            return values[i];
    return NULL;
}

int cli_fail(const struct cli_command *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "cohortd %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static int usage_error(const struct cli_command *cmd, const char *what, const char *arg) {
    fprintf(stderr, "cohortd %s: %s%s\n", cmd->name, what, arg ? arg : "");
    fprintf(stderr, "usage: cohortd %s %s  (see --help)\n", cmd->name, cmd->synopsis);
    return 2;
}

/* Whether name is an option of some subcommand that a config file may set (not help). */
static bool setting_known(const char *name, void *ctx) {
    (void)ctx;
    if (strcmp(name, "help") == 0)
        return false;
    for (size_t i = 0; i < N_COMMANDS; i++)
        for (const struct cli_opt *o = commands[i]->opts; o->name; o++)
            if (strcmp(o->name, name) == 0)
                return true;
    return false;
}

/* A boolean option's value in the config file: "1" for true, NULL for false; -1 when the
 * text is neither. */
static int config_bool(const char *text, const char **out) {
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no",
                                                                                "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(text, yes[i]) == 0) {
            *out = "1";
            return 0;
        }
        if (strcmp(text, no[i]) == 0) {
            *out = NULL;
            return 0;
        }
    }
    return -1;
}

/* Loads the config file (--config FILE, else COHORTD_CONFIG, else the default path, which
 * alone may be missing; an empty name reads no file) and fills the options that flags and
 * the environment left unset (values). Returns 0, or prints why and returns 2. */
static int apply_config(const struct cli_command *cmd, const char *flag_path, const char **values,
                        struct config *cfg) {
    const char *path = flag_path ? flag_path : getenv(CLI_CONFIG_ENV);
    bool missing_ok = path == NULL;
    if (!path)
        path = CLI_CONFIG_PATH;
    if (path[0] == '\0')
        return 0;
    char err[512];
    if (config_load(path, missing_ok, setting_known, NULL, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "cohortd %s: %s\n", cmd->name, err);
        return 2;
    }
    for (int j = 0; cmd->opts[j].name; j++) {
        const struct config_entry *e = config_get(cfg, cmd->opts[j].name);
        if (!e || values[j])
            continue;
        if (cmd->opts[j].arg) {
            values[j] = e->value;
        } else if (config_bool(e->value, &values[j]) != 0) {
            fprintf(stderr, "cohortd %s: %s:%d: '%s' must be true or false, not '%s'\n", cmd->name,
                    cfg->path, e->line, e->name, e->value);
            return 2;
        }
    }
    return 0;
}

int cli_dispatch(const struct cli_command *cmd, int argc, char **argv) {
    const char *values[CLI_MAX_OPTS] = {0};
    const char *pos[CLI_MAX_POS];
    const char *config_path = NULL;
    int n_pos = 0, n_opts = 0;
    while (cmd->opts[n_opts].name)
        n_opts++;
    if (n_opts > CLI_MAX_OPTS) {
        fprintf(stderr, "cohortd %s: built with more than %d options\n", cmd->name, CLI_MAX_OPTS);
        return 1;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (n_pos == CLI_MAX_POS || n_pos == cmd->max_pos)
                return usage_error(cmd, "unexpected argument: ", a);
            pos[n_pos++] = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        if (!cmd->no_config && name_len == 6 && strncmp(name, "config", 6) == 0) {
            if (eq)
                config_path = eq + 1;
            else if (i + 1 < argc)
                config_path = argv[++i];
            else
                return usage_error(cmd, "option needs a value: ", a);
            continue;
        }
        int k = -1;
        for (int j = 0; j < n_opts; j++)
            if (strlen(cmd->opts[j].name) == name_len &&
                strncmp(cmd->opts[j].name, name, name_len) == 0)
                k = j;
        if (k < 0)
            return usage_error(cmd, "unknown option: ", a);
        if (strcmp(cmd->opts[k].name, "help") == 0) {
            usage_cmd(cmd, stdout);
            return 0;
        }
        if (!cmd->opts[k].arg) {
            if (eq)
                return usage_error(cmd, "option takes no value: ", a);
            values[k] = "1";
        } else if (eq) {
            values[k] = eq + 1;
        } else if (i + 1 < argc) {
            values[k] = argv[++i];
        } else {
            return usage_error(cmd, "option needs a value: ", a);
        }
    }
    if (n_pos < cmd->min_pos)
        return usage_error(cmd, "missing argument", NULL);
    for (int j = 0; j < n_opts; j++)
        if (!values[j] && cmd->opts[j].env)
            values[j] = getenv(cmd->opts[j].env);
    struct config cfg = {0};
    int rc = cmd->no_config ? 0 : apply_config(cmd, config_path, values, &cfg);
    if (rc == 0) {
        for (int j = 0; j < n_opts; j++)
            if (!values[j] && !config_get(&cfg, cmd->opts[j].name))
                values[j] = cmd->opts[j].def;
        rc = cmd->run(cmd, values, pos, n_pos);
    }
    config_free(&cfg);
    return rc;
}

/*
 * The migration guard, before a store is opened. When the schema is older than this build's:
 * refuses (returns -2) while a server holds the data directory, unless the caller is that
 * server; otherwise takes the lock for the migration (its descriptor is returned, -1 when none
 * was taken) and, unless told not to, writes a backup of the old store into DATA/backups first.
 * A fresh store (no schema yet), a current one and one this build cannot read go through: the
 * open creates, uses or refuses them.
 */
static int migration_guard(const char *data, const char *url, unsigned flags) {
    char err_msg[8800];
    const char *location = NULL;
    const struct store_ops *ops = store_backend(url, &location, err_msg, sizeof err_msg);
    int have = 0, latest = 0;
    if (!ops || !ops->files || ops->files->schema_version(location, &have, &latest) != CD_OK ||
        have == 0 || have >= latest)
        return -1;
    int lock_fd = -1;
    if (!(flags & CLI_STORE_LOCK_HELD)) {
        char holder[32];
        lock_fd = cli_datalock_take(data, holder, sizeof holder, err_msg, sizeof err_msg);
        if (lock_fd == -1) {
            fprintf(stderr,
                    "cohortd: a running cohortd (pid %s) uses this data directory: stop it "
                    "before upgrading (this build migrates the schema from v%d to v%d)\n",
                    holder, have, latest);
            return -2;
        }
        if (lock_fd < 0) {
            fprintf(stderr, "cohortd: %s\n", err_msg);
            return -2;
        }
    }
    if (flags & CLI_STORE_NO_BACKUP) {
        log_warn("store", "op=migrate from=%d to=%d backup=none (--no-backup-before-migrate)", have,
                 latest);
        return lock_fd;
    }
    char dir[4096], dest[4400], stamp[32];
    struct store_copy_info info = {0};
    time_t now = (time_t)(time_now_ms() / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(dir, sizeof dir, "%s/backups", data);
    enum cd_err err = CD_E_EXISTS;
    if (mkdir(dir, 0700) == 0 || errno == EEXIST)
        for (int n = 1; n < 100 && err == CD_E_EXISTS; n++) {
            if (n == 1)
                snprintf(dest, sizeof dest, "%s/cohortd-v%d-%s.db", dir, have, stamp);
            else
                snprintf(dest, sizeof dest, "%s/cohortd-v%d-%s-%d.db", dir, have, stamp, n);
            err = ops->files->backup(location, dest, false, &info, err_msg, sizeof err_msg);
        }
    else
        snprintf(err_msg, sizeof err_msg, "cannot create %s: %s", dir, strerror(errno));
    if (err != CD_OK) {
        fprintf(stderr, "cohortd: no backup, so no migration from v%d to v%d: %s\n", have, latest,
                err_msg);
        if (lock_fd >= 0)
            close(lock_fd);
        return -2;
    }
    log_info("store", "op=backup_before_migrate from=%d to=%d backup=%s bytes=%lld", have, latest,
             log_q(dest), (long long)info.bytes);
    return lock_fd;
}

struct store *cli_open_store(const char *data, const char *store_url) {
    return cli_open_store_ex(data, store_url, 0);
}

struct store *cli_open_store_ex(const char *data, const char *store_url, unsigned flags) {
    char url[4096], err_msg[256];
    if (store_url)
        snprintf(url, sizeof url, "%s", store_url);
    else
        snprintf(url, sizeof url, "sqlite:%s/cohortd.db", data);
    int lock_fd = migration_guard(data, url, flags);
    if (lock_fd == -2)
        return NULL;
    struct store *s = NULL;
    enum cd_err err = store_open(url, &s, err_msg, sizeof err_msg);
    if (lock_fd >= 0)
        close(lock_fd);
    if (err != CD_OK) {
        fprintf(stderr, "cohortd: %s\n", err_msg);
        return NULL;
    }
    return s;
}

void cli_print_json(json_t *obj) {
    char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text)
        puts(text);
    free(text);
    json_decref(obj);
}

int cli_main(int argc, char **argv) {
    if (argc < 2) {
        usage_main(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage_main(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        if (argc > 2) {
            fprintf(stderr, "cohortd version: unexpected argument: %s\n", argv[2]);
            return 2;
        }
        printf("cohortd %s\n", COHORTD_VERSION);
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i]->name) == 0)
            return cli_dispatch(commands[i], argc - 2, argv + 2);
    fprintf(stderr, "cohortd: unknown command '%s'\n\n", argv[1]);
    usage_main(stderr);
    return 2;
}
