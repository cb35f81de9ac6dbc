/* Waiting for a mailbox to change, and waking whoever waits: the one spin,
 * deadline rule, removal and closing check, and sleep that every kind of
 * mailbox uses, and the one place that wakes. (A pollable descriptor hooks
 * into the wake functions.)
 *
 * A waiter spins on the word it watches for its handle's spin time (less
 * when others already sleep: spinning would take a CPU from the process
 * that has to make progress), then sleeps on a futex word once, at most a
 * slice (250 ms, so sleepers count themselves again: sleepers.h) and at
 * most cap_ns, and returns to let its caller look again. What nobody
 * signals (a dead holder, a peer that died) is looked for by the look hook
 * after the spin and every 10 ms of an endless spin, and by the call's poll
 * hook after every sleep.
 */
#ifndef MBX_SHM_WAIT_H
#define MBX_SHM_WAIT_H

#include "shm/poll.h"
#include "shm/segment.h"
#include "shm/sleepers.h"

#include <limits.h>

#include <stdint.h>

/* How a handle waits: spin time (ns; -1 spins only, 0 sleeps at once), the
 * longest sleep before its poll hook looks (0: a slice), and the handle's
 * closing flag (mbx_close from another thread ends the wait with -EBADF;
 * NULL: none). */
struct wait_cfg {
    int64_t spin_ns;
    int64_t poll_ns;
    const uint32_t *closing;
    /* The handle's record of its recent spins (wait_spin_record), or
     * NULL: none kept. */
    uint32_t *spins;
};

/* Returns 1 when the handle behind cfg is being closed. */
static inline int wait_closing(const struct wait_cfg *cfg)
{
    return cfg->closing && __atomic_load_n(cfg->closing, __ATOMIC_SEQ_CST);
}

struct mb_ctx;

/* One wait: the word to watch (64 or 32 bits) and the value seen; a second
 * 64-bit word that may move too (a slot someone may repair; NULL: none);
 * the futex word to sleep on, its value before the caller looked, and the
 * count of its sleepers; the deadline (absolute CLOCK_MONOTONIC ns, -1
 * none); the longest sleep (0: a slice); and the look hook (NULL: none),
 * which returns 1 when something changed that nobody signals. */
struct wait_for {
    const uint64_t *watch;
    const uint32_t *watch32;
    uint64_t seen;
    const uint64_t *also;
    uint64_t also_seen;
    uint32_t *futex;
    uint32_t fseen;
    uint32_t *waiters;
    int64_t deadline;
    int64_t cap_ns;
    int (*look)(void *arg);
    void *arg;
    /* 1: the watched word is off the mailbox's hot line, and a spin reads
     * that line (the futex word, removal) only every few steps, so that
     * it stays with a lock holder writing it (heap_wait.c). */
    int quiet;
    /* When set: *slept becomes 1 once the waiter was counted asleep
     * (sleepers_enter), so a wake-up for room may have been meant for it
     * (ring.c's pass_room_on). */
    int *slept;
};

/* Waits as described above for the call c. Returns 0 (look again),
 * -ETIMEDOUT, -EINTR, -EBADF (the handle is being closed), or the error of
 * c's poll hook. A wait that begins after its deadline ends -ETIMEDOUT
 * whatever changed, so that a caller looking again after every change
 * ends by its deadline however busy its peers keep the mailbox. */
int wait_change(const struct mb_ctx *c, const struct wait_for *w);

/* The spin budget of a wait whose handle spins spin_ns: that, or, while
 * the handle's last spins all missed, a short one (wait.c says why and
 * how long); now and then the whole budget again. MBX_FOREVER and 0 are
 * kept. Updates cfg->spins. */
int64_t wait_spin_budget(const struct wait_cfg *cfg, int64_t spin_ns);

/* Records in cfg->spins how a spin ended: hit (what it waited for came,
 * after took ns) or missed (it had to sleep). */
void wait_spin_record(const struct wait_cfg *cfg, int hit, int64_t took);

/* Spins (no sleep, no deadline) until *watch moves off seen, the mailbox
 * is removed or the handle closing, for at most spin_ns. Returns 1 when
 * one of those happened, 0 when the time ran out. */
int wait_spin(const struct seg *s, const uint64_t *watch, uint64_t seen, int64_t spin_ns,
              const struct wait_cfg *cfg);

/* Wakers, by direction (SEG_POLL_RECV: receivers, after a message
 * arrived; SEG_POLL_SEND: senders, after room was made). Each also tells
 * the pollers armed for that direction (poll.h), which costs one load of
 * the hot line while none is.
 *
 * wake_change: after a change waiters watch the direction's futex word
 * itself for (a heap's): bumps it, and wakes its sleepers when there are
 * any. wake_all / wake_first: after a seq_cst store that may satisfy a
 * sleeper watching another word: bumps the futex word and wakes all its
 * sleepers, or one; only when there are any, so no system call while
 * nobody sleeps or polls. */
void wake_change(const struct seg *s, unsigned dir);
static inline void wake_all(const struct seg *s, unsigned dir);
static inline void wake_first(const struct seg *s, unsigned dir);

/* The system call of wake_all / wake_first: bumps the direction's futex
 * word and wakes n of its sleepers. Returns how many it woke. */
int wake_n_slow(const struct seg *s, unsigned dir, int n);

/* Wakes every waiter of the mailbox (removal, repair, a handle closing);
 * pollers are not told (poll_signal_all does). */
void wake_everyone(const struct seg *s);

/* Inline: every send and receive calls one, and while nobody sleeps or
 * polls it is two loads of the hot line it already has. */
static inline void wake_n(const struct seg *s, unsigned dir, int n)
{
    const struct seg_hot *hot = &s->hdr->hot;
    if (sleepers_any(dir == SEG_POLL_RECV ? &hot->recv_waiters : &hot->send_waiters))
        wake_n_slow(s, dir, n);
    poll_notify(s, dir);
}

static inline void wake_all(const struct seg *s, unsigned dir)
{
    wake_n(s, dir, INT_MAX);
}

static inline void wake_first(const struct seg *s, unsigned dir)
{
    wake_n(s, dir, 1);
}

/* After a slot frees: wakes one sender asleep for room, unless one was
 * woken already and has not run yet (it clears send_woken when its sleep
 * ends). Every sender clears it too as it counts itself asleep
 * (wait_change), so a wake-up that found nobody in the kernel leaves it
 * set: the sender the count names is running, not asleep, and clears it
 * when it sleeps or wakes. (Clearing it at once instead made every freed
 * slot a system call for as long as such a sender ran: two senders into
 * one receiver made 570,000 futex calls a second, 97% waking nobody, at
 * 3.1M msg/s; 53,000 and 6.3M now.) A receiver draining a full mailbox
 * that many senders sleep on then makes one system call per wake-up the
 * senders can use, not one per message; a woken sender that leaves room
 * behind its claim (past what others claimed meanwhile) passes the wake-up
 * on, and one that leaves without claiming gives it on (ring.c's
 * pass_room_on, ring_claim), so nobody sleeps next to room. */
static inline void wake_for_room(const struct seg *s)
{
    struct seg_hot *hot = &s->hdr->hot;
    if (sleepers_any(&hot->send_waiters) && !__atomic_load_n(&hot->send_woken, __ATOMIC_RELAXED) &&
        !__atomic_exchange_n(&hot->send_woken, 1, __ATOMIC_SEQ_CST))
        wake_n_slow(s, SEG_POLL_SEND, 1);
    poll_notify(s, SEG_POLL_SEND);
}

/* After a message was published in a ring: wakes every receiver asleep,
 * unless they were woken already and none has slept since (each receiver
 * clears recv_woken as it counts itself asleep and when its sleep ends,
 * wait_change). Waking them all once is enough: a woken receiver looks at
 * the whole ring before it sleeps again. Without the mark, every message
 * sent while a receiver was counted asleep but running (woken, or about
 * to sleep) was a system call that woke nobody: 16 senders into one
 * receiver made 55,000 such calls for 870 useful ones. */
static inline void wake_for_message(const struct seg *s)
{
    struct seg_hot *hot = &s->hdr->hot;
    if (sleepers_any(&hot->recv_waiters) && !__atomic_load_n(&hot->recv_woken, __ATOMIC_RELAXED) &&
        !__atomic_exchange_n(&hot->recv_woken, 1, __ATOMIC_SEQ_CST))
        wake_n_slow(s, SEG_POLL_RECV, INT_MAX);
    poll_notify(s, SEG_POLL_RECV);
}

#endif
