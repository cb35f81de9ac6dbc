/* The page files of a queue (its state file and its traffic file): made
 * whole and exclusively, mapped only when they are still what was made,
 * one regular file of the exact size, never through a link. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

int sysv_page_path(char *buf, size_t cap, const char *prefix, int32_t id)
{
    char tail[16];
    snprintf(tail, sizeof(tail), "%d", (int)id);
    return sysv_path(buf, cap, prefix, tail);
}

int sysv_page_create(const char *prefix, int32_t id, const void *init, size_t len, mode_t fmode,
                     int *held, int *slot)
{
    char path[4200];
    int rc = sysv_page_path(path, sizeof(path), prefix, id);
    if (rc < 0)
        return rc;
    if (len > SYSV_META_SIZE)
        return -EINVAL;
    int fd = held ? sysv_creating_open(path, slot)
                  : open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return held ? fd : -errno;
    char page[SYSV_META_SIZE] = {0};
    memcpy(page, init, len);
    ssize_t n = pwrite(fd, page, sizeof(page), 0);
    rc = n == (ssize_t)sizeof(page) ? 0 : n < 0 ? -errno : -ENOSPC;
    /* The mode exactly, not masked by the umask (as the mailbox's). */
    if (rc == 0 && fchmod(fd, fmode) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(path);
    if (held && rc == 0)
        *held = fd;
    else if (held)
        sysv_creating_close(fd, *slot);
    else
        close(fd);
    return rc;
}

int sysv_page_map(const char *prefix, int32_t id, int writable, void **out)
{
    char path[4200];
    int rc = sysv_page_path(path, sizeof(path), prefix, id);
    if (rc < 0)
        return rc;
    int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ELOOP ? -EUCLEAN : -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != SYSV_META_SIZE) {
        close(fd);
        return -EUCLEAN;
    }
    void *p =
        mmap(NULL, SYSV_META_SIZE, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return -ENOMEM;
    *out = p;
    return 0;
}

void sysv_page_unmap(const void *p)
{
    if (p)
        munmap((void *)p, SYSV_META_SIZE);
}

int sysv_page_unlink(const char *prefix, int32_t id)
{
    char path[4200];
    int rc = sysv_page_path(path, sizeof(path), prefix, id);
    if (rc < 0)
        return rc;
    return unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
}
