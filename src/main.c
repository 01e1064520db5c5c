/* main.c — cohortd's entry point: hands argv to the subcommand table (src/cli/). */
#include "cli/cli.h"

int main(int argc, char **argv) {
    return cli_main(argc, argv);
}
