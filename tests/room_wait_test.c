/* How a sender waits for room in a full mailbox.
 *
 * About to sleep, it gives its CPU up once first, but only while other
 * senders sleep on the same mailbox (fan-in with more senders than CPUs):
 * a lone sender, or a receiver, goes straight to sleep, so a program
 * beside it that keeps a CPU busy does not get the sender's turn
 * (shm/wait.c). This program's own sched_yield counts the calls the test
 * thread makes.
 *
 * Spinning on a full ring, it takes the next slot only once the receivers
 * freed half the ring, so that the two sides do not fight over one slot's
 * line (shm/ring/ring.c's wait_for_half), and the call's deadline bounds
 * that spin. */
#include "test_box.h"

#include "platform/platform.h"
#include "shm/shm.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_t counted;
static int counting;
static int yields;

int sched_yield(void)
{
    if (__atomic_load_n(&counting, __ATOMIC_ACQUIRE) && pthread_equal(pthread_self(), counted))
        yields++;
    return (int)syscall(SYS_sched_yield);
}

static void count_from_here(void)
{
    yields = 0;
    counted = pthread_self();
    __atomic_store_n(&counting, 1, __ATOMIC_RELEASE);
}

static int counted_yields(void)
{
    __atomic_store_n(&counting, 0, __ATOMIC_RELEASE);
    return yields;
}

/* A full mailbox of one slot, of the kind asked for, whose handle sleeps
 * at once when it waits. */
static mbx *full_box(const char *name, uint32_t kind)
{
    mbx_options o;
    mbx_options_init(&o);
    o.kind = kind;
    o.attr.capacity = 1;
    o.attr.max_msg_size = 64;
    mbx *m;
    mbx_unlink(name);
    assert_int_equal(mbx_open_opts(name, MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL, &o, &m), 0);
    assert_int_equal(mbx_set_spin(m, 0), 0);
    assert_int_equal(mbx_send(m, "x", 1, 0, MBX_NONBLOCK), 0);
    return m;
}

static uint32_t senders_asleep(mbx *m)
{
    mbx_stat st;
    assert_int_equal(mbx_stat_get(m, &st), 0);
    return st.senders_waiting;
}

/* One message sent through a handle of its own that spins spin_ns before
 * it sleeps, waiting timeout_ns; result: mbx_send's. */
struct sender {
    const char *name;
    const char *msg;
    int64_t spin_ns, timeout_ns;
    int result;
    pid_t tid; /* the sending thread's, once it runs */
};

static void *send_one(void *arg)
{
    struct sender *sd = arg;
    __atomic_store_n(&sd->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
    mbx *m;
    sd->result = mbx_open(sd->name, MBX_SEND, NULL, &m);
    if (sd->result == 0) {
        mbx_set_spin(m, sd->spin_ns);
        sd->result = mbx_send(m, sd->msg, 1, 0, sd->timeout_ns);
        mbx_close(m);
    }
    return NULL;
}

static void yields_only_beside_sleeping_senders(uint32_t kind)
{
    mbx *m = full_box("crowd", kind);
    char buf[64];

    /* Alone: straight to sleep, no yield. */
    count_from_here();
    assert_int_equal(mbx_send(m, "z", 1, 0, 20000000), -ETIMEDOUT);
    assert_int_equal(counted_yields(), 0);

    /* A receiver never yields. */
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, MBX_NONBLOCK), 1);
    count_from_here();
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 20000000), -ETIMEDOUT);
    assert_int_equal(counted_yields(), 0);

    /* Another sender asleep on the full mailbox: a yield before each sleep
     * (a ring's sleeps are cut into 10 ms looks for a dead slot holder). */
    assert_int_equal(mbx_send(m, "x", 1, 0, MBX_NONBLOCK), 0);
    struct sender sl = {"crowd", "y", 0, MBX_FOREVER, -1, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_one, &sl), 0);
    for (int i = 0; i < 5000 && senders_asleep(m) == 0; i++)
        usleep(1000);
    assert_int_equal(senders_asleep(m), 1);
    count_from_here();
    assert_int_equal(mbx_send(m, "z", 1, 0, 20000000), -ETIMEDOUT);
    int n = counted_yields();
    assert_true(n >= 1 && n <= 3);

    /* The sleeper's message goes in once there is room; nothing is lost. */
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, MBX_NONBLOCK), 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(sl.result, 0);
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, MBX_NONBLOCK), 1);
    assert_int_equal(buf[0], 'y');
    mbx_close(m);
    mbx_unlink("crowd");
}

static void ring_senders_yield_beside_sleepers(void **state)
{
    (void)state;
    yields_only_beside_sleeping_senders(MBX_KIND_RING);
}

static void heap_senders_yield_beside_sleepers(void **state)
{
    (void)state;
    yields_only_beside_sleeping_senders(MBX_KIND_HEAP);
}

static uint32_t queued(mbx *m)
{
    mbx_stat st;
    assert_int_equal(mbx_stat_get(m, &st), 0);
    return st.count;
}

/* Returns once thread t has used cpu_ns of CPU time (it spins); fails
 * the test after 20 s without. */
static void wait_spinning(pthread_t t, int64_t cpu_ns)
{
    clockid_t clk;
    assert_int_equal(pthread_getcpuclockid(t, &clk), 0);
    for (int i = 0; i < 20000; i++) {
        struct timespec ts;
        assert_int_equal(clock_gettime(clk, &ts), 0);
        if (ts.tv_sec * 1000000000ll + ts.tv_nsec >= cpu_ns)
            return;
        usleep(1000);
    }
    fail_msg("the sender did not spin");
}

/* The voluntary context switches of thread tid of this process so far
 * (each sleep is one). */
static long voluntary_switches(pid_t tid)
{
    char path[64], line[128];
    snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long n = -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
            break;
    fclose(f);
    assert_true(n >= 0);
    return n;
}

/* A ring mailbox of 8 slots, made afresh and filled. */
static mbx *full_ring(const char *name)
{
    mbx *m = test_box(name, 8, 64, 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(mbx_send(m, "f", 1, 0, MBX_NONBLOCK), 0);
    return m;
}

/* A ring of 8 slots, full: a spinning sender stays off while fewer than
 * four slots are free, then sends. */
static void spinning_sender_waits_for_half_the_ring(void **state)
{
    (void)state;
    mbx *m = full_ring("half");
    char buf[64];
    struct sender sp = {"half", "s", 5000000000ll, MBX_FOREVER, -1, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_one, &sp), 0);
    /* Spinning on the full ring, the only place it can burn this much CPU
     * time before a slot is freed. */
    wait_spinning(t, 10000000);
    for (int freed = 1; freed <= 3; freed++) {
        assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, MBX_NONBLOCK), 1);
        usleep(30000);
        /* Had it taken the first free slot, it would be back to 8 - freed + 1. */
        assert_int_equal(queued(m), 8 - freed);
    }
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, MBX_NONBLOCK), 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(sp.result, 0);
    assert_int_equal(queued(m), 5);
    for (int i = 0; i < 4; i++)
        assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, MBX_NONBLOCK), 1);
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, MBX_NONBLOCK), 1);
    assert_int_equal(buf[0], 's');
    mbx_close(m);
    mbx_unlink("half");
}

/* The spin for half the ring ends at the call's deadline, however long
 * the handle would spin. */
static void half_ring_spin_keeps_the_deadline(void **state)
{
    (void)state;
    mbx *m = full_ring("halfdl");
    struct sender sp = {"halfdl", "s", 5000000000ll, 30000000, -1, 0};
    int64_t start = clock_now_ns();
    send_one(&sp);
    int64_t took = clock_now_ns() - start;
    assert_int_equal(sp.result, -ETIMEDOUT);
    /* 30 ms asked; a 5 s spin would show. Generous for a loaded machine. */
    assert_true(took < 2500000000ll);
    assert_int_equal(queued(m), 8);
    mbx_close(m);
    mbx_unlink("halfdl");
}

/* A spin for half the ring that missed is the wait's only spin: the wait
 * for the slot then sleeps at once. Read from the handle's record of its
 * spins (shm/wait.c), where every spin that missed counts one. */
static void missed_half_spin_is_not_spun_twice(void **state)
{
    (void)state;
    mbx *m = full_ring("once");
    mbx *s;
    assert_int_equal(mbx_open("once", MBX_SEND, NULL, &s), 0);
    assert_int_equal(mbx_set_spin(s, 2000000), 0);
    struct shm_box *b = shm_box_of(s);
    assert_int_equal(b->spins & 0xff, 0);
    /* 8 ms: one sleep after the 2 ms spin (sleeps on a full ring last up
     * to 10 ms before the sender looks again). */
    assert_int_equal(mbx_send(s, "s", 1, 0, 8000000), -ETIMEDOUT);
    assert_int_equal(b->spins & 0xff, 1);
    mbx_close(s);
    mbx_close(m);
    mbx_unlink("once");
}

/* A handle that only spins (mbx_set_spin -1) keeps spinning after its spin
 * for half the ring missed: it never sleeps, so it is never counted among
 * the senders waiting asleep. */
static void spin_only_sender_never_sleeps(void **state)
{
    (void)state;
    mbx *m = full_ring("spinonly");
    char buf[64];
    struct sender sp = {"spinonly", "s", -1, MBX_FOREVER, -1, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_one, &sp), 0);
    /* Far past the 20 us half spin, and it never slept: no voluntary
     * context switch (a futex sleep is one). */
    wait_spinning(t, 50000000);
    assert_int_equal(senders_asleep(m), 0);
    assert_int_equal(voluntary_switches(__atomic_load_n(&sp.tid, __ATOMIC_ACQUIRE)), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, MBX_NONBLOCK), 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(sp.result, 0);
    mbx_close(m);
    mbx_unlink("spinonly");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ring_senders_yield_beside_sleepers),
        cmocka_unit_test(heap_senders_yield_beside_sleepers),
        cmocka_unit_test(spinning_sender_waits_for_half_the_ring),
        cmocka_unit_test(half_ring_spin_keeps_the_deadline),
        cmocka_unit_test(missed_half_spin_is_not_spun_twice),
        cmocka_unit_test(spin_only_sender_never_sleeps),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
