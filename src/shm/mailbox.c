#include "shm/mailbox.h"

#include "shm/heap/heap_queue.h"
#include "shm/ring/ring.h"
#include "shm/stream/stream.h"

int mb_send(const struct mb_ctx *c, const void *buf, size_t len, unsigned prio, int64_t timeout_ns)
{
    if (c->s->stream)
        return stream_send(c, buf, len, timeout_ns);
    if (c->s->ring)
        return ring_send(c, buf, len, prio, timeout_ns);
    return heap_send(c, buf, len, prio, timeout_ns);
}

ssize_t mb_recv(const struct mb_ctx *c, pid_t from, void *buf, size_t cap, mbx_msginfo *info,
                int64_t timeout_ns)
{
    if (c->s->stream)
        return stream_recv(c, from, buf, cap, info, timeout_ns);
    if (c->s->ring)
        return ring_recv(c, from, buf, cap, info, timeout_ns);
    return heap_recv(c, from, buf, cap, info, timeout_ns);
}

int mb_open(const struct mb_ctx *c, int flags)
{
    return c->s->stream ? stream_open(c, flags) : 0;
}

void mb_close(const struct mb_ctx *c, int flags)
{
    if (c->s->stream)
        stream_close(c, flags);
}
