/* Queue order: one FIFO per priority, and active[], the ascending list of
 * priorities whose FIFO is not empty, so the highest is active[nactive-1].
 * Invariant: heads[p].head != 0 exactly when p is in active[].
 * All of this is derived from the queued blocks and rebuilt after a crash.
 * Caller holds the mailbox lock for every function here.
 */
#ifndef MBX_PRIOQ_H
#define MBX_PRIOQ_H

#include "shm/segment.h"

#include <sys/types.h>

/* Appends a queued block to the FIFO of its priority. Returns 0 or -EUCLEAN. */
int prioq_push(struct seg *s, struct seg_blk *b);

/* Stores in *out the oldest block of the highest priority (NULL when empty).
 * Returns 0 or -EUCLEAN. */
int prioq_top(struct seg *s, struct seg_blk **out);

/* Starts fetching, without the lock, the header and payload of the block
 * prioq_top would most likely return: a hint read from words that may be
 * changing (any value gives an address inside the arena or nothing, and a
 * prefetch never faults), so the block's miss overlaps the lock's. */
void prioq_prefetch_top(const struct seg *s);

/* Like prioq_top, among the blocks match(b, arg) says yes to: the oldest
 * of the highest priority that matches (a scan past those that do not,
 * bounded by the count of queued messages). */
int prioq_find(struct seg *s, int (*match)(const struct seg_blk *b, const void *arg),
               const void *arg, struct seg_blk **out);

/* prioq_find among the blocks sent by process pid, or carrying reply
 * token `token` (seg_blk.token). */
int prioq_find_from(struct seg *s, pid_t pid, struct seg_blk **out);
int prioq_find_token(struct seg *s, uint64_t token, struct seg_blk **out);

/* Like prioq_top, among the blocks a receive selecting (how, type) may
 * take (mbx.h, MBX_SEL_*): MBX_SEL_LE walks the whole queue for the lowest
 * type. */
int prioq_find_select(struct seg *s, uint32_t how, uint64_t type, struct seg_blk **out);

/* Unlinks a queued block from its FIFO. Returns 0 or -EUCLEAN. */
int prioq_remove(struct seg *s, struct seg_blk *b);

/* Empties every FIFO (used before a rebuild). */
void prioq_clear(struct seg *s);

/* Sorts each FIFO by sequence number after a rebuild appended blocks in
 * arena order; most is how many blocks the rebuild queued in all, and no
 * walk goes further. Returns 0, or -EUCLEAN for a damaged queue (also one
 * a peer changed meanwhile: a cycle, a priority out of range). */
int prioq_sort(struct seg *s, uint64_t most);

#endif
