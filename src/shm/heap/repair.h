/* Recovery after a process died holding the mailbox lock. */
#ifndef MBX_REPAIR_H
#define MBX_REPAIR_H

#include "shm/segment.h"

/* Rebuilds everything derived (free bins, priority FIFOs, counts) from the
 * arena's blocks: a message half written by the dead process is dropped,
 * every whole queued message is kept in its order, and blocks held by dead
 * processes (all of them, with all_dead: after a reboot) are freed. Caller
 * holds the lock. Returns 0, or -EUCLEAN when the arena itself is broken. */
int repair_segment(struct seg *s, int all_dead);

/* For alloc_rebuild when the arena is full: frees blocks held by processes
 * that died (unsent or unreleased loans, rendezvous blocks nobody freed)
 * and keeps everything else. Caller holds the lock. */
int repair_reclaim_visit(struct seg *s, struct seg_blk *b, void *arg);

#endif
