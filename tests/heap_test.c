/* The heap kind's queue on its own (src/shm/heap), on a segment in
 * private memory: order, capacity, filters, rendezvous withdrawal. */
#include "test_util.h"

#include "platform/platform.h"
#include "seg_fixture.h"
#include "shm/heap/heap_queue.h"
#include "shm/lock.h"
#include "shm/shm.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

static struct fixture f;
static uint32_t closing;

static struct mb_ctx ctx(void)
{
    struct mb_ctx c = {.s = &f.s, .wait = {0, 0, &closing, NULL}, .who = ident_self()};
    c.pid = ident_id(c.who);
    return c;
}

static void order_capacity_and_filters(void **state)
{
    (void)state;
    fixture_make(&f, 64, 3);
    struct mb_ctx c = ctx();
    int v;
    unsigned prios[3] = {1, 7, 1};
    for (v = 0; v < 3; v++)
        assert_int_equal(heap_send(&c, &v, sizeof(v), prios[v], MBX_NONBLOCK), 0);
    assert_int_equal(heap_send(&c, &v, sizeof(v), 0, MBX_NONBLOCK), -EAGAIN); /* full */
    assert_int_equal(heap_send(&c, &v, sizeof(v), 0, 1000000), -ETIMEDOUT);
    /* Someone else's messages only: none. */
    mbx_msginfo info;
    assert_int_equal(heap_recv(&c, 1, &v, sizeof(v), &info, MBX_NONBLOCK), -EAGAIN);
    int want[3] = {1, 0, 2}; /* priority 7 first, then 1 in send order */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(heap_recv(&c, c.pid, &v, sizeof(v), &info, MBX_NONBLOCK), sizeof(v));
        assert_int_equal(v, want[i]);
        assert_int_equal(info.priority, prios[v]);
        assert_int_equal(info.seq, (uint64_t)v + 1);
    }
    assert_int_equal(heap_recv(&c, 0, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
    /* A reply is taken only by its token. */
    c.reply_token = 77;
    assert_int_equal(heap_send(&c, &v, sizeof(v), 0, MBX_NONBLOCK), 0);
    c.reply_token = 0;
    c.want_token = 78;
    assert_int_equal(heap_recv(&c, 0, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
    c.want_token = 77;
    assert_int_equal(heap_recv(&c, 0, &v, sizeof(v), &info, MBX_NONBLOCK), sizeof(v));
    assert_int_equal(info.reply_token, 77);
    assert_int_equal(f.s.hdr->hot.count, 0);
    fixture_free(&f);
}

/* A rendezvous send nobody takes is withdrawn: never delivered. */
static void rendezvous_send_is_withdrawn(void **state)
{
    (void)state;
    fixture_make(&f, 64, MBX_RENDEZVOUS);
    f.s.capacity = MBX_RENDEZVOUS;
    struct mb_ctx c = ctx();
    int v = 5;
    assert_int_equal(heap_send(&c, &v, sizeof(v), 0, 2000000), -ETIMEDOUT);
    assert_int_equal(heap_send(&c, &v, sizeof(v), 0, MBX_NONBLOCK), -EAGAIN);
    assert_int_equal(heap_recv(&c, 0, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
    assert_int_equal(f.s.hdr->hot.count, 0);
    fixture_free(&f);
}

static uint32_t spin_word(unsigned dir)
{
    const struct seg_tail *t = (const struct seg_tail *)(f.s.base + SEG_TAIL_OFF);
    return __atomic_load_n(&t->spin_seq[dir], __ATOMIC_ACQUIRE);
}

/* Spinning waiters watch a word of their own, off the lock's line; it
 * moves once per change, and only after the lock is let go (a waiter that
 * saw it move finds the lock free). */
static void spin_words_move_after_the_lock(void **state)
{
    (void)state;
    fixture_make(&f, 64, 4);
    struct mb_ctx c = ctx();
    int v = 1;
    uint32_t recv0 = spin_word(SEG_POLL_RECV), send0 = spin_word(SEG_POLL_SEND);
    assert_int_equal(heap_send(&c, &v, sizeof(v), 0, MBX_NONBLOCK), 0);
    assert_int_equal(spin_word(SEG_POLL_RECV), recv0 + 1);
    assert_int_equal(spin_word(SEG_POLL_SEND), send0);
    assert_int_equal(heap_recv(&c, 0, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
    assert_int_equal(spin_word(SEG_POLL_SEND), send0 + 1);
    assert_int_equal(spin_word(SEG_POLL_RECV), recv0 + 1);
    /* Under the lock the change is told to the futex word only. */
    assert_int_equal(seg_lock(&f.s, -1), 0);
    uint32_t futex0 = f.s.hdr->hot.recv_futex;
    heap_changed(&f.s, SEG_POLL_RECV);
    assert_int_equal(f.s.hdr->hot.recv_futex, futex0 + 1);
    assert_int_equal(spin_word(SEG_POLL_RECV), recv0 + 1);
    heap_unlock(&f.s);
    assert_int_equal(spin_word(SEG_POLL_RECV), recv0 + 2);
    fixture_free(&f);
}

static void *bump_futex_only(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
    __atomic_fetch_add(&f.s.hdr->hot.recv_futex, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* A change that moves the futex word alone (a build that knows no spin
 * word) still ends a wait that only spins: it looks at the futex word
 * every few steps. */
static void spinning_wait_sees_the_futex_word(void **state)
{
    (void)state;
    fixture_make(&f, 64, 4);
    struct mb_ctx c = ctx();
    c.wait.spin_ns = -1; /* spins only: never sleeps on the futex */
    uint64_t seen = heap_seen(&f.s, 1);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, bump_futex_only, NULL), 0);
    int64_t t0 = clock_now_ns();
    assert_int_equal(heap_wait(&c, 1, seen, clock_deadline(60 * 1000000000ll)), 0);
    assert_true(clock_now_ns() - t0 < 30 * 1000000000ll); /* seen, not timed out */
    pthread_join(t, NULL);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(order_capacity_and_filters),
        cmocka_unit_test(rendezvous_send_is_withdrawn),
        cmocka_unit_test(spin_words_move_after_the_lock),
        cmocka_unit_test(spinning_wait_sees_the_futex_word),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
