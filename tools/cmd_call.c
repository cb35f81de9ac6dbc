#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "format.h"
#include "mbx.h"
#include "parse.h"

static const char usage[] =
    "usage: mbx call NAME MESSAGE [OPTION...]\n"
    "Send MESSAGE to mailbox NAME as a request, wait for the reply of the\n"
    "process that receives it (see mbx serve-echo) and print the reply.\n"
    "\n"
    "  -p, --priority P      0 .. 32767 (default 0)\n"
    "  -t, --timeout DURATION  how long to wait in all (default: forever)\n"
    "  -e, --escape          show control characters and bytes that are not\n"
    "                        UTF-8 as \\t, \\n, \\r, \\xNN, invisible and bidirectional\n"
    "                        characters as \\u{XXXX} (the default on a terminal)\n"
    "  -r, --raw             write the reply's bytes as they are\n"
    "  -S, --shared          use the mailbox even when another user owns its file\n"
    "  -h, --help            show this help\n"
    "\n"
    "Exit status 3 when no reply came in time.\n";

static const struct option options[] = {
    {"priority", required_argument, NULL, 'p'},
    {"timeout", required_argument, NULL, 't'},
    {"escape", no_argument, NULL, 'e'},
    {"raw", no_argument, NULL, 'r'},
    {"shared", no_argument, NULL, 'S'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* A reply cannot be received again once it did not fit, so make room for the
 * largest message the mailbox takes, within reason. */
static size_t reply_room(mbx *m)
{
    mbx_stat st;

    if (mbx_stat_get(m, &st) != 0 || st.max_msg_size < 65536)
        return 65536;
    return st.max_msg_size < (64u << 20) ? (size_t)st.max_msg_size : 64u << 20;
}

static int call(const char *name, const char *req, unsigned prio, int64_t timeout, int flags,
                int escape)
{
    size_t cap;
    char *reply;
    ssize_t n;
    mbx *m;
    int status = cli_open("call", name, MBX_SEND | flags, NULL, &m);

    if (status)
        return status;
    cap = reply_room(m);
    reply = malloc(cap);
    n = reply ? mbx_call(m, req, strlen(req), prio, reply, cap, timeout) : -ENOMEM;
    if (n >= 0)
        format_msg_text(stdout, reply, (size_t)n, escape);
    free(reply);
    mbx_close(m);
    return n < 0 ? cli_error("call", name, (int)n) : CLI_OK;
}

static int run(const struct cli_cmd *self, int argc, char **argv)
{
    const char *cmd = self->name;
    int64_t timeout = MBX_FOREVER;
    unsigned prio = 0;
    int c, err, shared = 0, escape = -1;

    optind = 0;
    while ((c = getopt_long(argc, argv, ":p:t:erSh", options, NULL)) != -1) {
        switch (c) {
        case 'p':
            err = parse_priority(optarg, &prio);
            if (err)
                return cli_bad_value(cmd, "--priority", optarg, err);
            break;
        case 't':
            err = parse_duration(optarg, &timeout);
            if (err)
                return cli_bad_value(cmd, "--timeout", optarg, err);
            break;
        case 'e':
            escape = 1;
            break;
        case 'r':
            escape = 0;
            break;
        case 'S':
            shared = MBX_SHARED;
            break;
        case 'h':
            return cli_help(self);
        default:
            return cli_bad_option(cmd, c, argv);
        }
    }
    if (argc - optind != 2)
        return cli_usage(cmd, "expected a mailbox NAME and one MESSAGE");
    return call(argv[optind], argv[optind + 1], prio, timeout, shared,
                escape >= 0 ? escape : isatty(STDOUT_FILENO));
}

const struct cli_cmd cmd_call = {"call", "send a request and print the reply", usage, run};
