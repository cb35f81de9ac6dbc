#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "format.h"
#include "mbx.h"

static const char usage[] =
    "usage: mbx stat NAME [OPTION...]\n"
    "Describe mailbox NAME: its kind, limits, permissions, owner and counts.\n"
    "\n"
    "  -j, --json            print one JSON object: name, type, capacity,\n"
    "                        capacity_mode, max_msg_size, policy, mode, uid, gid,\n"
    "                        owned, owner_pid, count, bytes, senders_waiting,\n"
    "                        receivers_waiting, sent_total, received_total\n"
    "  -h, --help            show this help\n";

static const struct option options[] = {
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int run(const struct cli_cmd *self, int argc, char **argv)
{
    int c, err, json = 0;
    mbx_stat st;

    optind = 0;
    while ((c = getopt_long(argc, argv, ":jh", options, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'h':
            return cli_help(self);
        default:
            return cli_bad_option(self->name, c, argv);
        }
    }
    if (argc - optind != 1)
        return cli_usage(self->name, "expected one mailbox NAME");
    err = mbx_stat_name(argv[optind], &st);
    if (err)
        return cli_error(self->name, argv[optind], err);
    if (json) {
        format_stat_json(stdout, argv[optind], &st);
        putchar('\n');
    } else {
        format_stat_text(stdout, argv[optind], &st);
    }
    return CLI_OK;
}

const struct cli_cmd cmd_stat = {"stat", "describe a mailbox", usage, run};
