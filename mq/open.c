/* mq_open, mq_close, mq_unlink. */
#include "mq_internal.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Linux's defaults for a queue created without attributes. */
#define MQ_DEFAULT_MAXMSG  10
#define MQ_DEFAULT_MSGSIZE 8192
/* mbx's limits: messages up to 1 GiB, capacity below MBX_UNBOUNDED. */
#define MQ_MAX_MSGSIZE (1L << 30)
#define MQ_MAX_MAXMSG  ((long)INT32_MAX)

static int mbx_flags_of(int accmode)
{
    /* MBX_SHARED: a queue is meant to be opened by other users. */
    int f = MBX_SHARED;
    if (accmode == O_RDONLY || accmode == O_RDWR)
        f |= MBX_RECV;
    if (accmode == O_WRONLY || accmode == O_RDWR)
        f |= MBX_SEND;
    return f;
}

/* A creator makes its side file just after the mailbox: a mailbox without
 * one for longer than this was left by a creator that died, or planted.
 * A creator locks its mailbox (creating_lock) well within it. */
#define CREATING_NS 1000000000ll

/* Whether st (a mailbox's) was made or changed longer than CREATING_NS
 * ago. */
static int older_than_a_creation(const struct stat *st)
{
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0)
        return 0;
    int64_t age = (int64_t)(now.tv_sec - st->st_ctim.tv_sec) * 1000000000ll +
                  (now.tv_nsec - st->st_ctim.tv_nsec);
    return age > CREATING_NS;
}

/* The descriptors creators hold their lock by (creating_lock): a forked
 * child closes its copies at once, so the lock, which tells whether a
 * creator is alive, is held by the creator alone (a child that lived on
 * kept a killed creator's remains for good: every mq_open of the name
 * said EAGAIN). A descriptor is listed before it is locked; one that a
 * fork may have copied before it was listed (the fork count moved while
 * it was opened) is opened again, so the child's copy is of an open file
 * that is never locked. The open is not under creating_mu: an interposed
 * open may fork. */
#define CREATING_MAX 64
static int creating[CREATING_MAX] = {[0 ... CREATING_MAX - 1] = -1};
static pthread_mutex_t creating_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t creating_once = PTHREAD_ONCE_INIT;
static _Atomic unsigned forks; /* counted after each fork, under creating_mu */

static void creating_prepare(void)
{
    pthread_mutex_lock(&creating_mu);
}

static void creating_parent(void)
{
    atomic_fetch_add(&forks, 1);
    pthread_mutex_unlock(&creating_mu);
}

static void creating_child(void)
{
    for (int i = 0; i < CREATING_MAX; i++)
        if (creating[i] >= 0) {
            /* The system call: no interposer's locks in a forked child. */
            (void)syscall(SYS_close, creating[i]);
            creating[i] = -1;
        }
    pthread_mutex_unlock(&creating_mu);
}

static void creating_install(void)
{
    pthread_atfork(creating_prepare, creating_parent, creating_child);
}

/* Opens path read-only for a creation's lock, to be taken after this
 * returns, and lists it (*slot; -1 when more creations than listed run at
 * once: then a child forked meanwhile keeps the lock while it lives).
 * Returns the descriptor, or -1 (errno). */
static int creating_open(const char *path, int *slot)
{
    pthread_once(&creating_once, creating_install);
    *slot = -1;
    for (;;) {
        unsigned seen = atomic_load(&forks);
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            return -1;
        pthread_mutex_lock(&creating_mu);
        int copied = atomic_load(&forks) != seen;
        for (int i = 0; !copied && i < CREATING_MAX && *slot < 0; i++)
            if (creating[i] < 0) {
                creating[i] = fd;
                *slot = i;
            }
        pthread_mutex_unlock(&creating_mu);
        if (!copied)
            return fd;
        close(fd);
    }
}

/* Closes fd of creating_open, unless a fork closed it (in the child). */
static void creating_close(int fd, int slot)
{
    if (fd < 0)
        return;
    pthread_mutex_lock(&creating_mu);
    int mine = slot < 0 || creating[slot] == fd;
    if (slot >= 0 && mine)
        creating[slot] = -1;
    if (mine)
        close(fd);
    pthread_mutex_unlock(&creating_mu);
}

/* Takes, for a creator that just made mailbox mbxname (in dir), the shared
 * flock it holds on the mailbox's file until its side file is finished:
 * so an opener that finds the queue half made knows whether its creator
 * is alive (half_made_recover). Waits at most a second, as for the side
 * file's lock. Returns 0 (*fd_out holds the lock), EAGAIN (the mailbox is
 * gone already: taken for a dead creator's after this one stalled for
 * longer than CREATING_NS), ETIMEDOUT or another errno. */
static int creating_lock(const char *dir, const char *mbxname, mbx *h, int *fd_out, int *slot)
{
    char path[PATH_MAX + 64];
    int r = mq_mbx_path(dir, mbxname, path, sizeof(path));
    if (r != 0)
        return r;
    int fd = creating_open(path, slot);
    if (fd < 0)
        return errno == ENOENT ? EAGAIN : errno;
    struct stat st;
    if ((r = mq_side_lock_shared(fd)) == 0 && fstat(fd, &st) != 0)
        r = errno;
    if (r == 0 && st.st_nlink == 0)
        r = EAGAIN;
    /* Locked, the name's file is ours unless ours was taken for a dead
     * creator's first (removed: our handle says so) and another opener
     * made the queue again under the name: that queue is not ours to
     * finish (a creator stalled past CREATING_NS replaced its pipe and
     * side file; found by a review). Ours cannot be taken once we hold
     * the lock. */
    mbx_stat ms;
    if (r == 0 && mbx_stat_get(h, &ms) == -EIDRM)
        r = EAGAIN;
    if (r != 0) {
        creating_close(fd, *slot);
        return r;
    }
    *fd_out = fd;
    return 0;
}

/* Whether the side file at path is missing, or is this user's and was
 * never finished (shorter than a side file, or without the magic its
 * creator writes last). */
static int side_half_made(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT;
    struct stat st;
    uint32_t magic = 0;
    int r = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
            (st.st_size < MQ_SIDE_SIZE || pread(fd, &magic, sizeof(magic), 0) != sizeof(magic) ||
             magic != MQ_SIDE_MAGIC);
    close(fd);
    return r;
}

/* A queue of this user's that an mq_open(O_CREAT) killed while making it
 * left half made: its mailbox (and pipe) without a side file, or with one
 * never finished. Every mq_open of the name said EAGAIN (or EUCLEAN) for
 * good, until an mq_unlink. Removes them (the side file, the pipe, then
 * the mailbox, whose name keeps creators out until then) when the mailbox
 * is this user's, older than CREATING_NS, and its lock is free: its
 * creator holds it until the side file is finished (creating_lock), so
 * the creator is gone. Another user's stays (EACCES: others_stale_box).
 * Returns 1 when it removed them: the name is free. */
static int half_made_recover(const char *dir, const char *mbxname, const char *side_path,
                             const char *fifo_path)
{
    char path[PATH_MAX + 64];
    if (!side_half_made(side_path) || mq_mbx_path(dir, mbxname, path, sizeof(path)) != 0)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return 0;
    struct stat st, now;
    /* Locked, then looked at again: a creator finishing meanwhile did so
     * under its lock, before ours. Once locked, and the name the locked
     * mailbox's, nothing here changes until we are done: whoever removes
     * a mailbox with no finished side file takes its lock first (another
     * recoverer, mq_unlink's unlink_lone_box, a creator undoing its own
     * under its creating_lock), and no queue can be made under the name
     * while the mailbox holds it; its creator, if alive, is still before
     * its creating_lock (stalled past CREATING_NS: it then finds its
     * mailbox removed and leaves the name alone). */
    int gone = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
               older_than_a_creation(&st) && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
               side_half_made(side_path) && lstat(path, &now) == 0 && now.st_dev == st.st_dev &&
               now.st_ino == st.st_ino;
    if (gone) {
        (void)unlink(side_path);
        (void)unlink(fifo_path);
        gone = mbx_unlink(mbxname) == 0;
    }
    close(fd);
    return gone;
}

/* Creates queue mbxname exclusively. Returns 0 (d->h, d->side set), EEXIST,
 * EAGAIN (to be made again: see creating_lock) or another errno. */
static int create(struct mq_desc *d, const char *mbxname, const char *side_path,
                  const char *fifo_path, int accmode, mode_t mode, const struct mq_attr *qa)
{
    /* The heap kind: a ring frees the slot of a message received ahead
     * of older ones (a higher priority) only once those are gone, so a
     * queue could say full below mq_maxmsg; the heap counts messages. */
    mbx_options o;
    mbx_options_init(&o);
    o.kind = MBX_KIND_HEAP;
    mbx_attr a = o.attr;
    a.capacity = (uint32_t)qa->mq_maxmsg;
    a.max_msg_size = (uint64_t)qa->mq_msgsize;
    uint32_t posix_mode = (uint32_t)(mode & ~mq_umask() & 0777);
    uint32_t file_mode = mq_mbx_mode(posix_mode);
    /* The mailbox is ours alone until the side file is finished
     * (mq_side_create gives it file_mode): its lock says that we are
     * making the queue, and only we may take it. */
    a.mode = 0600;
    /* Storage follows the messages (mbx allocates as they come), so the
     * limit only has to allow a full queue. */
    uint64_t full = (uint64_t)qa->mq_maxmsg * (uint64_t)qa->mq_msgsize;
    a.memory_limit = full > a.memory_limit ? full : a.memory_limit;
    o.attr = a;
    int r = mbx_open_opts(mbxname, mbx_flags_of(accmode) | MBX_CREATE | MBX_EXCL, &o, &d->h);
    if (r < 0)
        return -r;
    int held = -1, slot = -1;
    r = creating_lock(d->dir, mbxname, d->h, &held, &slot);
    /* The pipe before the side file: openers wait for the side file. */
    if (r == 0)
        r = mq_fifo_make(fifo_path, file_mode);
    if (r == 0 && (r = mq_fifo_open(d, fifo_path)) != 0)
        unlink(fifo_path);
    if (r == 0 && (r = mq_side_create(d->dir, side_path, file_mode, posix_mode, held, &d->side_fd,
                                      &d->side)) != 0)
        unlink(fifo_path);
    if (r != 0) {
        if (d->ref >= 0)
            close(d->ref);
        if (d->ctl >= 0)
            close(d->ctl);
        d->ref = d->ctl = -1;
        mbx_close(d->h);
        /* Under our lock the name's mailbox is ours: nobody removes a
         * locked one. Without it (creating_lock failed), ours may be gone
         * already, taken for a dead creator's, and the name another
         * creator's finished queue: ours is left to the next opener's
         * half_made_recover. */
        if (held >= 0)
            mbx_unlink(mbxname);
        d->h = NULL;
    }
    creating_close(held, slot); /* the side file is finished, or all is undone */
    return r;
}

/* An mq_unlink killed between taking the name (unlink state 2) and saying
 * where the queue went (1) left the name unusable: when its process is
 * gone (or none is named: no unlink of this version leaves that), this
 * takes its place (its own pid into the word) and finishes it, its
 * renames in the same order, to the name it wrote in gone before any of
 * them; with no valid name there, nothing was renamed, and the unlink is
 * undone. Returns 1 when it did either. */
static int unlink_recover(const char *dir, const char *mbxname, struct mq_side *s)
{
    uint32_t w = atomic_load(&s->unlinked);
    int32_t who = MQ_UNLINK_PID(w);
    uint32_t mine = MQ_UNLINK_TAKEN_BY(getpid());
    if (MQ_UNLINK_STATE(w) != 2 || w == mine ||
        (who != 0 && (kill((pid_t)who, 0) == 0 || errno != ESRCH)) ||
        !atomic_compare_exchange_strong(&s->unlinked, &w, mine))
        return 0;
    char gone[sizeof(s->gone)];
    memcpy(gone, s->gone, sizeof(gone));
    uint32_t two = mine;
    char from[PATH_MAX + 64], to[PATH_MAX + 64];
    if (!mq_gone_name_ok(gone, sizeof(gone))) {
        atomic_compare_exchange_strong(&s->unlinked, &two, 0);
        return 1;
    }
    /* mq_move: a file the dead unlinker moved already may have been made
     * again under the name by a new queue (its mailbox moved, the name was
     * free), which stays. */
    if (mq_fifo_path(dir, mbxname, from, sizeof(from)) == 0 &&
        mq_fifo_path(dir, gone, to, sizeof(to)) == 0)
        (void)mq_move(from, to);
    if (mq_mbx_path(dir, mbxname, from, sizeof(from)) == 0 &&
        mq_mbx_path(dir, gone, to, sizeof(to)) == 0)
        (void)mq_move(from, to);
    if (atomic_compare_exchange_strong(&s->unlinked, &two, 1) &&
        mq_side_path(dir, mbxname, from, sizeof(from)) == 0 &&
        mq_side_path(dir, gone, to, sizeof(to)) == 0)
        (void)mq_move(from, to);
    return 1;
}

/* Whether mailbox mbxname (in dir) is another user's and has had no side
 * file for longer than a creator takes: planted, or left by a creator
 * that died, which we may not remove (a sticky directory), as another
 * user's queue of that name would be. */
static int others_stale_box(const char *dir, const char *mbxname)
{
    char path[PATH_MAX + 64];
    struct stat st;
    if (mq_mbx_path(dir, mbxname, path, sizeof(path)) != 0 || lstat(path, &st) != 0 ||
        st.st_uid == geteuid())
        return 0;
    return older_than_a_creation(&st);
}

/* Opens existing queue mbxname. Returns 0, ENOENT (none, or it went while
 * we looked: the caller may create it), EAGAIN (look again), EACCES or
 * another errno. */
static int open_existing(struct mq_desc *d, const char *mbxname, const char *side_path,
                         const char *fifo_path, int accmode)
{
    int r = mq_side_open(side_path, &d->side_fd, &d->side);
    if (r == ENOENT) {
        /* A mailbox without its side file yet: its creator is between the
         * two; or no queue at all. Another user's that stays so is no
         * queue we can have: EACCES at once (it said EAGAIN after looking
         * for a second, at every mq_open of the name). Judged first, by
         * the file's owner and age alone: another user's mailbox is its
         * creator's alone (0600) until the side file is finished, so
         * mbx_stat_name says EACCES for it, which is a mailbox there too
         * (taken for none, a killed creator's remains said ENOENT, and
         * with O_CREAT EAGAIN after seconds, at every mq_open; found by a
         * review). A younger one is looked at again (EAGAIN), as the
         * owner's own is while its creator may be alive. */
        if (others_stale_box(d->dir, mbxname))
            return EACCES;
        mbx_stat st;
        int e = mbx_stat_name(mbxname, &st);
        if (e != 0 && e != -EACCES)
            return ENOENT;
        return half_made_recover(d->dir, mbxname, side_path, fifo_path) ? ENOENT : EAGAIN;
    }
    /* A side file never finished: a dead creator's is removed. */
    if (r == EUCLEAN && half_made_recover(d->dir, mbxname, side_path, fifo_path))
        return ENOENT;
    if (r != 0)
        return r;
    if (!mq_access_ok(d->side_fd, d->side, accmode)) {
        r = EACCES;
        goto fail;
    }
    /* Lock first, then look: an unlinker that saw no lock is done with
     * the name before we look (so we see it unlinked), one that comes
     * later sees our lock and leaves the queue to us. */
    if ((r = mq_side_lock_shared(d->side_fd)) != 0)
        goto fail;
    if (atomic_load(&d->side->unlinked)) {
        unlink_recover(d->dir, mbxname, d->side);
        r = EAGAIN;
        goto fail;
    }
    r = -mbx_open(mbxname, mbx_flags_of(accmode), NULL, &d->h);
    if (r == ENOENT || r == EIDRM)
        r = EAGAIN;
    if (r == 0 && (r = mq_fifo_open(d, fifo_path)) == ENOENT)
        r = EAGAIN; /* mq_unlink took it meanwhile */
    if (r == 0)
        return 0;
    if (d->h)
        mbx_close(d->h);
    d->h = NULL;
fail:
    mq_side_close(d->side_fd, d->side);
    d->side_fd = -1;
    d->side = NULL;
    return r;
}

static void desc_free(struct mq_desc *d)
{
    if (d->h)
        mbx_close(d->h);
    if (d->ref >= 0)
        close(d->ref);
    if (d->ctl >= 0)
        close(d->ctl);
    mq_side_close(d->side_fd, d->side);
    if (d->fl)
        mq_flag_put(d->fl);
    mq_desc_recycle(d);
}

/* Opens (O_CREAT: creates) queue `name`, as mq_open(3). Returns the new
 * descriptor, or (mqd_t)-1 with errno: EINVAL (name without a leading
 * '/', access mode 3, bad attributes for a queue to be made: mq_maxmsg
 * or mq_msgsize <= 0 or over mbx's limits; an existing queue opens),
 * ENOENT (no queue, no O_CREAT; "/"), EACCES (permission; a name with
 * another '/', "." or ".."), EEXIST (O_CREAT|O_EXCL on an existing one),
 * ENAMETOOLONG, EMFILE, ENFILE, ENOMEM, ENOSPC, or an errno of mbx_open. */
MQ_API mqd_t mbxmq_open(const char *name, int oflag, ...)
{
    mq_signals_adopt();
    mode_t mode = 0;
    struct mq_attr *attr = NULL;
    if (oflag & O_CREAT) {
        va_list ap;
        va_start(ap, oflag);
        mode = (mode_t)va_arg(ap, unsigned int);
        attr = va_arg(ap, struct mq_attr *);
        va_end(ap);
    }
    char mbxname[MQ_MBX_NAME_MAX + 8];
    int r = mq_name_encode(name, mbxname, sizeof(mbxname));
    if (r != 0)
        return mq_fail(r);
    int accmode = oflag & O_ACCMODE;
    if (accmode == O_ACCMODE)
        return mq_fail(EINVAL);
    struct mq_attr qa = {.mq_maxmsg = MQ_DEFAULT_MAXMSG, .mq_msgsize = MQ_DEFAULT_MSGSIZE};
    /* Attributes a new queue could not have matter only when one is made:
     * an existing queue opens (EEXIST with O_EXCL), as the kernel's do. */
    int bad_attr = 0;
    if ((oflag & O_CREAT) && attr) {
        bad_attr = attr->mq_maxmsg <= 0 || attr->mq_msgsize <= 0 ||
                   attr->mq_maxmsg > MQ_MAX_MAXMSG || attr->mq_msgsize > MQ_MAX_MSGSIZE;
        if (!bad_attr)
            qa = *attr;
    }
    struct mq_desc *d = mq_desc_new();
    if (!d)
        return mq_fail(ENOMEM);
    d->side_fd = d->ref = d->ctl = -1;
    d->accmode = accmode;
    char side_path[PATH_MAX + 64], fifo_path[PATH_MAX + 64];
    if ((r = mq_dir(d->dir, sizeof(d->dir))) != 0 ||
        (r = mq_side_path(d->dir, mbxname, side_path, sizeof(side_path))) != 0 ||
        (r = mq_fifo_path(d->dir, mbxname, fifo_path, sizeof(fifo_path))) != 0)
        goto fail;
    r = EAGAIN;
    for (int tries = 0; r == EAGAIN && tries < 1000; tries++) {
        if (tries)
            usleep(1000);
        r = ENOENT;
        if ((oflag & O_CREAT) && !bad_attr) {
            r = create(d, mbxname, side_path, fifo_path, accmode, mode, &qa);
            if (r == EEXIST && !(oflag & O_EXCL))
                r = ENOENT; /* somebody else's: open it */
            else if (r == EEXIST && half_made_recover(d->dir, mbxname, side_path, fifo_path))
                r = EAGAIN; /* a dead creator's remains, removed: make it */
            else if (r != EEXIST && r != 0 && r != EAGAIN)
                break;
        }
        if (r == ENOENT) {
            r = open_existing(d, mbxname, side_path, fifo_path, accmode);
            if (r == ENOENT && bad_attr)
                r = EINVAL; /* none to open, and none can be made so */
            else if (r == 0 && bad_attr && (oflag & O_EXCL))
                r = EEXIST;
            else if (r == ENOENT && (oflag & O_CREAT))
                r = EAGAIN; /* it went between our create and open */
        }
    }
    if (r != 0)
        goto fail;
    mbx_stat st;
    if ((r = -mbx_stat_get(d->h, &st)) != 0)
        goto fail;
    d->msgsize = st.max_msg_size;
    d->maxmsg = st.capacity;
    mq_ready_opened(d);
    /* The descriptor: a duplicate of the pipe's description d->ref. */
    int q = fcntl(d->ref, F_DUPFD_CLOEXEC, 3);
    if (q < 0) {
        r = errno;
        goto fail;
    }
    if (!(d->fl = mq_flag_new(oflag & O_NONBLOCK)) || mq_table_add(q, d) < 0) {
        r = errno;
        close(q);
        goto fail;
    }
    return q;
fail:
    desc_free(d);
    return mq_fail(r);
}

/* Lets go of d, whose last number went: its notification; the rest
 * (mq_desc_final) once the calls still in progress on it are done. */
void mq_release(struct mq_desc *d)
{
    mq_table_unlist(d);
    mq_notify_drop(d);
    mq_put(d);
}

/* At d's last reference: its handle, pipe, side file lock go; removes an
 * unlinked queue nobody holds any more. */
void mq_desc_final(struct mq_desc *d)
{
    char gone[sizeof(d->side->gone)] = "";
    /* 2: an mq_unlink is between taking the name and saying where to. */
    for (int i = 0; i < 1000 && MQ_UNLINK_STATE(atomic_load(&d->side->unlinked)) == 2; i++)
        usleep(100);
    if (atomic_load(&d->side->unlinked) == 1) {
        memcpy(gone, d->side->gone, sizeof(gone));
        if (!mq_gone_name_ok(gone, sizeof(gone)))
            gone[0] = '\0';
    }
    char dir[PATH_MAX];
    memcpy(dir, d->dir, sizeof(dir));
    desc_free(d);
    if (gone[0])
        mq_side_reap(dir, gone);
}

/* Closes descriptor q, as mq_close(3): the queue stays open through other
 * duplicates. Returns 0, or -1 with errno EBADF. */
MQ_API int mbxmq_close(mqd_t q)
{
    int last;
    struct mq_desc *d = mq_table_remove(q, &last);
    if (!d)
        return -1;
    close(q);
    mq_notify_closed(d);
    if (last && !mq_table_adopt_dup(d))
        mq_release(d);
    mq_put(d); /* calls in progress on d keep it until they end */
    return 0;
}

/* Removes mailbox mbxname (its file at path) that has no finished side
 * file, and its pipe at fifo_path, unless the mailbox's lock is held: its
 * creator is making the queue (creating_lock), or half_made_recover is
 * removing it. A removal that did not wait for that lock let another
 * creator make a whole queue under the name, which a recoverer past its
 * checks then removed (side file, pipe and mailbox). That lock is its
 * owner's (and root's) alone: a creator's mailbox is 0600 until its side
 * file is finished (mq_side_create). Returns 0, or an
 * errno: ENOENT (no such mailbox, or one being made or removed: this
 * unlink comes before that creation), EPERM (another user's, in a sticky
 * directory) or another of mbx_unlink. */
static int unlink_lone_box(const char *mbxname, const char *path, const char *fifo_path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0 && errno == ENOENT)
        return ENOENT;
    if (fd < 0) {
        /* One we may not read, so not lock either (another user's): as
         * before, mbx_unlink says whether it is ours to remove. */
        int r = -mbx_unlink(mbxname);
        if (r == 0)
            unlink(fifo_path);
        return r;
    }
    struct stat st, now;
    int r = ENOENT;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        r = errno == EWOULDBLOCK ? ENOENT : errno;
    else if (fstat(fd, &st) == 0 && lstat(path, &now) == 0 && now.st_dev == st.st_dev &&
             now.st_ino == st.st_ino) {
        /* Locked, and the name's still: nobody else removes it now, so
         * no creator can put its pipe under the name before ours goes. */
        (void)unlink(fifo_path);
        r = -mbx_unlink(mbxname);
    }
    close(fd);
    return r;
}

/* Removes the name of queue `name`, as mq_unlink(3): descriptors open on
 * it keep working, the queue goes with the last of them (the mailbox is
 * renamed to "mq-gone.<random>" until then). Returns 0, or -1 with errno
 * EINVAL, ENOENT, EACCES (also for EPERM: another user's queue in a
 * sticky directory), ENAMETOOLONG. */
MQ_API int mbxmq_unlink(const char *name)
{
    char mbxname[MQ_MBX_NAME_MAX + 8], dir[PATH_MAX], side_path[PATH_MAX + 64];
    char mbx_path[PATH_MAX + 64], gone_side[PATH_MAX + 64], gone_path[PATH_MAX + 64];
    char fifo_path[PATH_MAX + 64], gone_fifo[PATH_MAX + 64];
    int r = mq_name_encode(name, mbxname, sizeof(mbxname));
    if (r == EACCES && name[0] == '/' && name[1] != '\0' && !strchr(name + 1, '/'))
        return mq_fail(ENOENT); /* "/." and "/..": no such queue can exist */
    if (r != 0)
        return mq_fail(r);
    if ((r = mq_dir(dir, sizeof(dir))) != 0 ||
        (r = mq_side_path(dir, mbxname, side_path, sizeof(side_path))) != 0 ||
        (r = mq_mbx_path(dir, mbxname, mbx_path, sizeof(mbx_path))) != 0 ||
        (r = mq_fifo_path(dir, mbxname, fifo_path, sizeof(fifo_path))) != 0)
        return mq_fail(r);
    int fd;
    struct mq_side *s;
    r = mq_side_open(side_path, &fd, &s);
    if (r == ENOENT || r == EUCLEAN) {
        /* No side file: a mailbox of that name not made by the shim (or a
         * creator that died before making it, or is making it). */
        r = unlink_lone_box(mbxname, mbx_path, fifo_path);
        return r ? mq_fail(r == EPERM ? EACCES : r) : 0;
    }
    if (r != 0)
        return mq_fail(r);
    /* /dev/mqueue is a sticky directory: only the queue's owner (or root)
     * removes it, whatever MBX_DIR's own permissions say. */
    struct stat st;
    if (fstat(fd, &st) < 0 || (geteuid() != 0 && geteuid() != st.st_uid)) {
        mq_side_close(fd, s);
        return mq_fail(EACCES);
    }
    /* Held until we are done: the side file, once a creator or we moved
     * it to the mq-gone name, stays there (no reap while it is locked), so
     * our move of the name's side file fails (mq_move: EEXIST) when the
     * creator's came first, and leaves the creator's new one. An
     * exclusive holder (anyone who may read the file) only delays that. */
    (void)mq_side_lock_shared(fd);
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
        rnd = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&rnd;
    char gone[sizeof(s->gone)];
    snprintf(gone, sizeof(gone), "%s%016llx", MQ_GONE_PREFIX, (unsigned long long)rnd);
    /* The name and who took it in one step: no kill leaves it taken by
     * nobody known. */
    uint32_t zero = 0, mine = MQ_UNLINK_TAKEN_BY(getpid());
    if (!atomic_compare_exchange_strong(&s->unlinked, &zero, mine) &&
        !(unlink_recover(dir, mbxname, s) && (zero = 0, 1) &&
          atomic_compare_exchange_strong(&s->unlinked, &zero, mine))) {
        mq_side_close(fd, s);
        return mq_fail(ENOENT); /* another mq_unlink took it */
    }
    /* Where to, before any rename: whoever finishes for us if we are
     * killed (unlink_recover) goes there. */
    memcpy(s->gone, gone, sizeof(gone));
    /* The pipe goes first: a queue created under the name once the mailbox
     * went must not find (and replace) this queue's pipe. */
    int fifo_moved = 0;
    if ((r = mq_mbx_path(dir, gone, gone_path, sizeof(gone_path))) != 0 ||
        (r = mq_side_path(dir, gone, gone_side, sizeof(gone_side))) != 0 ||
        (r = mq_fifo_path(dir, gone, gone_fifo, sizeof(gone_fifo))) != 0 ||
        (mq_move(fifo_path, gone_fifo) < 0 && (r = errno) != 0) || !(fifo_moved = 1) ||
        (mq_move(mbx_path, gone_path) < 0 && (r = errno) != 0)) {
        if (fifo_moved)
            rename(gone_fifo, fifo_path);
        atomic_store(&s->unlinked, 0);
        mq_side_close(fd, s);
        return mq_fail(r == EPERM ? EACCES : r);
    }
    /* The name is free: a creator may make its queue now, and finding our
     * side file under the name moves it where we would (mq_side_create):
     * whichever move comes first; ours never moves the creator's. */
    atomic_store(&s->unlinked, 1);
    (void)mq_move(side_path, gone_side);
    mq_side_close(fd, s);
    mq_side_sweep(dir); /* this one, and any a killed holder left */
    return 0;
}
