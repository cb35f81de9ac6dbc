/* The pool of a ring of large slots: RING_POOL_BUFS payload buffers besides
 * the slots' own, handed to the senders of large messages, the buffer
 * freed last first.
 *
 * Why: a ring's positions go round all its slots, so a ping-pong of 1 MiB
 * messages through a default ring (64 slots) copies through 64 MiB, each
 * slot's pages last touched a lap ago, out of the caches and the TLB. On
 * the 2-CPU VM of the benchmark a 1 MiB round trip took 380-410 us with
 * 64 slots and 250 us with 2. With the pool, a sender copies into the
 * buffer its receiver just copied out of.
 *
 * Ownership: every pool buffer is held by one slot (its buf names it: the
 * message of that slot lies there) or free (ctl->pool_free). A slot's buf
 * changes only under the mailbox lock:
 * - a sender that claimed a slot for a large copy takes the buffer on top
 *   of the free list, or keeps the one its slot holds already (left by a
 *   process that died, or by a receiver that had not given it back yet:
 *   the sender looks at buf under the lock, after that receiver);
 * - the receiver that copied a message out of a buffer and freed its slot
 *   (or released it, lent) puts the buffer back on top, unless a sender
 *   claimed the slot meanwhile (that sender keeps it);
 * - a loaner gives back what its slot holds: a loan is always the slot's
 *   own payload, whose address names the slot.
 * Otherwise a buffer stays with its slot through the slot's repairs (a
 * dead sender's claim skipped, a dead receiver's message put back in
 * place, a dead borrower's loan freed) and serves the slot's next sender.
 * A lock holder that dies half way leaves the free list and the slots
 * apart; the repair at the next lock rebuilds the list from the slots.
 * Without the lock (a stopped holder), the slot's own payload serves: a
 * sender or loaner that cannot have the lock lets go of a buffer its slot
 * held, and marks the pool so that the next holder of the lock rebuilds
 * the list (a rebuild is right under the lock at any time: what changes
 * a buf without it only ever clears it, and marks the pool after).
 */
#include "shm/ring/ring_impl.h"

#include "shm/lock.h"

#include <errno.h>

/* A pool step waits this long for the lock: one held longer is a stopped
 * or descheduled process's, and the slot's own payload serves instead (a
 * large copy takes longer than this wait). */
#define POOL_LOCK_NS 100000ll

#define NO_SLOT UINT32_MAX

void ring_pool_format(struct ring_ctl *ctl)
{
    ctl->pool_top = RING_POOL_BUFS;
    ctl->pool_dirty = 0;
    for (uint32_t i = 0; i < RING_POOL_BUFS; i++) {
        ctl->pool_free[i] = RING_POOL_BUFS - 1 - i; /* buffer 0 on top */
        ctl->pool_slot[i] = NO_SLOT;
    }
}

/* Takes the mailbox lock for a pool step, and first finds again what slots
 * let go of without it (pool_dirty). Returns 0 or an error of seg_lock. */
static int pool_lock(const struct seg *s)
{
    /* seg_lock may repair what the lock guards: the segment, not the
     * handle's view of it, changes. */
    int r = seg_lock((struct seg *)s, clock_deadline(POOL_LOCK_NS));
    struct ring_ctl *ctl = ring_ctl_of(s);
    if (r == 0 && __atomic_load_n(&ctl->pool_dirty, __ATOMIC_ACQUIRE)) {
        /* Cleared before the look: a slot that lets go after it sets it
         * again, for the next holder. */
        __atomic_store_n(&ctl->pool_dirty, 0, __ATOMIC_SEQ_CST);
        if (ring_pool_repair((struct seg *)s) != 0) {
            seg_unlock((struct seg *)s);
            return -EUCLEAN;
        }
    }
    return r;
}

/* Without the lock (a stopped holder): slot sl, held by the caller, lets
 * go of its buffer, for the slot's own payload. The buffer is then nobody's
 * until the next holder of the lock finds it (pool_dirty). */
static void let_go_unlocked(const struct seg *s, struct ring_slot *sl)
{
    __atomic_store_n(&sl->buf, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&ring_ctl_of(s)->pool_dirty, 1, __ATOMIC_SEQ_CST);
}

/* Caller holds the lock. Puts buffer i on top of the free list, unless it
 * is there already (a list a dead holder left apart). */
static void push_free(const struct seg *s, struct ring_ctl *ctl, uint32_t i)
{
    uint32_t top = ctl->pool_top;
    if (top >= s->ring_pool)
        return;
    for (uint32_t k = 0; k < top; k++)
        if (ctl->pool_free[k] == i)
            return;
    ctl->pool_free[top] = i;
    ctl->pool_slot[i] = NO_SLOT;
    __atomic_store_n(&ctl->pool_top, top + 1, __ATOMIC_RELAXED);
}

void ring_pool_take(const struct seg *s, struct ring_slot *sl, size_t len)
{
    uint32_t held = __atomic_load_n(&sl->buf, __ATOMIC_RELAXED);
    if (!s->ring_pool || (!held && len < RING_POOL_MIN_LEN))
        return; /* a small message in the slot's own payload: no lock */
    if (pool_lock(s)) {
        if (held) /* the message goes in the slot's own payload */
            let_go_unlocked(s, sl);
        return;
    }
    struct ring_ctl *ctl = ring_ctl_of(s);
    uint32_t b = __atomic_load_n(&sl->buf, __ATOMIC_RELAXED);
    if (b > s->ring_pool) { /* a peer's scribble: the slot's own payload */
        __atomic_store_n(&sl->buf, 0, __ATOMIC_RELAXED);
        b = 0;
    } else if (b && len < RING_POOL_MIN_LEN) {
        /* A small message in the slot's own payload, which has storage
         * for it, rather than in a buffer that might not. */
        push_free(s, ctl, b - 1);
        __atomic_store_n(&sl->buf, 0, __ATOMIC_RELAXED);
        b = 0;
    }
    uint32_t top = ctl->pool_top;
    if (b == 0 && len >= RING_POOL_MIN_LEN && top > 0 && top <= s->ring_pool) {
        uint32_t i = ctl->pool_free[top - 1];
        if (i < s->ring_pool) {
            /* A death between these stores leaves the buffer in both
             * places or in neither: the repair settles either. */
            ctl->pool_slot[i] = ring_index(s, sl);
            __atomic_store_n(&sl->buf, i + 1, __ATOMIC_RELAXED);
            __atomic_store_n(&ctl->pool_top, top - 1, __ATOMIC_RELAXED);
        }
    }
    seg_unlock((struct seg *)s);
}

void ring_pool_drop(const struct seg *s, struct ring_slot *sl)
{
    if (!s->ring_pool || !__atomic_load_n(&sl->buf, __ATOMIC_RELAXED))
        return;
    if (pool_lock(s)) {
        let_go_unlocked(s, sl);
        return;
    }
    uint32_t b = __atomic_load_n(&sl->buf, __ATOMIC_RELAXED);
    if (b && b <= s->ring_pool)
        push_free(s, ring_ctl_of(s), b - 1);
    __atomic_store_n(&sl->buf, 0, __ATOMIC_RELAXED);
    seg_unlock((struct seg *)s);
}

void ring_pool_put(const struct seg *s, struct ring_slot *sl, uint32_t buf, uint64_t freed)
{
    if (!s->ring_pool || buf == 0 || buf > s->ring_pool)
        return;
    if (pool_lock(s))
        return; /* it stays with the slot, for the slot's next sender */
    /* Still free at the position we freed it to: no sender has claimed it
     * (one that did keeps the buffer; it looks under the lock, after us). */
    if (__atomic_load_n(&sl->word, __ATOMIC_ACQUIRE) == freed &&
        __atomic_load_n(&sl->buf, __ATOMIC_RELAXED) == buf) {
        push_free(s, ring_ctl_of(s), buf - 1);
        __atomic_store_n(&sl->buf, 0, __ATOMIC_RELAXED);
    }
    seg_unlock((struct seg *)s);
}

struct ring_slot *ring_pool_slot_of(const struct seg *s, const unsigned char *p)
{
    if (!s->ring_pool || p < s->ring_pool_base)
        return NULL;
    uint64_t off = (uint64_t)(p - s->ring_pool_base);
    if (off % s->slot_size != 0 || off / s->slot_size >= s->ring_pool)
        return NULL;
    uint32_t i = (uint32_t)(off / s->slot_size);
    uint32_t at = __atomic_load_n(&ring_ctl_of(s)->pool_slot[i], __ATOMIC_RELAXED);
    if (at >= s->ring_slots)
        return NULL;
    struct ring_slot *sl = ring_slot_at(s, at);
    return __atomic_load_n(&sl->buf, __ATOMIC_RELAXED) == i + 1 ? sl : NULL;
}

int ring_pool_repair(struct seg *s)
{
    if (!s->ring_pool)
        return 0;
    struct ring_ctl *ctl = ring_ctl_of(s);
    uint32_t held_by[RING_POOL_BUFS];
    for (uint32_t i = 0; i < RING_POOL_BUFS; i++)
        held_by[i] = NO_SLOT;
    for (uint32_t k = 0; k < s->ring_slots; k++) {
        struct ring_slot *sl = ring_slot_at(s, k);
        uint32_t b = __atomic_load_n(&sl->buf, __ATOMIC_RELAXED);
        if (b == 0)
            continue;
        if (b > s->ring_pool) { /* read as the slot's own payload anyway */
            __atomic_store_n(&sl->buf, 0, __ATOMIC_RELAXED);
            continue;
        }
        if (held_by[b - 1] != NO_SLOT)
            return -EUCLEAN; /* two messages in one buffer: not a death's doing */
        held_by[b - 1] = k;
    }
    uint32_t top = 0;
    for (uint32_t i = 0; i < s->ring_pool; i++) {
        ctl->pool_slot[i] = held_by[i];
        if (held_by[i] == NO_SLOT)
            ctl->pool_free[top++] = i;
    }
    __atomic_store_n(&ctl->pool_top, top, __ATOMIC_RELAXED);
    return 0;
}
