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
    return sizeof(struct journal_rec) + (size_t)cap;
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
    if (!r && (uint64_t)sb.st_size < size && ftruncate(fd, (off_t)size))
        r = -errno;
    struct journal_rec *j = MAP_FAILED;
    if (!r) {
        j = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (j == MAP_FAILED)
            r = -errno;
    }
    if (r) {
        close(fd);
        return r;
    }
    if (j->magic != JOURNAL_MAGIC || j->cap + sizeof(*j) > size || j->info.size > j->cap) {
        memset(j, 0, sizeof(*j));
        j->magic = JOURNAL_MAGIC;
    }
    j->cap = size - sizeof(*j);
    j->lock_fd = fd; /* the lock lasts as long as this descriptor */
    *out = j;
    return 0;
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
