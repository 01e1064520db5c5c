/*
 * liquid.h — Braze's Liquid: a template is parsed once into a tree (liquid_parse; a syntax
 * error names its line, column and tag), and the tree is rendered for each user
 * (liquid_render) against that user's values (struct liquid_vars). docs/templates.md lists the
 * tags, filters and variables, and where cohortd differs from Braze.
 *
 * Rendering is bounded: at most LIQUID_MAX_STEPS evaluation steps (a filter's result also costs
 * a step per 256 bytes or 16 elements it holds, so copying is bounded too), LIQUID_MAX_ITERATIONS
 * turns of one `for`, LIQUID_MAX_OUTPUT bytes of text (output or any value built on the way) and
 * LIQUID_MAX_ITEMS elements in an array a filter makes; going
 * past a bound fails that render with a reason, it never cuts the text. Parsing is bounded by
 * LIQUID_MAX_DEPTH nested blocks. A tree is read-only once parsed: threads may render it at once.
 */
#ifndef COHORTD_CORE_MESSAGING_LIQUID_LIQUID_H
#define COHORTD_CORE_MESSAGING_LIQUID_LIQUID_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define LIQUID_MAX_STEPS 200000    /* evaluation steps of one render */
#define LIQUID_MAX_ITERATIONS 1000 /* turns of one for loop (a longer collection is refused) */
#define LIQUID_MAX_OUTPUT 262144   /* bytes of the rendered text, or of any value made */
#define LIQUID_MAX_DEPTH 64        /* blocks nested in blocks, filters args in ranges… */
#define LIQUID_MAX_ITEMS 10000     /* elements of any array a filter makes */

/* Which namespaces a template may use: api_trigger_properties exist in campaigns,
 * canvas_entry_properties and context in Canvases. */
enum liquid_scope { LIQUID_CAMPAIGN, LIQUID_CANVAS, LIQUID_ANY };

/* Why a text is refused: the first bad tag of it. */
struct liquid_fault {
    const char *why; /* static text: "unknown tag", "expected }}", … */
    char detail[96]; /* a name the message quotes ("unknown filter 'x'"), "" when none */
    const char *tag; /* the tag's "{{" or "{%" inside the parsed text */
    size_t tag_len;  /* bytes of the tag, through its "}}" / "%}" (or to the end of the text) */
    int line;        /* of the tag's first byte, from 1 */
    int column;      /* in bytes, from 1 */
};

struct liquid_tree;

/* CD_OK and a new tree in *out (free with liquid_free), or CD_E_INVALID with *fault naming the
 * first bad tag (pointing into text), or CD_E_NOMEM. text must outlive nothing: the tree copies
 * what it keeps. */
enum cd_err liquid_parse(const char *text, enum liquid_scope scope, struct liquid_tree **out,
                         struct liquid_fault *fault);
void liquid_free(struct liquid_tree *tree);

/* One user's values. Every pointer may be NULL (renders as nil). Borrowed for the render. */
struct liquid_vars {
    const char *user_id;       /* external id: ${user_id} (and cohortd's ${external_id}) */
    const char *braze_id;      /* ${braze_id} */
    const json_t *attrs;       /* the profile's attributes: standard ones and custom ones */
    const json_t *props;       /* api_trigger_properties / canvas_entry_properties / context */
    const json_t *event_props; /* event_properties: the triggering event's, when there is one */
    const json_t *campaign;    /* {"api_id", "name", "dispatch_id"} for campaign.${…} */
    const json_t *canvas;      /* {"api_id", "name"} for canvas.${…} */
    int64_t now_ms;            /* what "now" means to the date filter; 0: the clock */
    bool url_encode;           /* percent-encode each {{ }}'s value (a URL being rendered) */
};

enum liquid_result {
    LIQUID_OK,
    LIQUID_ABORTED, /* {% abort_message %}: *reason is its text (first 1 KiB; "" when none) */
    LIQUID_FAILED,  /* a bound was passed: *reason says which */
    LIQUID_NOMEM,
};

/* Renders tree for vars. LIQUID_OK: *out is the text (malloc'd). Otherwise *out is NULL and
 * *reason (malloc'd, may be NULL on LIQUID_NOMEM) says why. */
enum liquid_result liquid_render(const struct liquid_tree *tree, const struct liquid_vars *vars,
                                 char **out, char **reason);

#endif
