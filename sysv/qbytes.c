/* msg_qbytes: mbx bounds a queue by messages (SYSV_CAPACITY), so a byte
 * limit set below SYSV_MSGMNB is kept here. The traffic file's counts
 * (cbytes, qnum) say cheaply whether a message fits; only when they say it
 * does not are the mailbox's exact counts asked (mbx_stat_get, a system
 * call), and a sender that must wait sleeps on the futex rx_seq, which
 * receives bump while someone waits. The look and the send are not one
 * step: senders racing may go past the limit by their messages.
 *
 * Signals: a handler that runs while the sender waits ends the wait with
 * -EINTR. The sender waits with signals blocked and looks for a pending
 * one every SIGNAL_NS; when one has a handler, it unblocks them (the
 * handler runs) and returns -EINTR. Waiting with signals open would miss a
 * handler that runs as a system call returns for another reason (the
 * futex's timeout, the unblocking itself); this way none is missed, at the
 * price of up to SIGNAL_NS before the call returns. A pending signal that
 * runs no handler (SIG_IGN, or SIG_DFL: ignored as SIGCHLD, or stopping,
 * or ending the process) does not end the wait, as in the kernel, which
 * restarts the call: the signals are let in for a moment, so that the
 * kernel drops it or takes its default action (a stopped sender goes on
 * waiting once continued), and the wait goes on. */
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define SIGNAL_NS 5000000 /* longest sleep between two looks for a signal */

static uint64_t limit_of(const struct sysv_meta *m)
{
    return atomic_load_explicit((_Atomic uint64_t *)&m->qbytes, memory_order_relaxed);
}

/* Whether the estimate says a message of len bytes fits. */
static int fits_estimate(const struct sysv_q *q, size_t len)
{
    uint64_t limit = limit_of(q->meta);
    if (limit >= SYSV_MSGMNB)
        return 1;
    const struct sysv_traffic *t = q->traffic;
    uint64_t bytes = atomic_load_explicit((_Atomic uint64_t *)&t->cbytes, memory_order_relaxed);
    uint32_t n = atomic_load_explicit((_Atomic uint32_t *)&t->qnum, memory_order_relaxed);
    /* As the kernel: room for the bytes, and at most qbytes messages. */
    return bytes <= limit && len <= limit - bytes && (uint64_t)n + 1 <= limit;
}

/* The same from the mailbox's exact counts. Returns 1, 0, or -errno. */
static int fits_exact(struct sysv_q *q, size_t len)
{
    if (atomic_load((_Atomic uint32_t *)&q->meta->removed))
        return -EIDRM;
    mbx_stat st;
    int rc = mbx_stat_get(q->m, &st);
    if (rc < 0)
        return rc;
    uint64_t limit = limit_of(q->meta);
    return st.bytes + len <= limit && (uint64_t)st.count + 1 <= limit;
}

/* Whether signal s has a handler (neither SIG_DFL nor SIG_IGN). */
static int has_handler(int s)
{
    struct sigaction sa;
    if (sigaction(s, NULL, &sa) < 0)
        return 1; /* cannot tell: end the wait as before */
    if (sa.sa_flags & SA_SIGINFO)
        return 1;
    return sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN;
}

/* The signals pending that this thread lets in: 1 when one of them has a
 * handler, -1 when some are pending but none has, 0 when none is. */
static int signal_pending(const sigset_t *open)
{
    sigset_t p;
    if (sigpending(&p) < 0)
        return 0;
    int any = 0;
    for (int s = 1; s < NSIG; s++)
        if (sigismember(&p, s) == 1 && sigismember(open, s) == 0) {
            if (has_handler(s))
                return 1;
            any = -1;
        }
    return any;
}

static int wait_rounds(struct sysv_q *q, size_t len, const sigset_t *old)
{
    _Atomic uint32_t *seq = (_Atomic uint32_t *)&q->traffic->rx_seq;
    for (;;) {
        uint32_t s = atomic_load(seq);
        int ok = fits_exact(q, len);
        if (ok != 0)
            return ok < 0 ? ok : 0;
        int sig = signal_pending(old);
        if (sig > 0)
            return -EINTR; /* its handler runs when the caller unblocks */
        if (sig < 0) {
            /* None runs a handler: let the kernel drop them or take their
             * default action, then wait on. */
            sigset_t all;
            sigfillset(&all);
            pthread_sigmask(SIG_SETMASK, old, NULL);
            pthread_sigmask(SIG_BLOCK, &all, NULL);
        }
        struct timespec ts = {0, SIGNAL_NS};
        syscall(SYS_futex, seq, FUTEX_WAIT, s, &ts, NULL, 0);
    }
}

int sysv_room_wait(struct sysv_q *q, size_t len, int nowait)
{
    if (fits_estimate(q, len))
        return 0;
    int ok = fits_exact(q, len);
    if (ok != 0)
        return ok < 0 ? ok : 0;
    if (nowait)
        return -EAGAIN;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    _Atomic uint32_t *waiters = (_Atomic uint32_t *)&q->traffic->room_waiters;
    atomic_fetch_add(waiters, 1);
    int rc = wait_rounds(q, len, &old);
    atomic_fetch_sub(waiters, 1);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

void sysv_count_sent(struct sysv_traffic *m, size_t len)
{
    atomic_fetch_add_explicit((_Atomic uint64_t *)&m->cbytes, len, memory_order_relaxed);
    atomic_fetch_add_explicit((_Atomic uint32_t *)&m->qnum, 1, memory_order_relaxed);
}

void sysv_count_received(struct sysv_traffic *m, size_t len)
{
    atomic_fetch_sub_explicit((_Atomic uint64_t *)&m->cbytes, len, memory_order_relaxed);
    atomic_fetch_sub_explicit((_Atomic uint32_t *)&m->qnum, 1, memory_order_relaxed);
    if (atomic_load((_Atomic uint32_t *)&m->room_waiters) == 0)
        return;
    atomic_fetch_add((_Atomic uint32_t *)&m->rx_seq, 1);
    syscall(SYS_futex, &m->rx_seq, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}
