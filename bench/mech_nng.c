/* NNG pair1 sockets over ipc:// (a Unix socket underneath, plus NNG's worker
 * threads). Sockets are opened after fork, in each child, so no NNG thread
 * ever crosses a fork. */
#include <errno.h>
#include <limits.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "mech.h"

struct nng_priv {
    char path[PATH_MAX];
    char url[PATH_MAX + 8];
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
    unlink(s->path);
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
    snprintf(s->path, sizeof(s->path), "%s/nng.%s", c->p.dir, c->p.tag);
    snprintf(s->url, sizeof(s->url), "ipc://%s", s->path);
    return 0;
}

/* The responder may not listen yet. A background dial would retry only
 * after NNG's reconnect interval (100 ms), which would land inside the
 * measurement, so dial in the foreground until it connects (at most 5 s). */
static int dial(struct nng_priv *s)
{
    struct timespec ms = {0, 1000000};
    int rv = 0;
    for (int tries = 0; tries < 5000; tries++) {
        rv = nng_dial(s->sock, s->url, NULL, 0);
        if (rv == 0)
            break;
        nanosleep(&ms, NULL);
    }
    return rv;
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
    if (rv == 0)
        rv = role == ROLE_RESPONDER ? nng_listen(s->sock, s->url, NULL, 0) : dial(s);
    return rv ? to_errno(rv) : 0;
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

const struct mech mech_nng = {
    .name = "nng",
    .about = "NNG pair1 sockets over ipc://",
    .fanin = FANIN_NO,
    .kernel = false,
    .setup = ng_setup,
    .attach = ng_attach,
    .ping = ng_ping,
    .pong = ng_pong,
    .send = ng_send,
    .recv = ng_recv,
    .detach = ng_detach,
    .teardown = ng_teardown,
};
