/*
 * template.h — personalisation of webhook urls, headers and bodies: the Liquid subset Braze
 * documents for the webhook channel. A tag is one of
 *
 *   {{${external_id}}}   {{${braze_id}}}   {{custom_attribute.${NAME}}}
 *   {{api_trigger_properties.${NAME}}}                    (campaigns)
 *   {{canvas_entry_properties.${NAME}}}  {{context.${NAME}}}   (Canvases)
 *
 * optionally followed by the filters `| default: 'TEXT'` (or "TEXT") and `| json_escape`.
 * Values are inserted as text, without escaping, as Liquid does: strings as they are, numbers
 * and booleans as JSON, arrays and objects as compact JSON; a missing or null value gives the
 * default (or nothing). `json_escape` escapes the value for the inside of a JSON string (quotes,
 * backslashes, control characters), as Braze's filter of that name does. In a URL (url_encode
 * set) inserted values are percent-encoded, so an id with a space or '&' stays one path segment
 * or query value.
 */
#ifndef COHORTD_CORE_MESSAGING_TEMPLATE_H
#define COHORTD_CORE_MESSAGING_TEMPLATE_H

#include <jansson.h>
#include <stdbool.h>

#include "util/err.h"

enum tmpl_scope { TMPL_CAMPAIGN, TMPL_CANVAS };

/* Why a text is refused: the first bad tag of it. */
struct tmpl_fault {
    const char *why; /* static text: "unknown tag", "expected }}", … */
    const char *tag; /* the tag's "{{" inside the checked text, or NULL (a Liquid block) */
    size_t tag_len;  /* bytes of the tag, through its "}}" (or to the end of the text) */
};

/* CD_OK when every tag of text is valid in scope; otherwise CD_E_INVALID and *fault names the
 * first bad tag (pointing into text) and why. */
enum cd_err tmpl_check(const char *text, enum tmpl_scope scope, struct tmpl_fault *fault);

/* A refused tag is quoted back at most this many bytes (cut on a UTF-8 character boundary and
 * followed by "…"), so a message about a 60 KB tag stays short; the tag is never cut silently. */
#define TMPL_QUOTE_MAX 200

/* "<why>: <tag, quoted as above>" (malloc'd), or NULL when out of memory. */
char *tmpl_fault_text(const struct tmpl_fault *fault);

struct tmpl_vars {
    const char *external_id; /* NULL: empty */
    const char *braze_id;
    const json_t *attrs; /* custom attributes object, or NULL */
    const json_t *props; /* trigger or entry properties object, or NULL */
    bool url_encode;     /* percent-encode inserted values (not the template's own text) */
};

/* The rendered text (malloc'd), or NULL when out of memory. text must pass tmpl_check. */
char *tmpl_render(const char *text, const struct tmpl_vars *vars);

#endif
