/* The platform contract: everything mbx needs from the operating system,
 * and the only header above src/platform/ includes. Each function's Linux
 * implementation is in src/platform/linux/; nothing there includes a header
 * from above this one.
 *
 *   time         clock_now_ns, clock_deadline, clock_remaining
 *   waiting      futex_wait, futex_wake, cpu_relax, spin_step
 *   threads      thread_gather_mode, thread_normal_mode (scheduling hints
 *                for helper threads)
 *   processes    ident_* (identities that survive pid reuse), proc_start,
 *                proc_euid, proc_stopped
 *   files        shmfile_* (create, publish, open, map, remove), plat_reserve
 *                and plat_give_back (storage under a mapping)
 *   the machine  plat_boot_id, plat_dir_id, plat_random
 *   notices      note_* (datagram sockets that wake a pollable descriptor),
 *                pidfd_* (a descriptor that becomes readable when a process
 *                ends), evset_* (one descriptor for several)
 */
#ifndef MBX_PLATFORM_H
#define MBX_PLATFORM_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Thread-local state of the library, in the initial-exec model: reached
 * with one instruction instead of a call to __tls_get_addr (the library
 * is built position-independent). A program that dlopen()s libmbx.so
 * late needs glibc's static TLS surplus, which these few words fit. */
#define MBX_TLS _Thread_local __attribute__((tls_model("initial-exec")))

/* A polite busy-wait step, for spin loops on shared memory. */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Asks for the cache line at p, to be written: started now, it travels
 * from the core that wrote it last while other misses are under way. A
 * hint: no fault, no effect on what memory holds. */
static inline void prefetch_write(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
    /* prefetchw, which processors without it execute as a no-op */
    __asm__ __volatile__("prefetchw %0" : : "m"(*(const char *)p));
#else
    __builtin_prefetch(p, 1, 3);
#endif
}

/* One step of a busy wait, about 128 ns of pauses (measured once per
 * process): between two reads of a watched line, so the writer keeps it
 * for its next store. Never fails. */
void spin_step(void);

/* Whether more threads are runnable on this machine than it has CPUs, so
 * a thread that keeps spinning keeps one of them from running (the count
 * of /proc/loadavg, read through a descriptor kept open: one pread, about
 * 2 us). 0 when it cannot tell. */
int cpus_crowded(void);

/* Asks the scheduler to treat the calling thread as one that gathers
 * work others produce: woken, it does not preempt the thread running on
 * its CPU (Linux SCHED_BATCH). Only for a thread of the normal policy that
 * may run on two CPUs or more. Returns 0, -EPERM (another policy: left as
 * it is), -EXDEV (one CPU allowed), or the -errno of the call that failed;
 * the thread then runs as before (a hint: nothing depends on it). */
int thread_gather_mode(void);

/* Back from gather mode to the normal policy (nothing to do in another).
 * Returns 0 or -errno. */
int thread_normal_mode(void);

/* Monotonic time and deadlines for timed waits. */

/* Nanoseconds on CLOCK_MONOTONIC. */
int64_t clock_now_ns(void);

/* Deadline for a relative timeout: -1 for MBX_FOREVER (timeout < 0), else
 * now + timeout. */
int64_t clock_deadline(int64_t timeout_ns);

/* A deadline not read from the clock yet: calls that do not wait never
 * read it (clock_deadline_now computes it at the first wait). */
#define CLOCK_DEADLINE_LATER INT64_MIN

/* *deadline, computing it from timeout_ns when it is CLOCK_DEADLINE_LATER. */
static inline int64_t clock_deadline_now(int64_t *deadline, int64_t timeout_ns)
{
    if (*deadline == CLOCK_DEADLINE_LATER)
        *deadline = clock_deadline(timeout_ns);
    return *deadline;
}

/* Nanoseconds left until deadline (-1: no deadline; 0: passed). */
int64_t clock_remaining(int64_t deadline);

/* Initialises c so that pthread_cond_timedwait takes CLOCK_MONOTONIC
 * times (deadlines above), as the clock being set must not move them. */
void clock_cond_init(pthread_cond_t *c);

/* Locks m for a library destructor (unload or exit), waiting at most
 * 100 ms: exit() called from a signal handler that interrupted a holder
 * of m would otherwise wait for ever. Returns 0 when locked, else an
 * error number (the caller then leaves its state alone). */
int unload_lock(pthread_mutex_t *m);

/* Futex wait and wake on words in shared (not process-private) memory. */

/* Sleeps while *word == val, at most timeout_ns (< 0: no limit). Returns 0
 * when woken or when *word already differed, -ETIMEDOUT, or -EINTR when a
 * signal handler ran. */
int futex_wait(uint32_t *word, uint32_t val, int64_t timeout_ns);

/* Wakes up to n sleepers on word. Returns how many it woke (0 also when
 * the system call failed). */
int futex_wake(uint32_t *word, int n);

/* Who did something, in a form that survives pid reuse: a process id (or a
 * thread id) and the low 32 bits of its start time (clock ticks since
 * boot), packed into 64 bits so that shared memory stores and compares an
 * identity in one atomic step. 0 is nobody.
 *
 * Identities mean something only inside one PID namespace: a mailbox is
 * refused to processes of another one (see ident_pidns).
 */

typedef uint64_t ident_t;

static inline ident_t ident_make(int32_t id, uint32_t start32)
{
    return (uint64_t)(uint32_t)id | (uint64_t)start32 << 32;
}

static inline int32_t ident_id(ident_t who)
{
    return (int32_t)(uint32_t)who;
}

static inline uint32_t ident_start(ident_t who)
{
    return (uint32_t)(who >> 32);
}

/* This process: pid and start time. Cached (getpid() is a system call and
 * the send path must not make one), renewed in a forked child. */
ident_t ident_self_slow(void);
extern ident_t ident_cached_self;

static inline ident_t ident_self(void)
{
    ident_t me = __atomic_load_n(&ident_cached_self, __ATOMIC_ACQUIRE);
    return __builtin_expect(me != 0, 1) ? me : ident_self_slow();
}

/* This process's pid (see ident_self). */
static inline int32_t ident_self_pid(void)
{
    return ident_id(ident_self());
}

/* The calling thread: tid and its own start time. Cached per thread. */
ident_t ident_thread(void);

/* Returns 1 while process `who` lives and is the one that started then
 * (start 0: any process with that pid), else 0. A process inside its exit
 * counts as dead; one whose main thread ended while others run, alive. */
int ident_alive(ident_t who);

/* The same for a thread identity (ident_thread): 1 while that thread
 * runs, 0 once it ended or is inside its exit. */
int ident_thread_alive(ident_t who);

/* Returns 1 while any process has this pid and is not ending, whatever
 * its start: the check for a pid recorded without its start time. */
int ident_pid_alive(int32_t pid);

/* Returns 0 only when no process or thread has this id (one system call,
 * no start time: a cheap "certainly gone"); 1 otherwise. */
int ident_id_exists(int32_t id);

/* The inode number of this process's PID namespace (0 if unknown), cached. */
uint64_t ident_pidns(void);

/* Files that back mailboxes: create, open, map, remove. Everything here
 * treats the directory as shared with other users: no path is followed
 * through a symbolic link, nothing that is not a regular file is used, and
 * a new file appears under its name only whole. */

/* A mapped mailbox file. */
struct shmfile {
    int fd;
    unsigned char *base;
    uint64_t size;
    uint32_t uid;   /* owner of the file, when it was opened */
    char *tmp_path; /* a new file's hidden name, on file systems without O_TMPFILE */
};

/* Creates an unnamed file of size bytes with permission bits mode in dir,
 * its first `reserve` bytes backed by storage now (the rest stays sparse),
 * and maps it. Returns 0 or -errno (-ENOSPC when the file system is full).
 * The caller formats it, then names it with shmfile_publish. A process
 * killed before publishing leaves nothing behind (O_TMPFILE; on file
 * systems without it, a hidden name that later creations sweep away once
 * its creator is dead). */
int shmfile_create(const char *dir, uint64_t size, uint64_t reserve, unsigned mode,
                   struct shmfile *f);

/* Gives a file from shmfile_create the name path. Returns 0, -EEXIST when
 * the name is taken, or -errno. The file is closed on failure. */
int shmfile_publish(struct shmfile *f, const char *path);

/* Creates a file that has no name at all (memfd) and lives while a
 * process keeps it open, labelled `label` in /proc/PID/fd, and sealed
 * against shrinking (no process that maps it can be killed by SIGBUS by
 * its creator). Returns 0 or -errno. */
int shmfile_create_anon(const char *label, uint64_t size, unsigned mode, struct shmfile *f);

/* Opens and maps an existing regular file; read-write unless readonly.
 * Never follows a symbolic link at path's last component and never blocks
 * (a FIFO under the name is refused). Returns 0, -ENOENT, -EACCES, -EUCLEAN
 * (not a regular file, a symbolic link, empty), or another -errno. */
int shmfile_open(const char *path, int readonly, struct shmfile *f);

/* Opens and maps the file that process pid has open under the label
 * `label` (see shmfile_create_anon); `accept` is asked about each
 * candidate (several may carry the label) and returns 1 to keep it.
 * Returns 0, -ENOENT (no such process, or no such file), -EACCES (the
 * process belongs to another user), -EUCLEAN (files under the label, but
 * none it may map: not sealed against shrinking, so not made by
 * shmfile_create_anon, or leased), -ENOENT or -EUCLEAN also when the
 * file is not among the first 32 files under the label (copies of one
 * count once) in its first 65536 descriptors (the process chose them, and
 * a look does not cost what it says), or another -errno. Never blocks. */
int shmfile_open_anon(pid_t pid, const char *label, int readonly,
                      int (*accept)(const struct shmfile *f, void *arg), void *arg,
                      struct shmfile *f);

/* Maps the whole open file once more, read-only. Returns the mapping, or
 * NULL with errno set. Unmap it with shmfile_unmap_view. */
const unsigned char *shmfile_map_view(const struct shmfile *f);
void shmfile_unmap_view(const struct shmfile *f, const unsigned char *view);

/* Unmaps and closes. */
void shmfile_close(struct shmfile *f);

/* Removes path if it still names the same file as f. Returns 0 or -errno
 * (-ENOENT when the name is gone or names another file now, -EPERM or
 * -EACCES when the directory does not let us). */
int shmfile_unlink_same(const char *path, const struct shmfile *f);

/* Returns 1 when the open file no longer has a name. */
int shmfile_unlinked(const struct shmfile *f);

/* Owner uid, gid and permission bits of the open file. */
int shmfile_owner(const struct shmfile *f, uint32_t *uid, uint32_t *gid, uint32_t *mode);

/* Stores the start time of live process pid (one that is ending counts as
 * dead) in *start. Returns 0 or -ESRCH. */
int proc_start(pid_t pid, uint64_t *start);

/* Stores the effective uid of live process pid. Returns 0 or -ESRCH (also
 * for the id of a thread other than its process's first). */
int proc_euid(pid_t pid, uint32_t *uid);

/* Returns 1 when process pid is stopped (SIGSTOP, or traced and
 * stopped), else 0. */
int proc_stopped(pid_t pid);

/* Makes sure file fd (-1: none, nothing to do) has storage under
 * [off, off + len), so that touching it through a mapping cannot fault on
 * a full file system. File systems without fallocate are left sparse.
 * Returns 0, -ENOSPC (a full file system or quota), or another -errno. */
int plat_reserve(int fd, uint64_t off, uint64_t len);

/* Gives the storage under the whole pages of the mapped range
 * [addr, addr + len) back to the file system (MADV_REMOVE). Reading them
 * afterwards gives zeros; they need plat_reserve again before they are
 * written. Returns 0, or -errno when the file system cannot (nothing
 * changed). */
int plat_give_back(void *addr, uint64_t len);

/* Maps every page of the shared mapping [addr, addr + len) into this
 * process now, for writing, giving the file storage under it where it has
 * none (MADV_POPULATE_WRITE; the data is not changed). Returns 0, or
 * -EOPNOTSUPP (a kernel before 5.14), -ENOMEM or -EFAULT (no storage for
 * some page: the rest may have been populated). */
int plat_populate(void *addr, uint64_t len);

/* Stores this boot's 128-bit id (the kernel's random boot_id) in id.
 * Returns 1, or 0 when it is unknown. */
int plat_boot_id(uint64_t id[2]);

/* Stores the identity of folder path (its device and inode numbers) in
 * id: the same folder object whatever path or mount namespace names it,
 * so two processes of one boot that get the same id see the same files
 * there. Returns 0, or -errno (-ENOTDIR: not a folder). */
int plat_dir_id(const char *path, uint64_t id[2]);

/* Fills *out with random bits. Returns 0 or -errno. */
int plat_random(uint64_t *out);

/* Notices: a process that polls binds a datagram socket at a path; others
 * send it an empty datagram to make it readable.
 *
 * note_bind creates the socket at path (non-blocking, close-on-exec),
 * gives the file mode `mode` and, when gid is not (uint32_t)-1, that
 * group (best effort). Returns the descriptor, or -errno (-EADDRINUSE:
 * the path exists). */
int note_bind(const char *path, unsigned mode, uint32_t gid);

/* Gives the socket at path mode `mode` (and group gid, best effort, when
 * not (uint32_t)-1), through a descriptor of the file: a symbolic link,
 * or anything but a socket of ours, is refused with -EPERM and left
 * unchanged. Returns 0 or -errno. */
int note_set_mode(const char *path, unsigned mode, uint32_t gid);

/* Sends one datagram to the socket at path, never blocking and never
 * raising SIGPIPE. Returns 0 (sent, or its queue is full: it is readable
 * anyway), -ECONNREFUSED or -ENOENT (nobody has it bound any more), or
 * another -errno. */
int note_send(const char *path);

/* Removes the socket at path only if nobody has it bound any more (a
 * connect is refused), so that a name read from shared memory can never
 * make us remove a live poller's socket. Returns 1 when removed, -EBUSY
 * when someone has it bound, 0 when it is not a socket, is gone, or
 * cannot be told (a connect refused for want of rights), or -errno. */
int note_unlink_unbound(const char *path);

/* Reads every datagram queued on fd. Returns how many there were. */
int note_drain(int fd);

/* Returns a descriptor that becomes readable when process `who` (an
 * identity, see ident_t) ends; -ESRCH when it already has (or the pid is
 * another process now), -ENOSYS when the kernel has no pidfd (before 5.3),
 * or another -errno. */
int pidfd_of(ident_t who);

/* A descriptor that becomes readable for good when raised (eventfd):
 * evflag_new returns it or -errno. */
int evflag_new(void);
void evflag_raise(int fd);
void evflag_lower(int fd);

/* Returns the identity of live process pid, or 0 when there is none. */
ident_t ident_of_pid(int32_t pid);

/* Returns 1 when descriptor fd is readable now, 0 when not, -errno. */
int fd_readable(int fd);

/* A descriptor that is readable while any descriptor added to it is
 * (epoll). evset_new returns it or -errno; evset_add and evset_del return
 * 0 or -errno. */
int evset_new(void);
int evset_add(int set, int fd);
int evset_del(int set, int fd);

#endif
