#include "platform/linux/shmfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int map(struct shmfile *f, int readonly)
{
    int prot = readonly ? PROT_READ : PROT_READ | PROT_WRITE;
    void *p = mmap(NULL, f->size, prot, MAP_SHARED, f->fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    f->base = p;
    return 0;
}

int shmfile_create(const char *dir, uint64_t size, uint64_t reserve, unsigned mode,
                   struct shmfile *f, char *tmp_path, size_t tmp_cap)
{
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned n = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
    /* Names starting with '.' are never mailbox names, so a temporary file
     * left by a crash is never mistaken for one. */
    int len = snprintf(tmp_path, tmp_cap, "%s/.mbx-new.%d.%u.%ld", dir, (int)getpid(), n,
                       (long)ts.tv_nsec);
    if (len < 0 || (size_t)len >= tmp_cap)
        return -ENAMETOOLONG;
    f->fd = open(tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (f->fd < 0)
        return -errno;
    int r = 0;
    if (fchmod(f->fd, mode) != 0 || ftruncate(f->fd, (off_t)size) != 0)
        r = -errno;
    /* Pages of a sparse file are allocated on first touch, and a full file
     * system then answers with SIGBUS: reserve what will surely be touched.
     * File systems without fallocate stay sparse. */
    if (!r && reserve && fallocate(f->fd, 0, 0, (off_t)(reserve < size ? reserve : size)) != 0 &&
        errno != EOPNOTSUPP)
        r = -errno;
    /* Pages touched later in a sparse file are allocated on first touch,
     * and a full file system then answers with SIGBUS: reserve what will
     * surely be touched. File systems without fallocate are left sparse. */
    if (!r && reserve && fallocate(f->fd, 0, 0, (off_t)(reserve < size ? reserve : size)) != 0 &&
        errno != EOPNOTSUPP)
        r = -errno;
    f->size = size;
    if (!r)
        r = map(f, 0);
    if (r) {
        close(f->fd);
        unlink(tmp_path);
    }
    return r;
}

int shmfile_publish(const char *tmp_path, const char *path)
{
    int r = link(tmp_path, path) == 0 ? 0 : -errno;
    unlink(tmp_path);
    return r;
}

int shmfile_open(const char *path, int readonly, struct shmfile *f)
{
    f->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (f->fd < 0)
        return -errno;
    struct stat st;
    int r = 0;
    if (fstat(f->fd, &st) != 0)
        r = -errno;
    else if (!S_ISREG(st.st_mode) || st.st_size <= 0)
        r = -EUCLEAN;
    f->size = (uint64_t)st.st_size;
    if (!r)
        r = map(f, readonly);
    if (r)
        close(f->fd);
    return r;
}

const unsigned char *shmfile_map_view(const struct shmfile *f)
{
    void *p = mmap(NULL, f->size, PROT_READ, MAP_SHARED, f->fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

void shmfile_unmap_view(const struct shmfile *f, const unsigned char *view)
{
    munmap((void *)view, f->size);
}

void shmfile_close(struct shmfile *f)
{
    munmap(f->base, f->size);
    close(f->fd);
}

int shmfile_unlink_same(const char *path, const struct shmfile *f)
{
    struct stat a, b;
    if (fstat(f->fd, &a) != 0 || stat(path, &b) != 0)
        return -errno;
    if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        return -ENOENT; /* someone already replaced it */
    return unlink(path) == 0 ? 0 : -errno;
}

int shmfile_owner(const struct shmfile *f, uint32_t *uid, uint32_t *gid, uint32_t *mode)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0)
        return -errno;
    *uid = st.st_uid;
    *gid = st.st_gid;
    *mode = st.st_mode & 0777;
    return 0;
}
