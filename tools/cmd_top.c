/* mbx top: a live view of the mailboxes, refreshed every interval: depth,
 * messages in and out per second, waiting senders and receivers, repairs. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mailbox_list.h"
#include "mbx.h"
#include "parse.h"

static const char usage[] =
    "usage: mbx top [OPTION...] [NAME...]\n"
    "Show the mailboxes of $MBX_DIR (or the NAMEs) every interval: messages and\n"
    "bytes queued, messages sent (IN/S) and received (OUT/S) per second since\n"
    "the last frame, senders and receivers waiting, repairs after deaths.\n"
    "On a terminal each frame replaces the last; otherwise frames follow\n"
    "one another. Stops on SIGINT or SIGTERM (exit 0).\n"
    "\n"
    "  -i, --interval DURATION  time between frames (default 1s)\n"
    "  -n, --count COUNT     stop after COUNT frames\n"
    "  -h, --help            show this help\n";

static const struct option options[] = {
    {"interval", required_argument, NULL, 'i'},
    {"count", required_argument, NULL, 'n'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The totals of the last frame, to turn into rates. */
struct sample {
    char *name;
    uint64_t sent, received;
};

struct history {
    struct sample *v;
    size_t len;
    int64_t at; /* CLOCK_MONOTONIC ns of the frame */
};

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static const struct sample *find(const struct history *h, const char *name)
{
    for (size_t i = 0; i < h->len; i++)
        if (strcmp(h->v[i].name, name) == 0)
            return &h->v[i];
    return NULL;
}

static void history_free(struct history *h)
{
    for (size_t i = 0; i < h->len; i++)
        free(h->v[i].name);
    free(h->v);
    h->v = NULL;
    h->len = 0;
}

/* A rate over the last interval, or "-" without one (first frame, a new
 * mailbox, or counts that went back: a mailbox made anew). */
static void put_rate(char *buf, size_t len, const struct sample *was, uint64_t now, uint64_t then,
                     double secs)
{
    if (!was || now < then || secs <= 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.0f", (double)(now - then) / secs);
}

static void frame(const struct mailbox_list *l, const struct history *h, int64_t at, int tty,
                  int64_t interval)
{
    char when[64], in[32], out[32];
    time_t wall = time(NULL);
    struct tm tm;
    int width = 4;
    double secs = h->at ? (double)(at - h->at) / 1e9 : 0;

    localtime_r(&wall, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    for (size_t i = 0; i < l->len; i++)
        if ((int)strlen(l->v[i].name) > width)
            width = (int)strlen(l->v[i].name);
    if (tty)
        fputs("\033[H\033[2J", stdout);
    printf("mbx top: %s, %zu mailboxes in %s, every %.3gs\n", when, l->len, mailbox_dir(),
           (double)interval / 1e9);
    printf("%-*s %8s %10s %9s %9s %9s %9s %7s\n", width, "NAME", "MSGS", "BYTES", "IN/S", "OUT/S",
           "SEND-WAIT", "RECV-WAIT", "REPAIRS");
    for (size_t i = 0; i < l->len; i++) {
        const struct mailbox_entry *e = &l->v[i];
        if (e->err) {
            printf("%-*s (%s)\n", width, e->name, mbx_strerror(e->err));
            continue;
        }
        const struct sample *was = find(h, e->name);
        put_rate(in, sizeof(in), was, e->st.sent_total, was ? was->sent : 0, secs);
        put_rate(out, sizeof(out), was, e->st.received_total, was ? was->received : 0, secs);
        printf("%-*s %8" PRIu32 " %10" PRIu64 " %9s %9s %9" PRIu32 " %9" PRIu32 " %7" PRIu32 "\n",
               width, e->name, e->st.count, e->st.bytes, in, out, e->st.senders_waiting,
               e->st.receivers_waiting, e->st.repairs);
    }
    if (!tty)
        putchar('\n');
    fflush(stdout);
}

/* The named mailboxes (in the order given), or every one. */
static int read_list(struct mailbox_list *l, int n, char **names)
{
    if (n == 0)
        return mailbox_list_read(l);
    l->v = calloc((size_t)n, sizeof(*l->v));
    if (!l->v)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        l->v[i].name = strdup(names[i]);
        if (!l->v[i].name)
            return -ENOMEM;
        l->len++;
        l->v[i].err = mbx_stat_name(names[i], &l->v[i].st);
    }
    return 0;
}

/* Keeps this frame's totals for the next one. */
static int remember(struct history *h, const struct mailbox_list *l, int64_t at)
{
    struct history next = {calloc(l->len ? l->len : 1, sizeof(struct sample)), 0, at};

    if (!next.v)
        return -ENOMEM;
    for (size_t i = 0; i < l->len; i++) {
        if (l->v[i].err)
            continue;
        next.v[next.len].name = strdup(l->v[i].name);
        if (!next.v[next.len].name) {
            history_free(&next);
            return -ENOMEM;
        }
        next.v[next.len].sent = l->v[i].st.sent_total;
        next.v[next.len].received = l->v[i].st.received_total;
        next.len++;
    }
    history_free(h);
    *h = next;
    return 0;
}

static int run(const struct cli_cmd *self, int argc, char **argv)
{
    const char *cmd = self->name;
    int64_t interval = 1000000000;
    uint64_t count = UINT64_MAX;
    struct history h = {0};
    int c, err = 0, tty = isatty(STDOUT_FILENO);

    optind = 0;
    while ((c = getopt_long(argc, argv, ":i:n:h", options, NULL)) != -1) {
        switch (c) {
        case 'i':
            err = parse_duration(optarg, &interval);
            if (!err && (interval <= 0 || interval == MBX_FOREVER))
                err = -ERANGE;
            if (err)
                return cli_bad_value(cmd, "--interval", optarg, err);
            break;
        case 'n':
            err = parse_uint(optarg, 1, UINT64_MAX, &count);
            if (err)
                return cli_bad_value(cmd, "--count", optarg, err);
            break;
        case 'h':
            return cli_help(self);
        default:
            return cli_bad_option(cmd, c, argv);
        }
    }
    cli_catch_signals();
    int64_t next = now_ns();
    for (uint64_t f = 0; f < count && !err; f++) {
        if (f) {
            next += interval;
            int r = cli_wait_readable(-1, next);
            if (r == -EINTR)
                break;
        }
        struct mailbox_list l = {0};
        int64_t at = now_ns();
        err = read_list(&l, argc - optind, argv + optind);
        if (!err) {
            frame(&l, &h, at, tty, interval);
            err = remember(&h, &l, at);
        }
        mailbox_list_free(&l);
    }
    history_free(&h);
    return err ? cli_error(cmd, mailbox_dir(), err) : CLI_OK;
}

const struct cli_cmd cmd_top = {"top", "watch mailboxes live: depth, rates, waiters", usage, run};
