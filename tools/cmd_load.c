/* mbx load NAME: sends the JSON lines of `mbx dump` (or `mbx recv --json`)
 * read from standard input, with their priorities and types. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "mbx.h"
#include "msgline.h"
#include "parse.h"

static const char usage[] =
    "usage: mbx load NAME [OPTION...] < LINES\n"
    "Send to mailbox NAME one message per line of standard input, each a JSON\n"
    "object as `mbx dump` prints (\"priority\" and \"type\" optional,\n"
    "\"payload\" a string, base64 with \"encoding\":\"base64\"); the lines of\n"
    "`mbx recv --json` do too. Empty lines are skipped. A line that is not\n"
    "such an object stops the load: the lines before it were sent, and the\n"
    "error says which line and what is wrong.\n"
    "\n"
    "  -t, --timeout DURATION  how long to wait for room (default: forever)\n"
    "  -S, --shared          use the mailbox even when another user owns its file\n"
    "  -h, --help            show this help\n";

static const struct option options[] = {
    {"timeout", required_argument, NULL, 't'},
    {"shared", no_argument, NULL, 'S'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int run(const struct cli_cmd *self, int argc, char **argv)
{
    const char *cmd = self->name;
    int64_t timeout = MBX_FOREVER;
    int c, err, shared = 0, status = CLI_OK;
    mbx *m;

    optind = 0;
    while ((c = getopt_long(argc, argv, ":t:Sh", options, NULL)) != -1) {
        switch (c) {
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
    const char *name = argv[optind];
    if ((status = cli_open(cmd, name, MBX_SEND | shared, NULL, &m)))
        return status;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t lineno = 0, sent = 0;
    while (status == CLI_OK && (n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if (n > 0 && line[n - 1] == '\n')
            n--;
        if (n == 0)
            continue;
        struct msgline msg;
        const char *why;
        err = msgline_parse(line, (size_t)n, &msg, &why);
        if (err) {
            fprintf(stderr, "mbx: load: %s: line %llu: %s (%llu messages sent before it)\n", name,
                    (unsigned long long)lineno, why, (unsigned long long)sent);
            status = CLI_FAILED;
            break;
        }
        err = mbx_send_typed(m, msg.payload, msg.len, msg.prio, msg.type, timeout);
        msgline_free(&msg);
        if (err) {
            fprintf(stderr, "mbx: load: %s: line %llu: %s (%llu messages sent before it)\n", name,
                    (unsigned long long)lineno, mbx_strerror(err), (unsigned long long)sent);
            status = cli_status(err);
            break;
        }
        sent++;
    }
    if (status == CLI_OK && ferror(stdin)) {
        fprintf(stderr, "mbx: load: standard input: read error\n");
        status = CLI_FAILED;
    }
    free(line);
    mbx_close(m);
    return status;
}

const struct cli_cmd cmd_load = {"load", "send JSON lines of messages (from dump)", usage, run};
