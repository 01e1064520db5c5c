/*
 * heap_cmd.c — `cohortd heap-integration`: create, list, rotate the secret of, or delete a
 * Heap segment-sync integration of a workspace, on the store of a data directory (a running
 * server sees the change on its next webhook).
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cohorts/heap_integration.h"
#include "core/workspace/admin.h"
#include "util/timeutil.h"

static const struct cli_opt opts[] = {
    CLI_OPT_DATA,
    CLI_OPT_STORE,
    CLI_OPT_WORKSPACE,
    {"mapping", "TYPE", NULL, "external_id",
     "create: how a Heap identity finds a user: external_id, alias or device_id"},
    {"alias-label", "LABEL", NULL, NULL, "create with --mapping alias: the alias label"},
    CLI_OPT_JSON,
    CLI_OPT_HELP,
    {0},
};

static void print_result(const struct cli_command *cmd, const char *const *values, json_t *out) {
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

static json_t *webhook_path(const char *integration_id) {
    char path[HEAP_WEBHOOK_PATH_LEN];
    heap_webhook_path(integration_id, path);
    return json_string(path);
}

static void list_row(void *ctx, const struct heap_integration_info *r) {
    json_t *mapping = json_pack("{s:s}", "type", heap_mapping_name(r->mapping));
    if (r->mapping == HEAP_MAP_ALIAS)
        json_object_set_new(mapping, "alias_label",
                            json_string(r->alias_label ? r->alias_label : ""));
    char created[32];
    time_format_iso8601(r->created_at, created, sizeof created);
    json_array_append_new(
        ctx, json_pack("{s:s, s:s, s:o, s:o, s:s, s:I, s:I}", "integration_id", r->integration_id,
                       "name", r->name, "identity_mapping", mapping, "webhook_path",
                       webhook_path(r->integration_id), "created_at", created, "pages_received",
                       (json_int_t)r->n_pages, "ignored_requests", (json_int_t)r->n_ignored));
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
    struct heap_integration_spec spec = {pos[1], HEAP_MAP_EXTERNAL_ID,
                                         cli_value(cmd, values, "alias-label")};
    if (create && !heap_mapping_from_name(cli_value(cmd, values, "mapping"), &spec.mapping))
        return cli_fail(cmd, "--mapping must be 'external_id', 'alias' or 'device_id'") + 1;
    struct store *s =
        cli_open_store(cli_value(cmd, values, "data"), cli_value(cmd, values, "store"));
    if (!s)
        return 1;
    struct admin_workspace ws;
    const char *ref = cli_value(cmd, values, "workspace");
    enum cd_err err = admin_workspace_find(s, ref, &ws);
    json_t *out = NULL;
    struct cd_msg msg = {{0}};
    struct heap_integration_secret made;
    if (err == CD_OK && create) {
        err = heap_integration_create_in(s, ws.id, &spec, &made, &msg);
        if (err == CD_OK)
            out =
                json_pack("{s:s, s:o, s:s}", "integration_id", made.integration_id, "webhook_path",
                          webhook_path(made.integration_id), "webhook_secret", made.secret);
    } else if (err == CD_OK && list) {
        json_t *arr = json_array();
        err = heap_integration_list_in(s, ws.id, list_row, arr);
        out = json_pack("{s:o}", "integrations", arr);
    } else if (err == CD_OK && rotate) {
        err = heap_integration_rotate_in(s, ws.id, pos[1], &made);
        if (err == CD_OK)
            out = json_pack("{s:s, s:s}", "integration_id", made.integration_id, "webhook_secret",
                            made.secret);
    } else if (err == CD_OK) {
        err = heap_integration_delete_in(s, ws.id, pos[1]);
        out = json_pack("{s:s}", "deleted", pos[1]);
    }
    store_close(s);
    if (err != CD_OK)
        json_decref(out);
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
