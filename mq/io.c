/* mq_send, mq_receive and their timed forms. */
#include "mq_internal.h"

#include <fcntl.h>

/* mbx's answers as mq_* errnos: a mailbox removed under the queue (mbx rm,
 * not mq_unlink) makes the descriptor useless, as a closed one. */
static int errno_of(int r)
{
    return r == -EIDRM ? EBADF : -r;
}

/* The longest wait asked of mbx at once. A handler that runs while mbx
 * spins, or between two of its sleeps, does not cut a sleep short; the
 * shim counts it (signals.c) and sees the count move when the wait
 * returns: after this long at most, the call ends with EINTR. */
#define MQ_CHUNK_NS (50LL * 1000000)

/* The wait to ask of mbx: until abs (NULL: no limit), at most a chunk. 0
 * when abs has passed. */
/* After mbx said -EINTR and the count of handlers did not move: a handler
 * the shim fronts had SA_RESTART (it would have counted otherwise), so the
 * call goes on; without interposition, the old rule guesses. */
static int mq_restart_unseen(void)
{
    return MQ_INTERPOSED || mq_restart_after_eintr();
}

static int64_t chunk(const struct timespec *abs)
{
    int64_t t = abs ? mq_abs_to_rel(abs) : MQ_CHUNK_NS;
    return t < MQ_CHUNK_NS ? t : MQ_CHUNK_NS;
}

/* Sends, waiting per the descriptor's O_NONBLOCK and abs (NULL: no limit).
 * Returns 0 or -1 with errno: EBADF (not an mqd_t, not open for writing),
 * EMSGSIZE (len > mq_msgsize), EINVAL (prio >= MQ_PRIO_MAX, bad abs),
 * EFAULT (msg NULL, len > 0),
 * EAGAIN (full, O_NONBLOCK), ETIMEDOUT, EINTR (a handler without
 * SA_RESTART ran), ENOSPC. */
static int send_on(struct mq_desc *d, const char *msg, size_t len, unsigned prio,
                   const struct timespec *abs, unsigned handled);

static int send_until(mqd_t q, const char *msg, size_t len, unsigned prio,
                      const struct timespec *abs)
{
    unsigned handled = mq_interrupts();
    /* In the kernel's order: the timeout and the priority, then the
     * descriptor, the size, the buffer. */
    if (abs && !mq_abs_valid(abs))
        return mq_fail(EINVAL);
    if (prio >= MQ_PRIO_MAX)
        return mq_fail(EINVAL);
    struct mq_desc *d = mq_lookup(q);
    if (!d)
        return -1;
    /* d stays until the call ends, whatever closes q meanwhile */
    int r = send_on(d, msg, len, prio, abs, handled);
    mq_put(d);
    return r;
}

static int send_on(struct mq_desc *d, const char *msg, size_t len, unsigned prio,
                   const struct timespec *abs, unsigned handled)
{
    if (d->accmode == O_RDONLY)
        return mq_fail(EBADF);
    if (len > d->msgsize)
        return mq_fail(EMSGSIZE);
    if (!msg && len > 0)
        return mq_fail(EFAULT);
    if (!msg)
        msg = ""; /* an empty message: nothing to copy, mbx wants a buffer */
    for (;;) {
        int nb = atomic_load(&d->fl->flags) & O_NONBLOCK;
        int64_t t = nb ? MBX_NONBLOCK : chunk(abs);
        struct mq_presend pre;
        mq_notify_before_send(d, &pre);
        int r = mbx_send(d->h, msg, len, prio, t);
        if (r == 0) {
            mq_ready_changed(d);
            mq_notify_after_send(d, &pre);
            return 0;
        }
        if (r == -EAGAIN && !nb)
            r = -ETIMEDOUT; /* abs had passed */
        if ((r == -ETIMEDOUT || r == -EINTR) && mq_interrupts() != handled)
            return mq_fail(EINTR); /* a handler ran meanwhile */
        if (r == -ETIMEDOUT && (!abs || mq_abs_to_rel(abs) > 0))
            continue; /* a chunk ended, or the realtime clock went back */
        if (r == -EINTR && mq_restart_unseen())
            continue;
        return mq_fail(errno_of(r));
    }
}

/* Receives the oldest message of the highest priority into msg. Returns
 * its size (its priority in *prio when not NULL), or -1 with errno: EBADF
 * (not an mqd_t, not open for reading), EMSGSIZE (len < mq_msgsize),
 * EINVAL (bad abs), EFAULT (msg NULL), EAGAIN (empty, O_NONBLOCK),
 * ETIMEDOUT, EINTR. */
static ssize_t recv_on(struct mq_desc *d, char *msg, size_t len, unsigned *prio,
                       const struct timespec *abs, unsigned handled);

static ssize_t recv_until(mqd_t q, char *msg, size_t len, unsigned *prio,
                          const struct timespec *abs)
{
    unsigned handled = mq_interrupts();
    /* In the kernel's order: the timeout, the descriptor, the size. */
    if (abs && !mq_abs_valid(abs))
        return mq_fail(EINVAL);
    struct mq_desc *d = mq_lookup(q);
    if (!d)
        return -1;
    /* As in Linux, a close of q meanwhile does not end the wait: d stays
     * until the call ends. */
    ssize_t n = recv_on(d, msg, len, prio, abs, handled);
    mq_put(d);
    return n;
}

static ssize_t recv_on(struct mq_desc *d, char *msg, size_t len, unsigned *prio,
                       const struct timespec *abs, unsigned handled)
{
    if (d->accmode == O_WRONLY)
        return mq_fail(EBADF);
    if (len < d->msgsize)
        return mq_fail(EMSGSIZE);
    /* The kernel takes a message, then fails to copy it out with EFAULT
     * (the message is lost); here nothing is taken. */
    if (!msg)
        return mq_fail(EFAULT);
    mbx_msginfo info;
    /* A message there is taken without counting as a blocked receiver. */
    ssize_t n = mbx_recv(d->h, msg, len, &info, MBX_NONBLOCK);
    struct mq_blocker *b = NULL;
    int counted = 0;
    while (n == -EAGAIN && !(atomic_load(&d->fl->flags) & O_NONBLOCK)) {
        int64_t t = chunk(abs);
        if (t == 0) {
            n = -ETIMEDOUT;
            break;
        }
        /* Counted (once for all chunks), so that a send meanwhile raises
         * no notification. */
        if (!counted) {
            b = mq_blocked_enter(d->side);
            counted = 1;
        }
        n = mbx_recv(d->h, msg, len, &info, t);
        if ((n == -ETIMEDOUT || n == -EINTR) && mq_interrupts() != handled)
            n = -EINTR; /* a handler ran meanwhile */
        else if (n == -ETIMEDOUT && (!abs || mq_abs_to_rel(abs) > 0))
            n = -EAGAIN; /* a chunk ended, or the realtime clock went back */
        else if (n == -EINTR && mq_restart_unseen())
            n = -EAGAIN;
    }
    if (counted)
        mq_blocked_leave(d->side, b);
    if (n < 0)
        return mq_fail(errno_of((int)n));
    mq_ready_changed(d);
    if (prio)
        *prio = info.priority;
    return n;
}

/* mq_send(3): returns 0, or -1 with errno as send_until says. */
MQ_API int mbxmq_send(mqd_t q, const char *msg, size_t len, unsigned prio)
{
    return send_until(q, msg, len, prio, NULL);
}

/* mq_timedsend(3): as mq_send, giving up with ETIMEDOUT at abs
 * (CLOCK_REALTIME; NULL waits without limit, as Linux does). Returns 0 or -1 with errno. */
MQ_API int mbxmq_timedsend(mqd_t q, const char *msg, size_t len, unsigned prio,
                           const struct timespec *abs)
{
    return send_until(q, msg, len, prio, abs);
}

/* mq_receive(3): returns the message's size, or -1 with errno as
 * recv_until says. */
MQ_API ssize_t mbxmq_receive(mqd_t q, char *msg, size_t len, unsigned *prio)
{
    return recv_until(q, msg, len, prio, NULL);
}

/* mq_timedreceive(3): as mq_receive, giving up with ETIMEDOUT at abs
 * (CLOCK_REALTIME; NULL waits without limit). Returns the size or -1 with errno. */
MQ_API ssize_t mbxmq_timedreceive(mqd_t q, char *msg, size_t len, unsigned *prio,
                                  const struct timespec *abs)
{
    return recv_until(q, msg, len, prio, abs);
}
