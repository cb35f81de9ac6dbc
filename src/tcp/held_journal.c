/* The gateway's journal of held messages (held_journal.h). */
#include "tcp/held_journal.h"

#include "core/names.h"
#include "core/process.h"
#include "shm/files.h"
#include "shm/origin.h"

#include "mbx.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define PREFIX     ".mbx-held."
#define PREFIX_LEN (sizeof(PREFIX) - 1)
#define MAGIC      "MBXHELD1"
#define HEADER_LEN 32   /* magic, name length, priority, type, size */
#define LOOK_MAX   4096 /* directory entries a recovery looks at, at most */

struct header {
    char magic[8];
    uint32_t name_len, priority;
    uint64_t type, size;
};
_Static_assert(sizeof(struct header) == HEADER_LEN, "no padding");

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
/* Set by a recovery that left a journal because its mailbox was full:
 * a running gateway tries again (held_journal_again). */
static int again;
static int lock_fd = -1;  /* our .mbx-held.PID.lock, flock(LOCK_SH) */
static pid_t lock_pid;    /* whose it is: a forked child makes its own */
static uint64_t next_seq; /* under mu */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/* mu is taken before a fork, so that no thread is in the middle of making
 * the lock file when it comes. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&mu);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&mu);
}

/* A forked child lets go of its copy of our lock file's descriptor at
 * once: a flock belongs to the open file, which the fork shares, so the
 * copy kept the lock, and the journals of a gateway killed with SIGKILL
 * looked alive, and were left, for as long as its child lived (a user's
 * program with a gateway in it that forks). The child makes its own when
 * it writes journals. */
static void fork_child(void)
{
    if (lock_fd >= 0)
        close(lock_fd);
    lock_fd = -1;
    pthread_mutex_unlock(&mu);
}

/* Registered after the library's own (process_init first): fork handlers
 * that prepare run in the reverse order of their registration, so mu is
 * taken before the library's locks, the order in which a recovery takes
 * them (mu held while it opens and sends). */
static void fork_handlers(void)
{
    process_init();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* Makes and locks this process's lock file, once, with mu held. Without
 * it journals are still written: a recoverer then goes by the pid alone. */
static void lock_make(void)
{
    if (lock_fd >= 0 && lock_pid == getpid())
        return;
    if (lock_fd >= 0)
        close(lock_fd); /* not ours: fork_child left none, but to be sure */
    lock_fd = -1;
    char path[NAME_PATH_MAX];
    snprintf(path, sizeof(path), "%s/" PREFIX "%d.lock", name_dir(), (int)getpid());
    int fd = open(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    struct stat st;
    if (fd < 0)
        return;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1 ||
        flock(fd, LOCK_SH | LOCK_NB)) {
        close(fd);
        return;
    }
    lock_fd = fd;
    lock_pid = getpid();
}

/* Writes iov from the file's start. */
static int write_all(int fd, struct iovec *iov, int n)
{
    off_t at = 0;
    while (n > 0) {
        ssize_t w = pwritev(fd, iov, n, at);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        at += w;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++, n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

char *held_journal_make(int *fd)
{
    *fd = -1;
    char *path = malloc(NAME_PATH_MAX);
    if (!path)
        return NULL;
    pthread_once(&fork_once, fork_handlers); /* not under mu: see fork_handlers */
    for (int tries = 0; tries < 4; tries++) {
        pthread_mutex_lock(&mu);
        lock_make();
        uint64_t seq = next_seq++;
        pthread_mutex_unlock(&mu);
        snprintf(path, NAME_PATH_MAX, "%s/" PREFIX "%d.%llu", name_dir(), (int)getpid(),
                 (unsigned long long)seq);
        *fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (*fd >= 0)
            return path;
        if (errno != EEXIST) /* EEXIST: a dead process's of our pid, recovery's */
            break;
    }
    free(path);
    return NULL;
}

int held_journal_fill(int fd, const char *box, uint32_t priority, uint64_t type, const void *data,
                      uint64_t size)
{
    size_t name_len = strlen(box);
    if (name_len == 0 || name_len > NAME_MAX_LEN || size > HELD_JOURNAL_PAYLOAD_MAX)
        return -EINVAL;
    struct header h;
    memcpy(h.magic, MAGIC, sizeof(h.magic));
    h.name_len = (uint32_t)name_len;
    h.priority = priority;
    h.type = type;
    h.size = size;
    struct iovec iov[3] = {{&h, sizeof(h)}, {(void *)box, name_len}, {(void *)data, size}};
    int r = write_all(fd, iov, size ? 3 : 2);
    if (r)
        held_journal_clear(fd); /* a part of it: not a journal */
    return r;
}

void held_journal_clear(int fd)
{
    /* Empty: holds nothing (a recoverer removes it). A journal that
     * cannot be emptied (it never fails on a regular file we wrote) would
     * be put back again after a kill: at least once. */
    while (ftruncate(fd, 0) != 0 && errno == EINTR)
        ;
}

void held_journal_remove(char *path)
{
    if (!path)
        return;
    unlink(path);
    free(path);
}

/* 1 when a and b are the same file (as hosts.c's same_file). */
static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Whether st is what a journal or lock file must be: a regular file of
 * our user with one link. */
static int ours(const struct stat *st)
{
    return S_ISREG(st->st_mode) && st->st_uid == geteuid() && st->st_nlink == 1;
}

/* Reads and checks journal `name` of directory dfd, then puts its message
 * back. Returns 1 when put back (the file removed), 0 when left (refused,
 * or its mailbox full or not to be opened), 2 when it held nothing or its
 * mailbox is gone (the file removed). Call with its writer's lock held (or none). */
static int recover_one(int dfd, const char *name)
{
    struct stat st, st2;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) || !ours(&st))
        return 0;
    if (st.st_size == 0) { /* its session held nothing */
        unlinkat(dfd, name, 0);
        return 2;
    }
    if (st.st_size < HEADER_LEN ||
        (uint64_t)st.st_size > HEADER_LEN + NAME_MAX_LEN + HELD_JOURNAL_PAYLOAD_MAX)
        return 0;
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    /* The very file looked at, still ours and linked once (another
     * recoverer that took it first unlinked it). */
    if (fstat(fd, &st2) || !ours(&st2) || !same_file(&st, &st2) || st2.st_size != st.st_size) {
        close(fd);
        return 0;
    }
    size_t len = (size_t)st.st_size;
    uint8_t *b = malloc(len + 1);
    size_t got = 0;
    while (b && got < len) {
        ssize_t n = read(fd, b + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    struct header h;
    if (!b || got != len) {
        free(b);
        return 0;
    }
    memcpy(&h, b, sizeof(h));
    char box[NAME_MAX_LEN + 1];
    if (memcmp(h.magic, MAGIC, sizeof(h.magic)) != 0 || h.name_len == 0 ||
        h.name_len > NAME_MAX_LEN || h.size > HELD_JOURNAL_PAYLOAD_MAX ||
        (uint64_t)len != HEADER_LEN + h.name_len + h.size) {
        free(b);
        return 0;
    }
    memcpy(box, b + HEADER_LEN, h.name_len);
    box[h.name_len] = 0;
    /* A short name only (the gateway serves no other): no path, no
     * process's mailbox. */
    if (memchr(box, 0, h.name_len) || name_check(box) != 0 || strchr(box, '/') || box[0] == '@') {
        free(b);
        return 0;
    }
    mbx *m = NULL;
    int r = mbx_open(box, MBX_SEND, NULL, &m);
    if (r == -ENOENT) { /* gone: as a put back into a mailbox gone */
        free(b);
        unlinkat(dfd, name, 0);
        return 2;
    }
    if (r) {
        free(b);
        return 0;
    }
    uint32_t origin = origin_mine;
    origin_set(0); /* sent by the gateway: its sender is not known */
    r = mbx_send_typed(m, b + HEADER_LEN + h.name_len, (size_t)h.size, h.priority, h.type,
                       MBX_NONBLOCK);
    origin_set(origin);
    mbx_close(m);
    free(b);
    if (r == -EAGAIN || r == -ENOSPC)
        __atomic_store_n(&again, 1, __ATOMIC_RELAXED); /* full: tried again soon */
    if (r)
        return 0; /* full, or refused */
    unlinkat(dfd, name, 0);
    return 1;
}

/* Parses "PID.REST" after the prefix: the pid, or 0. */
static long pid_of(const char *tail, const char **rest)
{
    char *end;
    long pid = strtol(tail, &end, 10);
    if (end == tail || *end != '.' || pid <= 0 || pid > INT32_MAX)
        return 0;
    *rest = end + 1;
    return pid;
}

/* 1 when lock file `lname` of dfd still is fd's file: checked with its
 * lock held, which keeps it so (whoever else unlinks or replaces it takes
 * the lock first, or would have to). */
static int still_named(int dfd, const char *lname, int fd)
{
    struct stat st, now;
    return fstat(fd, &st) == 0 && fstatat(dfd, lname, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
           same_file(&st, &now);
}

/* Whether the writer `pid` is gone: no such process (our own pid only
 * before we made our lock: a dead process's that had our pid), and
 * nobody holds its lock file. When it is gone, its lock file (if any) is
 * left open and locked exclusively in *lfd (-1: none), so that another
 * recoverer waits. The file locked must still be the one the name refers
 * to: another recoverer may have unlinked the one we opened (once done
 * with it) before we took its lock, and a new writer of that pid (in
 * another pid namespace) made its own under the name; we took it for
 * dead and put back the messages it held, or removed its lock file
 * (found by a review). */
static int writer_gone(int dfd, long pid, int *lfd)
{
    *lfd = -1;
    if (pid == getpid()) {
        if (lock_fd >= 0 && lock_pid == getpid())
            return 0;
    } else if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) {
        return 0;
    }
    char lname[64];
    snprintf(lname, sizeof(lname), PREFIX "%ld.lock", pid);
    int fd = openat(dfd, lname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT;
    struct stat st;
    if (fstat(fd, &st) || !ours(&st) || flock(fd, LOCK_EX | LOCK_NB) ||
        !still_named(dfd, lname, fd)) {
        close(fd); /* alive (in another pid namespace), not ours, or no longer the name's */
        return 0;
    }
    *lfd = fd;
    return 1;
}

int held_journal_again(void)
{
    return __atomic_load_n(&again, __ATOMIC_RELAXED);
}

unsigned held_journal_recover(void)
{
    unsigned back = 0;
    pthread_once(&fork_once, fork_handlers); /* not under mu: see fork_handlers */
    pthread_mutex_lock(&mu);
    __atomic_store_n(&again, 0, __ATOMIC_RELAXED);
    DIR *d = opendir(name_dir());
    if (d) {
        int dfd = dirfd(d);
        struct dirent *e;
        /* The journals first, then the dead writers' locks. */
        for (int pass = 0; pass < 2; pass++, rewinddir(d))
            for (unsigned looked = 0; (e = readdir(d)) != NULL && looked < LOOK_MAX;) {
                if (strncmp(e->d_name, PREFIX, PREFIX_LEN) != 0)
                    continue;
                looked++;
                const char *rest;
                long pid = pid_of(e->d_name + PREFIX_LEN, &rest);
                if (!pid)
                    continue;
                int is_lock = strcmp(rest, "lock") == 0;
                if (is_lock != pass ||
                    (!is_lock && (!*rest || strspn(rest, "0123456789") != strlen(rest))))
                    continue;
                int lfd;
                if (!writer_gone(dfd, pid, &lfd))
                    continue;
                if (is_lock) {
                    /* A dead writer's lock: removed once no journal of its is
                     * left (the ones refused stay, and so does it). */
                    char pfx[64];
                    int n = snprintf(pfx, sizeof(pfx), PREFIX "%ld.", pid);
                    int left = 0;
                    DIR *d2 = opendir(name_dir());
                    struct dirent *e2;
                    for (unsigned i = 0; d2 && !left && (e2 = readdir(d2)) != NULL && i < LOOK_MAX;
                         i++)
                        left = strncmp(e2->d_name, pfx, (size_t)n) == 0 &&
                               strcmp(e2->d_name + n, "lock") != 0;
                    if (d2)
                        closedir(d2);
                    if (!left && lfd >= 0 && still_named(dfd, e->d_name, lfd))
                        unlinkat(dfd, e->d_name, 0); /* that file, its lock held */
                } else {
                    back += recover_one(dfd, e->d_name) == 1;
                }
                if (lfd >= 0)
                    close(lfd);
            }
        closedir(d);
    }
    lock_make();
    pthread_mutex_unlock(&mu);
    return back;
}
