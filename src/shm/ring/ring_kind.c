/* The ring kind's entry in the kind table: its region of the segment (a
 * control block and one slot per unit of capacity) and its operations. */
#include "shm/kind.h"
#include "shm/ring/ring_impl.h"

#include "platform/platform.h"

#define PAGE SEG_PAGE

static uint64_t round_up(uint64_t v, uint64_t to)
{
    return (v + to - 1) / to * to;
}

/* The region of a ring of `slots` slots and `pool` pool buffers. */
static uint64_t bytes_for(uint32_t slots, uint64_t slot_size, uint32_t pool)
{
    return round_up(ring_payloads_off(slots) + ((uint64_t)slots + pool) * slot_size, PAGE);
}

/* Messages of max_msg bytes that memory_limit holds: at least one, as a
 * heap mailbox always has room for one largest message. */
static uint64_t fit_in_limit(const mbx_attr *a)
{
    uint64_t n = a->memory_limit / a->max_msg_size;
    return n ? n : 1;
}

/* Buffers of the pool of a ring of `slots` slots with these attributes
 * (ring.h): large slots, enough of them for a lap to leave the caches, and
 * room for the pool within memory_limit. */
static uint32_t pool_of(const mbx_attr *a, uint32_t slots)
{
    if (a->max_msg_size <= RING_SMALL_MSG || slots < RING_POOL_MIN_SLOTS)
        return 0;
    return (uint64_t)slots + RING_POOL_BUFS <= fit_in_limit(a) ? RING_POOL_BUFS : 0;
}

/* Slots of a new ring: one per unit of capacity, but no more large ones
 * than memory_limit holds, less four for a pool where that leaves eight
 * or more. A ring of fewer slots than its capacity is full sooner, as a
 * heap mailbox of such messages is, by its memory_limit. */
static uint32_t slots_for(const mbx_attr *a)
{
    if (a->max_msg_size <= RING_SMALL_MSG)
        return a->capacity;
    uint64_t fit = fit_in_limit(a);
    if ((uint64_t)a->capacity + RING_POOL_BUFS <= fit)
        return a->capacity;
    if (fit >= RING_POOL_MIN_SLOTS + RING_POOL_BUFS)
        return (uint32_t)(fit - RING_POOL_BUFS);
    return a->capacity < fit ? a->capacity : (uint32_t)fit;
}

static uint32_t pool_for(const mbx_attr *a)
{
    return pool_of(a, slots_for(a));
}

/* A ring keeps one slot of max_msg_size bytes per unit of capacity; a slot
 * gets storage the first time it carries a message that long and keeps it
 * until the mailbox is removed. Every bounded capacity up to 1024 gets a
 * ring: small messages one slot per unit of capacity (1024 slots of
 * 64 KiB: 64 MiB at most), larger ones no more slots than memory_limit
 * holds (slots_for), so a ring holds at most what a heap mailbox of the
 * same attributes could, and lending a message of any size is as cheap
 * as lending 64 bytes. Unbounded and rendezvous mailboxes are heaps, and
 * round-robin receivers take tickets under the heap kind's lock: never a
 * ring. */
static int accepts(const mbx_attr *a, int flags)
{
    return a->capacity >= 1 && a->capacity <= RING_MAX_SLOTS &&
           a->recv_policy != MBX_RECV_ROUND_ROBIN && !(flags & MBX_STREAM);
}

static uint64_t region_bytes(const mbx_attr *a)
{
    return bytes_for(slots_for(a), ring_slot_size(a->max_msg_size), pool_for(a));
}

/* The control lines and the slot headers get storage at creation, the
 * payloads as they are used. */
static uint64_t reserve_bytes(const mbx_attr *a)
{
    return sizeof(struct ring_ctl) + (uint64_t)slots_for(a) * sizeof(struct ring_slot);
}

/* Messages live in the slots: the arena is a token page. */
static uint64_t arena_bytes(const mbx_attr *a)
{
    (void)a;
    return PAGE;
}

static int format(struct seg_hdr *h, unsigned char *region, uint64_t region_off, const mbx_attr *a,
                  int fd)
{
    h->ring_slots = slots_for(a);
    h->slot_size = ring_slot_size(a->max_msg_size);
    /* The headers get storage before they are written. */
    int r = plat_reserve(fd, region_off, reserve_bytes(a));
    if (r)
        return r;
    struct ring_slot *slots = (struct ring_slot *)(region + sizeof(struct ring_ctl));
    for (uint32_t i = 0; i < h->ring_slots; i++)
        slots[i].word = slot_word(i, SLOT_FREE, 0);
    if (pool_for(a)) {
        h->version = SEG_VERSION_POOL;
        ring_pool_format((struct ring_ctl *)region);
    }
    return 0;
}

static uint64_t region_of(const struct seg_hdr *h)
{
    uint32_t slots = h->ring_slots;
    uint64_t max_msg = h->max_msg_size;
    uint32_t pool = h->version == SEG_VERSION_POOL ? RING_POOL_BUFS : 0;
    /* Only rings of large messages have fewer slots than their capacity
     * (slots_for). */
    if (slots == 0 || slots > RING_MAX_SLOTS || slots > h->capacity ||
        (slots < h->capacity && max_msg <= RING_SMALL_MSG) || h->stream_size != 0 ||
        h->slot_size != ring_slot_size(max_msg) ||
        (pool && (max_msg <= RING_SMALL_MSG || slots < RING_POOL_MIN_SLOTS)))
        return UINT64_MAX;
    return bytes_for(slots, h->slot_size, pool);
}

static void attach(struct seg *s, unsigned char *region, const struct seg_hdr *hs)
{
    s->ring = region;
    s->ring_slots = hs->ring_slots;
    s->slot_size = hs->slot_size;
    s->ring_payloads = region + ring_payloads_off(s->ring_slots);
    s->ring_pool = hs->version == SEG_VERSION_POOL ? RING_POOL_BUFS : 0;
    s->ring_pool_base = s->ring_payloads + (uint64_t)s->ring_slots * s->slot_size;
}

const struct shm_kind shm_kind_ring = {
    .name = "ring",
    .hdr_flag = RING_HDR_FLAG,
    .accepts = accepts,
    .region_bytes = region_bytes,
    .reserve_bytes = reserve_bytes,
    .arena_bytes = arena_bytes,
    .format = format,
    .region_of = region_of,
    .attach = attach,
    .send = ring_send,
    .recv = ring_recv,
    .loan = ring_loan,
    .send_loan = ring_send_loan,
    .recv_loan = ring_recv_loan,
    .release = ring_release,
    .withdraw = ring_withdraw,
    .ready = ring_ready,
    .stat = ring_stat,
    .reset = ring_reset_all_dead,
    .repair = ring_pool_repair,
};
