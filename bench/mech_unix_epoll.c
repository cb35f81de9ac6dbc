/* A Unix SOCK_SEQPACKET socketpair in an event loop: non-blocking ends, and
 * both sides wait in epoll_wait (for EPOLLIN to receive, EPOLLOUT when a
 * send found no room): the kernel's counterpart of the mbx (epoll) row. */
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdio.h"
#include "mech_unix.h"

static int ue_attach(struct chan *c, enum mech_role role, int index)
{
    struct unix_priv *s = c->priv;
    int rc = unix_attach(c, role, index);
    if (rc < 0)
        return rc;
    int fl = fcntl(s->fd, F_GETFL);
    if (fl < 0 || fcntl(s->fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    s->ep = epoll_create1(EPOLL_CLOEXEC);
    if (s->ep < 0)
        return -errno;
    s->ep_events = EPOLLIN;
    struct epoll_event ev = {.events = EPOLLIN};
    return epoll_ctl(s->ep, EPOLL_CTL_ADD, s->fd, &ev) < 0 ? -errno : 0;
}

static void ue_detach(struct chan *c)
{
    struct unix_priv *s = c->priv;
    fd_close(&s->ep);
    unix_detach(c);
}

/* Sleeps in epoll_wait until the socket is ready for `events` (changing
 * what the set waits for only when it differs from last time). */
static int wait_for(struct unix_priv *s, uint32_t events)
{
    if (s->ep_events != events) {
        struct epoll_event ev = {.events = events};
        if (epoll_ctl(s->ep, EPOLL_CTL_MOD, s->fd, &ev) < 0)
            return -errno;
        s->ep_events = events;
    }
    struct epoll_event ev;
    while (epoll_wait(s->ep, &ev, 1, -1) < 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

/* One record per call: a seqpacket message is sent and read whole. */
static int ue_send(struct chan *c, void *buf, size_t len)
{
    struct unix_priv *s = c->priv;
    for (;;) {
        ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return (size_t)n == len ? 0 : -EPROTO;
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        if (errno == EAGAIN) {
            int rc = wait_for(s, EPOLLOUT);
            if (rc < 0)
                return rc;
        }
    }
}

static ssize_t ue_recv(struct chan *c, void *buf, size_t len)
{
    struct unix_priv *s = c->priv;
    for (;;) {
        ssize_t n = read(s->fd, buf, len);
        if (n > 0)
            return (size_t)n == len ? n : -EPROTO;
        if (n == 0)
            return -EPIPE;
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        if (errno == EAGAIN) {
            int rc = wait_for(s, EPOLLIN);
            if (rc < 0)
                return rc;
        }
    }
}

static int ue_ping(struct chan *c, void *buf, size_t len)
{
    int rc = ue_send(c, buf, len);
    if (rc < 0)
        return rc;
    ssize_t n = ue_recv(c, buf, len);
    return n < 0 ? (int)n : 0;
}

static int ue_pong(struct chan *c, void *buf, size_t len)
{
    ssize_t n = ue_recv(c, buf, len);
    if (n < 0)
        return (int)n;
    return ue_send(c, buf, len);
}

const struct mech mech_unix_seqpacket_epoll = {
    .name = "unix-seqpacket-epoll",
    .label = "unix-seqpacket (epoll)",
    .about = "the seqpacket socketpair, non-blocking, both sides waiting in epoll_wait",
    .variant = SOCK_SEQPACKET,
    .fanin = FANIN_NO,
    .kernel = true,
    .setup = unix_setup,
    .attach = ue_attach,
    .ping = ue_ping,
    .pong = ue_pong,
    .send = ue_send,
    .recv = ue_recv,
    .detach = ue_detach,
    .teardown = unix_teardown,
};
