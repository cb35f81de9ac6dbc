/* libmbx-sysv: System V message queues (msgget, msgsnd, msgrcv, msgctl)
 * made of mbx mailboxes. Link with -lmbx-sysv before libc (cc prog.c
 * -lmbx-sysv -lmbx), or run an unmodified program with
 * LD_PRELOAD=libmbx-sysv.so. The functions keep <sys/msg.h>'s prototypes
 * and Linux's semantics, with mbx's limits (SYSV_MSGMAX bytes a message,
 * SYSV_CAPACITY messages a queue, sysv_format.h) and the differences the
 * README lists. Each returns what the kernel's does and on failure returns
 * -1 with errno set. */
#ifndef MBX_SYSV_H
#define MBX_SYSV_H

#include <sys/ipc.h>
#include <sys/msg.h>

/* Returns the id of the queue of `key` (IPC_PRIVATE: always a new queue),
 * creating it with IPC_CREAT and the permission bits msgflg & 0777. Fails
 * with ENOENT (no queue, no IPC_CREAT), EEXIST (IPC_CREAT|IPC_EXCL and it
 * exists), EACCES (the queue's mode refuses the bits asked for), ENOSPC
 * (no free id), ENOMEM, or an errno of the mailbox directory. */
int msgget(key_t key, int msgflg);

/* Queues msgsz bytes of mtext with type mtype (> 0), waiting while the
 * queue is full unless IPC_NOWAIT. Returns 0. Fails with EINVAL (bad id,
 * mtype < 1, msgsz over SYSV_MSGMAX), EFAULT (NULL msgp), EACCES (no write
 * permission), EAGAIN (full, IPC_NOWAIT), EIDRM (removed while waiting),
 * EINTR (a signal handler ran while it waited), ENOSPC, ENOMEM. */
int msgsnd(int msqid, const void *msgp, size_t msgsz, int msgflg);

/* Takes a message as msgtyp selects (0 the first; > 0 the first of that
 * type, or with MSG_EXCEPT the first of another; < 0 the first of the
 * lowest type <= -msgtyp; a message of a type System V has not, 0 or
 * above INT64_MAX, put into the mailbox with mbx, is never taken), stores
 * its type and up to msgsz bytes of text at msgp, and returns the bytes
 * stored. Fails with E2BIG (longer than msgsz without MSG_NOERROR: it
 * stays queued), ENOMSG (none, IPC_NOWAIT), EINVAL (bad id, msgsz < 0,
 * MSG_COPY), EFAULT (NULL msgp, once a message is taken: it is lost, as
 * in the kernel; the id and the queue are looked at first), EACCES (no
 * read permission), EIDRM, EINTR, ENOMEM. */
ssize_t msgrcv(int msqid, void *msgp, size_t msgsz, long msgtyp, int msgflg);

/* IPC_STAT fills *buf (needs read permission), IPC_SET takes its uid, gid,
 * mode and msg_qbytes (owner, creator or root), IPC_RMID removes the queue
 * (same), all returning 0; IPC_INFO and MSG_INFO fill a struct msginfo
 * and return 0. Fails with EINVAL (bad id or cmd, also for IPC_INFO;
 * MSG_STAT is not supported), EFAULT (NULL buf: for IPC_STAT after the
 * id and permission are checked), EACCES, EPERM (not the owner;
 * msg_qbytes over SYSV_MSGMNB), or an errno of the mailbox directory. */
int msgctl(int msqid, int cmd, struct msqid_ds *buf);

#endif
