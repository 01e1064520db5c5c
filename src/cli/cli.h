/*
 * cli.h — the command line: a table of subcommands (cli.c), one file per subcommand, and one
 * option-table parser that gives every subcommand `--help`, `--flag value` / `--flag=value`,
 * `--config FILE`, COHORTD_* environment fallbacks, settings from the config file (config.h)
 * and defaults: flag > environment > config file > default, for every option.
 * Exit codes: 0 success, 1 failure, 2 usage error (a bad config file included).
 */
#ifndef COHORTD_CLI_CLI_H
#define COHORTD_CLI_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* The release, printed by `cohortd --version`; the build may define it from its project
 * version. */
#ifndef COHORTD_VERSION
#define COHORTD_VERSION "0.2.0"
#endif

/* The config file every subcommand reads when neither --config FILE nor COHORTD_CONFIG names
 * one (a missing default file is no error), and the data directory of the packaged service
 * (StateDirectory=cohortd of packaging/cohortd.service). */
#define CLI_CONFIG_PATH "/etc/cohortd/cohortd.conf"
#define CLI_CONFIG_ENV "COHORTD_CONFIG"
#define CLI_SERVICE_DATA_DIR "/var/lib/cohortd"

#define CLI_MAX_OPTS 48
#define CLI_MAX_POS 8

struct cli_opt {
    const char *name; /* long flag without "--" */
    const char *arg;  /* placeholder of its value ("DIR"), NULL for a boolean flag */
    const char *env;  /* environment variable, or NULL */
    const char *def;  /* default, or NULL */
    const char *help;
};

struct cli_command {
    const char *name;
    const char *synopsis; /* after "cohortd NAME " */
    const char *summary;
    const struct cli_opt *opts; /* terminated by a zeroed entry */
    int min_pos, max_pos;
    int (*run)(const struct cli_command *cmd, const char *const *values, const char *const *pos,
               int n_pos);
    bool hidden;    /* left out of `cohortd --help` and the man page (build-time helpers) */
    bool no_config; /* reads no config file (output must not depend on the machine) */
};

/* The subcommand table, hidden commands included; *n gets its length. */
const struct cli_command *const *cli_commands(size_t *n);

/* Parses argv (after the subcommand name) and runs cmd. Returns the exit code. */
int cli_dispatch(const struct cli_command *cmd, int argc, char **argv);

/* The value of option `name` (NULL when unset and without default). */
const char *cli_value(const struct cli_command *cmd, const char *const *values, const char *name);

/* Opens the store of a data directory: `store_url` if given, else DIR/cohortd.db. Prints the
 * reason and returns NULL on failure. */
struct store *cli_open_store(const char *data, const char *store_url);

/* How cli_open_store_ex treats a store whose schema is older than this build (the migration
 * guard): by default it refuses while a server holds the data-directory lock, else takes that
 * lock, writes a backup to DATA/backups/cohortd-v{old}-{UTC time}.db, then lets the open
 * migrate. */
enum cli_store_flags {
    CLI_STORE_LOCK_HELD = 1, /* the caller holds the data-directory lock (serve) */
    CLI_STORE_NO_BACKUP = 2, /* migrate without writing the backup first */
};
/* cli_open_store with flags (cli_open_store is cli_open_store_ex(data, store_url, 0)). */
struct store *cli_open_store_ex(const char *data, const char *store_url, unsigned flags);

/* Takes the data-directory lock (datalock.c): returns its descriptor (the lock lasts until it
 * is closed); -1 when another process holds it, with its pid (or "unknown") in holder; -2 when
 * the lock file cannot be used. err gets a message either way. */
int cli_datalock_take(const char *data, char *holder, size_t holder_len, char *err, size_t err_len);

/* Parses a duration (duration.c): a whole number with a unit ms, s, m, h or d ("30d", "200ms"),
 * or a bare "0"; at most max_ms. Returns 0 and sets *ms, or -1. */
int cli_parse_duration(const char *text, int64_t max_ms, int64_t *ms);

/* Prints an error "cohortd NAME: message" to stderr; returns 1. */
int cli_fail(const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints a JSON object (stolen) on one line to stdout. */
void cli_print_json(json_t *obj);

/* The subcommands (one file each). */
extern const struct cli_command cli_init_cmd, cli_serve_cmd, cli_workspace_cmd, cli_api_key_cmd,
    cli_partner_cmd, cli_import_key_cmd, cli_heap_cmd, cli_help_config_cmd, cli_help_man_cmd,
    cli_routes_cmd;
/* render_cmd.c */
extern const struct cli_command cli_render_cmd;
/* user_cmd.c */
extern const struct cli_command cli_user_cmd;

/* backup.c */
extern const struct cli_command cli_backup_cmd, cli_restore_cmd;

/* Shared option rows. */
#define CLI_OPT_DATA                                                                               \
    { "data", "DIR", "COHORTD_DATA", "var", "data directory (the SQLite store lives in it)" }
#define CLI_OPT_STORE                                                                              \
    { "store", "URL", "COHORTD_STORE", NULL, "store URL (default: sqlite:DIR/cohortd.db)" }
#define CLI_OPT_WORKSPACE                                                                          \
    {                                                                                              \
        "workspace", "ID|NAME", "COHORTD_WORKSPACE", NULL,                                         \
            "workspace ID or NAME (default: the first workspace)"                                  \
    }
#define CLI_OPT_JSON                                                                               \
    { "json", NULL, NULL, NULL, "print one JSON object instead of text" }
#define CLI_OPT_HELP                                                                               \
    { "help", NULL, NULL, NULL, "show this help" }

int cli_main(int argc, char **argv);

#endif
