/* A request handed to a program the server started (exec): the program
 * answers it once it has the server's reply secret (mbx_reply_secret,
 * mbx_reply_secret_set; passed through a pipe), and not without it; the secret can be set only
 * before anything was bound under the process's own. */
#include "test_util.h"

#include <mbx.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* The exec'd worker: argv = self "worker" TOKEN FD|"-". Reads the
 * secret from descriptor FD (a pipe it inherited: never on the command
 * line, which every local user reads in /proc) and sets it (unless "-"),
 * opens the mailbox to receive and answers TOKEN. Exits 0 when mbx_reply
 * said 0, 10 + its errno otherwise, 2-4 on setup. */
static int worker(char **argv)
{
    uint64_t token = strtoull(argv[2], NULL, 16);
    if (strcmp(argv[3], "-") != 0) {
        unsigned char secret[16];
        int fd = atoi(argv[3]);
        if (read(fd, secret, sizeof(secret)) != (ssize_t)sizeof(secret))
            return 2;
        close(fd);
        if (mbx_reply_secret_set(secret) != 0)
            return 3;
    }
    mbx *m = NULL;
    if (mbx_open("handed", MBX_RECV, NULL, &m) != 0)
        return 4;
    mbx_msginfo info;
    memset(&info, 0, sizeof(info));
    info.reply_token = token;
    int r = mbx_reply(&info, "from the worker", 15);
    mbx_close(m);
    return r == 0 ? 0 : 10 + -r;
}

/* A server (forked) that receives one request and hands it to an exec'd
 * worker, with its secret when `give` is set. Exits with the worker's
 * status. */
static void server(int give)
{
    mbx *m = NULL;
    if (mbx_open("handed", MBX_RECV, NULL, &m) != 0)
        _exit(5);
    char req[64];
    mbx_msginfo info;
    if (mbx_recv(m, req, sizeof(req), &info, 10000000000ll) < 0 || !info.reply_token)
        _exit(6);
    char token[32], fdarg[16] = "-";
    snprintf(token, sizeof(token), "%" PRIx64, info.reply_token);
    int pass[2] = {-1, -1}; /* no O_CLOEXEC: the worker inherits the read end */
    if (give) {
        unsigned char secret[16];
        if (mbx_reply_secret(secret) != 0 || pipe(pass) != 0 ||
            write(pass[1], secret, sizeof(secret)) != (ssize_t)sizeof(secret))
            _exit(7);
        close(pass[1]);
        snprintf(fdarg, sizeof(fdarg), "%d", pass[0]);
    }
    pid_t w = fork();
    if (w == 0) {
        execl("/proc/self/exe", "call_handover_test", "worker", token, fdarg, (char *)NULL);
        _exit(8);
    }
    if (give)
        close(pass[0]);
    int st;
    if (waitpid(w, &st, 0) != w || !WIFEXITED(st))
        _exit(9);
    /* Our handle stays open until the worker is done: the call waits on
     * the taker of the request, which is us. */
    mbx_close(m);
    _exit(WEXITSTATUS(st));
}

/* The caller's view: a call to "handed" served by server(give); returns
 * the call's result, the reply in buf, and the server's exit status. */
static ssize_t call_handed(int give, char *buf, size_t cap, int *status)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 4;
    a.max_msg_size = 64;
    mbx *m = NULL;
    assert_int_equal(mbx_open("handed", MBX_SEND | MBX_CREATE, &a, &m), 0);
    pid_t s = fork();
    if (s == 0) {
        test_child();
        server(give);
    }
    ssize_t n = mbx_call(m, "job", 3, 0, buf, cap, 10000000000ll);
    assert_int_equal(waitpid(s, status, 0), s);
    mbx_close(m);
    mbx_unlink("handed");
    return n;
}

static void exec_worker_with_the_secret_answers(void **state)
{
    (void)state;
    char buf[64];
    int st;
    ssize_t n = call_handed(1, buf, sizeof(buf), &st);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(n, 15);
    assert_memory_equal(buf, "from the worker", 15);
}

/* Without the secret the exec'd worker's reply finds no call of its own
 * (-ESRCH), and the caller, whose request's taker ended, is told so. */
static void exec_worker_without_the_secret_cannot(void **state)
{
    (void)state;
    char buf[64];
    int st;
    ssize_t n = call_handed(0, buf, sizeof(buf), &st);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 10 + ESRCH);
    assert_true(n < 0);
}

/* In a fresh program (exec): the secret is set before anything is bound
 * under the process's own, never after; it reads back as set. Exits 0, or
 * the number of the check that failed. */
static int fresh(void)
{
    unsigned char mine[16], back[16], other[16];
    for (int i = 0; i < 16; i++)
        other[i] = (unsigned char)(0xa5 ^ i);
    if (mbx_reply_secret(mine) != 0 || mbx_reply_secret_set(other) != 0)
        return 1;
    if (mbx_reply_secret(back) != 0 || memcmp(back, other, 16) != 0)
        return 2;
    mbx *m = NULL;
    if (mbx_open("first", MBX_RECV | MBX_CREATE, NULL, &m) != 0)
        return 3;
    if (mbx_reply_secret_set(mine) != -EBUSY)
        return 4; /* the handle's key was derived from `other` */
    if (mbx_reply_secret(back) != 0 || memcmp(back, other, 16) != 0)
        return 5;
    mbx_close(m);
    mbx_unlink("first");
    return 0;
}

static void secret_set_only_first(void **state)
{
    (void)state;
    assert_int_equal(mbx_reply_secret(NULL), -EINVAL);
    assert_int_equal(mbx_reply_secret_set(NULL), -EINVAL);
    pid_t p = fork();
    if (p == 0) {
        execl("/proc/self/exe", "call_handover_test", "fresh", (char *)NULL);
        _exit(99);
    }
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "worker") == 0)
        return worker(argv);
    if (argc == 2 && strcmp(argv[1], "fresh") == 0)
        return fresh();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exec_worker_with_the_secret_answers),
        cmocka_unit_test(exec_worker_without_the_secret_cannot),
        cmocka_unit_test(secret_set_only_first),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
