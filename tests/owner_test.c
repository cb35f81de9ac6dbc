/* Process-owned mailboxes (MBX_OWNED): only the owner receives; when it
 * terminates in any way the mailbox is removed; mbx_transfer passes it on. */
#include "test_util.h"

#include "shm/shm.h"
#include "mbx.h"
#include "shm/owner.h"

#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#define MS 1000000ll

static void put_byte(int fd)
{
    if (write(fd, "x", 1) != 1)
        _exit(90);
}

static void get_byte(int fd)
{
    if (!test_read_ready(fd))
        _exit(91); /* in the test process too: it fails instead of hanging */
}

static int reap(pid_t p)
{
    int st;
    if (waitpid(p, &st, 0) != p)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static mbx *create_owned(const char *name, uint32_t capacity)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = capacity;
    mbx *m;
    assert_int_equal(mbx_open(name, MBX_SEND | MBX_RECV | MBX_CREATE | MBX_OWNED, &a, &m), 0);
    return m;
}

static void only_the_owner_receives(void **state)
{
    (void)state;
    mbx *m = create_owned("own", 4);
    mbx_stat st;
    assert_int_equal(mbx_stat_get(m, &st), 0);
    assert_int_equal(st.owner_pid, getpid());
    assert_int_equal(st.flags & MBX_OWNED, MBX_OWNED);
    pid_t c = fork();
    if (c == 0) {
        mbx *x;
        if (mbx_open("own", MBX_RECV, NULL, &x) != -EACCES)
            _exit(1);
        if (mbx_open("own", MBX_SEND | MBX_RECV | MBX_CREATE | MBX_OWNED, NULL, &x) != -EACCES)
            _exit(2);
        /* The handle inherited over fork holds no receive right either. */
        char b[8];
        if (mbx_recv(m, b, sizeof(b), NULL, 0) != -EACCES)
            _exit(3);
        if (mbx_open("own", MBX_SEND, NULL, &x) != 0 || mbx_send(x, "hi", 2, 0, 0) != 0)
            _exit(4);
        _exit(0);
    }
    assert_int_equal(reap(c), 0);
    char b[8];
    mbx_msginfo info;
    assert_int_equal(mbx_recv(m, b, sizeof(b), &info, 0), 2);
    assert_int_equal(info.sender_pid, c);
    assert_int_equal(mbx_unlink("own"), 0);
    mbx_close(m);
}

/* A child that creates owned mailbox `name` (capacity: 0 for the
 * default) and waits to be killed; returns once the mailbox exists. p:
 * the pipe it said so through, for the caller to close. */
static pid_t owner_awaiting_kill(const char *name, uint32_t capacity, int p[2])
{
    assert_int_equal(pipe(p), 0);
    pid_t c = fork();
    if (c == 0) {
        mbx *m;
        mbx_attr a;
        mbx_attr_init(&a);
        if (capacity)
            a.capacity = capacity;
        if (mbx_open(name, MBX_RECV | MBX_CREATE | MBX_OWNED, &a, &m) != 0)
            _exit(1);
        put_byte(p[1]);
        test_await_kill();
        _exit(2);
    }
    get_byte(p[0]);
    return c;
}

/* The owner is killed while a sender is blocked on its full mailbox. (How
 * soon the sender hears of it is measured by mbx-bench, not here.) */
static void owner_killed_removes_mailbox(void **state)
{
    (void)state;
    int p[2];
    pid_t c = owner_awaiting_kill("doomed", 1, p);
    mbx *s, *later;
    assert_int_equal(mbx_open("doomed", MBX_SEND, NULL, &s), 0);
    assert_int_equal(mbx_open("doomed", MBX_SEND, NULL, &later), 0);
    assert_int_equal(mbx_send(s, "1", 1, 0, MBX_NONBLOCK), 0);
    /* Full: a sender blocks; once it sleeps, the owner is killed. */
    pid_t blocked = fork();
    if (blocked == 0) {
        mbx_set_spin(s, 0);
        _exit(mbx_send(s, "2", 1, 0, 10000 * MS) == -EIDRM ? 0 : 1);
    }
    mbx_stat st;
    for (int i = 0; i < 10000; i++) {
        assert_int_equal(mbx_stat_get(s, &st), 0);
        if (st.senders_waiting == 1)
            break;
        usleep(1000);
    }
    assert_int_equal(st.senders_waiting, 1);
    assert_int_equal(kill(c, SIGKILL), 0);
    assert_int_equal(reap(blocked), 0);
    assert_int_equal(mbx_send(s, "3", 1, 0, MBX_NONBLOCK), -EIDRM);
    assert_int_equal(mbx_send(later, "3", 1, 0, MBX_NONBLOCK), -EIDRM);
    mbx *x;
    assert_int_equal(mbx_open("doomed", MBX_SEND, NULL, &x), -ENOENT);
    assert_int_equal(test_dir_count(), 0);
    assert_int_equal(reap(c), 128 + SIGKILL);
    mbx_close(s);
    mbx_close(later);
    close(p[0]);
    close(p[1]);
}

/* A process killed inside the removal of a mailbox whose owner died, after
 * marking it removed and before taking its name away (a sender that found
 * the owner dead): the file stayed under its name, so the owner started
 * again got -EEXIST from every create, for ever (found by a review). The
 * next open now takes the stale name away. The kill is stood in for by
 * marking the mailbox removed by hand while its name stays. */
static void half_removed_name_is_taken_back(void **state)
{
    (void)state;
    int p[2];
    pid_t c = owner_awaiting_kill("halfgone", 4, p);
    mbx *s;
    assert_int_equal(mbx_open("halfgone", MBX_SEND, NULL, &s), 0);
    assert_int_equal(kill(c, SIGKILL), 0);
    assert_int_equal(reap(c), 128 + SIGKILL);
    __atomic_store_n(&shm_box_of(s)->seg.hdr->hot.removed, 1, __ATOMIC_SEQ_CST);
    assert_int_equal(test_dir_count(), 1); /* the name stays */
    mbx *x;
    assert_int_equal(mbx_open("halfgone", MBX_SEND, NULL, &x), -ENOENT);
    mbx *again = create_owned("halfgone", 4);
    assert_int_equal(mbx_send(again, "1", 1, 0, MBX_NONBLOCK), 0);
    char b[4];
    assert_int_equal(mbx_recv(again, b, sizeof(b), NULL, MBX_NONBLOCK), 1);
    assert_int_equal(mbx_send(s, "2", 1, 0, MBX_NONBLOCK), -EIDRM);
    mbx_close(again);
    mbx_close(s);
    assert_int_equal(test_dir_count(), 0);
    close(p[0]);
    close(p[1]);
}

/* A handle's mbx_stat_get after the owner was killed says -EIDRM, as a
 * send would, and the mailbox is gone; before, it said 0 and named the
 * dead owner, for ever. */
static void stat_after_owner_killed_says_removed(void **state)
{
    (void)state;
    int p[2];
    pid_t c = owner_awaiting_kill("statdead", 0, p);
    mbx *s;
    assert_int_equal(mbx_open("statdead", MBX_SEND, NULL, &s), 0);
    mbx_stat st;
    assert_int_equal(mbx_stat_get(s, &st), 0);
    assert_int_equal(st.owner_pid, c);
    assert_int_equal(kill(c, SIGKILL), 0);
    assert_int_equal(reap(c), 128 + SIGKILL);
    assert_int_equal(mbx_stat_get(s, &st), -EIDRM);
    assert_int_equal(test_dir_count(), 0);
    mbx_close(s);
    close(p[0]);
    close(p[1]);
}

/* The owner exits while nobody waits: the next open says -ENOENT, and a
 * handle opened before says -EIDRM on its first send that looks at the
 * owner (at most OWNER_POLL_NS after the last look). */
static void owner_exit_noticed_by_open_and_send(void **state)
{
    (void)state;
    int p[2], q[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(pipe(q), 0);
    pid_t c = fork();
    if (c == 0) {
        mbx *m;
        if (mbx_open("brief", MBX_SEND | MBX_CREATE | MBX_OWNED, NULL, &m) != 0)
            _exit(1);
        put_byte(p[1]);
        get_byte(q[0]);
        _exit(0); /* no atexit handlers, no clean-up */
    }
    get_byte(p[0]);
    mbx *s;
    assert_int_equal(mbx_open("brief", MBX_SEND, NULL, &s), 0);
    assert_int_equal(mbx_send(s, "a", 1, 0, 0), 0);
    put_byte(q[1]);
    assert_int_equal(reap(c), 0);
    usleep(OWNER_POLL_NS / 1000 + 10000);
    assert_int_equal(mbx_send(s, "b", 1, 0, 0), -EIDRM);
    mbx_close(s);

    /* Again, this time noticed by an open. */
    c = fork();
    if (c == 0) {
        mbx *m;
        _exit(mbx_open("brief2", MBX_SEND | MBX_CREATE | MBX_OWNED, NULL, &m) != 0);
    }
    assert_int_equal(reap(c), 0);
    assert_int_equal(test_dir_count(), 1);
    assert_int_equal(mbx_open("brief2", MBX_SEND, NULL, &s), -ENOENT);
    assert_int_equal(test_dir_count(), 0);
    close(p[0]), close(p[1]), close(q[0]), close(q[1]);
}

/* A recorded owner whose pid lives but whose start time differs is a dead
 * owner whose pid was reused. */
static void reused_pid_is_not_the_owner(void **state)
{
    (void)state;
    mbx *m = create_owned("reuse", 4);
    shm_box_of(m)->seg.hdr->model.owner += 1ull << 32; /* another start time */
    mbx *x;
    assert_int_equal(mbx_open("reuse", MBX_SEND, NULL, &x), -ENOENT);
    assert_int_equal(mbx_send(m, "a", 1, 0, 0), -EIDRM);
    mbx_close(m);
    assert_int_equal(test_dir_count(), 0);
}

/* A creates a mailbox and transfers it to B, then dies; the mailbox lives
 * on until B, which took it over, is killed. */
static void transfer_passes_ownership(void **state)
{
    (void)state;
    int to_a[2], from_a[2], to_b[2], from_b[2];
    assert_int_equal(pipe(to_a), 0);
    assert_int_equal(pipe(from_a), 0);
    assert_int_equal(pipe(to_b), 0);
    assert_int_equal(pipe(from_b), 0);
    pid_t b = fork();
    if (b == 0) {
        get_byte(to_b[0]);
        mbx *m;
        if (mbx_open("moving", MBX_RECV, NULL, &m) != 0)
            _exit(1);
        mbx_stat st;
        if (mbx_stat_get(m, &st) != 0 || st.owner_pid != getpid())
            _exit(2);
        char buf[8];
        if (mbx_recv(m, buf, sizeof(buf), NULL, 5000 * MS) != 2)
            _exit(3);
        put_byte(from_b[1]);
        test_await_kill();
        _exit(4);
    }
    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    assert_int_equal(reap(gone), 0);
    pid_t a = fork();
    if (a == 0) {
        mbx *m;
        if (mbx_open("moving", MBX_SEND | MBX_RECV | MBX_CREATE | MBX_OWNED, NULL, &m) != 0)
            _exit(1);
        if (mbx_transfer(m, gone) != -ESRCH || mbx_transfer(m, 0) != -EINVAL)
            _exit(2);
        if (mbx_transfer(m, b) != 0)
            _exit(3);
        char buf[8];
        if (mbx_recv(m, buf, sizeof(buf), NULL, 0) != -EACCES)
            _exit(4);
        put_byte(from_a[1]);
        get_byte(to_a[0]);
        _exit(0);
    }
    get_byte(from_a[0]);
    mbx *s;
    assert_int_equal(mbx_open("moving", MBX_SEND, NULL, &s), 0);
    /* Not the owner: */
    assert_int_equal(mbx_transfer(s, getpid()), -EPERM);
    put_byte(to_a[1]);
    assert_int_equal(reap(a), 0);
    usleep(60 * 1000);
    /* A is gone, but B, the pending owner, lives: it is the owner a stat
     * names (not the dead A), though it has not taken over yet. */
    assert_int_equal(mbx_send(s, "hi", 2, 0, 0), 0);
    mbx_stat st;
    assert_int_equal(mbx_stat_get(s, &st), 0);
    assert_int_equal(st.owner_pid, b);
    put_byte(to_b[1]);
    get_byte(from_b[0]);
    kill(b, SIGKILL);
    assert_int_equal(reap(b), 128 + SIGKILL);
    mbx *x;
    assert_int_equal(mbx_open("moving", MBX_SEND, NULL, &x), -ENOENT);
    mbx_close(s);
    int *fds[] = {to_a, from_a, to_b, from_b};
    for (int i = 0; i < 4; i++)
        close(fds[i][0]), close(fds[i][1]);
}

/* A transfer to a process that dies before taking over is void. */
/* The owner's last close removes its mailbox (closing one of two handles
 * does not); a sender in another process then gets -EIDRM, opens
 * -ENOENT. It stayed, with a dead owner, before. */
static void owner_last_close_removes(void **state)
{
    (void)state;
    mbx *a = create_owned("lastclose", 4);
    mbx *b = NULL;
    assert_int_equal(mbx_open("lastclose", MBX_SEND, NULL, &b), 0);
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t p = fork();
    if (p == 0) {
        test_child();
        mbx *s = NULL;
        if (mbx_open("lastclose", MBX_SEND, NULL, &s))
            _exit(2);
        put_byte(ready[1]);
        get_byte(go[0]);
        _exit(mbx_send(s, "x", 1, 0, 0) == -EIDRM ? 0 : 3);
    }
    get_byte(ready[0]);
    assert_int_equal(mbx_close(b), 0);
    mbx_stat st;
    assert_int_equal(mbx_stat_name("lastclose", &st), 0); /* a handle is left */
    assert_int_equal(mbx_close(a), 0);
    assert_int_equal(mbx_stat_name("lastclose", &st), -ENOENT);
    assert_int_equal(test_dir_count(), 0);
    put_byte(go[1]);
    assert_int_equal(reap(p), 0);
    mbx *again = NULL;
    assert_int_equal(mbx_open("lastclose", MBX_SEND, NULL, &again), -ENOENT);
    close(ready[0]), close(ready[1]), close(go[0]), close(go[1]);
}

/* A normal exit removes the mailboxes the process owns, without anyone
 * else touching them (the file stays after kill -9, until someone looks:
 * then mbx_stat_name, like ls, says it is gone and removes it). */
static void owner_exit_and_kill_leave_nothing(void **state)
{
    (void)state;
    for (int killed = 0; killed < 2; killed++) {
        int ready[2];
        assert_int_equal(pipe(ready), 0);
        pid_t p = fork();
        if (p == 0) {
            mbx *m = NULL;
            if (mbx_open("exiting", MBX_RECV | MBX_CREATE | MBX_OWNED, NULL, &m))
                _exit(2);
            put_byte(ready[1]);
            if (killed)
                test_await_kill();
            exit(0); /* returns through atexit */
        }
        get_byte(ready[0]);
        int st;
        if (killed)
            kill(p, SIGKILL);
        assert_int_equal(waitpid(p, &st, 0), p);
        assert_int_equal(test_dir_count(), killed ? 1 : 0);
        if (killed) {
            mbx_stat s;
            assert_int_equal(mbx_stat_name("exiting", &s), -ENOENT);
            assert_int_equal(test_dir_count(), 0);
        }
        close(ready[0]), close(ready[1]);
    }
}

static void transfer_to_dead_process_is_void(void **state)
{
    (void)state;
    mbx *m = create_owned("void", 4);
    pid_t c = fork();
    if (c == 0) {
        test_await_kill();
        _exit(1);
    }
    assert_int_equal(mbx_transfer(m, c), 0);
    char buf[8];
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), -EACCES);
    kill(c, SIGKILL);
    assert_int_equal(reap(c), 128 + SIGKILL);
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), -EAGAIN);
    assert_int_equal(mbx_unlink("void"), 0);
    mbx_close(m);
}

/* A thread's id names no process: a transfer to it is refused. It was
 * accepted (/proc answers for a thread's id too), and the pending owner
 * could never claim the mailbox (found by a review). */
static void *sleeping_thread(void *arg)
{
    pid_t *tid = arg;
    __atomic_store_n(tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
    pause();
    return NULL;
}

static void transfer_to_a_thread_is_refused(void **state)
{
    (void)state;
    mbx *m = create_owned("tothread", 4);
    pid_t tid = 0;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, sleeping_thread, &tid), 0);
    while (__atomic_load_n(&tid, __ATOMIC_ACQUIRE) == 0)
        usleep(1000);
    assert_int_not_equal(tid, getpid());
    assert_int_equal(mbx_transfer(m, tid), -ESRCH);
    assert_int_equal(mbx_transfer(m, getpid()), 0); /* ourselves: calls a transfer off */
    pthread_cancel(t);
    pthread_join(t, NULL);
    mbx_close(m);
}

/* Root only (a second user): a transfer to another user's process is
 * refused. */
static void transfer_to_another_user_is_refused(void **state)
{
    (void)state;
    if (geteuid() != 0)
        test_skip("needs root to run a process as another user (nobody)");
    mbx *m = create_owned("foreign", 4);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t c = fork();
    if (c == 0) {
        if (setresuid(65534, 65534, 65534))
            _exit(1);
        put_byte(p[1]);
        test_await_kill();
        _exit(1);
    }
    get_byte(p[0]); /* it is nobody now */
    assert_int_equal(mbx_transfer(m, c), -EPERM);
    char buf[8];
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), -EAGAIN); /* still ours */
    kill(c, SIGKILL);
    assert_int_equal(reap(c), 128 + SIGKILL);
    close(p[0]);
    close(p[1]);
    assert_int_equal(mbx_unlink("foreign"), 0);
    mbx_close(m);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(only_the_owner_receives),
        cmocka_unit_test(owner_killed_removes_mailbox),
        cmocka_unit_test(half_removed_name_is_taken_back),
        cmocka_unit_test(stat_after_owner_killed_says_removed),
        cmocka_unit_test(owner_exit_noticed_by_open_and_send),
        cmocka_unit_test(reused_pid_is_not_the_owner),
        cmocka_unit_test(transfer_passes_ownership),
        cmocka_unit_test(transfer_to_dead_process_is_void),
        cmocka_unit_test(transfer_to_a_thread_is_refused),
        cmocka_unit_test(owner_last_close_removes),
        cmocka_unit_test(owner_exit_and_kill_leave_nothing),
    };
    const struct CMUnitTest as_root[] = {
        cmocka_unit_test(transfer_to_another_user_is_refused),
    };
    if (test_root_only(argc, argv))
        return test_result(cmocka_run_group_tests(as_root, test_dir_setup, test_dir_teardown));
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
