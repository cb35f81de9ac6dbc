/* Finding a queued message by its reply token, for mbx_call's wait. */
#ifndef MBX_HEAP_TOKEN_H
#define MBX_HEAP_TOKEN_H

#include "shm/segment.h"

/* Caller holds the lock. Stores in *out the queued block whose reply token
 * (seg_blk.token) is token, highest priority first (NULL when none).
 * Returns 0 or -EUCLEAN. */
int heap_find_token(struct seg *s, uint64_t token, struct seg_blk **out);

#endif
