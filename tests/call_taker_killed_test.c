/* A server killed while it takes a call's request, after it signed the
 * call's receipt but before the take was done: the take never happened
 * (the next receive puts the request back), so the call must not end with
 * -EPIPE ("the server that took it died") while the request waits for the
 * next server, who would run it for a caller that left. The server child
 * is traced (ptrace), run to the return of receipt_taken and killed there;
 * a second server then takes the request and replies, and the call returns
 * that reply. Both kinds of mailbox. x86-64 only (step_trace.h). */
#include "test_util.h"

#include "mbx.h"
#include "platform/platform.h"
#include "shm/receipts.h"
#include "shm/shm.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#if defined(__x86_64__)
#include "step_trace.h"

#define MS 1000000ll

static mbx *open_kind(const char *name, const char *queue)
{
    setenv("MBX_QUEUE", queue, 1);
    mbx *m;
    assert_int_equal(mbx_open(name, MBX_SEND | MBX_RECV | MBX_CREATE, NULL, &m), 0);
    unsetenv("MBX_QUEUE");
    assert_int_equal(shm_box_of(m)->seg.ring != NULL, strcmp(queue, "ring") == 0);
    return m;
}

/* The caller: exits 0 when its call returned the reply "pong", 1 on
 * -EPIPE, 2 on anything else. */
static pid_t start_caller(mbx *m)
{
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        char reply[16] = {0};
        ssize_t n = mbx_call(m, "ping", 4, 0, reply, sizeof(reply), 20000 * MS);
        _exit(n == 4 && memcmp(reply, "pong", 4) == 0 ? 0 : n == -EPIPE ? 1 : 2);
    }
    return p;
}

static void wait_queued(mbx *m, uint32_t count)
{
    mbx_stat st;
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(mbx_stat_get(m, &st), 0);
        if (st.count == count)
            return;
        nanosleep(&(struct timespec){0, 5 * MS}, NULL);
    }
    fail_msg("the caller's request never came (count %u)", st.count);
}

/* A server traced from its start, run into its receive of the request up
 * to the return of receipt_taken (signed, not yet taken), and killed. */
static void kill_server_after_signing(mbx *m)
{
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        (void)ident_self(); /* learnt from /proc here, not in the receive */
        (void)ident_thread();
        char buf[16];
        mbx_msginfo info;
        ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        raise(SIGSTOP);
        mbx_recv(m, buf, sizeof(buf), &info, MBX_NONBLOCK);
        _exit(0);
    }
    assert_int_equal(trace_stopped(p), SIGSTOP);
    assert_int_equal(ptrace(PTRACE_SETOPTIONS, p, NULL, (void *)(long)PTRACE_O_EXITKILL), 0);
    uintptr_t ret, sp;
    trace_run_to(p, (uintptr_t)receipt_taken, &ret, &sp);
    assert_true(trace_step(p, 100000, ret, sp) > 0);
    kill(p, SIGKILL);
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static void killed_mid_take_is_not_epipe(void **state)
{
    const char *queue = *state;
    if (!trace_allowed())
        test_skip("this process may not trace its children (ptrace refused)");
    char name[32];
    snprintf(name, sizeof(name), "fragile-%s", queue);
    mbx_unlink(name); /* left by a run that failed */
    mbx *m = open_kind(name, queue);
    pid_t caller = start_caller(m);
    wait_queued(m, 1);
    kill_server_after_signing(m);
    /* Time for the caller to look at the receipt (every 20 ms) and see
     * its taker dead, before the next server takes the request. */
    nanosleep(&(struct timespec){0, 300 * MS}, NULL);
    char buf[16];
    mbx_msginfo info;
    ssize_t n = mbx_recv(m, buf, sizeof(buf), &info, 10000 * MS);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "ping", 4);
    /* The caller still waits for this reply. */
    assert_int_equal(mbx_reply(&info, "pong", 4), 0);
    int st;
    assert_int_equal(waitpid(caller, &st, 0), caller);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* Nothing else is left to run, and the request was sent again at most
     * once (the caller forgot the dead taker, else it would see it dead
     * again and take the request back and send it again, over and over). */
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), &info, MBX_NONBLOCK), -EAGAIN);
    mbx_stat st2;
    assert_int_equal(mbx_stat_get(m, &st2), 0);
    assert_in_range(st2.sent_total, 1, 2);
    mbx_unlink(name);
    mbx_close(m);
}

/* The take that completed stays -EPIPE: the dead server had the request. */
static void killed_after_take_is_epipe(void **state)
{
    const char *queue = *state;
    char name[32];
    snprintf(name, sizeof(name), "taken-%s", queue);
    mbx_unlink(name);
    mbx *m = open_kind(name, queue);
    pid_t caller = start_caller(m);
    wait_queued(m, 1);
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        char buf[16];
        mbx_msginfo info;
        if (mbx_recv(m, buf, sizeof(buf), &info, MBX_NONBLOCK) != 4)
            _exit(1);
        raise(SIGKILL);
    }
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_int_equal(waitpid(caller, &st, 0), caller);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    char buf[16];
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, MBX_NONBLOCK), -EAGAIN);
    mbx_unlink(name);
    mbx_close(m);
}

int main(void)
{
    static char ring[] = "ring", heap[] = "heap";
    const struct CMUnitTest tests[] = {
        {"ring_killed_mid_take_is_not_epipe", killed_mid_take_is_not_epipe, NULL, NULL, ring},
        {"heap_killed_mid_take_is_not_epipe", killed_mid_take_is_not_epipe, NULL, NULL, heap},
        {"ring_killed_after_take_is_epipe", killed_after_take_is_epipe, NULL, NULL, ring},
        {"heap_killed_after_take_is_epipe", killed_after_take_is_epipe, NULL, NULL, heap},
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
#else
int main(void)
{
    printf("call_taker_killed_test: x86-64 only (it reads the instruction pointer): skipped\n");
    return TEST_SKIPPED;
}
#endif
