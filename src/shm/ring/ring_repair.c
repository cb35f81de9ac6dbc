/* Repair of ring slots that processes died in the middle of, and of a ring
 * that outlived the boot. */
#include "shm/ring/ring_impl.h"

#include "shm/wait.h"

/* A message above priority 0 carries this bit in its slot's prio while it
 * is counted in hiprio. The receiver that frees the slot, or (for a message
 * never published) whoever clears the bit with an exchange, takes it off
 * the count. A death in between leaves the count high, which only makes
 * receivers scan: never the reverse. */
void ring_count_down(struct ring_ctl *ctl)
{
    uint32_t h = __atomic_load_n(&ctl->hiprio, __ATOMIC_RELAXED);
    while (h && !__atomic_compare_exchange_n(&ctl->hiprio, &h, h - 1, 0, __ATOMIC_RELAXED,
                                             __ATOMIC_RELAXED))
        ;
}

void ring_release_prio(struct ring_ctl *ctl, struct ring_slot *sl)
{
    /* Only the mark goes: a receiver that dies after this line leaves a
     * message that goes back to the queue, with its priority. */
    if (__atomic_fetch_and(&sl->prio, ~PRIO_COUNTED, __ATOMIC_ACQ_REL) & PRIO_COUNTED)
        ring_count_down(ctl);
}

/* Puts the message in slot sl, held by the caller, back on the count of
 * those above priority 0 if its receiver took it off before dying. */
static void recount_prio(struct ring_ctl *ctl, struct ring_slot *sl)
{
    uint32_t p = __atomic_load_n(&sl->prio, __ATOMIC_ACQUIRE);
    if ((p & ~PRIO_COUNTED) == 0 || (p & PRIO_COUNTED))
        return;
    __atomic_fetch_add(&ctl->hiprio, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&sl->prio, p | PRIO_COUNTED, __ATOMIC_RELEASE);
}

/* Puts back the message of slot sl, TAKING (word w) by a dead receiver, as
 * READY at its position. The repairer first holds the slot as TAKING in
 * its own name, so that it alone fixes the priority count, and a repairer
 * that dies half way is finished by the next. Returns 1, or 0 when the
 * slot no longer held w. */
static int put_back(const struct seg *s, struct ring_slot *sl, uint64_t w)
{
    struct ring_ctl *ctl = ring_ctl_of(s);
    ident_t me = ident_self();
    uint64_t mine = slot_word(w >> (64 - SLOT_POS_BITS), SLOT_TAKING, ident_id(me));
    if (!__atomic_compare_exchange_n(&sl->word, &w, mine, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        return 0;
    ring_note_holder(sl, mine, me);
    recount_prio(ctl, sl);
    /* A sender may move our hold on by whole laps meanwhile (relocation):
     * the message is put back where the hold is. */
    if (!ring_let_go(s, sl, &mine, SLOT_READY, 0))
        return 1; /* only a wrong judgement of our death moves it so */
    uint64_t h = __atomic_load_n(&ctl->head, __ATOMIC_ACQUIRE);
    uint64_t pos = ring_pos64(h, mine);
    while ((int64_t)(h - pos) > 0 &&
           !__atomic_compare_exchange_n(&ctl->head, &h, pos, 0, __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
        ;
    /* Receivers that looked before this watch `sent` or another slot, not
     * this one: the futex word must move even while nobody is counted
     * asleep yet, or one that counts itself in just after our look at the
     * count sleeps next to the message (found by the model, two-recv-1kill). */
    wake_change(s, SEG_POLL_RECV);
    return 1;
}

/* Frees slot sl, which the calling thread holds as SKIP (word mine), for
 * the next lap: takes its message's priority off the count first, while
 * the slot is still ours, so the exchange can never meet the next lap's. */
static void finish_skip(const struct seg *s, struct ring_slot *sl, uint64_t mine)
{
    uint64_t pos = mine >> (64 - SLOT_POS_BITS);
    ring_release_prio(ring_ctl_of(s), sl);
    if (__atomic_compare_exchange_n(&sl->word, &mine, slot_word(pos + s->ring_slots, SLOT_FREE, 0),
                                    0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        wake_all(s, SEG_POLL_SEND);
}

int ring_skip(const struct seg *s, struct ring_slot *sl, uint64_t w)
{
    ident_t me = ident_thread();
    uint64_t mine = slot_word(w >> (64 - SLOT_POS_BITS), SLOT_SKIP, ident_id(me));
    if (!__atomic_compare_exchange_n(&sl->word, &w, mine, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        return 0;
    ring_note_holder(sl, mine, me);
    finish_skip(s, sl, mine);
    return 1;
}

/* Frees a SKIP slot at pos for the next lap, unless a live thread is doing
 * so (a dead one's work is taken over). Returns 1 if this call freed it. */
int ring_free_skipped(const struct seg *s, struct ring_slot *sl, uint64_t pos)
{
    uint64_t w = __atomic_load_n(&sl->word, __ATOMIC_ACQUIRE);
    for (;;) {
        if (slot_dist(w, pos) != 0 || slot_state_of(w) != SLOT_SKIP)
            return 0;
        if (slot_pid_of(w) != 0 && ring_holder_alive(sl, w))
            return 0;
        if (ring_skip(s, sl, w))
            return 1;
        w = __atomic_load_n(&sl->word, __ATOMIC_ACQUIRE);
    }
}

int ring_holder_alive(const struct ring_slot *sl, uint64_t w)
{
    int32_t pid = slot_pid_of(w);
    /* A SKIP slot is being freed by a thread; every other state names a
     * process. */
    int (*alive)(ident_t) = slot_state_of(w) == SLOT_SKIP ? ident_thread_alive : ident_alive;
    /* The record is the holder's only while it names this very word: read
     * it between two looks at who_word. (A later holder cannot write it
     * meanwhile unless the word moved on, and then no repair happens.) */
    uint64_t r1 = __atomic_load_n(&sl->who_word, __ATOMIC_ACQUIRE);
    uint32_t start = __atomic_load_n(&sl->who_start, __ATOMIC_ACQUIRE);
    uint64_t r2 = __atomic_load_n(&sl->who_word, __ATOMIC_ACQUIRE);
    return alive(ident_make(pid, r1 == w && r2 == w ? start : 0));
}

int ring_let_go(const struct seg *s, struct ring_slot *sl, uint64_t *mine, unsigned state,
                uint64_t ahead)
{
    for (;;) {
        uint64_t expect = *mine;
        uint64_t to = slot_word((*mine >> (64 - SLOT_POS_BITS)) + ahead, state, 0);
        if (__atomic_compare_exchange_n(&sl->word, &expect, to, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED))
            return 1;
        if (!ring_relocated(s, sl, mine))
            return 0;
    }
}

int ring_relocated(const struct seg *s, const struct ring_slot *sl, uint64_t *mine)
{
    uint64_t cur = __atomic_load_n(&sl->word, __ATOMIC_ACQUIRE);
    int64_t d = slot_dist(cur, (uint64_t)(*mine >> (64 - SLOT_POS_BITS)));
    if (d <= 0 || d % s->ring_slots != 0 || slot_state_of(cur) != slot_state_of(*mine) ||
        slot_pid_of(cur) != slot_pid_of(*mine))
        return 0;
    *mine = cur;
    return 1;
}

/* A live process holds slot sl (word w) a lap behind position want: moves
 * its state on to want, so the sender that wants that position takes the
 * next one. The holder, when done, finds its slot at the new position
 * (ring_relocated). Returns 1 when moved. */
static int relocate(const struct seg *s, struct ring_slot *sl, uint64_t w, uint64_t want)
{
    if (slot_dist(w, want) != -(int64_t)s->ring_slots)
        return 0;
    uint64_t rec = __atomic_load_n(&sl->who_word, __ATOMIC_ACQUIRE);
    uint32_t start = __atomic_load_n(&sl->who_start, __ATOMIC_ACQUIRE);
    uint64_t moved = slot_word(want, slot_state_of(w), slot_pid_of(w));
    if (!__atomic_compare_exchange_n(&sl->word, &w, moved, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        return 0;
    if (rec == w && __atomic_load_n(&sl->who_word, __ATOMIC_ACQUIRE) == w)
        ring_note_holder(sl, moved, ident_make(slot_pid_of(w), start));
    __atomic_store_n(&sl->moved, 1, __ATOMIC_RELEASE);
    ring_advance(&ring_ctl_of(s)->tail, want);
    /* Receivers may watch the position that now holds no message; the
     * futex word moves for those about to sleep (as in put_back). */
    wake_change(s, SEG_POLL_RECV);
    return 1;
}

/* Repairs a slot a process died in the middle of: CLAIMED by a dead sender
 * (its message was never reported sent) or LENT to a dead receiver (a loan
 * it never released) is freed for the next lap; TAKING by a dead receiver
 * (it never returned the message) is made READY again. A live holder's
 * slot a lap behind `want` is relocated instead. Returns 1 when the slot
 * was stuck and is now repaired or moved. */
int ring_unstick(const struct seg *s, struct ring_slot *sl, uint64_t w, uint64_t want)
{
    struct ring_ctl *ctl = ring_ctl_of(s);
    unsigned st = slot_state_of(w);
    if (st != SLOT_CLAIMED && st != SLOT_TAKING && st != SLOT_SKIP && st != SLOT_LENT)
        return 0;
    if (st != SLOT_SKIP && ring_holder_alive(sl, w))
        return want != RING_NO_POS && relocate(s, sl, w, want);
    uint64_t pos = ring_pos64(__atomic_load_n(&ctl->head, __ATOMIC_ACQUIRE), w);
    if (st == SLOT_TAKING) {
        /* The receiver died before returning the message to anyone: put it
         * back, and the head with it, so it is delivered after all. */
        if (!put_back(s, sl, w))
            return 0;
    } else if (st == SLOT_SKIP) {
        /* A repairer or a sender that gave up died freeing it. */
        if (!ring_free_skipped(s, sl, pos))
            return 0;
    } else {
        /* The sender died before publishing (no message), or the borrower
         * of a loan before releasing it. SKIP, naming us, marks the repair
         * as begun: a repairer dying half way is finished by the next. */
        if (!ring_skip(s, sl, w))
            return 0;
    }
    __atomic_fetch_add(&ctl->unstuck, 1, __ATOMIC_RELAXED);
    return 1;
}

int ring_put_back_dead_takers(const struct seg *s)
{
    /* Every slot, not head to tail: the head may have been settled past a
     * slot still being copied out (put_back moves it back). */
    int any = 0;
    for (uint32_t i = 0; i < s->ring_slots; i++) {
        struct ring_slot *sl = ring_slot_at(s, i);
        uint64_t w = __atomic_load_n(&sl->word, __ATOMIC_ACQUIRE);
        /* Only a TAKING slot holds a message a death can hide; ring_unstick
         * leaves a live taker's alone. */
        if (slot_state_of(w) == SLOT_TAKING && ring_unstick(s, sl, w, RING_NO_POS))
            any = 1;
    }
    return any;
}

int ring_reset_all_dead(struct seg *s)
{
    struct ring_ctl *ctl = ring_ctl_of(s);
    uint64_t t = ctl->tail, oldest = 0;
    uint32_t hi = 0;
    int any = 0;
    for (uint32_t i = 0; i < s->ring_slots; i++) {
        struct ring_slot *sl = ring_slot_at(s, i);
        uint64_t w = sl->word, pos = ring_pos64(t, w);
        unsigned st = slot_state_of(w);
        if (st == SLOT_CLAIMED || st == SLOT_SKIP || st == SLOT_LENT) {
            sl->prio = 0;
            sl->word = slot_word(pos + s->ring_slots, SLOT_FREE, 0);
            continue;
        }
        if (st == SLOT_TAKING)
            sl->word = slot_word(pos, SLOT_READY, 0);
        else if (st != SLOT_READY)
            continue;
        hi += (sl->prio & PRIO_COUNTED) != 0;
        /* The head goes back to the oldest message left. */
        if (!any || (int64_t)(t - pos) > (int64_t)(t - oldest))
            oldest = pos;
        any = 1;
    }
    ctl->hiprio = hi;
    if (any)
        ctl->head = oldest;
    return ring_pool_repair(s);
}
