/* The export journal (journal.h). */
#include "nats/journal.h"

#include "nats/own_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define JOURNAL_MAGIC 0x314c4e524a424dull /* "MBJRNL1" */

static size_t journal_size(uint64_t cap)
{
    return sizeof(struct journal_rec) + (size_t)cap + JOURNAL_EPOCH_MAX;
}

int journal_open(const char *stream, uint64_t cap, struct journal_rec **out)
{
    const char *dir = getenv("MBX_DIR");
    char path[PATH_MAX];
    if (!dir || !*dir)
        dir = "/dev/shm";
    if (cap > ((uint64_t)1 << 30) ||
        snprintf(path, sizeof(path), "%s/.mbx-bridge.%s.export", dir, stream) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    int fd = own_file_open(path);
    if (fd < 0)
        return fd;
    struct stat sb;
    int r = 0;
    size_t size = journal_size(cap);
    if (fstat(fd, &sb))
        r = -errno;
    /* Grow only: a journal written for larger messages keeps its message. */
    if (!r && (uint64_t)sb.st_size > size)
        size = (size_t)sb.st_size;
    struct journal_rec *j = MAP_FAILED;
    /* Twice at most: a journal of an older bridge has no room for the
     * epoch after its payload's; it grows by that much, so that its
     * message keeps all the room it had. */
    for (int pass = 0; !r && pass < 2; pass++) {
        if ((uint64_t)sb.st_size < size && ftruncate(fd, (off_t)size))
            r = -errno;
        if (!r) {
            j = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (j == MAP_FAILED)
                r = -errno;
        }
        if (r || j->magic != JOURNAL_MAGIC || j->cap > ((uint64_t)1 << 30) ||
            journal_size(j->cap) <= size)
            break;
        uint64_t had = j->cap;
        munmap(j, size);
        j = MAP_FAILED;
        sb.st_size = (off_t)size;
        size = journal_size(had);
    }
    if (r) {
        close(fd);
        return r;
    }
    uint64_t cap_now = size - sizeof(*j) - JOURNAL_EPOCH_MAX;
    if (j->magic != JOURNAL_MAGIC || j->cap + sizeof(*j) > size || j->info.size > j->cap) {
        memset(j, 0, sizeof(*j));
        j->magic = JOURNAL_MAGIC;
    } else if (j->cap < cap_now) {
        /* Grown (the mailbox now takes larger messages): the epoch moves
         * to the end of the room with it, before the room says so (a kill
         * in between moves it again at the next open). An older bridge's
         * journal has zeros there: unknown, as before. */
        memmove(j->payload + cap_now, j->payload + j->cap, JOURNAL_EPOCH_MAX);
    }
    j->cap = cap_now;
    j->lock_fd = fd; /* the lock lasts as long as this descriptor */
    *out = j;
    return 0;
}

static char *epoch_at(const struct journal_rec *j)
{
    return (char *)j->payload + j->cap;
}

int journal_epoch(const struct journal_rec *j, char *out, size_t cap)
{
    const char *e = epoch_at(j);
    size_t n = strnlen(e, JOURNAL_EPOCH_MAX);
    if (n == 0 || n == JOURNAL_EPOCH_MAX || n >= cap || strspn(e, "0123456789abcdefx") != n)
        return -ENOENT;
    memcpy(out, e, n + 1);
    return 0;
}

void journal_set_epoch(struct journal_rec *j, const char *epoch)
{
    char *e = epoch_at(j);
    memset(e, 0, JOURNAL_EPOCH_MAX);
    snprintf(e, JOURNAL_EPOCH_MAX, "%s", epoch);
}

int journal_pending(const struct journal_rec *j)
{
    return j->state == 1 && j->info.seq != 0 && j->info.size <= j->cap && j->info.reply_token == 0;
}

void journal_close(struct journal_rec *j)
{
    if (j) {
        int fd = j->lock_fd;
        munmap(j, journal_size(j->cap));
        close(fd);
    }
}
