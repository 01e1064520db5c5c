/*
 * config.h — the settings file of the command line (default /etc/cohortd/cohortd.conf): lines
 * `name = value`, where name is a long option of a subcommand without "--"; lines whose first
 * non-blank character is '#' are comments; blank lines are ignored. A value is the rest of
 * the line after '=', blanks trimmed at both ends (a '#' inside it is part of it). The file
 * knows nothing of the option tables: the caller says which names exist.
 */
#ifndef COHORTD_CLI_CONFIG_H
#define COHORTD_CLI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* The largest file and the most settings read; beyond them the file is refused. */
#define CONFIG_MAX_BYTES (1 << 20)
#define CONFIG_MAX_ENTRIES 256

struct config_entry {
    char *name;
    char *value;
    int line; /* 1-based line number in the file */
};

struct config {
    char *path; /* NULL when no file was read */
    struct config_entry *entries;
    size_t n_entries;
};

/* Whether `name` may be set in the file. */
typedef bool (*config_known_fn)(const char *name, void *ctx);

/*
 * Reads the file at path into *out (zeroed first; free it with config_free, also after a
 * failure). A missing file gives an empty config when missing_ok, else an error. Returns 0, or
 * -1 with a message in err: "cannot read PATH: REASON", or "PATH:LINE: what is wrong" for a
 * line without '=', an empty name or value, a name known() refuses, a name set twice, a line
 * over 4095 bytes, a file over CONFIG_MAX_BYTES or more than CONFIG_MAX_ENTRIES settings.
 */
int config_load(const char *path, bool missing_ok, config_known_fn known, void *ctx,
                struct config *out, char *err, size_t err_len);

/* The entry setting `name`, borrowed from c, or NULL. */
const struct config_entry *config_get(const struct config *c, const char *name);

/* Frees what config_load allocated; NULL-safe, leaves *c zeroed. */
void config_free(struct config *c);

#endif
