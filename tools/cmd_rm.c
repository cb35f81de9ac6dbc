#include <getopt.h>

#include "cli.h"
#include "mbx.h"

static const char usage[] =
    "usage: mbx rm NAME...\n"
    "Remove each mailbox NAME. Queued messages are discarded, and processes\n"
    "still using it get an error. Goes on past a name that fails.\n"
    "\n"
    "  -h, --help            show this help\n";

static const struct option options[] = {
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int run(const struct cli_cmd *self, int argc, char **argv)
{
    int c, err, status = CLI_OK;

    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (c == 'h')
            return cli_help(self);
        return cli_bad_option(self->name, c, argv);
    }
    if (optind == argc)
        return cli_usage(self->name, "expected a mailbox NAME");
    for (int i = optind; i < argc; i++) {
        err = mbx_unlink(argv[i]);
        if (err)
            status = cli_error(self->name, argv[i], err);
    }
    return status;
}

const struct cli_cmd cmd_rm = {"rm", "remove mailboxes", usage, run};
