/* A lock in shared memory that outlives the death of its holder and
 * honours deadlines, for the few words a mailbox guards with a lock.
 *
 * Why not a glibc robust mutex: it keeps list pointers inside the shared
 * lock that glibc follows on unlock (a peer rewriting them makes the
 * holder write where the peer likes, and they leak the holder's
 * addresses), it cannot be given a deadline for the owner's death, and a
 * stopped holder blocks everyone for ever.
 *
 * word is 0 when free, else the holder's thread id, with SHLOCK_WAITERS set
 * while someone may sleep on it (futex); start, beside it, the low 32 bits
 * of the holder's start time, taken with the word in one 64-bit exchange
 * and cleared with it. holder is the holder's thread identity (tid and
 * start time, ident.h), written just after the word is taken: a waiter
 * that has slept a slice looks at it, and when that thread is gone it
 * takes the lock over and the caller repairs what the dead holder left
 * half done. A thread that died before writing holder is known by its tid
 * and start; the unlock clears holder, so that a record never names an
 * earlier holder with the same tid. (A library before start left it 0:
 * its holder is then known by its tid alone in that moment.)
 */
#ifndef MBX_SHLOCK_H
#define MBX_SHLOCK_H

#include "platform/platform.h"

#include <stdint.h>

#define SHLOCK_WAITERS  0x80000000u
#define SHLOCK_TID_MASK 0x3fffffffu

struct shlock {
    uint32_t word;
    uint32_t start;
    uint64_t holder;
};
_Static_assert(sizeof(struct shlock) == 16, "word and start one aligned 64-bit value");

/* Returned by shlock_lock when it took the lock over from a holder that
 * died holding it: the caller must repair what the lock guards. */
#define SHLOCK_TOOK_OVER 1

/* Takes the lock, waiting until the deadline (absolute CLOCK_MONOTONIC ns;
 * -1: none; a signal handler does not end the wait). Returns 0,
 * SHLOCK_TOOK_OVER, -ETIMEDOUT, or -EDEADLK when the calling thread holds
 * it already (a signal handler that interrupted a call on the same
 * mailbox). */
int shlock_lock(struct shlock *l, int64_t deadline);

/* Takes the lock if it is free now, without waiting. Returns 0, or -EBUSY. */
int shlock_try(struct shlock *l);

/* Releases the lock, which the calling thread holds. */
void shlock_unlock(struct shlock *l);

/* Returns 1 when the lock is held by a thread that is gone, else 0: for
 * waiters that watch what the lock guards without taking it. Reads /proc:
 * not for a fast path. */
int shlock_holder_dead(const struct shlock *l);

/* Returns the word's holder tid (0: free). */
static inline int32_t shlock_holder_tid(const struct shlock *l)
{
    return (int32_t)(__atomic_load_n(&l->word, __ATOMIC_RELAXED) & SHLOCK_TID_MASK);
}

#endif
