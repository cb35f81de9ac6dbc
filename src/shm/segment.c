#include "shm/segment.h"

#include <errno.h>
#include <string.h>

#include "platform/platform.h"
#include "shm/ring/ring.h"
#include "shm/stream/stream.h"

#define PAGE         4096u
#define ACTIVE_BYTES ((uint64_t)MBX_PRIO_MAX * sizeof(uint16_t))
#define HEADS_BYTES  ((uint64_t)MBX_PRIO_MAX * sizeof(struct seg_qhead))

static uint64_t round_up(uint64_t v, uint64_t to)
{
    return (v + to - 1) / to * to;
}

/* Where everything lies, from the few numbers the header records. */
struct geom {
    uint64_t ring_off, ring_bytes, active_off, heads_off, arena_off;
};

static struct geom geom_for(uint32_t ring_slots, uint64_t slot_size, uint64_t stream_size)
{
    struct geom g;
    g.ring_off = 2 * PAGE; /* after the header and the receipts */
    g.ring_bytes = ring_slots ? round_up(ring_bytes_for(ring_slots, slot_size), PAGE) : 0;
    if (stream_size)
        g.ring_bytes = STREAM_CTL_BYTES + stream_size;
    g.active_off = g.ring_off + g.ring_bytes;
    g.heads_off = g.active_off + ACTIVE_BYTES;
    g.arena_off = g.heads_off + HEADS_BYTES;
    return g;
}

/* A ring keeps one slot of max_msg_size bytes per unit of capacity; a slot
 * gets storage the first time it carries a message that long and keeps it
 * until the mailbox is removed. Small messages always get a ring (1024
 * slots of 64 KiB: 64 MiB at most). Larger ones get one while all slots
 * together stay within that same 64 MiB and within memory_limit: lending
 * them is then as cheap as lending 64 bytes, and a ring never holds more
 * memory than a small-message ring could. Beyond that the heap kind keeps
 * its storage at the high-water mark of what was queued. */
int seg_wants_ring(const mbx_attr *a, uint32_t flags)
{
    if (a->capacity < 1 || a->capacity > SEG_RING_MAX_SLOTS ||
        a->recv_policy == MBX_RECV_ROUND_ROBIN || (flags & MBX_STREAM))
        return 0;
    if (a->max_msg_size <= SEG_RING_SMALL_MSG)
        return 1;
    uint64_t payload = (uint64_t)a->capacity * a->max_msg_size;
    return payload <= SEG_RING_MAX_BYTES && payload <= a->memory_limit;
}

/* Message storage: what `capacity` messages of the largest size need, capped
 * by memory_limit (but always room for one largest message). */
static uint64_t arena_size_for(const mbx_attr *a)
{
    uint64_t one = seg_blk_size(a->max_msg_size);
    uint64_t limit = a->memory_limit > one ? a->memory_limit : one;
    uint64_t slots =
        a->capacity == MBX_UNBOUNDED || a->capacity == MBX_RENDEZVOUS ? UINT64_MAX : a->capacity;
    uint64_t want = slots > limit / one ? limit : slots * one;
    return round_up(want, PAGE);
}

uint64_t seg_prefix_size(const mbx_attr *attr, uint32_t flags)
{
    if (flags & SEG_RING) /* the slots get storage as they are used */
        return geom_for(attr->capacity, 0, 0).ring_off + sizeof(struct ring_ctl);
    if (flags & MBX_STREAM)
        return geom_for(0, 0, stream_size_for(attr)).active_off;
    return geom_for(0, 0, 0).active_off;
}

uint64_t seg_size_for(const mbx_attr *attr, uint32_t flags)
{
    if (flags & SEG_RING) {
        /* A ring keeps messages in its slots; the arena is a token page. */
        struct geom g = geom_for(attr->capacity, ring_slot_size(attr->max_msg_size), 0);
        return g.arena_off + PAGE;
    }
    if (flags & MBX_STREAM) /* bytes live in the stream; a token arena */
        return geom_for(0, 0, stream_size_for(attr)).arena_off + PAGE;
    return geom_for(0, 0, 0).arena_off + arena_size_for(attr);
}

int seg_format(unsigned char *base, uint64_t size, const mbx_attr *attr, const char *name,
               uint32_t flags, int fd)
{
    struct seg_hdr *h = (struct seg_hdr *)base;
    int r;
    h->version = SEG_VERSION;
    h->pidns = ident_pidns();
    h->hdr_size = sizeof(*h);
    h->file_size = size;
    if (flags & SEG_RING) {
        h->ring_slots = attr->capacity;
        h->slot_size = ring_slot_size(attr->max_msg_size);
    }
    if (flags & MBX_STREAM)
        h->stream_size = stream_size_for(attr);
    struct geom g = geom_for(h->ring_slots, h->slot_size, h->stream_size);
    h->ring_off = g.ring_off;
    h->active_off = g.active_off;
    h->heads_off = g.heads_off;
    h->arena_off = g.arena_off;
    h->arena_size = size - g.arena_off;
    h->max_msg_size = attr->max_msg_size;
    h->memory_limit = attr->memory_limit;
    h->capacity = attr->capacity;
    h->recv_policy = attr->recv_policy;
    h->mode = attr->mode;
    h->flags = flags;
    strncpy(h->name, name, sizeof(h->name) - 1);
    h->meta.seq_next = 1;
    if (h->ring_slots &&
        (r = ring_format(base + g.ring_off, h->ring_slots, h->slot_size, fd, g.ring_off)))
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
    if (size < geom_for(0, 0, 0).arena_off + PAGE)
        return -EUCLEAN;
    if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != SEG_MAGIC)
        return -EUCLEAN;
    if (h->version != SEG_VERSION)
        return -EPROTO;
    uint32_t ring_slots = h->ring_slots;
    uint64_t slot_size = h->slot_size, max_msg = h->max_msg_size, stream_size = h->stream_size;
    int ring = (h->flags & SEG_RING) != 0, stream = (h->flags & MBX_STREAM) != 0;
    if (max_msg == 0 || max_msg > SEG_MAX_MSG)
        return -EUCLEAN;
    if (ring ? (ring_slots == 0 || ring_slots > SEG_RING_MAX_SLOTS ||
                (max_msg > SEG_RING_SMALL_MSG && ring_slots * max_msg > SEG_RING_MAX_BYTES) ||
                slot_size != ring_slot_size(max_msg) || h->capacity != ring_slots)
             : (ring_slots != 0 || slot_size != 0))
        return -EUCLEAN;
    if (stream
            ? (ring || stream_size == 0 || stream_size % PAGE != 0 || stream_size > SEG_STREAM_MAX)
            : stream_size != 0)
        return -EUCLEAN;
    struct geom g = geom_for(ring_slots, slot_size, stream_size);
    if (h->hdr_size != sizeof(*h) || h->file_size != size || h->ring_off != g.ring_off ||
        h->active_off != g.active_off || h->heads_off != g.heads_off ||
        h->arena_off != g.arena_off || size < g.arena_off + PAGE ||
        h->arena_size != size - g.arena_off || h->arena_size % SEG_LINE != 0 ||
        h->arena_size > SEG_MAX_ARENA)
        return -EUCLEAN;
    if (!ring && !stream && seg_blk_size(max_msg) > h->arena_size)
        return -EUCLEAN;
    if (h->recv_policy > MBX_RECV_ROUND_ROBIN || h->mode > 0777 ||
        (h->flags & ~(uint32_t)(MBX_OWNED | MBX_STREAM | SEG_RING)))
        return -EUCLEAN;
    if (memchr(h->name, 0, sizeof(h->name)) == NULL)
        return -EUCLEAN;
    s->base = base;
    s->size = size;
    s->hdr = h;
    s->receipts = (struct seg_receipt *)(base + PAGE);
    s->active = (uint16_t *)(base + g.active_off);
    s->heads = (struct seg_qhead *)(base + g.heads_off);
    s->ring = ring ? base + g.ring_off : NULL;
    s->ring_slots = ring_slots;
    s->slot_size = slot_size;
    s->slot_recip = slot_size ? ((1ull << 40) + slot_size - 1) / slot_size : 0;
    s->slot_backed = NULL;
    s->backed_end = 0;
    s->backed_gen = UINT64_MAX;
    s->stream = stream ? base + g.ring_off : NULL;
    s->stream_size = stream_size;
    s->fd = -1;
    s->arena_start = g.arena_off;
    s->arena_end = size;
    s->max_msg_size = max_msg;
    s->capacity = h->capacity;
    s->recv_policy = h->recv_policy;
    s->flags = h->flags;
    return 0;
}

struct seg_blk *seg_blk_at(const struct seg *s, uint64_t off)
{
    uint64_t start = s->arena_start, end = s->arena_end;
    if (off < start || off % SEG_LINE != 0 || off > end - sizeof(struct seg_blk))
        return NULL;
    struct seg_blk *b = (struct seg_blk *)(s->base + off);
    uint64_t size = __atomic_load_n(&b->size, __ATOMIC_RELAXED);
    if (size < SEG_LINE || size % SEG_LINE != 0 || size > end - off)
        return NULL;
    return b;
}
