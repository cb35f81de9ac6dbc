/* The mailbox lock (the heap kind's arena and queues): shlock.h's lock in
 * the segment's hot line, with the repair a dead holder's work needs and
 * the deadlines every call keeps. */
#ifndef MBX_SHM_LOCK_H
#define MBX_SHM_LOCK_H

#include "shm/segment.h"

#include <errno.h>

/* How long a call that does not wait (MBX_NONBLOCK) still waits for a lock
 * held by another process: long enough for any critical section of a
 * running holder, short enough that a stopped one costs little. */
#define SEG_LOCK_GRACE_NS 2000000ll

/* How long a call that has no timeout of its own (open, release) waits for
 * a lock held by another process before it says -ETIMEDOUT. */
#define SEG_CALL_BOUND_NS 1000000000ll

/* Deadline for taking the lock in a call with this deadline (absolute ns,
 * -1 none): at least SEG_LOCK_GRACE_NS from now. */
int64_t seg_lock_deadline(int64_t call_deadline);

/* Takes the mailbox lock, waiting until the deadline (absolute ns; -1
 * none; see seg_lock_deadline). After its holder died, the kind repairs
 * what the lock guards first. Returns 0, -ETIMEDOUT, -EDEADLK (this thread
 * holds it: a signal handler interrupted a call on the same mailbox), or
 * -EUCLEAN when the segment is beyond repair. */
int seg_lock(struct seg *s, int64_t deadline);

/* seg_lock for a call of timeout_ns whose deadline is *deadline, or
 * CLOCK_DEADLINE_LATER when not read from the clock yet: a lock that is
 * free at once is taken without reading the clock (a clock read costs as
 * much as an uncontended send); otherwise *deadline is computed and the
 * lock waited for until seg_lock_deadline(*deadline). Returns as seg_lock. */
int seg_lock_call(struct seg *s, int64_t *deadline, int64_t timeout_ns);

/* Releases the mailbox lock. */
void seg_unlock(struct seg *s);

/* For a call that took the lock with seg_lock_deadline: -ETIMEDOUT and
 * -EDEADLK from seg_lock mean "would wait" to a non-blocking call. */
static inline int seg_lock_error(int r, int64_t timeout_ns)
{
    return (r == -ETIMEDOUT || r == -EDEADLK) && timeout_ns == 0 ? -EAGAIN : r;
}

/* Returns 1 when the lock is held by a thread that is gone (the next
 * seg_lock repairs), else 0. Looks at /proc only when the same holder is
 * seen holding it twice at least a millisecond apart (rate-limited per
 * thread), so a caller may ask on every empty receive. */
int seg_holder_died(const struct seg *s);

/* When the lock is held by a thread that certainly no longer exists (its
 * id is gone; a reused id is left to the next seg_lock), takes and releases
 * it, which repairs what that holder left half done: a snapshot read
 * without the lock then counts the message a sender killed between
 * queueing and counting it had queued. One load when the lock is free; one
 * kill(2) when it is held. */
void seg_settle(struct seg *s);

/* seg_holder_died as a wait's look hook (wait.h): arg is the segment. */
int seg_holder_died_look(void *arg);

#endif
