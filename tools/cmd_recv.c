#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "format.h"
#include "mbx.h"
#include "parse.h"
#include "recvbuf.h"

static const char usage[] =
    "usage: mbx recv NAME [OPTION...]\n"
    "Receive one message from mailbox NAME (or COUNT, or all until interrupted)\n"
    "and print each on its own line. On a stream mailbox, copy the bytes to\n"
    "standard output until the stream ends (escaped like messages when\n"
    "--escape is in effect, newlines kept as they are).\n"
    "\n"
    "  -n, --count COUNT     receive COUNT messages\n"
    "  -f, --follow          keep receiving until interrupted (SIGINT, SIGTERM)\n"
    "  -t, --timeout DURATION  how long to wait for each message (default: forever;\n"
    "                        0 takes only what is queued already)\n"
    "      --from PID        take only messages sent by process PID\n"
    "      --type SEL        take only messages of the types SEL selects: T (type\n"
    "                        T), <=T (the lowest type up to T first), !T (any\n"
    "                        type but T); the others stay queued\n"
    "  -j, --json            print one JSON object per message: seq, size,\n"
    "                        priority, type, sender, sender_uid, sender_host (the\n"
    "                        sender's host, for a message a gateway delivered from\n"
    "                        another), reply (whether the\n"
    "                        sender waits for an answer: mbx call), payload (base64, with\n"
    "                        \"encoding\":\"base64\", when not UTF-8)\n"
    "  -e, --escape          show control characters and bytes that are not UTF-8\n"
    "                        as \\t, \\n, \\r, \\xNN, invisible and bidirectional\n"
    "                        characters (U+202E...) as \\u{XXXX}, a backslash as two:\n"
    "                        the default when standard output is a terminal\n"
    "  -r, --raw             write the bytes as they are, even to a terminal\n"
    "  -S, --shared          use the mailbox even when another user owns its file\n"
    "  -h, --help            show this help\n"
    "\n"
    "Exit status 3 when a wait timed out before COUNT messages came, 0 when\n"
    "--follow is interrupted.\n";

enum { OPT_FROM = 256, OPT_TYPE };

static const struct option options[] = {
    {"count", required_argument, NULL, 'n'},
    {"follow", no_argument, NULL, 'f'},
    {"timeout", required_argument, NULL, 't'},
    {"from", required_argument, NULL, OPT_FROM},
    {"type", required_argument, NULL, OPT_TYPE},
    {"json", no_argument, NULL, 'j'},
    {"escape", no_argument, NULL, 'e'},
    {"raw", no_argument, NULL, 'r'},
    {"shared", no_argument, NULL, 'S'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct receiver {
    mbx *m;
    const char *name;
    struct recvbuf_filter filter;
    int64_t timeout;
    int json, stream, follow;
    int escape; /* -1: when standard output is a terminal */
    uint64_t count;
    struct recvbuf rb;
    struct format_stream held; /* a stream's cut UTF-8 character (escape) */
};

static ssize_t recv_one(struct receiver *r, mbx_msginfo *info)
{
    ssize_t n;

    memset(info, 0, sizeof(*info));
    n = recvbuf_recv(&r->rb, r->m, &r->filter, info, MBX_NONBLOCK);
    if (n != -EAGAIN || r->timeout == MBX_NONBLOCK)
        return n;
    /* Output stays buffered while messages keep coming; before sleeping, let
     * the reader downstream see everything received so far. */
    fflush(stdout);
    return recvbuf_recv(&r->rb, r->m, &r->filter, info, r->timeout);
}

static int receive(struct receiver *r)
{
    mbx_msginfo info;
    uint64_t got;
    ssize_t n;

    for (got = 0; r->follow || got < r->count; got++) {
        n = cli_interrupted ? -EINTR : recv_one(r, &info);
        if (n == -EINTR && r->follow)
            return CLI_OK;
        /* Nothing queued under --timeout 0: exit status 3 says it all
         * (`mbx recv q -t 0 || ...`). */
        if (n == -EAGAIN)
            return CLI_TIMEOUT;
        if (n < 0)
            return cli_error("recv", r->name, (int)n);
        if (n == 0 && r->stream)
            return CLI_OK;
        if (r->json)
            format_msg_json(stdout, r->rb.data, (size_t)n, &info, r->filter.type_out);
        else if (r->stream && r->escape)
            format_stream_escaped(stdout, &r->held, r->rb.data, (size_t)n);
        else if (r->stream)
            fwrite(r->rb.data, 1, (size_t)n, stdout);
        else
            format_msg_text(stdout, r->rb.data, (size_t)n, r->escape);
        if (ferror(stdout))
            return CLI_FAILED;
    }
    return CLI_OK;
}

static int run(const struct cli_cmd *self, int argc, char **argv)
{
    const char *cmd = self->name;
    struct receiver r = {.timeout = MBX_FOREVER, .count = 1, .escape = -1};
    int c, err, status, count_given = 0, shared = 0;
    mbx_stat st;
    uint64_t v;

    optind = 0;
    while ((c = getopt_long(argc, argv, ":n:ft:jerSh", options, NULL)) != -1) {
        switch (c) {
        case 'n':
            err = parse_uint(optarg, 1, UINT64_MAX, &r.count);
            if (err)
                return cli_bad_value(cmd, "--count", optarg, err);
            count_given = 1;
            break;
        case 'f':
            r.follow = 1;
            break;
        case 't':
            err = parse_duration(optarg, &r.timeout);
            if (err)
                return cli_bad_value(cmd, "--timeout", optarg, err);
            break;
        case OPT_FROM:
            err = parse_uint(optarg, 1, INT32_MAX, &v);
            if (err)
                return cli_bad_value(cmd, "--from", optarg, err);
            r.filter.from = (pid_t)v;
            break;
        case OPT_TYPE:
            err = parse_type_select(optarg, &r.filter.how, &r.filter.type);
            if (err)
                return cli_bad_value(cmd, "--type", optarg, err);
            break;
        case 'j':
            r.json = 1;
            break;
        case 'e':
            r.escape = 1;
            break;
        case 'r':
            r.escape = 0;
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
    if (r.follow && count_given)
        return cli_usage(cmd, "use only one of --count and --follow");
    if (r.filter.from && r.filter.how != MBX_SEL_ANY)
        return cli_usage(cmd, "use only one of --from and --type");
    if (argc - optind != 1)
        return cli_usage(cmd, "expected one mailbox NAME");
    r.name = argv[optind];
    if (r.escape < 0)
        r.escape = isatty(STDOUT_FILENO);
    cli_catch_signals();
    if ((status = cli_open(cmd, r.name, MBX_RECV | shared, NULL, &r.m)))
        return status;
    err = mbx_stat_get(r.m, &st);
    if (!err) {
        r.stream = (st.flags & MBX_STREAM) != 0;
        r.follow |= r.stream && !count_given;
        err = recvbuf_init(&r.rb, st.max_msg_size < 65536 && !r.stream ? st.max_msg_size : 65536);
    }
    status = err ? cli_error(cmd, r.name, err) : receive(&r);
    /* A stream that ended (or was interrupted) inside a character. */
    format_stream_end(stdout, &r.held);
    recvbuf_free(&r.rb);
    mbx_close(r.m);
    return status;
}

const struct cli_cmd cmd_recv = {"recv", "receive and print messages", usage, run};
