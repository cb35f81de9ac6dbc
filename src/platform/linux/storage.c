/* Storage under mappings of sparse files. */
#include "platform/platform.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

int plat_reserve(int fd, uint64_t off, uint64_t len)
{
    if (fd < 0 || len == 0 || fallocate(fd, 0, (off_t)off, (off_t)len) == 0 || errno == EOPNOTSUPP)
        return 0;
    return errno == EDQUOT ? -ENOSPC : -errno;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

int plat_populate(void *addr, uint64_t len)
{
    if (len == 0 || madvise(addr, len, MADV_POPULATE_WRITE) == 0)
        return 0;
    return errno == EINVAL ? -EOPNOTSUPP : -errno;
}

int plat_give_back(void *addr, uint64_t len)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = ((uintptr_t)addr + page - 1) & ~(page - 1);
    uintptr_t end = ((uintptr_t)addr + len) & ~(page - 1);
    if (end <= start)
        return 0;
    return madvise((void *)start, end - start, MADV_REMOVE) == 0 ? 0 : -errno;
}
