/* MBX_RECV_PAIR: a link of exactly two processes. The first handle opened
 * to send and the first opened to receive are bound; every other process
 * gets -EBUSY until one of them closes or dies. */
#include "test_box.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

static void create_pair(const char *name)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.recv_policy = MBX_RECV_PAIR;
    a.capacity = 8;
    mbx *m;
    mbx_unlink(name);
    /* Created with neither end taken: flags 0 is not allowed, so the
     * creator's handle sends and is closed at once. */
    assert_int_equal(mbx_open(name, MBX_SEND | MBX_CREATE | MBX_EXCL, &a, &m), 0);
    mbx_close(m);
}

/* Opens name in a child with flags; the child reports mbx_open's result
 * through its exit status (0 ok, else -result), then waits to be killed
 * when hold is set. */
static pid_t open_in_child(const char *name, int flags, int hold, int ready[2])
{
    pid_t p = fork();
    if (p == 0) {
        test_child();
        mbx *m;
        int r = mbx_open(name, flags, NULL, &m);
        if (!hold || r)
            _exit(r ? -r : 0);
        if (write(ready[1], "r", 1) != 1)
            _exit(100);
        for (;;)
            pause();
    }
    return p;
}

static int exit_of(pid_t p)
{
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void two_ends_and_no_third(void **state)
{
    (void)state;
    create_pair("link");
    mbx *tx, *rx;
    assert_int_equal(mbx_open("link", MBX_SEND, NULL, &tx), 0);
    /* Another handle of the send end, even in this process, is refused. */
    mbx *again;
    assert_int_equal(mbx_open("link", MBX_SEND, NULL, &again), -EBUSY);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t r = open_in_child("link", MBX_RECV, 1, ready);
    assert_true(test_read_ready(ready[0]));
    /* A third process: neither end. */
    assert_int_equal(exit_of(open_in_child("link", MBX_SEND, 0, ready)), EBUSY);
    assert_int_equal(exit_of(open_in_child("link", MBX_RECV, 0, ready)), EBUSY);
    assert_int_equal(mbx_open("link", MBX_RECV, NULL, &rx), -EBUSY);
    /* The receiving end dies: its end is free for the next. */
    kill(r, SIGKILL);
    waitpid(r, NULL, 0);
    assert_int_equal(mbx_open("link", MBX_RECV, NULL, &rx), 0);
    int v = 42, got = 0;
    assert_int_equal(mbx_send(tx, &v, sizeof(v), 0, 0), 0);
    assert_int_equal(mbx_recv(rx, &got, sizeof(got), NULL, 0), sizeof(got));
    assert_int_equal(got, 42);
    /* The sending end closes: another may send. */
    mbx_close(tx);
    assert_int_equal(exit_of(open_in_child("link", MBX_SEND, 0, ready)), 0);
    assert_int_equal(mbx_open("link", MBX_SEND, NULL, &tx), 0);
    mbx_stat st;
    assert_int_equal(mbx_stat_get(tx, &st), 0);
    assert_int_equal(st.recv_policy, MBX_RECV_PAIR);
    mbx_close(tx);
    mbx_close(rx);
    close(ready[0]);
    close(ready[1]);
    mbx_unlink("link");
}

/* A forked child inherits the handle, not the end: its sends and receives
 * are refused, as for an exclusive receiver. */
static void forked_child_is_not_an_end(void **state)
{
    (void)state;
    create_pair("fork");
    mbx *m;
    assert_int_equal(mbx_open("fork", MBX_SEND | MBX_RECV, NULL, &m), 0);
    pid_t p = fork();
    if (p == 0) {
        int v = 1;
        int a = mbx_send(m, &v, sizeof(v), 0, 0);
        int b = (int)mbx_recv(m, &v, sizeof(v), NULL, 0);
        _exit(a == -EACCES && b == -EACCES ? 0 : 1);
    }
    assert_int_equal(exit_of(p), 0);
    int v = 7;
    assert_int_equal(mbx_send(m, &v, sizeof(v), 0, 0), 0);
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, 0), sizeof(v));
    mbx_close(m);
    mbx_unlink("fork");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_ends_and_no_third),
        cmocka_unit_test(forked_child_is_not_an_end),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
