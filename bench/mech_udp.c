/* UDP over loopback, as a program would use it without mbx: the parent
 * binds the receiving socket to an ephemeral port, the responder reads it,
 * the initiator sends to it on a connected socket. One way only, and what
 * the receiving socket's buffer cannot hold is lost (mech.lossy): the
 * buffer asked for is the one mbx's UDP gateway asks for (8 MiB, which the
 * kernel caps at net.core.rmem_max), so the two rows lose alike. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "fdio.h"
#include "mech.h"

#define UDP_PAYLOAD_MAX 65507 /* 65535 - IPv4 and UDP headers */

struct udp_priv {
    int rx;
    struct sockaddr_in addr;
    int fd;
};

static void udp_teardown(struct chan *c)
{
    struct udp_priv *s = c->priv;
    if (!s)
        return;
    fd_close(&s->rx);
    free(s);
    c->priv = NULL;
}

static int udp_setup(struct chan *c, char *why, size_t whylen)
{
    if (c->p.size > UDP_PAYLOAD_MAX) {
        snprintf(why, whylen, "a UDP datagram carries at most %d bytes", UDP_PAYLOAD_MAX);
        return -EMSGSIZE;
    }
    struct udp_priv *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->fd = -1;
    c->priv = s;
    s->rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s->rx < 0)
        return -errno;
    int sz = 8 << 20;
    setsockopt(s->rx, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    s->addr.sin_family = AF_INET;
    s->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(s->addr);
    if (bind(s->rx, (struct sockaddr *)&s->addr, len) < 0 ||
        getsockname(s->rx, (struct sockaddr *)&s->addr, &len) < 0)
        return -errno;
    return 0;
}

static int udp_attach(struct chan *c, enum mech_role role, int index)
{
    (void)index;
    struct udp_priv *s = c->priv;
    if (role == ROLE_RESPONDER) {
        s->fd = s->rx;
        s->rx = -1;
        return 0;
    }
    fd_close(&s->rx);
    s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return -errno;
    if (connect(s->fd, (struct sockaddr *)&s->addr, sizeof(s->addr)) < 0)
        return -errno;
    return 0;
}

static void udp_detach(struct chan *c)
{
    struct udp_priv *s = c->priv;
    fd_close(&s->fd);
}

static int udp_send(struct chan *c, void *buf, size_t len)
{
    struct udp_priv *s = c->priv;
    for (;;) {
        ssize_t n = send(s->fd, buf, len, 0);
        if (n == (ssize_t)len)
            return 0;
        /* ENOBUFS, and an ICMP error of an earlier datagram: the datagram
         * is lost, as UDP loses. */
        if (n < 0 && (errno == ENOBUFS || errno == ECONNREFUSED))
            return 0;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

static ssize_t udp_recv(struct chan *c, void *buf, size_t len)
{
    struct udp_priv *s = c->priv;
    for (;;) {
        ssize_t n = recv(s->fd, buf, len, 0);
        if (n >= 0)
            return (size_t)n == len ? n : -EPROTO;
        if (errno != EINTR)
            return -errno;
    }
}

/* Never called: a lossy row measures no round trip. */
static int udp_no_rtt(struct chan *c, void *buf, size_t len)
{
    (void)c, (void)buf, (void)len;
    return -ENOTSUP;
}

const struct mech mech_udp = {
    .name = "udp",
    .about = "UDP datagrams over loopback, one way (no round trip): connected sender, "
             "blocking receiver; what the receiving buffer cannot hold is lost and counted",
    .fanin = FANIN_NO,
    .kernel = true,
    .quick_64b_only = true,
    .lossy = true,
    .setup = udp_setup,
    .attach = udp_attach,
    .ping = udp_no_rtt,
    .pong = udp_no_rtt,
    .send = udp_send,
    .recv = udp_recv,
    .detach = udp_detach,
    .teardown = udp_teardown,
};
