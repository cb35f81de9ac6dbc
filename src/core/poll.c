/* mbx_fd and mbx_poll: waiting for mailboxes and descriptors together. */
#include "mbx.h"

#include "core/handle.h"
#include "platform/platform.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>

EXPORT int mbx_fd(mbx *m, int dir)
{
    if (!m || (dir != MBX_RECV && dir != MBX_SEND))
        return -EINVAL;
    if (!(m->flags & dir))
        return -EBADF;
    if (!m->tp->fd)
        return -ENOTSUP;
    return m->tp->fd(m, dir);
}

/* The mailbox directions an item asks about, as (event, open flag). */
static const struct {
    short ev;
    int dir;
} dirs[] = {{POLLIN, MBX_RECV}, {POLLOUT, MBX_SEND}};

/* Looks at the mailbox items in shared memory: sets their revents and
 * returns how many are ready, or -errno. A mailbox not ready is left
 * armed: its descriptor becomes readable at its next change. */
static int look(mbx_pollitem *items, size_t n)
{
    int ready = 0;
    for (size_t i = 0; i < n; i++) {
        mbx_pollitem *it = &items[i];
        if (!it->mbox)
            continue;
        it->revents = 0;
        for (size_t d = 0; d < 2; d++) {
            if (!(it->events & dirs[d].ev))
                continue;
            mbx *m = it->mbox;
            if (!(m->flags & dirs[d].dir) || !m->tp->ready) {
                it->revents |= POLLNVAL;
                continue;
            }
            int r = m->tp->ready(m, dirs[d].dir);
            if (r < 0)
                return r;
            if (r > 0)
                it->revents |= dirs[d].ev;
            if (r == 2)
                it->revents |= POLLHUP;
        }
        ready += it->revents != 0;
    }
    return ready;
}

/* Builds the pollfd array: each descriptor item, and the descriptor of
 * each mailbox direction asked for that is not ready (those that are need
 * no waiting); idx[k] is the item of entry k. Returns how many entries,
 * or -errno. */
static int gather(mbx_pollitem *items, size_t n, struct pollfd *p, size_t *idx)
{
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        mbx_pollitem *it = &items[i];
        if (!it->mbox) {
            idx[k] = i;
            p[k++] = (struct pollfd){.fd = it->fd, .events = it->events};
            continue;
        }
        if (it->revents)
            continue;
        for (size_t d = 0; d < 2; d++) {
            if (!(it->events & dirs[d].ev) || !(it->mbox->flags & dirs[d].dir))
                continue;
            int fd = mbx_fd(it->mbox, dirs[d].dir);
            if (fd < 0)
                return fd;
            idx[k] = i;
            p[k++] = (struct pollfd){.fd = fd, .events = POLLIN};
        }
    }
    return k;
}

/* Copies the descriptor items' revents back; returns how many are set. */
static int scatter(mbx_pollitem *items, const struct pollfd *p, const size_t *idx, int k)
{
    int ready = 0;
    for (int j = 0; j < k; j++) {
        mbx_pollitem *it = &items[idx[j]];
        if (it->mbox)
            continue;
        it->revents = p[j].revents;
        ready += it->revents != 0;
    }
    return ready;
}

EXPORT int mbx_poll(mbx_pollitem *items, size_t n, int64_t timeout_ns)
{
    if (n > 0 && !items)
        return -EINVAL;
    if (timeout_ns < MBX_FOREVER || n > (size_t)INT32_MAX / 2)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!items[i].mbox && items[i].fd < 0)
            return -EINVAL;
    struct pollfd *p = calloc(2 * n + 1, sizeof(*p));
    size_t *idx = calloc(2 * n + 1, sizeof(*idx));
    if (!p || !idx) {
        free(p);
        free(idx);
        return -ENOMEM;
    }
    int64_t deadline = clock_deadline(timeout_ns);
    int r;
    for (;;) {
        /* Arm first (look), then gather: a change after the look makes
         * the descriptor readable. */
        int mb = look(items, n);
        int k = mb < 0 ? mb : gather(items, n, p, idx);
        if ((r = k) < 0)
            break;
        int64_t left = mb > 0 ? 0 : clock_remaining(deadline);
        struct timespec ts = {left / 1000000000, left % 1000000000};
        int got = ppoll(p, (nfds_t)k, left < 0 ? NULL : &ts, NULL);
        if (got < 0) {
            r = -errno;
            break;
        }
        int fds = scatter(items, p, idx, k);
        /* Past the deadline it ends whatever woke it: a mailbox descriptor
         * that stays readable while the look finds nothing ready (a
         * datagram the poller sent itself) once kept it here, spinning,
         * past its timeout. */
        if (mb > 0 || fds > 0 || got == 0 || clock_remaining(deadline) == 0) {
            r = mb + fds;
            break;
        }
        /* Only mailbox descriptors woke us: look at them again (a change
         * may have been undone by another receiver meanwhile). */
    }
    free(p);
    free(idx);
    return r;
}
