/* mbx dump NAME: every queued message, one JSON line each (msgline.h), to
 * move a mailbox or keep a copy of it (mbx load reads them back). */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mbx.h"
#include "msgline.h"
#include "parse.h"
#include "recvbuf.h"

static const char usage[] =
    "usage: mbx dump NAME [OPTION...]\n"
    "Take every message queued in mailbox NAME, without waiting, and print\n"
    "each as one line of JSON: {\"priority\":P,\"type\":T,\"payload\":...} (the\n"
    "payload in base64 with \"encoding\":\"base64\" when it is not UTF-8), in\n"
    "the order received. `mbx load` sends such lines back.\n"
    "\n"
    "  -k, --keep            send each message back after printing it, so the\n"
    "                        mailbox keeps them (in the same order, unless other\n"
    "                        processes use it meanwhile)\n"
    "  -n, --count COUNT     take at most COUNT messages\n"
    "  -S, --shared          use the mailbox even when another user owns its file\n"
    "  -h, --help            show this help\n";

static const struct option options[] = {
    {"keep", no_argument, NULL, 'k'},
    {"count", required_argument, NULL, 'n'},
    {"shared", no_argument, NULL, 'S'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct kept {
    struct msgline *v;
    size_t len, cap;
};

/* A copy of a message to send back once all are taken. */
static int keep(struct kept *k, const void *buf, size_t len, unsigned prio, uint64_t type)
{
    if (k->len == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 64;
        struct msgline *v = realloc(k->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        k->v = v;
        k->cap = cap;
    }
    struct msgline *m = &k->v[k->len];
    m->payload = malloc(len ? len : 1);
    if (!m->payload)
        return -ENOMEM;
    if (len)
        memcpy(m->payload, buf, len);
    m->len = len;
    m->prio = prio;
    m->type = type;
    k->len++;
    return 0;
}

static int run(const struct cli_cmd *self, int argc, char **argv)
{
    const char *cmd = self->name;
    uint64_t count = UINT64_MAX, got = 0;
    int c, err = 0, shared = 0, keeping = 0, status = CLI_OK;
    struct kept k = {NULL, 0, 0};
    struct recvbuf rb;
    mbx *m;

    optind = 0;
    while ((c = getopt_long(argc, argv, ":kn:Sh", options, NULL)) != -1) {
        switch (c) {
        case 'k':
            keeping = 1;
            break;
        case 'n':
            err = parse_uint(optarg, 1, UINT64_MAX, &count);
            if (err)
                return cli_bad_value(cmd, "--count", optarg, err);
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
    if ((status = cli_open(cmd, name, MBX_RECV | (keeping ? MBX_SEND : 0) | shared, NULL, &m)))
        return status;
    mbx_stat st;
    err = mbx_stat_get(m, &st);
    if (!err && (st.flags & MBX_STREAM)) {
        fprintf(stderr, "mbx: dump: %s: a stream holds bytes, not messages\n", name);
        mbx_close(m);
        return CLI_FAILED;
    }
    if (!err)
        err = recvbuf_init(&rb, 65536);
    if (err) {
        mbx_close(m);
        return cli_error(cmd, name, err);
    }
    struct recvbuf_filter any = {0, MBX_SEL_ANY, 0, 0};
    while (got < count) {
        mbx_msginfo info;
        ssize_t n = recvbuf_recv(&rb, m, &any, &info, MBX_NONBLOCK);
        if (n == -EAGAIN)
            break;
        if (n < 0) {
            err = (int)n;
            break;
        }
        msgline_put(stdout, info.priority, any.type_out, rb.data, (size_t)n);
        got++;
        if (keeping && (err = keep(&k, rb.data, (size_t)n, info.priority, any.type_out)))
            break;
    }
    if (fflush(stdout) != 0 && !err)
        status = CLI_FAILED;
    /* Back in the order taken: the mailbox's order again. */
    for (size_t i = 0; i < k.len; i++) {
        int e =
            mbx_send_typed(m, k.v[i].payload, k.v[i].len, k.v[i].prio, k.v[i].type, MBX_FOREVER);
        if (e && !err)
            err = e;
        msgline_free(&k.v[i]);
    }
    free(k.v);
    recvbuf_free(&rb);
    mbx_close(m);
    if (err)
        return cli_error(cmd, name, err);
    return status;
}

const struct cli_cmd cmd_dump = {"dump", "print every queued message as JSON lines", usage, run};
