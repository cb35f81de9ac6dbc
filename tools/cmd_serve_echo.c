#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "mbx.h"
#include "parse.h"
#include "recvbuf.h"

static const char usage[] =
    "usage: mbx serve-echo NAME [OPTION...]\n"
    "Answer every request sent to mailbox NAME with `mbx call` (or mbx_call)\n"
    "with a copy of it, until interrupted. Plain messages are taken and dropped.\n"
    "A reply that finds the caller's own mailbox full is sent again for about\n"
    "a second, then dropped (reported on standard error).\n"
    "\n"
    "  -n, --count COUNT     stop after answering COUNT requests\n"
    "  -t, --timeout DURATION  stop when no message came for DURATION (exit 3)\n"
    "  -S, --shared          use the mailbox even when another user owns its file\n"
    "  -h, --help            show this help\n";

static const struct option options[] = {
    {"count", required_argument, NULL, 'n'},
    {"timeout", required_argument, NULL, 't'},
    {"shared", no_argument, NULL, 'S'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int serve(mbx *m, const char *name, uint64_t count, int64_t timeout)
{
    struct recvbuf rb;
    mbx_msginfo info;
    uint64_t answered = 0;
    ssize_t n;
    int err = recvbuf_init(&rb, 65536);

    while (!err && answered < count && !cli_interrupted) {
        n = recvbuf_recv(&rb, m, NULL, &info, timeout);
        if (n < 0) {
            err = (int)n;
            break;
        }
        if (!info.reply_token)
            continue;
        /* A caller that gave up or died, whose mailbox stayed full, or
         * that takes less than its request (-EMSGSIZE: its own mailbox
         * may be smaller than NAME's) is no reason to stop serving. */
        err = serve_reply("serve-echo", name, &info, rb.data, (size_t)n);
        answered += !err;
    }
    recvbuf_free(&rb);
    if (err == -EINTR)
        return CLI_OK;
    return err ? cli_error("serve-echo", name, err) : CLI_OK;
}

static int run(const struct cli_cmd *self, int argc, char **argv)
{
    const char *cmd = self->name;
    int64_t timeout = MBX_FOREVER;
    uint64_t count = UINT64_MAX;
    int c, err, status, shared = 0;
    mbx *m;

    optind = 0;
    while ((c = getopt_long(argc, argv, ":n:t:Sh", options, NULL)) != -1) {
        switch (c) {
        case 'n':
            err = parse_uint(optarg, 1, UINT64_MAX, &count);
            if (err)
                return cli_bad_value(cmd, "--count", optarg, err);
            break;
        case 't':
            err = parse_duration(optarg, &timeout);
            if (err)
                return cli_bad_value(cmd, "--timeout", optarg, err);
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
    if (argc - optind != 1)
        return cli_usage(cmd, "expected one mailbox NAME");
    cli_catch_signals();
    if ((status = cli_open(cmd, argv[optind], MBX_RECV | shared, NULL, &m)))
        return status;
    status = serve(m, argv[optind], count, timeout);
    mbx_close(m);
    return status;
}

const struct cli_cmd cmd_serve_echo = {"serve-echo", "answer calls with a copy of the request",
                                       usage, run};
