/* The table of remote senders' hosts (hosts.h). */
#include "shm/hosts.h"

#include "shm/files.h"

#include <mbx.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HOSTS_MAGIC "MBXHOST1"
/* In a table's header after the magic: its gateway holds the lock file
 * beside it (.mbx-hosts.PID.lock, 0600), which alone says it is alive. A
 * table without it is a previous build's, alive while someone holds the
 * table itself locked. */
#define HOSTS_LOCK_MARK "LOCKFILE"
#define GEN_BITS        21
#define GEN_MASK        ((1u << GEN_BITS) - 1)
#define INDEX_BITS      (32 - GEN_BITS) /* index + 1: 1..HOSTS_MAX */

_Static_assert(HOSTS_MAX < (1u << INDEX_BITS), "an index + 1 fits beside the generation");

/* One place: its generation (0 while empty or being written) and text. A
 * writer sets the generation to 0, writes the text, then the new
 * generation; a reader takes the text only if it read the same nonzero
 * generation before and after it. */
struct host_entry {
    uint32_t gen;
    char text[HOSTS_TEXT_MAX];
};

struct hosts_file {
    char magic[8];
    char lock_mark[8]; /* HOSTS_LOCK_MARK, or zeros (a previous build's) */
    uint8_t pad[48];
    struct host_entry e[HOSTS_MAX];
};
_Static_assert(sizeof(struct host_entry) == 64, "an entry is one line");
_Static_assert(offsetof(struct hosts_file, lock_mark) == 8, "the header is magic then mark");

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct hosts_file *table; /* this process's, mapped; NULL: none yet */
static int64_t failed_at;        /* when it last could not be made (ns), 0: never */
static unsigned next_place;      /* the next place to give a new host */
static char table_path[NAME_PATH_MAX];
static char lock_path[NAME_PATH_MAX + sizeof(".lock")];
static pid_t table_pid; /* whose table it is: a forked child makes its own */
/* Open on our table with a shared flock while we have it: what tells a
 * previous build's sweeper in another pid namespace, where our pid names
 * nobody (or someone else), that the table is alive. -1: none. */
static int table_fd = -1;
/* Open on our lock file (.mbx-hosts.PID.lock, mode 0600) with an
 * exclusive flock while we have a table: what tells this build's
 * sweepers the table is alive. The table must be readable by every
 * receiver (mbx_msginfo_host), so anyone could hold a lock on it and pin
 * a dead gateway's table for good (found by a review); nobody but our
 * user can open the lock file. -1: none. */
static int lock_fd = -1;

/* Lets go of this process's hold on its table's files (a forked child's
 * copies: its parent's locks last while the parent keeps its own). */
static void table_fd_close(void)
{
    if (table_fd >= 0)
        close(table_fd);
    table_fd = -1;
    if (lock_fd >= 0)
        close(lock_fd);
    lock_fd = -1;
}

/* 1 when a and b are the same file. */
static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* 1 when st is a file our sweeps and locks may go by: a regular file of
 * our user with one link. */
static int mine(const struct stat *st)
{
    return S_ISREG(st->st_mode) && st->st_uid == geteuid() && st->st_nlink == 1;
}

/* Takes the lock file `name` (of dirfd) of a table: opened, made when
 * missing (mode 0600: only our user can open it, so only our user can
 * hold it), locked exclusively without waiting, and still the file the
 * name refers to (a sweeper may have removed it since it was opened).
 * Returns its descriptor; -EWOULDBLOCK when someone holds it (its gateway
 * is alive, or a sweeper judging it), -EEXIST when the name is not a file
 * of ours alone (another user's plant), -ESTALE when it was replaced
 * meanwhile (not -EAGAIN: that is -EWOULDBLOCK on Linux), or -errno. */
static int lock_take(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == ELOOP ? -EEXIST : -errno;
    struct stat st, now;
    int r = fd;
    if (fstat(fd, &st) != 0)
        r = -errno;
    else if (!mine(&st) || (st.st_mode & 077))
        r = -EEXIST;
    else if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        r = errno == EWOULDBLOCK ? -EWOULDBLOCK : -errno;
    else if (fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) != 0 || !same_file(&st, &now))
        r = -ESTALE;
    if (r < 0)
        close(fd);
    return r;
}

static void path_of(int32_t pid, char *out, size_t cap)
{
    snprintf(out, cap, "%s/.mbx-hosts.%d", name_dir(), (int)pid);
}

#define STALE_NS 1000000000ll /* a table younger than this is never swept */

/* 1 when st was changed less than STALE_NS before now. */
static int young(const struct stat *st, const struct timespec *now)
{
    int64_t age = ((int64_t)now->tv_sec - st->st_ctim.tv_sec) * 1000000000ll +
                  (now->tv_nsec - st->st_ctim.tv_nsec);
    return age < STALE_NS;
}

/* 1 when pid (from a file's name) may be a dead process's: not ours, and
 * no process of that pid from here. */
static int pid_gone(long pid)
{
    return pid != getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* 1 when table fd (st: its fstat) is to be judged alive by its own lock,
 * as a previous build's gateway held it: unmarked, full size and with the
 * magic, as a previous build's table always was while its gateway held it
 * (it took its lock after posix_fallocate; the magic followed at once: a
 * young table is given the benefit of that instant). Anything else
 * unmarked is one of this build whose gateway died before it wrote its
 * header (which it writes whole, mark and magic in one pwrite): judged by
 * its lock file. An empty table judged by its own lock, which any user
 * may take (it is 0644), was pinned by anyone for good, and a gateway
 * later given its pid named no host for its life (found by a review). */
static int previous_builds(int fd, const struct stat *st, const struct timespec *now)
{
    char head[16];
    if (pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head))
        return young(st, now);
    if (memcmp(head + offsetof(struct hosts_file, lock_mark), HOSTS_LOCK_MARK, 8) == 0)
        return 0;
    return young(st, now) || (st->st_size >= (off_t)sizeof(struct hosts_file) &&
                              memcmp(head, HOSTS_MAGIC, sizeof(table->magic)) == 0);
}

/* Sweeps table `name` of directory dfd (its process gone) if it is dead.
 * Its liveness is judged as its maker's build judges it: its lock file
 * held (this build's), or the table itself locked (a previous build's,
 * previous_builds).
 * Whatever is unlinked is unlinked while we hold its lock and still the
 * very file we judged: the sweep used to let go of its lock and then
 * unlink by name, and a live table of a new process of that pid could
 * have taken the name meanwhile (found by a review). */
static void table_sweep(int dfd, const char *name, const struct timespec *now)
{
    char lname[64];
    snprintf(lname, sizeof(lname), "%s.lock", name);
    int tfd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (tfd < 0)
        return;
    int lfd = -1, swept = 0;
    struct stat st, again;
    if (fstat(tfd, &st) != 0 || !mine(&st) || young(&st, now))
        goto out;
    int by_lock_file = !previous_builds(tfd, &st, now);
    /* Taken (made if missing), so that a gateway of this build starting
     * under that pid, which must take it to make its table, waits for us
     * (table_make retries a while). Not ours (another user's plant): no
     * gateway of ours holds it. */
    if (by_lock_file) {
        lfd = lock_take(dfd, lname);
        if (lfd == -EWOULDBLOCK || lfd == -ESTALE)
            goto out; /* alive, or swept by another this instant */
    }
    /* This build's table's own lock says nothing: anyone who may read it
     * may hold it. A previous build's is its gateway's; ours keeps such a
     * gateway from replacing it while we unlink. */
    if (flock(tfd, LOCK_EX | LOCK_NB) != 0 && !by_lock_file)
        goto out;
    if (fstatat(dfd, name, &again, AT_SYMLINK_NOFOLLOW) != 0 || !same_file(&st, &again))
        goto out;
    swept = unlinkat(dfd, name, 0) == 0;
out:
    if (lfd >= 0) {
        if (swept)
            (void)unlinkat(dfd, lname, 0);
        close(lfd);
    }
    close(tfd);
}

/* Sweeps lock file `name` of directory dfd whose table is gone (its
 * gateway was killed between removing the one and the other, or before it
 * made its table), if nobody holds it. */
static void lock_sweep(int dfd, const char *name, const struct timespec *now)
{
    struct stat st;
    char tname[64];
    size_t n = strlen(name) - (sizeof(".lock") - 1);
    if (n >= sizeof(tname) || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !mine(&st) ||
        young(&st, now))
        return;
    memcpy(tname, name, n);
    tname[n] = '\0';
    if (fstatat(dfd, tname, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
        return; /* the table's sweep goes by it */
    int lfd = lock_take(dfd, name);
    if (lfd < 0)
        return;
    if (fstatat(dfd, tname, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
        (void)unlinkat(dfd, name, 0);
    close(lfd);
}

/* Removes the tables our user's dead processes left (a gateway killed with
 * kill -9 removed nothing: a chaos run left 27 after 26 restarts), and
 * their lock files. Only ours, regular files with one link, their process
 * gone and older than STALE_NS (a new process of that pid making its
 * table this instant is not swept), and nobody holding their lock: a live
 * process of another pid namespace sharing the directory looks gone by
 * its pid from here (its table was swept, found by a review). Best
 * effort, once per process, with mu held. */
static void tables_sweep(void)
{
    DIR *d = opendir(name_dir());
    if (!d)
        return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct dirent *e;
    unsigned looked = 0;
    while ((e = readdir(d)) != NULL && looked < 4096) {
        const char *tail = e->d_name + sizeof(".mbx-hosts.") - 1;
        if (strncmp(e->d_name, ".mbx-hosts.", sizeof(".mbx-hosts.") - 1) != 0)
            continue;
        looked++;
        char *end;
        long pid = strtol(tail, &end, 10);
        int is_lock = strcmp(end, ".lock") == 0;
        if ((*end && !is_lock) || end == tail || pid <= 0 || pid > INT32_MAX || !pid_gone(pid))
            continue;
        if (is_lock)
            lock_sweep(dirfd(d), e->d_name, &now);
        else
            table_sweep(dirfd(d), e->d_name, &now);
    }
    closedir(d);
}

/* 1 when table file `path` is a previous build's in use: shaped as one
 * (previous_builds), and locked by someone (its gateway, of another pid
 * namespace sharing the directory, whose pid is ours here). */
static int old_table_alive(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int held = fstat(fd, &st) == 0 && previous_builds(fd, &st, &now) &&
               flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

#define LOCK_WAITS 100 /* of 1 ms: how long a starting gateway waits for a sweeper */

/* Makes this process's table, with mu held. Its lock file first: once we
 * hold it, a table of this build under our pid is a dead process's (the
 * pid is ours now) and is replaced, when it is ours; while someone else
 * holds it, the table is a live one of another pid namespace sharing the
 * directory (its pid is ours here): not replaced, and we have none. */
static int table_make(int patient)
{
    tables_sweep();
    path_of((int32_t)getpid(), table_path, sizeof(table_path));
    snprintf(lock_path, sizeof(lock_path), "%s.lock", table_path);
    /* A sweeper of our user holds the lock file of a dead process of our
     * pid for an instant while it judges its table: waited for, a while,
     * at a gateway's start (patient); else a live holder (a gateway of
     * another pid namespace) would cost each retry the wait. Without the
     * wait (three tries at once) a gateway that started under a sweep
     * had no table for a second (found by a review). */
    int lfd, waits = 0, replaced = 0;
    for (;;) {
        lfd = lock_take(AT_FDCWD, lock_path);
        if (lfd == -ESTALE && ++replaced < 3)
            continue;
        if (lfd != -EWOULDBLOCK || !patient || waits++ >= LOCK_WAITS)
            break;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    if (lfd < 0)
        return lfd == -EWOULDBLOCK ? -EBUSY : lfd;
    int fd = -1, err = 0;
    for (int tries = 0; fd < 0 && !err && tries < 2; tries++) {
        fd = open(table_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        /* A previous build's live table (another pid namespace): it goes
         * by the table's own lock (found by a review). */
        if (fd < 0 && errno == EEXIST && old_table_alive(table_path))
            err = EBUSY;
        else if (fd < 0 && (errno != EEXIST || unlink(table_path) != 0))
            err = errno;
    }
    /* The storage reserved before the mapping is touched: on a full file
     * system (anyone may fill /dev/shm) a write to a page never given
     * would kill the gateway with SIGBUS; this way there is no table. */
    void *p = MAP_FAILED;
    if (fd < 0 && !err)
        err = EEXIST;
    if (!err)
        err = fchmod(fd, 0644) == 0 ? posix_fallocate(fd, 0, sizeof(struct hosts_file)) : errno;
    /* The header whole, in one write: a table that has the magic has the
     * mark (previous_builds); killed before it, ours is empty or zeros. */
    char head[16];
    memcpy(head, HOSTS_MAGIC, 8);
    memcpy(head + 8, HOSTS_LOCK_MARK, 8);
    ssize_t wrote = err ? 0 : pwrite(fd, head, sizeof(head), 0);
    if (!err && wrote != (ssize_t)sizeof(head))
        err = wrote < 0 ? errno : EIO;
    if (!err) {
        p = mmap(NULL, sizeof(struct hosts_file), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        err = p == MAP_FAILED ? errno : 0;
    }
    if (err) {
        if (fd >= 0) {
            close(fd);
            unlink(table_path);
        }
        unlink(lock_path); /* ours: we hold it */
        close(lfd);
        return -err;
    }
    /* Kept open, locked shared, for a previous build's sweepers (above):
     * a lock that cannot be had only leaves the table to the pid check
     * there, as before locks. */
    (void)flock(fd, LOCK_SH | LOCK_NB);
    table_fd_close();
    table_fd = fd;
    lock_fd = lfd;
    table = p;
    table_pid = getpid();
    return 0;
}

#define RETRY_NS 1000000000ll /* how often a table that could not be made is tried again */

/* Makes the table unless it exists, with mu held; after a failure (its
 * name taken by another user's file, a full file system) not more than
 * once a second, so a plant removed later does not switch naming off for
 * the process's life, and a planter cannot make every message pay. */
static void table_try(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    if (table || (failed_at && now - failed_at < RETRY_NS))
        return;
    failed_at = table_make(!failed_at) == 0 ? 0 : now;
}

/* A generation to start a place with: random, so the ids of a table an
 * earlier process of our pid left are not taken for ours. */
static uint32_t first_gen(void)
{
    uint32_t g = 0;
    if (getrandom(&g, sizeof(g), GRND_NONBLOCK) != (ssize_t)sizeof(g))
        g = (uint32_t)getpid() ^ (uint32_t)(uintptr_t)&g;
    g &= GEN_MASK;
    return g ? g : 1;
}

static uint32_t id_of(uint32_t gen, unsigned place)
{
    return gen << INDEX_BITS | (place + 1);
}

uint32_t hosts_id(const char *host)
{
    size_t len = strnlen(host, HOSTS_TEXT_MAX);
    if (len == 0 || len >= HOSTS_TEXT_MAX)
        return HOSTS_UNKNOWN;
    uint32_t id = HOSTS_UNKNOWN;
    pthread_mutex_lock(&mu);
    if (table && table_pid != getpid()) {
        /* A forked child: the mapping is its parent's table, named by the
         * parent's pid, not the child's (which its messages carry). */
        munmap(table, sizeof(struct hosts_file));
        table = NULL;
        table_fd_close();
        failed_at = 0;
        next_place = 0;
    }
    table_try();
    if (table) {
        for (unsigned i = 0; i < HOSTS_MAX && id == HOSTS_UNKNOWN; i++) {
            uint32_t g = __atomic_load_n(&table->e[i].gen, __ATOMIC_RELAXED);
            if (g && strcmp(table->e[i].text, host) == 0)
                id = id_of(g, i);
        }
        if (id == HOSTS_UNKNOWN) {
            unsigned i = next_place++ % HOSTS_MAX;
            struct host_entry *e = &table->e[i];
            uint32_t old = __atomic_load_n(&e->gen, __ATOMIC_RELAXED);
            uint32_t g = old ? (old % GEN_MASK) + 1 : first_gen();
            __atomic_store_n(&e->gen, 0, __ATOMIC_RELEASE);
            /* Each byte a release store: none is seen before the 0 above,
             * which tells a reader the place is being written. */
            for (size_t k = 0; k < sizeof(e->text); k++)
                __atomic_store_n(&e->text[k], k < len ? host[k] : '\0', __ATOMIC_RELEASE);
            __atomic_store_n(&e->gen, g, __ATOMIC_RELEASE);
            id = id_of(g, i);
        }
    }
    pthread_mutex_unlock(&mu);
    return id;
}

/* 1 when text (NUL-terminated within its place) is a host's as a gateway
 * writes one: an address's characters only. */
static int host_text_ok(const char *t)
{
    size_t n = strnlen(t, HOSTS_TEXT_MAX);
    if (n == 0 || n == HOSTS_TEXT_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdefABCDEF.:%[]-_", t[i]) && !(t[i] >= 'g' && t[i] <= 'z') &&
            !(t[i] >= 'G' && t[i] <= 'Z'))
            return 0;
    return 1;
}

int hosts_name(int32_t pid, uint32_t uid, uint32_t id, char *buf, size_t cap)
{
    unsigned place = (id & ((1u << INDEX_BITS) - 1));
    uint32_t gen = id >> INDEX_BITS;
    if (pid <= 0 || id == HOSTS_UNKNOWN || place == 0 || place > HOSTS_MAX || gen == 0)
        return -ENOENT;
    char path[NAME_PATH_MAX];
    path_of(pid, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ELOOP ? -EUCLEAN : -errno;
    struct stat sb;
    struct host_entry e;
    char magic[8];
    off_t at = (off_t)offsetof(struct hosts_file, e) + (off_t)(place - 1) * (off_t)sizeof(e);
    uint32_t again = 0;
    int r = 0;
    if (fstat(fd, &sb) != 0)
        r = -errno;
    else if (!S_ISREG(sb.st_mode) || sb.st_size < (off_t)sizeof(struct hosts_file))
        r = -EUCLEAN;
    else if (sb.st_uid != uid || (sb.st_mode & 022) || sb.st_nlink != 1)
        r = -EACCES;
    else if (pread(fd, magic, sizeof(magic), 0) != (ssize_t)sizeof(magic) ||
             memcmp(magic, HOSTS_MAGIC, sizeof(magic)) != 0)
        r = -EUCLEAN;
    else if (pread(fd, &e, sizeof(e), at) != (ssize_t)sizeof(e) ||
             pread(fd, &again, sizeof(again), at) != (ssize_t)sizeof(again))
        r = -EIO;
    close(fd);
    if (r)
        return r;
    if (e.gen != gen || again != gen)
        return -ENOENT; /* another host's place now, or being written */
    if (!host_text_ok(e.text))
        return -EUCLEAN;
    size_t n = strlen(e.text);
    if (n >= cap)
        return -ERANGE;
    memcpy(buf, e.text, n + 1);
    return 0;
}

static unsigned holders; /* gateways of this process, running */

void hosts_hold(void)
{
    pthread_mutex_lock(&mu);
    holders++;
    table_try(); /* now: the name is ours before the pid is seen */
    pthread_mutex_unlock(&mu);
}

void hosts_fork_prepare(void)
{
    pthread_mutex_lock(&mu);
}

void hosts_fork_parent(void)
{
    pthread_mutex_unlock(&mu);
}

void hosts_fork_child(void)
{
    /* The mapping goes too: it holds the file's description, and with it
     * the lock (the child makes its own table when it names a host). */
    if (table) {
        munmap(table, sizeof(struct hosts_file));
        table = NULL;
        failed_at = 0;
        next_place = 0;
    }
    table_fd_close();
    pthread_mutex_unlock(&mu);
}

void hosts_release(void)
{
    pthread_mutex_lock(&mu);
    if (holders && --holders == 0 && table) {
        unlink(table_path);
        unlink(lock_path); /* last: a table is never without it */
        munmap(table, sizeof(struct hosts_file));
        table = NULL;
        table_fd_close();
        failed_at = 0;
    }
    pthread_mutex_unlock(&mu);
}

#define EXPORT __attribute__((visibility("default")))

/* sender_host took what was padding: programs built before it keep the
 * layout they were built with. */
_Static_assert(sizeof(mbx_msginfo) == 40 && offsetof(mbx_msginfo, sender_host) == 20 &&
                   offsetof(mbx_msginfo, seq) == 24,
               "mbx_msginfo keeps its layout");

EXPORT int mbx_msginfo_host(const mbx_msginfo *info, char *buf, size_t cap)
{
    if (!info || !buf || cap == 0)
        return -EINVAL;
    buf[0] = '\0';
    if (info->sender_host == 0)
        return 0;
    int r = hosts_name(info->sender_pid, info->sender_uid, info->sender_host, buf, cap);
    return r ? r : 1;
}
