/* The wait/notify module (src/shm/wait.c) on its own: every kind waits
 * through it, so its rules are checked here once. */
#include "test_util.h"

#include "platform/platform.h"
#include "seg_fixture.h"
#include "shm/shm.h"
#include "shm/sleepers.h"
#include "shm/wait.h"

#include <errno.h>
#include <pthread.h>

static struct fixture f;
static uint64_t word;
static uint32_t closing;

static struct mb_ctx ctx(int64_t spin_ns)
{
    struct mb_ctx c = {.s = &f.s, .wait = {spin_ns, 0, &closing, NULL}};
    return c;
}

static struct wait_for watch_word(int64_t timeout_ns)
{
    struct seg_hot *hot = &f.s.hdr->hot;
    struct wait_for w = {.watch = &word,
                         .seen = __atomic_load_n(&word, __ATOMIC_SEQ_CST),
                         .futex = &hot->recv_futex,
                         .fseen = __atomic_load_n(&hot->recv_futex, __ATOMIC_SEQ_CST),
                         .waiters = &hot->recv_waiters,
                         .deadline = clock_deadline(timeout_ns)};
    return w;
}

static int setup(void **state)
{
    (void)state;
    fixture_make(&f, 64, 8);
    word = 0;
    closing = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fixture_free(&f);
    return 0;
}

static void deadline_ends_a_spin_and_a_sleep(void **state)
{
    (void)state;
    struct mb_ctx spin = ctx(-1), sleep = ctx(0);
    struct wait_for w = watch_word(20000000);
    int r;
    while ((r = wait_change(&spin, &w)) == 0) /* may look again */
        ;
    assert_int_equal(r, -ETIMEDOUT);
    w = watch_word(20000000);
    while ((r = wait_change(&sleep, &w)) == 0)
        ;
    assert_int_equal(r, -ETIMEDOUT);
}

static void *bump_later(void *arg)
{
    (void)arg;
    usleep(20000);
    __atomic_store_n(&word, 1, __ATOMIC_SEQ_CST);
    wake_all(&f.s, SEG_POLL_RECV);
    return NULL;
}

/* A sleeper is woken by the change and a wake: no deadline needed. */
static void change_and_wake_end_a_sleep(void **state)
{
    (void)state;
    struct mb_ctx c = ctx(0);
    struct wait_for w = watch_word(MBX_FOREVER);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, bump_later, NULL), 0);
    int r;
    while ((r = wait_change(&c, &w)) == 0 && __atomic_load_n(&word, __ATOMIC_SEQ_CST) == 0)
        ;
    assert_int_equal(r, 0);
    assert_int_equal(word, 1);
    pthread_join(t, NULL);
    assert_false(sleepers_any(&f.s.hdr->hot.recv_waiters));
}

static void removal_and_closing_end_a_wait(void **state)
{
    (void)state;
    struct mb_ctx c = ctx(-1);
    struct wait_for w = watch_word(MBX_FOREVER);
    f.s.hdr->hot.removed = 1;
    assert_int_equal(wait_change(&c, &w), 0); /* the caller looks again and says -EIDRM */
    f.s.hdr->hot.removed = 0;
    closing = 1;
    assert_int_equal(wait_change(&c, &w), -EBADF);
    c = ctx(0);
    assert_int_equal(wait_change(&c, &w), -EBADF);
}

static int looks;

static int look_third_time(void *arg)
{
    (void)arg;
    return ++looks >= 3;
}

/* What nobody signals is looked for after the spin, and every 10 ms of an
 * endless spin. */
static void look_hook_is_asked(void **state)
{
    (void)state;
    struct mb_ctx c = ctx(-1);
    struct wait_for w = watch_word(5000000000ll);
    w.look = look_third_time;
    looks = 0;
    assert_int_equal(wait_change(&c, &w), 0);
    assert_int_equal(looks, 3);
    c = ctx(1000);
    looks = 2;
    w = watch_word(5000000000ll);
    w.look = look_third_time;
    assert_int_equal(wait_change(&c, &w), 0); /* right after the spin */
    assert_int_equal(looks, 3);
}

/* A second watched word (a slot someone may repair) ends the wait too. */
static void second_word_is_watched(void **state)
{
    (void)state;
    uint64_t slot = 5;
    struct mb_ctx c = ctx(-1);
    struct wait_for w = watch_word(5000000000ll);
    w.also = &slot;
    w.also_seen = 4; /* it moved already */
    assert_int_equal(wait_change(&c, &w), 0);
}

static int always(void *arg)
{
    (void)arg;
    return 1;
}

/* Calls wait_change, as a caller does, again after each change (it looks,
 * finds nothing, and waits again), at most 1000 times. Returns its first
 * result other than 0, or 0. */
static int wait_again(const struct mb_ctx *c, const struct wait_for *w)
{
    int r = 0;
    for (int i = 0; i < 1000 && r == 0; i++)
        r = wait_change(c, w);
    return r;
}

/* A wait whose deadline has passed ends -ETIMEDOUT, though the mailbox
 * keeps changing: a caller whose peers change it again before each of its
 * waits (a filtered receive beside others that exchange messages; a
 * sender beside others that refill every slot freed) would otherwise wait
 * again for as long as they keep that up. Here the watched word (or the
 * second one, or the look) has always moved. */
static void deadline_ends_a_wait_on_a_changing_mailbox(void **state)
{
    (void)state;
    struct seg_hot *hot = &f.s.hdr->hot;
    int64_t spins[] = {-1, 20000, 0};
    for (unsigned i = 0; i < sizeof(spins) / sizeof(spins[0]); i++) {
        struct mb_ctx c = ctx(spins[i]);
        struct wait_for w = watch_word(1);
        usleep(1000);
        w.seen = word + 1;
        assert_int_equal(wait_again(&c, &w), -ETIMEDOUT);
        w.seen = word;
        uint64_t slot = 5;
        w.also = &slot;
        w.also_seen = 4;
        assert_int_equal(wait_again(&c, &w), -ETIMEDOUT);
        w.also = NULL;
        w.look = always;
        assert_int_equal(wait_again(&c, &w), -ETIMEDOUT);
        /* A sender beside a sleeping one gives its CPU up before it
         * sleeps: the change it then sees does not keep it either. */
        int ticket = sleepers_enter(&hot->send_waiters, &f.s.hdr->meta.sleep_epoch_ms[1]);
        w = watch_word(1);
        w.futex = &hot->send_futex;
        w.fseen = __atomic_load_n(&hot->send_futex, __ATOMIC_SEQ_CST);
        w.waiters = &hot->send_waiters;
        usleep(1000);
        w.seen = word + 1;
        assert_int_equal(wait_again(&c, &w), -ETIMEDOUT);
        sleepers_leave(&hot->send_waiters, ticket);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(deadline_ends_a_spin_and_a_sleep, setup, teardown),
        cmocka_unit_test_setup_teardown(change_and_wake_end_a_sleep, setup, teardown),
        cmocka_unit_test_setup_teardown(removal_and_closing_end_a_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(look_hook_is_asked, setup, teardown),
        cmocka_unit_test_setup_teardown(second_word_is_watched, setup, teardown),
        cmocka_unit_test_setup_teardown(deadline_ends_a_wait_on_a_changing_mailbox, setup,
                                        teardown),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
