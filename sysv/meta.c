/* State files: one page per queue holding struct sysv_meta, mapped shared
 * by every process using the queue, for what mbx has no place for (the
 * System V owner and mode, msg_qbytes, the last sender and receiver and
 * their times). Created complete under a temporary name is not needed:
 * the file only becomes reachable through its key link, made after it. */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static int meta_path(char *buf, size_t cap, int32_t id)
{
    char tail[16];
    snprintf(tail, sizeof(tail), "%d", (int)id);
    return sysv_path(buf, cap, SYSV_META_PREFIX, tail);
}

mode_t sysv_file_mode(uint32_t mode)
{
    mode_t f = 0600;
    if (mode & 0060)
        f |= 0060;
    if (mode & 0006)
        f |= 0006;
    return f;
}

int sysv_meta_create(int32_t id, const struct sysv_meta *init, mode_t fmode)
{
    char path[4200];
    int rc = meta_path(path, sizeof(path), id);
    if (rc < 0)
        return rc;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    /* The mode exactly, not masked by the umask (as the mailbox's). */
    char page[SYSV_META_SIZE] = {0};
    memcpy(page, init, sizeof(*init));
    ssize_t n = pwrite(fd, page, sizeof(page), 0);
    rc = n == (ssize_t)sizeof(page) ? 0 : n < 0 ? -errno : -ENOSPC;
    if (rc == 0 && fchmod(fd, fmode) < 0)
        rc = -errno;
    close(fd);
    if (rc < 0)
        unlink(path);
    return rc;
}

int sysv_meta_map(int32_t id, struct sysv_meta **out)
{
    char path[4200];
    int rc = meta_path(path, sizeof(path), id);
    if (rc < 0)
        return rc;
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ELOOP ? -EUCLEAN : -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != SYSV_META_SIZE) {
        close(fd);
        return -EUCLEAN;
    }
    void *p = mmap(NULL, SYSV_META_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return -ENOMEM;
    struct sysv_meta *m = p;
    if (!sysv_meta_valid(m, id)) {
        munmap(p, SYSV_META_SIZE);
        return -EUCLEAN;
    }
    if (atomic_load((_Atomic uint32_t *)&m->removed)) {
        munmap(p, SYSV_META_SIZE);
        return -ENOENT;
    }
    *out = m;
    return 0;
}

void sysv_meta_unmap(struct sysv_meta *m)
{
    if (m)
        munmap(m, SYSV_META_SIZE);
}

int sysv_meta_unlink(int32_t id)
{
    char path[4200];
    int rc = meta_path(path, sizeof(path), id);
    if (rc < 0)
        return rc;
    return unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
}

/* Opens the file at path for a change of its mode or owner only if it is a
 * regular file of one name: the owner of a queue may replace its files
 * with a symbolic link or a hard link to any file while another process
 * (root, say) is between IPC_STAT and IPC_SET, and a change by name would
 * then change that file. The name is opened without following a link
 * (O_PATH needs no permission to read, so a mode of 0 can be changed
 * again) and checked; the change goes through the descriptor. Returns the
 * descriptor, with its stat in *st, or a -errno (-EUCLEAN: not such a
 * file). */
static int open_queue_file(const char *path, struct stat *st)
{
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fd;
    if (fstat(fd, st) < 0)
        rc = -errno;
    else if (!S_ISREG(st->st_mode) || st->st_nlink != 1)
        rc = -EUCLEAN;
    if (rc < 0)
        close(fd);
    return rc;
}

static int chmod_queue_file(const char *path, mode_t mode)
{
    struct stat st;
    int fd = open_queue_file(path, &st);
    if (fd < 0)
        return fd;
    char proc[40];
    int rc = 0;
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    if (chmod(proc, mode) < 0)
        rc = -errno; /* the descriptor's own inode: /proc does not resolve the name again */
    close(fd);
    return rc;
}

/* Gives the file at path owner uid and group gid, or when that is refused
 * (no CAP_CHOWN) the group alone (its owner may give it to a group of its
 * own). Only a file owned by one of the queue's users (was1, was2): a file
 * its owner put in the queue's place stays as it is. */
static int chown_queue_file(const char *path, uid_t uid, gid_t gid, uid_t was1, uid_t was2)
{
    struct stat st;
    int fd = open_queue_file(path, &st);
    if (fd < 0)
        return fd;
    int rc = 0;
    if (st.st_uid == uid && st.st_gid == gid)
        rc = 0;
    else if (st.st_uid != was1 && st.st_uid != was2)
        rc = -EUCLEAN;
    else if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0) {
        rc = -errno;
        if (rc == -EPERM && st.st_gid != gid)
            (void)fchownat(fd, "", (uid_t)-1, gid, AT_EMPTY_PATH); /* the group alone */
    }
    close(fd);
    return rc;
}

/* The path of queue id's mailbox file. */
static int box_path(char *buf, size_t cap, int32_t id)
{
    char tail[24];
    snprintf(tail, sizeof(tail), SYSV_BOX_PREFIX "%d", (int)id);
    return sysv_path(buf, cap, "mbx.", tail);
}

int sysv_files_chmod(int32_t id, uint32_t mode)
{
    char path[4200];
    mode_t f = sysv_file_mode(mode);
    int rc = meta_path(path, sizeof(path), id);
    if (rc == 0)
        rc = chmod_queue_file(path, f);
    int r2 = box_path(path, sizeof(path), id);
    if (r2 == 0)
        r2 = chmod_queue_file(path, f);
    return rc ? rc : r2;
}

int sysv_files_chown(int32_t id, uint32_t uid, uint32_t gid, uint32_t was1, uint32_t was2)
{
    char path[4200];
    int rc = meta_path(path, sizeof(path), id);
    if (rc == 0)
        rc = chown_queue_file(path, uid, gid, was1, was2);
    int r2 = box_path(path, sizeof(path), id);
    if (r2 == 0)
        r2 = chown_queue_file(path, uid, gid, was1, was2);
    return rc ? rc : r2;
}
