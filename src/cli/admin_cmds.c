/*
 * admin_cmds.c — the operator subcommands over a data directory's store: `workspace`,
 * `api-key`, `partner` and `import-key`. They work whether or not a server runs on the
 * directory; a running server reads keys from the store on each request and sees changes at
 * once.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "core/workspace/admin.h"
#include "core/workspace/api_keys.h"

#define ADMIN_OPTS CLI_OPT_DATA, CLI_OPT_STORE, CLI_OPT_WORKSPACE, CLI_OPT_JSON, CLI_OPT_HELP

static struct store *open_store(const struct cli_command *cmd, const char *const *values) {
    return cli_open_store(cli_value(cmd, values, "data"), cli_value(cmd, values, "store"));
}

static int find_ws(const struct cli_command *cmd, struct store *s, const char *const *values,
                   struct admin_workspace *ws) {
    const char *ref = cli_value(cmd, values, "workspace");
    enum cd_err err = admin_workspace_find(s, ref, ws);
    if (err == CD_E_NOT_FOUND)
        return cli_fail(cmd, ref ? "no workspace '%s'" : "no workspace yet%s; run cohortd init",
                        ref ? ref : "");
    if (err != CD_OK)
        return cli_fail(cmd, "cannot read workspaces: %s", cd_err_name(err));
    return 0;
}

/* Prints {"key": value} as JSON or "label: value" as text. */
static void print_one(const char *const *values, const struct cli_command *cmd, const char *key,
                      const char *value) {
    if (cli_value(cmd, values, "json"))
        cli_print_json(json_pack("{s:s}", key, value));
    else
        printf("%s: %s\n", key, value);
}

/* ---- workspace create NAME | list ---- */

static const struct cli_opt ws_opts[] = {
    CLI_OPT_DATA, CLI_OPT_STORE, CLI_OPT_JSON, CLI_OPT_HELP, {0}};

/* Collects workspace rows: a JSON array for --json, else lines "PUBLIC_ID NAME" printed. */
struct ws_list {
    json_t *json; /* NULL for text */
};

static void on_ws_row(void *ctx, const struct workspace_row *row) {
    struct ws_list *l = ctx;
    if (l->json)
        json_array_append_new(l->json, json_pack("{s:s, s:s}", "workspace_id",
                                                 row->public_id ? row->public_id : "", "name",
                                                 row->name ? row->name : ""));
    else
        printf("%s %s\n", row->public_id ? row->public_id : "", row->name ? row->name : "");
}

static int list_workspaces(const struct cli_command *cmd, const char *const *values) {
    struct store *s = open_store(cmd, values);
    if (!s)
        return 1;
    struct ws_list l = {.json = cli_value(cmd, values, "json") ? json_array() : NULL};
    enum cd_err err = STORE_OPS(s)->admin->workspace_list(s, on_ws_row, &l);
    store_close(s);
    if (err != CD_OK) {
        json_decref(l.json);
        return cli_fail(cmd, "cannot read workspaces: %s", cd_err_name(err));
    }
    if (l.json)
        cli_print_json(json_pack("{s:o}", "workspaces", l.json));
    return 0;
}

static int run_workspace(const struct cli_command *cmd, const char *const *values,
                         const char *const *pos, int n_pos) {
    if (strcmp(pos[0], "list") == 0 && n_pos == 1)
        return list_workspaces(cmd, values);
    if (strcmp(pos[0], "create") != 0 || n_pos != 2)
        return cli_fail(cmd, "usage: cohortd workspace create NAME | list") + 1;
    struct store *s = open_store(cmd, values);
    if (!s)
        return 1;
    struct admin_workspace ws;
    char key[ADMIN_KEY_LEN];
    enum cd_err err = admin_workspace_create(s, pos[1], &ws, key);
    store_close(s);
    if (err == CD_E_EXISTS)
        return cli_fail(cmd, "a workspace named '%s' exists already", pos[1]);
    if (err != CD_OK)
        return cli_fail(cmd, "cannot create workspace '%s': %s", pos[1], cd_err_name(err));
    if (cli_value(cmd, values, "json"))
        cli_print_json(json_pack("{s:s, s:s}", "workspace_id", ws.public_id, "rest_api_key", key));
    else
        printf("workspace_id: %s\nrest_api_key: %s\n", ws.public_id, key);
    return 0;
}

const struct cli_command cli_workspace_cmd = {
    .name = "workspace",
    .synopsis = "create NAME | list [--data DIR] [--json]",
    .summary = "create a workspace and its first REST API key, or list the workspaces",
    .opts = ws_opts,
    .min_pos = 1,
    .max_pos = 2,
    .run = run_workspace,
};

/* ---- api-key create [--name N] [--permissions LIST] [--rate-limit N/PERIOD] | list |
 *      revoke [KEY | -] [--key-file FILE] ---- */

static const struct cli_opt key_opts[] = {
    CLI_OPT_DATA,
    CLI_OPT_STORE,
    CLI_OPT_WORKSPACE,
    {"key-file", "FILE", NULL, NULL,
     "revoke: read the key from the first line of FILE (a KEY of '-' or none: standard input)"},
    {"name", "NAME", NULL, NULL, "create: a name for the key, shown by list"},
    {"permissions", "LIST", NULL, NULL,
     "create: what the key may call, comma-separated permission names (users.track), groups "
     "(users.*) or * (the default: everything)"},
    {"rate-limit", "N/PERIOD", NULL, NULL,
     "create: at most N requests per second, minute, hour or day (default: no limit)"},
    CLI_OPT_JSON,
    CLI_OPT_HELP,
    {0},
};

/* Checks the --permissions list against the route table; 0, or prints why and returns 1. */
static int check_grants(const struct cli_command *cmd, const char *grants) {
    if (!*grants)
        return cli_fail(cmd, "--permissions must name at least one permission");
    char copy[API_KEY_GRANTS_CAP];
    if (strlen(grants) >= sizeof copy)
        return cli_fail(cmd, "--permissions is too long");
    snprintf(copy, sizeof copy, "%s", grants);
    char *save = NULL;
    for (char *g = strtok_r(copy, ",", &save); g; g = strtok_r(NULL, ",", &save))
        if (!api_permission_known(g))
            return cli_fail(cmd, "unknown permission '%s' (see README, REST API keys)", g);
    if (strstr(grants, ",,") || grants[0] == ',' || grants[strlen(grants) - 1] == ',')
        return cli_fail(cmd, "--permissions has an empty name");
    return 0;
}

static int create_key(const struct cli_command *cmd, const char *const *values, struct store *s) {
    struct api_key_spec spec = {
        .name = cli_value(cmd, values, "name"),
        .grants = cli_value(cmd, values, "permissions"),
    };
    const char *rate = cli_value(cmd, values, "rate-limit");
    if (spec.grants && check_grants(cmd, spec.grants))
        return 1;
    if (rate && api_key_rate_parse(rate, &spec.rate_limit, &spec.rate_period_s) != 0)
        return cli_fail(cmd,
                        "--rate-limit must be N/second, N/minute, N/hour or N/day with N from 1 "
                        "to %d",
                        API_KEY_RATE_MAX);
    struct admin_workspace ws;
    int rc = find_ws(cmd, s, values, &ws);
    if (rc)
        return rc;
    char key[ADMIN_KEY_LEN], id[API_KEY_ID_LEN + 1];
    enum cd_err err = api_key_create(s, ws.id, &spec, key, id);
    if (err == CD_E_INVALID)
        return cli_fail(cmd, "--name must be at most %d bytes without control characters",
                        API_KEY_NAME_CAP - 1);
    if (err != CD_OK)
        return cli_fail(cmd, "cannot create a key: %s", cd_err_name(err));
    if (cli_value(cmd, values, "json"))
        cli_print_json(json_pack("{s:s, s:s}", "rest_api_key", key, "id", id));
    else
        printf("rest_api_key: %s\nid: %s\n", key, id);
    explicit_bzero(key, sizeof key);
    return 0;
}

static int append_grant(void *ctx, const char *grant, size_t len) {
    return json_array_append_new(ctx, json_stringn(grant, len));
}

/* Collects keys: a JSON array for --json (the shape of GET /api_keys/list), else lines
 * "ID PERMISSIONS RATE NAME" printed. */
static void on_key_row(void *ctx, const struct api_key_info *k) {
    json_t *list = ctx;
    char rate[API_KEY_RATE_TEXT_CAP];
    api_key_rate_format(k->rate_limit, k->rate_period_s, rate);
    if (list) {
        json_t *grants = json_array();
        api_key_grants_each(k->grants, append_grant, grants);
        json_array_append_new(list, json_pack("{s:s, s:s, s:o, s:s?}", "id", k->id, "name", k->name,
                                              "permissions", grants, "rate_limit",
                                              rate[0] ? rate : NULL));
    } else {
        printf("%s %s %s %s\n", k->id, k->grants, rate[0] ? rate : "-", k->name);
    }
}

static int list_keys(const struct cli_command *cmd, const char *const *values, struct store *s) {
    struct admin_workspace ws;
    int rc = find_ws(cmd, s, values, &ws);
    if (rc)
        return rc;
    json_t *list = cli_value(cmd, values, "json") ? json_array() : NULL;
    enum cd_err err = api_key_list(s, ws.id, on_key_row, list);
    if (err != CD_OK) {
        json_decref(list);
        return cli_fail(cmd, "cannot read keys: %s", cd_err_name(err));
    }
    if (list)
        cli_print_json(json_pack("{s:o}", "api_keys", list));
    return 0;
}

/* A key to revoke: the first line of f, blanks around it removed, into key (len bytes).
 * Returns 0, or -1 when f holds no key or a line too long to be one. */
static int read_key(FILE *f, char *key, size_t len) {
    if (!fgets(key, (int)len, f))
        return -1;
    size_t n = strlen(key);
    if (n == len - 1 && key[n - 1] != '\n' && !feof(f))
        return -1;
    while (n > 0 && strchr(" \t\r\n", key[n - 1]))
        key[--n] = '\0';
    size_t lead = strspn(key, " \t");
    memmove(key, key + lead, n - lead + 1);
    return key[0] ? 0 : -1;
}

/* Where `api-key revoke` takes the key from: the argument, --key-file FILE, or standard input
 * (argument '-' or none), so that it need not appear on a command line (`ps` shows those).
 * Fills key; returns 0, or prints why and returns the exit code. */
static int revoke_key_text(const struct cli_command *cmd, const char *const *values,
                           const char *arg, char *key, size_t len) {
    const char *file = cli_value(cmd, values, "key-file");
    bool from_stdin = !file && (!arg || strcmp(arg, "-") == 0);
    if (file && arg)
        return cli_fail(cmd, "give the key as an argument or with --key-file, not both") + 1;
    if (arg && !from_stdin) {
        snprintf(key, len, "%s", arg);
        return 0;
    }
    FILE *f = from_stdin ? stdin : fopen(file, "re");
    if (!f)
        return cli_fail(cmd, "cannot read %s: %s", file, strerror(errno));
    if (from_stdin && isatty(STDIN_FILENO))
        fprintf(stderr, "REST API key to revoke: ");
    int rc = read_key(f, key, len);
    if (!from_stdin)
        fclose(f);
    if (rc != 0)
        return cli_fail(cmd, "no key in %s", from_stdin ? "standard input" : file);
    return 0;
}

static int run_api_key(const struct cli_command *cmd, const char *const *values,
                       const char *const *pos, int n_pos) {
    bool create = strcmp(pos[0], "create") == 0 && n_pos == 1;
    bool list = strcmp(pos[0], "list") == 0 && n_pos == 1;
    bool revoke = strcmp(pos[0], "revoke") == 0;
    if (!create && !revoke && !list)
        return cli_fail(cmd, "usage: cohortd api-key create [--name NAME] [--permissions LIST] "
                             "[--rate-limit N/PERIOD] | list | revoke [KEY | -] "
                             "[--key-file FILE]") +
               1;
    if (list || create) {
        struct store *s = open_store(cmd, values);
        if (!s)
            return 1;
        int rc = list ? list_keys(cmd, values, s) : create_key(cmd, values, s);
        store_close(s);
        return rc;
    }
    char revoke_key[256] = {0};
    if (revoke) {
        int rc =
            revoke_key_text(cmd, values, n_pos == 2 ? pos[1] : NULL, revoke_key, sizeof revoke_key);
        if (rc)
            return rc;
    }
    struct store *s = open_store(cmd, values);
    if (!s) {
        explicit_bzero(revoke_key, sizeof revoke_key);
        return 1;
    }
    int rc = 0;
    enum cd_err err = admin_api_key_revoke(s, revoke_key);
    if (err == CD_E_NOT_FOUND)
        rc = cli_fail(cmd, "no active REST API key matches");
    else if (err != CD_OK)
        rc = cli_fail(cmd, "cannot revoke: %s", cd_err_name(err));
    else if (cli_value(cmd, values, "json"))
        cli_print_json(json_pack("{s:b}", "revoked", 1));
    else
        printf("revoked\n");
    store_close(s);
    explicit_bzero(revoke_key, sizeof revoke_key);
    return rc;
}

const struct cli_command cli_api_key_cmd = {
    .name = "api-key",
    .synopsis = "create [--name NAME] [--permissions LIST] [--rate-limit N/PERIOD] | list | "
                "revoke [KEY | -] [--key-file FILE] [--workspace ID|NAME] [--data DIR] [--json]",
    .summary = "create, list or revoke the REST API keys of a workspace (revoke reads the key "
               "from standard input or --key-file when no KEY is given)",
    .opts = key_opts,
    .min_pos = 1,
    .max_pos = 2,
    .run = run_api_key,
};

/* ---- partner add NAME [--key-check required|off] | list | set NAME --key-check … ---- */

static const struct cli_opt partner_opts[] = {
    CLI_OPT_DATA,
    CLI_OPT_STORE,
    {"key-check", "MODE", NULL, NULL,
     "how partner_api_key is checked: required (must match one of the partner's keys; the "
     "default of add) or off (hosted partners: the data import key alone identifies the "
     "workspace)"},
    CLI_OPT_JSON,
    CLI_OPT_HELP,
    {0},
};

#define PARTNER_USAGE                                                                              \
    "usage: cohortd partner add NAME [--key-check required|off] | list | "                         \
    "set NAME --key-check required|off"

/* Collects partner rows: a JSON array for --json, else lines "NAME key_check=MODE" printed. */
static void on_partner_row(void *ctx, const char *name, enum key_check check) {
    json_t *arr = ctx;
    if (arr)
        json_array_append_new(
            arr, json_pack("{s:s, s:s}", "name", name, "key_check", admin_key_check_name(check)));
    else
        printf("%s key_check=%s\n", name, admin_key_check_name(check));
}

static int list_partners(const struct cli_command *cmd, const char *const *values) {
    struct store *s = open_store(cmd, values);
    if (!s)
        return 1;
    json_t *arr = cli_value(cmd, values, "json") ? json_array() : NULL;
    enum cd_err err = admin_partner_list(s, on_partner_row, arr);
    store_close(s);
    if (err != CD_OK) {
        json_decref(arr);
        return cli_fail(cmd, "cannot read partners: %s", cd_err_name(err));
    }
    if (arr)
        cli_print_json(json_pack("{s:o}", "partners", arr));
    return 0;
}

static int set_partner(const struct cli_command *cmd, const char *const *values, const char *name,
                       enum key_check check) {
    struct store *s = open_store(cmd, values);
    if (!s)
        return 1;
    enum cd_err err = admin_partner_set_check(s, name, check);
    store_close(s);
    if (err == CD_E_NOT_FOUND)
        return cli_fail(cmd, "no partner '%s' (add it with: cohortd partner add %s)", name, name);
    if (err != CD_OK)
        return cli_fail(cmd, "cannot change partner '%s': %s", name, cd_err_name(err));
    if (cli_value(cmd, values, "json"))
        cli_print_json(
            json_pack("{s:s, s:s}", "partner", name, "key_check", admin_key_check_name(check)));
    else
        printf("partner: %s\nkey_check: %s\n", name, admin_key_check_name(check));
    return 0;
}

static int add_partner(const struct cli_command *cmd, const char *const *values, const char *name,
                       enum key_check check) {
    if (!admin_partner_name_valid(name))
        return cli_fail(cmd, "partner names are 1 to 32 of a-z, 0-9, '_' and '-'") + 1;
    struct store *s = open_store(cmd, values);
    if (!s)
        return 1;
    char key[ADMIN_KEY_LEN];
    enum cd_err err = admin_partner_add(s, name, check, key);
    store_close(s);
    if (err == CD_E_EXISTS)
        return cli_fail(cmd,
                        "partner '%s' exists already (change its key check with: cohortd partner "
                        "set %s --key-check required|off)",
                        name, name);
    if (err != CD_OK)
        return cli_fail(cmd, "cannot add partner '%s': %s", name, cd_err_name(err));
    if (cli_value(cmd, values, "json"))
        cli_print_json(json_pack("{s:s, s:s, s:s}", "partner", name, "partner_api_key", key,
                                 "key_check", admin_key_check_name(check)));
    else
        printf("partner: %s\npartner_api_key: %s\nkey_check: %s\n", name, key,
               admin_key_check_name(check));
    return 0;
}

static int run_partner(const struct cli_command *cmd, const char *const *values,
                       const char *const *pos, int n_pos) {
    const char *check_text = cli_value(cmd, values, "key-check");
    bool list = strcmp(pos[0], "list") == 0 && n_pos == 1;
    bool add = strcmp(pos[0], "add") == 0 && n_pos == 2;
    bool set = strcmp(pos[0], "set") == 0 && n_pos == 2;
    if (!list && !add && !set)
        return cli_fail(cmd, PARTNER_USAGE) + 1;
    if (list) {
        if (check_text)
            return cli_fail(cmd, "partner list takes no --key-check") + 1;
        return list_partners(cmd, values);
    }
    enum key_check check = KEY_CHECK_REQUIRED;
    if (set && !check_text)
        return cli_fail(cmd, "partner set needs --key-check required|off") + 1;
    if (check_text && !admin_key_check_parse(check_text, &check))
        return cli_fail(cmd, "--key-check must be 'required' or 'off', not '%s'", check_text) + 1;
    return add ? add_partner(cmd, values, pos[1], check) : set_partner(cmd, values, pos[1], check);
}

const struct cli_command cli_partner_cmd = {
    .name = "partner",
    .synopsis = "add NAME [--key-check required|off] | list | set NAME --key-check required|off "
                "[--data DIR] [--json]",
    .summary = "add an integration partner with a partner API key, list the partners, or set "
               "how a partner's key is checked",
    .opts = partner_opts,
    .min_pos = 1,
    .max_pos = 2,
    .run = run_partner,
};

/* ---- import-key show | rotate | invalidate --partner NAME ---- */

static const struct cli_opt import_opts[] = {
    ADMIN_OPTS,
    {"partner", "NAME", NULL, NULL, "the partner (required)"},
    {0},
};

static int run_import_key(const struct cli_command *cmd, const char *const *values,
                          const char *const *pos, int n_pos) {
    (void)n_pos;
    const char *verb = pos[0];
    const char *partner = cli_value(cmd, values, "partner");
    bool show = strcmp(verb, "show") == 0, rotate = strcmp(verb, "rotate") == 0,
         invalidate = strcmp(verb, "invalidate") == 0;
    if (!show && !rotate && !invalidate)
        return cli_fail(cmd, "usage: cohortd import-key show|rotate|invalidate --partner NAME") + 1;
    if (!partner)
        return cli_fail(cmd, "--partner NAME is required") + 1;
    struct store *s = open_store(cmd, values);
    if (!s)
        return 1;
    struct admin_workspace ws;
    char key[ADMIN_KEY_LEN];
    int rc = find_ws(cmd, s, values, &ws);
    enum cd_err err = CD_OK;
    if (!rc && show)
        err = admin_import_key_show(s, ws.id, partner, key);
    else if (!rc && rotate)
        err = admin_import_key_rotate(s, ws.id, partner, key);
    else if (!rc)
        err = admin_import_key_invalidate(s, ws.id, partner);
    store_close(s);
    if (rc)
        return rc;
    if (err == CD_E_NOT_FOUND && invalidate)
        return cli_fail(cmd, "workspace '%s' has no active data import key for '%s'", ws.name,
                        partner);
    if (err == CD_E_NOT_FOUND)
        return cli_fail(cmd, "no partner '%s' (add it with: cohortd partner add %s)", partner,
                        partner);
    if (err != CD_OK)
        return cli_fail(cmd, "cannot %s the data import key: %s", verb, cd_err_name(err));
    if (invalidate) {
        if (cli_value(cmd, values, "json"))
            cli_print_json(json_pack("{s:n}", "data_import_key"));
        else
            printf("data_import_key: invalidated\n");
    } else {
        print_one(values, cmd, "data_import_key", key);
    }
    return 0;
}

const struct cli_command cli_import_key_cmd = {
    .name = "import-key",
    .synopsis = "show|rotate|invalidate --partner NAME [--workspace ID|NAME] [--data DIR] [--json]",
    .summary = "show, rotate or invalidate a workspace's data import key (client_secret)",
    .opts = import_opts,
    .min_pos = 1,
    .max_pos = 1,
    .run = run_import_key,
};
