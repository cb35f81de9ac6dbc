/* TCP over loopback with TCP_NODELAY, as a client/server pair would use it:
 * the parent listens on an ephemeral port, the responder accepts, the
 * initiator connects. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "fdio.h"
#include "mech.h"

struct tcp_priv {
    int listener;
    struct sockaddr_in addr;
    int fd;
};

static void tcp_teardown(struct chan *c)
{
    struct tcp_priv *s = c->priv;
    if (!s)
        return;
    fd_close(&s->listener);
    free(s);
    c->priv = NULL;
}

static int tcp_setup(struct chan *c, char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    struct tcp_priv *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->fd = -1;
    c->priv = s;
    s->listener = socket(AF_INET, SOCK_STREAM, 0);
    if (s->listener < 0)
        return -errno;
    s->addr.sin_family = AF_INET;
    s->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(s->addr);
    if (bind(s->listener, (struct sockaddr *)&s->addr, len) < 0 || listen(s->listener, 16) < 0 ||
        getsockname(s->listener, (struct sockaddr *)&s->addr, &len) < 0)
        return -errno;
    return 0;
}

static int tcp_attach(struct chan *c, enum mech_role role, int index)
{
    (void)index;
    struct tcp_priv *s = c->priv;
    if (role == ROLE_RESPONDER) {
        s->fd = accept(s->listener, NULL, NULL);
    } else {
        s->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (s->fd >= 0 && connect(s->fd, (struct sockaddr *)&s->addr, sizeof(s->addr)) < 0)
            fd_close(&s->fd);
    }
    int err = errno;
    fd_close(&s->listener);
    if (s->fd < 0)
        return -err;
    int one = 1;
    if (setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        return -errno;
    return 0;
}

static int tcp_send(struct chan *c, void *buf, size_t len)
{
    struct tcp_priv *s = c->priv;
    return fd_write_full(s->fd, buf, len);
}

static ssize_t tcp_recv(struct chan *c, void *buf, size_t len)
{
    struct tcp_priv *s = c->priv;
    return fd_read_full(s->fd, buf, len);
}

static int tcp_ping(struct chan *c, void *buf, size_t len)
{
    int rc = tcp_send(c, buf, len);
    if (rc < 0)
        return rc;
    ssize_t n = tcp_recv(c, buf, len);
    return n < 0 ? (int)n : 0;
}

static int tcp_pong(struct chan *c, void *buf, size_t len)
{
    ssize_t n = tcp_recv(c, buf, len);
    if (n < 0)
        return (int)n;
    return tcp_send(c, buf, len);
}

static void tcp_detach(struct chan *c)
{
    struct tcp_priv *s = c->priv;
    fd_close(&s->fd);
}

const struct mech mech_tcp = {
    .name = "tcp",
    .about = "TCP over 127.0.0.1 with TCP_NODELAY",
    .fanin = FANIN_NO,
    .kernel = true,
    .setup = tcp_setup,
    .attach = tcp_attach,
    .ping = tcp_ping,
    .pong = tcp_pong,
    .send = tcp_send,
    .recv = tcp_recv,
    .detach = tcp_detach,
    .teardown = tcp_teardown,
};
