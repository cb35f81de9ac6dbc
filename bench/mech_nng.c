/* NNG pair1 sockets over ipc:// (a Unix socket underneath) or over TCP on
 * 127.0.0.1 (NNG sets TCP_NODELAY by default), plus NNG's worker threads.
 * Sockets are opened after fork, in each child, so no NNG thread ever
 * crosses a fork. The responder listens (TCP: an ephemeral port) and posts
 * the address it got; the initiator dials that. */
#include <errno.h>
#include <limits.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "board.h"
#include "mech.h"

struct nng_priv {
    char path[PATH_MAX];
    char url[PATH_MAX + 8];
    struct board *board;
    nng_socket sock;
    bool open;
};

/* NNG has its own error numbers; system errors carry the errno inside. */
static int to_errno(int err)
{
    if (err & NNG_ESYSERR)
        return -(err & ~NNG_ESYSERR);
    switch (err) {
    case NNG_ENOMEM:
        return -ENOMEM;
    case NNG_ETIMEDOUT:
        return -ETIMEDOUT;
    case NNG_EMSGSIZE:
        return -EMSGSIZE;
    case NNG_ECLOSED:
    case NNG_ECONNSHUT:
        return -EPIPE;
    default:
        return -EPROTO;
    }
}

static void ng_teardown(struct chan *c)
{
    struct nng_priv *s = c->priv;
    if (!s)
        return;
    if (s->path[0])
        unlink(s->path);
    board_free(s->board);
    free(s);
    c->priv = NULL;
}

static int ng_setup(struct chan *c, char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    struct nng_priv *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    c->priv = s;
    s->board = board_new();
    if (!s->board)
        return -ENOMEM;
    if (c->mech->variant == VIA_TCP) {
        snprintf(s->url, sizeof(s->url), "tcp://127.0.0.1:0");
    } else {
        snprintf(s->path, sizeof(s->path), "%s/nng.%s", c->p.dir, c->p.tag);
        snprintf(s->url, sizeof(s->url), "ipc://%s", s->path);
    }
    return 0;
}

/* The responder listens before it posts its address. A background dial
 * would retry only after NNG's reconnect interval (100 ms), which would land
 * inside the measurement, so dial in the foreground until it connects (at
 * most 5 s). Returns 0 or a negative errno. */
static int dial(struct nng_priv *s)
{
    struct timespec ms = {0, 1000000};
    int rv = board_wait(s->board, s->url, sizeof(s->url), 5000000000);
    if (rv < 0)
        return rv;
    for (int tries = 0; tries < 5000; tries++) {
        rv = nng_dial(s->sock, s->url, NULL, 0);
        if (rv == 0)
            break;
        nanosleep(&ms, NULL);
    }
    return rv ? to_errno(rv) : 0;
}

/* NNG drops received messages over 1 MiB by default: lift the limit. Its
 * sockets buffer nothing by default; give them a queue as deep as the
 * others' (zmq's is 1000 messages), or one-way runs measure a hand-off per
 * message instead of a queue. */
static int ng_attach(struct chan *c, enum mech_role role, int index)
{
    (void)index;
    struct nng_priv *s = c->priv;
    int rv = nng_pair1_open(&s->sock);
    if (rv != 0)
        return to_errno(rv);
    s->open = true;
    rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, 0);
    if (rv == 0)
        rv = nng_socket_set_int(s->sock, NNG_OPT_SENDBUF, QUEUE_DEPTH);
    if (rv == 0)
        rv = nng_socket_set_int(s->sock, NNG_OPT_RECVBUF, QUEUE_DEPTH);
    if (rv != 0)
        return to_errno(rv);
    if (role == ROLE_INITIATOR) {
        return dial(s);
    }
    nng_listener l;
    rv = nng_listen(s->sock, s->url, &l, 0);
    int port;
    if (rv == 0 && c->mech->variant == VIA_TCP) {
        rv = nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port);
        snprintf(s->url, sizeof(s->url), "tcp://127.0.0.1:%d", port);
    }
    if (rv != 0)
        return to_errno(rv);
    board_post(s->board, s->url);
    return 0;
}

static int ng_send(struct chan *c, void *buf, size_t len)
{
    struct nng_priv *s = c->priv;
    int rv = nng_send(s->sock, buf, len, 0);
    return rv ? to_errno(rv) : 0;
}

static ssize_t ng_recv(struct chan *c, void *buf, size_t len)
{
    struct nng_priv *s = c->priv;
    size_t n = len;
    int rv = nng_recv(s->sock, buf, &n, 0);
    if (rv)
        return to_errno(rv);
    return n == len ? (ssize_t)n : -EPROTO;
}

static int ng_ping(struct chan *c, void *buf, size_t len)
{
    int rc = ng_send(c, buf, len);
    if (rc < 0)
        return rc;
    ssize_t n = ng_recv(c, buf, len);
    return n < 0 ? (int)n : 0;
}

static int ng_pong(struct chan *c, void *buf, size_t len)
{
    ssize_t n = ng_recv(c, buf, len);
    if (n < 0)
        return (int)n;
    return ng_send(c, buf, len);
}

static void ng_detach(struct chan *c)
{
    struct nng_priv *s = c->priv;
    if (s->open)
        nng_close(s->sock);
    s->open = false;
}

#define NNG_ROW(ident, row, shown, via, text)                                                      \
    const struct mech ident = {                                                                    \
        .name = row,                                                                               \
        .label = shown,                                                                            \
        .about = text,                                                                             \
        .variant = via,                                                                            \
        .fanin = FANIN_NO,                                                                         \
        .kernel = false,                                                                           \
        .quick_64b_only = via == VIA_TCP,                                                          \
        .setup = ng_setup,                                                                         \
        .attach = ng_attach,                                                                       \
        .ping = ng_ping,                                                                           \
        .pong = ng_pong,                                                                           \
        .send = ng_send,                                                                           \
        .recv = ng_recv,                                                                           \
        .detach = ng_detach,                                                                       \
        .teardown = ng_teardown,                                                                   \
    }

NNG_ROW(mech_nng, "nng", NULL, VIA_IPC, "NNG pair1 sockets over ipc://");
NNG_ROW(mech_nng_tcp, "nng-tcp", "nng (tcp)", VIA_TCP,
        "NNG pair1 sockets over tcp://127.0.0.1 (TCP_NODELAY)");
