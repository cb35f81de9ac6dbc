/* ZeroMQ PAIR sockets over ipc:// (a Unix socket underneath) or over TCP on
 * 127.0.0.1 (libzmq sets TCP_NODELAY), plus libzmq's I/O thread in each
 * process. Contexts are made after fork, in each child, because libzmq's
 * threads do not survive fork. The responder binds (TCP: an ephemeral port)
 * and posts the endpoint it got; the initiator connects to that. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zmq.h>

#include "board.h"
#include "mech.h"

struct zmq_priv {
    char path[PATH_MAX];
    char endpoint[PATH_MAX + 8];
    struct board *board;
    void *ctx, *sock;
};

static void zq_teardown(struct chan *c)
{
    struct zmq_priv *s = c->priv;
    if (!s)
        return;
    if (s->path[0])
        unlink(s->path);
    board_free(s->board);
    free(s);
    c->priv = NULL;
}

static int zq_setup(struct chan *c, char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    struct zmq_priv *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    c->priv = s;
    s->board = board_new();
    if (!s->board)
        return -ENOMEM;
    if (c->mech->variant == VIA_TCP) {
        snprintf(s->endpoint, sizeof(s->endpoint), "tcp://127.0.0.1:*");
    } else {
        snprintf(s->path, sizeof(s->path), "%s/zmq.%s", c->p.dir, c->p.tag);
        snprintf(s->endpoint, sizeof(s->endpoint), "ipc://%s", s->path);
    }
    return 0;
}

/* Linger 0 is safe: the harness closes a side only after its peer has
 * received everything it was going to. The initiator connects only once the
 * responder is bound; should the connection still be refused, libzmq retries
 * after ZMQ_RECONNECT_IVL (100 ms by default): 1 ms keeps that wait out of
 * the measurements. */
static int zq_attach(struct chan *c, enum mech_role role, int index)
{
    (void)index;
    struct zmq_priv *s = c->priv;
    s->ctx = zmq_ctx_new();
    if (!s->ctx)
        return -errno;
    s->sock = zmq_socket(s->ctx, ZMQ_PAIR);
    if (!s->sock)
        return -errno;
    int zero = 0;
    int one = 1;
    zmq_setsockopt(s->sock, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(s->sock, ZMQ_RECONNECT_IVL, &one, sizeof(one));
    if (role == ROLE_INITIATOR) {
        int rc = board_wait(s->board, s->endpoint, sizeof(s->endpoint), 5000000000);
        if (rc < 0)
            return rc;
        return zmq_connect(s->sock, s->endpoint) < 0 ? -errno : 0;
    }
    if (zmq_bind(s->sock, s->endpoint) < 0)
        return -errno;
    size_t len = sizeof(s->endpoint); /* with the port the system chose */
    if (zmq_getsockopt(s->sock, ZMQ_LAST_ENDPOINT, s->endpoint, &len) < 0)
        return -errno;
    board_post(s->board, s->endpoint);
    return 0;
}

static int zq_send(struct chan *c, void *buf, size_t len)
{
    struct zmq_priv *s = c->priv;
    while (zmq_send(s->sock, buf, len, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

static ssize_t zq_recv(struct chan *c, void *buf, size_t len)
{
    struct zmq_priv *s = c->priv;
    int n;
    while ((n = zmq_recv(s->sock, buf, len, 0)) < 0)
        if (errno != EINTR)
            return -errno;
    return (size_t)n == len ? n : -EPROTO;
}

static int zq_ping(struct chan *c, void *buf, size_t len)
{
    int rc = zq_send(c, buf, len);
    if (rc < 0)
        return rc;
    ssize_t n = zq_recv(c, buf, len);
    return n < 0 ? (int)n : 0;
}

static int zq_pong(struct chan *c, void *buf, size_t len)
{
    ssize_t n = zq_recv(c, buf, len);
    if (n < 0)
        return (int)n;
    return zq_send(c, buf, len);
}

static void zq_detach(struct chan *c)
{
    struct zmq_priv *s = c->priv;
    if (s->sock)
        zmq_close(s->sock);
    if (s->ctx)
        zmq_ctx_term(s->ctx);
    s->sock = s->ctx = NULL;
}

#define ZMQ_ROW(ident, row, shown, via, text)                                                      \
    const struct mech ident = {                                                                    \
        .name = row,                                                                               \
        .label = shown,                                                                            \
        .about = text,                                                                             \
        .variant = via,                                                                            \
        .fanin = FANIN_NO,                                                                         \
        .kernel = false,                                                                           \
        .quick_64b_only = via == VIA_TCP,                                                          \
        .setup = zq_setup,                                                                         \
        .attach = zq_attach,                                                                       \
        .ping = zq_ping,                                                                           \
        .pong = zq_pong,                                                                           \
        .send = zq_send,                                                                           \
        .recv = zq_recv,                                                                           \
        .detach = zq_detach,                                                                       \
        .teardown = zq_teardown,                                                                   \
    }

ZMQ_ROW(mech_zmq, "zmq", NULL, VIA_IPC, "ZeroMQ PAIR sockets over ipc://");
ZMQ_ROW(mech_zmq_tcp, "zmq-tcp", "zmq (tcp)", VIA_TCP,
        "ZeroMQ PAIR sockets over tcp://127.0.0.1 (TCP_NODELAY)");
