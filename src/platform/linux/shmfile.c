#include "platform/platform.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_PREFIX ".mbx-new."

static int map(struct shmfile *f, int readonly)
{
    int prot = readonly ? PROT_READ : PROT_READ | PROT_WRITE;
    void *p = mmap(NULL, f->size, prot, MAP_SHARED, f->fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    f->base = p;
    return 0;
}

/* Size, storage and mapping of a new file open at f->fd. */
static int shape(struct shmfile *f, uint64_t size, uint64_t reserve, unsigned mode)
{
    if (fchmod(f->fd, mode) != 0 || ftruncate(f->fd, (off_t)size) != 0)
        return -errno;
    /* Pages of a sparse file are allocated on first touch, and a full file
     * system then answers with SIGBUS: reserve what will surely be touched.
     * File systems without fallocate are left sparse. */
    if (reserve && fallocate(f->fd, 0, 0, (off_t)(reserve < size ? reserve : size)) != 0 &&
        errno != EOPNOTSUPP)
        return errno == EDQUOT ? -ENOSPC : -errno;
    f->size = size;
    f->uid = (uint32_t)geteuid();
    return map(f, 0);
}

/* Removes hidden files ".mbx-new.PID.START.NS.X" whose creator died
 * before publishing them (file systems without O_TMPFILE only): a creator
 * of this PID namespace (NS, its inode), as the pid of another one says
 * nothing here (its files were taken for a dead creator's, and removed
 * while it made them; found by a review). */
static void sweep(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    unsigned long long ns_here = (unsigned long long)ident_pidns();
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int pid;
        unsigned start;
        unsigned long long ns;
        if (sscanf(e->d_name, TMP_PREFIX "%d.%u.%llx.", &pid, &start, &ns) != 3 || ns != ns_here ||
            ident_alive(ident_make(pid, start)))
            continue;
        char path[4096];
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path))
            unlink(path);
    }
    closedir(d);
}

/* A hidden file of ours in dir: its name ends in 64 random bits, so that
 * nobody can plant it first (a name from a counter could be, by another
 * user of a shared folder: every create said -EEXIST; found by a
 * review). */
static int open_hidden(const char *dir, struct shmfile *f)
{
    char path[4096];
    ident_t me = ident_self();
    sweep(dir);
    int r = -EEXIST;
    for (int tries = 0; tries < 4 && r == -EEXIST; tries++) {
        uint64_t x;
        if ((r = plat_random(&x)) != 0)
            return r;
        int n = snprintf(path, sizeof(path), "%s/" TMP_PREFIX "%d.%u.%llx.%016llx", dir,
                         (int)ident_id(me), ident_start(me), (unsigned long long)ident_pidns(),
                         (unsigned long long)x);
        if (n < 0 || (size_t)n >= sizeof(path))
            return -ENAMETOOLONG;
        f->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        r = f->fd >= 0 ? 0 : -errno;
    }
    if (r)
        return r;
    f->tmp_path = strdup(path);
    if (!f->tmp_path) {
        unlink(path);
        close(f->fd);
        return -ENOMEM;
    }
    return 0;
}

int shmfile_create(const char *dir, uint64_t size, uint64_t reserve, unsigned mode,
                   struct shmfile *f)
{
    f->base = NULL;
    f->tmp_path = NULL;
    f->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (f->fd < 0) {
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
            return -errno;
        int r = open_hidden(dir, f);
        if (r)
            return r;
    }
    int r = shape(f, size, reserve, mode);
    if (r) {
        if (f->base)
            munmap(f->base, size);
        close(f->fd);
        if (f->tmp_path) {
            unlink(f->tmp_path);
            free(f->tmp_path);
        }
    }
    return r;
}

int shmfile_publish(struct shmfile *f, const char *path)
{
    int r;
    if (f->tmp_path) {
        r = link(f->tmp_path, path) == 0 ? 0 : -errno;
        unlink(f->tmp_path);
        free(f->tmp_path);
        f->tmp_path = NULL;
    } else {
        char self[64];
        snprintf(self, sizeof(self), "/proc/self/fd/%d", f->fd);
        r = linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0 ? 0 : -errno;
    }
    if (r)
        shmfile_close(f);
    return r;
}

int shmfile_create_anon(const char *label, uint64_t size, unsigned mode, struct shmfile *f)
{
    f->base = NULL;
    f->tmp_path = NULL;
    f->fd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (f->fd < 0)
        return -errno;
    int r = shape(f, size, 0, mode);
    /* Sealed against shrinking (and against further seals): a process
     * that truncated its own mailbox under the processes that had it
     * mapped killed them with SIGBUS at their next touch, a server
     * running as root for other users' calls included (found by a
     * review). shmfile_open_anon refuses a file without the seal. */
    if (!r && fcntl(f->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL) != 0)
        r = -errno;
    if (r) {
        if (f->base)
            munmap(f->base, size);
        close(f->fd);
    }
    return r;
}

/* Checks and maps a file just opened at f->fd. */
static int adopt(struct shmfile *f, int readonly)
{
    struct stat st;
    int r = 0;
    f->tmp_path = NULL;
    if (fstat(f->fd, &st) != 0)
        r = -errno;
    else if (!S_ISREG(st.st_mode) || st.st_size <= 0)
        r = -EUCLEAN;
    f->size = (uint64_t)st.st_size;
    f->uid = (uint32_t)st.st_uid;
    if (!r)
        r = map(f, readonly);
    if (r)
        close(f->fd);
    return r;
}

int shmfile_open(const char *path, int readonly, struct shmfile *f)
{
    f->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (f->fd < 0)
        return errno == ELOOP ? -EUCLEAN : -errno;
    return adopt(f, readonly);
}

/* What shmfile_open_anon looks at in a process's descriptors at most. */
#define ANON_ENTRIES_MAX    65536
#define ANON_CANDIDATES_MAX 32

int shmfile_open_anon(pid_t pid, const char *label, int readonly,
                      int (*accept)(const struct shmfile *f, void *arg), void *arg,
                      struct shmfile *f)
{
    char dir[64], want[256];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    snprintf(want, sizeof(want), "/memfd:%s (deleted)", label);
    DIR *d = opendir(dir);
    if (!d)
        return errno == EACCES || errno == EPERM ? -EACCES : -ENOENT;
    int r = -ENOENT;
    struct dirent *e;
    /* The process chooses what we look at: how many descriptors, and how
     * many under the label (a review's 20000 copies of one file made a
     * server spend 1.2 s finding a caller's mailbox to reply). Its own
     * mailbox is one file, made early: a bounded look finds it. */
    unsigned entries = 0, candidates = 0;
    struct {
        dev_t dev;
        ino_t ino;
    } tried[ANON_CANDIDATES_MAX];
    while (r != 0 && (e = readdir(d)) != NULL && entries++ < ANON_ENTRIES_MAX &&
           candidates < ANON_CANDIDATES_MAX) {
        char link[300], target[300];
        if (e->d_name[0] == '.' ||
            (size_t)snprintf(link, sizeof(link), "%s/%s", dir, e->d_name) >= sizeof(link))
            continue;
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0)
            continue;
        target[n] = 0;
        if (strcmp(target, want) != 0)
            continue;
        /* A file tried already under another descriptor (copies) does
         * not count again: stat follows the link without opening it. */
        struct stat st;
        if (stat(link, &st) != 0)
            continue;
        unsigned seen = 0;
        while (seen < candidates && (tried[seen].dev != st.st_dev || tried[seen].ino != st.st_ino))
            seen++;
        if (seen < candidates)
            continue;
        tried[candidates].dev = st.st_dev;
        tried[candidates].ino = st.st_ino;
        candidates++;
        /* The descriptor is a magic link: it must be followed to reopen
         * the file, which the kernel allows only to its owner's user.
         * Never blocking: a lease its process took on the file made the
         * open wait 45 s (fs.lease-break-time) for each such file, and a
         * caller so stalled a root server's replies (found by a review);
         * a lease now refuses the file at once (EWOULDBLOCK). */
        f->fd = open(link, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (f->fd < 0) {
            /* ENOENT: the descriptor was closed since the stat (its
             * process exiting), no damage: a reply to a caller just killed
             * said -EUCLEAN (a chaos run) where it means -ESRCH. */
            if (errno == EACCES || errno == EPERM)
                r = -EACCES;
            else if (r == -ENOENT && errno != ENOENT)
                r = -EUCLEAN;
            continue;
        }
        /* Looked at before it is mapped: one its process may shrink
         * (not made by shmfile_create_anon) could kill us with SIGBUS
         * at any touch, even accept's first look. */
        int seals = fcntl(f->fd, F_GET_SEALS);
        if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
            close(f->fd);
            if (r == -ENOENT)
                r = -EUCLEAN;
            continue;
        }
        if (adopt(f, readonly) != 0)
            continue;
        if (accept(f, arg))
            r = 0;
        else
            shmfile_close(f);
    }
    closedir(d);
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
    free(f->tmp_path);
    f->tmp_path = NULL;
}

int shmfile_unlink_same(const char *path, const struct shmfile *f)
{
    struct stat a, b;
    if (fstat(f->fd, &a) != 0 || lstat(path, &b) != 0)
        return -errno;
    if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        return -ENOENT; /* someone already replaced it */
    /* Unlinking by name after that look would remove whatever the name
     * holds by then: a mailbox made again under it meanwhile (an owner
     * started again) lost its name (found by a review). The name is
     * moved aside instead, in one step, and what was moved looked at:
     * not ours, it goes back (unless the name was taken again too). The
     * hidden name is one the creators' sweep removes should we die with
     * it. */
    char aside[4096];
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path) : 1;
    ident_t me = ident_self();
    uint64_t x;
    int r = plat_random(&x);
    if (r)
        return r;
    /* Random, as open_hidden's: a name planted first would be replaced
     * (our own) or refuse the move (another user's, in a sticky folder). */
    int n = snprintf(aside, sizeof(aside), "%.*s/" TMP_PREFIX "%d.%u.%llx.%016llxg", dirlen,
                     slash ? path : ".", (int)ident_id(me), ident_start(me),
                     (unsigned long long)ident_pidns(), (unsigned long long)x);
    if (n < 0 || (size_t)n >= sizeof(aside))
        return unlink(path) == 0 ? 0 : -errno;
    /* A remover killed between the move and the unlink below leaves the
     * file aside: the next removal in the folder sweeps it (creations
     * sweep only where there is no O_TMPFILE; found by a review). At most
     * once a second per process: a sweep reads the whole folder. */
    static int64_t swept_ns;
    int64_t now = clock_now_ns(), was = __atomic_load_n(&swept_ns, __ATOMIC_RELAXED);
    if ((was == 0 || now - was >= 1000000000ll) &&
        __atomic_compare_exchange_n(&swept_ns, &was, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        char dir[4096];
        snprintf(dir, sizeof(dir), "%.*s", dirlen, slash ? path : ".");
        sweep(dir);
    }
    if (renameat2(AT_FDCWD, path, AT_FDCWD, aside, RENAME_NOREPLACE) != 0)
        return -errno;
    if (lstat(aside, &b) == 0 && (a.st_dev != b.st_dev || a.st_ino != b.st_ino)) {
        /* Not ours: back under its name. Should the name be taken a third
         * time meanwhile, it stays aside rather than be removed. */
        (void)renameat2(AT_FDCWD, aside, AT_FDCWD, path, RENAME_NOREPLACE);
        return -ENOENT;
    }
    return unlink(aside) == 0 ? 0 : -errno;
}

int shmfile_unlinked(const struct shmfile *f)
{
    struct stat st;
    return fstat(f->fd, &st) == 0 && st.st_nlink == 0;
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
