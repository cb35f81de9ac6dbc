/* Message storage inside the arena: blocks that tile it exactly, free blocks
 * kept in size-class bins (exact sizes up to 2 KiB, powers of two above).
 *
 * Crash safety: the tiling is the truth, the bins are derived. Every change
 * to the tiling is one 8-byte store (a split writes the remainder's header
 * first, then shrinks the block), so a walk of the arena is valid at any
 * instant; alloc_rebuild() recomputes the bins from such a walk. Adjacent
 * free blocks are merged only by alloc_rebuild(), when an allocation fails:
 * the fast path reuses same-size blocks and touches no neighbour.
 * Caller holds the mailbox lock for every function here.
 */
#ifndef MBX_ALLOC_H
#define MBX_ALLOC_H

#include "shm/segment.h"

/* Puts the arena's initial single free block into its bin. */
void alloc_init(struct seg *s);

/* Starts fetching the line of the bin that holds free blocks of size bytes
 * (header included: seg_blk_size(len) before an alloc_take of len, or the
 * size of a block about to be freed). */
void alloc_prefetch(const struct seg *s, uint64_t size);

/* Starts fetching, without the lock, the free block at the head of that
 * bin (a hint, as prioq_prefetch_top): the block alloc_take most likely
 * hands out next. */
void alloc_prefetch_block(const struct seg *s, uint64_t size);

/* Takes a block with room for len payload bytes, in state BLK_WRITING and
 * owned by process `owner` (an ident), into *out. Returns 0, -ENOMEM when
 * no free block is large enough, -EUCLEAN. */
int alloc_take(struct seg *s, uint64_t len, uint64_t owner, struct seg_blk **out);

/* Makes sure the file has storage under block b (a sparse file's pages are
 * allocated on first touch, and a full file system then answers with
 * SIGBUS). What is backed is known per handle (struct seg), never read
 * from the segment, where a scribbled value could make us skip it; the
 * segment only counts the times pages were given back, after which the
 * handle reserves again. Returns 0, or -ENOSPC (or another -errno of
 * fallocate). */
int alloc_back(struct seg *s, const struct seg_blk *b);

/* Returns a block to the free bins, pages and all, for reuse. */
void alloc_free(struct seg *s, struct seg_blk *b);

/* Called by alloc_rebuild for every block that is not free; returns 0 to
 * keep it, 1 to free it, or a negative error to stop the walk. */
typedef int (*alloc_visit_fn)(struct seg *s, struct seg_blk *b, void *arg);

/* Walks the whole arena, merges neighbouring free blocks and rebuilds the
 * bins and the used count, and gives the pages of large free runs back;
 * visit (may be NULL) sees every other block.
 * Returns 0, -EUCLEAN for a broken tiling, or visit's error. */
int alloc_rebuild(struct seg *s, alloc_visit_fn visit, void *arg);

#endif
