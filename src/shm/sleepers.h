/* Counts of processes asleep on a futex word, which forget the dead.
 *
 * Wakers make the futex system call only when someone sleeps, and waiters
 * skip their spin when others already sleep. A plain count breaks both
 * when a process is killed asleep: it never takes itself off, every later
 * waker pays a system call and every later waiter sleeps at once (a
 * 64-byte round trip went from 0.43 to 57 us, for good). So the count word
 * holds a 2-bit epoch and one count per epoch parity. A sleeper counts
 * itself in the current epoch and sleeps at most SLEEPERS_SLICE_NS before
 * counting itself again; an epoch lasts at least SLEEPERS_EPOCH_MS, longer
 * than a slice, so when the epoch moves on, the count of the epoch before
 * last can only hold the dead, and it starts again from zero. The epoch
 * moves only when someone looks (sleepers_enter, sleepers_age). */
#ifndef MBX_SLEEPERS_H
#define MBX_SLEEPERS_H

#include <stdint.h>

#define SLEEPERS_SLICE_NS (250ll * 1000000) /* longest sleep between counts */
#define SLEEPERS_EPOCH_MS 1000u             /* shortest epoch */

/* Returns how many processes the count word `w` (a value) says sleep:
 * those asleep now, plus, for at most two epochs, any that died asleep. */
unsigned sleepers_count(uint32_t w);

/* The bits of the count word that hold counts (the rest is the epoch). */
#define SLEEPERS_COUNTS 0x3fffffffu

/* Returns 1 when the count word says someone sleeps, else 0 (a seq_cst
 * load: a waker reads it after its seq_cst store to the futex word). */
static inline int sleepers_any(const uint32_t *word)
{
    return (__atomic_load_n(word, __ATOMIC_SEQ_CST) & SLEEPERS_COUNTS) != 0;
}

/* Counts the caller in; `since` holds when the current epoch began (ms of
 * CLOCK_MONOTONIC, shared by all processes that count on `word`). Returns
 * the ticket for sleepers_leave, or -1 when the count is full: the caller
 * is then not counted and must not sleep for long. */
int sleepers_enter(uint32_t *word, uint32_t *since);

/* Moves the epoch on when it is due, as sleepers_enter does first: a
 * reader that acts on the count (a rendezvous sender's poller) calls it so
 * that a sleeper killed asleep stops counting within two epochs even when
 * nobody sleeps again. */
void sleepers_age(uint32_t *word, uint32_t *since);

/* Takes the caller's count back, unless its epoch has since been reset. */
void sleepers_leave(uint32_t *word, int ticket);

#endif
