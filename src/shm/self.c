/* mbx_self: this process's own mailbox, "@PID". */
#include "shm/self.h"

#include "shm/handle.h"
#include "shm/owner.h"
#include "platform/platform.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static mbx *box;        /* the handle mbx_self hands out */
static int32_t box_pid; /* the process it belongs to */

int self_name_check(const char *name, int *flags)
{
    if (name[0] != '@' || !(*flags & MBX_CREATE))
        return 0;
    if (strtoll(name + 1, NULL, 10) != ident_self_pid())
        return -EACCES;
    *flags |= MBX_OWNED;
    return 0;
}

/* A fork while another thread holds the lock must not leave it held in the
 * child. */
static void lock_self(void)
{
    pthread_mutex_lock(&lock);
}

static void unlock_self(void)
{
    pthread_mutex_unlock(&lock);
}

/* A normal exit removes the mailbox at once; after a crash the next process
 * to touch it notices the owner is gone. */
static void remove_at_exit(void)
{
    if (box && box_pid == ident_self_pid())
        owner_remove(box);
}

static void setup(void)
{
    pthread_atfork(lock_self, unlock_self, unlock_self);
    atexit(remove_at_exit);
}

EXPORT int mbx_self(mbx **out)
{
    if (!out)
        return -EINVAL;
    pthread_once(&once, setup);
    int32_t me = ident_self_pid();
    int r = 0;
    pthread_mutex_lock(&lock);
    /* A handle inherited over fork, or one whose mailbox was removed, is
     * replaced. It is not closed: callers may still hold it. */
    if (box && (box_pid != me || __atomic_load_n(&box->seg.hdr->hot.removed, __ATOMIC_ACQUIRE)))
        box = NULL;
    if (!box) {
        char name[16];
        snprintf(name, sizeof(name), "@%d", (int)me);
        mbx *m;
        r = mbx_open(name, MBX_SEND | MBX_RECV | MBX_CREATE | MBX_OWNED, NULL, &m);
        if (!r) {
            box = m;
            box_pid = me;
        }
    }
    if (!r)
        *out = box;
    pthread_mutex_unlock(&lock);
    return r;
}
