/* kill -9 at every instruction of the calls that count pollers armed
 * (poll.h): a poller arming its entry (poll_arm: count, then arm), one
 * disarming it (poll_disarm: disarm, then uncount), and a changer telling
 * the pollers of a direction whose count says some are armed while none is
 * (poll_signal: it starts the count again). A child is traced (ptrace)
 * from the entry of the call, brought K instructions into it and killed,
 * for K = 0, 1, 2, ... until a child gets through the whole call (the
 * call's path recorded once by single steps, each kill then reached by a
 * breakpoint on it: step_kill.h). After each kill
 * the parent checks what no kill may break: within three changes of each
 * direction the count is back to 0 (a count left over made every later
 * change look at all 48 entries, for good), it stays there, and a poller
 * of the parent's is then woken at every change and counted exactly once.
 * And one interleaving of a poller arming, a restart and a killed teller,
 * walked step by step (deaf_after_killed_teller).
 * x86-64 only (it reads the instruction pointer); elsewhere it skips. */
#include "test_util.h"

#include "mbx.h"
#include "shm/poll.h"
#include "shm/poller.h"
#include "shm/shm.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>

#if defined(__x86_64__)
#include "step_kill.h"

#define MAX_STEPS 100000 /* a call this long is a hang */

/* The call walked: TELL is a changer telling a live poller of the
 * parent's (poll_signal with one entry armed). */
enum how { ARM, DISARM, SIGNAL, TELL };

/* The count of armed pollers of direction dir, without its epoch. */
static unsigned armed_count(const struct seg_hot *hot, unsigned dir)
{
    return __atomic_load_n(&hot->armed[dir], __ATOMIC_SEQ_CST) & POLL_COUNTS;
}

static int readable(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    int n;
    while ((n = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    return n == 1;
}

/* A new mailbox `name` of 8 messages of 64 bytes (one left by an earlier
 * walk removed first), opened to send and receive. */
static mbx *fresh_box(const char *name)
{
    mbx_unlink(name);
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 8;
    a.max_msg_size = 64;
    mbx *m = NULL;
    assert_int_equal(mbx_open(name, MBX_SEND | MBX_RECV | MBX_CREATE, &a, &m), 0);
    return m;
}

static void send_u32(mbx *m, uint32_t v)
{
    assert_int_equal(mbx_send(m, &v, sizeof(v), 0, 10000000000ll), 0);
}

/* One change of each direction: a message in, and taken out again. */
static void change_both(mbx *m)
{
    uint32_t v;
    send_u32(m, 1);
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
}

/* After a changer was killed telling the parent's poller: a change made
 * after the kill wakes it (a changer killed between taking the entry from
 * armed and sending its datagram left it neither armed nor told, and no
 * later change told it: an event loop waiting on it slept through every
 * message until its own process called the mailbox); then it is woken at
 * every change, and the armed count comes back to what it should be. */
static void check_live_poller(mbx *m, int fd, long k)
{
    struct seg_hot *hot = &shm_box_of(m)->seg.hdr->hot;
    uint32_t v;
    for (int round = 0; round < 3; round++) {
        send_u32(m, 3);
        if (!readable(fd, 10000))
            fail_msg("killed %ld instructions into a tell: the live poller was not woken by a "
                     "change made after the kill (round %d)",
                     k, round);
        assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
        assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
        if (readable(fd, 0)) /* a datagram the dead changer had sent: reported once more */
            assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
        assert_false(readable(fd, 0));
    }
    /* Told and not re-armed (no receive): the next changes find nobody
     * armed and set the count right (what the kill left over goes). */
    for (int i = 0; i < 3; i++)
        send_u32(m, 4);
    if (armed_count(hot, SEG_POLL_RECV) != 0)
        fail_msg("killed %ld instructions into a tell: armed count %u with nobody armed", k,
                 armed_count(hot, SEG_POLL_RECV));
    while (mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK) == sizeof(v))
        ;
    assert_int_equal(armed_count(hot, SEG_POLL_RECV), 1);
}

/* The child: its own handle and receive descriptor, its entry set up for
 * the call walked, then stopped for the parent to trace; then the call. */
static void child(const char *name, enum how how)
{
    test_child();
    mbx *r = NULL;
    if (mbx_open(name, MBX_SEND | MBX_RECV, NULL, &r) != 0)
        _exit(2);
    struct shm_box *b = shm_box_of(r);
    if (how == TELL) { /* a changer only: the poller told is the parent's */
        (void)ident_self();
        (void)ident_thread();
        ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        raise(SIGSTOP);
        poll_signal(&b->seg, SEG_POLL_RECV);
        _exit(0);
    }
    if (mbx_fd(r, MBX_RECV) < 0)
        _exit(2);
    struct seg_poller *e = &b->seg.hdr->pollers[b->poller[SEG_POLL_RECV]->slot];
    (void)ident_self(); /* learnt once, not in the walked call */
    if (how != DISARM)
        poll_disarm(&b->seg, e); /* as told: to arm again */
    if (how == SIGNAL)           /* what a kill left: counted, nobody armed */
        __atomic_fetch_add(&b->seg.hdr->hot.armed[SEG_POLL_RECV], 1, __ATOMIC_SEQ_CST);
    ptrace(PTRACE_TRACEME, 0, NULL, NULL);
    raise(SIGSTOP);
    if (how == ARM)
        poll_arm(&b->seg, e, SEG_POLL_RECV);
    else if (how == DISARM)
        poll_disarm(&b->seg, e);
    else
        poll_signal(&b->seg, SEG_POLL_RECV);
    _exit(0);
}

/* Kills that left the parent's entry being told (TELL): the walk's proof
 * that it killed changers between taking the entry and clearing it. */
static long killed_telling;

/* The walked call's path and how a trial gets to its instruction k
 * (step_kill.h): single steps, or a breakpoint on the recorded path. */
static struct step_kill walk_sk;

/* One trial: the child killed k instructions into fn; then the checks.
 * Returns how many instructions the child took to get through fn, or 0
 * when it did not within k. */
static long kill_at(const char *name, uintptr_t fn, long k, enum how how)
{
    mbx *m = fresh_box(name);
    struct seg_hot *hot = &shm_box_of(m)->seg.hdr->hot;
    int live = -1; /* TELL: the parent's receive descriptor, armed */
    struct seg_poller *pe = &shm_box_of(m)->seg.hdr->pollers[SEG_POLLERS - 1];
    if (how == TELL) {
        /* Its entry the last one, so that its tell is at the end of the
         * call, which the walk kills at densely: the other entries are
         * held (by us, alive) while it claims one, then freed. */
        struct seg_poller *all = shm_box_of(m)->seg.hdr->pollers;
        for (unsigned i = 0; i < SEG_POLLERS - 1; i++)
            __atomic_store_n(&all[i].who, ident_self(), __ATOMIC_SEQ_CST);
        live = mbx_fd(m, MBX_RECV);
        for (unsigned i = 0; i < SEG_POLLERS - 1; i++)
            __atomic_store_n(&all[i].who, 0, __ATOMIC_SEQ_CST);
        assert_int_equal(shm_box_of(m)->poller[SEG_POLL_RECV]->slot, SEG_POLLERS - 1);
        assert_true(live >= 0);
        assert_false(readable(live, 0));
        assert_int_equal(armed_count(hot, SEG_POLL_RECV), 1);
    }
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0)
        child(name, how);
    assert_int_equal(trace_stopped(p), SIGSTOP);
    assert_int_equal(ptrace(PTRACE_SETOPTIONS, p, NULL, (void *)(long)PTRACE_O_EXITKILL), 0);
    uintptr_t ret, sp;
    trace_run_to(p, fn, &ret, &sp);
    long took = sk_move(&walk_sk, p, k, ret, sp);
    kill(p, SIGKILL);
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    if (how == TELL) {
        if (poll_telling_for(__atomic_load_n(&pe->armed, __ATOMIC_SEQ_CST)))
            killed_telling++;
        check_live_poller(m, live, k);
        mbx_close(m);
        mbx_unlink(name);
        return took;
    }

    for (int i = 0; i < 3 && armed_count(hot, SEG_POLL_RECV) + armed_count(hot, SEG_POLL_SEND); i++)
        change_both(m);
    if (armed_count(hot, SEG_POLL_RECV) != 0 || armed_count(hot, SEG_POLL_SEND) != 0)
        fail_msg("killed %ld instructions into the call: armed count %u/%u after 3 changes", k,
                 armed_count(hot, SEG_POLL_RECV), armed_count(hot, SEG_POLL_SEND));
    for (int i = 0; i < 5; i++)
        change_both(m);
    assert_int_equal(armed_count(hot, SEG_POLL_RECV), 0);

    /* A poller of ours: woken at every change, counted once. */
    int fd = mbx_fd(m, MBX_RECV);
    assert_true(fd >= 0);
    for (int round = 0; round < 3; round++) {
        send_u32(m, 2);
        if (!readable(fd, 10000))
            fail_msg("killed %ld instructions into the call: a poller not woken", k);
        uint32_t v;
        assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
        assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
    }
    assert_int_equal(armed_count(hot, SEG_POLL_RECV), 1);
    mbx_close(m);
    mbx_unlink(name);
    return took;
}

/* One trial killed just before instruction k of fn's recorded path: by a
 * breakpoint (a few traps, where single steps to it took k: the tell walk
 * took 25 s stepped), and when the child left the path (that kill's checks
 * held too) or whose path was longer than the recorded one, by single
 * steps, exactly at k. Returns as kill_at. */
static long kill_exactly(const char *name, uintptr_t fn, long k, enum how how)
{
    if (k < walk_sk.rec.n) {
        walk_sk.mode = SK_BREAK;
        long took = kill_at(name, fn, k, how);
        if (walk_sk.result == SK_AT && took == 0) {
            walk_sk.by_break++;
            return 0;
        }
        walk_sk.off_path++;
    }
    walk_sk.mode = SK_STEP;
    return kill_at(name, fn, k, how);
}

/* Kills a child at every `every`th instruction of fn, and at each of its
 * last 64. A changer's call is mostly two looks at the 48 entries, where a
 * kill leaves the same state all along: walking each of its ~1000
 * instructions took 45 s here (each kill steps from the start). Where the
 * call is longer (builds with sanitizers, each kill dearer too), the
 * stride keeps the walk to 64 kills and the tail is not walked apart. */
static void every_step(uintptr_t fn, enum how how, long every)
{
    if (!trace_allowed())
        test_skip("this process may not trace its children (ptrace refused)");
    long n = 0, k = 64; /* instructions of the whole call */
    sk_free(&walk_sk);
    walk_sk.mode = SK_STEP;
    while ((n = kill_at("walked", fn, k, how)) == 0 && k <= MAX_STEPS)
        k *= 2;
    if (n == 0)
        fail_msg("the call did not return within %d instructions", MAX_STEPS);
    sk_rec_copy(&walk_sk.rec, &walk_sk.fresh); /* the path the kills are brought to */
    /* TELL: the tell is at the call's end (the last entry), walked
     * densely: where a kill leaves the entry being told or counted. */
    long stride = every, tail = how == TELL ? 160 : n <= 1000 ? 64 : 0, walked = 0;
    if (tail > n)
        tail = n;
    killed_telling = 0;
    if ((n - tail) / stride > 64)
        stride = (n - tail + 63) / 64;
    for (k = 0; !kill_exactly("walked", fn, k, how); k++) {
        walked++;
        if (k < n - tail)
            k += stride - 1;
        if (k >= n) /* the next kill is at the call's end */
            k = n - 1;
        if (walked > n)
            fail_msg("the call took more than %ld instructions this time", n);
    }
    print_message("%ld instructions, killed at %ld of them (one in %ld, then the last %ld; %ld by "
                  "a breakpoint, %ld stepped there after a trial off the recorded path)\n",
                  k, walked, stride, tail, walk_sk.by_break, walk_sk.off_path);
    sk_free(&walk_sk);
    if (how == TELL) {
        print_message("%ld kills left the live poller's entry being told\n", killed_telling);
        assert_true(killed_telling > 0);
    }
}

static void arm_killed_anywhere(void **state)
{
    (void)state;
    every_step((uintptr_t)poll_arm, ARM, 1);
}

static void disarm_killed_anywhere(void **state)
{
    (void)state;
    every_step((uintptr_t)poll_disarm, DISARM, 1);
}

static void tell_killed_anywhere(void **state)
{
    (void)state;
    every_step((uintptr_t)poll_signal, TELL, 16);
}

static void recount_killed_anywhere(void **state)
{
    (void)state;
    every_step((uintptr_t)poll_signal, SIGNAL, 16);
}

static uint32_t *count_word;
static uint32_t *armed_word;

static void step1(pid_t p)
{
    assert_int_equal(ptrace(PTRACE_SINGLESTEP, p, NULL, NULL), 0);
    assert_int_equal(trace_stopped(p), SIGTRAP);
}

/* Steps p until *w satisfies pred. */
static void step_until(pid_t p, int (*pred)(uint32_t), uint32_t *w)
{
    for (long i = 0; i < 100000; i++) {
        if (pred(__atomic_load_n(w, __ATOMIC_SEQ_CST)))
            return;
        step1(p);
    }
    fail_msg("never reached");
}

static int count_is_1(uint32_t c)
{
    return (c & POLL_COUNTS) == 1;
}
static int is_armed_tag(uint32_t a)
{
    return poll_armed_for(a) == 1 + SEG_POLL_RECV;
}
static int is_telling(uint32_t a)
{
    return poll_telling_for(a) != 0;
}

/* A changer killed between taking an entry (armed -> being told) and its
 * datagram, where the armed word it took was stored by a poller still in
 * poll_arm whose epoch had moved under it (a restart's second look passed
 * the entry before it was armed): the poller's retry found the entry
 * taken, took its new count off and returned, and nobody counted in the
 * current epoch looked at the entry again: a live poller deaf (found by a
 * review). Walked by hand: P traced through poll_arm, X a restart made
 * here, T traced and killed once the entry holds its telling word. */
static void deaf_after_killed_teller(void **state)
{
    (void)state;
    if (!trace_allowed())
        test_skip("no ptrace");
    const char *name = "deaf";
    mbx *m = fresh_box(name);
    struct seg *s = &shm_box_of(m)->seg;
    count_word = &s->hdr->hot.armed[SEG_POLL_RECV];
    int ready[2];
    assert_int_equal(pipe(ready), 0);

    /* P: a live poller whose event loop just drained and now re-arms. */
    pid_t p = fork();
    if (p == 0) {
        test_child();
        mbx *r = NULL;
        if (mbx_open(name, MBX_RECV, NULL, &r) != 0)
            _exit(2);
        int fd = mbx_fd(r, MBX_RECV);
        if (fd < 0)
            _exit(2);
        struct shm_box *b = shm_box_of(r);
        struct seg_poller *e = &b->seg.hdr->pollers[b->poller[SEG_POLL_RECV]->slot];
        poll_disarm(&b->seg, e); /* as told: it re-arms in its next settle */
        (void)ident_self();
        ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        raise(SIGSTOP);
        uint32_t v;
        if (mbx_recv(r, &v, sizeof(v), NULL, MBX_NONBLOCK) != -EAGAIN) /* settle: poll_arm */
            _exit(3);
        char c = 'x';
        if (write(ready[1], &c, 1) != 1)
            _exit(4);
        struct pollfd pf = {fd, POLLIN, 0};
        int n = poll(&pf, 1, 5000);
        _exit(n == 1 ? 0 : 1);
    }
    assert_int_equal(trace_stopped(p), SIGSTOP);
    assert_int_equal(ptrace(PTRACE_SETOPTIONS, p, NULL, (void *)(long)PTRACE_O_EXITKILL), 0);
    uintptr_t ret, sp;
    trace_run_to(p, (uintptr_t)poll_arm, &ret, &sp);
    /* Find P's entry. */
    for (unsigned i = 0; i < SEG_POLLERS; i++)
        if (__atomic_load_n(&s->hdr->pollers[i].who, __ATOMIC_SEQ_CST) != 0)
            armed_word = &s->hdr->pollers[i].armed;
    assert_non_null(armed_word);
    uint32_t c0 = __atomic_load_n(count_word, __ATOMIC_SEQ_CST);
    print_message("start: count %#x armed %#x\n", c0, *armed_word);

    /* 1. P counts itself (count_up), not yet armed. */
    step_until(p, count_is_1, count_word);
    print_message("P counted: count %#x armed %#x\n", *count_word, *armed_word);
    /* 2. A change X looks: nobody armed, count 1: starts a new epoch; its
     * second look passes P's entry (still 0) and takes its 1 off. */
    poll_signal(s, SEG_POLL_RECV);
    print_message("X restarted: count %#x armed %#x\n", *count_word, *armed_word);
    /* 3. P stores its armed word, in the old epoch. */
    step_until(p, is_armed_tag, armed_word);
    print_message("P armed (old epoch): count %#x armed %#x\n", *count_word, *armed_word);
    /* 4. A change T takes P's entry (armed -> telling) and is killed
     * before its datagram. */
    pid_t t = fork();
    if (t == 0) {
        test_child();
        mbx *w = NULL;
        if (mbx_open(name, MBX_SEND, NULL, &w) != 0)
            _exit(2);
        (void)ident_self();
        (void)ident_thread();
        ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        raise(SIGSTOP);
        poll_signal(&shm_box_of(w)->seg, SEG_POLL_RECV);
        _exit(0);
    }
    assert_int_equal(trace_stopped(t), SIGSTOP);
    assert_int_equal(ptrace(PTRACE_SETOPTIONS, t, NULL, (void *)(long)PTRACE_O_EXITKILL), 0);
    uintptr_t tret, tsp;
    trace_run_to(t, (uintptr_t)poll_signal, &tret, &tsp);
    step_until(t, is_telling, armed_word);
    kill(t, SIGKILL);
    int st;
    assert_int_equal(waitpid(t, &st, 0), t);
    print_message("T killed telling: count %#x armed %#x\n", *count_word, *armed_word);
    /* 5. P goes on: its retry finds the entry taken, and it waits. */
    assert_int_equal(ptrace(PTRACE_DETACH, p, NULL, NULL), 0);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    print_message("P waits: count %#x armed %#x\n", *count_word, *armed_word);
    /* 6. A message: P must be woken. */
    uint32_t v = 7;
    assert_int_equal(mbx_send(m, &v, sizeof(v), 0, 1000000000ll), 0);
    assert_int_equal(waitpid(p, &st, 0), p);
    print_message("after send: count %#x armed %#x; P exit %d\n", *count_word, *armed_word,
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("live poller not woken by a message sent after the killed teller (deaf)");
    mbx_close(m);
    mbx_unlink(name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arm_killed_anywhere),      cmocka_unit_test(disarm_killed_anywhere),
        cmocka_unit_test(recount_killed_anywhere),  cmocka_unit_test(tell_killed_anywhere),
        cmocka_unit_test(deaf_after_killed_teller),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}

#else
static void not_here(void **state)
{
    (void)state;
    test_skip("x86-64 only (the walk reads the instruction pointer)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(not_here)};
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
#endif
