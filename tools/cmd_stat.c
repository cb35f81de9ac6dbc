#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "format_metrics.h"
#include "mailbox_list.h"
#include "mbx.h"

static const char usage[] =
    "usage: mbx stat NAME [OPTION...]\n"
    "       mbx stat --prometheus [NAME...]\n"
    "Describe mailbox NAME: its kind, limits, permissions, owner and counts.\n"
    "\n"
    "  -j, --json            print one JSON object: name, type, capacity,\n"
    "                        capacity_mode, max_msg_size, policy, mode, uid, gid,\n"
    "                        owned, owner_pid, count, bytes, senders_waiting,\n"
    "                        receivers_waiting, sent_total, received_total, and\n"
    "                        for a local mailbox udp_dropped_full, udp_dropped_bad\n"
    "  -p, --prometheus      print the counts of the NAMEs (default: every mailbox\n"
    "                        in $MBX_DIR) in the Prometheus text format, for\n"
    "                        node_exporter's textfile collector\n"
    "  -h, --help            show this help\n";

static const struct option options[] = {
    {"json", no_argument, NULL, 'j'},
    {"prometheus", no_argument, NULL, 'p'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The named mailboxes, or all of them, in the Prometheus text format. */
static int prometheus(const char *cmd, int n, char **names)
{
    struct mailbox_list l = {0};
    int err = 0, status = CLI_OK;

    if (n == 0) {
        err = mailbox_list_read(&l);
        if (err)
            return cli_error(cmd, mailbox_dir(), err);
    } else {
        l.v = calloc((size_t)n, sizeof(*l.v));
        if (!l.v)
            return cli_error(cmd, NULL, -ENOMEM);
        for (int i = 0; i < n; i++) {
            l.v[i].name = strdup(names[i]);
            if (!l.v[i].name) {
                mailbox_list_free(&l);
                return cli_error(cmd, NULL, -ENOMEM);
            }
            l.len++;
            l.v[i].err = mbx_stat_name(names[i], &l.v[i].st);
            if (l.v[i].err)
                status = cli_error(cmd, names[i], l.v[i].err);
        }
    }
    format_metrics(stdout, l.v, l.len);
    mailbox_list_free(&l);
    return status;
}

static int run(const struct cli_cmd *self, int argc, char **argv)
{
    int c, err, json = 0, prom = 0;
    mbx_stat st;

    optind = 0;
    while ((c = getopt_long(argc, argv, ":jph", options, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'p':
            prom = 1;
            break;
        case 'h':
            return cli_help(self);
        default:
            return cli_bad_option(self->name, c, argv);
        }
    }
    if (prom && json)
        return cli_usage(self->name, "use only one of --json and --prometheus");
    if (prom)
        return prometheus(self->name, argc - optind, argv + optind);
    if (argc - optind != 1)
        return cli_usage(self->name, "expected one mailbox NAME");
    err = mbx_stat_name(argv[optind], &st);
    if (err)
        return cli_error(self->name, argv[optind], err);
    /* What a udp:// gateway dropped for it: local mailboxes only. */
    mbx_stat_ext ext = {.size = sizeof(ext)};
    int have_ext = mbx_stat_ext_name(argv[optind], &ext) == 0;
    if (json) {
        format_stat_json_ext(stdout, argv[optind], &st, have_ext ? &ext : NULL);
        putchar('\n');
    } else {
        format_stat_text(stdout, argv[optind], &st);
        if (have_ext)
            format_stat_ext_text(stdout, &ext);
    }
    return CLI_OK;
}

const struct cli_cmd cmd_stat = {"stat", "describe a mailbox", usage, run};
