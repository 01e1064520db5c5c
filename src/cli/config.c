/*
 * config.c — reads the settings file of the command line (format in config.h). It touches
 * only the file it is given; which names are settings is the caller's (cli.c) business. Every
 * error names PATH:LINE so an operator can fix the file without guessing. The file is read
 * once per command, line by line (at most CONFIG_MAX_BYTES), so its cost does not matter.
 */
#include "cli/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES 4096

static int fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

static bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Trims blanks at both ends of [*start, end) in place; returns the new length. */
static size_t trim(char **start, char *end) {
    while (*start < end && is_blank(**start))
        (*start)++;
    while (end > *start && is_blank(end[-1]))
        end--;
    *end = '\0';
    return (size_t)(end - *start);
}

static bool name_chars_ok(const char *name) {
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return true;
}

const struct config_entry *config_get(const struct config *c, const char *name) {
    for (size_t i = 0; c && c->entries && i < c->n_entries; i++)
        if (c->entries[i].name && strcmp(c->entries[i].name, name) == 0)
            return &c->entries[i];
    return NULL;
}

/* Parses one line (its newline removed); adds a setting to c or fills err. */
static int parse_line(struct config *c, char *text, int line, config_known_fn known, void *ctx,
                      char *err, size_t err_len) {
    char *start = text;
    if (trim(&start, text + strlen(text)) == 0 || start[0] == '#')
        return 0;
    char *eq = strchr(start, '=');
    if (!eq)
        return fail(err, err_len, "%s:%d: expected 'name = value', not '%s'", c->path, line, start);
    char *name = start, *value = eq + 1;
    size_t name_len = trim(&name, eq);
    size_t value_len = trim(&value, value + strlen(value));
    if (name_len == 0)
        return fail(err, err_len, "%s:%d: a setting without a name", c->path, line);
    if (!name_chars_ok(name) || !known(name, ctx))
        return fail(err, err_len, "%s:%d: unknown setting '%s'", c->path, line, name);
    if (value_len == 0)
        return fail(err, err_len, "%s:%d: '%s' has no value", c->path, line, name);
    const struct config_entry *prev = config_get(c, name);
    if (prev)
        return fail(err, err_len, "%s:%d: '%s' is set twice (first on line %d)", c->path, line,
                    name, prev->line);
    if (c->n_entries == CONFIG_MAX_ENTRIES)
        return fail(err, err_len, "%s:%d: more than %d settings", c->path, line,
                    CONFIG_MAX_ENTRIES);
    struct config_entry e = {.name = strdup(name), .value = strdup(value), .line = line};
    if (!e.name || !e.value) {
        free(e.name);
        free(e.value);
        return fail(err, err_len, "%s:%d: out of memory", c->path, line);
    }
    c->entries[c->n_entries++] = e;
    return 0;
}

int config_load(const char *path, bool missing_ok, config_known_fn known, void *ctx,
                struct config *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT && missing_ok)
            return 0;
        return fail(err, err_len, "cannot read %s: %s", path, strerror(errno));
    }
    out->path = strdup(path);
    out->entries = calloc(CONFIG_MAX_ENTRIES, sizeof *out->entries);
    if (!out->path || !out->entries) {
        fclose(f);
        return fail(err, err_len, "cannot read %s: out of memory", path);
    }
    int rc = 0;
    char buf[LINE_MAX_BYTES + 1];
    size_t total = 0;
    for (int line = 1; rc == 0 && fgets(buf, sizeof buf, f); line++) {
        size_t len = strlen(buf);
        total += len;
        if (total > CONFIG_MAX_BYTES)
            rc = fail(err, err_len, "%s:%d: the file is larger than %d bytes", path, line,
                      CONFIG_MAX_BYTES);
        else if (len == LINE_MAX_BYTES && buf[len - 1] != '\n' && !feof(f))
            rc = fail(err, err_len, "%s:%d: line longer than %d bytes", path, line,
                      LINE_MAX_BYTES - 1);
        else
            rc = parse_line(out, buf, line, known, ctx, err, err_len);
    }
    if (rc == 0 && ferror(f))
        rc = fail(err, err_len, "cannot read %s: %s", path, strerror(errno));
    fclose(f);
    return rc;
}

void config_free(struct config *c) {
    if (!c)
        return;
    for (size_t i = 0; i < c->n_entries; i++) {
        free(c->entries[i].name);
        free(c->entries[i].value);
    }
    free(c->entries);
    free(c->path);
    memset(c, 0, sizeof *c);
}
