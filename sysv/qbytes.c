/* msg_qbytes below the mailbox's own bound: mbx counts messages, not
 * bytes, so a lowered byte limit is kept here, by looking at the queued
 * bytes before each send and sleeping (1 ms at a time) while they are too
 * many. The look and the send are not one step: senders racing may go
 * past the limit by their messages. A queue whose msg_qbytes was never
 * lowered pays one load. Signals are blocked while it looks and let in
 * only by ppoll's sleep, so a handler that runs at any moment of the wait
 * ends it with -EINTR (with a plain sleep, one that ran while it looked
 * would be missed and the wait go on). */
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "internal.h"

static int fits(struct sysv_q *q, size_t len, int *ok)
{
    uint64_t qbytes = atomic_load((_Atomic uint64_t *)&q->meta->qbytes);
    if (qbytes >= SYSV_MSGMNB) {
        *ok = 1;
        return 0;
    }
    if (atomic_load((_Atomic uint32_t *)&q->meta->removed))
        return -EIDRM;
    mbx_stat st;
    int rc = mbx_stat_get(q->m, &st);
    if (rc < 0)
        return rc;
    /* As the kernel: room for the bytes, and at most qbytes messages. */
    *ok = st.bytes + len <= qbytes && st.count + 1 <= qbytes;
    return 0;
}

int sysv_room_wait(struct sysv_q *q, size_t len, int nowait)
{
    int ok = 0;
    int rc = fits(q, len, &ok);
    if (rc < 0 || ok)
        return rc;
    if (nowait)
        return -EAGAIN;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (;;) {
        rc = fits(q, len, &ok);
        if (rc < 0 || ok)
            break;
        struct timespec ms = {0, 1000000};
        if (ppoll(NULL, 0, &ms, &old) < 0 && errno == EINTR) {
            rc = -EINTR; /* a signal handler ran */
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
