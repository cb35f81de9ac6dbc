/* mbx in an event loop: both sides wait in epoll_wait on mbx_fd(m, MBX_RECV)
 * (a sender that finds no room, on mbx_fd(m, MBX_SEND)), and every mbx call
 * is MBX_NONBLOCK: receive until -EAGAIN, then wait in epoll. mbx itself
 * never spins or sleeps here, so the row shows what a program whose loop
 * sleeps in epoll pays per message. Not in fan-in: a mailbox takes at most
 * 16 pollers. */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "mech_mbx.h"

/* A new epoll set watching mbx_fd(m, dir) for reading; stores it in *ep. */
static int watch(mbx *m, int dir, int *ep)
{
    int fd = mbx_fd(m, dir);
    if (fd < 0)
        return fd;
    int e = epoll_create1(EPOLL_CLOEXEC);
    if (e < 0)
        return -errno;
    struct epoll_event ev = {.events = EPOLLIN};
    if (epoll_ctl(e, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int err = -errno;
        close(e);
        return err;
    }
    *ep = e;
    return 0;
}

/* Sleeps in epoll_wait until the set's descriptor is readable. */
static int wait_in(int ep)
{
    struct epoll_event ev;
    while (epoll_wait(ep, &ev, 1, -1) < 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

static int mbxe_attach(struct chan *c, enum mech_role role, int index)
{
    struct mbxb_priv *s = c->priv;
    s->ep_recv = s->ep_send = -1;
    int rc = mbxb_attach(c, role, index);
    if (rc == 0 && s->in)
        rc = watch(s->in, MBX_RECV, &s->ep_recv);
    return rc;
}

static void mbxe_detach(struct chan *c)
{
    struct mbxb_priv *s = c->priv;
    if (s->ep_recv >= 0)
        close(s->ep_recv);
    if (s->ep_send >= 0)
        close(s->ep_send);
    s->ep_recv = s->ep_send = -1;
    mbxb_detach(c);
}

static int mbxe_send(struct chan *c, void *buf, size_t len)
{
    struct mbxb_priv *s = c->priv;
    for (;;) {
        int rc = mbx_send(s->out, buf, len, 0, MBX_NONBLOCK);
        if (rc != -EAGAIN)
            return rc;
        if (s->ep_send < 0 && (rc = watch(s->out, MBX_SEND, &s->ep_send)) < 0)
            return rc;
        if ((rc = wait_in(s->ep_send)) < 0)
            return rc;
    }
}

static ssize_t mbxe_recv(struct chan *c, void *buf, size_t len)
{
    struct mbxb_priv *s = c->priv;
    for (;;) {
        ssize_t n = mbx_recv(s->in, buf, len, NULL, MBX_NONBLOCK);
        if (n != -EAGAIN)
            return n < 0 || (size_t)n == len ? n : -EPROTO;
        int rc = wait_in(s->ep_recv);
        if (rc < 0)
            return rc;
    }
}

static int mbxe_ping(struct chan *c, void *buf, size_t len)
{
    int rc = mbxe_send(c, buf, len);
    if (rc < 0)
        return rc;
    ssize_t n = mbxe_recv(c, buf, len);
    return n < 0 ? (int)n : 0;
}

static int mbxe_pong(struct chan *c, void *buf, size_t len)
{
    ssize_t n = mbxe_recv(c, buf, len);
    if (n < 0)
        return (int)n;
    return mbxe_send(c, buf, len);
}

const struct mech mech_mbx_epoll = {
    .name = "mbx-epoll",
    .label = "mbx (epoll)",
    .about = "mbx_send/mbx_recv with MBX_NONBLOCK, both sides waiting in epoll_wait on mbx_fd",
    .variant = MBXB_SPIN_DEFAULT,
    .fanin = FANIN_NO,
    .kernel = false,
    .setup = mbxb_setup,
    .attach = mbxe_attach,
    .ping = mbxe_ping,
    .pong = mbxe_pong,
    .send = mbxe_send,
    .recv = mbxe_recv,
    .detach = mbxe_detach,
    .teardown = mbxb_teardown,
};
