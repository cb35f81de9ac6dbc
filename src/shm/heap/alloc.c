#include "shm/heap/alloc.h"

#include "platform/platform.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>

#define PAGE          4096u
#define BIN_SCAN      8              /* entries of a power-of-two bin tried before a larger bin */
#define GIVE_BACK_MIN (256u * 1024u) /* free blocks this large return their pages */

/* Total: a size below one line (only a scribbled one) still gives a bin. */
static unsigned bin_of(uint64_t size)
{
    uint64_t units = size / SEG_LINE;
    if (units == 0)
        return 0;
    if (units <= SEG_EXACT_BINS)
        return (unsigned)units - 1;
    unsigned b = SEG_EXACT_BINS + (63 - (unsigned)__builtin_clzll(units)) - 5;
    return b < SEG_NBINS ? b : SEG_NBINS - 1;
}

/* size: the block's, as the caller checked it (never read again from b). */
static void bin_push(struct seg *s, struct seg_blk *b, uint64_t size)
{
    struct seg_hdr *h = s->hdr;
    unsigned i = bin_of(size);
    uint64_t off = seg_off(s, b);
    struct seg_blk *head = seg_blk_at(s, h->bins[i]);
    b->state = BLK_FREE;
    b->prev = 0;
    b->next = head ? h->bins[i] : 0;
    if (head)
        head->prev = off;
    /* Stored atomically (relaxed: the lock orders it for the takers): a
     * sender about to take the lock reads a bin's head without it, as a
     * prefetch hint (alloc_prefetch_block). */
    __atomic_store_n(&h->bins[i], off, __ATOMIC_RELAXED);
    h->meta.bin_mask |= 1ull << i;
}

static void bin_remove(struct seg *s, struct seg_blk *b, unsigned i)
{
    struct seg_hdr *h = s->hdr;
    struct seg_blk *prev = seg_blk_at(s, b->prev);
    struct seg_blk *next = seg_blk_at(s, b->next);
    if (prev)
        prev->next = next ? b->next : 0;
    else
        __atomic_store_n(&h->bins[i], next ? b->next : 0, __ATOMIC_RELAXED);
    if (next)
        next->prev = prev ? b->prev : 0;
    if (h->bins[i] == 0)
        h->meta.bin_mask &= ~(1ull << i);
}

/* A bin head or list entry that is not a free block of the bin means the
 * bins were scribbled on. *size: the size checked, read once. */
static struct seg_blk *bin_entry(struct seg *s, uint64_t off, unsigned i, uint64_t *size)
{
    struct seg_blk *b = seg_blk_sized(s, off, size);
    if (!b || b->state != BLK_FREE || bin_of(*size) != i)
        return NULL;
    return b;
}

void alloc_init(struct seg *s)
{
    bin_push(s, (struct seg_blk *)(s->base + s->arena_start), s->arena_end - s->arena_start);
}

/* Cuts b, of size bytes (as find_fit checked it: the word in b may have
 * been changed by a peer since, and read again could put the remainder's
 * header past the arena), down to need; the rest becomes a free block.
 * The remainder's header is written before b shrinks, so a walk never
 * meets garbage. Returns b's size after the cut. */
static uint64_t split(struct seg *s, struct seg_blk *b, uint64_t need, uint64_t size)
{
    if (size - need < sizeof(struct seg_blk))
        return size;
    struct seg_blk *rest = (struct seg_blk *)((unsigned char *)b + need);
    rest->size = size - need;
    rest->state = BLK_FREE;
    __atomic_store_n(&b->size, need, __ATOMIC_RELEASE);
    bin_push(s, rest, size - need);
    return need;
}

/* A free block of need bytes or more, its bin in *bin and its size, read
 * once and checked against the arena, in *size: a peer may change the
 * word between two reads, and a size compared with need that was not the
 * one bounded by the arena once gave a sender a block past its end. */
static struct seg_blk *find_fit(struct seg *s, uint64_t need, unsigned *bin, uint64_t *size)
{
    struct seg_hdr *h = s->hdr;
    unsigned i = bin_of(need);
    if (h->meta.bin_mask & (1ull << i)) {
        uint64_t off = h->bins[i];
        for (int n = 0; n < BIN_SCAN && off; n++) {
            struct seg_blk *b = bin_entry(s, off, i, size);
            if (!b)
                return NULL;
            if (*size >= need) {
                *bin = i;
                return b;
            }
            off = b->next;
        }
    }
    /* Every block in a higher bin is larger than any block of bin i. */
    uint64_t higher = i + 1 < SEG_NBINS ? h->meta.bin_mask & (~0ull << (i + 1)) : 0;
    if (!higher)
        return NULL;
    *bin = (unsigned)__builtin_ctzll(higher);
    struct seg_blk *b = bin_entry(s, h->bins[*bin], *bin, size);
    return b && *size >= need ? b : NULL;
}

void alloc_prefetch(const struct seg *s, uint64_t size)
{
    /* A hint from a header not yet checked: any size gives a valid bin. */
    prefetch_write(&s->hdr->bins[size < SEG_LINE ? 0 : bin_of(size)]);
}

void alloc_prefetch_block(const struct seg *s, uint64_t size)
{
    unsigned i = size < SEG_LINE ? 0 : bin_of(size);
    seg_prefetch_blk(s, __atomic_load_n(&s->hdr->bins[i], __ATOMIC_RELAXED));
}

int alloc_take(struct seg *s, uint64_t len, uint64_t owner, struct seg_blk **out)
{
    uint64_t need = seg_blk_size(len), size = 0;
    unsigned i = 0;
    struct seg_blk *b = find_fit(s, need, &i, &size);
    if (!b) {
        /* Either nothing fits or a bin is broken; only a walk tells which. */
        int r = alloc_rebuild(s, NULL, NULL);
        if (r)
            return r;
        b = find_fit(s, need, &i, &size);
        if (!b)
            return -ENOMEM;
    }
    /* The header's line is ours already; the payload's comes meanwhile. */
    prefetch_write(seg_payload(b));
    bin_remove(s, b, i);
    /* The owner first: a repair frees a WRITING block only once its owner
     * is dead, and must never read a stale owner. */
    b->sender_pid = ident_id(owner);
    b->sender_start = ident_start(owner);
    __atomic_store_n(&b->state, BLK_WRITING, __ATOMIC_RELEASE);
    s->hdr->meta.used += split(s, b, need, size);
    *out = b;
    return 0;
}

/* Drops the backing pages inside a large free block. Done when the arena is
 * rebuilt (an allocation found no room, or a repair), not on every free: a
 * block given back is faulted in again page by page when reused, which for
 * a mailbox passing 1 MiB messages costs more than the copy. */
static void give_back(struct seg *s, struct seg_blk *b, uint64_t size)
{
    if (size < GIVE_BACK_MIN)
        return;
    if (plat_give_back(b + 1, size - sizeof(*b)) != 0)
        return;
    /* Those pages need storage again before use: every handle that sees
     * the count move reserves again (alloc_back). */
    __atomic_add_fetch(&s->hdr->meta.given_back, 1, __ATOMIC_RELEASE);
}

int alloc_back(struct seg *s, const struct seg_blk *b)
{
    if (s->fd < 0)
        return 0;
    uint64_t gen = __atomic_load_n(&s->hdr->meta.given_back, __ATOMIC_ACQUIRE);
    if (gen != s->backed_gen) {
        s->backed_gen = gen;
        s->backed_end = s->arena_start;
    }
    /* b's size is shared: a peer may have raised it past the arena. */
    uint64_t off = seg_off(s, b), size = __atomic_load_n(&b->size, __ATOMIC_RELAXED);
    uint64_t end = size > s->arena_end - off ? s->arena_end : off + size, from = s->backed_end;
    if (end <= from)
        return 0;
    if (from < s->arena_start)
        from = s->arena_start;
    int r = plat_reserve(s->fd, from, end - from);
    if (!r)
        s->backed_end = end;
    return r;
}

void alloc_free(struct seg *s, struct seg_blk *b)
{
    /* The size was checked when b was found, but the word is shared: read
     * it once, checked again, for both the count and the bin. A size that
     * no longer fits leaves b free but in no bin: the next walk of the
     * arena takes it back, or finds the tiling broken (-EUCLEAN). */
    uint64_t size;
    if (!seg_blk_sized(s, seg_off(s, b), &size)) {
        __atomic_store_n(&b->state, BLK_FREE, __ATOMIC_RELEASE);
        return;
    }
    s->hdr->meta.used -= size;
    bin_push(s, b, size);
}

int alloc_rebuild(struct seg *s, alloc_visit_fn visit, void *arg)
{
    struct seg_hdr *h = s->hdr;
    for (unsigned i = 0; i < SEG_NBINS; i++)
        __atomic_store_n(&h->bins[i], 0, __ATOMIC_RELAXED);
    h->meta.bin_mask = 0;
    h->meta.used = 0;
    struct seg_blk *run = NULL; /* free block that absorbs free neighbours */
    uint64_t off = s->arena_start;
    uint64_t run_size = 0;
    while (off < s->arena_end) {
        /* Every size used below is this one, checked: the walk, the run's
         * sum, the bins and the pages given back (a size read again once
         * let a peer make give_back drop pages past the arena). */
        uint64_t size;
        struct seg_blk *b = seg_blk_sized(s, off, &size);
        if (!b)
            return -EUCLEAN;
        int state_free = b->state == BLK_FREE;
        if (!state_free) {
            int r = visit ? visit(s, b, arg) : 0;
            if (r < 0)
                return r;
            if (r == 1) {
                b->state = BLK_FREE;
                state_free = 1;
            }
        }
        if (state_free) {
            if (run) {
                run_size += size;
                __atomic_store_n(&run->size, run_size, __ATOMIC_RELEASE);
            } else {
                run = b;
                run_size = size;
            }
        } else {
            if (run) {
                bin_push(s, run, run_size);
                give_back(s, run, run_size);
            }
            run = NULL;
            h->meta.used += size;
        }
        off += size;
    }
    if (run) {
        bin_push(s, run, run_size);
        give_back(s, run, run_size);
    }
    return 0;
}
