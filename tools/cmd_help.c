#include <getopt.h>
#include <stdio.h>

#include "cli.h"

static const char usage[] = "usage: mbx help [COMMAND]\n"
                            "Show the commands, or what COMMAND does and takes.\n";

static const char footer[] =
    "\n"
    "Mailboxes live in $MBX_DIR (default /dev/shm). SIZE takes a K, M or G\n"
    "suffix (64K = 65536); DURATION a unit of ns, us, ms, s or m (a bare number\n"
    "is seconds) or 'forever'.\n"
    "Exit status: 0 success, 1 operation failed, 2 usage error,\n"
    "3 timed out or nothing to receive.\n"
    "'mbx help COMMAND' or 'mbx COMMAND --help' describes one command.\n";

static int list(void)
{
    puts("usage: mbx COMMAND [OPTION...] [ARG...]\n\nCommands:");
    for (const struct cli_cmd *const *c = cli_commands; *c; c++)
        printf("  %-12s %s\n", (*c)->name, (*c)->summary);
    fputs(footer, stdout);
    return CLI_OK;
}

static const struct option options[] = {
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int run(const struct cli_cmd *self, int argc, char **argv)
{
    const struct cli_cmd *c;
    int opt;

    optind = 0;
    while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (opt == 'h')
            return cli_help(self);
        return cli_bad_option(self->name, opt, argv);
    }
    if (argc - optind > 1)
        return cli_usage(self->name, "expected at most one COMMAND");
    if (argc - optind == 0)
        return list();
    c = cli_find(argv[optind]);
    if (!c)
        return cli_usage(self->name, "unknown command '%s'", argv[optind]);
    return cli_help(c);
}

const struct cli_cmd cmd_help = {"help", "describe the commands", usage, run};
