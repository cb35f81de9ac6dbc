/* Mailboxes whose messages live in arena blocks ordered by priority FIFOs,
 * guarded by the mailbox lock: any size, any capacity, any priority mix. */
#ifndef MBX_HEAP_QUEUE_H
#define MBX_HEAP_QUEUE_H

#include "shm/shm.h"

/* As mb_send, for a heap mailbox. */
int heap_send(const struct mb_ctx *c, const void *buf, size_t len, unsigned prio,
              int64_t timeout_ns);

/* As mb_recv, for a heap mailbox. */
/* As shm_kind.withdraw, for a heap mailbox. */
int heap_withdraw(const struct mb_ctx *c, uint64_t token);

ssize_t heap_recv(const struct mb_ctx *c, pid_t from, void *buf, size_t cap, mbx_msginfo *info,
                  int64_t timeout_ns);

/* Internals shared by the heap kind's files. */

/* Where a sent message lies, for a rendezvous sender's wait: block offset,
 * sequence number, and send_futex just after it was queued. */
struct heap_sent {
    uint64_t off, seq;
    uint64_t seen; /* heap_seen of the senders' words */
};

/* Caller holds the lock: notes where block b, just published, lies. */
void heap_note_sent(const struct mb_ctx *c, const struct seg_blk *b, struct heap_sent *sent);

/* The rest of a send once its message is queued: a rendezvous send waits
 * for a receiver (heap_rendezvous_wait); any other is done. */
int heap_send_done(const struct mb_ctx *c, const struct heap_sent *sent, int64_t timeout_ns);

/* Runs step under the mailbox lock until it returns anything but -EAGAIN,
 * waiting in between (per timeout_ns) for the receivers' futex word (recv)
 * or the senders'. A receive looks at an empty mailbox without the lock.
 * Returns step's result, -EAGAIN (MBX_NONBLOCK), -ETIMEDOUT, -EINTR,
 * -EIDRM, -EUCLEAN, -EDEADLK, -EBADF or the poll hook's error. */
ssize_t heap_until(const struct mb_ctx *c, int recv, int64_t timeout_ns,
                   ssize_t (*step)(const struct mb_ctx *c, void *arg), void *arg);

/* heap_until for a send of len payload bytes: also starts fetching, before
 * each time it takes the lock, the free block the send will most likely
 * get (alloc_prefetch_block). */
ssize_t heap_until_send(const struct mb_ctx *c, uint64_t len, int64_t timeout_ns,
                        ssize_t (*step)(const struct mb_ctx *c, void *arg), void *arg);

/* Called just before taking the lock: starts fetching the lines every
 * locked step uses (the hot line with the lock, the meta line, the first
 * lines of active[] and heads[]) at once, so their misses overlap the
 * lock's instead of following one another as the step reaches each. */
void heap_prefetch(const struct seg *s);

/* The words a wait of the receivers (recv) or senders watches, as they
 * are now: the spin word (high half) and the futex word (low half). Read
 * under the lock, before the look that found nothing to do. */
uint64_t heap_seen(const struct seg *s, int recv);

/* Wakes the waiters of direction dir (SEG_POLL_RECV: receivers) after a
 * change made under the lock: the futex word and pollers (wake_change),
 * then the spin word its spinning waiters watch. */
void heap_changed(const struct seg *s, unsigned dir);

/* Lets the mailbox lock go (seg_unlock), then bumps the spin words of the
 * changes made under it (heap_changed). */
void heap_unlock(struct seg *s);

/* One wait (wait.h) for the receivers' (recv) or senders' words to move
 * from seen (heap_seen); a dead lock holder ends it. */
int heap_wait(const struct mb_ctx *c, int recv, uint64_t seen, int64_t deadline);

/* Caller holds the lock. Copies message b out and removes it (see
 * heap_queue.c). Returns its size, -EMSGSIZE or -EUCLEAN. */
ssize_t heap_take(const struct mb_ctx *c, struct seg_blk *b, void *buf, size_t cap,
                  mbx_msginfo *info);

/* The receive of a round-robin mailbox (heap_rr.c). */
ssize_t heap_rr_recv(const struct mb_ctx *c, void *buf, size_t cap, mbx_msginfo *info,
                     int64_t timeout_ns);

/* Returns 1 when a round-robin ticket's holder has left the line (dead,
 * or stopped), so its turn passes on; 0 while it may still take it. */
int heap_rr_absent(ident_t who);

/* Caller holds the lock. Gives back the blocks of processes that died
 * holding them (a loan, a send not finished). Returns 0 or -EUCLEAN. */
int heap_reclaim(struct seg *s);

/* Caller holds the lock. alloc_take, and when the arena is full, once more
 * after taking back what dead processes held. */
int heap_alloc(struct seg *s, size_t len, ident_t owner, struct seg_blk **b);

/* Returns 1 for a mailbox whose capacity counts messages (not unbounded,
 * not rendezvous). */
int heap_bounded(const struct seg *s);

/* Caller holds the lock. Fills (copying buf unless it is the block's own
 * payload), publishes and links block b. Returns 0 or -EUCLEAN. */
int heap_publish(const struct mb_ctx *c, struct seg_blk *b, const void *buf, size_t len,
                 unsigned prio);

/* Fills *info from a queued block holding len payload bytes. */
void heap_fill_info(mbx_msginfo *info, const struct seg_blk *b, uint64_t len);

/* The rest of a rendezvous send, after its message was published at block
 * offset off with sequence number seq (seen: heap_seen of the senders then): waits until
 * a receiver took that very message, or withdraws it once the time is up,
 * so that it is never delivered. MBX_NONBLOCK waits only through the spin
 * phase. Returns 0 or an error of mbx_send. */
int heap_rendezvous_wait(const struct mb_ctx *c, uint64_t off, uint64_t seq, uint64_t seen,
                         int64_t timeout_ns);

/* Zero copy, as ring_loan and friends (ring.h), for a heap mailbox. */
int heap_loan(const struct mb_ctx *c, size_t len, void **buf);
int heap_send_loan(const struct mb_ctx *c, void *buf, size_t len, unsigned prio,
                   int64_t timeout_ns);
ssize_t heap_recv_loan(const struct mb_ctx *c, const void **buf, mbx_msginfo *info,
                       int64_t timeout_ns);
int heap_release(const struct mb_ctx *c, const void *buf);

#endif
