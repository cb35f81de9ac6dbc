/* System V message queue conformance, written against <sys/msg.h> only.
 * The same source is built twice (tests/CMakeLists.txt): linked plainly,
 * it tests the kernel's queues; linked with libmbx-sysv first, or run with
 * LD_PRELOAD=libmbx-sysv.so, it tests the shim. Every assertion is the
 * kernel's documented behaviour, so all runs passing means the shim and
 * the kernel gave the same results. Every queue a test makes is removed
 * in its teardown, also when it failed. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <grp.h>

#include "test_util.h"

#define TEXT_MAX 512

struct msg {
    long mtype;
    char mtext[TEXT_MAX];
};

/* The queues made by the running test, removed by its teardown. */
static int made[32];
static int nmade;
static int key_serial;

static int track(int id)
{
    if (id >= 0 && nmade < (int)(sizeof(made) / sizeof(made[0])))
        made[nmade++] = id;
    return id;
}

static int remove_made(void **state)
{
    (void)state;
    for (int i = 0; i < nmade; i++)
        msgctl(made[i], IPC_RMID, NULL);
    nmade = 0;
    return 0;
}

/* A key of this run's own: ftok of the private test directory, which no
 * other program uses, with a fresh project byte per call. */
static key_t fresh_key(void)
{
    key_t k = ftok(test_dir, ++key_serial);
    assert_int_not_equal(k, -1);
    return k;
}

static int new_queue(int mode)
{
    int id = track(msgget(IPC_PRIVATE, IPC_CREAT | mode));
    assert_true(id >= 0);
    return id;
}

static int send_text(int id, long type, const char *text, int flags)
{
    struct msg m = {.mtype = type};
    size_t n = strlen(text);
    memcpy(m.mtext, text, n);
    return msgsnd(id, &m, n, flags);
}

/* Receives as msgtyp says without waiting and checks type and text. */
static void expect(int id, long msgtyp, int flags, long type, const char *text)
{
    struct msg m;
    memset(&m, 0, sizeof(m));
    ssize_t n = msgrcv(id, &m, TEXT_MAX, msgtyp, flags | IPC_NOWAIT);
    assert_int_equal(n, (ssize_t)strlen(text));
    assert_int_equal(m.mtype, type);
    assert_memory_equal(m.mtext, text, (size_t)n);
}

static void expect_errno(long rc, int err)
{
    int e = errno;
    assert_int_equal(rc, -1);
    assert_int_equal(e, err);
}

static struct msqid_ds stat_of(int id)
{
    struct msqid_ds ds;
    assert_int_equal(msgctl(id, IPC_STAT, &ds), 0);
    return ds;
}

static void private_queues_are_distinct(void **state)
{
    (void)state;
    int a = new_queue(0600), b = new_queue(0600);
    assert_int_not_equal(a, b);
    assert_int_equal(send_text(a, 1, "only in a", 0), 0);
    expect_errno(msgrcv(b, &(struct msg){0}, TEXT_MAX, 0, IPC_NOWAIT), ENOMSG);
    expect(a, 0, 0, 1, "only in a");
}

static void keys_create_find_and_exclude(void **state)
{
    (void)state;
    key_t k = fresh_key();
    expect_errno(msgget(k, 0600), ENOENT);
    int id = track(msgget(k, IPC_CREAT | 0600));
    assert_true(id >= 0);
    assert_int_equal(msgget(k, IPC_CREAT | 0600), id);
    assert_int_equal(msgget(k, 0), id);
    expect_errno(msgget(k, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
    struct msqid_ds ds = stat_of(id);
    assert_int_equal(ds.msg_perm.__key, k);
    assert_int_equal(ds.msg_perm.mode & 0777, 0600);
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    expect_errno(msgget(k, 0600), ENOENT);
    /* The key is free again: a new queue, created exclusively. */
    int again = track(msgget(k, IPC_CREAT | IPC_EXCL | 0640));
    assert_true(again >= 0);
    assert_int_equal(stat_of(again).msg_perm.mode & 0777, 0640);
}

/* Another process finds the queue by its key and sends; this one
 * receives, and IPC_STAT names each side's pid. */
static void other_process_shares_by_key(void **state)
{
    (void)state;
    key_t k = fresh_key();
    int id = track(msgget(k, IPC_CREAT | 0600));
    assert_true(id >= 0);
    time_t before = time(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        test_child();
        int cid = msgget(k, 0);
        _exit(cid == id && send_text(cid, 7, "from the child", 0) == 0 ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct msqid_ds ds = stat_of(id);
    assert_int_equal(ds.msg_qnum, 1);
    assert_int_equal(ds.__msg_cbytes, strlen("from the child"));
    assert_int_equal(ds.msg_lspid, child);
    assert_int_equal(ds.msg_lrpid, 0);
    assert_true(ds.msg_stime >= before && ds.msg_stime <= time(NULL));
    assert_int_equal(ds.msg_rtime, 0);
    expect(id, 0, 0, 7, "from the child");
    ds = stat_of(id);
    assert_int_equal(ds.msg_qnum, 0);
    assert_int_equal(ds.msg_lrpid, getpid());
    assert_true(ds.msg_rtime >= before && ds.msg_rtime <= time(NULL));
}

static void stat_of_a_new_queue(void **state)
{
    (void)state;
    time_t before = time(NULL);
    int id = new_queue(0640);
    struct msqid_ds ds = stat_of(id);
    assert_int_equal(ds.msg_qnum, 0);
    assert_int_equal(ds.__msg_cbytes, 0);
    assert_int_equal(ds.msg_lspid, 0);
    assert_int_equal(ds.msg_lrpid, 0);
    assert_int_equal(ds.msg_stime, 0);
    assert_true(ds.msg_ctime >= before && ds.msg_ctime <= time(NULL));
    assert_int_equal(ds.msg_perm.uid, geteuid());
    assert_int_equal(ds.msg_perm.gid, getegid());
    assert_int_equal(ds.msg_perm.cuid, geteuid());
    assert_int_equal(ds.msg_perm.cgid, getegid());
    assert_int_equal(ds.msg_perm.mode & 0777, 0640);
    assert_int_equal(ds.msg_perm.__key, IPC_PRIVATE);
    assert_true(ds.msg_qbytes > 0);
}

static void fifo_with_text_and_sizes(void **state)
{
    (void)state;
    int id = new_queue(0600);
    assert_int_equal(send_text(id, 3, "first", 0), 0);
    assert_int_equal(send_text(id, 1, "second, longer", 0), 0);
    assert_int_equal(send_text(id, 2, "", 0), 0);
    assert_int_equal(stat_of(id).msg_qnum, 3);
    expect(id, 0, 0, 3, "first");
    expect(id, 0, 0, 1, "second, longer");
    expect(id, 0, 0, 2, "");
    expect_errno(msgrcv(id, &(struct msg){0}, TEXT_MAX, 0, IPC_NOWAIT), ENOMSG);
}

static void select_by_type(void **state)
{
    (void)state;
    int id = new_queue(0600);
    /* types in send order: 5 3 7 3 1 5 */
    assert_int_equal(send_text(id, 5, "a5", 0), 0);
    assert_int_equal(send_text(id, 3, "b3", 0), 0);
    assert_int_equal(send_text(id, 7, "c7", 0), 0);
    assert_int_equal(send_text(id, 3, "d3", 0), 0);
    assert_int_equal(send_text(id, 1, "e1", 0), 0);
    assert_int_equal(send_text(id, 5, "f5", 0), 0);
    expect(id, 3, 0, 3, "b3");          /* first of type 3 */
    expect(id, 5, MSG_EXCEPT, 7, "c7"); /* first not of type 5 */
    expect(id, -4, 0, 1, "e1");         /* lowest type <= 4 */
    expect(id, -4, 0, 3, "d3");         /* then the next lowest */
    expect_errno(msgrcv(id, &(struct msg){0}, TEXT_MAX, -4, IPC_NOWAIT), ENOMSG);
    expect_errno(msgrcv(id, &(struct msg){0}, TEXT_MAX, 9, IPC_NOWAIT), ENOMSG);
    expect_errno(msgrcv(id, &(struct msg){0}, TEXT_MAX, 5, MSG_EXCEPT | IPC_NOWAIT), ENOMSG);
    expect(id, LONG_MIN, 0, 5, "a5"); /* every type is <= LONG_MAX */
    expect(id, 0, 0, 5, "f5");
    assert_int_equal(stat_of(id).msg_qnum, 0);
}

/* The classic server's queue: replies go out typed by the client's pid,
 * and a client that died never takes its own. Such messages cost their
 * bytes and nothing more: thousands of later messages of other types
 * still pass them, and they stay, in order, for whoever asks. */
static void unreceived_messages_let_later_ones_pass(void **state)
{
    (void)state;
    int id = new_queue(0600);
    assert_int_equal(send_text(id, 7, "for a dead client", IPC_NOWAIT), 0);
    char text[16];
    for (int i = 0; i < 2000; i++) {
        if (i == 700)
            assert_int_equal(send_text(id, 9, "another", IPC_NOWAIT), 0);
        snprintf(text, sizeof(text), "job %d", i);
        assert_int_equal(send_text(id, 1 + i % 2, text, IPC_NOWAIT), 0);
        snprintf(text, sizeof(text), "job %d", i);
        expect(id, -2, 0, 1 + i % 2, text);
    }
    assert_int_equal(stat_of(id).msg_qnum, 2);
    expect(id, 0, 0, 7, "for a dead client");
    expect(id, 0, 0, 9, "another");
}

static void bad_arguments(void **state)
{
    (void)state;
    int id = new_queue(0600);
    expect_errno(send_text(id, 0, "type 0", 0), EINVAL);
    expect_errno(send_text(id, -3, "negative", 0), EINVAL);
    expect_errno(send_text(-1, 1, "bad id", 0), EINVAL);
    expect_errno(msgrcv(-1, &(struct msg){0}, TEXT_MAX, 0, IPC_NOWAIT), EINVAL);
    expect_errno(msgrcv(id, &(struct msg){0}, (size_t)-1, 0, IPC_NOWAIT), EINVAL);
    expect_errno(msgctl(-1, IPC_STAT, &(struct msqid_ds){0}), EINVAL);
    expect_errno(msgctl(id, 12345, &(struct msqid_ds){0}), EINVAL);
    assert_int_equal(stat_of(id).msg_qnum, 0); /* nothing was queued */
}

/* The id is looked at before a NULL buffer, which fails (EFAULT) only
 * where the call comes to use it: msgctl IPC_STAT of a removed queue and
 * msgrcv from one are EINVAL, msgrcv from an empty queue ENOMSG, IPC_INFO
 * of id -1 EINVAL. IPC_SET reads its buffer first; a message msgrcv takes
 * into NULL is lost. */
static void ids_are_checked_before_buffers(void **state)
{
    (void)state;
    int id = new_queue(0600), gone = new_queue(0600);
    assert_int_equal(msgctl(gone, IPC_RMID, NULL), 0);
    expect_errno(msgctl(gone, IPC_STAT, NULL), EINVAL);
    expect_errno(msgctl(id, IPC_STAT, NULL), EFAULT);
    expect_errno(msgctl(gone, IPC_SET, NULL), EFAULT);
    struct msginfo mi;
    expect_errno(msgctl(-1, IPC_INFO, (struct msqid_ds *)(void *)&mi), EINVAL);
    expect_errno(msgctl(-1, MSG_INFO, (struct msqid_ds *)(void *)&mi), EINVAL);
    expect_errno(msgrcv(gone, NULL, TEXT_MAX, 0, IPC_NOWAIT), EINVAL);
    expect_errno(msgrcv(id, NULL, TEXT_MAX, 0, IPC_NOWAIT), ENOMSG);
    assert_int_equal(send_text(id, 1, "lost", 0), 0);
    expect_errno(msgrcv(id, NULL, TEXT_MAX, 0, IPC_NOWAIT), EFAULT);
    assert_int_equal(stat_of(id).msg_qnum, 0);
}

static void too_long_stays_or_truncates(void **state)
{
    (void)state;
    int id = new_queue(0600);
    const char *text = "0123456789abcdefghij";
    assert_int_equal(send_text(id, 4, text, 0), 0);
    struct msg m;
    memset(&m, 0, sizeof(m));
    expect_errno(msgrcv(id, &m, 10, 0, IPC_NOWAIT), E2BIG);
    expect_errno(msgrcv(id, &m, 10, 0, 0), E2BIG); /* not a wait: it is there */
    assert_int_equal(stat_of(id).msg_qnum, 1);     /* it stayed */
    ssize_t n = msgrcv(id, &m, 10, 4, MSG_NOERROR | IPC_NOWAIT);
    assert_int_equal(n, 10);
    assert_int_equal(m.mtype, 4);
    assert_memory_equal(m.mtext, text, 10);
    assert_int_equal(stat_of(id).msg_qnum, 0); /* taken, the rest discarded */
}

/* A queue whose msg_qbytes is lowered holds that many bytes: IPC_NOWAIT
 * sends past it fail with EAGAIN, and a receive makes room again. */
static void full_queue_and_qbytes(void **state)
{
    (void)state;
    int id = new_queue(0600);
    struct msqid_ds ds = stat_of(id);
    ds.msg_qbytes = 100;
    assert_int_equal(msgctl(id, IPC_SET, &ds), 0);
    assert_int_equal(stat_of(id).msg_qbytes, 100);
    char text[41];
    memset(text, 'q', 40);
    text[40] = 0;
    assert_int_equal(send_text(id, 1, text, IPC_NOWAIT), 0);
    assert_int_equal(send_text(id, 2, text, IPC_NOWAIT), 0);
    expect_errno(send_text(id, 3, text, IPC_NOWAIT), EAGAIN);
    assert_int_equal(stat_of(id).msg_qnum, 2);
    assert_int_equal(stat_of(id).__msg_cbytes, 80);
    expect(id, 0, 0, 1, text);
    assert_int_equal(send_text(id, 3, text, IPC_NOWAIT), 0);
    assert_int_equal(stat_of(id).msg_qnum, 2);
}

static void set_changes_mode_and_ctime(void **state)
{
    (void)state;
    int id = new_queue(0600);
    struct msqid_ds ds = stat_of(id);
    ds.msg_perm.mode = 0644;
    assert_int_equal(msgctl(id, IPC_SET, &ds), 0);
    struct msqid_ds now = stat_of(id);
    assert_int_equal(now.msg_perm.mode & 0777, 0644);
    assert_true(now.msg_ctime >= ds.msg_ctime);
    assert_int_equal(now.msg_qbytes, ds.msg_qbytes);
    expect_errno(msgctl(id, IPC_SET, NULL), EFAULT);
    /* No such user or group: EINVAL, nothing changed. */
    for (int which = 0; which < 2; which++) {
        struct msqid_ds bad = now;
        bad.msg_perm.mode = 0600;
        if (which)
            bad.msg_perm.gid = (gid_t)-1;
        else
            bad.msg_perm.uid = (uid_t)-1;
        expect_errno(msgctl(id, IPC_SET, &bad), EINVAL);
        assert_int_equal(stat_of(id).msg_perm.mode & 0777, 0644);
    }
}

static void removed_id_is_invalid(void **state)
{
    (void)state;
    int id = new_queue(0600);
    assert_int_equal(send_text(id, 1, "lost", 0), 0);
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    expect_errno(send_text(id, 1, "late", IPC_NOWAIT), EINVAL);
    expect_errno(msgrcv(id, &(struct msg){0}, TEXT_MAX, 0, IPC_NOWAIT), EINVAL);
    expect_errno(msgctl(id, IPC_STAT, &(struct msqid_ds){0}), EINVAL);
    expect_errno(msgctl(id, IPC_RMID, NULL), EINVAL);
}

/* A child blocked in msgrcv (or in msgsnd on a full queue) returns EIDRM
 * when the parent removes the queue. Reports its errno through its exit
 * status. */
static void removal_wakes_blocked(void **state)
{
    (void)state;
    for (int sender = 0; sender < 2; sender++) {
        int id = new_queue(0600);
        if (sender) {
            struct msqid_ds ds = stat_of(id);
            ds.msg_qbytes = 8;
            assert_int_equal(msgctl(id, IPC_SET, &ds), 0);
            assert_int_equal(send_text(id, 1, "12345678", 0), 0);
        }
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
            test_child();
            long rc = sender ? send_text(id, 1, "blocked", 0)
                             : msgrcv(id, &(struct msg){0}, TEXT_MAX, 0, 0);
            _exit(rc == -1 ? errno : 0);
        }
        struct timespec wait = {0, 150 * 1000000};
        nanosleep(&wait, NULL);
        int status;
        assert_int_equal(waitpid(child, &status, WNOHANG), 0); /* still blocked */
        assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), EIDRM);
    }
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

/* A signal whose handler runs while msgrcv or msgsnd waits ends the call
 * with EINTR (System V calls are not restarted, SA_RESTART or not). */
static void signal_interrupts_wait(void **state)
{
    (void)state;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    int id = new_queue(0600);
    struct itimerval it = {{0, 0}, {0, 100000}};
    alarms = 0;
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    expect_errno(msgrcv(id, &(struct msg){0}, TEXT_MAX, 0, 0), EINTR);
    assert_int_equal(alarms, 1);

    struct msqid_ds ds = stat_of(id);
    ds.msg_qbytes = 4;
    assert_int_equal(msgctl(id, IPC_SET, &ds), 0);
    assert_int_equal(send_text(id, 1, "full", 0), 0);
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    expect_errno(send_text(id, 2, "more", 0), EINTR);
    assert_int_equal(alarms, 2);
    assert_int_equal(stat_of(id).msg_qnum, 1);
    sigaction(SIGALRM, &old, NULL);
}

/* In a child: sleeps until the test process sleeps (in its msgsnd), then
 * ms milliseconds more. */
static void after_parent_sleeps(pid_t parent, long ms)
{
    struct timespec tick = {0, 1000000};
    for (int i = 0; i < 5000 && test_proc_state(parent) != 'S'; i++)
        nanosleep(&tick, NULL);
    struct timespec wait = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&wait, NULL);
}

/* A signal that runs no handler (SIGUSR1 set to SIG_IGN; SIGCHLD at its
 * default, ignore, from a child that exits) does not end a msgsnd waiting
 * for msg_qbytes room: it goes on waiting until a receiver makes room, as
 * the kernel's does. */
static void ignored_signals_do_not_end_a_wait(void **state)
{
    (void)state;
    struct sigaction ign, dfl, old_usr1, old_chld;
    memset(&ign, 0, sizeof(ign));
    memset(&dfl, 0, sizeof(dfl));
    ign.sa_handler = SIG_IGN;
    dfl.sa_handler = SIG_DFL;
    assert_int_equal(sigaction(SIGUSR1, &ign, &old_usr1), 0);
    assert_int_equal(sigaction(SIGCHLD, &dfl, &old_chld), 0);
    int id = new_queue(0600);
    struct msqid_ds ds = stat_of(id);
    ds.msg_qbytes = 4;
    assert_int_equal(msgctl(id, IPC_SET, &ds), 0);
    assert_int_equal(send_text(id, 1, "full", 0), 0);
    pid_t parent = getpid();
    for (int usr1 = 1; usr1 >= 0; usr1--) {
        pid_t signaller = fork();
        assert_true(signaller >= 0);
        if (signaller == 0) {
            test_child();
            after_parent_sleeps(parent, 100);
            if (usr1)
                kill(parent, SIGUSR1);
            _exit(0); /* and SIGCHLD */
        }
        pid_t receiver = fork();
        assert_true(receiver >= 0);
        if (receiver == 0) {
            test_child();
            after_parent_sleeps(parent, 500);
            _exit(msgrcv(id, &(struct msg){0}, TEXT_MAX, 0, 0) == 4 ? 0 : 1);
        }
        int rc = send_text(id, 2, "more", 0);
        int err = rc == 0 ? 0 : errno;
        int status;
        assert_int_equal(waitpid(signaller, &status, 0), signaller);
        assert_int_equal(waitpid(receiver, &status, 0), receiver);
        assert_int_equal(err, 0); /* not EINTR */
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_int_equal(stat_of(id).msg_qnum, 1);
    sigaction(SIGUSR1, &old_usr1, NULL);
    sigaction(SIGCHLD, &old_chld, NULL);
}

/* Runs fn in a child; returns its exit status (an errno, or 0). */
static int in_child(int (*fn)(int id), int id)
{
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        test_child();
        _exit(fn(id));
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* In a child that has become an unprivileged user: what it may do to a
 * queue of mode 0620 it does not own (group write, which it lacks; as
 * "others", nothing). Returns 0 when every call answered as expected,
 * else the number of the first that did not. */
static int stranger(int id)
{
    if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
        return 100;
    struct msqid_ds ds;
    struct msg m = {.mtype = 1};
    if (msgsnd(id, &m, 1, IPC_NOWAIT) != -1 || errno != EACCES)
        return 1;
    if (msgrcv(id, &m, 1, 0, IPC_NOWAIT) != -1 || errno != EACCES)
        return 2;
    if (msgctl(id, IPC_STAT, &ds) != -1 || errno != EACCES)
        return 3;
    if (msgctl(id, IPC_RMID, NULL) != -1 || errno != EPERM)
        return 4;
    memset(&ds, 0, sizeof(ds));
    if (msgctl(id, IPC_SET, &ds) != -1 || errno != EPERM)
        return 5;
    return 0;
}

static int stranger_by_key(int key)
{
    if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
        return 100;
    int id = msgget(key, 0); /* asks for nothing: gets the id */
    if (id < 0)
        return 1;
    if (msgget(key, 0600) != -1 || errno != EACCES)
        return 2;
    if (msgget(key, 0002) < 0) /* others may write */
        return 3;
    struct msg m = {.mtype = 9, .mtext = "x"};
    if (msgsnd(id, &m, 1, IPC_NOWAIT) != 0)
        return 4;
    if (msgrcv(id, &m, 1, 0, IPC_NOWAIT) != -1 || errno != EACCES)
        return 5;
    return 0;
}

static void permissions(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        /* The owner itself, with no rights in the mode. */
        int id = new_queue(0000);
        expect_errno(send_text(id, 1, "x", IPC_NOWAIT), EACCES);
        expect_errno(msgrcv(id, &(struct msg){0}, TEXT_MAX, 0, IPC_NOWAIT), EACCES);
        expect_errno(msgctl(id, IPC_STAT, &(struct msqid_ds){0}), EACCES);
        key_t k = fresh_key();
        int kid = track(msgget(k, IPC_CREAT | 0200));
        assert_true(kid >= 0);
        expect_errno(msgget(k, 0400), EACCES);
        assert_int_equal(msgget(k, 0200), kid);
        assert_int_equal(msgctl(id, IPC_RMID, NULL), 0); /* the owner may */
        return;
    }
    /* Root: another user, in a child, against root's queues. The
     * directory of the shim's files lets everyone in, as /dev/shm does. */
    assert_int_equal(chmod(test_dir, 01777), 0);
    int id = new_queue(0620);
    assert_int_equal(in_child(stranger, id), 0);
    key_t k = fresh_key();
    int kid = track(msgget(k, IPC_CREAT | 0622));
    assert_true(kid >= 0);
    assert_int_equal(in_child(stranger_by_key, (int)k), 0);
    expect(kid, 0, 0, 9, "x"); /* what the stranger sent */
}

/* Users without names for the IPC_SET tests: A creates, B receives the
 * queue, G is a group of B's (and in one case A's). */
#define USER_A  61001
#define USER_B  61002
#define GROUP_G 61003

static int become(uid_t uid, gid_t gid, gid_t extra)
{
    gid_t groups[2] = {gid, extra};
    if (setgroups(extra ? 2 : 1, groups) < 0 || setresgid(gid, gid, gid) < 0 ||
        setresuid(uid, uid, uid) < 0)
        return -1;
    return 0;
}

/* As A: creates key's queue, mode 0600. */
static int a_creates(int key)
{
    if (become(USER_A, USER_A, 0) < 0)
        return 100;
    return msgget(key, IPC_CREAT | IPC_EXCL | 0600) >= 0 ? 0 : 1;
}

/* As A, a member of G: creates key's queue, mode 0600, and gives it to
 * group G, mode 0660. */
static int a_gives_to_its_group(int key)
{
    if (become(USER_A, USER_A, GROUP_G) < 0)
        return 100;
    int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
    if (id < 0)
        return 1;
    struct msqid_ds ds;
    if (msgctl(id, IPC_STAT, &ds) < 0)
        return 2;
    ds.msg_perm.gid = GROUP_G;
    ds.msg_perm.mode = 0660;
    return msgctl(id, IPC_SET, &ds) == 0 ? 0 : 3;
}

/* Finds key's queue, sends, receives, stats. */
static int uses(int key)
{
    int id = msgget(key, 0600);
    if (id < 0)
        return 10 + errno;
    struct msg m = {.mtype = 5, .mtext = "b"};
    if (msgsnd(id, &m, 1, IPC_NOWAIT) != 0)
        return 1;
    if (msgrcv(id, &m, 1, 0, IPC_NOWAIT) != 1 || m.mtype != 5)
        return 2;
    struct msqid_ds ds;
    if (msgctl(id, IPC_STAT, &ds) != 0)
        return 3;
    return 0;
}

/* As B, a member of G: uses key's queue. */
static int b_uses(int key)
{
    return become(USER_B, USER_B, GROUP_G) < 0 ? 100 : uses(key);
}

/* As A (not in G): uses key's queue. */
static int a_uses(int key)
{
    return become(USER_A, USER_A, 0) < 0 ? 100 : uses(key);
}

/* As A (not in G): creates key's queue, mode 0600, and gives it to B
 * (give_to_group 0) or to group G with mode 0660 (1). */
static int give_to_group;

static int a_gives_away(int key)
{
    if (become(USER_A, USER_A, 0) < 0)
        return 100;
    int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
    if (id < 0)
        return 1;
    struct msqid_ds ds;
    if (msgctl(id, IPC_STAT, &ds) < 0)
        return 2;
    if (give_to_group) {
        ds.msg_perm.gid = GROUP_G;
        ds.msg_perm.mode = 0660;
    } else {
        ds.msg_perm.uid = USER_B;
    }
    return msgctl(id, IPC_SET, &ds) == 0 ? 0 : 3;
}

/* As B, the queue's owner now: uses it, changes its mode, removes it. */
static int b_owns(int key)
{
    int rc = b_uses(key);
    if (rc != 0)
        return rc;
    int id = msgget(key, 0);
    struct msqid_ds ds;
    if (msgctl(id, IPC_STAT, &ds) != 0)
        return 4;
    ds.msg_perm.mode = 0640;
    if (msgctl(id, IPC_SET, &ds) != 0)
        return 5;
    if (msgctl(id, IPC_STAT, &ds) != 0 || (ds.msg_perm.mode & 0777) != 0640)
        return 6;
    return msgctl(id, IPC_RMID, NULL) == 0 ? 0 : 7;
}

/* As A (no privilege): creates key's queue, changes its mode twice (the
 * first change must leave A the right to make the second) and removes
 * it. */
static int a_changes_mode_twice(int key)
{
    if (become(USER_A, USER_A, 0) < 0)
        return 100;
    int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
    if (id < 0)
        return 1;
    struct msqid_ds ds;
    for (unsigned mode = 0640; mode >= 0600; mode -= 040) {
        if (msgctl(id, IPC_STAT, &ds) != 0)
            return 2;
        ds.msg_perm.mode = (unsigned short)mode;
        if (msgctl(id, IPC_SET, &ds) != 0)
            return 3;
    }
    return msgctl(id, IPC_RMID, NULL) == 0 ? 0 : 4;
}

/* As B, made the owner by A (no privilege): uses key's queue and changes
 * its mode, which only the owner's side may (the shim: through an ACL
 * entry on the state file, the only way to write it). */
static int b_changes_mode(int key)
{
    int rc = b_uses(key);
    if (rc != 0)
        return rc;
    int id = msgget(key, 0);
    struct msqid_ds ds;
    if (msgctl(id, IPC_STAT, &ds) != 0)
        return 4;
    ds.msg_perm.mode = 0660;
    if (msgctl(id, IPC_SET, &ds) != 0)
        return 5;
    if (msgctl(id, IPC_STAT, &ds) != 0 || (ds.msg_perm.mode & 0777) != 0660)
        return 6;
    return 0;
}

/* IPC_SET of uid or gid lets the new owner or group in, as in the kernel:
 * root gives A's private-mode queue to B (who may then change its mode
 * and remove it), or to group G (mode 0660); A gives its own to a group
 * of its own. Root only (other users). */
static void ipc_set_gives_the_queue_away(void **state)
{
    (void)state;
    if (geteuid() != 0)
        return; /* needs other users: runs as root (ctest as root does) */
    assert_int_equal(chmod(test_dir, 01777), 0);
    for (int to_group = 0; to_group < 2; to_group++) {
        key_t k = fresh_key();
        assert_int_equal(in_child(a_creates, (int)k), 0);
        int id = track(msgget(k, 0));
        assert_true(id >= 0);
        struct msqid_ds ds = stat_of(id);
        assert_int_equal(ds.msg_perm.uid, USER_A);
        if (to_group) {
            ds.msg_perm.gid = GROUP_G;
            ds.msg_perm.mode = 0660;
        } else {
            ds.msg_perm.uid = USER_B;
        }
        assert_int_equal(msgctl(id, IPC_SET, &ds), 0);
        assert_int_equal(in_child(to_group ? b_uses : b_owns, (int)k), 0);
    }
    key_t k = fresh_key();
    assert_int_equal(in_child(a_gives_to_its_group, (int)k), 0);
    assert_true(track(msgget(k, 0)) >= 0);
    assert_int_equal(in_child(b_uses, (int)k), 0);
}

/* A queue of key k that user A creates and root then gives to user B
 * (IPC_SET of uid), in a directory every user may write. Returns its id. */
static int made_by_a_given_to_b(key_t k)
{
    assert_int_equal(chmod(test_dir, 01777), 0);
    assert_int_equal(in_child(a_creates, (int)k), 0);
    int id = track(msgget(k, 0));
    assert_true(id >= 0);
    struct msqid_ds ds = stat_of(id);
    ds.msg_perm.uid = USER_B;
    assert_int_equal(msgctl(id, IPC_SET, &ds), 0);
    return id;
}

/* What IPC_SET of uid or gid leaves as the kernel does: the creator
 * keeps the owner's rights when root gives its queue away, and a creator
 * with no privilege gives its queue to another user (who may then change
 * its mode), or to a group it is not in: the new owner or group gets in.
 * Root only (other users). */
static void creator_keeps_and_gives_access(void **state)
{
    (void)state;
    if (geteuid() != 0)
        return; /* needs other users: runs as root (ctest as root does) */
    key_t k = fresh_key();
    made_by_a_given_to_b(k);
    assert_int_equal(in_child(a_uses, (int)k), 0);
    assert_int_equal(in_child(a_changes_mode_twice, (int)fresh_key()), 0);
    for (give_to_group = 0; give_to_group < 2; give_to_group++) {
        k = fresh_key();
        assert_int_equal(in_child(a_gives_away, (int)k), 0);
        assert_true(track(msgget(k, 0)) >= 0);
        assert_int_equal(in_child(give_to_group ? b_uses : b_changes_mode, (int)k), 0);
        assert_int_equal(in_child(a_uses, (int)k), 0);
    }
}

/* As A, the creator of key's queue that root gave to B: may change its
 * mode and remove it (the kernel's owner check takes the creator too);
 * the queue is then gone for A too: its id says EINVAL, its key ENOENT. */
static int a_sets_and_removes(int key)
{
    if (become(USER_A, USER_A, 0) < 0)
        return 100;
    int id = msgget(key, 0);
    if (id < 0)
        return 1;
    struct msqid_ds ds;
    if (msgctl(id, IPC_STAT, &ds) < 0)
        return 2;
    ds.msg_perm.mode = 0640;
    if (msgctl(id, IPC_SET, &ds) != 0)
        return 3;
    if (msgctl(id, IPC_STAT, &ds) < 0 || ds.msg_perm.mode != 0640 || ds.msg_perm.uid != USER_B)
        return 4;
    if (msgctl(id, IPC_RMID, NULL) != 0)
        return 5;
    if (send_text(id, 1, "after", IPC_NOWAIT) != -1 || errno != EINVAL)
        return 6;
    return msgget(key, 0) == -1 && errno == ENOENT ? 0 : 7;
}

/* As B: makes a new queue of key (the removed one's gone) and uses it. */
static int b_makes_anew(int key)
{
    if (become(USER_B, USER_B, 0) < 0)
        return 100;
    int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
    if (id < 0)
        return 1;
    if (send_text(id, 3, "new", IPC_NOWAIT) != 0)
        return 2;
    struct msg m;
    if (msgrcv(id, &m, TEXT_MAX, 0, IPC_NOWAIT) != 3 || m.mtype != 3)
        return 3;
    return msgctl(id, IPC_RMID, NULL) == 0 ? 0 : 4;
}

/* The creator removes its queue after root gave it away (IPC_SET of uid),
 * as in the kernel (it said EPERM): a receiver blocked in it gets EIDRM,
 * its id is gone for everyone and its key makes a new queue. Root only
 * (other users). */
static void creator_removes_a_queue_given_away(void **state)
{
    (void)state;
    if (geteuid() != 0)
        return; /* needs other users: runs as root (ctest as root does) */
    key_t k = fresh_key();
    int id = made_by_a_given_to_b(k);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        test_child();
        long rc = msgrcv(id, &(struct msg){0}, TEXT_MAX, 0, 0);
        _exit(rc == -1 ? errno : 0);
    }
    for (int i = 0; i < 20000 && test_proc_state(child) != 'S'; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL); /* until it blocks */
    int status;
    assert_int_equal(waitpid(child, &status, WNOHANG), 0); /* still blocked */
    assert_int_equal(in_child(a_sets_and_removes, (int)k), 0);
    /* Woken: at once in the kernel; the shim's may take a moment (20 s,
     * then it is killed and the test fails). */
    pid_t got = 0;
    for (int i = 0; i < 2000 && (got = waitpid(child, &status, WNOHANG)) == 0; i++)
        nanosleep(&(struct timespec){0, 10 * 1000000}, NULL);
    if (got != child) {
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
        fail_msg("the receiver blocked in the removed queue was not woken");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), EIDRM);
    expect_errno(send_text(id, 1, "after", IPC_NOWAIT), EINVAL);
    expect_errno(msgrcv(id, &(struct msg){0}, TEXT_MAX, 0, IPC_NOWAIT), EINVAL);
    struct msqid_ds ds;
    expect_errno(msgctl(id, IPC_STAT, &ds), EINVAL);
    assert_int_equal(in_child(b_makes_anew, (int)k), 0);
}

static void info_reports_limits(void **state)
{
    (void)state;
    struct msginfo mi;
    memset(&mi, 0, sizeof(mi));
    assert_true(msgctl(0, IPC_INFO, (struct msqid_ds *)(void *)&mi) >= 0);
    assert_true(mi.msgmax > 0);
    assert_true(mi.msgmnb >= mi.msgmax);
    assert_true(mi.msgmni > 0);
    int id = new_queue(0600);
    assert_int_equal(send_text(id, 1, "one", 0), 0);
    assert_int_equal(send_text(id, 1, "two", 0), 0);
    memset(&mi, 0, sizeof(mi));
    assert_true(msgctl(0, MSG_INFO, (struct msqid_ds *)(void *)&mi) >= 0);
    assert_true(mi.msgpool >= 1); /* queues in use, ours among them */
    assert_true(mi.msgmap >= 2);  /* messages queued */
    assert_true(mi.msgtql >= 6);  /* their bytes */
}

/* Whether /proc/sysvipc/msg lists kernel queue id. */
static int kernel_lists(int id)
{
    FILE *f = fopen("/proc/sysvipc/msg", "r");
    if (!f)
        return 0;
    char line[512];
    int found = 0;
    while (!found && fgets(line, sizeof(line), f)) {
        long key, msqid;
        found = sscanf(line, "%ld %ld", &key, &msqid) == 2 && msqid == id;
    }
    fclose(f);
    return found;
}

/* The run tests what ctest says it tests ($SYSV_EXPECT): a preload that
 * the loader ignored would otherwise test the kernel twice and pass. */
static void backend_is_the_expected_one(void **state)
{
    (void)state;
    const char *expect = getenv("SYSV_EXPECT");
    if (!expect) {
        test_skip("SYSV_EXPECT (kernel or shim) is not set; ctest sets it");
        return;
    }
    int id = new_queue(0600);
    char path[600];
    snprintf(path, sizeof(path), "%s/sysv.%d", test_dir, id);
    int in_dir = access(path, F_OK) == 0;
    if (strcmp(expect, "shim") == 0) {
        assert_true(in_dir);
        assert_false(kernel_lists(id));
    } else {
        assert_false(in_dir);
        assert_true(kernel_lists(id));
    }
}

static int group_setup(void **state)
{
    return test_dir_setup(state);
}

static int group_teardown(void **state)
{
    remove_made(state);
    return test_dir_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(backend_is_the_expected_one, remove_made),
        cmocka_unit_test_teardown(private_queues_are_distinct, remove_made),
        cmocka_unit_test_teardown(keys_create_find_and_exclude, remove_made),
        cmocka_unit_test_teardown(other_process_shares_by_key, remove_made),
        cmocka_unit_test_teardown(stat_of_a_new_queue, remove_made),
        cmocka_unit_test_teardown(fifo_with_text_and_sizes, remove_made),
        cmocka_unit_test_teardown(select_by_type, remove_made),
        cmocka_unit_test_teardown(unreceived_messages_let_later_ones_pass, remove_made),
        cmocka_unit_test_teardown(bad_arguments, remove_made),
        cmocka_unit_test_teardown(ids_are_checked_before_buffers, remove_made),
        cmocka_unit_test_teardown(too_long_stays_or_truncates, remove_made),
        cmocka_unit_test_teardown(full_queue_and_qbytes, remove_made),
        cmocka_unit_test_teardown(set_changes_mode_and_ctime, remove_made),
        cmocka_unit_test_teardown(removed_id_is_invalid, remove_made),
        cmocka_unit_test_teardown(removal_wakes_blocked, remove_made),
        cmocka_unit_test_teardown(signal_interrupts_wait, remove_made),
        cmocka_unit_test_teardown(ignored_signals_do_not_end_a_wait, remove_made),
        cmocka_unit_test_teardown(permissions, remove_made),
        cmocka_unit_test_teardown(ipc_set_gives_the_queue_away, remove_made),
        cmocka_unit_test_teardown(creator_keeps_and_gives_access, remove_made),
        cmocka_unit_test_teardown(creator_removes_a_queue_given_away, remove_made),
        cmocka_unit_test_teardown(info_reports_limits, remove_made),
    };
    return test_result(cmocka_run_group_tests(tests, group_setup, group_teardown));
}
