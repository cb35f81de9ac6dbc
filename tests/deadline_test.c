/* A timed call ends near its deadline however busy its peers keep the
 * mailbox.
 *
 * A waiting call that sees the mailbox change looks again (shm/wait.c's
 * wait_change returns 0). A sender about to sleep for room beside other
 * sleeping senders first gives its CPU up (sched_yield): a receiver and
 * another sender then run in its place, the one freeing the slot it waits
 * for and the other filling it again. The change ended the wait before it
 * looked at the clock, the send found the mailbox full again and waited
 * again: for as long as its peers kept that up, a send with a 10 ms
 * timeout did not return. (A spinning wait that sees a change within its
 * first steps did the same: wait_test checks that one.)
 *
 * Here the peers run inside the test thread's own sched_yield, so each
 * wait of the send meets the change, deterministically; they stop after
 * PEERS_S seconds, so the send on the code before took that long. */
#include "test_box.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_NS 10000000ll   /* the timed send's timeout: 10 ms */
#define BOUND_NS   1000000000ll /* it must end within this */
#define PEERS_S    3            /* the peers stop after this */

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000ll + t.tv_nsec;
}

/* The peers, run by the test thread's yields while peers_until is ahead:
 * a receive of one message and a send of another through their own
 * handle, each without waiting. */
static pthread_t tester;
static mbx *peer;
static int64_t peers_until;
static int peer_rounds;

int sched_yield(void)
{
    if (peer && pthread_equal(pthread_self(), tester) && now_ns() < peers_until) {
        char buf[64];
        if (mbx_recv(peer, buf, sizeof(buf), NULL, MBX_NONBLOCK) >= 0 &&
            mbx_send(peer, "p", 1, 0, MBX_NONBLOCK) == 0)
            peer_rounds++;
    }
    return (int)syscall(SYS_sched_yield);
}

static uint32_t senders_asleep(mbx *m)
{
    mbx_stat st;
    assert_int_equal(mbx_stat_get(m, &st), 0);
    return st.senders_waiting;
}

static void send_beside_refilling_peers(uint32_t kind)
{
    const char *name = "refilled";
    mbx_options o;
    mbx_options_init(&o);
    o.kind = kind;
    o.attr.capacity = 4;
    o.attr.max_msg_size = 64;
    mbx *m;
    mbx_unlink(name);
    assert_int_equal(mbx_open_opts(name, MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL, &o, &m), 0);
    assert_int_equal(mbx_set_spin(m, 0), 0);
    while (mbx_send(m, "f", 1, 0, MBX_NONBLOCK) == 0)
        ;
    /* Another sender asleep for room, stopped there: it stays counted
     * asleep, so our send yields before each sleep. */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        test_child();
        mbx *c;
        if (mbx_open(name, MBX_SEND, NULL, &c) == 0) {
            mbx_set_spin(c, 0);
            mbx_send(c, "c", 1, 0, MBX_FOREVER);
        }
        _exit(0);
    }
    for (int i = 0; i < 5000 && senders_asleep(m) == 0; i++)
        usleep(1000);
    assert_int_equal(senders_asleep(m), 1);
    assert_int_equal(kill(child, SIGSTOP), 0);

    assert_int_equal(mbx_open(name, MBX_SEND | MBX_RECV, NULL, &peer), 0);
    tester = pthread_self();
    peer_rounds = 0;
    int64_t t0 = now_ns();
    peers_until = t0 + PEERS_S * 1000000000ll;
    int r = mbx_send(m, "x", 1, 0, TIMEOUT_NS);
    int64_t took = now_ns() - t0;
    peers_until = 0;
    print_message("kind %u: a send with a 10 ms timeout returned %d after %lld us, beside %d "
                  "rounds of its peers\n",
                  kind, r, (long long)(took / 1000), peer_rounds);
    mbx_close(peer);
    peer = NULL;
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    mbx_close(m);
    mbx_unlink(name);
    assert_int_equal(r, -ETIMEDOUT);
    assert_true(took < BOUND_NS);
    /* The peers did run: the send met the mailbox changing. */
    assert_true(peer_rounds >= 1);
}

static void ring_send_keeps_its_deadline(void **state)
{
    (void)state;
    send_beside_refilling_peers(MBX_KIND_RING);
}

static void heap_send_keeps_its_deadline(void **state)
{
    (void)state;
    send_beside_refilling_peers(MBX_KIND_HEAP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ring_send_keeps_its_deadline),
        cmocka_unit_test(heap_send_keeps_its_deadline),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
