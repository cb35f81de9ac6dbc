#include "shm/reboot.h"

#include "platform/platform.h"
#include "shm/kind.h"
#include "shm/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* The id a mailbox records, read with acquire: what the reset wrote before
 * it (with release) is then seen too. */
static void recorded(const struct seg *s, uint64_t id[2])
{
    id[0] = __atomic_load_n(&s->hdr->boot_id[0], __ATOMIC_ACQUIRE);
    id[1] = __atomic_load_n(&s->hdr->boot_id[1], __ATOMIC_ACQUIRE);
}

static void record(struct seg *s, const uint64_t id[2])
{
    __atomic_store_n(&s->hdr->boot_id[0], id[0], __ATOMIC_RELEASE);
    __atomic_store_n(&s->hdr->boot_id[1], id[1], __ATOMIC_RELEASE);
}

void reboot_stamp(struct seg *s)
{
    uint64_t id[2];
    if (plat_boot_id(id))
        record(s, id);
}

/* Nobody from the old boot is left: clear what named them. */
static int reset(struct seg *s)
{
    struct seg_hdr *h = s->hdr;
    h->hot.lock = (struct shlock){0, 0, 0};
    h->hot.recv_waiters = h->hot.send_waiters = 0;
    h->model.receiver = h->model.receiver_handle = 0;
    h->model.sender = h->model.sender_handle = 0;
    /* An owner of the old boot is gone: the first open removes its
     * mailbox. Kept, a process of this boot with the same pid and start
     * time (early daemons often have them) was taken for the owner (found
     * by a review). */
    h->model.owner = h->model.pending_owner = 0;
    memset(h->model.calls, 0, sizeof(h->model.calls));
    memset(s->receipts, 0, SEG_RECEIPTS * sizeof(*s->receipts));
    h->pidns = ident_pidns();
    memset(&h->rr, 0, sizeof(h->rr));
    return s->kind->reset(s);
}

/* Set by reboot_nowait, per thread: 0 at every thread's start. */
static MBX_TLS int nowait;

int reboot_nowait(int on)
{
    int was = nowait;
    nowait = on != 0;
    return was;
}

int reboot_check(struct seg *s, int fd)
{
    uint64_t id[2], was[2];
    if (!plat_boot_id(id))
        return 0;
    recorded(s, was);
    if (was[0] == id[0] && was[1] == id[1])
        return 0;
    /* One opener resets; the others wait for it, but not for ever: a peer
     * could hold the flock for as long as it likes. A thread that said
     * so (reboot_nowait) does not wait at all. */
    int64_t deadline = clock_deadline(nowait ? 0 : SEG_CALL_BOUND_NS);
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR)
            return 0; /* cannot coordinate: leave it to liveness checks */
        if (clock_remaining(deadline) == 0)
            return -ETIMEDOUT;
        usleep(1000);
    }
    int r = 0;
    recorded(s, was);
    if (was[0] != id[0] || was[1] != id[1]) {
        r = reset(s);
        if (!r) /* with release: all the reset wrote is seen before the id */
            record(s, id);
    }
    flock(fd, LOCK_UN);
    return r ? -EUCLEAN : 0;
}
