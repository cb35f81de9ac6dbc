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
    "usage: mbx send NAME [OPTION...] [MESSAGE...]\n"
    "Send each MESSAGE to mailbox NAME. Without MESSAGE, send each line of\n"
    "standard input (without its newline) as one message. On a stream mailbox,\n"
    "standard input is copied as it is.\n"
    "\n"
    "  -p, --priority P      0 .. 32767, higher is received first (default 0)\n"
    "  -T, --type T          the messages' type, 0 .. 2^64-1 (default 0), for\n"
    "                        receivers that select (mbx recv --type)\n"
    "  -t, --timeout DURATION  how long to wait for room (default: forever)\n"
    "  -c, --confirm         wait until a receiver took each message and print\n"
    "                        who: \"taken by pid P uid U [on HOST]\"; one nobody\n"
    "                        took within --timeout is taken back (exit status 3)\n"
    "  -r, --raw             the whole of standard input is one message\n"
    "  -0, --null            standard input holds NUL-terminated messages\n"
    "  -S, --shared          use the mailbox even when another user owns its file\n"
    "  -h, --help            show this help\n"
    "\n"
    "DURATION is a number with a unit of ns, us, ms, s or m (a bare number is\n"
    "seconds), or 'forever'. Sending stops at the first message that fails.\n"
    "Exit status 3 when the mailbox stayed full for the whole timeout.\n";

static const struct option options[] = {
    {"priority", required_argument, NULL, 'p'},
    {"timeout", required_argument, NULL, 't'},
    {"type", required_argument, NULL, 'T'},
    {"raw", no_argument, NULL, 'r'},
    {"null", no_argument, NULL, '0'},
    {"shared", no_argument, NULL, 'S'},
    {"confirm", no_argument, NULL, 'c'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct sender {
    mbx *m;
    const char *name;
    unsigned prio;
    uint64_t type;
    int64_t timeout;
    int confirm; /* --confirm */
};

/* A message too large for the mailbox: says both sizes. */
static int too_large(const struct sender *s, size_t len)
{
    mbx_stat st;

    if (mbx_stat_get(s->m, &st) != 0)
        return cli_error("send", s->name, -EMSGSIZE);
    fprintf(stderr, "mbx: send: %s: message too large: %zu bytes, the mailbox takes at most %llu\n",
            s->name, len, (unsigned long long)st.max_msg_size);
    return CLI_FAILED;
}

/* Sends and waits for the receipt, which goes to standard output. */
static int send_confirmed(const struct sender *s, const void *buf, size_t len)
{
    mbx_receipt who;
    int err = mbx_send_confirmed(s->m, buf, len, s->prio, s->timeout, &who);
    if (err)
        return err;
    printf("taken by pid %d uid %u", (int)who.taker_pid, (unsigned)who.taker_uid);
    /* Over nats:// the host comes from the taker's reply header: whoever
     * answers may put escape sequences there. */
    if (who.taker_host[0]) {
        fputs(" on ", stdout);
        format_escaped(stdout, who.taker_host, strnlen(who.taker_host, sizeof(who.taker_host)));
    }
    putchar('\n');
    fflush(stdout);
    return 0;
}

static int send_one(const struct sender *s, const void *buf, size_t len)
{
    int err = s->confirm ? send_confirmed(s, buf, len)
                         : mbx_send_typed(s->m, buf, len, s->prio, s->type, s->timeout);

    if (err == -EMSGSIZE)
        return too_large(s, len);
    return err ? cli_error("send", s->name, err) : CLI_OK;
}

static int stdin_error(void)
{
    fprintf(stderr, "mbx: send: standard input: %s\n", strerror(errno));
    return CLI_FAILED;
}

/* Each piece of standard input ending in delim (or at end of input) is one
 * message. */
static int send_pieces(const struct sender *s, int delim)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int status = CLI_OK;

    while (status == CLI_OK && (n = getdelim(&line, &cap, delim, stdin)) >= 0) {
        if (n > 0 && line[n - 1] == delim)
            n--;
        status = send_one(s, line, (size_t)n);
    }
    if (status == CLI_OK && ferror(stdin))
        status = stdin_error();
    free(line);
    return status;
}

/* All of standard input is one message; reading stops as soon as it is
 * longer than the mailbox takes. */
static int send_whole(const struct sender *s, uint64_t max)
{
    char *buf = NULL, *bigger;
    size_t len = 0, cap = 0;
    ssize_t n;
    int status;

    do {
        if (len == cap) {
            cap = cap ? 2 * cap : 65536;
            bigger = realloc(buf, cap);
            if (!bigger) {
                free(buf);
                return cli_error("send", s->name, -ENOMEM);
            }
            buf = bigger;
        }
        n = read(STDIN_FILENO, buf + len, cap - len);
        if (n > 0)
            len += (size_t)n;
    } while ((n > 0 || (n < 0 && errno == EINTR)) && len <= max);
    if (n < 0)
        status = stdin_error();
    else if (len > max)
        status = too_large(s, len);
    else
        status = send_one(s, buf, len);
    free(buf);
    return status;
}

/* Copies standard input into a stream mailbox. */
static int send_stream(const struct sender *s)
{
    static char buf[65536];
    ssize_t n;
    int status = CLI_OK;

    while (status == CLI_OK && (n = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno != EINTR)
            return stdin_error();
        if (n > 0)
            status = send_one(s, buf, (size_t)n);
    }
    return status;
}

static int send_all(const struct sender *s, int argc, char **argv, int input)
{
    mbx_stat st;
    int err, status = CLI_OK;

    err = mbx_stat_get(s->m, &st);
    if (err == -ENOTSUP) {
        /* A transport that cannot say (udp://): messages, and the library
         * refuses what is too large for it. */
        memset(&st, 0, sizeof(st));
        st.max_msg_size = 1ull << 30;
        err = 0;
    }
    if (err)
        return cli_error("send", s->name, err);
    if (s->type && (st.flags & MBX_STREAM)) {
        fprintf(stderr, "mbx: send: %s: a stream carries bytes, not typed messages (--type)\n",
                s->name);
        return CLI_FAILED;
    }
    if (argc > 0) {
        for (int i = 0; i < argc && status == CLI_OK; i++)
            status = send_one(s, argv[i], strlen(argv[i]));
        return status;
    }
    if (st.flags & MBX_STREAM)
        return send_stream(s);
    if (input == 'r')
        return send_whole(s, st.max_msg_size);
    return send_pieces(s, input == '0' ? '\0' : '\n');
}

static int run(const struct cli_cmd *self, int argc, char **argv)
{
    const char *cmd = self->name;
    struct sender s = {.prio = 0, .timeout = MBX_FOREVER};
    int c, err, status, input = 0, shared = 0;

    optind = 0;
    while ((c = getopt_long(argc, argv, ":p:t:T:r0Sch", options, NULL)) != -1) {
        switch (c) {
        case 'p':
            err = parse_priority(optarg, &s.prio);
            if (err)
                return cli_bad_value(cmd, "--priority", optarg, err);
            break;
        case 't':
            err = parse_duration(optarg, &s.timeout);
            if (err)
                return cli_bad_value(cmd, "--timeout", optarg, err);
            break;
        case 'T':
            err = parse_uint(optarg, 0, UINT64_MAX, &s.type);
            if (err)
                return cli_bad_value(cmd, "--type", optarg, err);
            break;
        case 'r':
        case '0':
            if (input && input != c)
                return cli_usage(cmd, "use only one of --raw and --null");
            input = c;
            break;
        case 'S':
            shared = MBX_SHARED;
            break;
        case 'c':
            s.confirm = 1;
            break;
        case 'h':
            return cli_help(self);
        default:
            return cli_bad_option(cmd, c, argv);
        }
    }
    if (optind >= argc)
        return cli_usage(cmd, "expected a mailbox NAME");
    if (s.confirm && s.type)
        return cli_usage(cmd, "--confirm sends untyped messages; drop --type");
    if (input && argc - optind > 1)
        return cli_usage(cmd, "--raw and --null read standard input; give no MESSAGE");
    s.name = argv[optind];
    if ((status = cli_open(cmd, s.name, MBX_SEND | shared, NULL, &s.m)))
        return status;
    status = send_all(&s, argc - optind - 1, argv + optind + 1, input);
    mbx_close(s.m);
    return status;
}

const struct cli_cmd cmd_send = {"send", "send messages", usage, run};
