/* ZeroMQ PAIR sockets over ipc:// (a Unix socket underneath, plus libzmq's
 * I/O thread in each process). Contexts are made after fork, in each child,
 * because libzmq's threads do not survive fork. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zmq.h>

#include "mech.h"

struct zmq_priv {
    char path[PATH_MAX];
    char endpoint[PATH_MAX + 8];
    void *ctx, *sock;
};

static void zq_teardown(struct chan *c)
{
    struct zmq_priv *s = c->priv;
    if (!s)
        return;
    unlink(s->path);
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
    snprintf(s->path, sizeof(s->path), "%s/zmq.%s", c->p.dir, c->p.tag);
    snprintf(s->endpoint, sizeof(s->endpoint), "ipc://%s", s->path);
    return 0;
}

/* Linger 0 is safe: the harness closes a side only after its peer has
 * received everything it was going to. A connect that comes before the bind
 * is retried after ZMQ_RECONNECT_IVL (100 ms by default): 1 ms keeps that
 * wait out of the measurements. */
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
    int rc =
        role == ROLE_RESPONDER ? zmq_bind(s->sock, s->endpoint) : zmq_connect(s->sock, s->endpoint);
    return rc < 0 ? -errno : 0;
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

const struct mech mech_zmq = {
    .name = "zmq",
    .about = "ZeroMQ PAIR sockets over ipc://",
    .fanin = FANIN_NO,
    .kernel = false,
    .setup = zq_setup,
    .attach = zq_attach,
    .ping = zq_ping,
    .pong = zq_pong,
    .send = zq_send,
    .recv = zq_recv,
    .detach = zq_detach,
    .teardown = zq_teardown,
};
