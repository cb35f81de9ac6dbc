/* Zero-copy messages: loans written and read in place, mixed with copies,
 * in priority order, and given back when their process dies. */
#include "test_box.h"

#include "mbx.h"
#include "shm/owner.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static mbx *open_box(const char *name, uint32_t capacity, uint64_t max)
{
    return test_box(name, capacity, max, 0);
}

static void loan_send_then_copy_receive(void **state)
{
    (void)state;
    mbx *m = open_box("l1", 8, 4096);
    void *buf;
    assert_int_equal(mbx_loan(m, 100, &buf), 0);
    memset(buf, 'L', 100);
    assert_int_equal(mbx_send_loan(m, buf, 100, 3, MBX_FOREVER), 0);
    assert_int_equal(mbx_send(m, "copy", 4, 1, 0), 0);
    char out[200];
    mbx_msginfo info;
    assert_int_equal(mbx_recv(m, out, sizeof(out), &info, 0), 100);
    assert_int_equal(info.priority, 3);
    assert_int_equal(out[0], 'L');
    assert_int_equal(out[99], 'L');
    /* And a copied message read in place. */
    const void *in;
    assert_int_equal(mbx_recv_loan(m, &in, &info, 0), 4);
    assert_memory_equal(in, "copy", 4);
    assert_int_equal(info.priority, 1);
    assert_int_equal(mbx_release(m, in), 0);
    assert_int_equal(mbx_release(m, in), -EINVAL); /* not lent any more */
    assert_int_equal(mbx_recv_loan(m, &in, NULL, 0), -EAGAIN);
    mbx_close(m);
    mbx_unlink("l1");
}

static void loans_in_priority_order(void **state)
{
    (void)state;
    mbx *m = open_box("l2", 16, 64);
    unsigned prios[] = {1, 7, 1, 3, 7};
    for (unsigned i = 0; i < 5; i++) {
        void *buf;
        assert_int_equal(mbx_loan(m, sizeof(i), &buf), 0);
        memcpy(buf, &i, sizeof(i));
        assert_int_equal(mbx_send_loan(m, buf, sizeof(i), prios[i], 0), 0);
    }
    unsigned want[] = {1, 4, 3, 0, 2};
    for (unsigned i = 0; i < 5; i++) {
        const void *in;
        assert_int_equal(mbx_recv_loan(m, &in, NULL, 0), sizeof(unsigned));
        unsigned v;
        memcpy(&v, in, sizeof(v));
        assert_int_equal(v, want[i]);
        assert_int_equal(mbx_release(m, in), 0);
    }
    mbx_close(m);
    mbx_unlink("l2");
}

static void bad_loans_are_refused(void **state)
{
    (void)state;
    mbx *m = open_box("l3", 4, 64), *tx;
    assert_int_equal(mbx_open("l3", MBX_SEND, NULL, &tx), 0);
    void *buf;
    char local[8];
    const void *in;
    assert_int_equal(mbx_loan(m, 65, &buf), -EMSGSIZE);
    assert_int_equal(mbx_loan(NULL, 1, &buf), -EINVAL);
    assert_int_equal(mbx_loan(m, 1, NULL), -EINVAL);
    assert_int_equal(mbx_send_loan(m, local, 1, 0, 0), -EINVAL);
    assert_int_equal(mbx_recv_loan(tx, &in, NULL, 0), -EBADF);
    assert_int_equal(mbx_release(tx, local), -EBADF);
    assert_int_equal(mbx_release(m, local), -EINVAL);
    assert_int_equal(mbx_loan(m, 8, &buf), 0);
    assert_int_equal(mbx_send_loan(m, buf, 9, 0, 0), -EINVAL); /* longer than the loan */
    assert_int_equal(mbx_send_loan(m, buf, 8, MBX_PRIO_MAX, 0), -EINVAL);
    assert_int_equal(mbx_send_loan(m, (char *)buf + 1, 7, 0, 0), -EINVAL);
    assert_int_equal(mbx_send_loan(m, buf, 8, 0, 0), 0);
    assert_int_equal(mbx_send_loan(m, buf, 8, 0, 0), -EINVAL); /* sent already */
    mbx_stat st;
    assert_int_equal(mbx_stat_get(m, &st), 0);
    assert_int_equal(st.count, 1);
    mbx_close(tx);
    mbx_close(m);
    mbx_unlink("l3");
}

/* A process dies holding unsent loans and an unreleased received one: the
 * mailbox gets them back and keeps working at full capacity. */
static void dead_process_loans_come_back(void **state)
{
    (void)state;
    mbx *m = open_box("l4", 4, 512);
    assert_int_equal(mbx_send(m, "x", 1, 0, 0), 0);
    pid_t p = fork();
    if (p == 0) {
        void *buf;
        const void *in;
        for (int i = 0; i < 3; i++)
            if (mbx_loan(m, 512, &buf) != 0)
                _exit(1);
        if (mbx_recv_loan(m, &in, NULL, 0) != 1)
            _exit(2);
        raise(SIGKILL);
    }
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFSIGNALED(st));
    char buf[512] = {0};
    for (int i = 0; i < 4; i++)
        assert_int_equal(mbx_send(m, buf, sizeof(buf), 0, 2000000000), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), sizeof(buf));
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), -EAGAIN);
    /* The dead process's received loan counts as received. */
    mbx_stat ms;
    assert_int_equal(mbx_stat_get(m, &ms), 0);
    assert_int_equal(ms.sent_total, 5);
    assert_int_equal(ms.received_total, 5);
    assert_int_equal(ms.count, 0);
    mbx_close(m);
    mbx_unlink("l4");
}

/* A received loan is mapped read-only: writing through it faults, and the
 * message stays as its sender wrote it. The write is tried in a forked
 * child, which inherits the mapping. */
static void received_loans_are_read_only(void **state)
{
    (void)state;
    mbx *m = open_box("l7", 4, 4096);
    void *out;
    assert_int_equal(mbx_loan(m, 100, &out), 0);
    memset(out, 'r', 100);
    assert_int_equal(mbx_send_loan(m, out, 100, 0, 0), 0);
    const void *in;
    assert_int_equal(mbx_recv_loan(m, &in, NULL, 0), 100);
    assert_ptr_not_equal(in, out); /* the same bytes through another mapping */
    pid_t p = fork();
    if (p == 0) {
        signal(SIGSEGV, SIG_DFL);       /* cmocka's handler would carry on testing */
        ((volatile char *)in)[0] = 'w'; /* must fault */
        _exit(3);
    }
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    /* SIGSEGV; under AddressSanitizer its handler reports it and exits 1. */
    assert_true((WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) ||
                (WIFEXITED(st) && WEXITSTATUS(st) == 1));
    assert_int_equal(((const char *)in)[0], 'r');
    assert_int_equal(mbx_release(m, out), -EINVAL); /* the writable address is no loan */
    assert_int_equal(mbx_release(m, in), 0);
    mbx_close(m);
    mbx_unlink("l7");
}

/* Large messages go by loan without a copy: 1 MiB messages through a ring
 * mailbox (a heap one in loan_test_heap), round the slots twice, each
 * message received whole, without a copy. */
static void large_loan(void **state)
{
    (void)state;
    const size_t big = 1 << 20;
    mbx *m = open_box("l5", 2, big);
    for (int i = 0; i < 5; i++) {
        void *buf;
        assert_int_equal(mbx_loan(m, big, &buf), 0);
        memset(buf, 0x50 + i, big);
        assert_int_equal(mbx_send_loan(m, buf, big, 0, 0), 0);
        const void *in;
        assert_int_equal(mbx_recv_loan(m, &in, NULL, 0), big);
        assert_int_equal(((const unsigned char *)in)[0], 0x50 + i);
        assert_int_equal(((const unsigned char *)in)[big - 1], 0x50 + i);
        assert_int_equal(mbx_release(m, in), 0);
    }
    mbx_close(m);
    mbx_unlink("l5");
}

/* Messages of 64 MiB and 256 MiB (capacity 1: a ring of one slot; a heap
 * mailbox in loan_test_heap) by loan: a process that dies holding the
 * loan gives it back, and the mailbox then carries a whole message of that
 * size. */
static void huge_loans_come_back(void **state)
{
    (void)state;
    const size_t sizes[] = {64u << 20, 256u << 20};
    for (int k = 0; k < 2; k++) {
        size_t n = sizes[k];
        mbx *m = open_box("l6", 1, n);
        pid_t p = fork();
        if (p == 0) {
            void *buf;
            if (mbx_loan(m, n, &buf) != 0)
                _exit(1);
            memset(buf, 1, 4096);
            raise(SIGKILL);
        }
        int st;
        assert_int_equal(waitpid(p, &st, 0), p);
        assert_true(WIFSIGNALED(st));
        void *buf;
        assert_int_equal(mbx_loan(m, n, &buf), 0);
        ((unsigned char *)buf)[n - 1] = 0x77;
        assert_int_equal(mbx_send_loan(m, buf, n, 0, 0), 0);
        const void *in;
        assert_int_equal(mbx_recv_loan(m, &in, NULL, 0), n);
        assert_int_equal(((const unsigned char *)in)[n - 1], 0x77);
        assert_int_equal(mbx_release(m, in), 0);
        mbx_close(m);
        mbx_unlink("l6");
    }
}

/* A loan taken before the mailbox was removed cannot be sent: -EIDRM, as
 * every call on a removed mailbox says. */
static void send_loan_after_unlink_is_idrm(void **state)
{
    (void)state;
    mbx *m = open_box("l8", 4, 64);
    void *buf;
    assert_int_equal(mbx_loan(m, 8, &buf), 0);
    memcpy(buf, "too late", 8);
    assert_int_equal(mbx_unlink("l8"), 0);
    assert_int_equal(mbx_send_loan(m, buf, 8, 0, 0), -EIDRM);
    assert_int_equal(mbx_send_loan(m, buf, 8, 0, 1000000), -EIDRM);
    mbx_close(m);
}

/* A loan of an owned mailbox whose owner was killed since: the send finds
 * the owner gone, says -EIDRM, and the mailbox is removed. */
static void send_loan_after_owner_death_is_idrm(void **state)
{
    (void)state;
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t owner = fork();
    if (owner == 0) {
        mbx *o;
        mbx_attr a;
        mbx_attr_init(&a);
        a.capacity = 4;
        a.max_msg_size = 64;
        if (mbx_open("l9", MBX_RECV | MBX_CREATE | MBX_OWNED, &a, &o) != 0)
            _exit(1);
        if (write(ready[1], "r", 1) != 1)
            _exit(2);
        test_await_kill();
        _exit(3);
    }
    assert_true(test_read_ready(ready[0]));
    mbx *m;
    assert_int_equal(mbx_open("l9", MBX_SEND, NULL, &m), 0);
    void *buf;
    assert_int_equal(mbx_loan(m, 8, &buf), 0);
    memcpy(buf, "orphaned", 8);
    assert_int_equal(kill(owner, SIGKILL), 0);
    int st;
    assert_int_equal(waitpid(owner, &st, 0), owner);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    /* A sender looks at the owner at most every OWNER_POLL_NS: wait that
     * out, so this send is one that must look. */
    struct timespec pause_ts = {0, OWNER_POLL_NS + 10000000};
    nanosleep(&pause_ts, NULL);
    assert_int_equal(mbx_send_loan(m, buf, 8, 0, 0), -EIDRM);
    assert_int_equal(mbx_stat_name("l9", &(mbx_stat){0}), -ENOENT);
    mbx_close(m);
    close(ready[0]);
    close(ready[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loan_send_then_copy_receive),
        cmocka_unit_test(loans_in_priority_order),
        cmocka_unit_test(bad_loans_are_refused),
        cmocka_unit_test(dead_process_loans_come_back),
        cmocka_unit_test(large_loan),
        cmocka_unit_test(received_loans_are_read_only),
        cmocka_unit_test(huge_loans_come_back),
        cmocka_unit_test(send_loan_after_unlink_is_idrm),
        cmocka_unit_test(send_loan_after_owner_death_is_idrm),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
