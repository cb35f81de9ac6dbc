/* msgctl: the state and traffic files answer for what System V keeps
 * about a queue, the mailbox for what is queued. */
#include <stdatomic.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

#include "internal.h"
#include "mbx-sysv.h"

#define LOAD32(f) atomic_load_explicit((_Atomic uint32_t *)&(f), memory_order_relaxed)
#define LOAD64(f) atomic_load_explicit((_Atomic int64_t *)&(f), memory_order_relaxed)

static int stat_queue(struct sysv_q *q, struct msqid_ds *buf)
{
    if (!sysv_perm_ok(q->meta, 4))
        return -EACCES;
    if (!buf)
        return -EFAULT; /* as the kernel: after the id and the permission */
    mbx_stat st;
    int rc = mbx_stat_get(q->m, &st);
    if (rc < 0)
        return rc;
    const struct sysv_meta *m = q->meta;
    const struct sysv_traffic *t = q->traffic;
    struct msqid_ds ds;
    memset(&ds, 0, sizeof(ds));
    ds.msg_perm.__key = m->key;
    ds.msg_perm.uid = LOAD32(m->uid);
    ds.msg_perm.gid = LOAD32(m->gid);
    ds.msg_perm.cuid = m->cuid;
    ds.msg_perm.cgid = m->cgid;
    ds.msg_perm.mode = (unsigned short)(LOAD32(m->mode) & 0777);
    ds.msg_stime = (time_t)LOAD64(t->stime);
    ds.msg_rtime = (time_t)LOAD64(t->rtime);
    ds.msg_ctime = (time_t)LOAD64(m->ctime);
    ds.__msg_cbytes = st.bytes;
    ds.msg_qnum = st.count;
    /* A peer may have written any value: a program must never be handed
     * one its IPC_SET would then be refused (EPERM above SYSV_MSGMNB). */
    uint64_t qbytes = atomic_load((_Atomic uint64_t *)&m->qbytes);
    ds.msg_qbytes = (msglen_t)(qbytes > SYSV_MSGMNB ? SYSV_MSGMNB : qbytes);
    ds.msg_lspid = (pid_t)LOAD32(t->lspid);
    ds.msg_lrpid = (pid_t)LOAD32(t->lrpid);
    *buf = ds;
    return 0;
}

static int set_queue(struct sysv_q *q, const struct msqid_ds *buf)
{
    if (!sysv_is_owner(q->meta))
        return -EPERM;
    /* The mailbox's bound cannot grow after creation, even for root. */
    if (buf->msg_qbytes > SYSV_MSGMNB)
        return -EPERM;
    /* As the kernel: no such user or group. */
    if (buf->msg_perm.uid == (uid_t)-1 || buf->msg_perm.gid == (gid_t)-1)
        return -EINVAL;
    /* A new owner or group needs the files given (root) or ACL entries
     * (their owner) to get in: another owner can do neither, and named
     * one who then had no way in (found by a review). */
    if ((buf->msg_perm.uid != LOAD32(q->meta->uid) || buf->msg_perm.gid != LOAD32(q->meta->gid)) &&
        !sysv_files_owner(q->id))
        return -EPERM;
    /* Written through a mapping of its own: the state file lets only the
     * owner's side write (the files' owner, the System V owner and
     * creator through ACL entries, root). */
    struct sysv_meta *m;
    int rc = sysv_meta_map(q->id, 1, &m);
    if (rc < 0)
        return rc == -EACCES ? -EPERM : rc == -ENOENT ? -EIDRM : rc;
    uint32_t mode = buf->msg_perm.mode & 0777;
    uint32_t was = atomic_load((_Atomic uint32_t *)&m->uid);
    uint32_t was_gid = atomic_load((_Atomic uint32_t *)&m->gid);
    atomic_store((_Atomic uint64_t *)&m->qbytes, (uint64_t)buf->msg_qbytes);
    atomic_store((_Atomic uint32_t *)&m->uid, (uint32_t)buf->msg_perm.uid);
    atomic_store((_Atomic uint32_t *)&m->gid, (uint32_t)buf->msg_perm.gid);
    atomic_store((_Atomic uint32_t *)&m->mode, mode);
    atomic_store((_Atomic int64_t *)&m->ctime, sysv_now());
    /* Let the users the new owner, group and mode name open the files
     * (the files' owner or root may; what another owner sets stays in the
     * state file alone: see the README's differences). */
    sysv_files_share(q->id, m, was, was_gid);
    sysv_page_unmap(m);
    return 0;
}

/* Fills a struct msginfo (the kernel's layout) for IPC_INFO and MSG_INFO. */
static int info(int cmd, struct msginfo *mi)
{
    memset(mi, 0, sizeof(*mi));
    mi->msgmax = SYSV_MSGMAX;
    mi->msgmnb = (int)(SYSV_MSGMNB > INT32_MAX ? INT32_MAX : SYSV_MSGMNB);
    mi->msgmni = INT32_MAX; /* ids are random 31-bit numbers; no count limit */
    mi->msgssz = 0;         /* no segments: messages are stored whole */
    mi->msgseg = 0;
    if (cmd == MSG_INFO)
        return sysv_count_queues(&mi->msgpool, &mi->msgmap, &mi->msgtql);
    return 0;
}

/* See mbx-sysv.h. */
EXPORT int msgctl(int msqid, int cmd, struct msqid_ds *buf)
{
    /* The kernel's order: the id and cmd first (IPC_INFO of id -1 too),
     * IPC_SET's buffer before the queue, IPC_STAT's after it. */
    if (msqid < 0 || cmd < 0)
        return sysv_fail(-EINVAL);
    if (cmd == IPC_INFO || cmd == MSG_INFO) {
        if (!buf)
            return sysv_fail(-EFAULT);
        int rc = info(cmd, (struct msginfo *)(void *)buf);
        /* The kernel returns the highest index in use, for MSG_STAT;
         * there are no indexes here (MSG_STAT is not supported). */
        return rc < 0 ? sysv_fail(rc) : 0;
    }
    if (cmd != IPC_STAT && cmd != IPC_SET && cmd != IPC_RMID)
        return sysv_fail(-EINVAL);
    if (cmd == IPC_SET && !buf)
        return sysv_fail(-EFAULT);
    struct sysv_q *q;
    int rc = sysv_get(msqid, &q);
    if (rc == -EINVAL && cmd == IPC_RMID && sysv_queue_cleanup(msqid) == 0)
        return 0; /* the files left of a queue none could use */
    if (rc < 0)
        return sysv_fail(rc);
    if (cmd == IPC_STAT)
        rc = stat_queue(q, buf);
    else if (cmd == IPC_SET)
        rc = set_queue(q, buf);
    else
        rc = sysv_is_owner(q->meta) ? sysv_queue_remove(q) : -EPERM;
    if (rc == -EIDRM)
        rc = -EINVAL;
    sysv_put(q);
    return rc < 0 ? sysv_fail(rc) : 0;
}
