/* msgrcv: System V's msgtyp as an mbx selection; the type and the text go
 * straight into the caller's struct (long mtype, then mtext).
 *
 * A System V type is 1..LONG_MAX (INT64_MAX with 64-bit longs); mbx's
 * are 64 bits, and a message put into the mailbox with mbx itself may
 * carry 0 or one above INT64_MAX, which no System V program can be given
 * (it would read mtype 0 or a negative one, which the kernel never
 * returns). Every selection that could take such a message carries
 * MBX_SEL_SYSV: the mailbox passes over it, leaving it queued in its
 * place for mbx's own receivers, and a blocking msgrcv waits as if it
 * were not there. */
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

#include "internal.h"
#include "mbx-sysv.h"

/* msgtyp and MSG_EXCEPT as MBX_SEL_* and a type. MBX_SEL_EQ needs no
 * MBX_SEL_SYSV: msgtyp > 0 is a type System V can hold. */
static int selection(long msgtyp, int msgflg, uint64_t *type)
{
    if (msgtyp == 0) {
        *type = 0;
        return MBX_SEL_ANY | MBX_SEL_SYSV;
    }
    if (msgtyp < 0) {
        /* -LONG_MIN does not exist; every type is <= LONG_MAX. */
        *type = msgtyp == LONG_MIN ? (uint64_t)LONG_MAX : (uint64_t)-msgtyp;
        return MBX_SEL_LE | MBX_SEL_SYSV;
    }
    *type = (uint64_t)msgtyp;
    return (msgflg & MSG_EXCEPT) ? MBX_SEL_NE | MBX_SEL_SYSV : MBX_SEL_EQ;
}

static void note_recv(struct sysv_traffic *m)
{
    _Atomic int32_t *pid = (_Atomic int32_t *)&m->lrpid;
    _Atomic int64_t *t = (_Atomic int64_t *)&m->rtime;
    int32_t me = sysv_pid();
    int64_t now = sysv_now();
    if (atomic_load_explicit(pid, memory_order_relaxed) != me)
        atomic_store_explicit(pid, me, memory_order_relaxed);
    if (atomic_load_explicit(t, memory_order_relaxed) != now)
        atomic_store_explicit(t, now, memory_order_relaxed);
}

/* mbx_recv_select, waiting (unless nowait) in slices between which it
 * looks at the removal mark: a queue removed by a user who could not
 * remove its mailbox wakes nobody (sysv_queue_remove). Returns what
 * mbx_recv_select returns, or -EIDRM. */
static ssize_t recv_waiting(struct sysv_q *q, int how, uint64_t type, void *buf, size_t cap,
                            mbx_msginfo *info, uint64_t *got, int nowait)
{
    for (;;) {
        ssize_t n = mbx_recv_select(q->m, how, type, buf, cap, info, got,
                                    nowait ? MBX_NONBLOCK : SYSV_WAIT_SLICE_NS);
        if (n != -ETIMEDOUT || nowait)
            return n;
        if (sysv_is_removed(q))
            return -EIDRM;
    }
}

/* MSG_NOERROR with a message longer than msgsz: takes the selected message
 * whole into a buffer of its size and keeps msgsz bytes. Another receiver
 * may take that message first; then the next selected one is taken, as if
 * this call had come later. Returns the bytes stored or a negative errno. */
static ssize_t recv_truncating(struct sysv_q *q, int how, uint64_t type, char *text, size_t msgsz,
                               uint64_t *got, int nowait, size_t need, size_t *taken)
{
    for (;;) {
        char *big = malloc(need ? need : 1);
        if (!big)
            return -ENOMEM;
        mbx_msginfo info;
        ssize_t n = recv_waiting(q, how, type, big, need, &info, got, nowait);
        if (n >= 0) {
            size_t keep = (size_t)n < msgsz ? (size_t)n : msgsz;
            *taken = (size_t)n;
            memcpy(text, big, keep);
            free(big);
            return (ssize_t)keep;
        }
        free(big);
        if (n != -EMSGSIZE || info.size <= need || info.size > SYSV_MSGMAX)
            return n == -EMSGSIZE ? -EUCLEAN : n;
        need = (size_t)info.size; /* a longer one came first meanwhile */
    }
}

/* See mbx-sysv.h. */
EXPORT ssize_t msgrcv(int msqid, void *msgp, size_t msgsz, long msgtyp, int msgflg)
{
    if (msqid < 0 || (long)msgsz < 0)
        return sysv_fail(-EINVAL);
    if (msgflg & MSG_COPY)
        return sysv_fail(-EINVAL); /* Linux's checkpoint peek: not supported */
    struct sysv_q *q;
    int rc = sysv_get(msqid, &q);
    if (rc < 0)
        return sysv_fail(rc);
    if (!sysv_perm_ok(q->meta, 4)) {
        sysv_put(q);
        return sysv_fail(-EACCES);
    }
    /* No buffer: as the kernel, the call waits or fails as any other
     * (EINVAL, EACCES, ENOMSG, EIDRM, EINTR, E2BIG) and a message it takes
     * has nowhere to go: EFAULT, and the message is lost. It is taken
     * into a scratch buffer (messages are at most SYSV_MSGMAX bytes). */
    char *scratch = NULL;
    if (!msgp) {
        if (msgsz > SYSV_MSGMAX)
            msgsz = SYSV_MSGMAX;
        scratch = malloc(sizeof(long) + msgsz);
        if (!scratch) {
            sysv_put(q);
            return sysv_fail(-ENOMEM);
        }
        msgp = scratch;
    }
    uint64_t type, got = 0;
    int how = selection(msgtyp, msgflg, &type);
    int nowait = (msgflg & IPC_NOWAIT) != 0;
    char *text = (char *)msgp + sizeof(long);
    mbx_msginfo info;
    ssize_t n = recv_waiting(q, how, type, text, msgsz, &info, &got, nowait);
    size_t taken = n > 0 ? (size_t)n : 0;
    if (n == -EMSGSIZE) {
        if (!(msgflg & MSG_NOERROR))
            n = -E2BIG; /* it stays queued */
        else if (info.size > SYSV_MSGMAX)
            n = -EUCLEAN;
        else
            n = recv_truncating(q, how, type, text, msgsz, &got, nowait, (size_t)info.size, &taken);
    }
    if (n >= 0) {
        long mtype = (long)got;
        memcpy(msgp, &mtype, sizeof(mtype));
        sysv_count_received(q->traffic, taken);
        note_recv(q->traffic);
    } else if (n == -EIDRM) {
        sysv_forget(q);
    }
    sysv_put(q);
    if (scratch) {
        free(scratch);
        if (n >= 0)
            n = -EFAULT;
    }
    if (n == -EAGAIN)
        n = -ENOMSG;
    if (n == -EUCLEAN || n == -EBADF)
        n = -EIDRM; /* the mailbox is unusable: as good as removed */
    return n < 0 ? sysv_fail((int)n) : n;
}
