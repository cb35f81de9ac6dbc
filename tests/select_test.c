/* Types and selective receive (mbx_send_typed, mbx_recv_select): which
 * message each selection takes, in what order, what stays queued, with
 * priorities, loans, blocking and timed receives, pollable descriptors,
 * and the refusals. Runs on ring and heap mailboxes (MBX_QUEUE). */
#include "test_box.h"

#include "mbx.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

/* Whether m is a ring mailbox (mbx_stat_ext says the kind). */
static int test_queue_is_ring(mbx *m)
{
    mbx_stat_ext st = {.size = sizeof(st)};
    assert_int_equal(mbx_stat_ext_get(m, &st), 0);
    return st.kind == MBX_KIND_RING;
}

static void send_t(mbx *m, const char *s, unsigned prio, uint64_t type)
{
    assert_int_equal(mbx_send_typed(m, s, strlen(s), prio, type, 0), 0);
}

/* Receives with (how, type) and checks the text and the type it carried. */
static void expect(mbx *m, int how, uint64_t type, const char *want, uint64_t want_type)
{
    char buf[64];
    uint64_t got_type = ~(uint64_t)0;
    ssize_t n = mbx_recv_select(m, how, type, buf, sizeof(buf), NULL, &got_type, 0);
    assert_int_equal(n, (ssize_t)strlen(want));
    assert_memory_equal(buf, want, (size_t)n);
    assert_int_equal(got_type, want_type);
}

static void expect_none(mbx *m, int how, uint64_t type)
{
    char buf[64];
    uint64_t got_type = 12345;
    assert_int_equal(mbx_recv_select(m, how, type, buf, sizeof(buf), NULL, &got_type, 0), -EAGAIN);
    assert_int_equal(got_type, 12345); /* untouched when nothing is taken */
}

static void drain_expect(mbx *m, const char *const *want, size_t n)
{
    char buf[64];
    for (size_t i = 0; i < n; i++) {
        ssize_t r = mbx_recv(m, buf, sizeof(buf), NULL, 0);
        assert_int_equal(r, (ssize_t)strlen(want[i]));
        assert_memory_equal(buf, want[i], (size_t)r);
    }
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), -EAGAIN);
}

static void equal_type_takes_the_first_of_it(void **state)
{
    (void)state;
    mbx *m = test_box("eq", 16, 64, 0);
    send_t(m, "a", 0, 1);
    send_t(m, "b", 0, 2);
    send_t(m, "c", 0, 3);
    send_t(m, "d", 0, 2);
    expect(m, MBX_SEL_EQ, 2, "b", 2);
    expect(m, MBX_SEL_EQ, 2, "d", 2);
    expect_none(m, MBX_SEL_EQ, 2);
    expect_none(m, MBX_SEL_EQ, 0);
    const char *rest[] = {"a", "c"}; /* the others, still in order */
    drain_expect(m, rest, 2);
    mbx_close(m);
    mbx_unlink("eq");
}

static void less_or_equal_takes_the_lowest_type_first(void **state)
{
    (void)state;
    mbx *m = test_box("le", 16, 64, 0);
    send_t(m, "a", 0, 5);
    send_t(m, "b", 0, 3);
    send_t(m, "c", 0, 4);
    send_t(m, "d", 0, 3);
    send_t(m, "e", 0, 7);
    expect(m, MBX_SEL_LE, 4, "b", 3);
    expect(m, MBX_SEL_LE, 4, "d", 3);
    expect(m, MBX_SEL_LE, 4, "c", 4);
    expect_none(m, MBX_SEL_LE, 4);
    expect(m, MBX_SEL_LE, UINT64_MAX, "a", 5);
    expect(m, MBX_SEL_LE, UINT64_MAX, "e", 7);
    expect_none(m, MBX_SEL_LE, UINT64_MAX);
    mbx_close(m);
    mbx_unlink("le");
}

static void not_equal_skips_one_type(void **state)
{
    (void)state;
    mbx *m = test_box("ne", 16, 64, 0);
    send_t(m, "a", 0, 1);
    send_t(m, "b", 0, 1);
    send_t(m, "c", 0, 2);
    send_t(m, "d", 0, 9);
    expect(m, MBX_SEL_NE, 1, "c", 2);
    expect(m, MBX_SEL_NE, 1, "d", 9);
    expect_none(m, MBX_SEL_NE, 1);
    expect(m, MBX_SEL_NE, 2, "a", 1);
    mbx_close(m);
    mbx_unlink("ne");
}

/* Within a selection, the mailbox's order: the highest priority first,
 * then the oldest. MBX_SEL_LE: the type first, then that order. */
static void priorities_order_within_a_selection(void **state)
{
    (void)state;
    mbx *m = test_box("pr", 16, 64, 0);
    send_t(m, "low1", 0, 1);
    send_t(m, "other", 9, 2);
    send_t(m, "high1", 5, 1);
    send_t(m, "high1b", 5, 1);
    expect(m, MBX_SEL_EQ, 1, "high1", 1);
    expect(m, MBX_SEL_EQ, 1, "high1b", 1);
    expect(m, MBX_SEL_EQ, 1, "low1", 1);
    send_t(m, "t3p7", 7, 3);
    send_t(m, "t1p0", 0, 1);
    send_t(m, "t1p4", 4, 1);
    expect(m, MBX_SEL_LE, 3, "t1p4", 1);
    expect(m, MBX_SEL_LE, 3, "t1p0", 1);
    expect(m, MBX_SEL_LE, 3, "other", 2);
    expect(m, MBX_SEL_LE, 3, "t3p7", 3);
    mbx_close(m);
    mbx_unlink("pr");
}

/* Untyped calls carry type 0, and a plain receive takes any type. */
static void untyped_calls_are_type_zero(void **state)
{
    (void)state;
    mbx *m = test_box("zero", 16, 64, 0);
    assert_int_equal(mbx_send(m, "u", 1, 0, 0), 0);
    send_t(m, "t", 0, 42);
    expect(m, MBX_SEL_EQ, 0, "u", 0);
    char buf[8];
    mbx_msginfo info;
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), &info, 0), 1);
    assert_int_equal(buf[0], 't');
    send_t(m, "v", 0, 7);
    expect(m, MBX_SEL_ANY, 0, "v", 7); /* MBX_SEL_ANY reports the type too */
    mbx_close(m);
    mbx_unlink("zero");
}

/* The last slot of a full mailbox is found as well as the first. */
static void selection_sees_a_full_mailbox(void **state)
{
    (void)state;
    mbx *m = test_box("full", 4, 64, 0);
    send_t(m, "1", 0, 1);
    send_t(m, "2", 0, 2);
    send_t(m, "3", 0, 3);
    send_t(m, "4", 0, 4);
    assert_int_equal(mbx_send_typed(m, "5", 1, 0, 5, 0), -EAGAIN);
    expect(m, MBX_SEL_EQ, 4, "4", 4);
    expect(m, MBX_SEL_EQ, 2, "2", 2);
    /* A ring's capacity is the span from the oldest queued message to the
     * newest (README, limits): the slots of "2" and "4" come back once "1",
     * older, is taken. A heap mailbox counts messages. */
    int ring = test_queue_is_ring(m);
    assert_int_equal(mbx_send_typed(m, "5", 1, 0, 5, 0), ring ? -EAGAIN : 0);
    if (ring) {
        expect(m, MBX_SEL_EQ, 1, "1", 1);
        /* "3" is now the oldest: positions up to three after it are free. */
        send_t(m, "5", 0, 5);
        send_t(m, "6", 0, 6);
        assert_int_equal(mbx_send_typed(m, "7", 1, 0, 7, 0), -EAGAIN);
        const char *rest[] = {"3", "5", "6"};
        drain_expect(m, rest, 3);
    } else {
        const char *rest[] = {"1", "3", "5"};
        drain_expect(m, rest, 3);
    }
    /* Around the ring's end several times: positions wrap. */
    for (int round = 0; round < 10; round++) {
        send_t(m, "x", 0, 1);
        send_t(m, "y", 0, 2);
        send_t(m, "z", 0, 3);
        expect(m, MBX_SEL_EQ, 3, "z", 3);
        expect(m, MBX_SEL_NE, 1, "y", 2);
        expect(m, MBX_SEL_LE, 9, "x", 1);
    }
    mbx_close(m);
    mbx_unlink("full");
}

static void loans_carry_and_select_types(void **state)
{
    (void)state;
    mbx *m = test_box("loan", 8, 4096, 0);
    void *p;
    assert_int_equal(mbx_loan(m, 3, &p), 0);
    memcpy(p, "one", 3);
    assert_int_equal(mbx_send_loan_typed(m, p, 3, 0, 11, 0), 0);
    assert_int_equal(mbx_loan(m, 3, &p), 0);
    memcpy(p, "two", 3);
    assert_int_equal(mbx_send_loan_typed(m, p, 3, 0, 22, 0), 0);
    const void *in;
    uint64_t t = 0;
    assert_int_equal(mbx_recv_loan_select(m, MBX_SEL_EQ, 22, &in, NULL, &t, 0), 3);
    assert_memory_equal(in, "two", 3);
    assert_int_equal(t, 22);
    assert_int_equal(mbx_release(m, in), 0);
    assert_int_equal(mbx_recv_loan_select(m, MBX_SEL_EQ, 22, &in, NULL, &t, 0), -EAGAIN);
    expect(m, MBX_SEL_ANY, 0, "one", 11); /* a loan received by copy */
    assert_int_equal(mbx_recv_loan_select(m, 7, 0, &in, NULL, NULL, 0), -EINVAL);
    assert_int_equal(mbx_recv_loan_select(m, -1, 0, &in, NULL, NULL, 0), -EINVAL);
    mbx_close(m);
    mbx_unlink("loan");
}

/* A blocked selecting receive wakes for its type only; the others stay. */
static void blocking_receive_waits_for_its_type(void **state)
{
    (void)state;
    mbx *m = test_box("block", 16, 64, 0);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t c = fork();
    if (c == 0) {
        test_child();
        assert_int_equal(write(ready[1], "r", 1), 1);
        char buf[16];
        uint64_t t = 0;
        ssize_t n = mbx_recv_select(m, MBX_SEL_EQ, 7, buf, sizeof(buf), NULL, &t, 10000000000);
        _exit(n == 5 && memcmp(buf, "seven", 5) == 0 && t == 7 ? 0 : 1);
    }
    assert_true(test_read_ready(ready[0]));
    send_t(m, "one", 0, 1);
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    send_t(m, "seven", 0, 7);
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    const char *rest[] = {"one"};
    drain_expect(m, rest, 1);
    close(ready[0]);
    close(ready[1]);
    mbx_close(m);
    mbx_unlink("block");
}

static void timed_receive_times_out_and_loses_nothing(void **state)
{
    (void)state;
    mbx *m = test_box("timed", 16, 64, 0);
    send_t(m, "keep", 0, 1);
    char buf[16];
    assert_int_equal(mbx_recv_select(m, MBX_SEL_EQ, 2, buf, sizeof(buf), NULL, NULL, 30000000),
                     -ETIMEDOUT);
    const char *rest[] = {"keep"};
    drain_expect(m, rest, 1);
    mbx_close(m);
    mbx_unlink("timed");
}

/* A selecting receive that finds nothing quiets the descriptor until a
 * new message comes (an event loop waiting for one type must not spin on
 * the others); one that takes something makes it readable again while
 * anything is queued. */
static void descriptor_follows_selections(void **state)
{
    (void)state;
    mbx *m = test_box("fd", 16, 64, 0);
    int fd = mbx_fd(m, MBX_RECV);
    assert_true(fd >= 0);
    send_t(m, "a", 0, 1);
    struct pollfd p = {fd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 5000), 1);
    expect_none(m, MBX_SEL_EQ, 2);
    assert_int_equal(poll(&p, 1, 0), 0);
    send_t(m, "b", 0, 2);
    assert_int_equal(poll(&p, 1, 5000), 1);
    expect(m, MBX_SEL_EQ, 2, "b", 2);
    assert_int_equal(poll(&p, 1, 5000), 1); /* "a" is still queued */
    expect(m, MBX_SEL_EQ, 1, "a", 1);
    expect_none(m, MBX_SEL_ANY, 0);
    assert_int_equal(poll(&p, 1, 0), 0);
    mbx_close(m);
    mbx_unlink("fd");
}

static void streams_and_bad_selections_are_refused(void **state)
{
    (void)state;
    mbx *s;
    mbx_unlink("bytes");
    assert_int_equal(mbx_open("bytes", MBX_SEND | MBX_RECV | MBX_CREATE | MBX_STREAM, NULL, &s), 0);
    assert_int_equal(mbx_send_typed(s, "ab", 2, 0, 3, 0), -EINVAL);
    char buf[8];
    assert_int_equal(mbx_recv_select(s, MBX_SEL_EQ, 0, buf, sizeof(buf), NULL, NULL, 0), -EINVAL);
    assert_int_equal(mbx_send_typed(s, "ab", 2, 0, 0, 0), 0); /* type 0 is a plain send */
    uint64_t t = 99;
    assert_int_equal(mbx_recv_select(s, MBX_SEL_ANY, 0, buf, sizeof(buf), NULL, &t, 0), 2);
    assert_int_equal(t, 0);
    mbx_close(s);
    mbx_unlink("bytes");

    mbx *m = test_box("bad", 4, 64, 0);
    send_t(m, "x", 0, 1);
    assert_int_equal(mbx_recv_select(m, 4, 1, buf, sizeof(buf), NULL, NULL, 0), -EINVAL);
    assert_int_equal(mbx_recv_select(m, -1, 1, buf, sizeof(buf), NULL, NULL, 0), -EINVAL);
    assert_int_equal(mbx_recv_select(NULL, MBX_SEL_EQ, 1, buf, sizeof(buf), NULL, NULL, 0),
                     -EINVAL);
    assert_int_equal(mbx_send_typed(NULL, "x", 1, 0, 1, 0), -EINVAL);
    const char *rest[] = {"x"}; /* refusals take nothing */
    drain_expect(m, rest, 1);
    mbx_close(m);

    mbx *ro;
    assert_int_equal(mbx_open("bad", MBX_SEND, NULL, &ro), 0);
    assert_int_equal(mbx_recv_select(ro, MBX_SEL_EQ, 1, buf, sizeof(buf), NULL, NULL, 0), -EBADF);
    mbx_close(ro);
    mbx_unlink("bad");
}

#define SYSV_TOP ((uint64_t)INT64_MAX) /* the highest type MBX_SEL_SYSV takes */

/* MBX_SEL_SYSV never takes type 0 nor a type above INT64_MAX, with any
 * MBX_SEL_*: they stay queued, in order, with their types. MBX_SEL_LE
 * takes the lowest type it may take, not type 0. */
static void sysv_flag_skips_types_sysv_has_not(void **state)
{
    (void)state;
    mbx *m = test_box("sysv", 16, 64, 0);
    send_t(m, "zero", 0, 0); /* at the head, and the lowest type */
    send_t(m, "five", 0, 5);
    send_t(m, "high", 0, SYSV_TOP + 1);
    send_t(m, "three", 0, 3);
    send_t(m, "max", 0, UINT64_MAX);
    send_t(m, "top", 0, SYSV_TOP);
    send_t(m, "one", 0, 1);
    expect(m, MBX_SEL_ANY | MBX_SEL_SYSV, 0, "five", 5);
    expect(m, MBX_SEL_LE | MBX_SEL_SYSV, UINT64_MAX, "one", 1);
    expect(m, MBX_SEL_LE | MBX_SEL_SYSV, 4, "three", 3);
    expect_none(m, MBX_SEL_LE | MBX_SEL_SYSV, 4);
    expect(m, MBX_SEL_NE | MBX_SEL_SYSV, 7, "top", SYSV_TOP);
    expect_none(m, MBX_SEL_ANY | MBX_SEL_SYSV, 0);
    expect_none(m, MBX_SEL_LE | MBX_SEL_SYSV, UINT64_MAX);
    expect_none(m, MBX_SEL_NE | MBX_SEL_SYSV, 0);
    expect_none(m, MBX_SEL_EQ | MBX_SEL_SYSV, 0);
    expect_none(m, MBX_SEL_EQ | MBX_SEL_SYSV, UINT64_MAX);
    /* One sent after them is taken. */
    send_t(m, "two", 0, 2);
    expect(m, MBX_SEL_LE | MBX_SEL_SYSV, SYSV_TOP, "two", 2);
    expect(m, MBX_SEL_ANY, 0, "zero", 0);
    expect(m, MBX_SEL_ANY, 0, "high", SYSV_TOP + 1);
    expect(m, MBX_SEL_ANY, 0, "max", UINT64_MAX);
    expect_none(m, MBX_SEL_ANY, 0);
    mbx_close(m);
    mbx_unlink("sysv");
}

/* With priorities: the mailbox's order among the types it may take, and
 * MBX_SEL_LE's lowest type first, past a more urgent type 0. */
static void sysv_flag_keeps_the_order(void **state)
{
    (void)state;
    mbx *m = test_box("sysvp", 16, 64, 0);
    /* Around the ring's end several times, past a type 0 each round. */
    for (int round = 0; round < 20; round++) {
        send_t(m, "y", 0, 0);
        send_t(m, "x", (unsigned)round % 3, 1);
        send_t(m, "w", 0, 7);
        expect(m, MBX_SEL_LE | MBX_SEL_SYSV, 9, "x", 1);
        expect(m, MBX_SEL_ANY | MBX_SEL_SYSV, 0, "w", 7);
        expect(m, MBX_SEL_EQ, 0, "y", 0);
    }
    send_t(m, "z9", 9, 0);
    send_t(m, "t2p1", 1, 2);
    send_t(m, "h8", 8, UINT64_MAX);
    send_t(m, "t3p5", 5, 3);
    send_t(m, "t2p4", 4, 2);
    expect(m, MBX_SEL_ANY | MBX_SEL_SYSV, 0, "t3p5", 3);
    expect(m, MBX_SEL_LE | MBX_SEL_SYSV, UINT64_MAX, "t2p4", 2);
    expect(m, MBX_SEL_NE | MBX_SEL_SYSV, 9, "t2p1", 2);
    expect_none(m, MBX_SEL_NE | MBX_SEL_SYSV, 9);
    const char *rest[] = {"z9", "h8"};
    drain_expect(m, rest, 2);
    mbx_close(m);
    mbx_unlink("sysvp");
}

/* Loans, waits and refusals with MBX_SEL_SYSV. */
static void sysv_flag_loans_waits_and_refusals(void **state)
{
    (void)state;
    mbx *m = test_box("sysvl", 8, 4096, 0);
    send_t(m, "zero", 0, 0);
    const void *in;
    uint64_t t = 0;
    assert_int_equal(mbx_recv_loan_select(m, MBX_SEL_ANY | MBX_SEL_SYSV, 0, &in, NULL, &t, 0),
                     -EAGAIN);
    char buf[16];
    assert_int_equal(mbx_recv_select(m, MBX_SEL_LE | MBX_SEL_SYSV, UINT64_MAX, buf, sizeof(buf),
                                     NULL, NULL, 30000000),
                     -ETIMEDOUT);
    send_t(m, "six", 0, 6);
    assert_int_equal(mbx_recv_loan_select(m, MBX_SEL_ANY | MBX_SEL_SYSV, 0, &in, NULL, &t, 0), 3);
    assert_memory_equal(in, "six", 3);
    assert_int_equal(t, 6);
    assert_int_equal(mbx_release(m, in), 0);
    /* Bits besides MBX_SEL_SYSV and an MBX_SEL_* value are refused. */
    assert_int_equal(mbx_recv_select(m, MBX_SEL_SYSV | 4, 0, buf, sizeof(buf), NULL, NULL, 0),
                     -EINVAL);
    assert_int_equal(mbx_recv_select(m, MBX_SEL_SYSV << 1, 0, buf, sizeof(buf), NULL, NULL, 0),
                     -EINVAL);
    assert_int_equal(mbx_recv_loan_select(m, MBX_SEL_SYSV | 0x200, 0, &in, NULL, NULL, 0), -EINVAL);
    const char *rest[] = {"zero"};
    drain_expect(m, rest, 1);
    mbx_close(m);
    mbx_unlink("sysvl");

    mbx *s; /* on a stream, a selection like any other */
    mbx_unlink("sbytes");
    assert_int_equal(mbx_open("sbytes", MBX_SEND | MBX_RECV | MBX_CREATE | MBX_STREAM, NULL, &s),
                     0);
    assert_int_equal(mbx_send(s, "ab", 2, 0, 0), 0);
    assert_int_equal(
        mbx_recv_select(s, MBX_SEL_ANY | MBX_SEL_SYSV, 0, buf, sizeof(buf), NULL, NULL, 0),
        -EINVAL);
    assert_int_equal(mbx_recv(s, buf, sizeof(buf), NULL, 0), 2);
    mbx_close(s);
    mbx_unlink("sbytes");
}

/* A blocked receive with MBX_SEL_SYSV sleeps past type 0 and wakes for a
 * type it may take. */
static void sysv_flag_blocking_receive_waits(void **state)
{
    (void)state;
    mbx *m = test_box("sysvb", 16, 64, 0);
    send_t(m, "zero", 0, 0);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t c = fork();
    if (c == 0) {
        test_child();
        assert_int_equal(write(ready[1], "r", 1), 1);
        char buf[16];
        uint64_t t = 0;
        ssize_t n = mbx_recv_select(m, MBX_SEL_ANY | MBX_SEL_SYSV, 0, buf, sizeof(buf), NULL, &t,
                                    10000000000);
        _exit(n == 5 && memcmp(buf, "seven", 5) == 0 && t == 7 ? 0 : 1);
    }
    assert_true(test_read_ready(ready[0]));
    send_t(m, "max", 0, UINT64_MAX);
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    send_t(m, "seven", 0, 7);
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    const char *rest[] = {"zero", "max"};
    drain_expect(m, rest, 2);
    close(ready[0]);
    close(ready[1]);
    mbx_close(m);
    mbx_unlink("sysvb");
}

/* Two receivers, each selecting its own type, and senders of both: each
 * gets exactly its messages, each sender's in order. */
#define PER_TYPE 2000
static void receivers_split_by_type(void **state)
{
    (void)state;
    mbx *m = test_box("split", 8, 64, 0);
    pid_t kids[4];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            test_child();
            uint64_t want = (uint64_t)k + 1;
            for (uint32_t i = 0; i < PER_TYPE; i++) {
                uint32_t v;
                uint64_t t;
                ssize_t n =
                    mbx_recv_select(m, MBX_SEL_EQ, want, &v, sizeof(v), NULL, &t, 20000000000);
                if (n != sizeof(v) || t != want || v != i)
                    _exit(10 + k);
            }
            _exit(0);
        }
    }
    for (int k = 0; k < 2; k++) {
        kids[2 + k] = fork();
        if (kids[2 + k] == 0) {
            test_child();
            for (uint32_t i = 0; i < PER_TYPE; i++)
                if (mbx_send_typed(m, &i, sizeof(i), 0, (uint64_t)k + 1, 20000000000) != 0)
                    _exit(20 + k);
            _exit(0);
        }
    }
    for (int k = 0; k < 4; k++) {
        int st;
        assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("child %d: status %#x", k, st);
    }
    mbx_stat st;
    assert_int_equal(mbx_stat_get(m, &st), 0);
    assert_int_equal(st.count, 0);
    mbx_close(m);
    mbx_unlink("split");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(equal_type_takes_the_first_of_it),
        cmocka_unit_test(less_or_equal_takes_the_lowest_type_first),
        cmocka_unit_test(not_equal_skips_one_type),
        cmocka_unit_test(priorities_order_within_a_selection),
        cmocka_unit_test(untyped_calls_are_type_zero),
        cmocka_unit_test(selection_sees_a_full_mailbox),
        cmocka_unit_test(loans_carry_and_select_types),
        cmocka_unit_test(blocking_receive_waits_for_its_type),
        cmocka_unit_test(timed_receive_times_out_and_loses_nothing),
        cmocka_unit_test(descriptor_follows_selections),
        cmocka_unit_test(streams_and_bad_selections_are_refused),
        cmocka_unit_test(receivers_split_by_type),
        cmocka_unit_test(sysv_flag_skips_types_sysv_has_not),
        cmocka_unit_test(sysv_flag_keeps_the_order),
        cmocka_unit_test(sysv_flag_loans_waits_and_refusals),
        cmocka_unit_test(sysv_flag_blocking_receive_waits),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
