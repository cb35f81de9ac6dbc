/* msgget: a key to a queue id, through the key links (keys.c). */
#include <sys/ipc.h>
#include <sys/msg.h>
#include <time.h>

#include "internal.h"
#include "mbx-sysv.h"

/* Looks at the existing queue id for msgget's checks: EEXIST comes
 * before permissions, as in the kernel. Returns the id, -ENOENT when the
 * key's link names no queue (a stale link), -ESTALE when it names a queue
 * made for another key (anyone who may write the directory can plant a
 * key's link: it must not lead a program to a queue it did not ask
 * for), or another negative errno. */
static int existing(int32_t key, int32_t id, int msgflg)
{
    if ((msgflg & IPC_CREAT) && (msgflg & IPC_EXCL))
        return -EEXIST;
    struct sysv_meta *meta;
    int rc = sysv_meta_map(id, 0, &meta);
    if (rc == -EACCES)
        /* The files refuse us, so the System V mode gives us nothing;
         * asking for nothing still gets the id, as in the kernel. */
        return (msgflg & 0777) ? -EACCES : id;
    if (rc < 0)
        return rc == -EUCLEAN ? -ENOENT : rc;
    if (meta->key != key)
        rc = -ESTALE;
    else
        rc = sysv_perm_ok(meta, sysv_asked((uint32_t)msgflg)) ? id : -EACCES;
    sysv_page_unmap(meta);
    return rc;
}

/* msgget's tries after its quick ones, each after a wait (backoff). */
#define SYSV_GET_SLOW_TRIES 200

/* Waits before slow try n (0, 1, ...): 100 us doubling to 20 ms, about
 * 3.8 s over SYSV_GET_SLOW_TRIES. */
static void backoff(int n)
{
    long us = n < 8 ? 100L << n : 20000;
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

/* See mbx-sysv.h. */
EXPORT int msgget(key_t key, int msgflg)
{
    sysv_creds_refresh();
    int32_t id;
    if (key == IPC_PRIVATE) {
        int rc = sysv_queue_create(0, (uint32_t)msgflg & 0777, &id);
        return rc < 0 ? sysv_fail(rc) : id;
    }
    /* Another process may remove each queue this finds or makes a link
     * for, and removals of a stale link are one at a time: tries again,
     * waiting more and more after the first few, for a few seconds in all
     * (100 quick tries ran out, EAGAIN, while other processes removed
     * and made the key's queue). */
    for (int tries = 0; tries < 64 + SYSV_GET_SLOW_TRIES; tries++) {
        if (tries >= 64)
            backoff(tries - 64);
        int rc = sysv_key_lookup(key, &id);
        if (rc == 0) {
            rc = existing(key, id, msgflg);
            if (rc != -ENOENT && rc != -ESTALE)
                return rc < 0 ? sysv_fail(rc) : rc;
            if (!(msgflg & IPC_CREAT))
                return sysv_fail(-ENOENT);
            /* Stale: its queue is gone, or is another key's. A link we
             * may not remove (another user's, in a sticky directory)
             * holds the key's name as anything else there would. */
            rc = sysv_key_remove(key, id);
            if (rc == -EBUSY && tries < 64)
                tries = 64; /* its remover is at work: give it time */
            else if (rc < 0 && rc != -EBUSY)
                return sysv_fail(-EACCES);
            continue;
        }
        if (rc == -EUCLEAN)
            return sysv_fail(-EACCES); /* something else holds the key's name */
        if (rc != -ENOENT)
            return sysv_fail(rc);
        if (!(msgflg & IPC_CREAT))
            return sysv_fail(-ENOENT);
        rc = sysv_queue_create(key, (uint32_t)msgflg & 0777, &id);
        if (rc == -EEXIST)
            continue; /* another process created it first: use theirs */
        return rc < 0 ? sysv_fail(rc) : id;
    }
    return sysv_fail(-EAGAIN);
}
