/*
 * routes_cmd.c — `cohortd routes`, a hidden subcommand that prints the HTTP route table the
 * server registers (api_routes of src/api/routes.c), one "METHOD PATTERN" line per route in
 * table order. Tests compare it with docs/openapi.yaml, so the document is checked against the
 * binary rather than against the C source. Touches no data directory and no store.
 */
#include "api/api.h"
#include "cli/cli.h"

#include <stdio.h>

static const struct cli_opt opts[] = {CLI_OPT_HELP, {0}};

static int run(const struct cli_command *cmd, const char *const *values, const char *const *pos,
               int n_pos) {
    (void)cmd;
    (void)values;
    (void)pos;
    (void)n_pos;
    for (size_t i = 0; i < api_n_routes; i++)
        printf("%s %s\n", api_routes[i].method, api_routes[i].pattern);
    return fflush(stdout) == 0 ? 0 : 1;
}

const struct cli_command cli_routes_cmd = {
    .name = "routes",
    .synopsis = "",
    .summary = "print every HTTP route the server registers, one 'METHOD PATTERN' per line",
    .opts = opts,
    .run = run,
    .hidden = true,
};
