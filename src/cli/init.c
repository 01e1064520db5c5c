/* init.c — `cohortd init`: a new data directory (or, with --store postgresql://…, a new
 * PostgreSQL store: its schema) with a first workspace, its REST API key, the partner `heap`
 * with a partner API key, and the workspace's Heap data import key.
 * Heap is a hosted partner: it sends its own Braze partner key, which a self-hosted server
 * cannot know, so `heap` starts with the key check off (the data import key the customer hands
 * Heap identifies the workspace). Its partner key is still made, for an operator who turns the
 * check on (`cohortd partner set heap --key-check required`) for a client of their own. */
#include "cli/cli.h"

#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/workspace/admin.h"

static const struct cli_opt opts[] = {
    CLI_OPT_DATA,
    CLI_OPT_STORE,
    {"listen", "HOST:PORT", "COHORTD_LISTEN", "127.0.0.1:8080",
     "where `serve` will listen (printed as the REST endpoint)"},
    CLI_OPT_JSON,
    CLI_OPT_HELP,
    {0},
};

static int run(const struct cli_command *cmd, const char *const *values, const char *const *pos,
               int n_pos) {
    (void)pos;
    (void)n_pos;
    const char *data = cli_value(cmd, values, "data");
    const char *listen = cli_value(cmd, values, "listen");
    const char *store_url = cli_value(cmd, values, "store");
    char path[4096];
    snprintf(path, sizeof path, "%s/cohortd.db", data);
    if (!store_url && access(path, F_OK) == 0)
        return cli_fail(cmd, "%s is already initialised (%s exists); nothing changed", data, path);
    if (mkdir(data, 0700) != 0 && errno != EEXIST)
        return cli_fail(cmd, "cannot create %s: %s", data, strerror(errno));
    struct store *s = cli_open_store(data, store_url);
    if (!s)
        return 1;
    struct admin_workspace first;
    if (store_url && admin_workspace_find(s, NULL, &first) == CD_OK) {
        store_close(s);
        return cli_fail(cmd,
                        "the store is already initialised (it has workspace %s); nothing "
                        "changed",
                        first.public_id);
    }
    struct admin_workspace ws;
    char rest_key[ADMIN_KEY_LEN], partner_key[ADMIN_KEY_LEN], import_key[ADMIN_KEY_LEN];
    enum cd_err err = admin_workspace_create(s, "default", &ws, rest_key);
    if (err == CD_OK)
        err = admin_partner_add(s, "heap", KEY_CHECK_OFF, partner_key);
    if (err == CD_OK)
        err = admin_import_key_show(s, ws.id, "heap", import_key);
    store_close(s);
    if (err != CD_OK)
        return cli_fail(cmd, "cannot initialise %s: %s", data, cd_err_name(err));
    char endpoint[300];
    snprintf(endpoint, sizeof endpoint, "http://%s", listen);
    if (cli_value(cmd, values, "json")) {
        cli_print_json(json_pack("{s:s, s:s, s:s, s:{s:{s:s, s:s, s:s}}}", "workspace_id",
                                 ws.public_id, "rest_api_key", rest_key, "rest_endpoint", endpoint,
                                 "partners", "heap", "key_check", "off", "partner_api_key",
                                 partner_key, "data_import_key", import_key));
    } else {
        printf("initialised %s\n"
               "workspace_id:           %s (default)\n"
               "REST API key:           %s\n"
               "REST endpoint:          %s\n"
               "heap data import key:   %s (give Heap this and the REST endpoint)\n"
               "heap partner API key:   %s (not checked: heap's key check is off; see cohortd "
               "partner set)\n"
               "Keep the keys: the REST and partner keys are stored hashed and not shown again.\n",
               data, ws.public_id, rest_key, endpoint, import_key, partner_key);
    }
    return 0;
}

const struct cli_command cli_init_cmd = {
    .name = "init",
    .synopsis = "[--data DIR] [--store URL] [--json]",
    .summary = "create a data directory: workspace 'default', its REST API key, partner 'heap'",
    .opts = opts,
    .run = run,
};
