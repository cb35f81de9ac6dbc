/* Descriptor numbers to open queues.
 *
 * A number found in the table is trusted without a system call (the fast
 * path of every send and receive). The table stays right because the
 * shim sees the C library's calls that make or drop numbers
 * (interpose.c): close, dup2, dup3, close_range and closefrom forget a
 * queue's number (later calls on it say EBADF, as the kernel's do), dup,
 * dup2 and dup3 enter a copy. A number not in the table (a copy made by
 * fcntl(F_DUPFD), received over a socket) is looked up by its identity:
 * a descriptor of the queue's pipe (device and inode) sharing the open
 * file description of the queue's private d->ref (kcmp); it is then
 * added. Numbers dropped by a raw system call are not seen: a later
 * descriptor given such a number is taken for the queue. */
#include "mq_internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kcmp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CHUNK  1024
#define CHUNKS 1024 /* numbers below 1M */

static _Atomic(struct mq_desc *) *chunks[CHUNKS];
static struct mq_desc *all; /* every description of the process */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
/* Freed descriptions, for the next mq_open (linked by next). */
static struct mq_desc *spare;
static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;

/* A zeroed description with no reference (mq_table_add gives it its
 * first), or NULL. */
struct mq_desc *mq_desc_new(void)
{
    pthread_mutex_lock(&spare_lock);
    struct mq_desc *d = spare;
    if (d)
        spare = d->next;
    pthread_mutex_unlock(&spare_lock);
    if (!d)
        return calloc(1, sizeof(*d));
    /* refs stays 0: a late lookup may still read it */
    memset((char *)d + sizeof(d->refs), 0, sizeof(*d) - sizeof(d->refs));
    return d;
}

/* Keeps d's memory for the next description (d has no reference). */
void mq_desc_recycle(struct mq_desc *d)
{
    pthread_mutex_lock(&spare_lock);
    d->next = spare;
    spare = d;
    pthread_mutex_unlock(&spare_lock);
}

/* Takes a reference on d unless it has none left (it is being freed). */
static int get_not_zero(struct mq_desc *d)
{
    int r = atomic_load(&d->refs);
    while (r > 0)
        if (atomic_compare_exchange_weak(&d->refs, &r, r + 1))
            return 1;
    return 0;
}

/* Gives back a reference; the last frees d (mq_desc_final). Keeps errno. */
void mq_put(struct mq_desc *d)
{
    if (atomic_fetch_sub(&d->refs, 1) == 1) {
        int e = errno;
        mq_desc_final(d);
        errno = e;
    }
}

static _Atomic(struct mq_desc *) *slot(int q, int make)
{
    if (q < 0 || q >= CHUNK * CHUNKS)
        return NULL;
    _Atomic(struct mq_desc *) *c = __atomic_load_n(&chunks[q / CHUNK], __ATOMIC_ACQUIRE);
    if (!c && make) {
        c = calloc(CHUNK, sizeof(*c));
        if (!c)
            return NULL;
        __atomic_store_n(&chunks[q / CHUNK], c, __ATOMIC_RELEASE); /* under lock */
    }
    return c ? &c[q % CHUNK] : NULL;
}

/* In a forked child: its O_NONBLOCK records are shared with the parent,
 * so it holds a reference on each; it registered no notification. */
static void after_fork_child(void)
{
    pthread_mutex_init(&lock, NULL);
    pthread_mutex_init(&spare_lock, NULL);
    for (struct mq_desc *d = all; d; d = d->next) {
        /* the other threads' calls in progress are not in the child */
        atomic_store(&d->refs, 1);
        mq_flag_forked(d->fl);
        d->token = 0;
        d->alive_box = NULL; /* the parent's: a child must not close it */
        d->helper = NULL;    /* the parent's thread: not in the child */
    }
}

static void install_fork_handler(void)
{
    pthread_atfork(NULL, NULL, after_fork_child);
}

/* 1 when descriptors a and b share an open file description, 0 when
 * not, -1 when the kernel cannot tell (no kcmp). */
static int same_description(int a, int b)
{
    pid_t me = getpid();
    long r = syscall(SYS_kcmp, me, me, KCMP_FILE, a, b);
    return r == 0 ? 1 : r > 0 ? 0 : -1;
}

/* Whether n is one of the shim's own descriptors of a pipe. Caller holds
 * lock. */
static int internal(int n)
{
    for (struct mq_desc *d = all; d; d = d->next)
        if (n == d->ref || n == d->ctl)
            return 1;
    return 0;
}

/* Whether descriptor n (fstat in *st) is a copy of d's mqd_t. Caller
 * holds lock. */
static int copy_of(int n, const struct stat *st, const struct mq_desc *d)
{
    return S_ISFIFO(st->st_mode) && st->st_dev == d->dev && st->st_ino == d->ino && !internal(n) &&
           same_description(n, d->ref) != 0;
}

/* Returns the description number q names in the table, or NULL; no
 * system call. */
struct mq_desc *mq_table_known(int q)
{
    _Atomic(struct mq_desc *) *s = slot(q, 0);
    return s ? atomic_load(s) : NULL;
}

/* Returns the description number q names in the table, with a reference
 * taken, or NULL; no system call. */
struct mq_desc *mq_table_get(int q)
{
    for (;;) {
        struct mq_desc *d = mq_table_known(q);
        if (!d)
            return NULL;
        if (get_not_zero(d)) {
            if (mq_table_known(q) == d)
                return d;
            mq_put(d); /* q was closed meanwhile */
        } else if (mq_table_known(q) == d) {
            return NULL; /* released (mq_table_unlist takes it out) */
        }
        /* else d was freed, after q left the table: look again */
    }
}

/* Returns the description behind q with a reference taken (for mq_put),
 * or NULL with errno EBADF. */
struct mq_desc *mq_lookup(mqd_t q)
{
    struct mq_desc *d = mq_table_get(q);
    if (d)
        return d;
    struct stat st;
    if (q < 0 || fstat(q, &st) < 0 || !S_ISFIFO(st.st_mode)) {
        errno = EBADF;
        return NULL;
    }
    pthread_mutex_lock(&lock);
    _Atomic(struct mq_desc *) *s;
    for (d = all; d; d = d->next)
        if (copy_of(q, &st, d))
            break;
    if (d && (s = slot(q, 1)) && !atomic_load(s)) {
        atomic_store(s, d);
        d->nums++;
    }
    if (d)
        atomic_fetch_add(&d->refs, 1); /* listed: it has the numbers' reference */
    pthread_mutex_unlock(&lock);
    if (!d)
        errno = EBADF;
    return d;
}

/* Enters number q, a copy of one of d's, unless q is in the table. */
void mq_table_enter(int q, struct mq_desc *d)
{
    pthread_mutex_lock(&lock);
    _Atomic(struct mq_desc *) *s = slot(q, 1);
    if (s && !atomic_load(s) && atomic_load(&d->refs) > 0 && d->nums > 0) {
        atomic_store(s, d);
        d->nums++;
    }
    pthread_mutex_unlock(&lock);
}

/* Number q, which named d, was closed or now names something else: takes
 * it out, and lets go of d when it was d's last (as mq_close). */
void mq_number_gone(int q, struct mq_desc *d)
{
    pthread_mutex_lock(&lock);
    _Atomic(struct mq_desc *) *s = slot(q, 0);
    int took = s && atomic_load(s) == d;
    if (took) {
        atomic_store(s, NULL);
        d->nums--;
        atomic_fetch_add(&d->refs, 1); /* listed: it has the numbers' reference */
    }
    int last = took && d->nums == 0;
    pthread_mutex_unlock(&lock);
    if (!took)
        return;
    mq_notify_closed(d);
    if (last && !mq_table_adopt_dup(d))
        mq_release(d);
    mq_put(d);
}

/* Numbers first..last were closed: forgets the queues' among them. */
void mq_numbers_gone(unsigned first, unsigned last)
{
    for (unsigned c = first / CHUNK; c < CHUNKS && c <= last / CHUNK; c++) {
        if (!__atomic_load_n(&chunks[c], __ATOMIC_ACQUIRE))
            continue;
        for (unsigned i = 0; i < CHUNK; i++) {
            unsigned q = c * CHUNK + i;
            struct mq_desc *d;
            if (q >= first && q <= last && (d = mq_table_known((int)q)) != NULL)
                mq_number_gone((int)q, d);
        }
    }
}

/* Enters the new description d under number q. Returns 0, or -1 with
 * errno EMFILE (q beyond the table) or ENOMEM. */
int mq_table_add(mqd_t q, struct mq_desc *d)
{
    pthread_once(&fork_once, install_fork_handler);
    pthread_mutex_lock(&lock);
    _Atomic(struct mq_desc *) *s = slot(q, 1);
    if (!s) {
        pthread_mutex_unlock(&lock);
        errno = q < 0 || q >= CHUNK * CHUNKS ? EMFILE : ENOMEM;
        return -1;
    }
    atomic_store(&d->refs, 1); /* its numbers' */
    atomic_store(s, d);
    d->nums = 1;
    d->next = all;
    all = d;
    pthread_mutex_unlock(&lock);
    return 0;
}

/* Takes number q out of the table. Returns its description (whose nums
 * went down by one; *last: to 0), with a reference taken, or NULL with
 * errno EBADF. */
struct mq_desc *mq_table_remove(mqd_t q, int *last)
{
    *last = 0;
    struct mq_desc *d = mq_lookup(q); /* a dup never used yet is found too */
    if (!d)
        return NULL;
    pthread_mutex_lock(&lock);
    _Atomic(struct mq_desc *) *s = slot(q, 0);
    if (s && atomic_load(s) == d) {
        atomic_store(s, NULL);
        d->nums--;
        *last = d->nums == 0;
    }
    pthread_mutex_unlock(&lock);
    return d;
}

/* After d's last known number was closed: looks for another descriptor
 * of the process with d's identity (a dup the program made and has not
 * used with mq_* yet) and enters it. Returns 1 when one was found, 0. */
int mq_table_adopt_dup(struct mq_desc *d)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return 0;
    int found = 0, self = dirfd(dir);
    struct dirent *e;
    while (!found && (e = readdir(dir)) != NULL) {
        char *end;
        long n = strtol(e->d_name, &end, 10);
        struct stat st;
        if (*end || n < 0 || n > INT_MAX || n == self || fstat((int)n, &st) < 0)
            continue;
        pthread_mutex_lock(&lock);
        if (copy_of((int)n, &st, d)) {
            _Atomic(struct mq_desc *) *s = slot((int)n, 1);
            if (s && !atomic_load(s)) {
                atomic_store(s, d);
                d->nums++;
                found = 1;
            }
        }
        pthread_mutex_unlock(&lock);
    }
    closedir(dir);
    return found;
}

/* The description of this process on d's queue that holds registration
 * `token` (mq_notify), with a reference taken, or NULL. */
struct mq_desc *mq_table_registrant(const struct mq_desc *d, uint64_t token)
{
    pthread_mutex_lock(&lock);
    struct mq_desc *r = all;
    while (r && !(r->token == token && r->dev == d->dev && r->ino == d->ino))
        r = r->next;
    if (r)
        atomic_fetch_add(&r->refs, 1); /* listed: it has the numbers' reference */
    pthread_mutex_unlock(&lock);
    return r;
}

/* Takes d off the list of the process's descriptions, and out of any
 * number that still names it: a lookup that raced the close of its last
 * number may have entered that number again (kcmp on a closed number
 * cannot tell). */
void mq_table_unlist(struct mq_desc *d)
{
    pthread_mutex_lock(&lock);
    for (struct mq_desc **p = &all; *p; p = &(*p)->next)
        if (*p == d) {
            *p = d->next;
            break;
        }
    for (unsigned c = 0; c < CHUNKS; c++) {
        _Atomic(struct mq_desc *) *ch = __atomic_load_n(&chunks[c], __ATOMIC_ACQUIRE);
        for (unsigned i = 0; ch && i < CHUNK; i++)
            if (atomic_load(&ch[i]) == d) {
                atomic_store(&ch[i], NULL);
                d->nums--;
            }
    }
    pthread_mutex_unlock(&lock);
}

/* At a normal exit the kernel closes the process's queues; here the
 * unlinked ones this process may have held last are removed. Other
 * threads may still be sending and receiving on them (exit() does not stop
 * them before the destructors run): nothing they use is unmapped, closed
 * or freed. Only the side file's lock is dropped (LOCK_UN: a close would
 * not drop it while the file is mapped), so that the reap can tell whether
 * another process holds the queue; and only for descriptions no forked
 * child shares (the lock belongs to the description, theirs too): those
 * are left to their last holder, or to the next mq_unlink's sweep. */
__attribute__((destructor)) static void at_exit(void)
{
    /* No description is freed meanwhile. Waited for 100 ms at most: exit()
     * from a signal handler that interrupted a holder of the lock would
     * wait for ever (then nothing is reaped: the next mq_unlink's sweep). */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 100000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    if (pthread_mutex_timedlock(&lock, &until) != 0)
        return;
    for (struct mq_desc *d = all; d; d = d->next) {
        if (!d->side || d->side_fd < 0 || atomic_load(&d->side->unlinked) != 1 ||
            (d->fl && atomic_load(&d->fl->refs) != 1))
            continue;
        char gone[sizeof(d->side->gone)];
        memcpy(gone, d->side->gone, sizeof(gone));
        if (mq_gone_name_ok(gone, sizeof(gone)) && flock(d->side_fd, LOCK_UN) == 0)
            mq_side_reap(d->dir, gone);
    }
    pthread_mutex_unlock(&lock);
}
