/* A server killed while it takes a call's request, after it signed the
 * call's receipt but before the take was done: the take never happened
 * (the next receive puts the request back), so the call must not end with
 * -EPIPE ("the server that took it died") while the request waits for the
 * next server, who would run it for a caller that left. The server child
 * is traced (ptrace), run to the return of receipt_taken and killed there;
 * a second server then takes the request and replies, and the call returns
 * that reply. Also: a request sent again still sees the mailbox removed,
 * and a live server that took the request after the caller saw the dead
 * one is waited for. Both kinds of mailbox. x86-64 only (step_trace.h). */
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
 * -EPIPE, 3 on -EIDRM, 2 on anything else. traced: it stops first, to
 * be traced from there (it runs on once traced). */
static pid_t start_caller_as(mbx *m, int traced)
{
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        test_child();
        if (traced) {
            ptrace(PTRACE_TRACEME, 0, NULL, NULL);
            raise(SIGSTOP);
        }
        char reply[16] = {0};
        ssize_t n = mbx_call(m, "ping", 4, 0, reply, sizeof(reply), 20000 * MS);
        _exit(n == 4 && memcmp(reply, "pong", 4) == 0 ? 0 : n == -EPIPE ? 1 : n == -EIDRM ? 3 : 2);
    }
    if (traced) {
        assert_int_equal(trace_stopped(p), SIGSTOP);
        assert_int_equal(ptrace(PTRACE_SETOPTIONS, p, NULL, (void *)(long)PTRACE_O_EXITKILL), 0);
        assert_int_equal(ptrace(PTRACE_CONT, p, NULL, NULL), 0);
    }
    return p;
}

static pid_t start_caller(mbx *m)
{
    return start_caller_as(m, 0);
}

static int caller_exit(pid_t caller)
{
    int st;
    assert_int_equal(waitpid(caller, &st, 0), caller);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
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
 * to the return of receipt_taken (signed, not yet taken), and killed.
 * Returns its pid. */
static pid_t kill_server_after_signing(mbx *m)
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
    trace_kill_after(p, (uintptr_t)receipt_taken);
    return p;
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

/* After the request was sent again, removing the mailbox still ends the
 * call with -EIDRM at once. A ring's withdraw signed the caller's own
 * receipt as the taker: the call saw a live taker and waited out its
 * time. */
static void resent_request_sees_removal(void **state)
{
    const char *queue = *state;
    if (!trace_allowed())
        test_skip("this process may not trace its children (ptrace refused)");
    char name[32];
    snprintf(name, sizeof(name), "resent-%s", queue);
    mbx_unlink(name);
    mbx *m = open_kind(name, queue);
    pid_t caller = start_caller(m);
    wait_queued(m, 1);
    kill_server_after_signing(m);
    mbx_stat st = {0};
    for (int i = 0; i < 2000 && st.sent_total < 2; i++) {
        nanosleep(&(struct timespec){0, 5 * MS}, NULL);
        assert_int_equal(mbx_stat_get(m, &st), 0);
    }
    assert_int_equal(st.sent_total, 2); /* taken back and sent again */
    assert_int_equal(mbx_unlink(name), 0);
    assert_int_equal(caller_exit(caller), 3);
    mbx_close(m);
}

/* The caller sees its taker dead; before it looks again, a live server
 * puts the request back, takes it and signs. The call waits for that
 * server's reply. It read the receipt again and took the live server for
 * the dead one: -EPIPE after the grace, while that server ran the request
 * (its reply said -ESRCH). The caller is traced: stopped where it learns
 * the taker is dead (ident_alive of the dead taker, in its look at the
 * receipt), and held at its next look at the receipt while the live
 * server takes the request. */
static void live_taker_since_is_waited_for(void **state)
{
    const char *queue = *state;
    if (!trace_allowed())
        test_skip("this process may not trace its children (ptrace refused)");
    char name[32];
    snprintf(name, sizeof(name), "since-%s", queue);
    mbx_unlink(name);
    mbx *m = open_kind(name, queue);
    pid_t caller = start_caller_as(m, 1);
    wait_queued(m, 1);
    kill(caller, SIGSTOP);
    assert_int_equal(trace_stopped(caller), SIGSTOP);
    uintptr_t alive_fn = (uintptr_t)ident_alive, taker_fn = (uintptr_t)receipt_taker;
    long orig = trace_break(caller, alive_fn);
    assert_int_equal(ptrace(PTRACE_CONT, caller, NULL, NULL), 0);
    pid_t dead = kill_server_after_signing(m);
    struct user_regs_struct regs;
    for (;;) {
        assert_int_equal(trace_stopped(caller), SIGTRAP);
        trace_unbreak(caller, alive_fn, orig, &regs);
        if (ident_id((ident_t)regs.rdi) == dead)
            break; /* about to learn that the taker is dead */
        /* Another ident_alive: past it, and the breakpoint back. */
        assert_int_equal(ptrace(PTRACE_SINGLESTEP, caller, NULL, NULL), 0);
        assert_int_equal(trace_stopped(caller), SIGTRAP);
        orig = trace_break(caller, alive_fn);
        assert_int_equal(ptrace(PTRACE_CONT, caller, NULL, NULL), 0);
    }
    orig = trace_break(caller, taker_fn);
    assert_int_equal(ptrace(PTRACE_CONT, caller, NULL, NULL), 0);
    assert_int_equal(trace_stopped(caller), SIGTRAP);
    trace_unbreak(caller, taker_fn, orig, &regs);
    /* The caller is at its next look at the receipt: a live server takes
     * the request now (putting the dead one's take back first). */
    char buf[16];
    mbx_msginfo info;
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), &info, 5000 * MS), 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(ptrace(PTRACE_DETACH, caller, NULL, NULL), 0);
    /* Longer than the grace the caller gives a taker to sign. */
    nanosleep(&(struct timespec){0, 300 * MS}, NULL);
    assert_int_equal(mbx_reply(&info, "pong", 4), 0);
    assert_int_equal(caller_exit(caller), 0);
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
        {"ring_resent_request_sees_removal", resent_request_sees_removal, NULL, NULL, ring},
        {"heap_resent_request_sees_removal", resent_request_sees_removal, NULL, NULL, heap},
        {"ring_live_taker_since_is_waited_for", live_taker_since_is_waited_for, NULL, NULL, ring},
        {"heap_live_taker_since_is_waited_for", live_taker_since_is_waited_for, NULL, NULL, heap},
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
