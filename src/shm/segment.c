#include "shm/segment.h"

#include "platform/platform.h"
#include "shm/kind.h"

#include <errno.h>
#include <string.h>

#define PAGE         SEG_PAGE
#define ACTIVE_BYTES ((uint64_t)MBX_PRIO_MAX * sizeof(uint16_t))
#define HEADS_BYTES  ((uint64_t)MBX_PRIO_MAX * sizeof(struct seg_qhead))

/* Where everything lies, from the size of the kind's region. */
struct geom {
    uint64_t region_off, active_off, heads_off, arena_off;
};

static struct geom geom_for(uint64_t region_bytes)
{
    struct geom g;
    g.region_off = 2 * PAGE; /* after the header and the receipts */
    g.active_off = g.region_off + region_bytes;
    g.heads_off = g.active_off + ACTIVE_BYTES;
    g.arena_off = g.heads_off + HEADS_BYTES;
    return g;
}

uint64_t seg_prefix_size(const mbx_attr *attr, const struct shm_kind *k)
{
    return geom_for(k->region_bytes(attr)).region_off + k->reserve_bytes(attr);
}

uint64_t seg_size_for(const mbx_attr *attr, const struct shm_kind *k)
{
    return geom_for(k->region_bytes(attr)).arena_off + k->arena_bytes(attr);
}

int seg_format(unsigned char *base, uint64_t size, const mbx_attr *attr, const char *name,
               const struct shm_kind *k, uint32_t flags, int fd)
{
    struct seg_hdr *h = (struct seg_hdr *)base;
    struct geom g = geom_for(k->region_bytes(attr));
    h->version = SEG_VERSION;
    h->pidns = ident_pidns();
    h->hdr_size = sizeof(*h);
    h->file_size = size;
    h->ring_off = g.region_off;
    h->active_off = g.active_off;
    h->heads_off = g.heads_off;
    h->arena_off = g.arena_off;
    h->arena_size = size - g.arena_off;
    h->max_msg_size = attr->max_msg_size;
    h->memory_limit = attr->memory_limit;
    h->capacity = attr->capacity;
    h->recv_policy = attr->recv_policy;
    h->mode = attr->mode;
    h->flags = (flags & MBX_OWNED) | k->hdr_flag;
    strncpy(h->name, name, sizeof(h->name) - 1);
    h->meta.seq_next = 1;
    int r = k->format(h, base + g.region_off, g.region_off, attr, fd);
    if (r)
        return r;
    struct seg_blk *b = (struct seg_blk *)(base + g.arena_off);
    b->size = h->arena_size;
    b->state = BLK_FREE;
    /* The magic goes last: a header without it is never taken for a mailbox. */
    __atomic_store_n(&h->magic, SEG_MAGIC, __ATOMIC_RELEASE);
    return 0;
}

int seg_attach(struct seg *s, unsigned char *base, uint64_t size)
{
    struct seg_hdr *h = (struct seg_hdr *)base;
    if (size < geom_for(0).arena_off + PAGE)
        return -EUCLEAN;
    if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != SEG_MAGIC)
        return -EUCLEAN;
    /* Every check and every copy below reads one snapshot: a peer that
     * rewrites the header meanwhile cannot make a later read disagree with
     * what an earlier check allowed (the slot count the region was sized
     * for, say). */
    struct seg_hdr hs;
    memcpy(&hs, h, sizeof(hs));
    if (hs.version != SEG_VERSION && hs.version != SEG_VERSION_POOL)
        return -EPROTO;
    uint64_t max_msg = hs.max_msg_size;
    if (max_msg == 0 || max_msg > SEG_MAX_MSG)
        return -EUCLEAN;
    const struct shm_kind *k = shm_kind_of_flags(hs.flags & ~(uint32_t)MBX_OWNED);
    uint64_t region = k ? k->region_of(&hs) : UINT64_MAX;
    if (region == UINT64_MAX || region > size)
        return -EUCLEAN;
    struct geom g = geom_for(region);
    if (hs.hdr_size != sizeof(hs) || hs.file_size != size || hs.ring_off != g.region_off ||
        hs.active_off != g.active_off || hs.heads_off != g.heads_off ||
        hs.arena_off != g.arena_off || size < g.arena_off + PAGE ||
        hs.arena_size != size - g.arena_off || hs.arena_size % SEG_LINE != 0 ||
        hs.arena_size > SEG_MAX_ARENA)
        return -EUCLEAN;
    if (hs.recv_policy > MBX_RECV_PAIR || hs.mode > 0777)
        return -EUCLEAN;
    if (memchr(hs.name, 0, sizeof(hs.name)) == NULL)
        return -EUCLEAN;
    memset(s, 0, sizeof(*s));
    s->kind = k;
    s->base = base;
    s->size = size;
    s->hdr = h;
    s->receipts = (struct seg_receipt *)(base + PAGE);
    s->active = (uint16_t *)(base + g.active_off);
    s->heads = (struct seg_qhead *)(base + g.heads_off);
    s->backed_gen = UINT64_MAX;
    s->fd = -1;
    s->arena_start = g.arena_off;
    s->arena_end = size;
    s->max_msg_size = max_msg;
    s->capacity = hs.capacity;
    s->recv_policy = hs.recv_policy;
    s->flags = hs.flags;
    k->attach(s, base + g.region_off, &hs);
    return 0;
}

/* Whole pages of the mapping around [from, to). */
static int populate(const struct seg *s, const unsigned char *from, const unsigned char *to)
{
    uintptr_t page = SEG_PAGE, lo = (uintptr_t)s->base, hi = lo + s->size;
    uintptr_t a = (uintptr_t)from & ~(page - 1), b = ((uintptr_t)to + page - 1) & ~(page - 1);
    a = a < lo ? lo : a;
    b = b > hi ? hi : b;
    return b > a ? plat_populate((void *)a, b - a) : 0;
}

int seg_prefault(const struct seg *s)
{
    /* The kind's region (a ring's slots, a stream's bytes) runs up to
     * active[]; a heap keeps its messages in the arena (a ring's arena is
     * a token page), whose first SEG_PREFAULT_ARENA bytes are enough: an
     * unbounded or rendezvous heap's arena is its memory_limit (1 GiB by
     * default), and the allocator hands the first blocks out again.
     * active[] and heads[] serve only a heap's priorities and stay sparse. */
    const unsigned char *region = s->ring ? s->ring : s->stream;
    const unsigned char *end = (const unsigned char *)s->active;
    if (region && (uint64_t)(end - region) > SEG_PREFAULT_ARENA)
        end = region + SEG_PREFAULT_ARENA; /* a ring of large slots: its first ones */
    int r = region ? populate(s, region, end) : 0;
    uint64_t arena = s->arena_end - s->arena_start;
    if (arena > SEG_PREFAULT_ARENA)
        arena = SEG_PREFAULT_ARENA;
    int r2 = populate(s, s->base + s->arena_start, s->base + s->arena_start + arena);
    return r ? r : r2;
}

void seg_prefetch_blk(const struct seg *s, uint64_t off)
{
    if (off < s->arena_start || off >= s->arena_end || off % SEG_LINE != 0 ||
        s->arena_end - off < 2 * sizeof(struct seg_blk))
        return;
    const unsigned char *b = s->base + off;
    prefetch_write(b);
    prefetch_write(b + sizeof(struct seg_blk));
}

struct seg_blk *seg_blk_sized(const struct seg *s, uint64_t off, uint64_t *size)
{
    uint64_t start = s->arena_start, end = s->arena_end;
    if (off < start || off % SEG_LINE != 0 || off > end - sizeof(struct seg_blk))
        return NULL;
    struct seg_blk *b = (struct seg_blk *)(s->base + off);
    uint64_t n = __atomic_load_n(&b->size, __ATOMIC_RELAXED);
    if (n < sizeof(struct seg_blk) || n % SEG_LINE != 0 || n > end - off)
        return NULL;
    *size = n;
    return b;
}

struct seg_blk *seg_blk_at(const struct seg *s, uint64_t off)
{
    uint64_t size;
    return seg_blk_sized(s, off, &size);
}
