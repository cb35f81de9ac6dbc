/* Direct communication: every process's own mailbox "@PID" (mbx_self),
 * reachable by name from any process. */
#include "test_util.h"

#include "mbx.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

#define MS 1000000ll

static int reap(pid_t p)
{
    int st;
    if (waitpid(p, &st, 0) != p)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void self_name(pid_t pid, char *buf, size_t cap)
{
    snprintf(buf, cap, "@%d", (int)pid);
}

static void same_handle_every_call(void **state)
{
    (void)state;
    mbx *a, *b;
    assert_int_equal(mbx_self(&a), 0);
    assert_int_equal(mbx_self(&b), 0);
    assert_ptr_equal(a, b);
    assert_int_equal(mbx_self(NULL), -EINVAL);
    mbx_stat st;
    char name[16];
    self_name(getpid(), name, sizeof(name));
    assert_int_equal(mbx_stat_get(a, &st), 0);
    assert_string_equal(st.name, name);
    assert_int_equal(st.owner_pid, getpid());
    assert_int_equal(st.flags & MBX_OWNED, MBX_OWNED);
    assert_int_equal(st.capacity, 64);
}

static void others_send_by_name(void **state)
{
    (void)state;
    mbx *me;
    assert_int_equal(mbx_self(&me), 0);
    char name[16];
    self_name(getpid(), name, sizeof(name));
    pid_t c = fork();
    if (c == 0) {
        mbx *x;
        if (mbx_open(name, MBX_SEND | MBX_CREATE, NULL, &x) != -EACCES)
            _exit(1);
        if (mbx_open(name, MBX_RECV, NULL, &x) != -EACCES)
            _exit(2);
        if (mbx_open(name, MBX_SEND, NULL, &x) != 0 || mbx_send(x, "ping", 4, 0, 0) != 0)
            _exit(3);
        _exit(0);
    }
    assert_int_equal(reap(c), 0);
    char buf[16];
    mbx_msginfo info;
    assert_int_equal(mbx_recv(me, buf, sizeof(buf), &info, 1000 * MS), 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(info.sender_pid, c);
    assert_int_equal(info.reply_token, 0);
    mbx *x;
    assert_int_equal(mbx_open("@0", MBX_SEND, NULL, &x), -EINVAL);
    assert_int_equal(mbx_open("@12ab", MBX_SEND, NULL, &x), -EINVAL);
}

/* A forked child's mbx_self is its own mailbox, and the parent reaches it. */
static void forked_child_has_its_own(void **state)
{
    (void)state;
    mbx *mine;
    assert_int_equal(mbx_self(&mine), 0);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t c = fork();
    if (c == 0) {
        mbx *m;
        if (mbx_self(&m) != 0 || m == mine)
            _exit(1);
        mbx_stat st;
        if (mbx_stat_get(m, &st) != 0 || st.owner_pid != getpid())
            _exit(2);
        if (write(ready[1], "x", 1) != 1)
            _exit(3);
        char buf[16];
        mbx_msginfo info;
        if (mbx_recv(m, buf, sizeof(buf), &info, 5000 * MS) != 5 || info.sender_pid != getppid())
            _exit(4);
        exit(0); /* a normal exit removes the mailbox at once */
    }
    char name[16];
    assert_true(test_read_ready(ready[0]));
    self_name(c, name, sizeof(name));
    mbx *to;
    assert_int_equal(mbx_open(name, MBX_SEND, NULL, &to), 0);
    assert_int_equal(mbx_send(to, "hello", 5, 0, 0), 0);
    assert_int_equal(reap(c), 0);
    mbx *x;
    assert_int_equal(mbx_open(name, MBX_SEND, NULL, &x), -ENOENT);
    assert_int_equal(mbx_send(to, "again", 5, 0, 0), -EIDRM);
    mbx_close(to);
    close(ready[0]);
    close(ready[1]);
}

/* A killed process's mailbox goes away too. */
static void killed_process_mailbox_goes(void **state)
{
    (void)state;
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t c = fork();
    if (c == 0) {
        mbx *m;
        if (mbx_self(&m) != 0 || write(ready[1], "x", 1) != 1)
            _exit(1);
        test_await_kill();
        _exit(2);
    }
    char name[16];
    assert_true(test_read_ready(ready[0]));
    self_name(c, name, sizeof(name));
    mbx *to;
    assert_int_equal(mbx_open(name, MBX_SEND, NULL, &to), 0);
    kill(c, SIGKILL);
    assert_int_equal(reap(c), 128 + SIGKILL);
    usleep(60 * 1000);
    assert_int_equal(mbx_send(to, "x", 1, 0, 0), -EIDRM);
    mbx *x;
    assert_int_equal(mbx_open(name, MBX_SEND, NULL, &x), -ENOENT);
    mbx_close(to);
    close(ready[0]);
    close(ready[1]);
}

/* Symmetric naming: recv_from takes one sender's messages, the rest wait. */
static void recv_from_picks_a_sender(void **state)
{
    (void)state;
    mbx *me;
    assert_int_equal(mbx_self(&me), 0);
    char name[16];
    self_name(getpid(), name, sizeof(name));
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            mbx *x;
            if (mbx_open(name, MBX_SEND, NULL, &x) != 0)
                _exit(1);
            for (int k = 0; k < 3; k++)
                if (mbx_send(x, &k, sizeof(k), 0, 0) != 0)
                    _exit(2);
            _exit(0);
        }
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal(reap(kids[i]), 0);
    mbx_msginfo info;
    int v;
    for (int k = 0; k < 3; k++) {
        assert_int_equal(mbx_recv_from(me, kids[1], &v, sizeof(v), &info, 0), sizeof(v));
        assert_int_equal(v, k);
        assert_int_equal(info.sender_pid, kids[1]);
    }
    assert_int_equal(mbx_recv_from(me, kids[1], &v, sizeof(v), &info, 0), -EAGAIN);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(mbx_recv(me, &v, sizeof(v), &info, 0), sizeof(v));
        assert_int_equal(info.sender_pid, kids[0]);
        assert_int_equal(v, k);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_handle_every_call),   cmocka_unit_test(others_send_by_name),
        cmocka_unit_test(forked_child_has_its_own), cmocka_unit_test(killed_process_mailbox_goes),
        cmocka_unit_test(recv_from_picks_a_sender),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
