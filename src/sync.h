/* The mailbox lock, and waiting: spin briefly, then sleep on a futex word. */
#ifndef MBX_SYNC_H
#define MBX_SYNC_H

#include "segment.h"

/* A polite busy-wait step. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Takes the mailbox lock. After a holder died, repairs the segment first.
 * Returns 0, or -EUCLEAN when the lock or the segment is beyond repair. */
int sync_lock(struct seg *s);

/* Returns 1 when the lock's last holder died holding it (the next
 * sync_lock repairs), else 0. Never fails. */
int sync_holder_died(const struct seg *s);

/* Releases the mailbox lock. */
void sync_unlock(struct seg *s);

/* How long a waiter spins before sleeping (ns; -1 forever, 0 never), and the
 * longest single sleep (ns; 0 = no cap) so that conditions nobody signals,
 * such as an owner's death, are noticed. */
struct sync_wait_cfg {
    int64_t spin_ns;
    int64_t poll_ns;
};

/* Waits until *word no longer holds seen, the mailbox is removed, or the
 * deadline (absolute, CLOCK_MONOTONIC ns; -1 none) passes. waiters
 * (hot.recv_waiters or hot.send_waiters; sleepers.h) counts sleepers so
 * wakers call futex only when someone sleeps. Also returns, at most a slice
 * (250 ms) late, when the lock holder died (see sync_holder_died).
 * Returns 0 (look again), -ETIMEDOUT or -EINTR. */
int sync_wait(struct seg *s, uint32_t *word, uint32_t seen, uint32_t *waiters, int64_t deadline,
              const struct sync_wait_cfg *cfg);

/* Bumps a wait word after a change and wakes its sleepers, if any. */
void sync_signal(uint32_t *word, uint32_t *waiters);

/* Spins until the 64-bit *watch moves off seen or the mailbox is removed,
 * for at most spin_ns (0: not at all; -1: until the deadline). Returns 1 when
 * it moved, 0 when the spin time ran out, -ETIMEDOUT when the deadline
 * (absolute ns, -1 none) passed. */
int sync_spin64(const struct seg *s, const uint64_t *watch, uint64_t seen, int64_t spin_ns,
                int64_t deadline);

/* Sleeps once on futex, expecting it to hold fseen (read before the caller
 * last looked at its condition), while *watch still holds seen and the
 * mailbox is not removed; at most cap_ns (0: no cap), a slice (250 ms) and
 * until the deadline. Counts itself in waiters (one of the hot counts). Returns 0 (look again),
 * -ETIMEDOUT or -EINTR. */
int sync_sleep64(const struct seg *s, const uint64_t *watch, uint64_t seen, uint32_t *futex,
                 uint32_t fseen, uint32_t *waiters, int64_t deadline, int64_t cap_ns);

/* After a seq_cst store that may satisfy a sleeper of sync_sleep64: bumps
 * futex and wakes its sleepers, only when there are any. */
void sync_wake_sleepers(uint32_t *futex, uint32_t *waiters);

/* Wakes every waiter of the mailbox (removal, repair). */
void sync_wake_all(struct seg *s);

#endif
