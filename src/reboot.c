#include "reboot.h"

#include "platform/linux/clock.h"
#include "platform/linux/ident.h"
#include "repair.h"
#include "ring.h"
#include "sync.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* This boot's id, from the kernel's random boot_id. Returns 0 if unknown. */
static int boot_id(uint8_t id[16])
{
    char text[64];
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    int k = 0;
    for (ssize_t i = 0; i < n && k < 32; i++) {
        char c = text[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            continue;
        id[k / 2] = (uint8_t)(k % 2 ? (id[k / 2] << 4) | v : v);
        k++;
    }
    return k == 32;
}

void reboot_stamp(struct seg *s)
{
    uint8_t id[16];
    if (boot_id(id))
        memcpy(s->hdr->boot_id, id, sizeof(id));
}

/* Nobody from the old boot is left: clear what named them. */
static int reset(struct seg *s)
{
    struct seg_hdr *h = s->hdr;
    h->hot.lock = (struct shlock){0, 0, 0};
    h->hot.recv_waiters = h->hot.send_waiters = 0;
    h->model.receiver = 0;
    memset(h->model.calls, 0, sizeof(h->model.calls));
    memset(s->receipts, 0, SEG_RECEIPTS * sizeof(*s->receipts));
    h->pidns = ident_pidns();
    memset(&h->rr, 0, sizeof(h->rr));
    if (s->ring)
        return ring_reset_all_dead(s);
    if (s->flags & MBX_STREAM)
        return 0; /* a stream's ends are checked by liveness when used */
    return repair_segment(s, 1);
}

int reboot_check(struct seg *s, int fd)
{
    uint8_t id[16];
    if (!boot_id(id))
        return 0;
    if (!memcmp(s->hdr->boot_id, id, sizeof(id))) {
        /* Pairs with the fence before the id is written after a reset. */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        return 0;
    }
    /* One opener resets; the others wait for it, but not for ever: a peer
     * could hold the flock for as long as it likes. */
    int64_t deadline = clock_deadline(SYNC_CALL_BOUND_NS);
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR)
            return 0; /* cannot coordinate: leave it to liveness checks */
        if (clock_remaining(deadline) == 0)
            return -ETIMEDOUT;
        usleep(1000);
    }
    int r = 0;
    if (memcmp(s->hdr->boot_id, id, sizeof(id))) {
        r = reset(s);
        /* Everything the reset wrote is visible before the new id is. */
        __atomic_thread_fence(__ATOMIC_RELEASE);
        if (!r)
            memcpy(s->hdr->boot_id, id, sizeof(id));
    }
    flock(fd, LOCK_UN);
    return r ? -EUCLEAN : 0;
}
