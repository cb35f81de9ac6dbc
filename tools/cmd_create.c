#include <errno.h>
#include <getopt.h>
#include <stdint.h>

#include "cli.h"
#include "mbx.h"
#include "parse.h"

static const char usage[] =
    "usage: mbx create NAME [OPTION...]\n"
    "Create mailbox NAME; it must not exist yet.\n"
    "\n"
    "  -c, --capacity N      hold up to N messages (1 .. 2147483648; default 64);\n"
    "                        senders wait while it is full\n"
    "      --rendezvous      capacity 0: a send returns once a receiver took it\n"
    "      --unbounded       no message limit, only --memory-limit\n"
    "      --memory-limit SIZE  bytes an unbounded mailbox may hold (default 1G)\n"
    "  -s, --max-size SIZE   largest message (default 8K, at most 1G)\n"
    "  -m, --mode MODE       octal permission bits (default 0600)\n"
    "  -P, --policy POLICY   who receives: any (default), exclusive, round-robin,\n"
    "                        pair (one sender and one receiver at a time)\n"
    "      --pair            the same as --policy pair: a link of two processes\n"
    "      --stream          a byte stream like a pipe, not messages\n"
    "  -h, --help            show this help\n"
    "\n"
    "SIZE takes a K, M or G suffix (64K = 65536).\n";

/* The library's bounds (README, limits), checked here so that the error
 * names the option. */
#define MAX_MSG    ((uint64_t)1 << 30)
#define MAX_MEMORY ((uint64_t)1 << 44)

enum { OPT_RENDEZVOUS = 256, OPT_UNBOUNDED, OPT_MEMORY_LIMIT, OPT_STREAM, OPT_PAIR };

static const struct option options[] = {
    {"capacity", required_argument, NULL, 'c'},
    {"rendezvous", no_argument, NULL, OPT_RENDEZVOUS},
    {"unbounded", no_argument, NULL, OPT_UNBOUNDED},
    {"memory-limit", required_argument, NULL, OPT_MEMORY_LIMIT},
    {"max-size", required_argument, NULL, 's'},
    {"mode", required_argument, NULL, 'm'},
    {"policy", required_argument, NULL, 'P'},
    {"stream", no_argument, NULL, OPT_STREAM},
    {"pair", no_argument, NULL, OPT_PAIR},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int run(const struct cli_cmd *self, int argc, char **argv)
{
    const char *cmd = self->name;
    mbx_attr attr;
    uint64_t v;
    int c, err, flags = MBX_CREATE | MBX_EXCL, capacity_options = 0;
    mbx *m;

    mbx_attr_init(&attr);
    optind = 0;
    while ((c = getopt_long(argc, argv, ":c:s:m:P:h", options, NULL)) != -1) {
        switch (c) {
        case 'c':
            err = parse_uint(optarg, 1, (uint64_t)1 << 31, &v);
            if (err == -ERANGE)
                return cli_usage(cmd,
                                 "--capacity: '%s' out of range (1 .. 2147483648; "
                                 "--rendezvous for none, --unbounded for no limit)",
                                 optarg);
            if (err)
                return cli_bad_value(cmd, "--capacity", optarg, err);
            attr.capacity = (uint32_t)v;
            capacity_options |= 1;
            break;
        case OPT_RENDEZVOUS:
            attr.capacity = MBX_RENDEZVOUS;
            capacity_options |= 2;
            break;
        case OPT_UNBOUNDED:
            attr.capacity = MBX_UNBOUNDED;
            capacity_options |= 4;
            break;
        case OPT_MEMORY_LIMIT:
            err = parse_size(optarg, &attr.memory_limit);
            if (!err && (attr.memory_limit < 1 || attr.memory_limit > MAX_MEMORY))
                return cli_usage(cmd, "--memory-limit: '%s' out of range (1 .. 16T)", optarg);
            if (err)
                return cli_bad_value(cmd, "--memory-limit", optarg, err);
            break;
        case 's':
            err = parse_size(optarg, &attr.max_msg_size);
            if (!err && (attr.max_msg_size < 1 || attr.max_msg_size > MAX_MSG))
                return cli_usage(cmd, "--max-size: '%s' out of range (1 .. 1G)", optarg);
            if (err)
                return cli_bad_value(cmd, "--max-size", optarg, err);
            break;
        case 'm':
            err = parse_mode(optarg, &attr.mode);
            if (err)
                return cli_bad_value(cmd, "--mode", optarg, err);
            break;
        case 'P':
            err = parse_policy(optarg, &attr.recv_policy);
            if (err)
                return cli_bad_value(cmd, "--policy", optarg, err);
            break;
        case OPT_STREAM:
            flags |= MBX_STREAM;
            break;
        case OPT_PAIR:
            attr.recv_policy = MBX_RECV_PAIR;
            break;
        case 'h':
            return cli_help(self);
        default:
            return cli_bad_option(cmd, c, argv);
        }
    }
    if (capacity_options & (capacity_options - 1))
        return cli_usage(cmd, "use only one of --capacity, --rendezvous and --unbounded");
    if (argc - optind != 1)
        return cli_usage(cmd, "expected one mailbox NAME");
    /* A stream is opened for receiving: opening and closing its only sender
     * would look like the end of the stream to a receiver. */
    flags |= flags & MBX_STREAM ? MBX_RECV : MBX_SEND;
    err = mbx_open(argv[optind], flags, &attr, &m);
    if (err)
        return cli_error(cmd, argv[optind], err);
    mbx_close(m);
    return CLI_OK;
}

const struct cli_cmd cmd_create = {"create", "create a mailbox", usage, run};
