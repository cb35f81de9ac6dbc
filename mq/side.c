/* The side file beside a queue's mailbox: what mbx does not keep (the
 * POSIX mode, the notification registration, blocked receivers, whether
 * the name was unlinked), mapped shared by every process using the queue.
 *
 * Every process holding the queue open holds a shared flock on it (the
 * descriptor is inherited over fork, closed on exec, dropped by the kernel
 * when a process dies), so whoever can take it exclusively after mq_unlink
 * knows nobody has the queue open and removes it: a count that a crash
 * cannot leave wrong. */
#include "mq_internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Maps the side file open on fd. Returns the mapping or NULL (errno). */
struct mq_side *mq_side_map(int fd)
{
    void *p = mmap(NULL, MQ_SIDE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Takes the shared lock of the side file open on fd, waiting at most
 * SIDE_LOCK_NS: anyone who may open the file (read access is enough) can
 * hold it exclusively for as long as they like. Returns 0, ETIMEDOUT, or
 * another errno of flock. */
#define SIDE_LOCK_NS 1000000000ll
int mq_side_lock_shared(int fd)
{
    struct timespec step = {0, 1000000}; /* 1 ms between tries */
    for (long long waited = 0;; waited += step.tv_nsec) {
        if (flock(fd, LOCK_SH | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK && errno != EINTR)
            return errno;
        if (waited >= SIDE_LOCK_NS)
            return ETIMEDOUT;
        nanosleep(&step, NULL);
    }
}

/* Whether the side file at path is a queue's that mq_unlink took (its
 * unlink word is not 0, and it says where the queue goes): then it moves
 * it there, as its unlinker does next (mq_move: whichever comes first;
 * the unlinker holds its lock, so the moved file stays there until it is
 * done). Returns 1 when the file went from path (moved by either), 0 when
 * it is no such file. */
static int side_move_unlinked(const char *dir, const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT;
    struct stat st;
    struct mq_side *s = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= MQ_SIDE_SIZE)
        s = mq_side_map(fd);
    close(fd);
    if (!s)
        return 0;
    char gone[sizeof(s->gone)], to[PATH_MAX + 64];
    memcpy(gone, s->gone, sizeof(gone));
    int taken =
        atomic_load(&s->magic) == MQ_SIDE_MAGIC && MQ_UNLINK_STATE(atomic_load(&s->unlinked)) != 0;
    munmap(s, MQ_SIDE_SIZE);
    if (!taken || !mq_gone_name_ok(gone, sizeof(gone)) ||
        mq_side_path(dir, gone, to, sizeof(to)) != 0)
        return 0;
    if (mq_move(path, to) == 0 || errno == ENOENT)
        return 1;
    /* EEXIST: a file under the mq-gone name already (no unlinker leaves
     * one there while the old side file is under the queue's name), or
     * another error: replaced as a crash's. */
    return 0;
}

/* Creates the side file at path (in dir) for a queue this process just
 * created, with permission bits file_mode, records the POSIX mode and
 * takes the shared lock. The mailbox (box_fd, made 0600) gets file_mode
 * too, last before the magic that finishes the side file: until then no
 * one else may open it, so no one else can hold its lock, which says that
 * a creator is alive (another user's shared flock on a creator's remains
 * made its owner's mq_unlink say ENOENT, and mq_open EAGAIN, for as long
 * as that user liked, removing nothing). A file there is an old queue's:
 * one that mq_unlink took and is about to move to its mq-gone name (the
 * unlinker moved the mailbox first, which let us create ours) goes there
 * (replacing it made the new queue's side file the one the unlinker
 * moved); any other was left by a crash (the mailbox was created
 * exclusively, so no live queue uses it) and is replaced. Returns 0 or an
 * errno (EACCES: a file there that cannot be removed). */
int mq_side_create(const char *dir, const char *path, uint32_t file_mode, uint32_t mode, int box_fd,
                   int *fd_out, struct mq_side **out)
{
    int fd = -1;
    for (int tries = 0; tries < 3 && fd < 0; tries++) {
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 && errno == EEXIST) {
            if (side_move_unlinked(dir, path))
                continue;
            /* another user's file, in a sticky directory: the name is taken */
            if (unlink(path) < 0 && errno != ENOENT)
                return errno == EPERM ? EACCES : errno;
        } else if (fd < 0) {
            return errno;
        }
    }
    if (fd < 0)
        return EEXIST;
    struct mq_side *s = NULL;
    /* The lock first, while the file is 0600: once others may open it,
     * they could take it exclusively before us. */
    int e = mq_side_lock_shared(fd);
    if (e == 0 &&
        (fchmod(fd, file_mode) < 0 || ftruncate(fd, MQ_SIDE_SIZE) < 0 || !(s = mq_side_map(fd))))
        e = errno;
    if (e != 0) {
        if (s)
            munmap(s, MQ_SIDE_SIZE);
        close(fd);
        unlink(path);
        return e;
    }
    e = mq_ready_init(s);
    if (e == 0 && fchmod(box_fd, file_mode) < 0)
        e = errno;
    if (e != 0) {
        munmap(s, MQ_SIDE_SIZE);
        close(fd);
        unlink(path);
        return e;
    }
    s->version = MQ_SIDE_VERSION;
    s->mode = mode & 07777;
    atomic_store(&s->magic, MQ_SIDE_MAGIC); /* openers wait for this */
    *fd_out = fd;
    *out = s;
    return 0;
}

/* Opens and maps the side file at path, waiting up to 1 s for its creator
 * to finish it. Does not lock. Returns 0, ENOENT, EACCES, EUCLEAN (not a
 * side file: wrong size, type or magic) or an errno of open/mmap. */
int mq_side_open(const char *path, int *fd_out, struct mq_side **out)
{
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ELOOP ? EUCLEAN : errno;
    struct stat st;
    for (int i = 0; i < 1000; i++) {
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
            close(fd);
            return EUCLEAN;
        }
        if (st.st_size >= MQ_SIDE_SIZE)
            break;
        usleep(1000); /* the creator is between open and ftruncate */
    }
    struct mq_side *s = st.st_size >= MQ_SIDE_SIZE ? mq_side_map(fd) : NULL;
    if (!s) {
        close(fd);
        return EUCLEAN;
    }
    for (int i = 0; i < 1000 && atomic_load(&s->magic) != MQ_SIDE_MAGIC; i++)
        usleep(1000);
    if (atomic_load(&s->magic) != MQ_SIDE_MAGIC || s->version != MQ_SIDE_VERSION) {
        munmap(s, MQ_SIDE_SIZE);
        close(fd);
        return EUCLEAN;
    }
    *fd_out = fd;
    *out = s;
    return 0;
}

/* Unmaps and closes (dropping this descriptor's lock). */
void mq_side_close(int fd, struct mq_side *side)
{
    if (side)
        munmap(side, MQ_SIDE_SIZE);
    if (fd >= 0)
        close(fd);
}

/* Removes the unlinked queue `gone` (mailbox and side file) when nobody
 * holds it open any more: nobody else holds the side file's lock. */
void mq_side_reap(const char *dir, const char *gone)
{
    char path[PATH_MAX + 64];
    if (mq_side_path(dir, gone, path, sizeof(path)) != 0)
        return;
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
        char fifo[PATH_MAX + 64];
        (void)mbx_unlink(gone);
        if (mq_fifo_path(dir, gone, fifo, sizeof(fifo)) == 0)
            unlink(fifo);
        unlink(path);
    }
    close(fd);
}

/* Removes the unlinked queues of dir that nobody holds (their last holder
 * was killed before it could). */
void mq_side_sweep(const char *dir)
{
    DIR *dh = opendir(dir);
    if (!dh)
        return;
    const char *pre = ".mq-side." MQ_GONE_PREFIX;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL)
        if (strncmp(e->d_name, pre, strlen(pre)) == 0 &&
            mq_gone_name_ok(e->d_name + strlen(".mq-side."), sizeof(e->d_name) - 9))
            mq_side_reap(dir, e->d_name + strlen(".mq-side."));
    closedir(dh);
}
