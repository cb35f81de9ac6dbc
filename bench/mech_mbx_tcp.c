/* mbx over tcp://: the responder is a server process that runs a gateway
 * (mbx_gateway_start on 127.0.0.1, an ephemeral port) exporting a mailbox
 * it works on locally; the initiator opens the mailbox by
 * "tcp://127.0.0.1:PORT/NAME". Round trip: the initiator's mbx_call over
 * tcp://, answered by the server's local mbx_recv and mbx_reply, so each
 * side sends one message and waits for one, as in the TCP ping-pong.
 * One-way: the initiator's mbx_send over tcp:// (pipelined while the
 * mailbox has room), the server's local mbx_recv.
 *
 * Rows: through the gateway (variant VIA_GATEWAY), the same with a mailbox
 * of 1024 slots (VIA_GATEWAY_DEEP: about ZeroMQ's default high-water mark
 * of 1000, so the one-way rows compare like with like; the client's window
 * follows the far mailbox's capacity), and bypassed (SAME_HOST).
 *
 * Both sides prove a shared secret: a file of the run's private directory,
 * named by MBX_SECRET_FILE, set by the parent before it forks, so the
 * user's own ~/.mbx-secret is neither read nor made. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include "board.h"
#include "mech_mbx.h"

#define SECRET_BYTES 32

enum { VIA_GATEWAY, SAME_HOST, VIA_GATEWAY_DEEP };
#define DEEP_CAPACITY 1024

struct mbxt_priv {
    char name[96];
    char secret[PATH_MAX];
    struct board *board; /* the port; the client's goodbye */
    mbx *h;
    mbx_gateway *gw;
};

static void mbxt_teardown(struct chan *c)
{
    struct mbxt_priv *s = c->priv;
    if (!s)
        return;
    if (s->name[0])
        mbx_unlink(s->name);
    board_free(s->board);
    free(s);
    c->priv = NULL;
}

/* The run's secret: made once in the private directory (mode 0600). */
static int secret_make(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? 0 : -errno;
    unsigned char key[SECRET_BYTES];
    int rc = getrandom(key, sizeof(key), 0) == (ssize_t)sizeof(key) ? 0 : -EIO;
    if (rc == 0 && write(fd, key, sizeof(key)) != (ssize_t)sizeof(key))
        rc = -EIO;
    close(fd);
    if (rc < 0)
        unlink(path);
    return rc;
}

static int mbxt_setup(struct chan *c, char *why, size_t whylen)
{
    struct mbxt_priv *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    c->priv = s;
    s->board = board_new();
    if (!s->board)
        return -ENOMEM;
    snprintf(s->secret, sizeof(s->secret), "%s/mbx-secret", c->p.dir);
    int rc = secret_make(s->secret);
    if (rc < 0) {
        snprintf(why, whylen, "secret file %s: %s", s->secret, mbx_strerror(rc));
        return rc;
    }
    setenv("MBX_SECRET_FILE", s->secret, 1);
    mbx_attr attr;
    mbx_attr_init(&attr);
    attr.max_msg_size = c->p.size;
    if (c->mech->variant == VIA_GATEWAY_DEEP)
        attr.capacity = DEEP_CAPACITY;
    char name[96];
    snprintf(name, sizeof(name), "bench.%s", c->p.tag);
    mbx *m;
    rc = mbx_open(name, MBX_CREATE | MBX_EXCL | MBX_SEND, &attr, &m);
    if (rc < 0) {
        snprintf(why, whylen, "mbx_open: %s", mbx_strerror(rc));
        return rc;
    }
    mbx_close(m);
    snprintf(s->name, sizeof(s->name), "%s", name);
    return 0;
}

static int mbxt_attach(struct chan *c, enum mech_role role, int index)
{
    (void)index;
    struct mbxt_priv *s = c->priv;
    if (role == ROLE_INITIATOR) {
        char port[16], url[160];
        int rc = board_wait(s->board, port, sizeof(port), 5000000000);
        if (rc < 0)
            return rc;
        snprintf(url, sizeof(url), "tcp://127.0.0.1:%s/%s", port, s->name);
        /* The gateway is on this machine: without MBX_TCP_BYPASS=0 the
         * library opens the mailbox's file directly (the bypassed row). */
        setenv("MBX_TCP_BYPASS", c->mech->variant == SAME_HOST ? "1" : "0", 1);
        return mbx_open(url, MBX_SEND, NULL, &s->h);
    }
    int rc = mbx_open(s->name, MBX_RECV, NULL, &s->h);
    if (rc < 0)
        return rc;
    static const char *const allow[] = {"*", NULL};
    mbx_gateway_options o;
    mbx_gateway_options_init(&o);
    o.secret_file = s->secret;
    o.allow = allow;
    rc = mbx_gateway_start("127.0.0.1:0", &o, &s->gw);
    if (rc < 0)
        return rc;
    char port[16];
    snprintf(port, sizeof(port), "%d", mbx_gateway_port(s->gw));
    board_post(s->board, port);
    return 0;
}

/* The client says goodbye first (mbx_close waits until the gateway has
 * acknowledged every send): a gateway stopped under it would leave it
 * reconnecting. The server waits for that, at most 2 s, then stops. */
static void mbxt_detach(struct chan *c)
{
    struct mbxt_priv *s = c->priv;
    if (!s->gw) {
        if (s->h)
            mbx_close(s->h);
        s->h = NULL;
        board_done(s->board);
        return;
    }
    board_wait_done(s->board, 2000000000);
    mbx_gateway_stop(s->gw);
    s->gw = NULL;
    if (s->h)
        mbx_close(s->h);
    s->h = NULL;
}

static int mbxt_send(struct chan *c, void *buf, size_t len)
{
    struct mbxt_priv *s = c->priv;
    return mbx_send(s->h, buf, len, 0, MBX_FOREVER);
}

static ssize_t mbxt_recv(struct chan *c, void *buf, size_t len)
{
    struct mbxt_priv *s = c->priv;
    ssize_t n = mbx_recv(s->h, buf, len, NULL, MBX_FOREVER);
    return n < 0 || (size_t)n == len ? n : -EPROTO;
}

static int mbxt_ping(struct chan *c, void *buf, size_t len)
{
    struct mbxt_priv *s = c->priv;
    ssize_t n = mbx_call(s->h, buf, len, 0, buf, len, MBX_FOREVER);
    return n < 0 ? (int)n : (size_t)n == len ? 0 : -EPROTO;
}

static int mbxt_pong(struct chan *c, void *buf, size_t len)
{
    struct mbxt_priv *s = c->priv;
    mbx_msginfo info;
    ssize_t n = mbx_recv(s->h, buf, len, &info, MBX_FOREVER);
    if (n < 0)
        return (int)n;
    if ((size_t)n != len)
        return -EPROTO;
    return mbx_reply(&info, buf, len);
}

#define MBXT_ROW(ident, row, shown, bypass, text)                                                  \
    const struct mech ident = {                                                                    \
        .name = row,                                                                               \
        .label = shown,                                                                            \
        .about = text,                                                                             \
        .variant = bypass,                                                                         \
        .fanin = FANIN_NO,                                                                         \
        .kernel = false,                                                                           \
        .quick_64b_only = true,                                                                    \
        .setup = mbxt_setup,                                                                       \
        .attach = mbxt_attach,                                                                     \
        .ping = mbxt_ping,                                                                         \
        .pong = mbxt_pong,                                                                         \
        .send = mbxt_send,                                                                         \
        .recv = mbxt_recv,                                                                         \
        .detach = mbxt_detach,                                                                     \
        .teardown = mbxt_teardown,                                                                 \
    }

MBXT_ROW(mech_mbx_tcp, "mbx-tcp", "mbx (tcp://)", VIA_GATEWAY,
         "mbx over tcp://127.0.0.1 through a gateway in the server process (MBX_TCP_BYPASS=0); "
         "mbx_call / mbx_send from the client, local mbx_recv (and mbx_reply) in the server");
MBXT_ROW(mech_mbx_tcp_deep, "mbx-tcp-deep", "mbx (tcp://, deep)", VIA_GATEWAY_DEEP,
         "the same through the gateway, the far mailbox 1024 slots deep (ZeroMQ's sockets hold "
         "1000 messages each by default): the client's window of unacknowledged sends follows "
         "the far mailbox's capacity");
MBXT_ROW(mech_mbx_tcp_here, "mbx-tcp-here", "mbx (tcp://, same host)", SAME_HOST,
         "the same tcp:// name to a gateway on this machine, left to the library: it finds the "
         "mailbox's file through the gateway and opens it directly (no gateway hop)");
