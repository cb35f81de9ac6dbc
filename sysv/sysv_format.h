/* The files libmbx-sysv keeps in the mailbox directory ($MBX_DIR, default
 * /dev/shm), shared with the tools that list them (mbx ls). Everything here
 * is read from files other processes (and possibly other users) wrote:
 * readers check it (sysv_meta_valid, sysv_parse_id) before using it.
 *
 *   mbx.sysv.ID     the queue's messages: an ordinary mbx mailbox "sysv.ID"
 *   sysv.ID         the queue's System V state (struct sysv_meta): owner,
 *                   mode, key, msg_qbytes, the removal mark. Read by every
 *                   user of the queue, written only by its owner's side
 *                   (the files' owner, and through POSIX ACL entries the
 *                   System V owner and creator): mapped read-only, and
 *                   writable only for IPC_SET and IPC_RMID
 *   sysv-traffic.ID the queue's traffic (struct sysv_traffic): the last
 *                   sender and receiver and their times, the counts
 *                   msg_qbytes is judged by; read and written by every
 *                   user of the queue
 *   sysv-key.KKKKKKKK  a symbolic link whose target is the decimal ID of
 *                   the queue of key 0xKKKKKKKK (none for IPC_PRIVATE)
 *   sysv-key-rm.KKKKKKKK.ID.UID  while key's link to ID, a link of user
 *                   UID's, is removed: an empty file (mode 0600, UID's)
 *                   whose exclusive flock makes one process its remover
 *                   (two removers of a stale link, one at a time, removed
 *                   the link a msgget had meanwhile made for a new queue);
 *                   the link's owner and root, who may remove it from a
 *                   sticky folder, name the same file. Trusted only when
 *                   regular, of one link, and UID's or root's: another
 *                   user's of that name (planted: it could hold the lock
 *                   for good) is removed by root and passed by by others,
 *                   who then remove the link without the lock. Left by a
 *                   remover killed there, it is removed by the next msgget
 *                   of UID (or root) that makes a keyed queue
 *
 * Two files, not one, because a file's permission is the only thing that
 * stops another user: in one file, anyone who may send could make itself
 * the owner or mark the queue removed.
 *
 * A queue is complete once its key link exists: msgget creates the
 * traffic file, the mailbox and the state file first (each with O_EXCL
 * semantics, under a random ID; it holds an exclusive flock on the traffic
 * file until the state file is made, so that files of an ID without a
 * state file whose lock is free are a killed msgget's) and publishes the
 * key last with symlink(), which fails with EEXIST when another process
 * published the key first.
 *
 * Version 1 (one state file for both, writable by every user of the queue)
 * is not read: its queues are refused as invalid (EINVAL, ENOENT). */
#ifndef MBX_SYSV_FORMAT_H
#define MBX_SYSV_FORMAT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SYSV_META_PREFIX    "sysv."
#define SYSV_TRAFFIC_PREFIX "sysv-traffic."
#define SYSV_KEY_PREFIX     "sysv-key."
#define SYSV_KEYRM_PREFIX   "sysv-key-rm." /* + KKKKKKKK.ID.UID: a removal of key's link to ID */
#define SYSV_BOX_PREFIX     "sysv."        /* the mailbox's mbx name: sysv.ID */

#define SYSV_META_MAGIC    0x5156534du /* "MSVQ" */
#define SYSV_META_VERSION  2u
#define SYSV_META_SIZE     4096u       /* the state file's exact size, and the traffic file's */
#define SYSV_TRAFFIC_MAGIC 0x5456534du /* "MSVT" */

/* mbx's own limits for a queue (not the kernel's msgmax/msgmnb): a queue is
 * a heap mailbox (or ring: sysv/queue.c) of SYSV_CAPACITY messages of up to SYSV_MSGMAX bytes. */
#define SYSV_MSGMAX   65536u
#define SYSV_CAPACITY 256u
#define SYSV_MSGMNB   ((uint64_t)SYSV_MSGMAX * SYSV_CAPACITY)

/* The System V state of one queue. Fields are written with atomic stores,
 * each on its own, by msgget (at creation) and msgctl (IPC_SET, IPC_RMID);
 * calls that pass messages only read them. */
struct sysv_meta {
    /* written once, at creation */
    uint32_t magic, version;
    int32_t id;
    int32_t key;
    uint32_t cuid, cgid;
    /* msgctl(IPC_SET), IPC_RMID */
    uint32_t uid, gid;
    uint32_t mode;    /* the low 9 permission bits */
    uint32_t removed; /* 1 once IPC_RMID began */
    uint64_t qbytes;  /* msg_qbytes, at most SYSV_MSGMNB */
    int64_t ctime;
    char pad1[64 - 56];
};

/* The traffic of one queue, written by its senders and receivers: the
 * sender's and the receiver's lines apart, so that each side's stores do
 * not take the other's line. Any user of the queue may write any value
 * into any field, so none is trusted: the header is a label, not checked,
 * and the rest are hints and reports. */
struct sysv_traffic {
    uint32_t magic, version; /* SYSV_TRAFFIC_MAGIC, SYSV_META_VERSION */
    int32_t id, pad0;
    char pad1[64 - 16];
    /* the last msgsnd */
    int32_t lspid, pad2;
    int64_t stime;
    char pad3[64 - 16];
    /* the last msgrcv */
    int32_t lrpid, pad4;
    int64_t rtime;
    char pad5[64 - 16];
    /* Both sides: what msg_qbytes is judged by (mbx counts messages, not
     * bytes). An estimate: senders add after sending and receivers
     * subtract after receiving, so it lags, and a process killed between
     * the two steps leaves it off by a message; a send it would refuse
     * looks at the mailbox's exact counts first. Any user of the queue
     * may write any value here: it only decides whether the exact counts
     * are asked. */
    uint64_t cbytes;
    uint32_t qnum;
    uint32_t rx_seq;       /* futex word: bumped by a receive while room_waiters */
    uint32_t room_waiters; /* senders waiting for msg_qbytes room */
    char pad6[64 - 20];
};

/* Whether a state file's contents may be used for queue `id` (id < 0:
 * any): magic, version, id and mode in range. (A qbytes above SYSV_MSGMNB
 * is read as SYSV_MSGMNB where it is used: it may change after this
 * check.) */
static inline int sysv_meta_valid(const struct sysv_meta *m, int32_t id)
{
    return m->magic == SYSV_META_MAGIC && m->version == SYSV_META_VERSION && m->id > 0 &&
           (id < 0 || m->id == id) && m->mode <= 0777;
}

/* Parses the decimal queue id of a file name's tail or a key link's target:
 * 1 .. INT32_MAX, digits only, no leading zero. Returns the id or -1. */
static inline int32_t sysv_parse_id(const char *s)
{
    if (*s < '1' || *s > '9' || strlen(s) > 10)
        return -1;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v <= INT32_MAX ? (int32_t)v : -1;
}

/* Parses the 8 lowercase hex digits of a key link's name tail. Returns 0 and
 * stores the key, or -1. */
static inline int sysv_parse_key(const char *s, int32_t *key)
{
    uint32_t v = 0;
    if (strlen(s) != 8)
        return -1;
    for (int i = 0; i < 8; i++) {
        char c = s[i];
        uint32_t d = c >= '0' && c <= '9'   ? (uint32_t)(c - '0')
                     : c >= 'a' && c <= 'f' ? (uint32_t)(c - 'a' + 10)
                                            : 16u;
        if (d > 15)
            return -1;
        v = v << 4 | d;
    }
    *key = (int32_t)v;
    return 0;
}

_Static_assert(sizeof(struct sysv_meta) == 64, "one cache line");
_Static_assert(sizeof(struct sysv_traffic) == 256, "four cache lines");
_Static_assert(sizeof(struct sysv_traffic) <= SYSV_META_SIZE, "fits the file");

#endif
