/* mbx: the command-line tool for mailboxes. This file only dispatches to the
 * commands (cmd_*.c) and makes sure what they printed reached stdout. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int finish(int status)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "mbx: write error: %s\n", strerror(errno));
        return CLI_FAILED;
    }
    return status;
}

int main(int argc, char **argv)
{
    const struct cli_cmd *c;

    opterr = 0;
    if (argc < 2) {
        fputs("usage: mbx COMMAND [OPTION...] [ARG...]\nTry 'mbx help'.\n", stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return finish(cmd_help.run(&cmd_help, 1, &argv[1]));
    if (strcmp(argv[1], "--version") == 0) {
        puts("mbx " MBX_VERSION);
        return finish(CLI_OK);
    }
    c = cli_find(argv[1]);
    if (!c) {
        fprintf(stderr, "mbx: unknown command '%s'\nTry 'mbx help'.\n", argv[1]);
        return CLI_USAGE;
    }
    return finish(c->run(c, argc - 1, argv + 1));
}
