/* Whole-system tests with several processes and threads on one mailbox:
 * every message arrives once, whole, highest priority first and in send
 * order within a priority and a sender. */
#include "test_util.h"

#include "mbx.h"

#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define MAX_SENDERS    8
#define MAX_PER_SENDER 40000
#define PRIOS          4

struct msg {
    int32_t sender; /* -1: stop sentinel */
    uint32_t counter;
    uint32_t len;
    uint32_t sum;
    unsigned char body[1000];
};

/* Shared by all processes of a run, in an anonymous shared mapping. */
struct board {
    uint8_t got[MAX_SENDERS][MAX_PER_SENDER]; /* times each message arrived */
    uint32_t bad;                             /* torn or out-of-order messages */
};

static struct board *board_new(void)
{
    struct board *b =
        mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(b != MAP_FAILED);
    return b;
}

static size_t make_msg(struct msg *m, int sender, uint32_t counter, unsigned seed)
{
    m->sender = sender;
    m->counter = counter;
    m->len = (seed * 2654435761u) % sizeof(m->body);
    for (uint32_t i = 0; i < m->len; i++)
        m->body[i] = (unsigned char)(seed + i);
    m->sum = test_sum(m->body, m->len);
    return offsetof(struct msg, body) + m->len;
}

static void sender(mbx *m, int id, int n, int random_prio)
{
    struct msg msg;
    for (int i = 0; i < n; i++) {
        size_t len = make_msg(&msg, id, (uint32_t)i, (unsigned)(id * 7919 + i));
        unsigned prio = random_prio ? (unsigned)(i * 31 + id) % PRIOS + 1 : 1;
        if (mbx_send(m, &msg, len, prio, MBX_FOREVER) != 0)
            _exit(2);
    }
}

/* Receives until a sentinel; checks wholeness and per-sender FIFO order
 * within each priority, as this receiver sees it. */
static void receiver(mbx *m, struct board *b)
{
    int64_t last[MAX_SENDERS][PRIOS + 1];
    memset(last, 0xff, sizeof(last));
    struct msg msg;
    mbx_msginfo info;
    for (;;) {
        ssize_t n = mbx_recv(m, &msg, sizeof(msg), &info, 20ll * 1000000000);
        if (n < 0)
            _exit(3);
        if (msg.sender == -1)
            return;
        if (msg.sender < 0 || msg.sender >= MAX_SENDERS || msg.counter >= MAX_PER_SENDER ||
            (size_t)n != offsetof(struct msg, body) + msg.len ||
            test_sum(msg.body, msg.len) != msg.sum || info.priority > PRIOS ||
            last[msg.sender][info.priority] >= (int64_t)msg.counter) {
            __atomic_fetch_add(&b->bad, 1, __ATOMIC_RELAXED);
            continue;
        }
        last[msg.sender][info.priority] = msg.counter;
        __atomic_fetch_add(&b->got[msg.sender][msg.counter], 1, __ATOMIC_RELAXED);
    }
}

static void wait_all(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        int st;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
}

static void run_many(int nsend, int nrecv, int per_sender, uint32_t capacity, int64_t spin)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = capacity;
    a.max_msg_size = sizeof(struct msg);
    mbx *m;
    assert_int_equal(mbx_open("many", MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL, &a, &m), 0);
    assert_int_equal(mbx_set_spin(m, spin), 0);
    struct board *b = board_new();
    pid_t recv_pids[8], send_pids[MAX_SENDERS];
    for (int r = 0; r < nrecv; r++)
        if ((recv_pids[r] = fork()) == 0) {
            receiver(m, b);
            _exit(0);
        }
    for (int s = 0; s < nsend; s++)
        if ((send_pids[s] = fork()) == 0) {
            sender(m, s, per_sender, 1);
            _exit(0);
        }
    wait_all(send_pids, nsend);
    struct msg stop = {.sender = -1};
    for (int r = 0; r < nrecv; r++)
        assert_int_equal(mbx_send(m, &stop, sizeof(stop), 0, MBX_FOREVER), 0);
    wait_all(recv_pids, nrecv);
    assert_int_equal(b->bad, 0);
    for (int s = 0; s < nsend; s++)
        for (int i = 0; i < per_sender; i++)
            if (b->got[s][i] != 1)
                fail_msg("sender %d message %d arrived %d times", s, i, b->got[s][i]);
    mbx_stat st;
    assert_int_equal(mbx_stat_get(m, &st), 0);
    assert_int_equal(st.count, 0);
    assert_int_equal(st.sent_total, (uint64_t)nsend * per_sender + nrecv);
    assert_int_equal(st.received_total, st.sent_total);
    munmap(b, sizeof(*b));
    assert_int_equal(mbx_close(m), 0);
    assert_int_equal(mbx_unlink("many"), 0);
}

static void four_senders_three_receivers(void **state)
{
    (void)state;
    run_many(4, 3, 20000, 64, 20000);
}

/* Capacity 1 and sleeping waiters: every wake-up path is exercised, and a
 * lost wake-up shows as a hang (the receivers give up after 20 s). */
static void tiny_capacity_sleeping(void **state)
{
    (void)state;
    run_many(3, 2, 5000, 1, 0);
}

/* Fan-in onto a small ring, senders sleeping at once: a receive wakes one
 * sleeping sender at a time, which passes the wake-up on while it leaves
 * room behind (wait.h's wake_for_room); nothing may be lost or wait for
 * ever. */
static void many_sleeping_senders_small_ring(void **state)
{
    (void)state;
    run_many(8, 1, 3000, 4, 0);
}

static void spinning_waiters(void **state)
{
    (void)state;
    run_many(2, 2, 10000, 8, MBX_FOREVER);
}

/* A child fills the mailbox; the parent sees strict priority order. */
static void priority_order_across_processes(void **state)
{
    (void)state;
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 5000;
    mbx *m;
    assert_int_equal(mbx_open("order", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &m), 0);
    pid_t p = fork();
    if (p == 0) {
        for (uint32_t i = 0; i < 5000; i++)
            if (mbx_send(m, &i, sizeof(i), (i * 7919) % 100, 0) != 0)
                _exit(1);
        _exit(0);
    }
    wait_all(&p, 1);
    uint32_t last_prio = MBX_PRIO_MAX, last = 0, v;
    mbx_msginfo info;
    for (int i = 0; i < 5000; i++) {
        assert_int_equal(mbx_recv(m, &v, sizeof(v), &info, 0), sizeof(v));
        assert_int_equal(info.sender_pid, p);
        assert_true(info.priority <= last_prio);
        if (info.priority == last_prio)
            assert_true(v > last);
        last_prio = info.priority;
        last = v;
    }
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, 0), -EAGAIN);
    mbx_close(m);
    mbx_unlink("order");
}

struct thread_arg {
    mbx *m;
    struct board *b;
    int id;
};

static void *thread_sender(void *p)
{
    struct thread_arg *t = p;
    struct msg msg;
    for (int i = 0; i < 5000; i++) {
        size_t len = make_msg(&msg, t->id, (uint32_t)i, (unsigned)i);
        if (mbx_send(t->m, &msg, len, 0, MBX_FOREVER) != 0)
            __atomic_fetch_add(&t->b->bad, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void *thread_receiver(void *p)
{
    struct thread_arg *t = p;
    struct msg msg;
    for (;;) {
        ssize_t n = mbx_recv(t->m, &msg, sizeof(msg), NULL, 20ll * 1000000000);
        if (n < 0 || msg.sender == -1) {
            if (n < 0)
                __atomic_fetch_add(&t->b->bad, 1, __ATOMIC_RELAXED);
            return NULL;
        }
        if (test_sum(msg.body, msg.len) != msg.sum)
            __atomic_fetch_add(&t->b->bad, 1, __ATOMIC_RELAXED);
        else
            __atomic_fetch_add(&t->b->got[msg.sender][msg.counter], 1, __ATOMIC_RELAXED);
    }
}

/* One handle shared by threads: handles are thread-safe. */
static void threads_share_a_handle(void **state)
{
    (void)state;
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 16;
    a.max_msg_size = sizeof(struct msg);
    mbx *m;
    assert_int_equal(mbx_open("thr", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &m), 0);
    struct board *b = board_new();
    pthread_t ts[4], tr[3];
    struct thread_arg args[4], rx = {m, b, 0};
    for (int i = 0; i < 3; i++)
        pthread_create(&tr[i], NULL, thread_receiver, &rx);
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){m, b, i};
        pthread_create(&ts[i], NULL, thread_sender, &args[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(ts[i], NULL);
    struct msg stop = {.sender = -1};
    for (int i = 0; i < 3; i++)
        assert_int_equal(mbx_send(m, &stop, sizeof(stop), 0, MBX_FOREVER), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(tr[i], NULL);
    assert_int_equal(b->bad, 0);
    for (int s = 0; s < 4; s++)
        for (int i = 0; i < 5000; i++)
            assert_int_equal(b->got[s][i], 1);
    munmap(b, sizeof(*b));
    mbx_close(m);
    mbx_unlink("thr");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(four_senders_three_receivers),
        cmocka_unit_test(tiny_capacity_sleeping),
        cmocka_unit_test(many_sleeping_senders_small_ring),
        cmocka_unit_test(spinning_waiters),
        cmocka_unit_test(priority_order_across_processes),
        cmocka_unit_test(threads_share_a_handle),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
