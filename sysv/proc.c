/* What this process is, cached: getpid and the credential calls are system
 * calls, too dear for every message. The pid is renewed in a forked child;
 * the credentials by every msgget and in a forked child, so a process that
 * changes its euid or groups is judged by its new ones from its next
 * msgget on (a documented difference from the kernel, which looks at every
 * call). */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "creds.h"

static _Atomic pid_t cached_pid;
static pthread_once_t once = PTHREAD_ONCE_INIT;

struct sysv_creds sysv_creds;
_Atomic int sysv_creds_valid;

/* The descriptors of creations in progress (sysv_creating_open): a
 * forked child closes its copies at once, so that the lock, which tells
 * whether a creator is alive, is held by the creator alone (a child that
 * lived on kept a killed creator's files from being removed). A
 * descriptor is listed before it is locked; one that a fork may have
 * copied before it was listed (the fork count moved while it was opened)
 * is opened again, so that the child's copy is of an open file that is
 * never locked. The open is not under creating_lock: an interposed open
 * may fork. */
#define CREATING_MAX 64
static int creating[CREATING_MAX] = {[0 ... CREATING_MAX - 1] = -1};
static pthread_mutex_t creating_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned forks; /* counted after each fork, under creating_lock */

static void before_fork(void)
{
    pthread_mutex_lock(&creating_lock);
}

static void parent_after_fork(void)
{
    atomic_fetch_add(&forks, 1);
    pthread_mutex_unlock(&creating_lock);
}

static void after_fork(void)
{
    atomic_store(&cached_pid, 0);
    atomic_store(&sysv_creds_valid, 0);
    for (int i = 0; i < CREATING_MAX; i++)
        if (creating[i] >= 0) {
            /* The system call: no interposer's locks in a forked child. */
            (void)syscall(SYS_close, creating[i]);
            creating[i] = -1;
        }
    pthread_mutex_unlock(&creating_lock);
}

static void install(void)
{
    pthread_atfork(before_fork, parent_after_fork, after_fork);
}

int sysv_creating_open(const char *path, int *slot)
{
    pthread_once(&once, install);
    *slot = -1;
    int flags = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    for (;;) {
        unsigned seen = atomic_load(&forks);
        int fd = open(path, flags, 0600);
        if (fd < 0)
            return -errno;
        flags &= ~(O_CREAT | O_EXCL); /* ours: opened again after a fork */
        pthread_mutex_lock(&creating_lock);
        int copied = atomic_load(&forks) != seen;
        for (int i = 0; !copied && i < CREATING_MAX && *slot < 0; i++)
            if (creating[i] < 0) {
                creating[i] = fd;
                *slot = i;
            }
        pthread_mutex_unlock(&creating_lock);
        if (copied) {
            close(fd);
            continue;
        }
        /* Locked before anything is written: an unlocked file that is not
         * whole is a dead creator's (see sysv_queue_cleanup). */
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            /* Locked first by a sweep judging it (it leaves a file this
             * young): the caller takes another name, as for one that
             * exists (msgget said EAGAIN in a chaos run). */
            int rc = errno == EWOULDBLOCK ? -EEXIST : -errno;
            sysv_creating_close(fd, *slot);
            unlink(path);
            return rc;
        }
        return fd;
    }
}

void sysv_creating_close(int fd, int slot)
{
    if (fd < 0)
        return;
    pthread_mutex_lock(&creating_lock);
    /* Not listed any more: this is a forked child, which closed it. */
    int mine = slot < 0 || creating[slot] == fd;
    if (slot >= 0 && mine)
        creating[slot] = -1;
    if (mine)
        close(fd);
    pthread_mutex_unlock(&creating_lock);
}

pid_t sysv_pid(void)
{
    pid_t p = atomic_load_explicit(&cached_pid, memory_order_relaxed);
    if (p == 0) {
        pthread_once(&once, install);
        p = getpid();
        atomic_store(&cached_pid, p);
    }
    return p;
}

void sysv_creds_refresh(void)
{
    pthread_once(&once, install);
    struct sysv_creds c;
    c.euid = geteuid();
    c.egid = getegid();
    int n = getgroups(SYSV_GROUPS_MAX, c.groups);
    c.ngroups = n < 0 ? 0 : n;
    /* Readers take the whole struct under no lock: a msgget racing a
     * message on another thread may see a mix of old and new groups,
     * harmless since both are this process's. */
    sysv_creds = c;
    atomic_store(&sysv_creds_valid, 1);
}

int64_t sysv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return ts.tv_sec;
}
