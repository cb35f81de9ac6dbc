/* kill -9 at every instruction of a stream's send and receive (the
 * MBX_STREAM kind: one sender and one receiver process at a time, bytes
 * in order; kill_every_step_test does the same for messages). A child
 * opens the end it walks (taking it over from the child killed before
 * it), is traced from the entry of stream_send or stream_recv, brought
 * to just before its K-th instruction (step_kill.h) and killed, for K = 0,
 * 1, 2, ... until it gets through.
 * After each kill the parent checks what kill -9 must never break: the
 * bytes of a send of no more than the buffer arrive all or none, in
 * order, never twice; bytes that left the stream are whole in the killed
 * receiver's buffer; the byte counts (sent_total, received_total: tail
 * and head), read at once, say exactly what happened; the receiver sees
 * the end of the stream when its sender died, and the next process takes
 * a dead one's end over. x86-64 only; elsewhere it skips. */
#include "test_util.h"

#include "mbx.h"
#include "platform/platform.h"
#include "shm/stream/stream.h"

#include <errno.h>
#include <string.h>

#if defined(__x86_64__)
#include "step_kill.h"

#define LEN         64 /* bytes of one send: a multiple of a long (trace_peek) */
#define FIRST_ID    0xffffu
#define MAX_STEPS   200000
#define WALK_MAX    1000  /* longer (sanitizers): walk at a stride... */
#define STEP_BUDGET 80000 /* ...of about this many steps in all */

static void fill(unsigned char *b, uint32_t id)
{
    for (size_t i = 0; i < LEN; i++)
        b[i] = (unsigned char)(id * 37 + i * 5 + 1);
}

static int whole(const unsigned char *b, uint32_t id)
{
    unsigned char want[LEN];
    fill(want, id);
    return memcmp(b, want, LEN) == 0;
}

/* Where a receiving child copies the bytes: read by the parent through
 * ptrace at the same address (fork). */
static unsigned char child_buf[LEN];

static void counts(mbx *m, uint64_t *sent, uint64_t *received)
{
    mbx_stat s;
    assert_int_equal(mbx_stat_get(m, &s), 0);
    *sent = s.sent_total;
    *received = s.received_total;
}

/* Counts over a walk. */
struct swalk {
    mbx *m; /* the parent's end: MBX_RECV when children send, else MBX_SEND */
    int sending;
    uintptr_t fn;        /* the call walked */
    struct step_kill sk; /* its path, how the kills get there (step_kill.h) */
    uint32_t id;         /* the bytes of this trial */
    long trials, moved;  /* kills, and of them those after which the bytes had moved */
};

/* One trial: a child sends (or receives) LEN bytes and is killed k
 * instructions into fn. Returns how many instructions the call took when
 * the child got through before the kill, else 0. */
static long trial(struct swalk *w, uintptr_t fn, long k)
{
    unsigned char msg[LEN];
    uint64_t sent0, recv0;
    counts(w->m, &sent0, &recv0);
    w->id++;
    fill(msg, w->id);
    if (!w->sending)
        assert_int_equal(mbx_send(w->m, msg, LEN, 0, MBX_NONBLOCK), 0);
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        mbx *c = NULL;
        /* The end the child killed before held: taken over. */
        if (mbx_open("stream", w->sending ? MBX_SEND : MBX_RECV, NULL, &c) != 0)
            _exit(3);
        /* A first send takes over what the child killed before left (its
         * thread's mark inside the send: telling that it is dead reads
         * /proc), so that every walked send is the same call. */
        unsigned char first[LEN];
        fill(first, FIRST_ID);
        if (w->sending && mbx_send(c, first, LEN, 0, MBX_NONBLOCK) != 0)
            _exit(4);
        (void)ident_self();
        (void)ident_thread();
        ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        raise(SIGSTOP);
        if (w->sending)
            mbx_send(c, msg, LEN, 0, MBX_NONBLOCK);
        else
            mbx_recv(c, child_buf, LEN, NULL, MBX_NONBLOCK);
        _exit(0);
    }
    assert_int_equal(trace_stopped(p), SIGSTOP);
    assert_int_equal(ptrace(PTRACE_SETOPTIONS, p, NULL, (void *)(long)PTRACE_O_EXITKILL), 0);
    uintptr_t ret, sp;
    trace_run_to(p, fn, &ret, &sp);
    long end = sk_move(&w->sk, p, k, ret, sp);
    unsigned char held[LEN];
    trace_peek(p, child_buf, held, sizeof(held));
    kill(p, SIGKILL);
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    uint64_t sent, received;
    counts(w->m, &sent, &received);

    if (w->sending) {
        /* What the killed sender wrote (its first send, then the walked
         * one's bytes or none), then the end of the stream. */
        unsigned char got[3 * LEN];
        size_t n = 0;
        for (;;) {
            ssize_t r = mbx_recv(w->m, got + n, sizeof(got) - n, NULL, MBX_NONBLOCK);
            if (r == 0)
                break;
            if (r < 0)
                fail_msg("killed %ld instructions into the send: the receive says %zd, not the "
                         "end of the stream (its sender is dead)",
                         k, r);
            n += (size_t)r;
        }
        if (n < LEN || !whole(got, FIRST_ID))
            fail_msg("killed %ld instructions into the send: its first send gave %zu bytes", k, n);
        sent0 += LEN;
        n -= LEN;
        memmove(got, got + LEN, n);
        if ((n != 0 && n != LEN) || (n == LEN && !whole(got, w->id)) || (end && n != LEN) ||
            sent - sent0 != n)
            fail_msg("killed %ld instructions into the send (it %s): %zu bytes came (%s), the "
                     "count of bytes sent moved by %llu at the kill",
                     k, end ? "got through" : "did not get through", n,
                     n == LEN && whole(got, w->id) ? "whole" : "not all or none",
                     (unsigned long long)(sent - sent0));
        w->moved += n == LEN;
    } else {
        /* The parent's own receiving end, taking the dead child's over:
         * the bytes are still queued, or whole in the child's buffer. */
        mbx *r = NULL;
        assert_int_equal(mbx_open("stream", MBX_RECV, NULL, &r), 0);
        unsigned char got[2 * LEN];
        ssize_t n = mbx_recv(r, got, sizeof(got), NULL, MBX_NONBLOCK);
        int left = n == LEN && whole(got, w->id);
        int taken = n == -EAGAIN;
        if ((!left && !taken) || (taken && !whole(held, w->id)) || (end && !taken) ||
            received - recv0 != (uint64_t)(taken ? LEN : 0))
            fail_msg("killed %ld instructions into the receive (it %s): the stream then gave "
                     "%zd, the child held %s, the count of bytes received moved by %llu at the "
                     "kill",
                     k, end ? "got through" : "did not get through", n,
                     whole(held, w->id) ? "them whole" : "not all",
                     (unsigned long long)(received - recv0));
        mbx_close(r); /* the next child takes the end */
        w->moved += taken;
    }
    w->trials++;
    return end;
}

/* A trial of the walked call (sk_walk's). */
static long walk_trial(void *ctx, long k)
{
    struct swalk *w = ctx;
    return trial(w, w->fn, k);
}

static void walk_stream(int sending, uintptr_t fn)
{
    mbx_unlink("stream"); /* left by a walk that failed */
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 8;
    a.max_msg_size = LEN;
    struct swalk w = {.sending = sending, .fn = fn};
    assert_int_equal(
        mbx_open("stream", MBX_CREATE | MBX_STREAM | (sending ? MBX_RECV : MBX_SEND), &a, &w.m), 0);
    /* The first call of a process on the stream is longer (its first
     * touch of the pages): the length is a second child's. */
    assert_true(trial(&w, fn, MAX_STEPS) > 0);
    long whole_len = trial(&w, fn, MAX_STEPS);
    assert_true(whole_len > 0);
    /* A call longer than WALK_MAX (builds with sanitizers: 3-8 times
     * longer, each step dearer) is walked at a stride. */
    long stride = 1;
    while (whole_len > WALK_MAX && whole_len * whole_len / (2 * stride) > STEP_BUDGET)
        stride++;
    /* Kills just before instruction 0, stride, 2 stride, ... of the path
     * the trial before recorded, and after it. */
    sk_walk(&w.sk, stride, MAX_STEPS, walk_trial, &w);
    assert_int_equal(w.sk.walked, (w.sk.rec.n + stride - 1) / stride);
    /* Killed at its first instruction, the child moved nothing; the
     * first two and the last got through. */
    assert_true(w.moved >= 3 && w.moved < w.trials);
    print_message("stream: a %s is %ld instructions; killed at every %s (%ld kills): the "
                  "bytes moved in %ld, all or none every time\n",
                  sending ? "send" : "receive", whole_len,
                  stride == 1 ? "instruction" : "few instructions", w.trials - 2, w.moved - 2);
    print_message("walk: %ld instructions, %ld killed at (kills on the path: %ld brought by a "
                  "breakpoint, %ld stepped); %ld trials off the recorded path, %ld recordings, "
                  "%ld walks again; %ld traps\n",
                  w.sk.rec.n, w.sk.walked, w.sk.by_break, w.sk.exact - w.sk.by_break, w.sk.off_path,
                  w.sk.recordings, w.sk.rewalks, w.sk.traps);
    sk_free(&w.sk);
    mbx_close(w.m);
    mbx_unlink("stream");
}

static void stream_send_killed_anywhere(void **state)
{
    (void)state;
    if (!trace_allowed())
        test_skip("this process may not trace its children (ptrace refused)");
    walk_stream(1, (uintptr_t)stream_send);
}

static void stream_recv_killed_anywhere(void **state)
{
    (void)state;
    if (!trace_allowed())
        test_skip("this process may not trace its children (ptrace refused)");
    walk_stream(0, (uintptr_t)stream_recv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stream_send_killed_anywhere),
        cmocka_unit_test(stream_recv_killed_anywhere),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
#else
int main(void)
{
    printf("kill_every_step_stream_test: x86-64 only (it reads the instruction pointer): "
           "skipped\n");
    return TEST_SKIPPED;
}
#endif
