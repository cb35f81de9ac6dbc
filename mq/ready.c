/* Readiness of an mqd_t for poll, select and epoll.
 *
 * The kernel reports an mqd_t readable exactly while its queue holds a
 * message and writable exactly while it has room, whatever the
 * descriptor's access mode, level-triggered. mbx's pollable descriptors
 * (mbx_fd) carry one direction each, as readability only, so neither can
 * be an mqd_t.
 *
 * An mqd_t is instead a descriptor of a named pipe beside the queue
 * (".mq-fifo.<mailbox>"), opened for reading and writing by every process
 * using the queue, holding 0, 1 or all of its packets (O_DIRECT: each
 * write one packet, one page buffer of the pipe, never merged):
 *
 *   queue empty        pipe empty            POLLOUT
 *   some messages      one packet            POLLIN | POLLOUT
 *   queue full         as many as it holds   POLLIN
 *
 * so the pipe's own readiness is the queue's. The pipe is shrunk to two
 * pages where the kernel lets it (then "full" is two packets).
 *
 * Keeping the pipe in step costs a system call at each change between
 * empty, partly full and full, which would make every message of a
 * ping-pong cost two. So it is kept only for a queue somebody polls: the
 * first process that gives a descriptor of the queue to poll, ppoll,
 * select, pselect or epoll_ctl (interpose.c) sets `polled` in the side
 * file, for good, and brings the pipe in step; from then on every send
 * and receive of every process brings it in step after its change. A
 * program that polls by a raw system call (or io_uring) is not seen:
 * MBX_MQ_POLL=1 in its environment keeps every queue it opens in step
 * from the start (so does a build without the interposers).
 *
 * Order: a sender or receiver makes its change, then (full fence) reads
 * `polled`; the first poller sets `polled`, then (full fence) reads the
 * queue's count under the lock. One of the two sees the other's write, so
 * no change is missed. Under the lock the pipe is set from the count read
 * there, so the last of several racing changers leaves it right.
 *
 * A process killed between its change and its update leaves the pipe
 * behind until the next send, receive or open of the queue. */
#include "mq_internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Gives the pipe just made at path its mode through a descriptor: by
 * name, a chmod would follow whatever another user put there meanwhile (a
 * symbolic link, in a directory without the sticky bit) and change that
 * file. Returns 0 or an errno (EUCLEAN: not a pipe of one name). */
static int fifo_chmod(const char *path, uint32_t mode)
{
    int fd = open(path, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno;
    struct stat st;
    int e = 0;
    if (fstat(fd, &st) < 0)
        e = errno;
    else if (!S_ISFIFO(st.st_mode) || st.st_nlink != 1)
        e = EUCLEAN;
    else if (fchmod(fd, mode) < 0)
        e = errno;
    close(fd);
    return e;
}

/* Creates the named pipe at path with permission bits mode (a file left
 * by a crash is replaced: the queue's mailbox was just created
 * exclusively). Returns 0 or an errno: EACCES when a file there cannot be
 * removed (another user's, in a sticky directory: the name is taken, as
 * by another user's queue; before, mq_open looked again for a second and
 * said EAGAIN). */
int mq_fifo_make(const char *path, uint32_t mode)
{
    for (int tries = 0; tries < 2; tries++) {
        if (mkfifo(path, 0600) == 0)
            return fifo_chmod(path, mode);
        if (errno != EEXIST)
            return errno;
        if (unlink(path) < 0 && errno != ENOENT)
            return errno == EPERM ? EACCES : errno;
    }
    return EEXIST;
}

/* Opens the named pipe at path for d: d->ref (the mqd_t's description)
 * and d->ctl (packet mode, non-blocking: the shim's own reads and writes),
 * and notes its identity. Returns 0, ENOENT (not there: the queue is
 * being created or unlinked), or another errno (EUCLEAN: not a pipe). */
int mq_fifo_open(struct mq_desc *d, const char *path)
{
    d->ref = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (d->ref < 0)
        return errno == ELOOP ? EUCLEAN : errno;
    struct stat st;
    if (fstat(d->ref, &st) < 0 || !S_ISFIFO(st.st_mode)) {
        close(d->ref);
        d->ref = -1;
        return EUCLEAN;
    }
    d->dev = st.st_dev;
    d->ino = st.st_ino;
    d->ctl = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (d->ctl < 0 || fcntl(d->ctl, F_SETFL, O_RDWR | O_NONBLOCK | O_DIRECT) < 0) {
        int e = d->ctl < 0 ? errno : EUCLEAN;
        if (d->ctl >= 0)
            close(d->ctl);
        close(d->ref);
        d->ref = d->ctl = -1;
        return e;
    }
    return 0;
}

/* How long a process waits for the pipe's lock before it leaves the pipe
 * as it is. The lock is held for a few system calls; a holder that keeps
 * it for seconds is stopped, or hostile: any user of the queue, one with
 * read access only too, may write the side file and take the lock, and
 * waiting on would let it hang every mq_open (and every send and receive
 * of a polled queue) for ever. Giving up costs only readiness, which such
 * a user can spoil anyway by writing into the pipe. */
#define FIFO_LOCK_WAIT_S 2

/* Takes the side file's lock of the pipe for d, waiting FIFO_LOCK_WAIT_S
 * at most, or 10 ms while d's last wait timed out and no take succeeded
 * since (a holder delays d once, not every call; a lawful holder keeps it
 * for microseconds). Returns 1 when its last holder died holding it (the
 * caller counts the packets again), 0, or -1 when it is not taken (the
 * caller leaves the pipe as it is). */
static int lock(struct mq_desc *d)
{
    pthread_mutex_t *m = &d->side->fifo_lock;
    /* CLOCK_REALTIME (what every sanitizer knows): a clock step only
     * lengthens or shortens this one bound. */
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    if (atomic_load_explicit(&d->fifo_stuck, memory_order_relaxed)) {
        t.tv_nsec += 10000000L;
        if (t.tv_nsec >= 1000000000L) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000L;
        }
    } else {
        t.tv_sec += FIFO_LOCK_WAIT_S;
    }
    int r = pthread_mutex_timedlock(m, &t);
    atomic_store_explicit(&d->fifo_stuck, r == ETIMEDOUT, memory_order_relaxed);
    if (r == EOWNERDEAD) {
        pthread_mutex_consistent(m);
        return 1;
    }
    return r == 0 ? 0 : -1;
}

/* Counts the packets in the pipe and its capacity, shrinking it to two
 * pages first where it can. Under the lock. */
static void recount(struct mq_desc *d)
{
    struct mq_side *s = d->side;
    long page = sysconf(_SC_PAGESIZE);
    int size = fcntl(d->ctl, F_GETPIPE_SZ);
    if (page > 0 && size > 2 * page && fcntl(d->ctl, F_SETPIPE_SZ, (int)(2 * page)) >= 0)
        size = fcntl(d->ctl, F_GETPIPE_SZ);
    s->fifo_slots = page > 0 && size >= page ? (uint32_t)(size / page) : 1;
    int n = 0;
    if (ioctl(d->ctl, FIONREAD, &n) < 0 || n < 0)
        n = 0;
    s->fifo_bufs = (uint32_t)n; /* one byte a packet */
}

/* Sets the pipe from the queue's count. Under the lock. The counts come
 * from the side file, which a peer may write at any time: each is read
 * once, and no pass writes or reads more than FIFO_STEPS packets (one a
 * system call), so a count of 2^32 and a pipe a peer keeps filling cannot
 * hold the lock for hours. What is left over is recounted. */
#define FIFO_STEPS 256u /* packets of one page: the largest pipe (1 MiB) */
static void fix(struct mq_desc *d)
{
    struct mq_side *s = d->side;
    uint32_t slots = __atomic_load_n(&s->fifo_slots, __ATOMIC_RELAXED);
    uint32_t bufs = __atomic_load_n(&s->fifo_bufs, __ATOMIC_RELAXED);
    if (slots > FIFO_STEPS)
        slots = FIFO_STEPS;
    mbx_stat st;
    uint32_t want = 1; /* mailbox gone: both, so the caller's next call says EBADF */
    if (mbx_stat_get(d->h, &st) == 0)
        want = st.count == 0 ? 0 : st.count >= st.capacity ? slots : 1;
    if (want > slots)
        want = slots;
    char c = 'm';
    unsigned steps = 0;
    for (; bufs < want && steps < FIFO_STEPS && write(d->ctl, &c, 1) == 1; steps++)
        __atomic_store_n(&s->fifo_bufs, ++bufs, __ATOMIC_RELAXED);
    for (; bufs > want && steps < FIFO_STEPS && read(d->ctl, &c, 1) == 1; steps++)
        __atomic_store_n(&s->fifo_bufs, --bufs, __ATOMIC_RELAXED);
    if (bufs != want)
        recount(d); /* somebody else wrote or read the pipe */
}

/* Brings d's pipe in step now (an opener may be the first holder of a
 * pipe the kernel just made empty). */
static void sync_now(struct mq_desc *d, int count_first)
{
    int r = lock(d);
    if (r < 0)
        return;
    if (r == 1 || count_first)
        recount(d);
    fix(d);
    pthread_mutex_unlock(&d->side->fifo_lock);
}

/* Called by mq_open with d's pipe open: counts the pipe's packets (a pipe
 * nobody held was emptied by the kernel) and, when the queue is polled or
 * the process asks for it, brings it in step. Waits for the lock a bounded
 * time only (see lock): the open goes on without it. */
void mq_ready_opened(struct mq_desc *d)
{
    const char *always = getenv("MBX_MQ_POLL");
    if ((always && always[0] == '1') || !MQ_INTERPOSED)
        atomic_store(&d->side->polled, 1);
    if (atomic_load(&d->side->polled)) {
        sync_now(d, 1);
    } else if (lock(d) >= 0) {
        recount(d);
        pthread_mutex_unlock(&d->side->fifo_lock);
    }
}

/* After a send or receive on d changed the queue: brings the pipe in
 * step if the queue is polled. One load when it is not. */
void mq_ready_changed(struct mq_desc *d)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&d->side->polled, memory_order_relaxed))
        sync_now(d, 0);
}

/* Before a descriptor of d's queue is polled: from now on the queue's
 * pipe is kept in step (see above). */
void mq_ready_polled(struct mq_desc *d)
{
    if (atomic_load(&d->side->polled))
        return;
    atomic_store(&d->side->polled, 1);
    atomic_thread_fence(memory_order_seq_cst);
    sync_now(d, 0);
}

/* Initialises the pipe's lock in a new side file. Returns 0 or an errno. */
int mq_ready_init(struct mq_side *s)
{
    pthread_mutexattr_t a;
    int r = pthread_mutexattr_init(&a);
    if (r == 0)
        r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (r == 0)
        r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (r == 0)
        r = pthread_mutex_init(&s->fifo_lock, &a);
    pthread_mutexattr_destroy(&a);
    return r;
}
