/* What a forked child may do with what it inherited, as mbx.h's "Fork"
 * paragraph says: receive rights that belong to the parent (exclusive
 * handles, owned mailboxes) say -EACCES in the child, sends work; "@PID"
 * is per process; the child's close and exit leave the parent's owned
 * mailbox alone; the child's descriptors are its own; inherited monitors
 * stay the parent's (cancelling them in the child changes nothing for the
 * parent); a handle another thread was blocked on at the fork is usable
 * and closable in the child. Each child checks and reports by exit code. */
#include "test_util.h"

#include "mbx.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

/* In a child: on a failed check, say which and exit 1. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child %d: %s:%d: %s\n", (int)getpid(), __FILE__, __LINE__, #cond);    \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

/* Forks a child that runs fn(arg) and exits 0 when it returns; returns
 * when the child ended and checks that it passed. */
static void in_child(void (*fn)(void *), void *arg)
{
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        test_child();
        alarm(20); /* a hang fails the child (SIGALRM), not the whole run */
        fn(arg);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static mbx *open_box(const char *name, int flags, uint32_t policy)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.recv_policy = policy;
    mbx *m = NULL;
    assert_int_equal(mbx_open(name, MBX_SEND | MBX_RECV | MBX_CREATE | flags, &a, &m), 0);
    return m;
}

struct rights {
    mbx *owned, *excl, *plain;
};

static void child_rights(void *arg)
{
    struct rights *r = arg;
    char b[16];
    CHECK(mbx_recv(r->owned, b, sizeof(b), NULL, MBX_NONBLOCK) == -EACCES);
    CHECK(mbx_recv(r->excl, b, sizeof(b), NULL, MBX_NONBLOCK) == -EACCES);
    /* Nor by loan: a review found the loan calls took the parent's
     * messages through an inherited exclusive handle. */
    const void *lent = NULL;
    CHECK(mbx_recv_loan(r->excl, &lent, NULL, MBX_NONBLOCK) == -EACCES);
    CHECK(mbx_recv_loan_select(r->excl, MBX_SEL_ANY, 0, &lent, NULL, NULL, MBX_NONBLOCK) ==
          -EACCES);
    CHECK(lent == NULL);
    CHECK(mbx_recv(r->plain, b, sizeof(b), NULL, MBX_NONBLOCK) == 1);
    CHECK(mbx_send(r->owned, "c", 1, 0, MBX_NONBLOCK) == 0);
    CHECK(mbx_send(r->excl, "c", 1, 0, MBX_NONBLOCK) == 0);
    CHECK(mbx_close(r->owned) == 0); /* not the owner's close */
}

/* Receive rights stay with the parent; the child's close and exit do not
 * remove the parent's owned mailbox. */
static void receive_rights_stay_with_parent(void **state)
{
    (void)state;
    struct rights r = {
        open_box("owned", MBX_OWNED, MBX_RECV_ANY),
        open_box("excl", 0, MBX_RECV_EXCLUSIVE),
        open_box("plain", 0, MBX_RECV_ANY),
    };
    assert_int_equal(mbx_send(r.plain, "p", 1, 0, MBX_NONBLOCK), 0);
    assert_int_equal(mbx_send(r.excl, "e", 1, 0, MBX_NONBLOCK), 0);
    in_child(child_rights, &r);
    mbx_stat st;
    assert_int_equal(mbx_stat_name("owned", &st), 0);
    char b[16];
    mbx_msginfo info;
    assert_int_equal(mbx_recv(r.owned, b, sizeof(b), &info, MBX_NONBLOCK), 1);
    assert_int_equal(b[0], 'c');
    assert_int_equal(mbx_recv(r.excl, b, sizeof(b), NULL, MBX_NONBLOCK), 1);
    assert_int_equal(b[0], 'e'); /* still there */
    assert_int_equal(mbx_recv(r.excl, b, sizeof(b), NULL, MBX_NONBLOCK), 1);
    assert_int_equal(b[0], 'c');
    assert_int_equal(mbx_recv(r.plain, b, sizeof(b), NULL, MBX_NONBLOCK), -EAGAIN);
    mbx_close(r.owned);
    assert_int_equal(mbx_stat_name("owned", &st), -ENOENT);
    mbx_close(r.excl);
    mbx_close(r.plain);
    mbx_unlink("excl");
    mbx_unlink("plain");
}

static void child_self(void *arg)
{
    mbx *parents = arg, *mine = NULL;
    CHECK(mbx_self(&mine) == 0);
    CHECK(mine != parents);
    mbx_stat st;
    char want[32];
    snprintf(want, sizeof(want), "@%d", (int)getpid());
    CHECK(mbx_stat_get(mine, &st) == 0 && strcmp(st.name, want) == 0);
    char b[16];
    CHECK(mbx_recv(parents, b, sizeof(b), NULL, MBX_NONBLOCK) == -EACCES);
    CHECK(mbx_send(parents, "k", 1, 0, MBX_NONBLOCK) == 0);
}

/* "@PID" is per process: the child's mbx_self is its own; the parent's,
 * inherited, only takes the child's sends. */
static void self_is_per_process(void **state)
{
    (void)state;
    mbx *me = NULL;
    assert_int_equal(mbx_self(&me), 0);
    in_child(child_self, me);
    char b[16];
    mbx_msginfo info;
    assert_int_equal(mbx_recv(me, b, sizeof(b), &info, MBX_NONBLOCK), 1);
    assert_int_equal(b[0], 'k');
}

static int readable(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    int n;
    while ((n = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    return n == 1;
}

static void child_descriptor(void *arg)
{
    mbx *m = arg;
    int fd = mbx_fd(m, MBX_RECV);
    CHECK(fd >= 0);
    CHECK(!readable(fd, 0));
    CHECK(mbx_send(m, "d", 1, 0, MBX_NONBLOCK) == 0);
    CHECK(readable(fd, 5000));
    char b[16];
    CHECK(mbx_recv(m, b, sizeof(b), NULL, MBX_NONBLOCK) == 1);
}

/* The child's descriptor works for it, and the parent's still works after. */
static void descriptors_are_per_process(void **state)
{
    (void)state;
    mbx *m = open_box("polled", 0, MBX_RECV_ANY);
    int fd = mbx_fd(m, MBX_RECV);
    assert_true(fd >= 0);
    in_child(child_descriptor, m);
    /* The child's changes may have raised it once; an empty receive
     * lowers it. */
    char b[16];
    assert_int_equal(mbx_recv(m, b, sizeof(b), NULL, MBX_NONBLOCK), -EAGAIN);
    assert_false(readable(fd, 0));
    assert_int_equal(mbx_send(m, "p", 1, 0, MBX_NONBLOCK), 0);
    assert_true(readable(fd, 5000));
    mbx_close(m);
    mbx_unlink("polled");
}

static void child_cancels(void *arg)
{
    mbx_monitor *mon = arg;
    CHECK(mbx_monitor_fired(mon, NULL) == 0);
    CHECK(mbx_monitor_cancel(mon) == 0);
}

/* A child that cancels an inherited monitor leaves the parent's monitor
 * watching: it fires when the process dies. */
static void monitors_stay_with_parent(void **state)
{
    (void)state;
    mbx_attr a;
    mbx_attr_init(&a);
    a.max_msg_size = sizeof(mbx_notice);
    mbx *in = NULL;
    assert_int_equal(mbx_open("inbox", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &in), 0);
    pid_t victim = fork();
    if (victim == 0)
        test_await_kill();
    mbx_monitor *mon = NULL;
    assert_int_equal(mbx_monitor_process(victim, in, 5, &mon), 0);
    in_child(child_cancels, mon);
    kill(victim, SIGKILL);
    waitpid(victim, NULL, 0);
    mbx_notice n;
    assert_int_equal(mbx_recv(in, &n, sizeof(n), NULL, 10000000000), sizeof(n));
    assert_int_equal(n.pid, victim);
    assert_int_equal(n.tag, 5);
    assert_int_equal(mbx_monitor_fired(mon, NULL), 1);
    mbx_monitor_cancel(mon);
    mbx_close(in);
    mbx_unlink("inbox");
}

struct blocked {
    mbx *m;
    ssize_t got;
    mbx_msginfo info;
};

static void *receive_forever(void *arg)
{
    struct blocked *b = arg;
    char buf[16];
    b->got = mbx_recv(b->m, buf, sizeof(buf), &b->info, MBX_FOREVER);
    return NULL;
}

static void child_uses_blocked_handle(void *arg)
{
    mbx *m = arg;
    CHECK(mbx_send(m, "f", 1, 0, MBX_NONBLOCK) == 0);
    CHECK(mbx_close(m) == 0); /* waits for no thread: none came along */
}

/* A handle another thread is blocked on at the fork: the child sends on it
 * and closes it without waiting for that thread, which lives only in the
 * parent and takes the child's message there. */
static void thread_blocked_at_fork(void **state)
{
    (void)state;
    struct blocked b = {open_box("blocked", 0, MBX_RECV_ANY), 0, {0}};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, receive_forever, &b), 0);
    mbx_stat st;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(mbx_stat_get(b.m, &st), 0);
        if (st.receivers_waiting > 0)
            break;
        usleep(10000);
    }
    assert_true(st.receivers_waiting > 0);
    pid_t c = fork();
    if (c == 0) {
        test_child();
        alarm(20);
        child_uses_blocked_handle(b.m);
        _exit(0);
    }
    int ws;
    assert_int_equal(waitpid(c, &ws, 0), c);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
    pthread_join(t, NULL);
    assert_int_equal(b.got, 1);
    assert_int_equal(b.info.sender_pid, c);
    mbx_close(b.m);
    mbx_unlink("blocked");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(receive_rights_stay_with_parent),
        cmocka_unit_test(self_is_per_process),
        cmocka_unit_test(descriptors_are_per_process),
        cmocka_unit_test(monitors_stay_with_parent),
        cmocka_unit_test(thread_blocked_at_fork),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
