#include "reboot.h"

#include "repair.h"
#include "ring.h"

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
    int r = seg_lock_init(&h->hot.lock);
    if (r)
        return r;
    h->hot.recv_waiters = h->hot.send_waiters = 0;
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
    if (!boot_id(id) || !memcmp(s->hdr->boot_id, id, sizeof(id)))
        return 0;
    if (flock(fd, LOCK_EX) != 0)
        return 0; /* cannot coordinate: leave it to liveness checks */
    int r = 0;
    if (memcmp(s->hdr->boot_id, id, sizeof(id))) {
        r = reset(s);
        if (!r)
            memcpy(s->hdr->boot_id, id, sizeof(id));
    }
    flock(fd, LOCK_UN);
    return r ? -EUCLEAN : 0;
}
