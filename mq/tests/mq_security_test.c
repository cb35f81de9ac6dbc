/* libmbx-mq against another user of a queue, who may write its side file
 * (any access to a queue gives that): a registration forged there makes no
 * sender signal a process that did not register (F1 of the review in
 * NOTES), and a holder of the side file's pipe lock cannot hang mq_open
 * (F3). Run as root with argument "root", the forger is another user
 * (nobody) and the sender root, as in the review's proof of concept; and
 * a registrant of one user is notified of another user's message, as by
 * the kernel's queues. */
#include "mq_internal.h"
#include "shm/segment.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <mqueue.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "../../tests/test_util.h"

static char names[5][64]; /* qname(0) to qname(4) (4 wrote past it, into test_skips) */
static pid_t main_pid;    /* the test program's: children name the same queues */

/* Queue i's name, "/mbxsec.PID.i" (encoded as is: no bytes to escape). */
static const char *qname(int i)
{
    snprintf(names[i], sizeof(names[i]), "/mbxsec.%d.%d", (int)main_pid, i);
    return names[i];
}

static mqd_t make_queue(int i, mode_t mode)
{
    struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 8};
    mqd_t q = mq_open(qname(i), O_CREAT | O_EXCL | O_RDWR | O_NONBLOCK, mode, &a);
    assert_int_not_equal(q, (mqd_t)-1);
    return q;
}

/* Maps queue /name's side file; *fd_out keeps it open. */
static struct mq_side *side_of(const char *name, int *fd_out)
{
    char path[sizeof(test_dir) + 512]; /* the folder, and a name of up to 255 */
    snprintf(path, sizeof(path), "%s/.mq-side.mq.%s", test_dir, name + 1);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    void *p = mmap(NULL, MQ_SIDE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        close(fd);
        return NULL;
    }
    *fd_out = fd;
    return p;
}

/* Makes an owned mailbox of the caller's named `name` and writes `pid`
 * into its header as its owner, as the review's attacker did (the header
 * of one's own mailbox is one's own to write). Returns it, or NULL. */
static mbx *forged_box(const char *name, int32_t pid)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 1;
    a.max_msg_size = 1;
    a.mode = 0644;
    mbx *box = NULL;
    if (mbx_open(name, MBX_CREATE | MBX_EXCL | MBX_OWNED | MBX_RECV, &a, &box) != 0)
        return NULL;
    char path[sizeof(test_dir) + 512]; /* the folder, and a name of up to 255 */
    snprintf(path, sizeof(path), "%s/mbx.%s", test_dir, name);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    char *h = fd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fd >= 0)
        close(fd);
    if (h == MAP_FAILED) {
        mbx_close(box);
        return NULL;
    }
    memcpy(h + offsetof(struct seg_hdr, owner_pid), &pid, sizeof(pid));
    munmap(h, 4096);
    return box;
}

/* Forges on queue `name` a SIGEV_SIGNAL registration of `target` for
 * signal signo, its liveness "proved" by mailboxes of the forger's under
 * both the name libmbx-mq gave them before (mq-notify.<token>) and the
 * one it gives now (the registration spelled out). Returns 0 or -1; the
 * mailboxes stay open in box[0], box[1] (the forger's life proves them). */
static int forge(const char *name, int32_t target, int signo, uint64_t token, mbx **box)
{
    int fd;
    struct mq_side *s = side_of(name, &fd);
    struct stat st;
    if (!s || fstat(fd, &st) < 0)
        return -1;
    char old_name[64], new_name[MQ_MBX_NAME_MAX];
    snprintf(old_name, sizeof(old_name), "%s%016llx", MQ_NOTIFY_PREFIX, (unsigned long long)token);
    snprintf(new_name, sizeof(new_name), "%s%016llx.%x.%x.%x.%llx.%llx.%llx", MQ_NOTIFY_PREFIX,
             (unsigned long long)token, (unsigned)target, (unsigned)SIGEV_SIGNAL, (unsigned)signo,
             0ull, (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    box[0] = forged_box(old_name, target);
    box[1] = forged_box(new_name, target);
    if (!box[0] || !box[1])
        return -1;
    s->reg_pid = target;
    s->reg_notify = SIGEV_SIGNAL;
    s->reg_signo = signo;
    s->reg_value = 0;
    atomic_store(&s->reg, token);
    munmap(s, MQ_SIDE_SIZE);
    close(fd);
    return 0;
}

/* The byte a child writes, or -1 when none comes within 30 s. */
static int read_byte(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    unsigned char c;
    return poll(&p, 1, 30000) == 1 && read(fd, &c, 1) == 1 ? c : -1;
}

/* A process that blocks SIGUSR1 and SIGUSR2 (so one sent to it stays
 * pending, to be seen, however late the test looks) and, asked, says
 * which are pending. */
struct target {
    pid_t pid;
    int cmd, rep;
};

/* Starts a target, as user `as` unless it is (uid_t)-1; with `reg` it
 * registers on queue /reg for signal signo first. Returns 0 once it is
 * ready, -1 if it failed. */
static int target_start_as(struct target *t, const char *reg, int signo, uid_t as)
{
    int c[2], r[2];
    if (pipe(c) || pipe(r))
        return -1;
    t->pid = fork();
    if (t->pid == 0) {
        test_child();
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigaddset(&set, SIGUSR2);
        sigprocmask(SIG_BLOCK, &set, NULL);
        char ok = 'r';
        if (as != (uid_t)-1 &&
            (setgroups(0, NULL) || setresgid(as, as, as) || setresuid(as, as, as)))
            ok = 'f';
        if (reg && ok == 'r') {
            mqd_t q = mq_open(reg, O_RDONLY);
            struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = signo};
            if (q == (mqd_t)-1 || mq_notify(q, &ev) != 0)
                ok = 'f';
        }
        (void)!write(r[1], &ok, 1);
        char cmd;
        while (read(c[0], &cmd, 1) == 1) {
            sigset_t p;
            sigpending(&p);
            char bits = (char)(sigismember(&p, SIGUSR1) | sigismember(&p, SIGUSR2) << 1);
            (void)!write(r[1], &bits, 1);
        }
        _exit(0);
    }
    close(c[0]);
    close(r[1]);
    t->cmd = c[1];
    t->rep = r[0];
    return t->pid > 0 && read_byte(t->rep) == 'r' ? 0 : -1;
}

static int target_start(struct target *t, const char *reg, int signo)
{
    return target_start_as(t, reg, signo, (uid_t)-1);
}

/* Which of SIGUSR1 (1) and SIGUSR2 (2) the target has pending; -1. */
static int target_pending(struct target *t)
{
    return write(t->cmd, "p", 1) == 1 ? read_byte(t->rep) : -1;
}

/* What the target has pending once `want` is, or after 10 s (the
 * registrant's own thread delivers, a moment after the send). */
static int target_pending_soon(struct target *t, int want)
{
    int got = -1;
    for (int i = 0; i < 1000 && (got = target_pending(t)) != want; i++)
        usleep(10000);
    return got;
}

/* What the target has pending 300 ms from now: for a signal that must not
 * come, time enough to come if it were sent. */
static int target_pending_later(struct target *t)
{
    usleep(300000);
    return target_pending(t);
}

static void target_stop(struct target *t)
{
    kill(t->pid, SIGKILL);
    waitpid(t->pid, NULL, 0);
    close(t->cmd);
    close(t->rep);
}

/* A registration forged for a process that never registered: the sender
 * whose message lands in the empty queue signals nobody. */
static void forged_registration_signals_nobody(void **state)
{
    (void)state;
    mqd_t q = make_queue(0, 0600);
    struct target t;
    assert_int_equal(target_start(&t, NULL, 0), 0);
    mbx *box[2] = {NULL, NULL};
    assert_int_equal(forge(qname(0), t.pid, SIGUSR1, 0x4141414141414141ull, box), 0);
    assert_int_equal(mq_send(q, "m", 1, 0), 0);
    assert_int_equal(target_pending_later(&t), 0);
    /* The forged registration was marked fired; no thread takes it. */
    int fd = -1;
    struct mq_side *s = side_of(qname(0), &fd);
    assert_non_null(s);
    assert_int_equal(atomic_load(&s->reg), 0x4141414141414141ull | MQ_REG_FIRED);
    munmap(s, MQ_SIDE_SIZE);
    close(fd);
    target_stop(&t);
    mbx_close(box[0]);
    mbx_close(box[1]);
    /* Its "registrant" gone, the slot is free again. */
    struct sigevent none = {.sigev_notify = SIGEV_NONE};
    assert_int_equal(mq_notify(q, &none), 0);
    mq_close(q);
    mq_unlink(qname(0));
}

/* Waits (up to 10 s) until pid runs a program called comm. */
static int runs(pid_t pid, const char *comm)
{
    char path[64], line[64];
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    for (int tries = 0; tries < 1000; tries++) {
        FILE *f = fopen(path, "re");
        int same = f && fgets(line, sizeof(line), f) && strncmp(line, comm, strlen(comm)) == 0 &&
                   line[strlen(comm)] == '\n';
        if (f)
            fclose(f);
        if (same)
            return 1;
        usleep(10000);
    }
    return 0;
}

/* A registrant that executes another program lives on without its
 * delivering thread: its registration is free for another (it held the
 * queue's slot for as long as the process lived; exec drops the kernel's). */
static void registrant_that_execs_lets_go(void **state)
{
    (void)state;
    mqd_t q = make_queue(0, 0600);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t c = fork();
    if (c == 0) {
        test_child();
        mqd_t r = mq_open(qname(0), O_RDONLY);
        struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
        if (r == (mqd_t)-1 || mq_notify(r, &ev) != 0)
            _exit(1);
        (void)!write(ready[1], "r", 1);
        execl("/bin/sleep", "sleep", "600", (char *)NULL);
        _exit(2);
    }
    assert_true(test_read_ready(ready[0]));
    struct sigevent none = {.sigev_notify = SIGEV_NONE};
    assert_true(runs(c, "sleep"));
    assert_int_equal(mq_notify(q, &none), 0);
    assert_int_equal(mq_notify(q, NULL), 0);
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    close(ready[0]);
    close(ready[1]);
    mq_close(q);
    mq_unlink(qname(0));
}

/* A registration's thread keeps a descriptor of the side file: not one a
 * program the process executes inherits (it could write the side file and
 * would hold its lock; the kernel closes queue descriptors at exec). */
static void notify_thread_fd_closes_on_exec(void **state)
{
    (void)state;
    mqd_t q = make_queue(0, 0600);
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2};
    assert_int_equal(mq_notify(q, &ev), 0);
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int sides = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[300], target[512];
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        if (e->d_name[0] == '.' || n <= 0)
            continue;
        target[n] = 0;
        if (!strstr(target, "/.mq-side."))
            continue;
        sides++;
        int fl = fcntl(atoi(e->d_name), F_GETFD);
        assert_true(fl >= 0 && (fl & FD_CLOEXEC));
    }
    closedir(d);
    assert_true(sides >= 2); /* the queue's and the thread's */
    assert_int_equal(mq_notify(q, NULL), 0);
    mq_close(q);
    mq_unlink(qname(0));
}

/* Waits (up to 10 s) until every thread of pid is stopped: a SIGSTOP takes
 * effect a moment after kill returns. Returns 1 once they are. */
static int all_stopped(pid_t pid)
{
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
    for (int tries = 0; tries < 1000; tries++) {
        DIR *d = opendir(dir);
        if (!d)
            return 0;
        int running = 0, seen = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char path[sizeof(dir) + 272], line[256]; /* the folder, a name of up to 255 */
            snprintf(path, sizeof(path), "%s/%s/stat", dir, e->d_name);
            FILE *f = fopen(path, "re");
            const char *paren = f && fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
            if (f)
                fclose(f);
            seen++;
            running += !paren || paren[1] != ' ' || (paren[2] != 'T' && paren[2] != 't');
        }
        closedir(d);
        if (seen && !running)
            return 1;
        usleep(10000);
    }
    return 0;
}

/* A registrant whose thread is slow to run (stopped here, as under a
 * debugger or a loaded machine) still gets its notification, however many
 * other processes try to register and send meanwhile (8 such rounds lost
 * it when firings were kept in a ring of 8). */
static void stopped_registrant_keeps_its_notification(void **state)
{
    (void)state;
    mqd_t q = make_queue(0, 0600);
    struct target t;
    assert_int_equal(target_start(&t, qname(0), SIGUSR1), 0);
    assert_int_equal(kill(t.pid, SIGSTOP), 0);
    assert_true(all_stopped(t.pid));
    char buf[8];
    assert_int_equal(mq_send(q, "m", 1, 0), 0); /* fires its registration */
    assert_int_equal(mq_receive(q, buf, sizeof(buf), NULL), 1);
    for (int i = 0; i < 12; i++) {
        struct sigevent none = {.sigev_notify = SIGEV_NONE};
        if (mq_notify(q, &none) == 0) {
            assert_int_equal(mq_send(q, "m", 1, 0), 0);
            assert_int_equal(mq_receive(q, buf, sizeof(buf), NULL), 1);
        }
    }
    assert_int_equal(kill(t.pid, SIGCONT), 0);
    assert_int_equal(target_pending_soon(&t, 1), 1);
    target_stop(&t);
    mq_close(q);
    mq_unlink(qname(0));
}

/* A real registration copied onto another queue with another signal: the
 * copy signals nothing, the registration itself still notifies. */
static void registration_cannot_be_moved(void **state)
{
    (void)state;
    mqd_t a = make_queue(0, 0600), b = make_queue(1, 0600);
    struct target t;
    assert_int_equal(target_start(&t, qname(0), SIGUSR1), 0);
    int fa, fb;
    struct mq_side *sa = side_of(qname(0), &fa), *sb = side_of(qname(1), &fb);
    assert_non_null(sa);
    assert_non_null(sb);
    uint64_t token = atomic_load(&sa->reg);
    assert_true(token > MQ_REG_WRITING_MAX);
    sb->reg_pid = sa->reg_pid;
    sb->reg_notify = SIGEV_SIGNAL;
    sb->reg_signo = SIGUSR2;
    sb->reg_value = sa->reg_value;
    atomic_store(&sb->reg, token);
    assert_int_equal(mq_send(b, "m", 1, 0), 0);
    assert_int_equal(target_pending_later(&t), 0);
    /* Its own queue's message does notify it, with its signal. */
    assert_int_equal(mq_send(a, "m", 1, 0), 0);
    assert_int_equal(target_pending_soon(&t, 1), 1);
    target_stop(&t);
    munmap(sa, MQ_SIDE_SIZE);
    munmap(sb, MQ_SIDE_SIZE);
    close(fa);
    close(fb);
    mq_close(a);
    mq_close(b);
    mq_unlink(qname(0));
    mq_unlink(qname(1));
}

/* getpid() as libmbx-mq's notify thread calls it between deciding to
 * deliver a signal and sending it, made slow once on request (this
 * program's definition comes before libc's, for the library too): a
 * withdrawal can then be timed to fall between the two. */
static _Atomic int slow_getpid;    /* 1: the notify thread's next call sleeps */
static _Atomic int in_slow_getpid; /* 1 while it sleeps */

pid_t getpid(void)
{
    char name[16] = "";
    int one = 1;
    if (atomic_load(&slow_getpid) && prctl(PR_GET_NAME, name) == 0 &&
        strcmp(name, "mbx-mq-notify") == 0 &&
        atomic_compare_exchange_strong(&slow_getpid, &one, 0)) {
        atomic_store(&in_slow_getpid, 1);
        struct timespec t = {0, 300 * 1000000};
        nanosleep(&t, NULL);
        atomic_store(&in_slow_getpid, 0);
    }
    return (pid_t)syscall(SYS_getpid);
}

/* 1 when SIGUSR1 is pending for this process (every thread blocks it). */
static int usr1_pending(void)
{
    sigset_t p;
    sigpending(&p);
    return sigismember(&p, SIGUSR1);
}

/* A withdrawal (mq_notify(NULL), or mq_close when by_close) that comes
 * while the registrant's thread is between deciding to deliver the fired
 * signal and sending it returns only once the signal is sent: none comes
 * after the withdrawal, as with the kernel's queues. */
static void withdrawal_race(int by_close)
{
    mqd_t q = make_queue(0, 0600);
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &usr1, &old), 0);
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
    assert_int_equal(mq_notify(q, &ev), 0);
    atomic_store(&slow_getpid, 1);
    assert_int_equal(mq_send(q, "m", 1, 0), 0); /* fires the registration */
    for (int i = 0; i < 10000 && !atomic_load(&in_slow_getpid); i++)
        usleep(1000);
    assert_int_equal(atomic_load(&in_slow_getpid), 1);
    if (by_close)
        assert_int_equal(mq_close(q), 0);
    else
        assert_int_equal(mq_notify(q, NULL), 0);
    int at_return = usr1_pending();
    for (int i = 0; i < 10000 && atomic_load(&in_slow_getpid); i++)
        usleep(1000);
    usleep(100000); /* time for a late signal to come */
    int later = usr1_pending();
    struct timespec zero = {0, 0};
    while (sigtimedwait(&usr1, NULL, &zero) == SIGUSR1)
        ;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    atomic_store(&slow_getpid, 0);
    if (!by_close)
        mq_close(q);
    mq_unlink(qname(0));
    assert_int_equal(later, at_return); /* nothing after the withdrawal */
    assert_int_equal(at_return, 1);     /* decided before it: sent */
}

/* Two senders whose messages land in the empty queue at once (both in
 * before either looks: each is held after its send by the pipe lock this
 * test keeps, as a polled queue's senders take it) fire the registration
 * exactly once, as the kernel's first message into an empty queue does
 * (the shim took "after my send the queue holds 1" for "I made it non-empty":
 * both saw 2, the notification was lost). */
static mqd_t race_q;

static void *race_sender(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)mq_send(race_q, "m", 1, 0);
}

static void two_senders_into_the_empty_queue_fire_once(void **state)
{
    (void)state;
    race_q = make_queue(0, 0600);
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &usr1, &old), 0); /* the senders' too */
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
    assert_int_equal(mq_notify(race_q, &ev), 0);
    int fd = -1;
    struct mq_side *s = side_of(qname(0), &fd);
    assert_non_null(s);
    atomic_store(&s->polled, 1);
    assert_int_equal(pthread_mutex_lock(&s->fifo_lock), 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race_sender, NULL), 0);
    struct mq_attr a = {0};
    for (int i = 0; i < 10000 && a.mq_curmsgs < 2; i++) {
        assert_int_equal(mq_getattr(race_q, &a), 0);
        usleep(100);
    }
    assert_int_equal(a.mq_curmsgs, 2); /* both sent, both held before they look */
    pthread_mutex_unlock(&s->fifo_lock);
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        assert_int_equal((intptr_t)r, 0);
    }
    struct timespec wait = {5, 0}, zero = {0, 0};
    int first = sigtimedwait(&usr1, NULL, &wait);
    usleep(100000); /* time for a second, wrong one */
    int second = sigtimedwait(&usr1, NULL, &zero);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(s, MQ_SIDE_SIZE);
    close(fd);
    mq_close(race_q);
    mq_unlink(qname(0));
    assert_int_equal(first, SIGUSR1);
    assert_int_equal(second, -1);
}

/* A registrant killed inside mq_notify, between taking the registration
 * word (MQ_REG_WRITING_BY) and writing its registration, left the word so for
 * ever: every later mq_notify said EBUSY. The next one frees it once that
 * writer is dead; a live writer keeps it. */
static void registrant_killed_while_writing(void **state)
{
    (void)state;
    mqd_t q = make_queue(0, 0600);
    int fd = -1;
    struct mq_side *s = side_of(qname(0), &fd);
    assert_non_null(s);
    pid_t live = fork();
    if (live == 0) {
        test_child();
        pause();
        _exit(0);
    }
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    assert_int_equal(waitpid(dead, NULL, 0), dead);
    struct sigevent ev = {.sigev_notify = SIGEV_NONE};
    atomic_store(&s->reg, MQ_REG_WRITING_BY(live));
    errno = 0;
    int busy = mq_notify(q, &ev);
    int busy_errno = errno;
    kill(live, SIGKILL);
    waitpid(live, NULL, 0);
    atomic_store(&s->reg, MQ_REG_WRITING_BY(dead));
    int freed = mq_notify(q, &ev);
    munmap(s, MQ_SIDE_SIZE);
    close(fd);
    mq_close(q);
    mq_unlink(qname(0));
    assert_int_equal(busy, -1);
    assert_int_equal(busy_errno, EBUSY);
    assert_int_equal(freed, 0);
}

/* A registrant killed inside mq_notify right after it took the
 * registration word, before its pid was written down (the word says a
 * registration is being written, and names no process), left the word so
 * for good: every mq_notify on the queue said EBUSY (with an earlier
 * writer's pid left there, until that process died). The next mq_notify
 * frees it at once: no mq_notify of this version leaves such a word. */
static void registration_taken_by_nobody(void **state)
{
    (void)state;
    mqd_t q = make_queue(0, 0600);
    int fd = -1;
    struct mq_side *s = side_of(qname(0), &fd);
    assert_non_null(s);
    atomic_store(&s->reg, MQ_REG_WRITING_BY(0)); /* taken; no writer named */
    struct sigevent ev = {.sigev_notify = SIGEV_NONE};
    errno = 0;
    int r = mq_notify(q, &ev);
    int r_errno = errno;
    uint64_t reg = atomic_load(&s->reg);
    munmap(s, MQ_SIDE_SIZE);
    close(fd);
    mq_close(q);
    mq_unlink(qname(0));
    assert_int_equal(r == -1 ? r_errno : 0, 0); /* it said EBUSY */
    assert_int_equal(r, 0);
    assert_true(reg > MQ_REG_WRITING_MAX); /* registered */
}

/* A process killed inside mq_unlink, between taking the name (unlinked 2)
 * and its renames, left the name unusable for ever (mq_open: EAGAIN,
 * mq_unlink: ENOENT). Once it is dead, the next mq_open finishes its
 * unlink (the name is free for a new queue; the old one lives on under its
 * descriptors), or, killed before it said where to, mq_unlink undoes it. */
static void unlinker_killed_midway(void **state)
{
    (void)state;
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    assert_int_equal(waitpid(dead, NULL, 0), dead);
    mqd_t q = make_queue(0, 0600);
    assert_int_equal(mq_send(q, "old", 3, 0), 0);
    int fd = -1;
    struct mq_side *s = side_of(qname(0), &fd);
    assert_non_null(s);
    /* Killed after saying where to, before any rename. */
    memcpy(s->gone, "mq-gone.0123456789abcdef", sizeof("mq-gone.0123456789abcdef"));
    atomic_store(&s->unlinked, MQ_UNLINK_TAKEN_BY(dead));
    struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 8};
    mqd_t n = mq_open(qname(0), O_CREAT | O_RDWR | O_NONBLOCK, 0600, &a);
    int n_errno = errno;
    struct mq_attr na = {0}, qa = {0};
    if (n != (mqd_t)-1)
        mq_getattr(n, &na);
    mq_getattr(q, &qa);
    munmap(s, MQ_SIDE_SIZE);
    close(fd);
    mq_close(q);
    errno = n_errno;
    assert_int_not_equal(n, (mqd_t)-1);
    assert_int_equal(na.mq_curmsgs, 0); /* a new queue */
    assert_int_equal(qa.mq_curmsgs, 1); /* the old one, unlinked, open still */
    /* Killed before it said where to: nothing renamed, the unlink undone. */
    s = side_of(qname(0), &fd);
    assert_non_null(s);
    memset(s->gone, 0, sizeof(s->gone));
    atomic_store(&s->unlinked, MQ_UNLINK_TAKEN_BY(dead));
    int r = mq_unlink(qname(0));
    int r_errno = errno;
    munmap(s, MQ_SIDE_SIZE);
    close(fd);
    mq_close(n);
    errno = r_errno;
    assert_int_equal(r, 0);
    errno = 0;
    assert_int_equal(mq_open(qname(0), O_RDWR), -1);
    assert_int_equal(errno, ENOENT);
}

/* An mq_unlink killed right after it took the name, before the process
 * that took it was written down (the side file's word says 2, and names
 * nobody), left the name unusable for ever: every mq_open said EAGAIN
 * after a second, mq_unlink ENOENT (a kill -9 chaos run). The unlink is
 * undone (nothing was renamed): the queue opens as it was. */
static void unlink_taken_by_nobody(void **state)
{
    (void)state;
    mqd_t q = make_queue(0, 0600);
    assert_int_equal(mq_send(q, "old", 3, 0), 0);
    assert_int_equal(mq_close(q), 0);
    int fd = -1;
    struct mq_side *s = side_of(qname(0), &fd);
    assert_non_null(s);
    atomic_store(&s->unlinked, 2); /* taken; no unlinker, no name where to */
    munmap(s, MQ_SIDE_SIZE);
    close(fd);
    errno = 0;
    q = mq_open(qname(0), O_RDWR | O_NONBLOCK);
    assert_int_equal(q == (mqd_t)-1 ? errno : 0, 0); /* it said EAGAIN */
    assert_int_not_equal(q, (mqd_t)-1);
    struct mq_attr a = {0};
    assert_int_equal(mq_getattr(q, &a), 0);
    assert_int_equal(a.mq_curmsgs, 1); /* the same queue */
    assert_int_equal(mq_close(q), 0);
    assert_int_equal(mq_unlink(qname(0)), 0);
    errno = 0;
    assert_int_equal(mq_open(qname(0), O_RDWR), -1);
    assert_int_equal(errno, ENOENT);
}

/* Path of queue i's file: kind "mbx.mq.", ".mq-side.mq." or ".mq-fifo.mq.". */
static const char *file_of(const char *kind, int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s%s", test_dir, kind, qname(i) + 1);
    return buf;
}

/* Queue i made and closed with a message in it, its mailbox then older
 * than a creator takes between making it and finishing the side file. */
static void old_queue_with_a_message(int i)
{
    mqd_t q = make_queue(i, 0600);
    assert_int_equal(mq_send(q, "old", 3, 0), 0);
    assert_int_equal(mq_close(q), 0);
    usleep(1500 * 1000); /* a second, with a margin */
}

/* Queue i was left half made by a creator that is gone: mq_open without
 * O_CREAT says ENOENT and removes its mailbox, pipe and side file, and
 * mq_open(O_CREAT|O_EXCL) then makes a new queue. */
static void half_made_recovered(int i)
{
    char path[sizeof(test_dir) + 512];
    errno = 0;
    mqd_t q = mq_open(qname(i), O_RDWR | O_NONBLOCK);
    int e = errno;
    if (q != (mqd_t)-1)
        mq_close(q);
    assert_int_equal(q, (mqd_t)-1);
    assert_int_equal(e, ENOENT); /* no queue: its remains removed */
    assert_int_equal(access(file_of("mbx.mq.", i, path, sizeof(path)), F_OK), -1);
    assert_int_equal(access(file_of(".mq-side.mq.", i, path, sizeof(path)), F_OK), -1);
    assert_int_equal(access(file_of(".mq-fifo.mq.", i, path, sizeof(path)), F_OK), -1);
    q = make_queue(i, 0600);
    struct mq_attr a = {0};
    assert_int_equal(mq_getattr(q, &a), 0);
    assert_int_equal(a.mq_curmsgs, 0); /* a new queue */
    assert_int_equal(mq_close(q), 0);
    assert_int_equal(mq_unlink(qname(i)), 0);
}

/* A creator that stalls between making its mailbox and locking it (the
 * test's own open, below, stands for the stall): meanwhile another
 * opener takes its half-made queue for a dead creator's, removes it and
 * makes the queue anew. The stalled creator must leave that queue alone
 * (it replaced its pipe and side file: the other opener's descriptors
 * were left on deleted files) and open it as made. */
static const char *stall_path;        /* the creator's open of this path stalls */
static const char *volatile die_path; /* the creator forks and is killed at its creation */
static int heir_pipe[2];              /* the forked child reads it until the test closes it */
static int heir_ready[2];             /* ... and writes a byte here once its fork returned */
static ino_t remade_side;             /* the side file the other opener made */

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
    if (die_path && strcmp(path, die_path) == 0 && (flags & O_CREAT)) {
        /* Another thread forks (here the creator itself: the child gets
         * the same descriptors), then the creator is killed. */
        die_path = NULL;
        if (fork() == 0) {
            char c = 'r';
            close(heir_pipe[1]);
            if (write(heir_ready[1], &c, 1) != 1) /* its fork handlers ran */
                _exit(1);
            _exit(read(heir_pipe[0], &c, 1) < 0 ? 1 : 0); /* lives until the test ends */
        }
        raise(SIGKILL);
    }
    if (stall_path && strcmp(path, stall_path) == 0 &&
        flags == (O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) {
        stall_path = NULL;
        usleep(1500 * 1000); /* older than a creation */
        char side[sizeof(test_dir) + 512];
        pid_t c = fork();
        if (c == 0) {
            struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 8};
            _exit(mq_open(qname(3), O_CREAT | O_RDWR, 0600, &a) == (mqd_t)-1 ? 1 : 0);
        }
        int st = -1;
        waitpid(c, &st, 0);
        struct stat sb;
        if (st == 0 && stat(file_of(".mq-side.mq.", 3, side, sizeof(side)), &sb) == 0)
            remade_side = sb.st_ino;
    }
    return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

static void stalled_creator_leaves_a_queue_made_again(void **state)
{
    (void)state;
    char mbxpath[sizeof(test_dir) + 512], side[sizeof(test_dir) + 512];
    stall_path = file_of("mbx.mq.", 3, mbxpath, sizeof(mbxpath));
    struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 8};
    mqd_t q = mq_open(qname(3), O_CREAT | O_RDWR, 0600, &a);
    stall_path = NULL;
    assert_int_not_equal(q, (mqd_t)-1);
    assert_true(remade_side != 0); /* the other opener made it again */
    struct stat sb;
    assert_int_equal(stat(file_of(".mq-side.mq.", 3, side, sizeof(side)), &sb), 0);
    assert_int_equal(sb.st_ino, remade_side); /* left as it made it */
    assert_int_equal(mq_close(q), 0);
    assert_int_equal(mq_unlink(qname(3)), 0);
}

/* A creator that forked (another thread did, inside its mq_open) and was
 * then killed before its side file: the child kept the creator's lock on
 * the mailbox (an inherited descriptor), so while it lived every mq_open
 * of the name said EAGAIN and removed nothing. A forked child does not
 * hold a creation's lock. */
static void creator_forked_then_killed(void **state)
{
    (void)state;
    char side[sizeof(test_dir) + 512];
    assert_int_equal(pipe(heir_pipe), 0);
    assert_int_equal(pipe(heir_ready), 0);
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        die_path = file_of(".mq-side.mq.", 4, side, sizeof(side));
        struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 8};
        mq_open(qname(4), O_CREAT | O_RDWR, 0600, &a);
        _exit(3);
    }
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFSIGNALED(st));
    char ready; /* until the heir ran, its copy of the lock held the remains */
    assert_int_equal(read(heir_ready[0], &ready, 1), 1);
    close(heir_ready[0]);
    close(heir_ready[1]);
    usleep(1200 * 1000); /* older than a creation */
    char path[sizeof(test_dir) + 512];
    errno = 0;
    mqd_t q = mq_open(qname(4), O_RDWR | O_NONBLOCK);
    int e = errno;
    int box = access(file_of("mbx.mq.", 4, path, sizeof(path)), F_OK);
    close(heir_pipe[1]); /* the child exits */
    close(heir_pipe[0]);
    if (q != (mqd_t)-1)
        mq_close(q);
    assert_int_equal(q, (mqd_t)-1);
    assert_int_equal(e, ENOENT); /* it said EAGAIN */
    assert_int_equal(box, -1);
}

/* An mq_open(O_CREAT) killed after making the mailbox and pipe, before
 * the side file, left the name unusable until an mq_unlink: every mq_open
 * said EAGAIN after a second and a half (a kill -9 chaos run). Once its
 * creator is gone, the next mq_open removes what it left. */
static void creator_killed_before_the_side_file(void **state)
{
    (void)state;
    char path[sizeof(test_dir) + 512];
    old_queue_with_a_message(0);
    assert_int_equal(unlink(file_of(".mq-side.mq.", 0, path, sizeof(path))), 0);
    half_made_recovered(0);
    /* With O_CREAT (without O_EXCL), the first mq_open makes it anew. */
    old_queue_with_a_message(1);
    assert_int_equal(unlink(file_of(".mq-side.mq.", 1, path, sizeof(path))), 0);
    struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 8};
    errno = 0;
    mqd_t q = mq_open(qname(1), O_CREAT | O_RDWR | O_NONBLOCK, 0600, &a);
    assert_int_equal(q == (mqd_t)-1 ? errno : 0, 0); /* it said EAGAIN */
    assert_int_not_equal(q, (mqd_t)-1);
    assert_int_equal(mq_getattr(q, &a), 0);
    assert_int_equal(a.mq_curmsgs, 0);
    assert_int_equal(mq_close(q), 0);
    assert_int_equal(mq_unlink(qname(1)), 0);
}

/* An mq_open(O_CREAT) killed after making the side file, before filling
 * it in (its size, or its magic, written last), left every later mq_open
 * of the name saying EUCLEAN until an mq_unlink. */
static void creator_killed_while_filling_the_side_file(void **state)
{
    (void)state;
    char path[sizeof(test_dir) + 512];
    old_queue_with_a_message(0);
    assert_int_equal(truncate(file_of(".mq-side.mq.", 0, path, sizeof(path)), 0), 0);
    half_made_recovered(0);
    old_queue_with_a_message(1);
    int fd = -1;
    struct mq_side *s = side_of(qname(1), &fd);
    assert_non_null(s);
    atomic_store(&s->magic, 0);
    munmap(s, MQ_SIDE_SIZE);
    close(fd);
    half_made_recovered(1);
    /* O_CREAT|O_EXCL makes it anew: the remains are no queue (EEXIST). */
    old_queue_with_a_message(2);
    assert_int_equal(truncate(file_of(".mq-side.mq.", 2, path, sizeof(path)), 0), 0);
    struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 8};
    errno = 0;
    mqd_t q = mq_open(qname(2), O_CREAT | O_EXCL | O_RDWR | O_NONBLOCK, 0600, &a);
    assert_int_equal(q == (mqd_t)-1 ? errno : 0, 0); /* it said EEXIST */
    assert_int_equal(mq_getattr(q, &a), 0);
    assert_int_equal(a.mq_curmsgs, 0);
    assert_int_equal(mq_close(q), 0);
    assert_int_equal(mq_unlink(qname(2)), 0);
}

/* A creator alive between its mailbox and its side file, however long it
 * takes, keeps what it made: it holds a shared flock on its mailbox until
 * the side file is finished (played here by the test), and an mq_open
 * meanwhile says EAGAIN (EUCLEAN for an unfinished side file) and removes
 * nothing. */
static void live_creator_keeps_its_queue(void **state)
{
    (void)state;
    char path[sizeof(test_dir) + 512];
    old_queue_with_a_message(0);
    int box = open(file_of("mbx.mq.", 0, path, sizeof(path)), O_RDONLY | O_CLOEXEC);
    assert_true(box >= 0);
    assert_int_equal(flock(box, LOCK_SH), 0);
    assert_int_equal(truncate(file_of(".mq-side.mq.", 0, path, sizeof(path)), 0), 0);
    errno = 0;
    assert_int_equal(mq_open(qname(0), O_RDWR | O_NONBLOCK), -1);
    assert_int_equal(errno, EUCLEAN);
    assert_int_equal(unlink(file_of(".mq-side.mq.", 0, path, sizeof(path))), 0);
    errno = 0;
    assert_int_equal(mq_open(qname(0), O_RDWR | O_NONBLOCK), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(access(file_of("mbx.mq.", 0, path, sizeof(path)), F_OK), 0);
    assert_int_equal(access(file_of(".mq-fifo.mq.", 0, path, sizeof(path)), F_OK), 0);
    close(box); /* the creator dies */
    half_made_recovered(0);
}

/* A process that stands for another one acting in a window of the
 * library's: the library's rename or unlink of hook_path first runs
 * hook_creator (hook_unlinks: it unlinks the name first). Volatile: glibc
 * declares mq_open and mq_unlink leaf functions, as if they could not
 * reach these interposers. */
static const char *volatile hook_path;
static volatile int hook_queue, hook_unlinks;
static volatile pid_t hook_child = -1;
static volatile int sleeps_fd = -1; /* in the child: says here each time it waits */
static volatile int go_fd = -1;     /* in the child: read once it said so 20 times */
static int go_pipe[2] = {-1, -1};   /* the test closes its end once its call returned */

/* Forks a child that makes queue hook_queue (mq_open O_CREAT, after an
 * mq_unlink of it if hook_unlinks) and sends "new" into it; returns once
 * the child is done, or waits for us (it slept 20 times: the retries of
 * an mq_open told to look again), whichever comes first. A child that
 * waits then sleeps until the test's call returned (hook_child_succeeded),
 * so that its mq_open does not give up however slow that call is. */
static void hook_creator(void)
{
    int p[2];
    if (pipe(p) != 0 || pipe(go_pipe) != 0)
        return;
    pid_t c = fork();
    if (c == 0) {
        test_child();
        signal(SIGPIPE, SIG_IGN);
        close(p[0]);
        close(go_pipe[1]);
        go_fd = go_pipe[0];
        sleeps_fd = p[1];
        if (hook_unlinks)
            mq_unlink(qname(hook_queue));
        struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 8};
        mqd_t q = mq_open(qname(hook_queue), O_CREAT | O_RDWR | O_NONBLOCK, 0600, &a);
        _exit(q == (mqd_t)-1 ? 10 + (errno & 0x7f) : mq_send(q, "new", 3, 0) == 0 ? 0 : 1);
    }
    close(p[1]);
    close(go_pipe[0]);
    char b[20];
    size_t got = 0;
    ssize_t n;
    while (c > 0 && got < sizeof(b) && (n = read(p[0], b, sizeof(b) - got)) > 0)
        got += (size_t)n;
    close(p[0]);
    hook_child = c;
}

static void hook_at(const char *path)
{
    if (hook_path && strcmp(path, hook_path) == 0) {
        hook_path = NULL;
        hook_creator();
    }
}

int usleep(useconds_t us);
int usleep(useconds_t us)
{
    static int slept;
    char c;
    if (sleeps_fd >= 0 && ++slept <= 20 && write(sleeps_fd, "s", 1) != 1)
        sleeps_fd = -1;
    if (sleeps_fd >= 0 && slept > 20) {
        /* The test stopped reading: wait for it (a write would say EPIPE). */
        sleeps_fd = -1;
        if (go_fd >= 0 && read(go_fd, &c, 1) < 0)
            go_fd = -1;
    }
    struct timespec t = {us / 1000000, (long)(us % 1000000) * 1000};
    return nanosleep(&t, NULL);
}

int rename(const char *from, const char *to);
int rename(const char *from, const char *to)
{
    hook_at(from);
    return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 0);
}

int renameat2(int fromdir, const char *from, int todir, const char *to, unsigned flags);
int renameat2(int fromdir, const char *from, int todir, const char *to, unsigned flags)
{
    hook_at(from);
    return (int)syscall(SYS_renameat2, fromdir, from, todir, to, flags);
}

int unlink(const char *path);
int unlink(const char *path)
{
    hook_at(path);
    return (int)syscall(SYS_unlinkat, AT_FDCWD, path, 0);
}

/* The hook's child: done, and it made (or opened) the queue and sent. */
static void hook_child_succeeded(void)
{
    int st = -1;
    close(go_pipe[1]); /* a child waiting for us goes on */
    go_pipe[1] = -1;
    assert_true(hook_child > 0);
    assert_int_equal(waitpid(hook_child, &st, 0), hook_child);
    hook_child = -1;
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) >= 10)
        fail_msg("the other creator's mq_open: %s", strerror(WEXITSTATUS(st) - 10));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* The queue named i holds "new" (the hook's child sent it). */
static void name_holds_new(int i)
{
    errno = 0;
    mqd_t n = mq_open(qname(i), O_RDWR | O_NONBLOCK);
    if (n == (mqd_t)-1)
        fail_msg("mq_open of the name: %s", strerror(errno));
    char buf[8] = "";
    ssize_t got = mq_receive(n, buf, sizeof(buf), NULL);
    int e = errno;
    mq_close(n);
    if (got != 3)
        fail_msg("the name's queue: mq_receive %zd (%s): not the new queue", got, strerror(e));
    assert_memory_equal(buf, "new", 3);
}

/* mq_unlink meets an mq_open(O_CREAT) of the same name: the unlinker
 * moved the mailbox away (the name is free: the creator makes its queue),
 * then moved the side file, which was by then the creator's (its
 * mq_side_create had replaced the unlinker's, taken for a crash's
 * leftover). The new queue had no side file (every mq_open said EAGAIN,
 * then took it for a dead creator's and removed it), the old one the new
 * one's. Here the creator runs at the unlinker's move of the side file. */
static void unlink_meets_a_creator(void **state)
{
    (void)state;
    char side[sizeof(test_dir) + 512];
    mqd_t q = make_queue(0, 0600);
    assert_int_equal(mq_send(q, "old", 3, 0), 0);
    hook_queue = 0;
    hook_unlinks = 0;
    hook_path = file_of(".mq-side.mq.", 0, side, sizeof(side));
    int r = mq_unlink(qname(0));
    int e = errno;
    hook_path = NULL;
    errno = e;
    assert_int_equal(r, 0);
    hook_child_succeeded();
    struct mq_attr a = {0};
    if (mq_getattr(q, &a) != 0)
        fail_msg("the old queue: mq_getattr: %s (its mailbox taken for the new one's)",
                 strerror(errno));
    assert_int_equal(a.mq_curmsgs, 1); /* the old queue, unlinked, open still */
    name_holds_new(0);
    char buf[8];
    assert_int_equal(mq_receive(q, buf, sizeof(buf), NULL), 3);
    assert_memory_equal(buf, "old", 3);
    assert_int_equal(mq_close(q), 0); /* the old queue goes */
    assert_int_equal(mq_unlink(qname(0)), 0);
    assert_int_equal(test_dir_count(), 0); /* nothing of either is left */
}

/* The half-made queue's recovery meets an mq_unlink and a complete
 * mq_open(O_CREAT) of the same name: the recoverer had checked the
 * remains (its lock on their mailbox, no side file, the name still
 * theirs), then an mq_unlink removed the mailbox without regard for that
 * lock and another creator made its queue whole; the recoverer went on
 * and removed that queue (its side file, pipe and mailbox). Here both run
 * at the recoverer's removal of the side file. */
static void recovery_meets_an_unlink_and_a_creator(void **state)
{
    (void)state;
    char side[sizeof(test_dir) + 512];
    old_queue_with_a_message(0);
    assert_int_equal(unlink(file_of(".mq-side.mq.", 0, side, sizeof(side))), 0);
    hook_queue = 0;
    hook_unlinks = 1;
    hook_path = side;
    struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 8};
    mqd_t q = mq_open(qname(0), O_CREAT | O_RDWR | O_NONBLOCK, 0600, &a);
    int e = errno;
    hook_path = NULL;
    errno = e;
    assert_int_not_equal(q, (mqd_t)-1);
    hook_child_succeeded();
    char buf[8] = "";
    ssize_t got = mq_receive(q, buf, sizeof(buf), NULL);
    if (got != 3)
        fail_msg("the recoverer's queue: mq_receive %zd (%s): the other creator's was removed", got,
                 strerror(errno));
    assert_memory_equal(buf, "new", 3);
    assert_int_equal(mq_close(q), 0);
    assert_int_equal(mq_unlink(qname(0)), 0);
    assert_int_equal(test_dir_count(), 0);
}

static mqd_t rereg_q;
static volatile sig_atomic_t rereg_handled, rereg_result;

/* Registers again at once, as a handler may. */
static void reregister(int sig)
{
    (void)sig;
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
    rereg_handled++;
    rereg_result = mq_notify(rereg_q, &ev);
}

/* The signal a withdrawal waits for is handled after the withdrawal
 * returns, not inside it: a handler that registers again there found the
 * registration half withdrawn (its thread let go of twice: a use after
 * free under ASan) and had its new registration undone by it. */
static void handler_registers_after_withdrawal(void **state)
{
    (void)state;
    rereg_q = make_queue(0, 0600);
    int fd = -1;
    struct mq_side *s = side_of(qname(0), &fd);
    assert_non_null(s);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = reregister;
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
    assert_int_equal(mq_notify(rereg_q, &ev), 0);
    atomic_store(&slow_getpid, 1);
    assert_int_equal(mq_send(rereg_q, "m", 1, 0), 0); /* fires */
    for (int i = 0; i < 10000 && !atomic_load(&in_slow_getpid); i++)
        usleep(1000);
    assert_int_equal(atomic_load(&in_slow_getpid), 1);
    int r = mq_notify(rereg_q, NULL);
    for (int i = 0; i < 10000 && !rereg_handled; i++)
        usleep(1000);
    uint64_t reg = atomic_load(&s->reg);
    /* Held by a live registrant: another process cannot take it. */
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        struct sigevent none = {.sigev_notify = SIGEV_NONE};
        _exit(mq_notify(rereg_q, &none) == -1 && errno == EBUSY ? 0 : 1);
    }
    int status = -1;
    waitpid(c, &status, 0);
    sigaction(SIGUSR1, &old, NULL);
    atomic_store(&slow_getpid, 0);
    munmap(s, MQ_SIDE_SIZE);
    close(fd);
    mq_close(rereg_q);
    mq_unlink(qname(0));
    assert_int_equal(r, 0);
    assert_int_equal(rereg_handled, 1);
    assert_int_equal(rereg_result, 0);
    assert_true(reg > MQ_REG_WRITING_MAX);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* it holds */
}

static void no_signal_after_withdrawal(void **state)
{
    (void)state;
    withdrawal_race(0);
}

static void no_signal_after_close(void **state)
{
    (void)state;
    withdrawal_race(1);
}

/* A notification is sent only after its registration left the side file
 * (as the kernel removes it before it notifies): the moment the signal is
 * there, another process may register. */
static void registration_freed_before_signal(void **state)
{
    (void)state;
    mqd_t q = make_queue(0, 0600);
    int fd = -1;
    struct mq_side *s = side_of(qname(0), &fd);
    assert_non_null(s);
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &usr1, &old), 0);
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
    assert_int_equal(mq_notify(q, &ev), 0);
    assert_true(atomic_load(&s->reg) > MQ_REG_WRITING_MAX);
    assert_int_equal(mq_send(q, "m", 1, 0), 0);
    struct timespec t = {30, 0};
    int got = sigtimedwait(&usr1, NULL, &t);
    uint64_t reg = atomic_load(&s->reg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(s, MQ_SIDE_SIZE);
    close(fd);
    mq_close(q);
    mq_unlink(qname(0));
    assert_int_equal(got, SIGUSR1);
    assert_int_equal(reg, MQ_REG_NONE);
}

/* Whether child c ends within 60 s (a far bound: the shim waits 2 s for
 * the lock), with exit status 0. A child still running is killed. */
static int ends_ok_within_60s(pid_t c)
{
    int st = 0;
    for (int i = 0; i < 6000; i++) {
        pid_t w = waitpid(c, &st, WNOHANG);
        if (w == c)
            return WIFEXITED(st) && WEXITSTATUS(st) == 0;
        usleep(10000);
    }
    kill(c, SIGKILL);
    waitpid(c, &st, 0);
    return 0;
}

/* Another process holds the side file's pipe lock and keeps it: mq_open,
 * and sends and receives of the polled queue, still end. */
static void lock_holder_cannot_hang_open(void **state)
{
    (void)state;
    mqd_t q = make_queue(0, 0600);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t holder = fork();
    if (holder == 0) {
        int fd;
        struct mq_side *s = side_of(qname(0), &fd);
        if (s && pthread_mutex_lock(&s->fifo_lock) == 0)
            (void)!write(ready[1], "r", 1);
        test_await_kill();
    }
    assert_true(test_read_ready(ready[0]));
    int fd;
    struct mq_side *s = side_of(qname(0), &fd);
    assert_non_null(s);
    atomic_store(&s->polled, 1); /* every send and receive takes the lock too */
    pid_t opener = fork();
    if (opener == 0) {
        test_child();
        char b[8];
        mqd_t r = mq_open(qname(0), O_RDWR | O_NONBLOCK);
        _exit(r != (mqd_t)-1 && mq_send(r, "m", 1, 0) == 0 && mq_receive(r, b, 8, NULL) == 1 &&
                      mq_close(r) == 0
                  ? 0
                  : 1);
    }
    assert_true(ends_ok_within_60s(opener));
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    /* Its holder gone, the lock is taken again: the queue polls right. */
    assert_int_equal(mq_send(q, "m", 1, 0), 0);
    struct pollfd p = {q, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 10000), 1);
    munmap(s, MQ_SIDE_SIZE);
    close(fd);
    close(ready[0]);
    close(ready[1]);
    mq_close(q);
    mq_unlink(qname(0));
}

/* Another user who may read a queue's side file takes its lock
 * exclusively while nobody has the queue open, and keeps it: mq_open
 * gives up (ETIMEDOUT) instead of waiting for ever. */
static void exclusive_side_lock_cannot_hang_open(void **state)
{
    (void)state;
    mqd_t q = make_queue(0, 0600);
    assert_int_equal(mq_close(q), 0); /* nobody holds it now */
    int fd = -1;
    struct mq_side *s = side_of(qname(0), &fd);
    assert_non_null(s);
    char path[sizeof(test_dir) + 512];
    snprintf(path, sizeof(path), "%s/.mq-side.mq.%s", test_dir, qname(0) + 1);
    int locker = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(locker >= 0);
    assert_int_equal(flock(locker, LOCK_EX | LOCK_NB), 0);
    pid_t opener = fork();
    if (opener == 0) {
        test_child();
        errno = 0;
        mqd_t r = mq_open(qname(0), O_RDONLY);
        _exit(r == (mqd_t)-1 && errno == ETIMEDOUT ? 0 : 1);
    }
    assert_true(ends_ok_within_60s(opener));
    close(locker);
    munmap(s, MQ_SIDE_SIZE);
    close(fd);
    mq_unlink(qname(0));
}

/* A peer that shares a polled queue writes a huge count of packets into
 * the side file and keeps the pipe full: a send's update of the pipe, done
 * under the pipe lock, reads at most a bounded number of packets (it read
 * one a system call until the count came down, for hours). */
static void scribbled_pipe_count_is_bounded(void **state)
{
    (void)state;
    mqd_t q = make_queue(0, 0600);
    int fd = -1;
    struct mq_side *s = side_of(qname(0), &fd);
    assert_non_null(s);
    struct pollfd p = {q, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 0), 0); /* polled from now on */
    char path[sizeof(test_dir) + 512];
    snprintf(path, sizeof(path), "%s/.mq-fifo.mq.%s", test_dir, qname(0) + 1);
    int pipe_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    assert_true(pipe_fd >= 0);
    char junk[4096];
    memset(junk, 'x', sizeof(junk));
    assert_int_equal(write(pipe_fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    __atomic_store_n(&s->fifo_bufs, UINT32_MAX, __ATOMIC_RELAXED);
    assert_int_equal(mq_send(q, "m", 1, 0), 0);
    int left = 0;
    assert_int_equal(ioctl(pipe_fd, FIONREAD, &left), 0);
    print_message("%d of 4096 bytes left in the pipe\n", left);
    assert_true(left >= 4096 - 512);
    close(pipe_fd);
    munmap(s, MQ_SIDE_SIZE);
    close(fd);
    mq_close(q);
    mq_unlink(qname(0));
}

/* The pipe is made 0600 and then given the queue's modes through its
 * descriptor (never by name: a link swapped in between would pass them
 * to another file): a queue others may read has a pipe they may open
 * too (mbx's modes: read and write for whoever may use it). */
static void pipe_gets_the_queues_modes(void **state)
{
    (void)state;
    mode_t old = umask(022);
    mqd_t q = make_queue(0, 0644);
    umask(old);
    char path[sizeof(test_dir) + 512];
    snprintf(path, sizeof(path), "%s/.mq-fifo.mq.%s", test_dir, qname(0) + 1);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0666);
    mq_close(q);
    mq_unlink(qname(0));
}

/* Root only, the review's setting: the queue is root's (mode 0644: others
 * read only), the forger user nobody, the sender root, the target a
 * process of root's that never registered. */
static void other_user_forges_for_root(void **state)
{
    (void)state;
    if (geteuid() != 0)
        test_skip("needs root to run the forger as another user (nobody)");
    assert_int_equal(chmod(test_dir, 01777), 0);
    mode_t old = umask(022);
    mqd_t q = make_queue(0, 0644);
    umask(old);
    struct target t;
    assert_int_equal(target_start(&t, NULL, 0), 0);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t forger = fork();
    if (forger == 0) {
        test_child();
        mbx *box[2];
        if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
            setresuid(65534, 65534, 65534) || forge(qname(0), t.pid, SIGUSR1, 0x4242, box) != 0)
            _exit(1);
        (void)!write(ready[1], "r", 1);
        test_await_kill(); /* its life keeps its mailboxes */
    }
    assert_true(test_read_ready(ready[0]));
    assert_int_equal(mq_send(q, "m", 1, 0), 0);
    assert_int_equal(target_pending_later(&t), 0);
    kill(forger, SIGKILL);
    waitpid(forger, NULL, 0);
    target_stop(&t);
    close(ready[0]);
    close(ready[1]);
    mq_close(q);
    mq_unlink(qname(0));
    assert_int_equal(chmod(test_dir, 0700), 0);
}

/* Root only: a registrant of one user (nobody) is notified when a process
 * of another user (not root) sends into the empty queue, as the kernel's
 * queues do (the sender once had to signal the registrant itself, which
 * the kernel refuses across users, so nothing came). */
static void notifies_across_users(void **state)
{
    (void)state;
    if (geteuid() != 0)
        test_skip("needs root to run the registrant and the sender as two other users");
    assert_int_equal(chmod(test_dir, 01777), 0);
    mode_t old = umask(0);
    mqd_t q = make_queue(0, 0666);
    umask(old);
    struct target t;
    assert_int_equal(target_start_as(&t, qname(0), SIGUSR2, 65534), 0);
    pid_t sender = fork();
    if (sender == 0) {
        test_child();
        if (setgroups(0, NULL) || setresgid(65533, 65533, 65533) || setresuid(65533, 65533, 65533))
            _exit(1);
        mqd_t w = mq_open(qname(0), O_WRONLY);
        _exit(w != (mqd_t)-1 && mq_send(w, "m", 1, 0) == 0 ? 0 : 2);
    }
    int st = 0;
    assert_int_equal(waitpid(sender, &st, 0), sender);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(target_pending_soon(&t, 2), 2);
    target_stop(&t);
    mq_close(q);
    mq_unlink(qname(0));
    assert_int_equal(chmod(test_dir, 0700), 0);
}

/* Root only: another user (root here) planted a queue's pipe, or its
 * side file, or its mailbox alone, in a shared sticky MBX_DIR before the
 * queue was made. The creator, user nobody, cannot remove it: mq_open
 * says EACCES at once, as for another user's queue of that name, and
 * leaves nothing behind (it looked again for a second and said EAGAIN;
 * with O_EXCL, EEXIST). A mailbox is taken for planted once it has been
 * without a side file for longer than a creator takes (a second). */
static void planted_side_files_fail_at_once(void **state)
{
    (void)state;
    if (geteuid() != 0)
        test_skip("needs root to plant the files as another user than the creator");
    assert_int_equal(chmod(test_dir, 01777), 0);
    char path[sizeof(test_dir) + 512];
    snprintf(path, sizeof(path), "%s/.mq-fifo.mq.%s", test_dir, qname(0) + 1);
    assert_int_equal(mkfifo(path, 0600), 0);
    snprintf(path, sizeof(path), "%s/.mq-side.mq.%s", test_dir, qname(1) + 1);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    close(fd);
    char box[80];
    snprintf(box, sizeof(box), "mq.%.64s", qname(2) + 1);
    mbx_attr a;
    mbx_attr_init(&a);
    a.mode = 0666;
    mbx *planted = NULL;
    assert_int_equal(mbx_open(box, MBX_SEND | MBX_RECV | MBX_CREATE, &a, &planted), 0);
    mbx_close(planted);
    sleep(2); /* older than a creator between its two files */
    pid_t c = fork();
    if (c == 0) {
        test_child();
        if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
            _exit(1);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < 3; i++)
            for (int excl = 0; excl < 2; excl++) {
                errno = 0;
                mqd_t q = mq_open(qname(i), O_CREAT | O_RDWR | (excl ? O_EXCL : 0), 0600, NULL);
                /* A mailbox of that name is a queue for O_EXCL: EEXIST,
                 * as the kernel's for another user's queue. */
                int want = i == 2 && excl ? EEXIST : EACCES;
                if (q != (mqd_t)-1 || errno != want) {
                    fprintf(stderr, "queue %d%s: %s\n", i, excl ? " O_EXCL" : "",
                            q != (mqd_t)-1 ? "opened" : strerror(errno));
                    _exit(2);
                }
            }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        /* Six refusals, none after a second of looking again. */
        _exit(t1.tv_sec - t0.tv_sec < 3 ? 0 : 3);
    }
    int st = 0;
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* Only the three planted files are left. */
    int n = 0;
    DIR *d = opendir(test_dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strstr(e->d_name, "mq."))
            n++;
    closedir(d);
    assert_int_equal(n, 3);
    assert_int_equal(mbx_unlink(box), 0);
    assert_int_equal(chmod(test_dir, 0700), 0);
}

/* Root only: another user's queue left half made (by root here: its
 * side file removed, or never filled in) stays for its owner, even in a
 * folder that lets everyone remove anything: mq_open(O_CREAT|O_EXCL) of
 * user nobody says EEXIST, as for another user's queue, and mq_open
 * EUCLEAN for the unfinished side file; nothing is removed. */
static void others_half_made_queue_stays(void **state)
{
    (void)state;
    if (geteuid() != 0)
        test_skip("needs root to make the queue as another user than the opener");
    assert_int_equal(chmod(test_dir, 0777), 0); /* not sticky */
    char path[sizeof(test_dir) + 512];
    for (int i = 0; i < 2; i++) {
        mqd_t q = make_queue(i, 0666);
        assert_int_equal(mq_close(q), 0);
    }
    assert_int_equal(unlink(file_of(".mq-side.mq.", 0, path, sizeof(path))), 0);
    assert_int_equal(truncate(file_of(".mq-side.mq.", 1, path, sizeof(path)), 0), 0);
    usleep(1500 * 1000); /* older than a creator takes */
    pid_t c = fork();
    if (c == 0) {
        test_child();
        if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
            _exit(1);
        errno = 0;
        if (mq_open(qname(0), O_CREAT | O_EXCL | O_RDWR, 0600, NULL) != (mqd_t)-1 ||
            errno != EEXIST)
            _exit(2);
        errno = 0;
        if (mq_open(qname(1), O_RDWR) != (mqd_t)-1 || errno != EUCLEAN)
            _exit(3);
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(access(file_of("mbx.mq.", 0, path, sizeof(path)), F_OK), 0);
    assert_int_equal(access(file_of(".mq-fifo.mq.", 0, path, sizeof(path)), F_OK), 0);
    assert_int_equal(access(file_of("mbx.mq.", 1, path, sizeof(path)), F_OK), 0);
    assert_int_equal(access(file_of(".mq-side.mq.", 1, path, sizeof(path)), F_OK), 0);
    assert_int_equal(access(file_of(".mq-fifo.mq.", 1, path, sizeof(path)), F_OK), 0);
    /* Its owner's mq_open removes them. */
    errno = 0;
    assert_int_equal(mq_open(qname(0), O_RDWR), -1);
    assert_int_equal(errno, ENOENT);
    errno = 0;
    assert_int_equal(mq_open(qname(1), O_RDWR), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(chmod(test_dir, 0700), 0);
}

/* Root only: a queue of mode 0644 whose creator (root here) was killed
 * after its mailbox and pipe, before its side file. Another user (nobody)
 * opens the mailbox file and holds a shared flock on it, as a live
 * creator would: the owner's mq_unlink said ENOENT, and its mq_open
 * EAGAIN, for as long as nobody held it, and removed nothing. The
 * mailbox of a queue being made is its owner's alone (0600) until its
 * side file is finished, so no one else can lock it. */
static void others_lock_on_a_half_made_queue(void **state)
{
    (void)state;
    if (geteuid() != 0)
        test_skip("needs root to lock the remains as another user than their owner");
    assert_int_equal(chmod(test_dir, 01777), 0);
    char side[sizeof(test_dir) + 512], box[sizeof(test_dir) + 512];
    for (int round = 0; round < 2; round++) {
        assert_int_equal(pipe(heir_pipe), 0);
        assert_int_equal(pipe(heir_ready), 0);
        pid_t c = fork();
        assert_true(c >= 0);
        if (c == 0) {
            die_path = file_of(".mq-side.mq.", 0, side, sizeof(side));
            struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 8};
            mq_open(qname(0), O_CREAT | O_RDWR, 0644, &a);
            _exit(3);
        }
        int st;
        assert_int_equal(waitpid(c, &st, 0), c);
        assert_true(WIFSIGNALED(st));
        char ready;
        assert_int_equal(read(heir_ready[0], &ready, 1), 1);
        close(heir_ready[0]);
        close(heir_ready[1]);
        close(heir_pipe[1]); /* the creator's forked child exits */
        close(heir_pipe[0]);
        file_of("mbx.mq.", 0, box, sizeof(box));
        /* Nobody locks the remains, if it may open them. */
        int locked[2], hold[2];
        assert_int_equal(pipe(locked), 0);
        assert_int_equal(pipe(hold), 0);
        pid_t b = fork();
        assert_true(b >= 0);
        if (b == 0) {
            test_child();
            close(locked[0]);
            close(hold[1]);
            if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
                setresuid(65534, 65534, 65534))
                _exit(1);
            int fd = open(box, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            char r = fd < 0 ? 'n' : flock(fd, LOCK_SH | LOCK_NB) == 0 ? 'l' : 'f';
            if (write(locked[1], &r, 1) != 1)
                _exit(1);
            _exit(read(hold[0], &r, 1) < 0 ? 1 : 0); /* holds it until the test is done */
        }
        close(locked[1]);
        close(hold[0]);
        char r = 0;
        assert_int_equal(read(locked[0], &r, 1), 1);
        close(locked[0]);
        usleep(1200 * 1000); /* older than a creation */
        errno = 0;
        int rc, e;
        if (round == 0) {
            rc = mq_unlink(qname(0));
            e = errno;
        } else {
            struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 8};
            mqd_t q = mq_open(qname(0), O_CREAT | O_RDWR | O_NONBLOCK, 0644, &a);
            e = errno;
            rc = q == (mqd_t)-1 ? -1 : 0;
            if (q != (mqd_t)-1) {
                assert_int_equal(mq_close(q), 0);
                assert_int_equal(mq_unlink(qname(0)), 0);
            }
        }
        int left = access(box, F_OK);
        close(hold[1]);
        assert_int_equal(waitpid(b, &st, 0), b);
        print_message("%s: nobody's open of the remains: %c (n: refused, l: locked); %d (%s)\n",
                      round == 0 ? "mq_unlink" : "mq_open(O_CREAT)", r, rc,
                      rc < 0 ? strerror(e) : "ok");
        assert_int_equal(rc < 0 ? e : 0, 0); /* ENOENT (unlink), EAGAIN (open) before */
        assert_int_equal(left, -1);          /* the remains are gone */
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_int_equal(chmod(test_dir, 0700), 0);
}

/* Root only: a queue of mode 0666 whose creator (root here) was killed
 * after its mailbox and pipe, before its side file: its mailbox is still
 * 0600 (its owner's alone until the side file is finished). Another
 * user's (nobody's) mq_open of the name, with or without O_CREAT, says
 * EACCES at once once the remains are older than a creator takes, as for
 * another user's queue: it read the mailbox's state, could not (0600),
 * and took the name for free: ENOENT without O_CREAT, and with it EAGAIN
 * after looking again for seconds. */
static void others_open_of_private_remains(void **state)
{
    (void)state;
    if (geteuid() != 0)
        test_skip("needs root to open the remains as another user than their owner");
    assert_int_equal(chmod(test_dir, 01777), 0);
    char side[sizeof(test_dir) + 512], box[sizeof(test_dir) + 512];
    assert_int_equal(pipe(heir_pipe), 0);
    assert_int_equal(pipe(heir_ready), 0);
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        die_path = file_of(".mq-side.mq.", 0, side, sizeof(side));
        struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 8};
        umask(0);
        mq_open(qname(0), O_CREAT | O_RDWR, 0666, &a);
        _exit(3);
    }
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFSIGNALED(st));
    char ready;
    assert_int_equal(read(heir_ready[0], &ready, 1), 1);
    close(heir_ready[0]);
    close(heir_ready[1]);
    close(heir_pipe[1]); /* the creator's forked child exits */
    close(heir_pipe[0]);
    struct stat sb;
    assert_int_equal(stat(file_of("mbx.mq.", 0, box, sizeof(box)), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600); /* the remains are root's alone */
    c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        test_child();
        if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
            _exit(1);
        struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 8};
        int failed = 0; /* bit 0: young; bits 1, 2: old, without O_CREAT, with it */
        for (int i = 0; i < 3; i++) {
            if (i == 1)
                usleep(1200 * 1000); /* older than a creation */
            int creat = i == 2;
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            errno = 0;
            mqd_t q = mq_open(qname(0), O_RDWR | (creat ? O_CREAT : 0), 0666, &a);
            int e = errno;
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double took = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
            fprintf(stderr, "nobody's mq_open(%s) of %s remains: %s after %.2f s\n",
                    creat ? "O_RDWR|O_CREAT" : "O_RDWR", i ? "old" : "young",
                    q != (mqd_t)-1 ? "opened" : strerror(e), took);
            /* Young (unless this machine took a second to get here), the
             * remains may be a live creator's: looked at again, until they
             * are old (EACCES) or for a second (EAGAIN), never taken for
             * no queue (ENOENT). Old, EACCES at once: not after looking
             * again, which takes a second at least. */
            if (q != (mqd_t)-1 || (i == 0 ? e != EACCES && e != EAGAIN : e != EACCES) ||
                (i > 0 && took >= 1.0))
                failed |= 1 << i;
        }
        _exit(failed);
    }
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* The remains stay for their owner, whose mq_open removes them. */
    assert_int_equal(access(box, F_OK), 0);
    errno = 0;
    assert_int_equal(mq_open(qname(0), O_RDWR), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(access(box, F_OK), -1);
    assert_int_equal(chmod(test_dir, 0700), 0);
}

int main(int argc, char **argv)
{
    main_pid = getpid();
    if (test_root_only(argc, argv)) {
        const struct CMUnitTest root[] = {
            cmocka_unit_test_setup_teardown(other_user_forges_for_root, test_dir_setup,
                                            test_dir_teardown),
            cmocka_unit_test_setup_teardown(notifies_across_users, test_dir_setup,
                                            test_dir_teardown),
            cmocka_unit_test_setup_teardown(planted_side_files_fail_at_once, test_dir_setup,
                                            test_dir_teardown),
            cmocka_unit_test_setup_teardown(others_half_made_queue_stays, test_dir_setup,
                                            test_dir_teardown),
            cmocka_unit_test_setup_teardown(others_lock_on_a_half_made_queue, test_dir_setup,
                                            test_dir_teardown),
            cmocka_unit_test_setup_teardown(others_open_of_private_remains, test_dir_setup,
                                            test_dir_teardown),
        };
        return test_result(cmocka_run_group_tests(root, NULL, NULL));
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(forged_registration_signals_nobody, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(registration_cannot_be_moved, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(stopped_registrant_keeps_its_notification, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(notify_thread_fd_closes_on_exec, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(registrant_that_execs_lets_go, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(lock_holder_cannot_hang_open, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(exclusive_side_lock_cannot_hang_open, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(pipe_gets_the_queues_modes, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(scribbled_pipe_count_is_bounded, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(registration_freed_before_signal, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(handler_registers_after_withdrawal, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(no_signal_after_withdrawal, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(no_signal_after_close, test_dir_setup, test_dir_teardown),
        cmocka_unit_test_setup_teardown(two_senders_into_the_empty_queue_fire_once, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(registrant_killed_while_writing, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(unlinker_killed_midway, test_dir_setup, test_dir_teardown),
        cmocka_unit_test_setup_teardown(unlink_taken_by_nobody, test_dir_setup, test_dir_teardown),
        cmocka_unit_test_setup_teardown(registration_taken_by_nobody, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(creator_killed_before_the_side_file, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(creator_killed_while_filling_the_side_file, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(stalled_creator_leaves_a_queue_made_again, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(creator_forked_then_killed, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(live_creator_keeps_its_queue, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(unlink_meets_a_creator, test_dir_setup, test_dir_teardown),
        cmocka_unit_test_setup_teardown(recovery_meets_an_unlink_and_a_creator, test_dir_setup,
                                        test_dir_teardown),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
