/* Unix domain sockets, stream and seqpacket, as a connected socketpair made
 * before fork (the same kernel path as connect/accept, without the setup). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "fdio.h"
#include "mech_unix.h"

void unix_teardown(struct chan *c)
{
    struct unix_priv *s = c->priv;
    if (!s)
        return;
    fd_close(&s->sv[0]);
    fd_close(&s->sv[1]);
    free(s);
    c->priv = NULL;
}

/* A seqpacket message must fit in the sender's socket buffer whole, so large
 * sizes need a larger buffer: SO_SNDBUFFORCE passes net.core.wmem_max when
 * privileged, SO_SNDBUF up to it otherwise. Small sizes keep the default. */
static int sndbuf(int fd)
{
    int have = 0;
    socklen_t hl = sizeof(have);
    return getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &have, &hl) < 0 ? -errno : have;
}

static int grow_sndbuf(int fd, size_t size, char *why, size_t whylen)
{
    size_t need = size + 1024;
    int have = sndbuf(fd);
    if (have < 0 || (size_t)have >= need)
        return have < 0 ? have : 0;
    int want = (int)need;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want)) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
    have = sndbuf(fd);
    if (have < 0)
        return have;
    if ((size_t)have < need) {
        snprintf(why, whylen, "message over the socket send buffer (%d B, net.core.wmem_max)",
                 have);
        return -EMSGSIZE;
    }
    return 0;
}

int unix_setup(struct chan *c, char *why, size_t whylen)
{
    struct unix_priv *s = malloc(sizeof(*s));
    if (!s)
        return -ENOMEM;
    *s = (struct unix_priv){{-1, -1}, -1, -1, 0};
    c->priv = s;
    if (socketpair(AF_UNIX, (int)c->mech->variant, 0, s->sv) < 0)
        return -errno;
    if (c->mech->variant != SOCK_SEQPACKET)
        return 0;
    for (int i = 0; i < 2; i++) {
        int rc = grow_sndbuf(s->sv[i], c->p.size, why, whylen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int unix_attach(struct chan *c, enum mech_role role, int index)
{
    (void)index;
    struct unix_priv *s = c->priv;
    int mine = role == ROLE_INITIATOR ? 0 : 1;
    s->fd = s->sv[mine];
    s->sv[mine] = -1;
    fd_close(&s->sv[1 - mine]);
    return 0;
}

/* Whole-buffer I/O serves both types: a seqpacket read returns one record,
 * so a full-size message takes exactly one call either way. */
static int unix_send(struct chan *c, void *buf, size_t len)
{
    struct unix_priv *s = c->priv;
    return fd_write_full(s->fd, buf, len);
}

static ssize_t unix_recv(struct chan *c, void *buf, size_t len)
{
    struct unix_priv *s = c->priv;
    return fd_read_full(s->fd, buf, len);
}

static int unix_ping(struct chan *c, void *buf, size_t len)
{
    int rc = unix_send(c, buf, len);
    if (rc < 0)
        return rc;
    ssize_t n = unix_recv(c, buf, len);
    return n < 0 ? (int)n : 0;
}

static int unix_pong(struct chan *c, void *buf, size_t len)
{
    ssize_t n = unix_recv(c, buf, len);
    if (n < 0)
        return (int)n;
    return unix_send(c, buf, len);
}

void unix_detach(struct chan *c)
{
    struct unix_priv *s = c->priv;
    fd_close(&s->fd);
}

const struct mech mech_unix_stream = {
    .name = "unix-stream",
    .about = "Unix domain SOCK_STREAM socketpair",
    .variant = SOCK_STREAM,
    .fanin = FANIN_NO,
    .kernel = true,
    .setup = unix_setup,
    .attach = unix_attach,
    .ping = unix_ping,
    .pong = unix_pong,
    .send = unix_send,
    .recv = unix_recv,
    .detach = unix_detach,
    .teardown = unix_teardown,
};

const struct mech mech_unix_seqpacket = {
    .name = "unix-seqpacket",
    .about = "Unix domain SOCK_SEQPACKET socketpair (message boundaries kept)",
    .variant = SOCK_SEQPACKET,
    .fanin = FANIN_NO,
    .kernel = true,
    .setup = unix_setup,
    .attach = unix_attach,
    .ping = unix_ping,
    .pong = unix_pong,
    .send = unix_send,
    .recv = unix_recv,
    .detach = unix_detach,
    .teardown = unix_teardown,
};
