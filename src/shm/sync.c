#include "shm/sync.h"

#include "platform/platform.h"
#include "shm/heap/repair.h"
#include "shm/sleepers.h"

#include <errno.h>
#include <limits.h>

/* Sleep in slices at most this long even without a deadline: a relative
 * futex timeout is what makes a signal handler end the wait with EINTR, a
 * sleeper counts itself again after each slice (sleepers.h), and it has to
 * look now and then for a lock holder that died: nobody signals the change
 * that holder was making (a message queued but not yet counted), so only
 * the next lock taker repairs it. */
#define SLICE_NS SLEEPERS_SLICE_NS

/* How long one sleeps who could not be counted (32767 sleepers already). */
#define UNCOUNTED_SLICE_NS 1000000ll

/* Where the epoch of the count word `waiters` began: one per direction. */
static uint32_t *epoch_since(const struct seg *s, const uint32_t *waiters)
{
    return &s->hdr->meta.sleep_epoch_ms[waiters == &s->hdr->hot.recv_waiters ? 0 : 1];
}

static int64_t slice_of(int64_t left, int ticket)
{
    int64_t cap = ticket < 0 ? UNCOUNTED_SLICE_NS : SLICE_NS;
    return left < 0 || left > cap ? cap : left;
}

/* The holder a thread saw at its last look, and when: a holder seen again
 * a millisecond later may be stuck, and only then is /proc read. */
static _Thread_local struct {
    const void *lock;
    uint64_t holder;
    int64_t seen_ns;
    int dead;
} last_look;

#define HOLDER_LOOK_NS 1000000ll

int sync_holder_died(const struct seg *s)
{
    const struct shlock *l = &s->hdr->hot.lock;
    uint32_t w = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
    if (w == 0)
        return 0;
    uint64_t h = ((uint64_t)w << 32) ^ __atomic_load_n(&l->holder, __ATOMIC_RELAXED);
    int64_t now = clock_now_ns();
    if (last_look.lock != l || last_look.holder != h) {
        last_look.lock = l;
        last_look.holder = h;
        last_look.seen_ns = now;
        last_look.dead = 0;
        return 0;
    }
    if (last_look.dead || now - last_look.seen_ns < HOLDER_LOOK_NS)
        return last_look.dead;
    last_look.seen_ns = now;
    last_look.dead = shlock_holder_dead(l);
    return last_look.dead;
}

int64_t sync_lock_deadline(int64_t call_deadline)
{
    if (call_deadline < 0)
        return -1;
    int64_t grace = clock_deadline(SYNC_LOCK_GRACE_NS);
    return call_deadline > grace ? call_deadline : grace;
}

int sync_lock(struct seg *s, int64_t deadline)
{
    struct seg_hot *hot = &s->hdr->hot;
    int r = shlock_lock(&hot->lock, deadline);
    if (r < 0)
        return r;
    /* The holder died in the middle of a change: rebuild what the lock
     * guards. A repair that fails marks the mailbox broken for good. */
    if (r == SHLOCK_TOOK_OVER && !__atomic_load_n(&hot->broken, __ATOMIC_RELAXED)) {
        if (!s->ring && !s->stream && repair_segment(s, 0) != 0)
            __atomic_store_n(&hot->broken, 1, __ATOMIC_RELAXED);
        sync_wake_all(s);
    }
    if (__atomic_load_n(&hot->broken, __ATOMIC_RELAXED)) {
        shlock_unlock(&hot->lock);
        return -EUCLEAN;
    }
    return 0;
}

void sync_unlock(struct seg *s)
{
    shlock_unlock(&s->hdr->hot.lock);
}

static int changed(struct seg *s, uint32_t *word, uint32_t seen, const struct sync_wait_cfg *cfg)
{
    return __atomic_load_n(word, __ATOMIC_SEQ_CST) != seen ||
           __atomic_load_n(&s->hdr->hot.removed, __ATOMIC_ACQUIRE) || sync_closing(cfg);
}

/* Spins until the word changes; returns 1 if it did within the budget. */
static int spin(struct seg *s, uint32_t *word, uint32_t seen, int64_t spin_ns, int64_t deadline,
                const struct sync_wait_cfg *cfg)
{
    if (spin_ns == 0)
        return 0;
    int64_t start = clock_now_ns();
    for (unsigned i = 1;; i++) {
        if (changed(s, word, seen, cfg))
            return 1;
        cpu_relax();
        if (i % 128 == 0) {
            int64_t now = clock_now_ns();
            if ((spin_ns > 0 && now - start >= spin_ns) || (deadline >= 0 && now >= deadline))
                return 0;
            /* Nobody signals a holder's death: a spinner looks too (at
             * /proc only for a holder seen holding it a millisecond). */
            if (sync_holder_died(s))
                return 1;
        }
    }
}

int sync_wait(struct seg *s, uint32_t *word, uint32_t seen, uint32_t *waiters, int64_t deadline,
              const struct sync_wait_cfg *cfg)
{
    /* When others already sleep on this word, spinning too would only take
     * a CPU from the process that has to make progress. */
    int64_t spin_ns = cfg->spin_ns;
    if (spin_ns > 0 && sleepers_any(waiters))
        spin_ns = 0;
    if (spin(s, word, seen, spin_ns, deadline, cfg))
        return sync_closing(cfg) ? -EBADF : 0;
    if (cfg->spin_ns < 0) {
        /* Spin-only mode still honours the deadline. */
        return clock_remaining(deadline) == 0 ? -ETIMEDOUT : 0;
    }
    int r = 0;
    uint32_t *since = epoch_since(s, waiters);
    int ticket = sleepers_enter(waiters, since);
    while (!changed(s, word, seen, cfg) && !sync_holder_died(s)) {
        int64_t left = clock_remaining(deadline);
        if (left == 0) {
            r = -ETIMEDOUT;
            break;
        }
        left = slice_of(left, ticket);
        if (cfg->poll_ns > 0 && left > cfg->poll_ns)
            left = cfg->poll_ns;
        r = futex_wait(word, seen, left);
        if (r == -EINTR)
            break;
        r = 0;
        if (cfg->poll_ns > 0)
            break; /* let the caller look at what nobody signals */
        /* Counted again in the current epoch before looking again. */
        sleepers_leave(waiters, ticket);
        ticket = sleepers_enter(waiters, since);
    }
    sleepers_leave(waiters, ticket);
    return r == 0 && sync_closing(cfg) ? -EBADF : r;
}

void sync_signal(uint32_t *word, uint32_t *waiters)
{
    __atomic_fetch_add(word, 1, __ATOMIC_SEQ_CST);
    /* The seq_cst pair (waiter: add waiters, then read word; us: bump word,
     * then read waiters) means one of us sees the other. */
    if (sleepers_any(waiters))
        futex_wake(word, INT_MAX);
}

static int removed(const struct seg *s)
{
    return __atomic_load_n(&s->hdr->hot.removed, __ATOMIC_ACQUIRE) != 0;
}

int sync_spin64(const struct seg *s, const uint64_t *watch, uint64_t seen, int64_t spin_ns,
                int64_t deadline, const struct sync_wait_cfg *cfg)
{
    int64_t start = spin_ns ? clock_now_ns() : 0;
    for (unsigned i = 1; spin_ns != 0; i++) {
        if (__atomic_load_n(watch, __ATOMIC_ACQUIRE) != seen || removed(s) || sync_closing(cfg))
            return 1;
        cpu_relax();
        if (i % 128 == 0) {
            int64_t now = clock_now_ns();
            if (deadline >= 0 && now >= deadline)
                return -ETIMEDOUT;
            if (spin_ns > 0 && now - start >= spin_ns)
                break;
        }
    }
    return 0;
}

int sync_sleep64(const struct seg *s, const uint64_t *watch, uint64_t seen, uint32_t *futex,
                 uint32_t fseen, uint32_t *waiters, int64_t deadline, int64_t cap_ns,
                 const struct sync_wait_cfg *cfg)
{
    if (sync_closing(cfg))
        return -EBADF;
    int64_t left = clock_remaining(deadline);
    if (left == 0)
        return -ETIMEDOUT;
    int ticket = sleepers_enter(waiters, epoch_since(s, waiters));
    left = slice_of(left, ticket);
    if (cap_ns > 0 && left > cap_ns)
        left = cap_ns;
    int r = 0;
    if (__atomic_load_n(watch, __ATOMIC_SEQ_CST) == seen && !removed(s) && !sync_closing(cfg))
        r = futex_wait(futex, fseen, left);
    sleepers_leave(waiters, ticket);
    if (r == -EINTR)
        return r;
    if (sync_closing(cfg))
        return -EBADF;
    return clock_remaining(deadline) == 0 ? -ETIMEDOUT : 0;
}

void sync_wake_sleepers(uint32_t *futex, uint32_t *waiters)
{
    if (sleepers_any(waiters)) {
        __atomic_fetch_add(futex, 1, __ATOMIC_SEQ_CST);
        futex_wake(futex, INT_MAX);
    }
}

void sync_wake_one(uint32_t *futex, uint32_t *waiters)
{
    if (sleepers_any(waiters)) {
        __atomic_fetch_add(futex, 1, __ATOMIC_SEQ_CST);
        futex_wake(futex, 1);
    }
}

void sync_wake_all(struct seg *s)
{
    struct seg_hot *hot = &s->hdr->hot;
    __atomic_fetch_add(&hot->recv_futex, 1, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&hot->send_futex, 1, __ATOMIC_SEQ_CST);
    futex_wake(&hot->recv_futex, INT_MAX);
    futex_wake(&hot->send_futex, INT_MAX);
}
