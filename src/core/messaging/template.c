/* template.c — checking and rendering personalisation templates (see template.h) on top of the
 * Liquid module; the fault message format and its quoting bound live here. */
#include "core/messaging/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum cd_err tmpl_check(const char *text, enum tmpl_scope scope, struct tmpl_fault *fault) {
    memset(fault, 0, sizeof *fault);
    struct liquid_fault lf;
    struct liquid_tree *tree = NULL;
    enum cd_err err =
        liquid_parse(text, scope == TMPL_CANVAS ? LIQUID_CANVAS : LIQUID_CAMPAIGN, &tree, &lf);
    liquid_free(tree);
    if (err == CD_OK)
        return CD_OK;
    fault->why = lf.why;
    memcpy(fault->detail, lf.detail, sizeof fault->detail);
    fault->tag = lf.tag;
    fault->tag_len = lf.tag_len;
    fault->line = lf.line;
    fault->column = lf.column;
    return err;
}

char *tmpl_fault_text(const struct tmpl_fault *fault) {
    const char *why = fault->detail[0] ? fault->detail
                      : fault->why     ? fault->why
                                       : "invalid template";
    size_t quote = fault->tag ? fault->tag_len : 0;
    bool cut = quote > TMPL_QUOTE_MAX;
    if (cut) { /* back off to the start of a UTF-8 character */
        quote = TMPL_QUOTE_MAX;
        while (quote > 0 && ((unsigned char)fault->tag[quote] & 0xC0) == 0x80)
            quote--;
    }
    size_t len = strlen(why) + 64 + quote + strlen("…") + 1;
    char *text = malloc(len);
    if (!text)
        return NULL;
    if (fault->tag)
        snprintf(text, len, "%s at line %d, column %d: %.*s%s", why, fault->line, fault->column,
                 (int)quote, fault->tag, cut ? "…" : "");
    else
        snprintf(text, len, "%s", why);
    return text;
}

enum liquid_result tmpl_render(const char *text, const struct liquid_vars *vars, char **out,
                               char **reason) {
    *out = NULL;
    *reason = NULL;
    struct liquid_fault fault;
    struct liquid_tree *tree = NULL;
    /* checked at create time; a stored text that no longer parses renders as it is */
    if (liquid_parse(text ? text : "", LIQUID_ANY, &tree, &fault) != CD_OK) {
        if (fault.why && strcmp(fault.why, "out of memory") == 0)
            return LIQUID_NOMEM;
        *out = strdup(text ? text : "");
        return *out ? LIQUID_OK : LIQUID_NOMEM;
    }
    enum liquid_result r = liquid_render(tree, vars, out, reason);
    liquid_free(tree);
    return r;
}

struct liquid_tree *tmpl_parse_stored(const char *text) {
    struct liquid_fault fault;
    struct liquid_tree *tree = NULL;
    liquid_parse(text ? text : "", LIQUID_ANY, &tree, &fault);
    return tree;
}

void tmpl_header_safe(char *value) {
    for (char *p = value; p && *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
}
