/* libmbx-sysv: msgget(IPC_CREAT) and IPC_RMID of one key at once, each
 * race made deterministic by a hook at its window (the test's own
 * symlink, unlink and open stand for the library's), then the whole as a
 * campaign of processes. A chaos run found them: msgget(IPC_CREAT) said
 * ENOENT (which the kernel never says) and EAGAIN, and whole queues were
 * left with no key link, which nothing removed. Each failed before its
 * fix. */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mbx-sysv.h"
#include "sysv_format.h"
#include "test_util.h"

/* Whether path is file PREFIX* of the test directory. */
static int is_file(const char *path, const char *prefix)
{
    size_t n = strlen(test_dir);
    return strncmp(path, test_dir, n) == 0 && path[n] == '/' &&
           strncmp(path + n + 1, prefix, strlen(prefix)) == 0;
}

/* Hooks, each called once (cleared first) at its place. Volatile: the
 * library's calls are leaves to the compiler. */
static void (*volatile before_publish)(const char *link);     /* symlink of a key's link */
static void (*volatile after_publish)(int id);                /* the same, once it is made */
static void (*volatile before_key_unlink)(void);              /* unlink of a key's link */
static void (*volatile before_traffic_unlink)(void);          /* unlink of a traffic file */
static void (*volatile before_claim_unlink)(void);            /* unlink of a key removal's file */
static void (*volatile after_traffic_made)(const char *path); /* its creation, before its lock */
/* Set when an open of a key removal's file finds one there (a second
 * remover of the same link). */
static volatile int removal_met;
/* Set when thread creator_tid is refused an OFD lock (a remover's lock
 * of a key's link, on its queue's state file, held by another). */
static volatile int lock_refused;
static volatile pid_t creator_tid = -1;

int symlink(const char *target, const char *path);
int symlink(const char *target, const char *path)
{
    if (is_file(path, SYSV_KEY_PREFIX) && before_publish) {
        void (*h)(const char *) = before_publish;
        before_publish = NULL;
        h(path);
    }
    int rc = (int)syscall(SYS_symlinkat, target, AT_FDCWD, path);
    if (rc == 0 && is_file(path, SYSV_KEY_PREFIX) && after_publish) {
        void (*h)(int) = after_publish;
        after_publish = NULL;
        h(atoi(target));
    }
    return rc;
}

int unlink(const char *path);
int unlink(const char *path)
{
    if (is_file(path, SYSV_KEY_PREFIX) && before_key_unlink) {
        void (*h)(void) = before_key_unlink;
        before_key_unlink = NULL;
        h();
    }
    if (is_file(path, SYSV_KEYRM_PREFIX) && before_claim_unlink) {
        void (*h)(void) = before_claim_unlink;
        before_claim_unlink = NULL;
        h();
    }
    if (is_file(path, SYSV_TRAFFIC_PREFIX) && before_traffic_unlink) {
        void (*h)(void) = before_traffic_unlink;
        before_traffic_unlink = NULL;
        h();
    }
    return (int)syscall(SYS_unlinkat, AT_FDCWD, path, 0);
}

int open(const char *path, int flags, ...);
int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    int rc = (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
    if (rc < 0 && errno == EEXIST && is_file(path, SYSV_KEYRM_PREFIX))
        removal_met = 1;
    if (rc >= 0 && (flags & O_CREAT) && is_file(path, SYSV_TRAFFIC_PREFIX) && after_traffic_made) {
        void (*h)(const char *) = after_traffic_made;
        after_traffic_made = NULL;
        h(path);
    }
    return rc;
}

int fcntl(int fd, int cmd, ...);
int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *); /* (none for some commands: unused then) */
    va_end(ap);
    int rc = (int)syscall(SYS_fcntl, fd, cmd, arg);
    if (rc < 0 && (errno == EAGAIN || errno == EACCES) && (cmd == F_OFD_SETLK || cmd == F_SETLK) &&
        syscall(SYS_gettid) == creator_tid)
        lock_refused = 1;
    return rc;
}

static void die(void)
{
    raise(SIGKILL);
}

static void die_before_publishing(const char *link)
{
    (void)link;
    die();
}

/* Sleeps ms milliseconds. */
static void nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

#define KEY 0x5a190

/* The creator of the next queue of KEY, on a thread of its own. */
static volatile int creator_done, creator_id, creator_errno;

static void *create(void *arg)
{
    (void)arg;
    errno = 0;
    creator_id = msgget(KEY, IPC_CREAT | 0600);
    creator_errno = errno;
    creator_done = 1;
    return NULL;
}

static pthread_t creator;

/* As create, noting its thread's id first. */
static void *create_noted(void *arg)
{
    creator_tid = (pid_t)syscall(SYS_gettid);
    return create(arg);
}

/* As create_meanwhile, for a remover whose key removal's file another
 * user planted (so removal_met tells nothing): waits until the creator
 * is done, or was refused a lock (the link's, which we hold) and then 1 s
 * more unless it is done (a creator that went on without the lock when
 * refused removes the link and publishes its queue meanwhile; one that
 * waits for us is still trying, for some 4 s in all), or 10 s went by. */
static void create_meanwhile_past_a_planted_file(void)
{
    lock_refused = 0;
    creator_done = 0;
    assert_int_equal(pthread_create(&creator, NULL, create_noted, NULL), 0);
    for (int ms = 0; ms < 10000 && !creator_done && !lock_refused; ms++)
        nap(1);
    for (int ms = 0; ms < 1000 && !creator_done && lock_refused; ms++)
        nap(1);
}

/* Inside IPC_RMID's removal of the key's link, after it looked at it:
 * another msgget of the key finds the removed queue's link, removes it
 * (a stale link) and publishes its new queue; or, when removal is one
 * step (fixed), it waits for the removal to end. */
static void create_meanwhile(void)
{
    removal_met = 0;
    creator_done = 0;
    assert_int_equal(pthread_create(&creator, NULL, create, NULL), 0);
    for (int ms = 0; ms < 60000 && !creator_done && !removal_met; ms++)
        nap(1);
}

/* IPC_RMID's removal of a key's link must never remove another queue's:
 * it looked at the link, then unlinked it; a msgget in between removed
 * the (stale) link and published a new queue, whose link the unlink then
 * removed: the new queue was left whole, unreachable by its key, and
 * nothing removed it. */
static void key_removal_leaves_a_new_queue_s_link(void **state)
{
    (void)state;
    int old = msgget(KEY, IPC_CREAT | 0600);
    assert_true(old >= 0);
    before_key_unlink = create_meanwhile;
    assert_int_equal(msgctl(old, IPC_RMID, NULL), 0);
    before_key_unlink = NULL;
    assert_int_equal(pthread_join(creator, NULL), 0);
    assert_int_equal(creator_id < 0 ? creator_errno : 0, 0);
    assert_int_not_equal(creator_id, old);
    assert_int_equal(msgget(KEY, 0600), creator_id); /* the key names the new queue */
    assert_int_equal(msgctl(creator_id, IPC_RMID, NULL), 0);
    assert_int_equal(test_dir_count(), 0);
}

static volatile int removed_rc = 2;

static void remove_at_once(int id)
{
    removed_rc = msgctl(id, IPC_RMID, NULL);
}

/* Another process finds the queue msgget(IPC_CREAT) just published and
 * removes it before msgget returns: msgget returns the id (the kernel's
 * history: created, then removed), never ENOENT, which the kernel never
 * gives with IPC_CREAT (msgget tore its queue down and said ENOENT). */
static void created_queue_removed_at_once_is_still_returned(void **state)
{
    (void)state;
    after_publish = remove_at_once;
    errno = 0;
    int id = msgget(KEY, IPC_CREAT | 0600);
    int e = errno;
    after_publish = NULL;
    assert_int_equal(removed_rc, 0);
    assert_int_equal(id < 0 ? e : 0, 0); /* ENOENT (2) before */
    struct msqid_ds ds;
    errno = 0;
    assert_int_equal(msgctl(id, IPC_STAT, &ds), -1); /* removed */
    assert_int_equal(errno, EINVAL);
    assert_int_equal(test_dir_count(), 0);
    int next = msgget(KEY, IPC_CREAT | 0600); /* the key is free */
    assert_true(next >= 0);
    assert_int_not_equal(next, id);
    assert_int_equal(msgctl(next, IPC_RMID, NULL), 0);
    assert_int_equal(test_dir_count(), 0);
}

/* Runs fn in a child that dies of SIGKILL (fn kills it). */
static void in_killed_child(void (*fn)(void))
{
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        fn();
        _exit(3);
    }
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static void make_and_die_before_publishing(void)
{
    before_publish = die_before_publishing;
    msgget(KEY, IPC_CREAT | 0600);
}

/* A msgget killed after its queue's state file, before its key's link:
 * a whole queue nothing names (msgget returned no id). The next msgget
 * that makes a keyed queue removes it; it stayed for good. */
static void unpublished_queue_of_a_killed_msgget_is_swept(void **state)
{
    (void)state;
    in_killed_child(make_and_die_before_publishing);
    assert_int_equal(test_dir_count(), 3); /* traffic file, mailbox, state file */
    int id = msgget(KEY + 1, IPC_CREAT | 0600);
    assert_true(id >= 0);
    assert_int_equal(test_dir_count(), 4); /* the new queue's alone */
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    assert_int_equal(test_dir_count(), 0);
}

/* A keyed queue whose key's link is gone (the race above left such
 * queues): reachable by its id alone, which in the kernel cannot be
 * (a key names its queue until IPC_RMID). The next msgget that makes a
 * keyed queue removes it, and its id stops working. */
static void queue_without_its_key_link_is_swept(void **state)
{
    (void)state;
    int lost = msgget(KEY, IPC_CREAT | 0600);
    assert_true(lost >= 0);
    char link[sizeof(test_dir) + 64];
    snprintf(link, sizeof(link), "%s/%s%08x", test_dir, SYSV_KEY_PREFIX, (unsigned)KEY);
    assert_int_equal(unlink(link), 0);
    int id = msgget(KEY + 1, IPC_CREAT | 0600);
    assert_true(id >= 0);
    assert_int_equal(test_dir_count(), 4);
    struct msqid_ds ds;
    errno = 0;
    assert_int_equal(msgctl(lost, IPC_STAT, &ds), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    assert_int_equal(test_dir_count(), 0);
}

static volatile int swept_id = -2, swept_count;

/* Another msgget of another key sweeps while this one has made its files
 * and not yet published its key. */
static void sweep_meanwhile(const char *link)
{
    (void)link;
    swept_id = msgget(KEY + 1, IPC_CREAT | 0600);
    swept_count = test_dir_count();
}

/* The sweep leaves a queue whose msgget is still making it (its key's
 * link not yet published), which then works. */
static void queue_being_made_is_not_swept(void **state)
{
    (void)state;
    before_publish = sweep_meanwhile;
    int id = msgget(KEY, IPC_CREAT | 0600);
    before_publish = NULL;
    assert_true(id >= 0);
    assert_true(swept_id >= 0);
    assert_int_equal(swept_count, 7); /* ours but its link, and the other queue */
    assert_int_equal(test_dir_count(), 8);
    struct {
        long type;
        char text[4];
    } msg = {7, "abc"};
    assert_int_equal(msgsnd(id, &msg, 3, IPC_NOWAIT), 0);
    assert_int_equal(msgrcv(id, &msg, sizeof(msg.text), 0, IPC_NOWAIT), 3);
    assert_int_equal(msgget(KEY, 0600), id);
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    assert_int_equal(msgctl(swept_id, IPC_RMID, NULL), 0);
    assert_int_equal(test_dir_count(), 0);
}

static void remove_and_die_half_way(void)
{
    int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    before_traffic_unlink = die;
    msgctl(id, IPC_RMID, NULL);
}

/* An IPC_RMID killed half way (after the removal mark) leaves files only
 * an IPC_RMID of that id removed, which nobody knows: the next msgget
 * that makes a keyed queue removes them (a private queue's here: a keyed
 * one's key link is gone, which the sweep goes by too). */
static void killed_removal_is_swept(void **state)
{
    (void)state;
    in_killed_child(remove_and_die_half_way);
    assert_int_equal(test_dir_count(), 3); /* traffic file, mailbox, marked state file */
    int id = msgget(KEY + 1, IPC_CREAT | 0600);
    assert_true(id >= 0);
    assert_int_equal(test_dir_count(), 4);
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    assert_int_equal(test_dir_count(), 0);
}

static void remove_and_die_at_the_link(void)
{
    int id = msgget(KEY, IPC_CREAT | 0600);
    before_key_unlink = die;
    msgctl(id, IPC_RMID, NULL);
}

static void remove_and_die_after_the_link(void)
{
    int id = msgget(KEY, IPC_CREAT | 0600);
    before_claim_unlink = die;
    msgctl(id, IPC_RMID, NULL);
}

/* An IPC_RMID killed while it removed the key's link, holding the
 * link's removal file: a msgget of the key takes the removal over (the
 * lock is free), one of another key finishes it. */
static void killed_link_removal_is_finished(void **state)
{
    (void)state;
    in_killed_child(remove_and_die_at_the_link);
    assert_int_equal(test_dir_count(), 5); /* the removal file, the link, the queue */
    errno = 0;
    assert_int_equal(msgget(KEY, 0600), -1); /* marked removed */
    assert_int_equal(errno, ENOENT);
    int id = msgget(KEY, IPC_CREAT | 0600);
    assert_true(id >= 0);
    assert_int_equal(test_dir_count(), 4);
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    in_killed_child(remove_and_die_after_the_link);
    assert_int_equal(test_dir_count(), 4); /* the removal file, the queue */
    id = msgget(KEY + 1, IPC_CREAT | 0600);
    assert_true(id >= 0);
    assert_int_equal(test_dir_count(), 4);
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    assert_int_equal(test_dir_count(), 0);
}

/* Users without names: the victim, and another user who plants files. */
#define RACE_A 61031
#define RACE_C 61033

/* Becomes user uid (its own group) in a child; exits 100 when it cannot. */
static void become(uid_t uid)
{
    if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
        _exit(100);
}

static void remove_as_a_and_die_after_the_link(void)
{
    become(RACE_A);
    remove_and_die_after_the_link();
}

/* As RACE_A in a child: makes a queue of KEY + 1 and removes it (a sweep). */
static void sweep_as_a(void)
{
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        become(RACE_A);
        int id = msgget(KEY + 1, IPC_CREAT | 0600);
        _exit(id >= 0 && msgctl(id, IPC_RMID, NULL) == 0 ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* Plants n removal files of RACE_C (which RACE_A may not remove), under
 * each name a removal file of RACE_A's may have, from `from` on. */
static void plant_junk(int from, int n)
{
    char path[sizeof(test_dir) + 64];
    for (int i = from; i < from + n; i++)
        for (int f = 0; f < 2; f++) {
            if (f == 0)
                snprintf(path, sizeof(path), "%s/%s%08x.%d", test_dir, SYSV_KEYRM_PREFIX,
                         0x6a000u + (unsigned)i, 1000 + i);
            else
                snprintf(path, sizeof(path), "%s/%s%08x.%d.%u", test_dir, SYSV_KEYRM_PREFIX,
                         0x6a000u + (unsigned)i, 1000 + i, (unsigned)RACE_A);
            int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CREAT | O_EXCL, 0644);
            assert_true(fd >= 0);
            assert_int_equal(fchown(fd, RACE_C, RACE_C), 0);
            close(fd);
        }
}

/* The removal files of user uid in the test directory: how many, and the
 * last one's name in name. */
static int removal_files_of(uid_t uid, char *name, size_t cap)
{
    DIR *d = opendir(test_dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    struct stat st;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, SYSV_KEYRM_PREFIX, strlen(SYSV_KEYRM_PREFIX)) == 0 &&
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_uid == uid) {
            n++;
            snprintf(name, cap, "%s", e->d_name);
        }
    closedir(d);
    return n;
}

/* Root only (other users). Another user plants removal files the victim
 * may not remove (a shared sticky folder), before and after (in the
 * folder's order) the one a remover of the victim's, killed, left: the
 * victim's sweeps must still finish the real one. They finished the
 * first 16 in the folder's order, which were the junk, every time. */
static void junk_removal_files_do_not_starve_the_sweep(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("skipped: needs root, to run as other users\n");
        skip();
    }
    assert_int_equal(chmod(test_dir, 01777), 0);
    plant_junk(0, 20);
    in_killed_child(remove_as_a_and_die_after_the_link);
    plant_junk(20, 20);
    char left[256];
    assert_int_equal(removal_files_of(RACE_A, left, sizeof(left)), 1);
    int sweeps = 0;
    char path[sizeof(test_dir) + 300];
    snprintf(path, sizeof(path), "%s/%s", test_dir, left);
    struct stat st;
    while (sweeps < 100 && lstat(path, &st) == 0) {
        sweep_as_a();
        sweeps++;
    }
    print_message("%d sweeps\n", sweeps);
    assert_int_equal(lstat(path, &st), -1); /* still there after 100 sweeps */
    assert_int_equal(removal_files_of(RACE_C, left, sizeof(left)), 80); /* A may not remove them */
    DIR *d = opendir(test_dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, SYSV_KEYRM_PREFIX, strlen(SYSV_KEYRM_PREFIX)) == 0)
            assert_int_equal(unlinkat(dirfd(d), e->d_name, 0), 0);
    closedir(d);
    assert_int_equal(test_dir_count(), 0);
}

/* The removal file of KEY's link to id, a link of user uid's. */
static void removal_file(char *buf, size_t cap, int id, uid_t uid)
{
    snprintf(buf, cap, "%s/%s%08x.%d.%u", test_dir, SYSV_KEYRM_PREFIX, (unsigned)KEY, id,
             (unsigned)uid);
}

static volatile int link_id, a_saw = -1;

/* As RACE_A, while root removes the link of A's queue under its lock:
 * A's remover names the same removal file, may open it (A's), and finds
 * it locked. Exits 0, or the number of the check that failed. */
static void a_meets_root_s_removal(void)
{
    char claim[sizeof(test_dir) + 64];
    removal_file(claim, sizeof(claim), link_id, RACE_A);
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        become(RACE_A);
        struct stat st;
        int fd = (int)syscall(SYS_openat, AT_FDCWD, claim, O_RDONLY | O_NOFOLLOW, 0);
        if (fd < 0)
            _exit(1);
        if (fstat(fd, &st) != 0 || st.st_uid != RACE_A || (st.st_mode & 07777) != 0600)
            _exit(2);
        _exit(flock(fd, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK ? 0 : 3);
    }
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    a_saw = WIFEXITED(st) ? WEXITSTATUS(st) : 99;
}

static void make_as_a(void)
{
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        become(RACE_A);
        _exit(msgget(KEY, IPC_CREAT | 0600) >= 0 ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* Root only (other users). The link's owner and root, who may both
 * remove a key's link from a sticky folder, remove it one at a time:
 * root's removal holds the lock on the file A's removers name, which A
 * may open; and root leaves the link while A's removal holds it. */
static void owner_and_root_remove_a_link_one_at_a_time(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("skipped: needs root, to run as other users\n");
        skip();
    }
    assert_int_equal(chmod(test_dir, 01777), 0);
    make_as_a();
    int id = msgget(KEY, 0);
    assert_true(id >= 0);
    link_id = id;
    before_key_unlink = a_meets_root_s_removal;
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    before_key_unlink = NULL;
    assert_int_equal(a_saw, 0); /* 1: no such file */
    assert_int_equal(test_dir_count(), 0);

    /* A's removal at work (its lock, here held for it): root leaves the
     * link to it. */
    make_as_a();
    id = msgget(KEY, 0);
    assert_true(id >= 0);
    char claim[sizeof(test_dir) + 64], link[sizeof(test_dir) + 64];
    removal_file(claim, sizeof(claim), id, RACE_A);
    int fd = (int)syscall(SYS_openat, AT_FDCWD, claim, O_RDONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(fchown(fd, RACE_A, RACE_A), 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    snprintf(link, sizeof(link), "%s/%s%08x", test_dir, SYSV_KEY_PREFIX, (unsigned)KEY);
    struct stat st;
    assert_int_equal(lstat(link, &st), 0);    /* A's remover will remove it */
    close(fd);                                /* A's remover killed: its file left */
    int next = msgget(KEY, IPC_CREAT | 0600); /* takes the removal over */
    assert_true(next >= 0);
    assert_int_not_equal(next, id);
    assert_int_equal(msgctl(next, IPC_RMID, NULL), 0);
    assert_int_equal(test_dir_count(), 0);
}

/* As RACE_A (a child), with a file planted by RACE_C under the name of
 * the removal file of A's link of KEY to id: A's IPC_RMID of id while A's
 * msgget(KEY, IPC_CREAT) on another thread finds the stale link. Exits
 * 0 when the key then names the new queue and nothing is left, else the
 * number of the check that failed. */
static int remove_past_a_planted_file(int id)
{
    before_key_unlink = create_meanwhile_past_a_planted_file;
    if (msgctl(id, IPC_RMID, NULL) != 0)
        return 1;
    before_key_unlink = NULL;
    if (pthread_join(creator, NULL) != 0)
        return 2;
    if (creator_id < 0)
        return 3;
    int named = msgget(KEY, 0600);
    fprintf(stderr, "old %d, new %d, the key names %d\n", id, creator_id, named);
    if (named >= 0)
        (void)msgctl(named, IPC_RMID, NULL);
    if (named != creator_id) {
        (void)msgctl(creator_id, IPC_RMID, NULL);
        return 4; /* the new queue's link was removed by the old one's remover */
    }
    return 0;
}

/* Root only (other users). Another user (C) plants a file of the name of
 * the removal file of A's key link (its id is the link's target), which
 * A may not remove from the sticky folder: A's two removers of the link
 * (an IPC_RMID, and a msgget that finds the link stale) must still
 * exclude each other. They went without the lock: the msgget removed the
 * link and published its new queue, whose link the IPC_RMID then
 * removed, leaving a whole queue its key did not name. */
static void planted_removal_file_keeps_removers_apart(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("skipped: needs root, to run as other users\n");
        skip();
    }
    assert_int_equal(chmod(test_dir, 01777), 0);
    mode_t modes[] = {0644, 0};
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        make_as_a();
        int id = msgget(KEY, 0);
        assert_true(id >= 0);
        char claim[sizeof(test_dir) + 64];
        removal_file(claim, sizeof(claim), id, RACE_A);
        int fd = (int)syscall(SYS_openat, AT_FDCWD, claim, O_RDONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        assert_int_equal(fchown(fd, RACE_C, RACE_C), 0);
        assert_int_equal(fchmod(fd, modes[m]), 0);
        close(fd);
        pid_t c = fork();
        assert_true(c >= 0);
        if (c == 0) {
            become(RACE_A);
            _exit(remove_past_a_planted_file(id));
        }
        int st;
        assert_int_equal(waitpid(c, &st, 0), c);
        assert_true(WIFEXITED(st));
        print_message("planted file mode %03o: %d\n", (unsigned)modes[m], WEXITSTATUS(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        assert_int_equal(unlink(claim), 0);
        assert_int_equal(test_dir_count(), 0);
    }
}

/* As user uid (a child, which it returns once the lock is held): holds
 * an OFD read lock of the whole state file of queue id, which anyone may
 * read (mode 0644), until it is killed. */
static pid_t read_lock_as(uid_t uid, int id)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        close(p[0]);
        become(uid);
        char path[sizeof(test_dir) + 64];
        snprintf(path, sizeof(path), "%s/%s%d", test_dir, SYSV_META_PREFIX, id);
        int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY, 0);
        struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET};
        char ok = fd >= 0 && syscall(SYS_fcntl, fd, F_OFD_SETLK, &fl) == 0 ? 'y' : 'n';
        if (write(p[1], &ok, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(p[1]);
    char ok = 0;
    assert_int_equal(read(p[0], &ok, 1), 1);
    close(p[0]);
    assert_int_equal(ok, 'y');
    return c;
}

static void stop(pid_t c)
{
    assert_int_equal(kill(c, SIGKILL), 0);
    assert_int_equal(waitpid(c, NULL, 0), c);
}

/* Root only (other users). Another user (C), who may read a queue's
 * state file, holds a read lock of it, for as long as C likes: the
 * owner's IPC_RMID still removes the key's link, and msgget(IPC_CREAT)
 * of the key of a queue marked removed (an IPC_RMID killed after its
 * mark) still makes a new queue while C holds the lock. Removers took
 * the link's lock, a write lock of the state file, and took C's read
 * lock for another remover's: IPC_RMID left the link, and msgget said
 * EAGAIN after some 4 s of tries. */
static void reader_s_lock_does_not_stop_removers(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("skipped: needs root, to run as other users\n");
        skip();
    }
    assert_int_equal(chmod(test_dir, 01777), 0);
    char link[sizeof(test_dir) + 64], path[sizeof(test_dir) + 64];
    snprintf(link, sizeof(link), "%s/%s%08x", test_dir, SYSV_KEY_PREFIX, (unsigned)KEY);
    struct stat st;

    int id = msgget(KEY, IPC_CREAT | 0644);
    assert_true(id >= 0);
    pid_t c = read_lock_as(RACE_C, id);
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    int left = lstat(link, &st) == 0;
    stop(c);
    assert_int_equal(left, 0); /* 1: IPC_RMID left the link */
    assert_int_equal(test_dir_count(), 0);

    id = msgget(KEY, IPC_CREAT | 0644);
    assert_true(id >= 0);
    snprintf(path, sizeof(path), "%s/%s%d", test_dir, SYSV_META_PREFIX, id);
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDWR, 0);
    assert_true(fd >= 0);
    struct sysv_meta *m = mmap(NULL, SYSV_META_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    assert_true(m != MAP_FAILED);
    __atomic_store_n(&m->removed, 1, __ATOMIC_SEQ_CST); /* as an IPC_RMID killed after it */
    munmap(m, SYSV_META_SIZE);
    c = read_lock_as(RACE_C, id);
    errno = 0;
    int next = msgget(KEY, IPC_CREAT | 0644);
    int e = errno;
    int holding = kill(c, 0) == 0; /* msgget did not wait for C to let go */
    stop(c);
    print_message("msgget: %d (%s)\n", next, next < 0 ? strerror(e) : "ok");
    assert_int_equal(next < 0 ? e : 0, 0); /* EAGAIN (11) */
    assert_true(holding);
    assert_int_not_equal(next, id);
    assert_int_equal(msgctl(next, IPC_RMID, NULL), 0);
    (void)msgctl(id, IPC_RMID, NULL); /* the old queue's files, if a sweep left them */
    assert_int_equal(test_dir_count(), 0);
}

static int sweep_fd = -1;

/* A sweep opens and locks the traffic file a msgget just made, before
 * that msgget locks it (the sweep judges it too young to remove). */
static void lock_it_first(const char *path)
{
    sweep_fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    assert_true(sweep_fd >= 0);
    assert_int_equal(flock(sweep_fd, LOCK_EX | LOCK_NB), 0);
}

/* msgget whose new traffic file a sweep locked first takes another id
 * (it said EAGAIN, seen once in the chaos run). */
static void creation_locked_first_by_a_sweep(void **state)
{
    (void)state;
    after_traffic_made = lock_it_first;
    errno = 0;
    int id = msgget(KEY, IPC_CREAT | 0600);
    int e = errno;
    after_traffic_made = NULL;
    assert_true(sweep_fd >= 0);
    close(sweep_fd);
    sweep_fd = -1;
    assert_int_equal(id < 0 ? e : 0, 0); /* EAGAIN (11) before */
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    assert_int_equal(test_dir_count(), 0);
}

/* Processes doing msgget(IPC_CREAT) of one key, each removing one queue
 * in four (the chaos run's reproducer, smaller): every msgget returns an
 * id, every IPC_RMID succeeds or finds the queue already removed, and
 * once they are done, removing the key's queue leaves no file. */
#define WORKERS 4
#define ROUNDS  200

static int worker(int w)
{
    unsigned seed = (unsigned)w * 7919u + 1;
    int errors = 0;
    for (int i = 0; i < ROUNDS; i++) {
        int id = msgget(KEY, IPC_CREAT | 0600);
        if (id < 0) {
            fprintf(stderr, "worker %d: msgget: %s\n", w, strerror(errno));
            errors++;
            continue;
        }
        if (rand_r(&seed) % 4 == 0 && msgctl(id, IPC_RMID, NULL) < 0 && errno != EINVAL) {
            fprintf(stderr, "worker %d: IPC_RMID: %s\n", w, strerror(errno));
            errors++;
        }
    }
    return errors > 100 ? 100 : errors;
}

static void creators_and_removers_of_one_key(void **state)
{
    (void)state;
    pid_t kids[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
        kids[w] = fork();
        assert_true(kids[w] >= 0);
        if (kids[w] == 0) {
            test_child();
            _exit(worker(w));
        }
    }
    int failed = 0;
    for (int w = 0; w < WORKERS; w++) {
        int st;
        assert_int_equal(waitpid(kids[w], &st, 0), kids[w]);
        failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    assert_int_equal(failed, 0);
    int id = msgget(KEY, 0600);
    if (id >= 0)
        assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    assert_int_equal(test_dir_count(), 0); /* no queue left without its key */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(key_removal_leaves_a_new_queue_s_link, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(created_queue_removed_at_once_is_still_returned,
                                        test_dir_setup, test_dir_teardown),
        cmocka_unit_test_setup_teardown(unpublished_queue_of_a_killed_msgget_is_swept,
                                        test_dir_setup, test_dir_teardown),
        cmocka_unit_test_setup_teardown(queue_without_its_key_link_is_swept, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(queue_being_made_is_not_swept, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(killed_removal_is_swept, test_dir_setup, test_dir_teardown),
        cmocka_unit_test_setup_teardown(killed_link_removal_is_finished, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(junk_removal_files_do_not_starve_the_sweep, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(owner_and_root_remove_a_link_one_at_a_time, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(planted_removal_file_keeps_removers_apart, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(reader_s_lock_does_not_stop_removers, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(creation_locked_first_by_a_sweep, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(creators_and_removers_of_one_key, test_dir_setup,
                                        test_dir_teardown),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
