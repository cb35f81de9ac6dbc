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

/* Buffers of the pool a new ring with these attributes gets (ring.h):
 * large slots, enough of them for a lap to leave the caches, and room
 * for the pool within memory_limit. */
static uint32_t pool_for(const mbx_attr *a)
{
    if (a->max_msg_size <= RING_SMALL_MSG || a->capacity < RING_POOL_MIN_SLOTS)
        return 0;
    uint64_t with_pool = ((uint64_t)a->capacity + RING_POOL_BUFS) * a->max_msg_size;
    return with_pool <= a->memory_limit ? RING_POOL_BUFS : 0;
}

/* A ring keeps one slot of max_msg_size bytes per unit of capacity; a slot
 * gets storage the first time it carries a message that long and keeps it
 * until the mailbox is removed. Small messages always get a ring (1024
 * slots of 64 KiB: 64 MiB at most). Larger ones get one while all slots
 * together stay within that same 64 MiB and within memory_limit: lending
 * them is then as cheap as lending 64 bytes, and a ring never holds more
 * memory than a small-message ring could, but for the four buffers of its
 * pool (pool_for; 4 MiB with 1 MiB slots). Beyond that the heap kind keeps
 * its storage at the high-water mark of what was queued. Round-robin
 * receivers take tickets under the heap kind's lock: never a ring. */
static int accepts(const mbx_attr *a, int flags)
{
    if (a->capacity < 1 || a->capacity > RING_MAX_SLOTS || a->recv_policy == MBX_RECV_ROUND_ROBIN ||
        (flags & MBX_STREAM))
        return 0;
    if (a->max_msg_size <= RING_SMALL_MSG)
        return 1;
    uint64_t payload = (uint64_t)a->capacity * a->max_msg_size;
    return payload <= RING_MAX_BYTES && payload <= a->memory_limit;
}

static uint64_t region_bytes(const mbx_attr *a)
{
    return bytes_for(a->capacity, ring_slot_size(a->max_msg_size), pool_for(a));
}

/* The control lines and the slot headers get storage at creation, the
 * payloads as they are used. */
static uint64_t reserve_bytes(const mbx_attr *a)
{
    return sizeof(struct ring_ctl) + (uint64_t)a->capacity * sizeof(struct ring_slot);
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
    h->ring_slots = a->capacity;
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
    if (slots == 0 || slots > RING_MAX_SLOTS || h->capacity != slots || h->stream_size != 0 ||
        (max_msg > RING_SMALL_MSG && slots * max_msg > RING_MAX_BYTES) ||
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
