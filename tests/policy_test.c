/* Receiver policies: MBX_RECV_EXCLUSIVE allows one handle open with
 * MBX_RECV at a time, until it is closed or its process dies. */
#include "test_util.h"

#include "mbx.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

static int reap(pid_t p)
{
    int st;
    if (waitpid(p, &st, 0) != p)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static mbx *create_exclusive(const char *name, int flags)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.recv_policy = MBX_RECV_EXCLUSIVE;
    mbx *m;
    assert_int_equal(mbx_open(name, flags | MBX_CREATE, &a, &m), 0);
    return m;
}

static void one_receiving_handle_at_a_time(void **state)
{
    (void)state;
    mbx *first = create_exclusive("ex", MBX_SEND | MBX_RECV);
    mbx *second, *sender;
    assert_int_equal(mbx_open("ex", MBX_RECV, NULL, &second), -EBUSY);
    assert_int_equal(mbx_open("ex", MBX_SEND | MBX_RECV | MBX_CREATE, NULL, &second), -EBUSY);
    assert_int_equal(mbx_open("ex", MBX_SEND, NULL, &sender), 0);
    pid_t c = fork();
    if (c == 0)
        _exit(mbx_open("ex", MBX_RECV, NULL, &second) == -EBUSY ? 0 : 1);
    assert_int_equal(reap(c), 0);
    assert_int_equal(mbx_send(sender, "a", 1, 0, 0), 0);
    char b[4];
    assert_int_equal(mbx_recv(first, b, sizeof(b), NULL, 0), 1);
    assert_int_equal(mbx_close(first), 0);
    assert_int_equal(mbx_open("ex", MBX_RECV, NULL, &second), 0);
    assert_int_equal(mbx_send(sender, "b", 1, 0, 0), 0);
    assert_int_equal(mbx_recv(second, b, sizeof(b), NULL, 0), 1);
    mbx_close(second);
    mbx_close(sender);
    mbx_unlink("ex");
}

/* A holder killed with SIGKILL gives the right up. */
static void dead_holder_frees_the_right(void **state)
{
    (void)state;
    mbx *sender = create_exclusive("exk", MBX_SEND);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t c = fork();
    if (c == 0) {
        mbx *m;
        if (mbx_open("exk", MBX_RECV, NULL, &m) != 0 || write(ready[1], "x", 1) != 1)
            _exit(1);
        test_await_kill();
        _exit(2);
    }
    assert_true(test_read_ready(ready[0]));
    mbx *r;
    assert_int_equal(mbx_open("exk", MBX_RECV, NULL, &r), -EBUSY);
    kill(c, SIGKILL);
    assert_int_equal(reap(c), 128 + SIGKILL);
    assert_int_equal(mbx_open("exk", MBX_RECV, NULL, &r), 0);
    mbx_close(r);
    mbx_close(sender);
    mbx_unlink("exk");
    close(ready[0]);
    close(ready[1]);
}

/* Without the policy any number of handles may receive. */
static void any_policy_allows_many(void **state)
{
    (void)state;
    mbx *a, *b;
    assert_int_equal(mbx_open("any", MBX_RECV | MBX_CREATE, NULL, &a), 0);
    assert_int_equal(mbx_open("any", MBX_RECV, NULL, &b), 0);
    mbx_close(a);
    mbx_close(b);
    mbx_unlink("any");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_receiving_handle_at_a_time),
        cmocka_unit_test(dead_holder_frees_the_right),
        cmocka_unit_test(any_policy_allows_many),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
