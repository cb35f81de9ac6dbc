/* MBX_RECV_ROUND_ROBIN: receivers waiting together are served in turn. */
#include "test_util.h"

#include "shm/lock.h"
#include "shm/shm.h"
#include "mbx.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#define RECEIVERS 3
#define MESSAGES  3000

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static mbx *open_rr(const char *name)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.recv_policy = MBX_RECV_ROUND_ROBIN;
    a.capacity = 16;
    mbx *m;
    assert_int_equal(mbx_open(name, MBX_SEND | MBX_RECV | MBX_CREATE, &a, &m), 0);
    return m;
}

/* Waits (up to 10 s) until mbx_stat counts n receivers asleep. A receiver
 * of a round-robin mailbox holds its ticket before it sleeps, and the
 * count never counts a living sleeper twice. */
static void await_receivers(mbx *m, unsigned n)
{
    mbx_stat st;
    for (int i = 0; i < 10000; i++) {
        assert_int_equal(mbx_stat_get(m, &st), 0);
        if (st.receivers_waiting == n)
            return;
        sleep_ms(1);
    }
    fail_msg("%u receivers waiting, not %u", st.receivers_waiting, n);
}

static void reap_ok(pid_t p)
{
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("child %d: status %#x", (int)p, st);
}

/* Strictly in turn: the three take the first three messages in the order
 * they began to wait, then each gets every third, since each takes a new
 * ticket, behind the other two, after each message. */
static void three_receivers_take_turns(void **state)
{
    (void)state;
    mbx *m = open_rr("rr");
    size_t maplen = 4096 + MESSAGES * sizeof(uint8_t);
    uint32_t *got = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(got != MAP_FAILED);
    uint8_t *who = (uint8_t *)got + 4096; /* receiver of message v */
    pid_t kids[RECEIVERS];
    for (int i = 0; i < RECEIVERS; i++) {
        if ((kids[i] = fork()) == 0) {
            test_child();
            /* Sleeping waiters are counted in mbx_stat, so the sender can
             * tell when all three are waiting. */
            mbx_set_spin(m, 0);
            uint32_t v;
            for (;;) {
                ssize_t n = mbx_recv(m, &v, sizeof(v), NULL, 10000000000);
                if (n != sizeof(v))
                    _exit(1);
                if (v == UINT32_MAX)
                    _exit(0);
                if (v >= MESSAGES)
                    _exit(2);
                who[v] = (uint8_t)i;
                got[i]++;
            }
        }
    }
    /* Each message goes out while all three receivers wait: the policy
     * then decides alone who gets it. */
    for (uint32_t v = 0; v < MESSAGES; v++) {
        mbx_stat st;
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
            assert_int_equal(mbx_stat_get(m, &st), 0);
            if (st.receivers_waiting >= RECEIVERS && st.count == 0)
                break;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - t0.tv_sec > 10)
                fail_msg("message %u: after 10 s, %u receivers wait and %u messages are queued", v,
                         st.receivers_waiting, st.count);
            sched_yield();
        }
        assert_int_equal(mbx_send(m, &v, sizeof(v), 0, MBX_FOREVER), 0);
    }
    uint32_t stop = UINT32_MAX;
    for (int i = 0; i < RECEIVERS; i++)
        assert_int_equal(mbx_send(m, &stop, sizeof(stop), 0, MBX_FOREVER), 0);
    for (int i = 0; i < RECEIVERS; i++)
        reap_ok(kids[i]);
    print_message("%u messages to %d receivers: %u, %u, %u\n", MESSAGES, RECEIVERS, got[0], got[1],
                  got[2]);
    assert_true(who[0] != who[1] && who[1] != who[2] && who[0] != who[2]);
    mbx_stat fin;
    assert_int_equal(mbx_stat_get(m, &fin), 0);
    /* repairs: how often a lock holder was judged dead and its work
     * redone; a turn passes on only when its holder is judged dead or
     * stopped, so a rotation broken under load with repairs > 0 points at
     * a liveness misjudgement (seen once under a loaded ASan run). */
    for (uint32_t v = RECEIVERS; v < MESSAGES; v++)
        if (who[v] != who[v - RECEIVERS])
            fail_msg("message %u went to receiver %u out of turn (%u had message %u; repairs %u)",
                     v, who[v], who[v - RECEIVERS], v - RECEIVERS, fin.repairs);
    for (int i = 0; i < RECEIVERS; i++)
        assert_int_equal(got[i], MESSAGES / RECEIVERS);
    munmap(got, maplen);
    mbx_close(m);
    mbx_unlink("rr");
}

/* Opens round-robin mailbox `name`, lets a child wait in it (holding the
 * first ticket), kills the child, and sends 7. */
static mbx *message_behind_a_dead_turn(const char *name)
{
    mbx *m = open_rr(name);
    pid_t p = fork();
    if (p == 0) {
        test_child();
        uint32_t v;
        mbx_set_spin(m, 0); /* asleep, so counted: it holds the first ticket */
        mbx_recv(m, &v, sizeof(v), NULL, MBX_FOREVER);
        _exit(0);
    }
    await_receivers(m, 1);
    kill(p, SIGKILL);
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    uint32_t v = 7;
    assert_int_equal(mbx_send(m, &v, sizeof(v), 0, 0), 0);
    return m;
}

/* A receiver killed while it waits for its turn does not stall the rest. */
static void dead_receiver_loses_its_turn(void **state)
{
    (void)state;
    mbx *m = message_behind_a_dead_turn("rrdead");
    uint32_t v = 0;
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, 2000000000), sizeof(v));
    assert_int_equal(v, 7);
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, 10000000), -ETIMEDOUT);
    mbx_close(m);
    mbx_unlink("rrdead");
}

/* A receiver killed while it holds the turn does not make a receive that
 * does not wait fail: the turn of a dead holder passes on at once, not
 * only when someone waits. */
static void dead_turn_holder_does_not_stop_a_nonblocking_receive(void **state)
{
    (void)state;
    mbx *m = message_behind_a_dead_turn("rrdeadnb");
    uint32_t v = 0;
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
    assert_int_equal(v, 7);
    mbx_close(m);
    mbx_unlink("rrdeadnb");
}

/* The receiver whose turn it is keeps it while it sleeps: another receive
 * made the moment a message arrives, before the sleeper has woken, gets
 * -EAGAIN although the message is queued, and the sleeper gets it. (Fails
 * with the turn check removed; run a number of times, since the sleeper may
 * also win the race.) A stopped turn holder loses its turn instead:
 * security_test's stopped_round_robin_receiver_loses_its_turn. */
static void waiting_receiver_keeps_its_turn(void **state)
{
    (void)state;
    mbx *m = open_rr("rrturn");
    for (uint32_t round = 0; round < 20; round++) {
        pid_t p = fork();
        if (p == 0) {
            test_child();
            uint32_t v = 0;
            mbx_set_spin(m, 0);
            ssize_t n = mbx_recv(m, &v, sizeof(v), NULL, 10000000000ll);
            _exit(n == sizeof(v) && v == round ? 0 : 1);
        }
        await_receivers(m, 1);
        uint32_t v = round;
        assert_int_equal(mbx_send(m, &v, sizeof(v), 0, 0), 0);
        assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
        reap_ok(p);
    }
    mbx_close(m);
    mbx_unlink("rrturn");
}

static void *hold_lock_600ms(void *arg)
{
    mbx *m = arg;
    await_receivers(m, 1);
    struct seg *s = &shm_box_of(m)->seg;
    if (seg_lock(s, -1) != 0)
        return (void *)1;
    sleep_ms(600);
    seg_unlock(s);
    return NULL;
}

/* A round-robin receive whose time runs out while another holds the lock
 * (a peer, or an honest large copy) gives its ticket up all the same: it
 * stayed, naming a live process, and every later receive waited behind
 * it (a receive that does not wait said -EAGAIN with messages queued).
 * Found by a liveness review. */
static void timed_out_receive_behind_the_lock_gives_its_turn_up(void **state)
{
    (void)state;
    mbx *m = open_rr("rr-left");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hold_lock_600ms, m), 0);
    char buf[16];
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 200 * 1000000ll), -ETIMEDOUT);
    void *held;
    pthread_join(t, &held);
    assert_null(held);
    assert_int_equal(mbx_send(m, "x", 1, 0, MBX_NONBLOCK), 0);
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, MBX_NONBLOCK), 1);
    mbx_close(m);
    mbx_unlink("rr-left");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(three_receivers_take_turns),
        cmocka_unit_test(dead_receiver_loses_its_turn),
        cmocka_unit_test(dead_turn_holder_does_not_stop_a_nonblocking_receive),
        cmocka_unit_test(waiting_receiver_keeps_its_turn),
        cmocka_unit_test(timed_out_receive_behind_the_lock_gives_its_turn_up),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
