/*
 * render_cmd.c — `cohortd render-template`, a hidden subcommand for tests and fuzzing: reads
 * one case, or an array of cases, as JSON on stdin and prints for each what the webhook
 * sender would make of the template, as one JSON line (an array for an array). A case is
 *
 *   {"template": "…", "scope": "campaign"|"canvas", "url": false,
 *    "user": {"external_id": "…", "braze_id": "…", "attributes": {…}},
 *    "properties": {…}, "event_properties": {…}, "campaign": {…}, "canvas": {…},
 *    "now": 1714637700}
 *
 * and the answer {"result": "ok", "output": "…"}, {"result": "aborted" | "failed",
 * "reason": "…"} or {"result": "invalid", "message": "<the 400 message>"}. Touches no data
 * directory and no store. Exit 0 when stdin was read, 1 when it was not JSON.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/messaging/template.h"

static const struct cli_opt opts[] = {CLI_OPT_HELP, {0}};

static json_t *render_case(const json_t *c) {
    const char *text = json_string_value(json_object_get(c, "template"));
    const char *scope = json_string_value(json_object_get(c, "scope"));
    const json_t *user = json_object_get(c, "user");
    struct tmpl_fault fault;
    enum cd_err err =
        tmpl_check(text ? text : "",
                   scope && strcmp(scope, "canvas") == 0 ? TMPL_CANVAS : TMPL_CAMPAIGN, &fault);
    if (err != CD_OK) {
        char *msg = tmpl_fault_text(&fault);
        json_t *r = json_pack("{s:s, s:s}", "result", "invalid", "message", msg ? msg : "");
        free(msg);
        return r;
    }
    struct liquid_vars v = {
        .user_id = json_string_value(json_object_get(user, "external_id")),
        .braze_id = json_string_value(json_object_get(user, "braze_id")),
        .attrs = json_object_get(user, "attributes"),
        .props = json_object_get(c, "properties"),
        .event_props = json_object_get(c, "event_properties"),
        .campaign = json_object_get(c, "campaign"),
        .canvas = json_object_get(c, "canvas"),
        .now_ms = json_integer_value(json_object_get(c, "now")) * 1000,
        .url_encode = json_is_true(json_object_get(c, "url")),
    };
    char *out = NULL, *reason = NULL;
    enum liquid_result r = tmpl_render(text ? text : "", &v, &out, &reason);
    json_t *answer =
        r == LIQUID_OK ? json_pack("{s:s, s:s%}", "result", "ok", "output", out, strlen(out))
        : r == LIQUID_NOMEM
            ? json_pack("{s:s}", "result", "out_of_memory")
            : json_pack("{s:s, s:s}", "result", r == LIQUID_ABORTED ? "aborted" : "failed",
                        "reason", reason ? reason : "");
    free(out);
    free(reason);
    return answer;
}

static int run(const struct cli_command *cmd, const char *const *values, const char *const *pos,
               int n_pos) {
    (void)values;
    (void)pos;
    (void)n_pos;
    json_error_t jerr;
    json_t *in = json_loadf(stdin, 0, &jerr);
    if (!in)
        return cli_fail(cmd, "stdin: %s (line %d)", jerr.text, jerr.line);
    json_t *out;
    if (json_is_array(in)) {
        out = json_array();
        size_t i;
        json_t *c;
        json_array_foreach(in, i, c) {
            json_array_append_new(out, render_case(c));
        }
    } else {
        out = render_case(in);
    }
    json_decref(in);
    char *text = out ? json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(out);
    if (!text)
        return cli_fail(cmd, "out of memory");
    puts(text);
    free(text);
    return fflush(stdout) == 0 ? 0 : 1;
}

const struct cli_command cli_render_cmd = {
    .name = "render-template",
    .synopsis = "< CASE.json",
    .summary = "render a Liquid template for the user a JSON case on stdin describes",
    .opts = opts,
    .run = run,
    .hidden = true,
};
