/* msgsnd: the text after the long mtype becomes one mbx message tagged
 * with the type, at priority 0, so the queue stays in send order. */
#include <stdatomic.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

#include "internal.h"
#include "mbx-sysv.h"

/* Records this process as the last sender, writing only what changed so
 * that a stream of messages does not keep taking the line from readers. */
static void note_send(struct sysv_traffic *m)
{
    _Atomic int32_t *pid = (_Atomic int32_t *)&m->lspid;
    _Atomic int64_t *t = (_Atomic int64_t *)&m->stime;
    int32_t me = sysv_pid();
    int64_t now = sysv_now();
    if (atomic_load_explicit(pid, memory_order_relaxed) != me)
        atomic_store_explicit(pid, me, memory_order_relaxed);
    if (atomic_load_explicit(t, memory_order_relaxed) != now)
        atomic_store_explicit(t, now, memory_order_relaxed);
}

/* mbx_send_typed, waiting (unless nowait) for room in slices between
 * which it looks at the removal mark, as msgrcv's wait does. Returns what
 * mbx_send_typed returns, or -EIDRM. */
static int send_waiting(struct sysv_q *q, const void *text, size_t len, uint64_t type, int nowait)
{
    for (;;) {
        int rc =
            mbx_send_typed(q->m, text, len, 0, type, nowait ? MBX_NONBLOCK : SYSV_WAIT_SLICE_NS);
        if (rc != -ETIMEDOUT || nowait)
            return rc;
        if (sysv_is_removed(q))
            return -EIDRM;
    }
}

/* See mbx-sysv.h. */
EXPORT int msgsnd(int msqid, const void *msgp, size_t msgsz, int msgflg)
{
    if (!msgp)
        return sysv_fail(-EFAULT);
    if (msqid < 0 || msgsz > SYSV_MSGMAX)
        return sysv_fail(-EINVAL);
    long mtype;
    memcpy(&mtype, msgp, sizeof(mtype));
    if (mtype < 1)
        return sysv_fail(-EINVAL);
    struct sysv_q *q;
    int rc = sysv_get(msqid, &q);
    if (rc < 0)
        return sysv_fail(rc);
    int nowait = (msgflg & IPC_NOWAIT) != 0;
    if (!sysv_perm_ok(q->meta, 2))
        rc = -EACCES;
    else
        rc = sysv_room_wait(q, msgsz, nowait);
    if (rc == 0)
        rc = send_waiting(q, (const char *)msgp + sizeof(long), msgsz, (uint64_t)mtype, nowait);
    if (rc == 0) {
        sysv_count_sent(q->traffic, msgsz);
        note_send(q->traffic);
    } else if (rc == -EIDRM)
        sysv_forget(q);
    sysv_put(q);
    if (rc == -EUCLEAN || rc == -EBADF)
        rc = -EIDRM; /* the mailbox is unusable: as good as removed */
    return rc < 0 ? sysv_fail(rc) : 0;
}
