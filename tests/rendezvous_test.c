/* Zero capacity: mbx_send returns only once a receiver took that very
 * message; a send that times out withdraws it, so it is never delivered. */
#include "test_box.h"

#include "mbx.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static mbx *open_rv(const char *name)
{
    return test_box(name, MBX_RENDEZVOUS, 64, 0);
}

static void reap_ok(pid_t p)
{
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void send_returns_once_taken(void **state)
{
    (void)state;
    mbx *m = open_rv("rv");
    pid_t p = fork();
    if (p == 0) {
        sleep_ms(150);
        char buf[64];
        _exit(mbx_recv(m, buf, sizeof(buf), NULL, 5000000000) == 5 && !memcmp(buf, "hello", 5) ? 0
                                                                                               : 1);
    }
    int64_t t0 = now_ns();
    assert_int_equal(mbx_send(m, "hello", 5, 0, MBX_FOREVER), 0);
    /* It could not return before the receiver started receiving. */
    assert_true(now_ns() - t0 >= 100000000);
    reap_ok(p);
    mbx_stat st;
    assert_int_equal(mbx_stat_get(m, &st), 0);
    assert_int_equal(st.count, 0);
    mbx_close(m);
    mbx_unlink("rv");
}

static void timed_out_send_is_withdrawn(void **state)
{
    (void)state;
    mbx *m = open_rv("rvt");
    assert_int_equal(mbx_send(m, "lost", 4, 0, 50000000), -ETIMEDOUT);
    assert_int_equal(mbx_send(m, "lost", 4, 0, MBX_NONBLOCK), -EAGAIN);
    char buf[64];
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, MBX_NONBLOCK), -EAGAIN);
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 20000000), -ETIMEDOUT);
    mbx_stat st;
    assert_int_equal(mbx_stat_get(m, &st), 0);
    assert_int_equal(st.count, 0);
    assert_int_equal(st.bytes, 0);
    mbx_close(m);
    mbx_unlink("rvt");
}

/* Three senders block one after the other; the receiver gets them in the
 * order they arrived, and each sender returns only after its own was taken. */
static void blocked_senders_in_arrival_order(void **state)
{
    (void)state;
    mbx *m = open_rv("rvo");
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
        if ((kids[i] = fork()) == 0) {
            char c = (char)('a' + i);
            _exit(mbx_send(m, &c, 1, 0, 10000000000) == 0 ? 0 : 1);
        }
        /* Until it is queued: a fixed pause was not always enough for a
         * child to start on a loaded machine (CI: 'c' came before 'b'). */
        mbx_stat st;
        int waited = 0;
        do {
            sleep_ms(5);
            assert_int_equal(mbx_stat_get(m, &st), 0);
        } while (st.count < (uint32_t)i + 1 && ++waited < 4000);
        assert_int_equal(st.count, i + 1);
    }
    for (int i = 0; i < 3; i++) {
        char c;
        mbx_msginfo info;
        assert_int_equal(mbx_recv(m, &c, 1, &info, 5000000000), 1);
        assert_int_equal(c, 'a' + i);
        assert_int_equal(info.sender_pid, kids[i]);
        reap_ok(kids[i]);
    }
    mbx_close(m);
    mbx_unlink("rvo");
}

static void removal_ends_a_blocked_send(void **state)
{
    (void)state;
    mbx *m = open_rv("rvx");
    pid_t p = fork();
    if (p == 0) {
        sleep_ms(80);
        _exit(mbx_unlink("rvx") == 0 ? 0 : 1);
    }
    assert_int_equal(mbx_send(m, "x", 1, 0, 10000000000), -EIDRM);
    reap_ok(p);
    mbx_close(m);
}

/* Messages taken by loan and released after their senders returned: each
 * block is freed by its borrower, so a small arena never fills up. */
static void loaned_messages_are_freed(void **state)
{
    (void)state;
    mbx *m = test_box("rvloan", MBX_RENDEZVOUS, 1024, 16384);
    pid_t p = fork();
    if (p == 0) {
        for (int i = 0; i < 40; i++) {
            const void *in;
            if (mbx_recv_loan(m, &in, NULL, 5000000000ll) != 1024)
                _exit(1);
            sleep_ms(2); /* the sender has long returned */
            if (mbx_release(m, in) != 0)
                _exit(2);
        }
        _exit(0);
    }
    char buf[1024] = {0};
    for (int i = 0; i < 40; i++)
        assert_int_equal(mbx_send(m, buf, sizeof(buf), 0, 5000000000ll), 0);
    reap_ok(p);
    mbx_close(m);
    mbx_unlink("rvloan");
}

/* A sender stopped while its message is lent to a receiver that dies; the
 * block comes back and is loaned out again (still showing the old
 * sequence number) before the sender looks: its message was delivered,
 * so its send returns 0. */
static void sender_sees_its_block_reused(void **state)
{
    (void)state;
    mbx *m = test_box("rvreuse", MBX_RENDEZVOUS, 4000, 4096);
    pid_t snd = fork();
    if (snd == 0) {
        test_child(); /* a stopped sender must not outlive a failed test */
        char buf[4000] = {1};
        _exit(mbx_send(m, buf, sizeof(buf), 0, 10000000000ll) == 0 ? 0 : 1);
    }
    /* Stopped only once it waits for a taker, outside the mailbox's lock:
     * the message is counted before the sender lets go of the lock, and a
     * sender stopped holding it made the receiver's non-blocking take say
     * -EAGAIN (1 run in 30 under load). */
    mbx_stat st = {0};
    for (int i = 0; i < 5000 && (st.count == 0 || st.senders_waiting == 0); i++) {
        sleep_ms(1);
        assert_int_equal(mbx_stat_get(m, &st), 0);
    }
    assert_int_equal(st.count, 1);
    assert_int_equal(st.senders_waiting, 1);
    assert_int_equal(kill(snd, SIGSTOP), 0);
    int ws;
    assert_int_equal(waitpid(snd, &ws, WUNTRACED), snd);
    assert_true(WIFSTOPPED(ws));
    pid_t rcv = fork();
    if (rcv == 0) {
        const void *in;
        if (mbx_recv_loan(m, &in, NULL, 0) != 4000)
            _exit(1);
        raise(SIGKILL);
    }
    assert_int_equal(waitpid(rcv, &ws, 0), rcv);
    assert_true(WIFSIGNALED(ws));
    void *again;
    assert_int_equal(mbx_loan(m, 4000, &again), 0); /* the dead borrower's block */
    assert_int_equal(kill(snd, SIGCONT), 0);
    reap_ok(snd);
    mbx_close(m); /* the unsent loan goes with the mailbox */
    mbx_unlink("rvreuse");
}

/* A sender killed while it waits for a taker: its send never returned,
 * and its message stays queued for the next receiver, taken once (as a
 * killed sender's message in any mailbox may or may not be delivered).
 * The mailbox stays a rendezvous one, and the dead senders' blocks come
 * back: the memory limit holds one such message, and three are sent,
 * each by a sender killed, and taken. */
static void killed_senders_message_is_taken_once(void **state)
{
    (void)state;
    mbx *m = test_box("rvdead", MBX_RENDEZVOUS, 4000, 4100);
    for (int round = 0; round < 3; round++) {
        pid_t snd = fork();
        if (snd == 0) {
            test_child();
            char buf[4000];
            memset(buf, 'a' + round, sizeof(buf));
            mbx_send(m, buf, sizeof(buf), 0, MBX_FOREVER);
            _exit(1); /* never returns: nobody receives before the kill */
        }
        mbx_stat st = {0};
        for (int i = 0; i < 5000 && (st.count == 0 || st.senders_waiting == 0); i++) {
            sleep_ms(1);
            assert_int_equal(mbx_stat_get(m, &st), 0);
        }
        assert_int_equal(st.count, 1);
        assert_int_equal(kill(snd, SIGKILL), 0);
        int ws;
        assert_int_equal(waitpid(snd, &ws, 0), snd);
        assert_true(WIFSIGNALED(ws));
        char buf[4000];
        assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, MBX_NONBLOCK), sizeof(buf));
        assert_int_equal(buf[0], 'a' + round);
        assert_int_equal(buf[sizeof(buf) - 1], 'a' + round);
        assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, MBX_NONBLOCK), -EAGAIN);
        assert_int_equal(mbx_stat_get(m, &st), 0);
        assert_int_equal(st.count, 0);
        assert_int_equal(st.bytes, 0);
    }
    /* Still a rendezvous: a send with nobody to take it is withdrawn. */
    assert_int_equal(mbx_send(m, "x", 1, 0, 20000000), -ETIMEDOUT);
    pid_t p = fork();
    if (p == 0) {
        char buf[4000];
        _exit(mbx_recv(m, buf, sizeof(buf), NULL, 5000000000) == 5 ? 0 : 1);
    }
    assert_int_equal(mbx_send(m, "alive", 5, 0, 5000000000), 0);
    reap_ok(p);
    mbx_close(m);
    mbx_unlink("rvdead");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(send_returns_once_taken),
        cmocka_unit_test(timed_out_send_is_withdrawn),
        cmocka_unit_test(blocked_senders_in_arrival_order),
        cmocka_unit_test(removal_ends_a_blocked_send),
        cmocka_unit_test(loaned_messages_are_freed),
        cmocka_unit_test(sender_sees_its_block_reused),
        cmocka_unit_test(killed_senders_message_is_taken_once),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
