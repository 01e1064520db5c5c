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

/* CD_OK when every tag of text is valid in scope; otherwise CD_E_INVALID and msg names the
 * first bad tag and why. */
enum cd_err tmpl_check(const char *text, enum tmpl_scope scope, struct cd_msg *msg);

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
