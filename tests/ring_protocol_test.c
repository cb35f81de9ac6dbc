/* The ring's slot protocol: bugs a lock-free audit reproduced (issue 23),
 * each checked here against the real code. */
#include "test_box.h"

#include "shm/heap/alloc.h"
#include "shm/shm.h"
#include "platform/linux/proc.h"
#include "shm/heap/prioq.h"
#include "shm/ring/ring_impl.h"
#include "shm/sleepers.h"
#include "shm/lock.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void reap_ok(pid_t p)
{
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* Bug 1: a message above priority 0 left its "counted" mark in the slot
 * for the next lap; a later sender that died holding a loan there was then
 * counted down a second time, the count of high-priority messages fell to
 * 0 while two were queued, and they came out in FIFO order. */
static void priority_count_is_exact_to_the_lap(void **state)
{
    (void)state;
    mbx *m = test_box("prio", 4, 64, 0);
    int v = 99, got;
    /* Position 0 (slot 0) carries a priority-5 message, received. */
    assert_int_equal(mbx_send(m, &v, sizeof(v), 5, 0), 0);
    assert_int_equal(mbx_recv(m, &got, sizeof(got), NULL, 0), sizeof(got));
    for (int i = 0; i < 3; i++) { /* positions 1..3 */
        assert_int_equal(mbx_send(m, &i, sizeof(i), 0, 0), 0);
        assert_int_equal(mbx_recv(m, &got, sizeof(got), NULL, 0), sizeof(got));
    }
    /* Position 4 is slot 0 again: a process takes a loan there and dies. */
    pid_t p = fork();
    if (p == 0) {
        void *loan;
        _exit(mbx_loan(m, 8, &loan) == 0 ? 0 : 1);
    }
    reap_ok(p);
    int P = 0, H1 = 1, H2 = 2;
    assert_int_equal(mbx_send(m, &P, sizeof(P), 0, 0), 0);
    assert_int_equal(mbx_send(m, &H1, sizeof(H1), 5, 0), 0);
    assert_int_equal(mbx_send(m, &H2, sizeof(H2), 5, 0), 0);
    /* Someone finds the dead loan and repairs it. */
    struct ring_slot *sl = ring_slot_at(&shm_box_of(m)->seg, 4);
    assert_int_equal(ring_unstick(&shm_box_of(m)->seg, sl, sl->word, RING_NO_POS), 1);
    int want[3] = {H1, H2, P};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mbx_recv(m, &got, sizeof(got), NULL, 1000000000ll), sizeof(got));
        assert_int_equal(got, want[i]);
    }
    assert_int_equal(ring_ctl_of(&shm_box_of(m)->seg)->hiprio, 0);
    mbx_close(m);
    mbx_unlink("prio");
}

/* Bug 1, second part: freeing a slot whose sender died must not touch the
 * priority of the slot's next lap. A repairer that is late frees nothing. */
static void late_repairer_leaves_the_next_lap_alone(void **state)
{
    (void)state;
    mbx *m = test_box("late", 2, 64, 0);
    struct ring_ctl *ctl = ring_ctl_of(&shm_box_of(m)->seg);
    struct ring_slot *sl = ring_slot_at(&shm_box_of(m)->seg, 0);
    /* Position 0 was given up (SKIP) and freed; the next lap's message at
     * position 2 is queued at priority 7. */
    int v = 1, got;
    assert_int_equal(mbx_send(m, &v, sizeof(v), 0, 0), 0);
    assert_int_equal(mbx_recv(m, &got, sizeof(got), NULL, 0), sizeof(got));
    assert_int_equal(mbx_send(m, &v, sizeof(v), 0, 0), 0); /* position 1 */
    assert_int_equal(mbx_send(m, &v, sizeof(v), 7, 0), 0); /* position 2, slot 0 */
    assert_int_equal(ctl->hiprio, 1);
    /* A repairer that read SKIP(0) long ago frees it now. */
    assert_int_equal(ring_free_skipped(&shm_box_of(m)->seg, sl, 0), 0);
    assert_int_equal(ctl->hiprio, 1);
    assert_int_equal(sl->prio & ~PRIO_COUNTED, 7);
    assert_int_equal(mbx_recv(m, &got, sizeof(got), NULL, 0), sizeof(got)); /* priority 7 first */
    assert_int_equal(ctl->hiprio, 0);
    mbx_close(m);
    mbx_unlink("late");
}

/* A receiver that dies after taking its message off the count of high
 * priorities, before freeing the slot: the message goes back to the queue
 * with its priority, counted again, and still comes out first. (The count
 * used to be cleared together with the priority: the message came back at
 * priority 0, behind older ones; kill-chaos saw it as a foreign message.) */
static void dead_receiver_leaves_the_priority(void **state)
{
    (void)state;
    mbx *m = test_box("deadprio", 4, 64, 0);
    struct seg *sg = &shm_box_of(m)->seg;
    struct ring_ctl *ctl = ring_ctl_of(sg);
    int P = 1, H = 2, got;
    assert_int_equal(mbx_send(m, &P, sizeof(P), 0, 0), 0); /* position 0 */
    assert_int_equal(mbx_send(m, &H, sizeof(H), 5, 0), 0); /* position 1 */
    /* A receiver takes H, takes it off the count (as take() does before
     * it frees the slot), and is killed there. */
    pid_t holder = fork();
    if (holder == 0)
        test_await_kill();
    struct ring_slot *sl = ring_slot_at(sg, 1);
    uint64_t taking = slot_word(1, SLOT_TAKING, holder);
    uint64_t start = 0;
    assert_int_equal(proc_start(holder, &start), 0);
    sl->word = taking;
    ring_note_holder(sl, taking, ident_make(holder, (uint32_t)start));
    ring_release_prio(ctl, sl);
    assert_int_equal(ctl->hiprio, 0);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    assert_int_equal(ring_unstick(sg, sl, taking, RING_NO_POS), 1);
    assert_int_equal(ctl->hiprio, 1);
    mbx_msginfo info;
    assert_int_equal(mbx_recv(m, &got, sizeof(got), &info, 0), sizeof(got));
    assert_int_equal(got, H);
    assert_int_equal(info.priority, 5);
    assert_int_equal(mbx_recv(m, &got, sizeof(got), &info, 0), sizeof(got));
    assert_int_equal(got, P);
    assert_int_equal(ctl->hiprio, 0);
    mbx_close(m);
    mbx_unlink("deadprio");
}

/* A receiver killed while copying out the highest priority message (still
 * counted in hiprio: killed before its copy) behind two of priority 0:
 * the next receives took the lower ones first, and mbx_stat counted 2 of
 * the 3 to receive (found by a review). Now a scan that passes over it
 * for a millisecond or more puts it back (its receiver is dead) and takes
 * it first: the first receive may still take L1. */
static void dead_receivers_high_message_comes_first(void **state)
{
    (void)state;
    mbx *m = test_box("deadhigh", 8, 64, 0);
    struct seg *sg = &shm_box_of(m)->seg;
    int L1 = 1, L2 = 2, H = 3, got;
    assert_int_equal(mbx_send(m, &L1, sizeof(L1), 0, 0), 0); /* position 0 */
    assert_int_equal(mbx_send(m, &L2, sizeof(L2), 0, 0), 0); /* position 1 */
    assert_int_equal(mbx_send(m, &H, sizeof(H), 5, 0), 0);   /* position 2 */
    pid_t holder = fork();
    if (holder == 0)
        test_await_kill();
    struct ring_slot *sl = ring_slot_at(sg, 2);
    uint64_t taking = slot_word(2, SLOT_TAKING, holder);
    uint64_t start = 0;
    assert_int_equal(proc_start(holder, &start), 0);
    sl->word = taking;
    ring_note_holder(sl, taking, ident_make(holder, (uint32_t)start));
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    mbx_stat st;
    assert_int_equal(mbx_stat_get(m, &st), 0);
    assert_int_equal(st.count, 3);
    mbx_msginfo info;
    assert_int_equal(mbx_recv(m, &got, sizeof(got), &info, 0), sizeof(got));
    int first = got;
    assert_true(first == H || first == L1);
    usleep(5000);
    assert_int_equal(mbx_recv(m, &got, sizeof(got), &info, 0), sizeof(got));
    if (first == L1) {
        assert_int_equal(got, H); /* before L2 */
        assert_int_equal(info.priority, 5);
    } else {
        assert_int_equal(got, L1);
    }
    assert_int_equal(mbx_recv(m, &got, sizeof(got), NULL, 0), sizeof(got));
    assert_int_equal(got, L2);
    assert_int_equal(ring_ctl_of(sg)->hiprio, 0);
    mbx_close(m);
    mbx_unlink("deadhigh");
}

/* Bug 2: a receiver spinning without end watched only the count of sends;
 * when another process put a dead receiver's message back (a repair), it
 * spun for ever next to it: its own repair of the slot it had seen failed
 * (the slot had changed) every 10 ms. */
static void spinning_receiver_sees_anothers_repair(void **state)
{
    (void)state;
    mbx *m = test_box("spinrep", 1, 64, 0);
    int v = 42;
    assert_int_equal(mbx_send(m, &v, sizeof(v), 0, 0), 0);
    struct ring_slot *sl = ring_slot_at(&shm_box_of(m)->seg, 0);
    /* A live receiver holds the message, copying it out. */
    pid_t holder = fork();
    if (holder == 0) {
        test_await_kill();
    }
    uint64_t stuck = slot_word(0, SLOT_TAKING, holder);
    sl->word = stuck;
    uint64_t start = 0;
    assert_int_equal(proc_start(holder, &start), 0);
    ring_note_holder(sl, stuck, ident_make(holder, (uint32_t)start));
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t p = fork();
    if (p == 0) {
        mbx_set_spin(m, MBX_FOREVER);
        if (write(go[1], "r", 1) != 1)
            _exit(3);
        int got = 0;
        ssize_t n = mbx_recv(m, &got, sizeof(got), NULL, 3000000000ll);
        _exit(n == sizeof(got) && got == 42 ? 0 : 1);
    }
    char c;
    assert_int_equal(read(go[0], &c, 1), 1);
    usleep(30000); /* let it spin, watching the held slot */
    /* The holder dies and we repair, while the spinner is stopped so that
     * its own look (every 10 ms) cannot repair first, however loaded the
     * machine; then it runs on and must see the slot move. */
    assert_int_equal(kill(p, SIGSTOP), 0);
    int st;
    assert_int_equal(waitpid(p, &st, WUNTRACED), p);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    assert_int_equal(ring_unstick(&shm_box_of(m)->seg, sl, stuck, RING_NO_POS), 1);
    assert_int_equal(kill(p, SIGCONT), 0);
    reap_ok(p);
    mbx_close(m);
    mbx_unlink("spinrep");
    close(go[0]);
    close(go[1]);
}

/* Bug 2, heap kind: a receiver spinning without end on an empty heap
 * mailbox never looked for a lock holder that died after queueing a
 * message it did not count. */
static void spinning_heap_receiver_sees_a_dead_holder(void **state)
{
    (void)state;
    setenv("MBX_QUEUE", "heap", 1);
    mbx *m = test_box("spinheap", 8, 64, 0);
    unsetenv("MBX_QUEUE");
    assert_null(shm_box_of(m)->seg.ring);
    pid_t r = fork();
    if (r == 0) {
        mbx_set_spin(m, MBX_FOREVER);
        int got = 0;
        ssize_t n = mbx_recv(m, &got, sizeof(got), NULL, 5000000000ll);
        _exit(n == sizeof(got) && got == 7 ? 0 : 1);
    }
    usleep(50000);
    pid_t p = fork();
    if (p == 0) { /* queues 7 but dies before counting it */
        seg_lock(&shm_box_of(m)->seg, -1);
        struct seg_blk *b;
        alloc_take(&shm_box_of(m)->seg, sizeof(int), ident_self(), &b);
        int v = 7;
        memcpy(seg_payload(b), &v, sizeof(v));
        b->len = sizeof(v);
        b->seq = shm_box_of(m)->seg.hdr->meta.seq_next++;
        b->state = BLK_QUEUED;
        prioq_push(&shm_box_of(m)->seg, b);
        raise(SIGKILL);
    }
    waitpid(p, NULL, 0);
    reap_ok(r);
    mbx_close(m);
    mbx_unlink("spinheap");
}

/* Bug 3: a sender asleep on a full ring was woken only at quarter-ring
 * boundaries or when the next slot was empty: a receive that freed its
 * slot elsewhere left it asleep until its own 10 ms look. Every receive
 * that frees room while a sender sleeps wakes one. */
static void receive_wakes_a_sleeping_sender(void **state)
{
    (void)state;
    mbx *m = test_box("wake", 64, 64, 0);
    int v = 0;
    for (v = 0; v < 64; v++)
        assert_int_equal(mbx_send(m, &v, sizeof(v), 0, 0), 0);
    pid_t p = fork();
    if (p == 0) {
        mbx_set_spin(m, 0);
        _exit(mbx_send(m, &v, sizeof(v), 0, 10000000000ll) == 0 ? 0 : 1);
    }
    struct seg_hot *hot = &shm_box_of(m)->seg.hdr->hot;
    for (int i = 0; i < 5000 && !sleepers_any(&hot->send_waiters); i++)
        usleep(1000);
    assert_true(sleepers_any(&hot->send_waiters));
    uint32_t before = __atomic_load_n(&hot->send_futex, __ATOMIC_SEQ_CST);
    int got;
    /* Position 0: not a quarter boundary, and position 1 holds a message. */
    assert_int_equal(mbx_recv(m, &got, sizeof(got), NULL, 0), sizeof(got));
    assert_int_not_equal(__atomic_load_n(&hot->send_futex, __ATOMIC_SEQ_CST), before);
    reap_ok(p);
    mbx_close(m);
    mbx_unlink("wake");
}

/* Found by the model check (src/shm/ring/ring_model.pml): a sender whose
 * every slot is held by a live process (received loans not released yet)
 * relocated them round and round for ever, positions running ahead of the
 * head, and even a non-blocking send never returned. It now moves each
 * holder on at most once a lap, then reports the ring full. */
static void sender_facing_live_holds_does_not_spin(void **state)
{
    (void)state;
    mbx *m = test_box("relspin", 2, 64, 0);
    int v = 1;
    const void *a, *b;
    assert_int_equal(mbx_send(m, &v, sizeof(v), 0, 0), 0);
    assert_int_equal(mbx_send(m, &v, sizeof(v), 0, 0), 0);
    assert_int_equal(mbx_recv_loan(m, &a, NULL, 0), sizeof(v));
    assert_int_equal(mbx_recv_loan(m, &b, NULL, 0), sizeof(v));
    pid_t p = fork();
    if (p == 0) {
        alarm(5); /* the spin: killed by SIGALRM */
        int r = mbx_send(m, &v, sizeof(v), 0, MBX_NONBLOCK);
        if (r != -EAGAIN)
            _exit(1);
        r = mbx_send(m, &v, sizeof(v), 0, 20000000ll); /* 20 ms */
        _exit(r == -ETIMEDOUT ? 0 : 2);
    }
    reap_ok(p);
    /* Released, the room is there again. */
    assert_int_equal(mbx_release(m, a), 0);
    assert_int_equal(mbx_send(m, &v, sizeof(v), 0, MBX_NONBLOCK), 0);
    assert_int_equal(mbx_release(m, b), 0);
    mbx_close(m);
    mbx_unlink("relspin");
}

/* An idle ring has storage for its control block and its slot headers,
 * which lie together: a page or a few, not a page per slot (a 1024-slot
 * ring of 64 KiB messages once took 4 MiB before its first message). The
 * payloads get storage as messages use them, and every slot's payload is
 * its own (a message in each slot comes back whole). */
static void idle_ring_is_a_few_pages(void **state)
{
    (void)state;
    mbx *m = test_box("idle", 1024, 64 * 1024, 0);
    struct stat st;
    assert_int_equal(fstat(shm_box_of(m)->file.fd, &st), 0);
    /* header page, receipts, control block and 1024 header lines */
    assert_true((uint64_t)st.st_blocks * 512 <= 96 * 1024);
    char buf[100];
    for (unsigned i = 0; i < 1024; i++) {
        memset(buf, (int)(i & 0xff), sizeof(buf));
        assert_int_equal(mbx_send(m, buf, sizeof(buf), 0, 0), 0);
    }
    for (unsigned i = 0; i < 1024; i++) {
        assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), sizeof(buf));
        for (unsigned k = 0; k < sizeof(buf); k++)
            assert_int_equal((unsigned char)buf[k], i & 0xff);
    }
    mbx_close(m);
}

/* A loan moved on (relocated) by a sender that came round the ring while
 * the loan was held is sent as a copy; in a one-slot ring the copy used to
 * wait for room that only the loan itself held, so mbx_send_loan timed out
 * (found by the model check, scenario loan-reloc-1slot). */
static void moved_loan_in_one_slot_ring_is_sent(void **state)
{
    (void)state;
    mbx *m = test_box("oneslot", 1, 64, 0);
    void *loan;
    assert_int_equal(mbx_loan(m, 8, &loan), 0);
    memcpy(loan, "the loan", 8);
    /* Another process finds the only slot held by a live borrower a lap
     * behind: it moves the hold on and finds no room. */
    pid_t p = fork();
    if (p == 0) {
        test_child();
        _exit(mbx_send(m, "other", 5, 0, MBX_NONBLOCK) == -EAGAIN ? 0 : 1);
    }
    reap_ok(p);
    struct ring_slot *sl = ring_slot_at(&shm_box_of(m)->seg, 0);
    assert_int_equal(__atomic_load_n(&sl->moved, __ATOMIC_ACQUIRE), 1);
    assert_int_equal(mbx_send_loan(m, loan, 8, 0, 2000000000ll), 0);
    char buf[64];
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), 8);
    assert_memory_equal(buf, "the loan", 8);
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), -EAGAIN);
    /* The ring goes on. */
    assert_int_equal(mbx_send(m, "next", 4, 0, 0), 0);
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), 4);
    mbx_close(m);
}

/* A send (or loan) whose storage fails gives its claim up. If a sender
 * that came round the ring moved the claim on meanwhile (relocation), the
 * give-up used to miss it: the slot stayed claimed in the live sender's
 * name, moved on every lap, and the ring lost a slot of room until that
 * process died (found by the model: scenario giveup-2slots). The give-up now follows
 * the claim to where it was moved. */
static void give_up_follows_a_moved_claim(void **state)
{
    (void)state;
    mbx *m = test_box("giveup", 1, 64, 0);
    void *loan;
    /* Our claim at position 0, the only slot (a loan is a claim). */
    assert_int_equal(mbx_loan(m, 8, &loan), 0);
    pid_t p = fork();
    if (p == 0) {
        test_child();
        _exit(mbx_send(m, "other", 5, 0, MBX_NONBLOCK) == -EAGAIN ? 0 : 1);
    }
    reap_ok(p); /* it moved our claim on to position 1 */
    const struct seg *s = &shm_box_of(m)->seg;
    struct ring_slot *sl = ring_slot_at(s, 0);
    assert_int_equal(__atomic_load_n(&sl->moved, __ATOMIC_ACQUIRE), 1);
    /* Now our storage "fails": we give up the claim by the word we had. */
    int32_t pid = (int32_t)(getpid() & (int32_t)SLOT_PID_MASK);
    ring_give_up(s, sl, 0, slot_word(0, SLOT_CLAIMED, pid));
    assert_int_equal(slot_state_of(__atomic_load_n(&sl->word, __ATOMIC_ACQUIRE)), SLOT_FREE);
    /* The room is there again. */
    char buf[64];
    assert_int_equal(mbx_send(m, "next", 4, 0, MBX_NONBLOCK), 0);
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), 4);
    assert_memory_equal(buf, "next", 4);
    mbx_close(m);
}

/* A receiver killed while copying out a message behind a slot a live
 * process holds (a loan being written): the waiting receiver watched only
 * the first busy slot, found its holder alive every 10 ms, and never put
 * the dead receiver's message back; it waited until the loan was sent
 * (found by the model: scenario behind-live-2slots). Its 10 ms look now also puts back
 * what dead receivers hold further on. */
static void dead_receivers_message_behind_a_live_hold_comes_back(void **state)
{
    (void)state;
    mbx *m = test_box("behind", 2, 64, 0);
    void *loan;
    assert_int_equal(mbx_loan(m, 8, &loan), 0);          /* position 0, ours */
    assert_int_equal(mbx_send(m, "behind", 6, 0, 0), 0); /* position 1 */
    const struct seg *s = &shm_box_of(m)->seg;
    pid_t p = fork();
    if (p == 0) {
        /* A receiver that takes position 1 and dies copying it out. */
        test_child();
        struct ring_slot *sl = ring_slot_at(s, 1);
        uint64_t w = __atomic_load_n(&sl->word, __ATOMIC_ACQUIRE);
        if (slot_state_of(w) != SLOT_READY)
            _exit(1);
        uint64_t mine = slot_word(1, SLOT_TAKING, (int32_t)(getpid() & (int32_t)SLOT_PID_MASK));
        if (!__atomic_compare_exchange_n(&sl->word, &w, mine, 0, __ATOMIC_SEQ_CST,
                                         __ATOMIC_RELAXED))
            _exit(2);
        ring_note_holder(sl, mine, ident_self());
        _exit(0);
    }
    reap_ok(p);
    char buf[64];
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 2000000000ll), 6);
    assert_memory_equal(buf, "behind", 6);
    assert_int_equal(mbx_send_loan(m, loan, 0, 0, 0), 0);
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), 0);
    mbx_close(m);
}

/* MBX_NONBLOCK receives in a loop behind a busy slot read /proc for its
 * holder on every call (some 10-20 us each here); now a holder found alive
 * is trusted for 10 ms while its pid exists. A death is still seen by the
 * very next call once the holder is reaped. */
static void nonblock_receive_sees_a_death_at_once(void **state)
{
    (void)state;
    mbx *m = test_box("nbdeath", 1, 64, 0);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t p = fork();
    if (p == 0) {
        /* Holds a claim on the only slot (a loan) and waits to be killed. */
        test_child();
        void *loan;
        char ok = mbx_loan(m, 8, &loan) == 0;
        if (write(ready[1], &ok, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char ok = 0;
    assert_int_equal(read(ready[0], &ok, 1), 1);
    assert_true(ok);
    char buf[64];
    mbx_stat st;
    for (int i = 0; i < 3; i++) /* the holder found alive, then trusted */
        assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, MBX_NONBLOCK), -EAGAIN);
    assert_int_equal(mbx_stat_get(m, &st), 0);
    uint32_t before = st.repairs;
    kill(p, SIGKILL);
    assert_int_equal(waitpid(p, NULL, 0), p);
    /* One call, at once: the dead claim is repaired by it. */
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, MBX_NONBLOCK), -EAGAIN);
    assert_int_equal(mbx_stat_get(m, &st), 0);
    assert_int_equal(st.repairs, before + 1);
    assert_int_equal(mbx_send(m, "room", 4, 0, MBX_NONBLOCK), 0);
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, MBX_NONBLOCK), 4);
    close(ready[0]);
    close(ready[1]);
    mbx_close(m);
}

/* Writes, once, a pattern over one lap of m's ring from its tail: live
 * holds a lap behind (to be moved on) in turn with slots "taken already"
 * far ahead and never moved. */
static void write_claim_trap(mbx *m, pid_t holder)
{
    struct seg *s = &shm_box_of(m)->seg;
    uint64_t t = __atomic_load_n(&ring_ctl_of(s)->tail, __ATOMIC_ACQUIRE);
    uint64_t n = s->ring_slots;
    for (uint64_t k = 0; k < n; k++) {
        struct ring_slot *sl = ring_slot_at(s, t + k);
        if (k % 2 == 0) {
            __atomic_store_n(&sl->word, slot_word(t + k - n, SLOT_CLAIMED, holder),
                             __ATOMIC_RELEASE);
        } else {
            __atomic_store_n(&sl->moved, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&sl->word, slot_word(t + k + (1ull << 38) - 8, SLOT_READY, 0),
                             __ATOMIC_RELEASE);
        }
    }
}

/* Against that pattern a send or loan ends: each side of it reset the
 * claim's counters in turn, and a non-blocking send, a loan and a timed
 * send (not spinning, or with senders said to sleep) moved holds on for
 * ever (found by an attacker review). Run in a child that SIGALRM kills. */
static void sender_against_a_written_trap_ends(void **state)
{
    (void)state;
    pid_t holder = fork();
    if (holder == 0)
        test_await_kill();
    for (int mode = 0; mode < 4; mode++) {
        mbx *m = test_box("trap", mode == 3 ? 64 : 4, 64, 0);
        write_claim_trap(m, holder);
        if (mode == 3) /* senders said to sleep: a wait skips its spin */
            __atomic_store_n(&shm_box_of(m)->seg.hdr->hot.send_waiters, 1, __ATOMIC_SEQ_CST);
        pid_t p = fork();
        if (p == 0) {
            alarm(20); /* the endless loop: killed by SIGALRM */
            int v = 1, r;
            void *buf;
            if (mode == 0)
                r = mbx_send(m, &v, sizeof(v), 0, MBX_NONBLOCK);
            else if (mode == 1)
                r = mbx_loan(m, sizeof(v), &buf);
            else {
                if (mode == 2)
                    mbx_set_spin(m, 0);
                r = mbx_send(m, &v, sizeof(v), 0, 100000000ll);
            }
            /* Ended: what it says depends on the holds it moved on. */
            _exit(r == 0 || r == -EAGAIN || r == -ETIMEDOUT || r == -EUCLEAN ? 0 : 1);
        }
        reap_ok(p);
        mbx_close(m);
        mbx_unlink("trap");
    }
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(priority_count_is_exact_to_the_lap),
        cmocka_unit_test(late_repairer_leaves_the_next_lap_alone),
        cmocka_unit_test(dead_receiver_leaves_the_priority),
        cmocka_unit_test(dead_receivers_high_message_comes_first),
        cmocka_unit_test(spinning_receiver_sees_anothers_repair),
        cmocka_unit_test(spinning_heap_receiver_sees_a_dead_holder),
        cmocka_unit_test(receive_wakes_a_sleeping_sender),
        cmocka_unit_test(sender_facing_live_holds_does_not_spin),
        cmocka_unit_test(sender_against_a_written_trap_ends),
        cmocka_unit_test(idle_ring_is_a_few_pages),
        cmocka_unit_test(moved_loan_in_one_slot_ring_is_sent),
        cmocka_unit_test(give_up_follows_a_moved_claim),
        cmocka_unit_test(dead_receivers_message_behind_a_live_hold_comes_back),
        cmocka_unit_test(nonblock_receive_sees_a_death_at_once),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
