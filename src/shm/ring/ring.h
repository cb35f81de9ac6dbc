/* Ring mailboxes: messages live in place in a ring of slots, one per unit of
 * capacity, and move without the lock.
 *
 * Each slot has one 64-bit word: [position:39][state:3][pid:22]. A sender
 * claims the slot of position t by turning SLOT_FREE(t) into SLOT_CLAIMED(t, pid) with
 * one compare-and-swap, fills it, and publishes SLOT_READY(t). A receiver turns
 * SLOT_READY(t) into SLOT_TAKING(t, pid), copies the message out, and frees the slot
 * for the next lap, SLOT_FREE(t + slots). Head and tail are hints that anyone
 * advances. The position is the message's sequence number, so the ring is
 * send order; a receiver scans it for the highest priority only while
 * messages above priority 0 are queued.
 *
 * Crash safety without a lock: every state a process can die in names that
 * process (pid in the word, start time beside it), so whoever finds a slot
 * stuck checks it: a dead sender's SLOT_CLAIMED slot becomes SLOT_SKIP (no
 * message: it was never reported sent), a dead receiver's SLOT_TAKING slot
 * goes back to SLOT_READY (it never returned the message, which is
 * delivered again), a dead borrower's SLOT_LENT slot is freed.
 *
 * A slot held for long by a live process (a loan not yet sent, a received
 * loan not yet released, a stopped process) does not stop the ring: a
 * sender that comes round a lap later moves the holder's state on to its
 * own position (`relocation`) and takes the next one. The holder finds its
 * slot at the new position when it is done.
 *
 * Layout: the control block, the slot headers (one line each, together),
 * then from the next page boundary the payloads, slot_size bytes apart,
 * and for rings of large slots the pool's buffers after them.
 *
 * Positions are 64-bit counters; the word keeps their low 39 bits, and
 * full positions are rebuilt from the head or tail nearby (ring_pos64).
 */
#ifndef MBX_RING_H
#define MBX_RING_H

#include "shm/shm.h"

/* The kind's mark in the segment header (seg_hdr.flags). */
#define RING_HDR_FLAG 0x100u
/* Limits of the ring kind: at most this many slots, one per unit of
 * capacity for messages up to RING_SMALL_MSG; larger ones get no more
 * slots than memory_limit holds (ring_kind.c). */
#define RING_MAX_SLOTS 1024u
#define RING_SMALL_MSG (64u * 1024u)

/* Rings whose slots are larger than RING_SMALL_MSG, with RING_POOL_MIN_SLOTS
 * slots or more, get RING_POOL_BUFS spare payload buffers besides their
 * slots (ring_pool.c): a message of RING_POOL_MIN_LEN bytes or more is
 * copied into the buffer freed last, still in the caches, instead of the
 * slot's own, last touched a lap of slots ago. */
#define RING_POOL_BUFS      4u
#define RING_POOL_MIN_SLOTS 8u
#define RING_POOL_MIN_LEN   (64u * 1024u)

#define SLOT_POS_BITS 39
#define SLOT_POS_MASK ((1ull << SLOT_POS_BITS) - 1)
#define SLOT_PID_BITS 22 /* the kernel's PID_MAX_LIMIT is 2^22 */
#define SLOT_PID_MASK ((1u << SLOT_PID_BITS) - 1)

enum slot_state {
    SLOT_FREE = 0,
    SLOT_CLAIMED = 1, /* a sender writes it (or holds it as a loan) */
    SLOT_READY = 2,   /* a whole message */
    SLOT_TAKING = 3,  /* a receiver copies it out */
    SLOT_SKIP = 4,    /* no message: its sender died; being freed */
    SLOT_LENT = 5,    /* a receiver holds it as a loan until mbx_release */
};

struct ring_ctl {
    uint64_t tail; /* next position to claim; senders' line */
    uint64_t sent;
    uint64_t pad0[6];
    uint64_t head; /* next position to take; receivers' line */
    uint64_t received;
    uint64_t pad1[6];
    uint32_t hiprio;  /* messages above priority 0 queued or being sent */
    uint32_t unstuck; /* slots repaired after their process died */
    /* The pool of a ring of large slots (layout version 6, ring_pool.c),
     * under the mailbox lock: pool_free[0 .. pool_top) are the buffers no
     * slot holds, the last one freed on top; pool_slot[i] is the slot that
     * took buffer i (a hint, checked against that slot's buf); pool_dirty
     * is 1 once a slot let go of a buffer without the lock (the next
     * holder of the lock finds it again). */
    uint32_t pool_top;
    uint32_t pool_dirty;
    uint32_t pool_free[RING_POOL_BUFS];
    uint32_t pool_slot[RING_POOL_BUFS];
    uint32_t pad2[12 - 2 * RING_POOL_BUFS];
};
_Static_assert(sizeof(struct ring_ctl) == 3 * SEG_LINE, "ring control is three lines");

struct ring_slot {
    uint64_t word;
    uint32_t len;
    uint32_t prio;
    int32_t sender_pid;
    uint32_t sender_uid;
    uint64_t token;
    /* The start time of the process the word names (ident.h), valid while
     * who_word equals the word: the process that moved the slot into a
     * state naming it writes it just after, so a repairer can tell that
     * process from a later one with the same pid. */
    uint64_t who_word;
    uint32_t who_start;
    uint32_t moved; /* 1 once a claim was relocated (see ring_send_loan) */
    uint64_t type;  /* the sender's type tag (mbx_send_typed), 0 by default */
    /* Rings with a pool: 0 while the message lies in the slot's own
     * payload, else 1 + the pool buffer it lies in (ring_pool.c). */
    uint32_t buf;
    uint32_t origin; /* the sender's host (mbx_msginfo.sender_host), 0 here */
};
/* The headers sit side by side, one line each, apart from the payloads
 * (ring_impl.h), so an idle ring's file has a page or two of headers
 * backed instead of one page per slot. */
_Static_assert(sizeof(struct ring_slot) == SEG_LINE, "slot header is one line");

static inline uint64_t slot_word(uint64_t pos, unsigned state, int32_t pid)
{
    return ((pos & SLOT_POS_MASK) << (64 - SLOT_POS_BITS)) | ((uint64_t)state << SLOT_PID_BITS) |
           ((uint32_t)pid & SLOT_PID_MASK);
}

static inline unsigned slot_state_of(uint64_t w)
{
    return (unsigned)(w >> SLOT_PID_BITS) & 7u;
}

static inline int32_t slot_pid_of(uint64_t w)
{
    return (int32_t)(w & SLOT_PID_MASK);
}

/* Signed distance from position pos to the slot word's position, modulo
 * 2^39: 0 means the slot is at pos, -slots means a lap behind. */
static inline int64_t slot_dist(uint64_t w, uint64_t pos)
{
    uint64_t d = ((w >> (64 - SLOT_POS_BITS)) - pos) << (64 - SLOT_POS_BITS);
    return (int64_t)d >> (64 - SLOT_POS_BITS);
}

/* As mb_send, for a ring mailbox. */
int ring_send(const struct mb_ctx *c, const void *buf, size_t len, unsigned prio,
              int64_t timeout_ns);

/* As mb_recv, for a ring mailbox. */
ssize_t ring_recv(const struct mb_ctx *c, pid_t from, void *buf, size_t cap, mbx_msginfo *info,
                  int64_t timeout_ns);

/* Zero copy. ring_loan claims a slot for a message of len bytes and stores
 * its payload in *buf (never waits: -EAGAIN when full); ring_send_loan
 * publishes it; ring_recv_loan lends the next message's slot (its size is
 * returned, its payload stored in *buf); ring_release frees a lent slot.
 * -EINVAL for a buffer that is not this process's loan. */
int ring_loan(const struct mb_ctx *c, size_t len, void **buf);
int ring_send_loan(const struct mb_ctx *c, void *buf, size_t len, unsigned prio,
                   int64_t timeout_ns);
ssize_t ring_recv_loan(const struct mb_ctx *c, const void **buf, mbx_msginfo *info,
                       int64_t timeout_ns);
int ring_release(const struct mb_ctx *c, const void *buf);

/* As shm_kind.withdraw, for a ring mailbox. */
int ring_withdraw(const struct mb_ctx *c, uint64_t token);

/* As shm_kind.ready, for a ring mailbox. */
int ring_ready(const struct seg *s, unsigned dir, uint64_t want);

#endif
