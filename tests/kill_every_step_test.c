/* kill -9 at every instruction of a send and of a receive. A child is
 * traced (ptrace) from the entry of the kind's call (heap_send: lock,
 * allocate, publish, unlock; ring_send: claim, publish; heap_recv and
 * ring_recv; heap_send_loan and ring_send_loan, the loan written before;
 * heap_recv_loan and ring_recv_loan; heap_rr_recv, a round-robin
 * mailbox's; heap_release and ring_release, of a loan taken before),
 * brought to just before its K-th instruction and killed, for K = 0, 1,
 * 2, ... until a child gets through the whole call (step_kill.h: the
 * call's path recorded once by single steps, each kill then brought there
 * by a breakpoint). After each kill the parent
 * reads sent_total, sends a marker (which repairs whatever the child left)
 * and drains the mailbox (with receives that do not wait), then checks
 * what kill -9 must never break: the
 * message arrives at most once (a receiver that got through had it) and
 * whole, the mailbox then takes and gives back a full load twice around
 * (whatever the child held, a slot, a block, the lock, a turn, came
 * back), and sent_total, read at once, counts a sent message iff it was
 * delivered (a JetStream import decides from it whether the delivery it
 * was making when it was killed happened: nats/jsstate.h). A ring counts a
 * message just after it publishes it, so there a delivered message may
 * stay uncounted, and both kinds count a receive just after the take: the
 * test allows those and says in how many instructions. Random kills
 * (crash_test) rarely land in a window a few instructions wide; this walks
 * every one. x86-64 only (it reads the instruction pointer); elsewhere it
 * skips. */
#include "test_util.h"

#include "mbx.h"
#include "platform/platform.h"
#include "shm/heap/heap_queue.h"
#include "shm/kind.h"
#include "shm/ring/ring_impl.h"
#include "shm/shm.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>

#if defined(__x86_64__)
#include "step_kill.h"

/* What the child does (the call walked). RELEASE: gives back a message
 * it took as a loan before the walk. */
enum how { SEND, RECV, SEND_LOAN, RECV_LOAN, RELEASE };

#define CHILD_ID  7u
#define MARKER_ID 8u
#define MAX_STEPS 200000 /* a send this long is a hang, not a send */

struct step_msg {
    uint32_t id;
    unsigned char body[60];
};

/* What one kill left: the child's message and the marker drained, and the
 * counters moved. */
struct outcome {
    unsigned child_got, marker_got;
    uint64_t sent_at_kill; /* sent_total read just after the kill */
    uint64_t sent, received;
    uint64_t next_sent, next_received; /* after still_whole: the next trial's base */
    long reached_end; /* the child returned from the send before the kill: after so many */
    int child_whole;  /* receiving: the child's buffer held the whole message at the kill */
    int poll_ready;   /* just after the kill, the readiness said a receive would find one */
};

#define CAPACITY 8

static mbx *open_kind(const char *name, const char *queue, enum mbx_recv_policy policy)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = CAPACITY;
    a.recv_policy = policy;
    a.max_msg_size = sizeof(struct step_msg);
    setenv("MBX_QUEUE", queue, 1);
    mbx *m;
    assert_int_equal(mbx_open(name, MBX_SEND | MBX_RECV | MBX_CREATE, &a, &m), 0);
    unsetenv("MBX_QUEUE");
    assert_int_equal(shm_box_of(m)->seg.ring != NULL, strcmp(queue, "ring") == 0);
    return m;
}

static void fill(struct step_msg *msg, uint32_t id)
{
    msg->id = id;
    for (size_t i = 0; i < sizeof(msg->body); i++)
        msg->body[i] = (unsigned char)(id * 31 + i);
}

static int whole(const struct step_msg *msg, ssize_t n)
{
    struct step_msg want;
    if (n != (ssize_t)sizeof(*msg))
        return 0;
    fill(&want, msg->id);
    return memcmp(msg, &want, sizeof(want)) == 0;
}

/* Where a receiving child copies the message: the same address in the
 * parent (fork), which reads the child's copy through ptrace. */
static struct step_msg child_buf;

/* Whether the traced child's child_buf holds the whole message. */
static int child_holds_whole(pid_t p)
{
    struct step_msg copy;
    trace_peek(p, &child_buf, &copy, sizeof(copy));
    return whole(&copy, (ssize_t)sizeof(copy));
}

/* After a kill and the drain: the mailbox still takes and gives back a
 * full load, twice around (a ring's slots lap), whole and highest
 * priority first: whatever the killed child held (a slot, a block, a
 * turn, the lock, a priority count) was taken back. */
static void still_whole(mbx *m, long k)
{
    for (int round = 0; round < 2; round++) {
        for (uint32_t i = 0; i < CAPACITY; i++) {
            struct step_msg msg;
            fill(&msg, 100 + i);
            int r = mbx_send(m, &msg, sizeof(msg), i % 3, MBX_NONBLOCK);
            if (r)
                fail_msg("killed at %ld: send %u of a full load after the drain: %d", k, i, r);
        }
        unsigned last = 3;
        for (uint32_t i = 0; i < CAPACITY; i++) {
            struct step_msg msg;
            mbx_msginfo info;
            ssize_t n = mbx_recv(m, &msg, sizeof(msg), &info, MBX_NONBLOCK);
            if (!whole(&msg, n) || msg.id < 100 || info.priority > last)
                fail_msg("killed at %ld: receive %u of a full load: %zd, id %u, priority %u after "
                         "%u",
                         k, i, n, msg.id, info.priority, last);
            last = info.priority;
        }
        struct step_msg msg;
        assert_int_equal(mbx_recv(m, &msg, sizeof(msg), NULL, MBX_NONBLOCK), -EAGAIN);
    }
}

/* One trial: a child sends CHILD_ID (RECV: the parent sends it and the
 * child receives it; SEND_LOAN: the child writes it into a loan, before
 * the walk, and sends the loan) and is killed k instructions into fn,
 * then the parent sends the marker and drains. */
static struct outcome kill_at(mbx *m, uintptr_t fn, long k, enum how how, struct step_kill *sk)
{
    struct outcome o = {0};
    int receiving = how == RECV || how == RECV_LOAN || how == RELEASE;
    if (receiving) {
        struct step_msg msg;
        fill(&msg, CHILD_ID);
        /* Above priority 0: a ring counts such messages, and a release
         * takes its message off that count. */
        assert_int_equal(mbx_send(m, &msg, sizeof(msg), how == RELEASE, MBX_NONBLOCK), 0);
    }
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        struct step_msg msg;
        fill(&msg, CHILD_ID);
        /* Learnt once per process and thread (start times, from /proc): here,
         * not in the call, whose instructions are what is walked. */
        (void)ident_self();
        (void)ident_thread();
        void *loan = NULL;
        const void *lent = NULL;
        if (how == SEND_LOAN) {
            if (mbx_loan(m, sizeof(msg), &loan) != 0)
                _exit(3);
            memcpy(loan, &msg, sizeof(msg));
        }
        if (how == RELEASE && mbx_recv_loan(m, &lent, NULL, MBX_NONBLOCK) != sizeof(msg))
            _exit(4);
        ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        raise(SIGSTOP);
        if (how == RECV)
            mbx_recv(m, &child_buf, sizeof(child_buf), NULL, MBX_NONBLOCK);
        else if (how == RECV_LOAN)
            mbx_recv_loan(m, &lent, NULL, MBX_NONBLOCK);
        else if (how == SEND_LOAN)
            mbx_send_loan(m, loan, sizeof(msg), 0, MBX_NONBLOCK);
        else if (how == RELEASE)
            mbx_release(m, lent);
        else
            mbx_send(m, &msg, sizeof(msg), 0, MBX_NONBLOCK);
        _exit(0);
    }
    assert_int_equal(trace_stopped(p), SIGSTOP);
    assert_int_equal(ptrace(PTRACE_SETOPTIONS, p, NULL, (void *)(long)PTRACE_O_EXITKILL), 0);
    uintptr_t ret, sp;
    trace_run_to(p, fn, &ret, &sp);
    o.reached_end = sk_move(sk, p, k, ret, sp);
    /* A loan is the message in place: nothing is copied to check. */
    o.child_whole = how == RECV ? child_holds_whole(p) : 1;
    kill(p, SIGKILL);
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    /* Before anything repairs: an event loop polling now must see a
     * message that is there (checked once the drain tells). The kind's
     * readiness, which mbx_poll and the descriptors ask: a descriptor of
     * this handle would stay armed and make every walked call tell it. */
    const struct seg *sg = &shm_box_of(m)->seg;
    o.poll_ready = sg->kind->ready(sg, SEG_POLL_RECV, 0);
    mbx_stat s;
    assert_int_equal(mbx_stat_get(m, &s), 0);
    o.sent_at_kill = s.sent_total;
    struct step_msg msg;
    fill(&msg, MARKER_ID);
    assert_int_equal(mbx_send(m, &msg, sizeof(msg), 0, 10000000000ll), 0); /* loaded CI */
    for (;;) {
        mbx_msginfo info;
        ssize_t n = mbx_recv(m, &msg, sizeof(msg), &info, MBX_NONBLOCK);
        if (n == -EAGAIN)
            break;
        assert_true(whole(&msg, n));
        if (msg.id == CHILD_ID)
            o.child_got++;
        else if (msg.id == MARKER_ID)
            o.marker_got++;
        else
            fail_msg("message %u from nowhere", msg.id);
    }
    assert_int_equal(mbx_stat_get(m, &s), 0);
    assert_int_equal(s.count, 0);
    o.sent = s.sent_total;
    o.received = s.received_total;
    still_whole(m, k);
    assert_int_equal(mbx_stat_get(m, &s), 0);
    assert_int_equal(s.sent_total - o.sent, 2 * CAPACITY);
    assert_int_equal(s.received_total - o.received, 2 * CAPACITY);
    o.next_sent = s.sent_total;
    o.next_received = s.received_total;
    return o;
}

/* Counts kept over a walk. */
struct walk {
    mbx *m;
    uintptr_t fn;        /* the call walked */
    struct step_kill sk; /* its path, how the kills get there */
    int late_ok;         /* the kind may count a delivered message late */
    enum how how;
    uint64_t sent, received;
    long trials, delivered, late;
    long lost; /* receiving: gone with the killed receiver */
};

/* A trial of a receive: the child, killed k instructions into it, took the
 * message iff it got through (o->reached_end); before that the message is
 * either back in the queue (the parent gets it) or, past the instant it
 * was taken, gone with the child. Either way it leaves once:
 * received_total moves by one for it (late_ok: a ring counts just after it
 * frees the slot, so a receiver killed in between left it uncounted). */
static void check_recv(struct walk *w, const struct outcome *o, long k)
{
    int child_had = o->reached_end != 0;
    if (o->marker_got != 1 || o->child_got + child_had > 1)
        fail_msg("killed %ld instructions into the receive: the marker came %u times, the "
                 "message %u times (and to the child: %d)",
                 k, o->marker_got, o->child_got, child_had);
    /* Gone from the queue only once the receiver has all of it. */
    if (!o->child_got && !o->child_whole)
        fail_msg("killed %ld instructions into the receive: the message left the queue before "
                 "the receiver had all of it",
                 k);
    uint64_t at_kill = o->sent_at_kill - w->sent, moved = o->sent - w->sent;
    uint64_t taken = o->received - w->received;
    int uncounted = !o->child_got && taken == 1;
    if (at_kill != 1 || moved != 2 || (taken != 2 && !(w->late_ok && uncounted)))
        fail_msg("killed %ld instructions into the receive: sent_total moved by %llu (%llu at the "
                 "kill), received_total by %llu (should be 2, 1 and 2)",
                 k, (unsigned long long)moved, (unsigned long long)at_kill,
                 (unsigned long long)taken);
    if (o->child_got && !o->poll_ready)
        fail_msg("killed %ld instructions into the receive: the message was still there, but "
                 "its readiness (mbx_poll, mbx_fd) said nothing to receive",
                 k);
    w->delivered += o->child_got;
    w->lost += !o->child_got && !child_had;
    w->late += uncounted;
}

/* A trial of a release: the message was the child's before the walk, so
 * it never comes again, whatever the instant of the kill; the counts moved
 * by the child's message and the marker, at once. still_whole (kill_at)
 * checked that the loan's slot or block came back. */
static void check_release(struct walk *w, const struct outcome *o, long k)
{
    uint64_t at_kill = o->sent_at_kill - w->sent, moved = o->sent - w->sent;
    uint64_t taken = o->received - w->received;
    if (o->marker_got != 1 || o->child_got != 0 || at_kill != 1 || moved != 2 || taken != 2)
        fail_msg("killed %ld instructions into the release: the marker came %u times, the "
                 "released message %u times, sent_total moved by %llu (%llu at the kill), "
                 "received_total by %llu (should be 1, 0, 2, 1, 2)",
                 k, o->marker_got, o->child_got, (unsigned long long)moved,
                 (unsigned long long)at_kill, (unsigned long long)taken);
}

/* One kill k instructions into fn, and the checks. late_ok: the kind may
 * count a delivered message late (a ring counts after it publishes: a
 * sender killed in between delivered a message sent_total never counts);
 * every other break fails. Returns how many instructions the send took
 * when the child got through it before the kill, else 0. */
static long trial(struct walk *w, uintptr_t fn, long k)
{
    struct outcome o = kill_at(w->m, fn, k, w->how, &w->sk);
    if (w->how == RECV || w->how == RECV_LOAN || w->how == RELEASE) {
        if (w->how == RELEASE)
            check_release(w, &o, k);
        else
            check_recv(w, &o, k);
        w->sent = o.next_sent;
        w->received = o.next_received;
        w->trials++;
        return o.reached_end;
    }
    if (o.marker_got != 1 || o.child_got > 1)
        fail_msg("killed %ld instructions into the send: the marker came %u times, the child's "
                 "message %u times",
                 k, o.marker_got, o.child_got);
    /* Counted at the kill: the child's message iff it was delivered, or
     * (late_ok) not yet though it was. */
    uint64_t at_kill = o.sent_at_kill - w->sent;
    int uncounted = o.child_got == 1 && at_kill == 0;
    if (at_kill != o.child_got && !(w->late_ok && uncounted))
        fail_msg("killed %ld instructions into the send: %u delivered, but sent_total read %llu "
                 "more just after the kill",
                 k, o.child_got, (unsigned long long)at_kill);
    if (o.child_got && !o.poll_ready)
        fail_msg("killed %ld instructions into the send: the message was delivered, but its "
                 "readiness (mbx_poll, mbx_fd) just after the kill said nothing to receive",
                 k);
    uint64_t moved = o.sent - w->sent, taken = o.received - w->received;
    if (moved != 1 + at_kill || taken != 1 + o.child_got)
        fail_msg("killed %ld instructions into the send: %u delivered, sent_total moved by %llu, "
                 "received_total by %llu (should be %llu and %u)",
                 k, 1 + o.child_got, (unsigned long long)moved, (unsigned long long)taken,
                 (unsigned long long)(1 + at_kill), 1 + o.child_got);
    w->sent = o.next_sent;
    w->received = o.next_received;
    w->trials++;
    w->delivered += o.child_got;
    w->late += uncounted;
    return o.reached_end;
}

/* A trial of the walked call (sk_walk's). */
static long walk_trial(void *ctx, long k)
{
    struct walk *w = ctx;
    return trial(w, w->fn, k);
}

/* Kills just before instruction 0, stride, 2 stride, ... of fn (whose
 * path the trial before recorded) and after it (step_kill.h); says how
 * they were made. */
static void walk(struct walk *w, uintptr_t fn, long stride)
{
    w->fn = fn;
    sk_walk(&w->sk, stride, MAX_STEPS, walk_trial, w);
    /* Every instruction of the path walked got its kill. */
    assert_int_equal(w->sk.walked, (w->sk.rec.n + stride - 1) / stride);
    print_message("walk: %ld instructions, %ld killed at (kills on the path: %ld brought by a "
                  "breakpoint, %ld stepped); %ld trials off the recorded path, %ld recordings, "
                  "%ld walks again; %ld traps\n",
                  w->sk.rec.n, w->sk.walked, w->sk.by_break, w->sk.exact - w->sk.by_break,
                  w->sk.off_path, w->sk.recordings, w->sk.rewalks, w->sk.traps);
}

/* Walks every instruction of a call (a send, a receive, a loan's either)
 * on a mailbox of kind `queue`: of outer (the whole call). Where that is
 * longer than WALK_MAX (builds with sanitizers, 3-8 times longer, each
 * step dearer), the walk would take minutes (each kill forks, and the
 * recordings step through the whole call), so it walks inner
 * (a send's publication, where the message becomes the mailbox's; for a
 * receive, the receive itself) at a stride that keeps it to STEP_BUDGET
 * steps. */
#define WALK_MAX    1000
#define STEP_BUDGET 80000
static void every_step(const char *queue, enum mbx_recv_policy policy, uintptr_t outer,
                       uintptr_t inner, int late_ok, enum how how)
{
    struct walk w = {.m = open_kind(queue, queue, policy), .late_ok = late_ok, .how = how};
    mbx_stat s;
    assert_int_equal(mbx_stat_get(w.m, &s), 0);
    w.sent = s.sent_total;
    w.received = s.received_total;
    long whole = trial(&w, outer, MAX_STEPS);
    assert_true(whole > 0);
    long stride = 1;
    if (whole <= WALK_MAX) {
        walk(&w, outer, 1);
    } else {
        long part = trial(&w, inner, MAX_STEPS);
        assert_true(part > 0);
        while (part * part / (2 * stride) > STEP_BUDGET)
            stride++;
        walk(&w, inner, stride);
    }
    const char *call = how == RECV        ? "receive"
                       : how == RECV_LOAN ? "loan's receive"
                       : how == SEND_LOAN ? "loan's send"
                       : how == RELEASE   ? "loan's release"
                                          : "send";
    if (how == RELEASE) {
        print_message("%s: a %s is %ld instructions; killed at every %s of it (%ld kills): the "
                      "message never came again, and the mailbox took back its room\n",
                      queue, call, whole, stride == 1 ? "instruction" : "few instructions",
                      w.trials);
    } else if (how == RECV || how == RECV_LOAN) {
        /* Killed at its first instruction, the receiver took nothing. */
        assert_true(w.delivered >= 1);
        print_message("%s: a %s is %ld instructions; killed at every %s of the %s (%ld kills): the "
                      "message came back in %ld, went with the receiver in %ld, counted late in "
                      "%ld\n",
                      queue, call, whole, stride == 1 ? "instruction" : "few instructions",
                      whole <= WALK_MAX ? call : "take", w.trials, w.delivered, w.lost, w.late);
        if (policy == MBX_RECV_ROUND_ROBIN)
            print_message("%s: round robin: receives that do not wait drained it every time\n",
                          queue);
    } else {
        /* The last trial of each walk got through: its message came. */
        assert_true(w.delivered >= 2);
        print_message("%s: a %s is %ld instructions; killed at every %s of the %s (%ld kills): the "
                      "message was delivered in %ld, counted late in %ld\n",
                      queue, call, whole, stride == 1 ? "instruction" : "few instructions",
                      whole <= WALK_MAX ? call : "publication", w.trials, w.delivered, w.late);
    }
    if (stride > 1)
        print_message("%s: one instruction in %ld (a build with sanitizers)\n", queue, stride);
    sk_free(&w.sk);
    mbx_close(w.m);
    mbx_unlink(queue);
}

/* A walk: the kind, the call and its inner part (every_step), whether the
 * kind may count late, whether the child receives. */
struct walk_case {
    const char *queue;
    enum mbx_recv_policy policy;
    uintptr_t outer, inner;
    int late_ok;
    enum how how;
};

static void killed_anywhere(void **state)
{
    const struct walk_case *c = *state;
    if (!trace_allowed())
        test_skip("this process may not trace its children (ptrace refused)");
    mbx_unlink(c->queue); /* left by a walk that failed */
    every_step(c->queue, c->policy, c->outer, c->inner, c->late_ok, c->how);
}

int main(void)
{
    /* A ring counts a send after publishing it, and both kinds a receive
     * after the take (in a heap mailbox the take's commit, the block freed,
     * and the count are two stores under the lock, and the repair has
     * nothing to rebuild the count from): late counts are allowed there. */
    const enum mbx_recv_policy any = MBX_RECV_ANY, rr = MBX_RECV_ROUND_ROBIN;
    struct walk_case heap_sends = {"heap", any, (uintptr_t)heap_send, (uintptr_t)heap_publish,
                                   0,      SEND};
    struct walk_case ring_sends = {"ring", any, (uintptr_t)ring_send, (uintptr_t)ring_publish,
                                   1,      SEND};
    struct walk_case heap_recvs = {"heap", any, (uintptr_t)heap_recv, (uintptr_t)heap_recv,
                                   1,      RECV};
    struct walk_case ring_recvs = {"ring", any, (uintptr_t)ring_recv, (uintptr_t)ring_recv,
                                   1,      RECV};
    struct walk_case heap_loans = {
        "heap", any, (uintptr_t)heap_send_loan, (uintptr_t)heap_publish, 0, SEND_LOAN};
    struct walk_case ring_loans = {
        "ring", any, (uintptr_t)ring_send_loan, (uintptr_t)ring_publish, 1, SEND_LOAN};
    struct walk_case heap_lends = {
        "heap", any, (uintptr_t)heap_recv_loan, (uintptr_t)heap_recv_loan, 1, RECV_LOAN};
    struct walk_case ring_lends = {
        "ring", any, (uintptr_t)ring_recv_loan, (uintptr_t)ring_recv_loan, 1, RECV_LOAN};
    /* Round robin (always a heap mailbox): the turn taken and given back
     * under the lock around the take. */
    struct walk_case heap_turns = {"heap", rr,  (uintptr_t)heap_rr_recv, (uintptr_t)heap_rr_recv,
                                   1,      RECV};
    struct walk_case heap_gives = {"heap", any,    (uintptr_t)heap_release, (uintptr_t)heap_release,
                                   0,      RELEASE};
    struct walk_case ring_gives = {"ring", any,    (uintptr_t)ring_release, (uintptr_t)ring_release,
                                   0,      RELEASE};
    const struct CMUnitTest tests[] = {
        {"heap_send_killed_anywhere", killed_anywhere, NULL, NULL, &heap_sends},
        {"ring_send_killed_anywhere", killed_anywhere, NULL, NULL, &ring_sends},
        {"heap_recv_killed_anywhere", killed_anywhere, NULL, NULL, &heap_recvs},
        {"ring_recv_killed_anywhere", killed_anywhere, NULL, NULL, &ring_recvs},
        {"heap_loan_send_killed_anywhere", killed_anywhere, NULL, NULL, &heap_loans},
        {"ring_loan_send_killed_anywhere", killed_anywhere, NULL, NULL, &ring_loans},
        {"heap_loan_recv_killed_anywhere", killed_anywhere, NULL, NULL, &heap_lends},
        {"ring_loan_recv_killed_anywhere", killed_anywhere, NULL, NULL, &ring_lends},
        {"round_robin_recv_killed_anywhere", killed_anywhere, NULL, NULL, &heap_turns},
        {"heap_release_killed_anywhere", killed_anywhere, NULL, NULL, &heap_gives},
        {"ring_release_killed_anywhere", killed_anywhere, NULL, NULL, &ring_gives},
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
#else
int main(void)
{
    printf("kill_every_step_test: x86-64 only (it reads the instruction pointer): skipped\n");
    return TEST_SKIPPED;
}
#endif
