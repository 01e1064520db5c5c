/*
 * user_cmd.c — `cohortd user add|list|remove|passwd`: the dashboard's users, on the store of a
 * data directory whether or not a server runs (a running server reads the user on every
 * request of a session, so a removed user or a changed password ends its sessions at once).
 * A password is read from standard input (its first line); when standard input is a terminal
 * or empty, one is generated and printed once.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/workspace/dashboard_users.h"
#include "util/timeutil.h"

static const struct cli_opt user_opts[] = {
    CLI_OPT_DATA,
    CLI_OPT_STORE,
    {"role", "ROLE", NULL, "member", "add: admin (may manage users and workspaces) or member"},
    CLI_OPT_JSON,
    CLI_OPT_HELP,
    {0},
};

/* The password of standard input's first line, or a generated one (*generated set) when
 * standard input is a terminal or empty. -1 when none could be had. */
static int read_password(char out[DASH_PASSWORD_MAX + 2], bool *generated) {
    *generated = false;
    out[0] = '\0';
    if (!isatty(STDIN_FILENO) && fgets(out, DASH_PASSWORD_MAX + 2, stdin)) {
        size_t n = strcspn(out, "\r\n");
        out[n] = '\0';
    }
    if (out[0])
        return 0;
    *generated = true;
    return dash_password_generate(out);
}

struct list_out {
    json_t *users;
    bool json;
};

static void print_user(void *ctx, const struct dash_user *u) {
    struct list_out *l = ctx;
    char at[40];
    time_format_iso8601(u->created_at, at, sizeof at);
    if (l->json)
        json_array_append_new(l->users, json_pack("{s:s, s:s, s:s}", "email", u->email, "role",
                                                  dash_role_name(u->role), "created_at", at));
    else
        printf("%s\t%s\t%s\n", u->email, dash_role_name(u->role), at);
}

static int run_user(const struct cli_command *cmd, const char *const *values,
                    const char *const *pos, int n_pos) {
    const char *verb = pos[0];
    bool add = strcmp(verb, "add") == 0, list = strcmp(verb, "list") == 0,
         remove = strcmp(verb, "remove") == 0, passwd = strcmp(verb, "passwd") == 0;
    bool json = cli_value(cmd, values, "json") != NULL;
    if (!add && !list && !remove && !passwd)
        return cli_fail(cmd, "usage: cohortd user add|list|remove|passwd [EMAIL]") + 1;
    if (list != (n_pos == 1))
        return cli_fail(cmd, list ? "usage: cohortd user list" : "usage: cohortd user %s EMAIL",
                        verb) +
               1;
    enum dash_role role = DASH_ROLE_MEMBER;
    if (add && !dash_role_parse(cli_value(cmd, values, "role"), &role))
        return cli_fail(cmd, "--role must be admin or member") + 1;
    char password[DASH_PASSWORD_MAX + 2];
    bool generated = false;
    if ((add || passwd) && read_password(password, &generated) != 0)
        return cli_fail(cmd, "cannot generate a password: no random source");
    struct store *s =
        cli_open_store(cli_value(cmd, values, "data"), cli_value(cmd, values, "store"));
    if (!s)
        return 1;
    struct cd_msg msg = {{0}};
    struct dash_user u = {0};
    struct list_out l = {.users = json_array(), .json = json};
    enum cd_err err;
    if (add)
        err = dash_user_add(s, pos[1], role, password, &u, &msg);
    else if (passwd)
        err = dash_user_passwd(s, pos[1], password, &msg);
    else if (remove)
        err = dash_user_remove(s, pos[1]);
    else
        err = dash_user_list(s, print_user, &l);
    store_close(s);
    if (err == CD_E_INVALID) {
        json_decref(l.users);
        return cli_fail(cmd, "%s", msg.text);
    }
    if (err == CD_E_EXISTS) {
        json_decref(l.users);
        return cli_fail(cmd, "a user with email '%s' exists already", pos[1]);
    }
    if (err == CD_E_NOT_FOUND) {
        json_decref(l.users);
        return cli_fail(cmd, "no user with email '%s'", pos[1]);
    }
    if (err != CD_OK) {
        json_decref(l.users);
        return cli_fail(cmd, "cannot %s: %s", verb, cd_err_name(err));
    }
    if (list) {
        if (json)
            cli_print_json(json_pack("{s:o}", "users", l.users));
        else
            json_decref(l.users);
        return 0;
    }
    json_decref(l.users);
    if (json) {
        json_t *out = add ? json_pack("{s:s, s:s}", "email", u.email, "role", dash_role_name(role))
                          : json_pack("{s:s}", "message", remove ? "removed" : "password set");
        if (generated)
            json_object_set_new(out, "password", json_string(password));
        cli_print_json(out);
    } else {
        if (add)
            printf("user: %s (%s)\n", u.email, dash_role_name(role));
        else
            printf("%s\n", remove ? "removed" : "password set");
        if (generated)
            printf("password: %s\n", password);
    }
    return 0;
}

const struct cli_command cli_user_cmd = {
    .name = "user",
    .synopsis = "add EMAIL [--role admin|member] | list | remove EMAIL | passwd EMAIL "
                "[--data DIR] [--json]",
    .summary = "manage the dashboard's users (the password is read from stdin, or generated)",
    .opts = user_opts,
    .min_pos = 1,
    .max_pos = 2,
    .run = run_user,
};
