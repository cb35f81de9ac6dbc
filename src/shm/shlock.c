#include "shm/shlock.h"

#include "platform/platform.h"

#include <errno.h>

/* Tries before sleeping (spin steps of about 128 ns: some 8 µs): the lock
 * guards short critical sections, and a sleeper costs the holder a wake-up
 * system call on unlock. */
#define SPINS 64
/* Longest sleep before a waiter looks whether the holder is still there. */
#define LOOK_NS 10000000ll

/* The word and the holder's start beside it, as one 64-bit value (the
 * word in the low half, where the futex waits). */
static uint64_t *both(struct shlock *l)
{
    return (uint64_t *)(void *)&l->word;
}

/* Takes the lock if its word is `w` now: word to `to`, start to the
 * caller's, in one exchange (whatever start a holder of an older library,
 * which leaves it, left there). Returns 1 when taken. */
static int take(struct shlock *l, uint32_t w, uint32_t to, ident_t me)
{
    uint64_t cur = __atomic_load_n(both(l), __ATOMIC_RELAXED);
    if ((uint32_t)cur != w)
        return 0;
    return __atomic_compare_exchange_n(both(l), &cur, (uint64_t)ident_start(me) << 32 | to, 0,
                                       __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* How long a holder may go without its record before the start taken
 * with its word judges it: a live one writes it instructions later. */
#define UNRECORDED_NS 100000000ll

/* The word (with its start) this thread last saw held without a record,
 * and when. */
static MBX_TLS struct {
    const struct shlock *l;
    uint64_t v;
    int64_t at;
} unrecorded;

/* Whether l has held v, with no record, since this thread's look at least
 * UNRECORDED_NS ago. */
static int unrecorded_long(const struct shlock *l, uint64_t v)
{
    int64_t now = clock_now_ns();
    if (unrecorded.l != l || unrecorded.v != v) {
        unrecorded.l = l;
        unrecorded.v = v;
        unrecorded.at = now;
        return 0;
    }
    return now - unrecorded.at >= UNRECORDED_NS;
}

int shlock_holder_dead(const struct shlock *l)
{
    uint64_t v = __atomic_load_n(both((struct shlock *)l), __ATOMIC_ACQUIRE);
    uint32_t w = (uint32_t)v;
    int32_t tid = (int32_t)(w & SHLOCK_TID_MASK);
    if (tid == 0)
        return 0;
    ident_t h = __atomic_load_n(&l->holder, __ATOMIC_ACQUIRE);
    /* The record belongs to this holder only when it names its tid. A
     * holder that died before writing it is known by the start taken with
     * the word: by its tid alone, a later thread given that tid (a reused
     * pid) was taken for it, and the lock stayed held for as long as that
     * unrelated thread lived (found by a review). The start judges only
     * after the word stayed so for a while: a holder of an older library,
     * which takes the word alone, may find a stale start beside it (left
     * by a holder of this one that died), and was taken for dead in the
     * moment before its record (a review). A start of 0 leaves the tid
     * alone, as a tid nobody has does at once. */
    if (ident_id(h) != tid) {
        uint32_t start = (uint32_t)(v >> 32);
        if (start != 0 && ident_id_exists(tid) && !unrecorded_long(l, v))
            return 0;
        h = ident_make(tid, start);
    } else if (unrecorded.l == l) {
        unrecorded.l = NULL; /* recorded: a later look without one starts again */
    }
    if (ident_thread_alive(h))
        return 0;
    /* Still the same holder, or it let go meanwhile? */
    return __atomic_load_n(both((struct shlock *)l), __ATOMIC_ACQUIRE) == v;
}

/* Whether the calling thread (me) holds l: by its record, or before the
 * record by the start taken with the word. A thread given the tid of a
 * holder that died holding the lock (a reused pid) is not that holder: it
 * said -EDEADLK for good (a review). */
static int held_by_me(const struct shlock *l, ident_t me)
{
    uint64_t v = __atomic_load_n(both((struct shlock *)l), __ATOMIC_ACQUIRE);
    if ((int32_t)((uint32_t)v & SHLOCK_TID_MASK) != (int32_t)(ident_id(me) & SHLOCK_TID_MASK))
        return 0;
    ident_t h = __atomic_load_n(&l->holder, __ATOMIC_ACQUIRE);
    if (ident_id(h) == ident_id(me))
        return h == me;
    uint32_t start = (uint32_t)(v >> 32);
    return start == 0 || start == ident_start(me);
}

static int took(struct shlock *l, ident_t me, int r)
{
    __atomic_store_n(&l->holder, me, __ATOMIC_RELEASE);
    return r;
}

int shlock_try(struct shlock *l)
{
    ident_t me = ident_thread();
    uint32_t tid = (uint32_t)ident_id(me) & SHLOCK_TID_MASK;
    if (take(l, 0, tid, me))
        return took(l, me, 0);
    return -EBUSY;
}

int shlock_lock(struct shlock *l, int64_t deadline)
{
    if (shlock_try(l) == 0)
        return 0;
    ident_t me = ident_thread();
    uint32_t tid = (uint32_t)ident_id(me) & SHLOCK_TID_MASK;
    uint32_t w = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
    for (int i = 0; i < SPINS; i++) {
        if ((w & SHLOCK_TID_MASK) == tid && held_by_me(l, me))
            return -EDEADLK;
        if (w == 0 && take(l, 0, tid, me))
            return took(l, me, 0);
        spin_step();
        w = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
    }
    /* The first look at the holder comes at once: a holder that died
     * holding the lock is the likely reason for a spin that did not end. */
    int64_t looked = clock_now_ns() - LOOK_NS;
    for (;;) {
        w = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
        if (w == 0) {
            /* Others may sleep too: keep the mark, so our unlock wakes one. */
            if (take(l, 0, tid | SHLOCK_WAITERS, me))
                return took(l, me, 0);
            continue;
        }
        if ((w & SHLOCK_TID_MASK) == tid && held_by_me(l, me))
            return -EDEADLK;
        int64_t now = clock_now_ns();
        if (now - looked >= LOOK_NS) {
            looked = now;
            if (shlock_holder_dead(l) && take(l, w, tid | SHLOCK_WAITERS, me))
                return took(l, me, SHLOCK_TOOK_OVER);
            continue;
        }
        int64_t left = clock_remaining(deadline);
        if (left == 0)
            return -ETIMEDOUT;
        if (!(w & SHLOCK_WAITERS) &&
            !__atomic_compare_exchange_n(&l->word, &w, w | SHLOCK_WAITERS, 0, __ATOMIC_RELAXED,
                                         __ATOMIC_RELAXED))
            continue;
        int64_t nap = LOOK_NS - (now - looked);
        if (left > 0 && left < nap)
            nap = left;
        /* A signal does not end the wait: the lock is held for moments by
         * a running holder, and the deadline bounds the rest. */
        futex_wait(&l->word, w | SHLOCK_WAITERS, nap);
    }
}

void shlock_unlock(struct shlock *l)
{
    /* The record goes first (the word's release orders it): left behind,
     * it named a thread that was gone once the lock was taken again by one
     * with the same tid (a reused pid) that had not recorded itself yet,
     * which a waiter then judged dead, and took the lock from a live
     * holder (found by a review). A record naming no holder's tid sends
     * the judgement to the tid alone. */
    __atomic_store_n(&l->holder, 0, __ATOMIC_RELAXED);
    uint64_t old = __atomic_exchange_n(both(l), 0, __ATOMIC_RELEASE);
    if ((uint32_t)old & SHLOCK_WAITERS)
        futex_wake(&l->word, 1);
}
