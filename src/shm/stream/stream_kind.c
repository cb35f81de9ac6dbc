/* The stream kind's entry in the kind table: a byte ring after a page of
 * control lines, storage for all of it at creation. */
#include "shm/kind.h"
#include "shm/stream/stream.h"

#define PAGE SEG_PAGE

static int accepts(const mbx_attr *a, int flags)
{
    return (flags & MBX_STREAM) && stream_size_for(a) != 0;
}

static uint64_t region_bytes(const mbx_attr *a)
{
    return STREAM_CTL_BYTES + stream_size_for(a);
}

static uint64_t arena_bytes(const mbx_attr *a)
{
    (void)a;
    return PAGE;
}

static int format(struct seg_hdr *h, unsigned char *region, uint64_t region_off, const mbx_attr *a,
                  int fd)
{
    (void)region, (void)region_off, (void)fd; /* reserved with the prefix */
    h->stream_size = stream_size_for(a);
    return 0;
}

static uint64_t region_of(const struct seg_hdr *h)
{
    uint64_t size = h->stream_size;
    if (h->version != SEG_VERSION || h->ring_slots || h->slot_size || size == 0 ||
        size % PAGE != 0 || size > STREAM_MAX)
        return UINT64_MAX;
    return STREAM_CTL_BYTES + size;
}

static void attach(struct seg *s, unsigned char *region, const struct seg_hdr *hs)
{
    s->stream = region;
    s->stream_size = hs->stream_size;
}

static int send(const struct mb_ctx *c, const void *buf, size_t len, unsigned prio,
                int64_t timeout_ns)
{
    (void)prio; /* bytes have no priority */
    return stream_send(c, buf, len, timeout_ns);
}

/* A stream's ends are checked by liveness when used: nothing to clear. */
static int reset(struct seg *s)
{
    (void)s;
    return 0;
}

const struct shm_kind shm_kind_stream = {
    .name = "stream",
    .hdr_flag = MBX_STREAM,
    .accepts = accepts,
    .region_bytes = region_bytes,
    .reserve_bytes = region_bytes,
    .arena_bytes = arena_bytes,
    .format = format,
    .region_of = region_of,
    .attach = attach,
    .open = stream_open,
    .close = stream_close,
    .send = send,
    .recv = stream_recv,
    .ready = stream_ready,
    .peers = stream_peers,
    .stat = stream_stat,
    .reset = reset,
};
