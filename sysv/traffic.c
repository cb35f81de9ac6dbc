/* Traffic files: the page every sender and receiver of a queue writes
 * (struct sysv_traffic), apart from the state file they may only read. */
#include <sys/mman.h>

#include "internal.h"

int sysv_traffic_create(int32_t id, mode_t fmode, int *held, int *slot)
{
    struct sysv_traffic init = {
        .magic = SYSV_TRAFFIC_MAGIC,
        .version = SYSV_META_VERSION,
        .id = id,
    };
    return sysv_page_create(SYSV_TRAFFIC_PREFIX, id, &init, sizeof(init), fmode, held, slot);
}

int sysv_traffic_map(int32_t id, struct sysv_traffic **out)
{
    /* Its contents are not checked: every user of the queue may write
     * any value into it, so they prove nothing, and no value in it may
     * make the queue unusable (each is a hint or a label; see
     * struct sysv_traffic). */
    void *p;
    int rc = sysv_page_map(SYSV_TRAFFIC_PREFIX, id, 1, &p);
    if (rc == -EUCLEAN || rc == -ENOENT) {
        /* Resized, replaced or gone (any user of the queue may resize
         * it): the queue works on with counts of this process's own, a
         * zeroed page (it said EINVAL to every call, the owner's too:
         * found by a review). msg_qbytes is then judged by the mailbox's
         * exact counts once this page's say it is reached, and a sender
         * waiting for room looks every few milliseconds. */
        p = mmap(NULL, SYSV_META_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        rc = p == MAP_FAILED ? -ENOMEM : 0;
    }
    if (rc < 0)
        return rc;
    *out = p;
    return 0;
}
