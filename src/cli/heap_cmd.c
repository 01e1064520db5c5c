/*
 * heap_cmd.c — `cohortd heap-integration`: create, list, rotate the secret of, or delete a
 * Heap segment-sync integration of a workspace, on the store of a data directory (a running
 * server sees the change on its next webhook).
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/workspace/admin.h"
#include "core/cohorts/heap_integration.h"

static const struct cli_opt opts[] = {
    CLI_OPT_DATA,
    CLI_OPT_STORE,
    {"workspace", "ID", "COHORTD_WORKSPACE", NULL,
     "workspace id or name (default: the first workspace)"},
    {"mapping", "TYPE", NULL, "external_id",
     "create: how a Heap identity finds a user: external_id, alias or device_id"},
    {"alias-label", "LABEL", NULL, NULL, "create with --mapping alias: the alias label"},
    CLI_OPT_JSON,
    CLI_OPT_HELP,
    {0},
};

static void print_result(const struct cli_command *cmd, const char *const *values, json_t *out) {
    json_object_del(out, "message");
    if (cli_value(cmd, values, "json")) {
        cli_print_json(out);
        return;
    }
    char *text = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text)
        puts(text);
    free(text);
    json_decref(out);
}

static int run(const struct cli_command *cmd, const char *const *values, const char *const *pos,
               int n_pos) {
    const char *verb = pos[0];
    bool create = strcmp(verb, "create") == 0 && n_pos == 2;
    bool list = strcmp(verb, "list") == 0 && n_pos == 1;
    bool rotate = strcmp(verb, "rotate-secret") == 0 && n_pos == 2;
    bool del = strcmp(verb, "delete") == 0 && n_pos == 2;
    if (!create && !list && !rotate && !del)
        return cli_fail(cmd, "usage: cohortd heap-integration create NAME | list | "
                             "rotate-secret ID | delete ID") +
               1;
    struct store *s =
        cli_open_store(cli_value(cmd, values, "data"), cli_value(cmd, values, "store"));
    if (!s)
        return 1;
    struct admin_workspace ws;
    const char *ref = cli_value(cmd, values, "workspace");
    enum cd_err err = admin_workspace_find(s, ref, &ws);
    json_t *out = NULL;
    struct cd_msg msg = {{0}};
    if (err == CD_OK && create) {
        json_t *body = json_pack("{s:s, s:{s:s}}", "name", pos[1], "identity_mapping", "type",
                                 cli_value(cmd, values, "mapping"));
        const char *label = cli_value(cmd, values, "alias-label");
        if (label)
            json_object_set_new(json_object_get(body, "identity_mapping"), "alias_label",
                                json_string(label));
        err = heap_integration_create(s, ws.id, body, &out, &msg);
        json_decref(body);
    } else if (err == CD_OK && list) {
        err = heap_integration_list(s, ws.id, &out);
    } else if (err == CD_OK && rotate) {
        err = heap_integration_rotate(s, ws.id, pos[1], &out);
    } else if (err == CD_OK) {
        err = heap_integration_delete(s, ws.id, pos[1]);
        out = json_pack("{s:s}", "deleted", pos[1]);
    }
    store_close(s);
    if (err != CD_OK) {
        json_decref(out); /* delete builds its answer before it knows the outcome */
        out = NULL;
    }
    if (err == CD_E_INVALID)
        return cli_fail(cmd, "%s", msg.text) + 1;
    if (err == CD_E_NOT_FOUND)
        return cli_fail(cmd,
                        ref && !create && !list ? "no such integration in workspace '%s'"
                                                : "no such workspace or integration%s",
                        ref ? ref : "");
    if (err != CD_OK)
        return cli_fail(cmd, "cannot %s: %s", verb, cd_err_name(err));
    print_result(cmd, values, out);
    return 0;
}

const struct cli_command cli_heap_cmd = {
    .name = "heap-integration",
    .synopsis = "create NAME [--mapping TYPE] [--alias-label L] | list | rotate-secret ID | "
                "delete ID [--workspace ID] [--data DIR] [--json]",
    .summary = "manage Heap segment-sync webhook integrations",
    .opts = opts,
    .min_pos = 1,
    .max_pos = 2,
    .run = run,
};
