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

/* Holders a walk of the arena asks about (a read of /proc each): each
 * once, and no more than REPAIR_LOOKUPS of them, so that a peer who wrote
 * a holder into every block cannot make a walk under the lock read /proc
 * once per block. A holder not looked up counts as alive: its blocks are
 * kept (a later walk looks again), never freed from under it. */
#define REPAIR_LOOKUPS 64
struct holder_lookups {
    uint64_t who[REPAIR_LOOKUPS];
    uint8_t alive[REPAIR_LOOKUPS];
    unsigned n;
};

/* For alloc_rebuild when the arena is full: frees blocks held by processes
 * that died (unsent or unreleased loans, rendezvous blocks nobody freed)
 * and keeps everything else. arg: a struct holder_lookups, zeroed before
 * the walk. Caller holds the lock. */
int repair_reclaim_visit(struct seg *s, struct seg_blk *b, void *arg);

#endif
