/*
 * template.h — personalisation of webhook urls, headers and bodies with Braze's Liquid
 * (core/messaging/liquid/liquid.h; docs/templates.md lists what works): checking a text when a
 * campaign or Canvas is created, and rendering it for one user when it is sent.
 *
 * Values are inserted as Liquid prints them. In a URL (vars->url_encode) each {{ }}'s value is
 * percent-encoded, so an id with a space or '&' stays one path segment or query value — unless
 * the tag's last filter is url_encode, url_escape or url_param_escape, whose output is already
 * encoded and is not encoded twice. Header values have any CR or LF of the rendered text
 * replaced by a space (tmpl_header_safe), so no value starts another header.
 */
#ifndef COHORTD_CORE_MESSAGING_TEMPLATE_H
#define COHORTD_CORE_MESSAGING_TEMPLATE_H

#include <jansson.h>
#include <stdbool.h>

#include "core/messaging/liquid/liquid.h"
#include "util/err.h"

enum tmpl_scope { TMPL_CAMPAIGN, TMPL_CANVAS };

/* Why a text is refused: the first bad tag of it. */
struct tmpl_fault {
    const char *why;  /* static text: "unknown tag", "expected }}", … */
    char detail[96];  /* the message when it names something ("unknown filter 'x'"), or "" */
    const char *tag;  /* the tag's "{{" / "{%" inside the checked text, or NULL */
    size_t tag_len;   /* bytes of the tag, through its "}}" (or to the end of the text) */
    int line, column; /* where the tag starts, from 1 */
};

/* CD_OK when text parses as Liquid valid in scope; otherwise CD_E_INVALID (or CD_E_NOMEM) and
 * *fault names the first bad tag (pointing into text) and why. */
enum cd_err tmpl_check(const char *text, enum tmpl_scope scope, struct tmpl_fault *fault);

/* A refused tag is quoted back at most this many bytes (cut on a UTF-8 character boundary and
 * followed by "…"), so a message about a 60 KB tag stays short; the tag is never cut silently. */
#define TMPL_QUOTE_MAX 200

/* "<why> at line L, column C: <tag, quoted as above>" (malloc'd), or NULL when out of memory. */
char *tmpl_fault_text(const struct tmpl_fault *fault);

/* The rendered text of a text that passed tmpl_check, for vars (see liquid.h). LIQUID_OK: *out
 * is the text (malloc'd). LIQUID_ABORTED ({% abort_message %}) and LIQUID_FAILED (a bound
 * passed): *reason (malloc'd) says why and *out is NULL. LIQUID_NOMEM: both NULL. */
enum liquid_result tmpl_render(const char *text, const struct liquid_vars *vars, char **out,
                               char **reason);

/* The tree of a stored text (parsed in any scope: it was checked in its own at create time), to
 * render with liquid_render for each user; free with liquid_free. NULL when out of memory or
 * when the text no longer parses — tmpl_render then copies it as it is. */
struct liquid_tree *tmpl_parse_stored(const char *text);

/* Replaces each CR and LF of a rendered header value with a space: a value must not start
 * another header. */
void tmpl_header_safe(char *value);

#endif
