/* The mailbox lock, and waiting: spin briefly, then sleep on a futex word. */
#ifndef MBX_SYNC_H
#define MBX_SYNC_H

#include "platform/platform.h"
#include "shm/segment.h"

#include <errno.h>

/* How long a call that does not wait (MBX_NONBLOCK) still waits for a lock
 * held by another process: long enough for any critical section of a
 * running holder, short enough that a stopped one costs little. */
#define SYNC_LOCK_GRACE_NS 2000000ll

/* How long a call that has no timeout of its own (open, release) waits for
 * a lock held by another process before it says -ETIMEDOUT. */
#define SYNC_CALL_BOUND_NS 1000000000ll

/* Deadline for taking the lock in a call with this deadline (absolute ns,
 * -1 none): at least SYNC_LOCK_GRACE_NS from now. */
int64_t sync_lock_deadline(int64_t call_deadline);

/* Takes the mailbox lock, waiting until the deadline (absolute ns; -1
 * none; see sync_lock_deadline). After its holder died, repairs the
 * segment first. Returns 0, -ETIMEDOUT, -EDEADLK (this thread holds it: a
 * signal handler interrupted a call on the same mailbox), or -EUCLEAN when
 * the segment is beyond repair. */
int sync_lock(struct seg *s, int64_t deadline);

/* For a call that took the lock with sync_lock_deadline: -ETIMEDOUT and
 * -EDEADLK from sync_lock mean "would wait" to a non-blocking call. */
static inline int sync_lock_error(int r, int64_t timeout_ns)
{
    return (r == -ETIMEDOUT || r == -EDEADLK) && timeout_ns == 0 ? -EAGAIN : r;
}

/* Returns 1 when the lock is held by a thread that is gone (the next
 * sync_lock repairs), else 0. Looks at /proc only when the same holder is
 * seen holding it twice at least a millisecond apart (rate-limited per
 * thread), so a caller may ask on every empty receive. */
int sync_holder_died(const struct seg *s);

/* Releases the mailbox lock. */
void sync_unlock(struct seg *s);

/* How long a waiter spins before sleeping (ns; -1 forever, 0 never), the
 * longest single sleep (ns; 0 = no cap) so that conditions nobody signals,
 * such as an owner's death, are noticed, and the handle's closing flag
 * (mbx_close from another thread ends the wait with -EBADF; NULL: none). */
struct sync_wait_cfg {
    int64_t spin_ns;
    int64_t poll_ns;
    const uint32_t *closing;
};

/* Returns 1 when the handle behind cfg is being closed. */
static inline int sync_closing(const struct sync_wait_cfg *cfg)
{
    return cfg->closing && __atomic_load_n(cfg->closing, __ATOMIC_SEQ_CST);
}

/* Waits until *word no longer holds seen, the mailbox is removed, or the
 * deadline (absolute, CLOCK_MONOTONIC ns; -1 none) passes. waiters
 * (hot.recv_waiters or hot.send_waiters; sleepers.h) counts sleepers so
 * wakers call futex only when someone sleeps. Also returns, at most a slice
 * (250 ms) late, when the lock holder died (see sync_holder_died).
 * Returns 0 (look again), -ETIMEDOUT, -EINTR or -EBADF (handle closing). */
int sync_wait(struct seg *s, uint32_t *word, uint32_t seen, uint32_t *waiters, int64_t deadline,
              const struct sync_wait_cfg *cfg);

/* Bumps a wait word after a change and wakes its sleepers, if any. */
void sync_signal(uint32_t *word, uint32_t *waiters);

/* Spins until the 64-bit *watch moves off seen, the mailbox is removed or
 * the handle closing (cfg), for at most spin_ns (0: not at all; -1: until
 * the deadline). Returns 1 when it moved, 0 when the spin time ran out,
 * -ETIMEDOUT when the deadline (absolute ns, -1 none) passed. */
int sync_spin64(const struct seg *s, const uint64_t *watch, uint64_t seen, int64_t spin_ns,
                int64_t deadline, const struct sync_wait_cfg *cfg);

/* Sleeps once on futex, expecting it to hold fseen (read before the caller
 * last looked at its condition), while *watch still holds seen and the
 * mailbox is not removed; at most cap_ns (0: no cap), a slice (250 ms) and
 * until the deadline. Counts itself in waiters (one of the hot counts).
 * Returns 0 (look again), -ETIMEDOUT, -EINTR or -EBADF (handle closing). */
int sync_sleep64(const struct seg *s, const uint64_t *watch, uint64_t seen, uint32_t *futex,
                 uint32_t fseen, uint32_t *waiters, int64_t deadline, int64_t cap_ns,
                 const struct sync_wait_cfg *cfg);

/* After a seq_cst store that may satisfy a sleeper of sync_sleep64: bumps
 * futex and wakes its sleepers, only when there are any. */
void sync_wake_sleepers(uint32_t *futex, uint32_t *waiters);

/* The same, waking one sleeper: for room for one more message. */
void sync_wake_one(uint32_t *futex, uint32_t *waiters);

/* Wakes every waiter of the mailbox (removal, repair). */
void sync_wake_all(struct seg *s);

#endif
