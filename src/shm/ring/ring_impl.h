/* Internals shared by the files of ring mailboxes (ring.c, ring_repair.c,
 * ring_loan.c). See ring.h for the design. */
#ifndef MBX_RING_IMPL_H
#define MBX_RING_IMPL_H

#include "platform/platform.h"
#include "shm/ring/ring.h"

/* Sleeps are capped at this while a dead process may hold a slot, so the
 * check for its death comes round. */
#define STUCK_POLL_NS 10000000ll
/* Consecutive hint advances that find no slot to use: a ring this broken
 * is corrupt, not busy. */
#define ADVANCE_LIMIT (1u << 18)
/* How many laps of full positions one claim may move live holders on
 * for (ring_claim): one is what the protocol needs; the rest is slack for
 * holders that move while we look. */
#define RELOCATE_LAPS 4
#define RETRY         (-1000000) /* not an errno: look again */

/* A message above priority 0 carries this bit in its slot's prio while it
 * is counted in hiprio (see ring_count_down). Whoever takes it off the
 * count clears the bit with an exchange while it holds the slot (TAKING,
 * LENT or SKIP), so the bit never outlives its lap. */
#define PRIO_COUNTED 0x80000000u

static inline struct ring_slot *ring_slots_of(const struct seg *s)
{
    return (struct ring_slot *)(s->ring + sizeof(struct ring_ctl));
}

static inline struct ring_slot *ring_slot_at(const struct seg *s, uint64_t pos)
{
    return ring_slots_of(s) + pos % s->ring_slots;
}

static inline struct ring_ctl *ring_ctl_of(const struct seg *s)
{
    return (struct ring_ctl *)s->ring;
}

/* The full 64-bit position of slot word w, from a position ref (the head
 * or the tail) within 2^38 of it. */
static inline uint64_t ring_pos64(uint64_t ref, uint64_t w)
{
    return ref + (uint64_t)slot_dist(w, ref);
}

/* Index of a slot in the ring. */
static inline uint32_t ring_index(const struct seg *s, const struct ring_slot *sl)
{
    return (uint32_t)(sl - ring_slots_of(s));
}

/* The payload buffer slot sl's message lies in: the slot's own (its index),
 * or with a pool, ring_slots + i for pool buffer i (ring_pool.c). A value
 * out of range in the slot (a peer's scribble) names the slot's own. */
static inline uint32_t ring_buf_id(const struct seg *s, const struct ring_slot *sl)
{
    if (__builtin_expect(s->ring_pool == 0, 1))
        return ring_index(s, sl);
    uint32_t b = __atomic_load_n(&sl->buf, __ATOMIC_RELAXED);
    return b && b <= s->ring_pool ? s->ring_slots + b - 1 : ring_index(s, sl);
}

/* Where slot sl's message lies. */
static inline unsigned char *ring_payload(const struct seg *s, const struct ring_slot *sl)
{
    return s->ring_payloads + (uint64_t)ring_buf_id(s, sl) * s->slot_size;
}

/* The pool of a ring of large slots (ring_pool.c). Every buffer is held by
 * one slot (its buf names it) or free in the pool, and a slot's buf
 * changes only under the mailbox lock. */

/* Writes the pool of a new ring: every buffer free. */
void ring_pool_format(struct ring_ctl *ctl);

/* For a sender holding slot sl (claimed) about to copy len bytes in: gives
 * it the buffer freed last when the message is RING_POOL_MIN_LEN or more
 * and one is free; a buffer the slot holds already (left by a process
 * that died, or not given back yet by its receiver) is kept for such a
 * message and given back for a smaller one. Never fails: without the lock
 * (a stopped holder), the slot's own payload serves. */
void ring_pool_take(const struct seg *s, struct ring_slot *sl, size_t len);

/* For a loaner holding slot sl (claimed): gives back any pool buffer the
 * slot holds, so the loan is the slot's own payload (whose address names
 * the slot). */
void ring_pool_drop(const struct seg *s, struct ring_slot *sl);

/* For a receiver that copied the message of slot sl out of pool buffer
 * `buf` (1 + index) and freed the slot as `freed`: puts the buffer back
 * on top of the pool, unless a sender claimed the slot meanwhile (it
 * keeps the buffer). */
void ring_pool_put(const struct seg *s, struct ring_slot *sl, uint32_t buf, uint64_t freed);

/* The slot whose message lies in the pool buffer at p, or NULL when p is
 * not the start of one held by a slot. */
struct ring_slot *ring_pool_slot_of(const struct seg *s, const unsigned char *p);

/* After a holder of the mailbox lock died (shm_kind.repair), or after a
 * reboot: the free buffers are those no slot holds. Returns 0, or
 * -EUCLEAN when two slots name the same buffer. */
int ring_pool_repair(struct seg *s);

/* Offset of the payloads from the start of the ring's region: after the
 * control block and the headers, page aligned. */
static inline uint64_t ring_payloads_off(uint32_t slots)
{
    uint64_t end = sizeof(struct ring_ctl) + (uint64_t)slots * sizeof(struct ring_slot);
    return (end + SEG_PAGE - 1) / SEG_PAGE * SEG_PAGE;
}

/* After moving slot sl into word w, which names the caller: records the
 * caller's start time beside it (see struct ring_slot). */
static inline void ring_note_holder(struct ring_slot *sl, uint64_t w, ident_t me)
{
    __atomic_store_n(&sl->who_start, ident_start(me), __ATOMIC_RELAXED);
    __atomic_store_n(&sl->who_word, w, __ATOMIC_RELEASE);
}

/* Bytes between two payloads for messages up to max_msg bytes. */
uint64_t ring_slot_size(uint64_t max_msg);

/* After a reboot, when every process the ring names is gone: frees slots
 * being written or lent, makes slots being copied out READY again, and
 * recounts. Nobody else may use the ring meanwhile. Returns 0. */
int ring_reset_all_dead(struct seg *s);

/* Counts what is queued (a snapshot), the totals, and the repairs. */
void ring_stat(const struct seg *s, mbx_stat *st);

/* Moves a head or tail hint from `from` on by one, unless someone did. */
static inline void ring_advance(uint64_t *hint, uint64_t from)
{
    __atomic_compare_exchange_n(hint, &from, from + 1, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

/* Takes one message off the count of those above priority 0. */
void ring_count_down(struct ring_ctl *ctl);

/* For a slot the caller holds whose message leaves the queue: takes it off
 * the count of those above priority 0, if it was on it (once, whoever
 * calls), leaving the priority itself in place. */
void ring_release_prio(struct ring_ctl *ctl, struct ring_slot *sl);

/* Frees a SKIP slot at pos for the next lap, unless a live thread is doing
 * so. Returns 1 if this call freed it. */
int ring_free_skipped(const struct seg *s, struct ring_slot *sl, uint64_t pos);

/* Moves slot sl from word w (held by the caller, or by a dead process) to
 * SKIP naming the calling thread, and frees it for the next lap. Returns
 * 1, or 0 when the slot no longer held w. */
int ring_skip(const struct seg *s, struct ring_slot *sl, uint64_t w);

/* Repairs a slot left half done by a dead process (see ring_repair.c).
 * When the slot holds a live process's state a lap behind position want
 * (a sender's position; pass RING_NO_POS otherwise), moves that state on
 * to want instead, so the holder no longer blocks the ring. Returns 1 when
 * the slot was stuck and is now repaired or moved. */
#define RING_NO_POS UINT64_MAX
int ring_unstick(const struct seg *s, struct ring_slot *sl, uint64_t w, uint64_t want);

/* Puts back every message a dead receiver was copying out, in any slot: a
 * waiting receiver's 10 ms look, for such a message behind
 * a slot a live process holds (the look at that slot alone finds its holder
 * alive). Returns 1 when one was put back, else 0. */
int ring_put_back_dead_takers(const struct seg *s);

/* Returns 1 while the process slot word w names (as recorded beside it,
 * else by pid alone) lives, else 0. */
int ring_holder_alive(const struct ring_slot *sl, uint64_t w);

/* Moves slot sl, which the caller holds as *mine, to `state` (naming no
 * process) at the hold's position plus `ahead` (0, or a lap to free it for
 * the next), following the hold where a sender relocated it (*mine is
 * updated). Returns 1, or 0 when the slot is no longer the caller's. */
int ring_let_go(const struct seg *s, struct ring_slot *sl, uint64_t *mine, unsigned state,
                uint64_t ahead);

/* When the word of a slot the caller held as `mine` moved on because a
 * sender relocated it (same state, same pid, whole laps later), stores the
 * new word in *mine and returns 1; else 0 (the slot is no longer ours). */
int ring_relocated(const struct seg *s, const struct ring_slot *sl, uint64_t *mine);

/* Claims the slot of the next position: CLAIMED(t, pid), waiting for room
 * per timeout_ns. Returns 0 with *out and *t_out set, or -EAGAIN,
 * -ETIMEDOUT, -EINTR, -EIDRM, -EUCLEAN. */
int ring_claim(const struct mb_ctx *c, int64_t timeout_ns, struct ring_slot **out, uint64_t *t_out);

/* Fills the slot claimed as `mine` (copying buf unless it is the slot's own
 * payload) and publishes it. Returns 0, RETRY when the slot was taken from
 * us meanwhile (we were judged dead), or -ENOSPC when the file system has
 * no room for the message (the slot is given up); then it was not sent. */
int ring_publish(const struct mb_ctx *c, struct ring_slot *sl, uint64_t t, uint64_t mine,
                 const void *buf, size_t len, unsigned prio, uint64_t token);

/* Makes sure the file has storage under the first len payload bytes of a
 * claimed slot. Returns 0, or -ENOSPC (or another -errno of fallocate). */
int ring_back(const struct seg *s, struct ring_slot *sl, size_t len);

/* Gives up a slot claimed as `mine` at position t without a message. */
void ring_give_up(const struct seg *s, struct ring_slot *sl, uint64_t t, uint64_t mine);

/* The same; returns 1 when the slot was still `mine` and is now given up. */
int ring_give_up_if(const struct seg *s, struct ring_slot *sl, uint64_t mine);

/* Receives by copy into buf, or (lend not NULL) by lending the slot. */
ssize_t ring_recv_any(const struct mb_ctx *c, pid_t from, void *buf, size_t cap, mbx_msginfo *info,
                      int64_t timeout_ns, const void **lend);

#endif
