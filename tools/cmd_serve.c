/* mbx serve NAME -- CMD [ARG...]: a shell server. Each message runs CMD
 * with the message on its standard input; for a request (mbx call), what
 * CMD writes to standard output is the reply. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "mbx.h"
#include "parse.h"
#include "recvbuf.h"

static const char usage[] =
    "usage: mbx serve NAME [OPTION...] -- CMD [ARG...]\n"
    "       mbx serve --listen HOST:PORT --allow PATTERN... [--secret-file FILE]\n"
    "                 [--linger DURATION] [--max-sessions N]\n"
    "                 [--tls-cert FILE --tls-key FILE [--tls-ca FILE [--no-secret]]]\n"
    "       mbx serve --listen-udp HOST:PORT --allow PATTERN... [--secret-file FILE]\n"
    "Run CMD for every message of mailbox NAME, the message on its standard\n"
    "input. For a request (sent with `mbx call` or mbx_call), CMD's standard\n"
    "output is the reply; for a plain message it goes to mbx's own standard\n"
    "output. One message at a time, until interrupted.\n"
    "\n"
    "  -n, --count COUNT     stop after COUNT messages\n"
    "  -t, --timeout DURATION  stop when no message came for DURATION (exit 3)\n"
    "  -S, --shared          use the mailbox even when another user owns its file\n"
    "  -h, --help            show this help\n"
    "\n"
    "A CMD that fails (exit status not 0, or killed) is reported on standard\n"
    "error; a request still gets what it wrote as its reply. A reply that\n"
    "finds the caller's own mailbox full is sent again for about a second,\n"
    "then dropped; it, and one to a caller that gave up, are reported on\n"
    "standard error, and serving goes on.\n"
    "\n"
    "With --listen, export this host's mailboxes whose names match an --allow\n"
    "pattern to programs elsewhere, which open tcp://HOST:PORT/NAME; until\n"
    "interrupted. Prints \"listening on HOST:PORT\" (PORT 0: any free one).\n"
    "Both ends need the same secret file: --secret-file, $MBX_SECRET_FILE or\n"
    "~/.mbx-secret (made when missing; yours, mode 600). --linger: how long a\n"
    "client's session waits for it to come back (default 30s). --max-sessions:\n"
    "sessions at once, live and lingering (default 1024); one more ends the\n"
    "session that lingered longest, or is refused when all have a client.\n"
    "--tls-cert and --tls-key (PEM): TLS 1.3, clients open tls://HOST:PORT/NAME\n"
    "($MBX_TLS_CA: the CA they trust). --tls-ca FILE: every client must also show\n"
    "a certificate of a CA in FILE ($MBX_TLS_CERT, $MBX_TLS_KEY); with\n"
    "--no-secret that certificate alone lets it in.\n"
    "\n"
    "With --listen-udp, deliver the datagrams of programs that send to\n"
    "udp://HOST:PORT/NAME into this host's existing mailboxes whose names\n"
    "match an --allow pattern, never waiting: a datagram that finds its\n"
    "mailbox full, or is refused, is dropped and counted (mbx stat NAME).\n"
    "Prints \"listening on udp HOST:PORT\"; on SIGUSR1, and when stopped, a\n"
    "line of counts: \"udp: received N, delivered N, probes N, dropped: full\n"
    "N, bad N, missing N, kernel N\". Same secret file as --listen.\n";

static const struct option options[] = {
    {"count", required_argument, NULL, 'n'},
    {"timeout", required_argument, NULL, 't'},
    {"shared", no_argument, NULL, 'S'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct server {
    mbx *m;
    const char *name;
    char **cmd; /* NULL-terminated */
    uint64_t max_reply;
};

/* In the child: standard input is `in`, standard output `out` (-1: keep),
 * and the signals mbx blocked are unblocked (a mask survives exec). */
static void exec_child(const struct server *s, int in, int out)
{
    sigset_t none;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (dup2(in, STDIN_FILENO) < 0 || (out >= 0 && dup2(out, STDOUT_FILENO) < 0))
        _exit(126);
    execvp(s->cmd[0], s->cmd);
    fprintf(stderr, "mbx: serve: %s: %s\n", s->cmd[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
}

/* Reads all of fd into a growing buffer, up to max bytes (more is read and
 * dropped, so the child is never stuck writing). */
static int read_all(int fd, uint64_t max, char **out, size_t *len, int *cut)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap), drop[4096];
    ssize_t r;

    *cut = 0;
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (n == cap && cap < max) {
            size_t want = cap * 2 > max ? (size_t)max : cap * 2;
            char *bigger = realloc(buf, want);
            if (!bigger) {
                free(buf);
                return -ENOMEM;
            }
            buf = bigger;
            cap = want;
        }
        r = n < cap ? read(fd, buf + n, cap - n) : read(fd, drop, sizeof(drop));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            return -errno;
        }
        if (r == 0)
            break;
        if (n < cap)
            n += (size_t)r;
        else
            *cut = 1;
    }
    *out = buf;
    *len = n;
    return 0;
}

static void report_status(const struct server *s, int st)
{
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return;
    if (WIFEXITED(st))
        fprintf(stderr, "mbx: serve: %s: %s exited with status %d\n", s->name, s->cmd[0],
                WEXITSTATUS(st));
    else
        fprintf(stderr, "mbx: serve: %s: %s killed by signal %d\n", s->name, s->cmd[0],
                WTERMSIG(st));
}

/* Sends a reply, again while it says -EAGAIN: the caller's mailbox stayed
 * full for the 100 ms a reply waits, or its lock was held (said at once:
 * the caller resetting its mailbox "of another boot"), and mbx.h says it
 * may be sent again while the caller waits; a reply given up on leaves
 * the caller waiting out its timeout, so it is tried REPLY_TRIES times (up
 * to about a second of this one-at-a-time server's time) before it is
 * dropped. Also serve-echo's (cli.h). */
#define REPLY_TRIES 10
int serve_reply(const char *cmd, const char *name, const mbx_msginfo *info, const void *reply,
                size_t len)
{
    int err, tries = 0;

    do
        err = mbx_reply(info, reply, len);
    while (err == -EAGAIN && ++tries < REPLY_TRIES);
    if (err == -EAGAIN) {
        fprintf(stderr,
                "mbx: %s: %s: reply to pid %d dropped: its mailbox stayed full, or locked "
                "(-EAGAIN %d times)\n",
                cmd, name, (int)info->sender_pid, REPLY_TRIES);
        return 0;
    }
    /* Only the server's own want of memory or descriptors stops it. Any
     * other failure is this caller's affair: it gave up or died, its
     * mailbox takes less, it is another user (whose @PID only root may
     * write), its message carried a token no call made, or it wrote its
     * own mailbox into something no reply can open (damaged, "of another
     * PID namespace"; one "of another boot" whose lock it holds says
     * -EAGAIN, above). Each of those stopped serving once, so whoever
     * could send to a service could stop it (found by reviews). */
    if (err == -ENOMEM || err == -EMFILE || err == -ENFILE)
        return err;
    if (err)
        cli_error(cmd, name, err);
    return 0;
}

/* Runs CMD on one message; answers it when it is a request. */
static int handle(const struct server *s, const void *msg, size_t len, const mbx_msginfo *info)
{
    int in = memfd_create("mbx-serve-request", MFD_CLOEXEC), out[2] = {-1, -1}, err = 0, st;
    char *reply = NULL;
    size_t rlen = 0;
    int cut = 0;
    pid_t c;

    /* The request goes through a file, not a pipe: CMD may write all its
     * output before reading any input without either side waiting. */
    if (in < 0 || (len && write(in, msg, len) != (ssize_t)len) || lseek(in, 0, SEEK_SET) != 0)
        err = -errno;
    if (!err && info->reply_token && pipe2(out, O_CLOEXEC) != 0)
        err = -errno;
    if (err) {
        if (in >= 0)
            close(in);
        return err;
    }
    fflush(stdout);
    c = fork();
    if (c == 0)
        exec_child(s, in, out[1]);
    close(in);
    if (out[1] >= 0)
        close(out[1]);
    if (c < 0) {
        err = -errno;
        if (out[0] >= 0)
            close(out[0]);
        return err;
    }
    if (out[0] >= 0) {
        err = read_all(out[0], s->max_reply, &reply, &rlen, &cut);
        close(out[0]);
    }
    while (waitpid(c, &st, 0) < 0 && errno == EINTR)
        ;
    report_status(s, st);
    if (!err && info->reply_token) {
        if (cut)
            fprintf(stderr, "mbx: serve: %s: reply cut to %zu bytes\n", s->name, rlen);
        err = serve_reply("serve", s->name, info, reply, rlen);
    }
    free(reply);
    return err;
}

static int serve(struct server *s, uint64_t count, int64_t timeout)
{
    struct recvbuf rb;
    mbx_msginfo info;
    uint64_t done = 0;
    ssize_t n;
    int err = recvbuf_init(&rb, 65536);

    while (!err && done < count && !cli_interrupted) {
        n = recvbuf_recv(&rb, s->m, NULL, &info, timeout);
        if (n < 0) {
            err = (int)n;
            break;
        }
        err = handle(s, rb.data, (size_t)n, &info);
        done++;
    }
    recvbuf_free(&rb);
    if (err == -EINTR)
        return CLI_OK;
    return err ? cli_error("serve", s->name, err) : CLI_OK;
}

static int run(const struct cli_cmd *self, int argc, char **argv)
{
    const char *cmd = self->name;
    int64_t timeout = MBX_FOREVER;
    uint64_t count = UINT64_MAX;
    int c, err, status, shared = 0, dashes = 0;
    struct server s = {0};

    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--listen-udp") == 0 || strncmp(argv[i], "--listen-udp=", 13) == 0)
            return serve_udp(self, argc, argv);
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--listen") == 0 || strncmp(argv[i], "--listen=", 9) == 0)
            return serve_listen(self, argc, argv);
    /* Everything after "--" is CMD; getopt must not see it. */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            dashes = i;
            break;
        }
    optind = 0;
    while ((c = getopt_long(dashes ? dashes : argc, argv, ":n:t:Sh", options, NULL)) != -1) {
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
    if (!dashes)
        return cli_usage(cmd, "expected -- CMD after the mailbox NAME");
    if (dashes - optind != 1)
        return cli_usage(cmd, "expected one mailbox NAME before --");
    if (dashes + 1 >= argc)
        return cli_usage(cmd, "expected CMD after --");
    s.name = argv[optind];
    s.cmd = argv + dashes + 1;
    cli_catch_signals();
    if ((status = cli_open(cmd, s.name, MBX_RECV | shared, NULL, &s.m)))
        return status;
    /* A reply travels back through the caller's own mailbox, whose largest
     * message this side cannot see: 1 GiB is the most any mailbox takes. */
    s.max_reply = (uint64_t)1 << 30;
    status = serve(&s, count, timeout);
    mbx_close(s.m);
    return status;
}

const struct cli_cmd cmd_serve = {"serve", "run a command for every message or request", usage,
                                  run};
