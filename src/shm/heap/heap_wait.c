/* The heap kind's lock-try-wait loop: every heap call that may wait takes
 * the lock, tries, and waits for the direction's futex word in between. */
#include "shm/heap/heap_queue.h"

#include "platform/platform.h"
#include "shm/heap/alloc.h"
#include "shm/heap/prioq.h"
#include "shm/lock.h"

#include <errno.h>

static uint32_t *spin_word(const struct seg *s, int recv)
{
    struct seg_tail *t = (struct seg_tail *)(s->base + SEG_TAIL_OFF);
    return &t->spin_seq[recv ? SEG_POLL_RECV : SEG_POLL_SEND];
}

uint64_t heap_seen(const struct seg *s, int recv)
{
    struct seg_hot *hot = &s->hdr->hot;
    uint32_t spin = __atomic_load_n(spin_word(s, recv), __ATOMIC_RELAXED);
    uint32_t futex = __atomic_load_n(recv ? &hot->recv_futex : &hot->send_futex, __ATOMIC_RELAXED);
    return (uint64_t)spin << 32 | futex;
}

/* Spin words to bump once this thread lets the lock of `s` go. */
static MBX_TLS struct {
    const struct seg *s;
    unsigned dirs; /* bit SEG_POLL_RECV, bit SEG_POLL_SEND */
} pending;

static void bump_pending(void)
{
    for (unsigned dir = SEG_POLL_RECV; dir <= SEG_POLL_SEND; dir++)
        if (pending.dirs & 1u << dir)
            __atomic_fetch_add(spin_word(pending.s, dir == SEG_POLL_RECV), 1, __ATOMIC_RELEASE);
    pending.s = NULL;
    pending.dirs = 0;
}

/* The spin word moves only after the lock is let go: a waiter that saw it
 * move then finds the lock free instead of spinning on it while the
 * holder finishes. A waiter read both words under the lock, before this
 * change, so it sees the futex word move if not the spin word. */
void heap_changed(const struct seg *s, unsigned dir)
{
    wake_change(s, dir);
    if (pending.s && pending.s != s)
        bump_pending();
    pending.s = s;
    pending.dirs |= 1u << dir;
}

void heap_unlock(struct seg *s)
{
    seg_unlock(s);
    if (pending.s)
        bump_pending();
}

/* Spinning waiters watch the spin word, which only this kind's changes
 * write, and look at the futex word (on the lock's line) every few steps:
 * read at every step, that line was pulled away from the lock holder
 * between each of its writes (lock, count, futex, unlock). A change by a
 * build that does not bump the spin word is seen at the futex word, a few
 * steps later. */
int heap_wait(const struct mb_ctx *c, int recv, uint64_t seen, int64_t deadline)
{
    struct seg_hot *hot = &c->s->hdr->hot;
    uint32_t *futex = recv ? &hot->recv_futex : &hot->send_futex;
    struct wait_for w = {
        .watch32 = spin_word(c->s, recv),
        .seen = seen >> 32,
        .futex = futex,
        .fseen = (uint32_t)seen,
        .waiters = recv ? &hot->recv_waiters : &hot->send_waiters,
        .deadline = deadline,
        /* Nobody signals a holder that died mid-change (a message queued
         * but never counted): the next lock taker repairs it. */
        .look = seg_holder_died_look,
        .arg = c->s,
        .quiet = 1,
    };
    return wait_change(c, &w);
}

void heap_prefetch(const struct seg *s)
{
    prefetch_write(&s->hdr->hot);
    prefetch_write(&s->hdr->meta);
    prefetch_write(s->active);
    prefetch_write(s->heads);
}

/* Before taking the lock: the lines of the header and, read from them
 * without the lock, those of the block the step most likely touches
 * first (a receive: the top of the queue; a send of send_len bytes: the
 * head of its size's free list). The block's miss then overlaps the lock's instead of
 * following the reads that lead to it, under the lock. */
static void prefetch_step(const struct seg *s, int recv, uint64_t send_len)
{
    heap_prefetch(s);
    if (recv)
        prioq_prefetch_top(s);
    else if (send_len) /* 0: a loan's send, its block taken already */
        alloc_prefetch_block(s, seg_blk_size(send_len));
}

static ssize_t until(const struct mb_ctx *c, int recv, uint64_t send_len, int64_t timeout_ns,
                     ssize_t (*step)(const struct mb_ctx *c, void *arg), void *arg)
{
    struct seg *s = c->s;
    struct seg_hot *hot = &s->hdr->hot;
    /* Read from the clock only when the call has to wait: a call that
     * does not (most) reads it never. */
    int64_t deadline = CLOCK_DEADLINE_LATER;
    for (int woke = 0;; woke = 1) {
        /* Back from a wait, the change is most likely what we wait for:
         * the lines the step uses are fetched for writing at once, so the
         * count's read does not bring the lock's line only to read it. */
        if (woke)
            heap_prefetch(s);
        uint64_t seen = heap_seen(s, recv);
        /* An empty mailbox is seen without the lock: waiting receivers keep
         * off the line senders need. A holder that died may have queued a
         * message it never counted: taking the lock repairs that. */
        if (!recv || __atomic_load_n(&hot->count, __ATOMIC_ACQUIRE) != 0 || seg_removed(s) ||
            seg_holder_died(s)) {
            prefetch_step(s, recv, send_len);
            int r = seg_lock_call(s, &deadline, timeout_ns);
            if (r) {
                /* The call ends without a look (it never follows a look:
                 * the lock's deadline is the call's). */
                if (recv && shm_recv_unlooked)
                    *shm_recv_unlooked = 1;
                return seg_lock_error(r, timeout_ns);
            }
            ssize_t got = -EIDRM;
            if (!seg_removed(s)) {
                seen = heap_seen(s, recv);
                got = step(c, arg);
            }
            heap_unlock(s);
            if (got != -EAGAIN)
                return got;
        }
        if (timeout_ns == MBX_NONBLOCK)
            return -EAGAIN;
        int r = heap_wait(c, recv, seen, clock_deadline_now(&deadline, timeout_ns));
        if (r)
            return r;
    }
}

ssize_t heap_until(const struct mb_ctx *c, int recv, int64_t timeout_ns,
                   ssize_t (*step)(const struct mb_ctx *c, void *arg), void *arg)
{
    return until(c, recv, 0, timeout_ns, step, arg);
}

ssize_t heap_until_send(const struct mb_ctx *c, uint64_t len, int64_t timeout_ns,
                        ssize_t (*step)(const struct mb_ctx *c, void *arg), void *arg)
{
    return until(c, 0, len, timeout_ns, step, arg);
}
