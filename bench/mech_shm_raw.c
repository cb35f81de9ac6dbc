/* The raw limit: two processes hand messages through a shared mapping with
 * nothing but atomics and spinning, and the same two copies mbx makes (into
 * shared memory, out of it). No locks, no checks, no sleeping, no system
 * calls while both have a CPU: no real mailbox can beat it, so it marks the
 * floor of the table.
 *
 * Each direction is a ring of slots with a sequence number per slot (the
 * producer publishes a slot by writing its sequence last), so a hop moves only
 * the slot's own cache lines between cores. */
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mech.h"

#define RING_BYTES         (8u << 20) /* per direction; fewer slots for large sizes */
#define SPINS_BEFORE_YIELD (1u << 16) /* polls: tens of microseconds */

struct slot {
    _Atomic uint64_t seq; /* == position: free for it; position + 1: full */
    uint64_t len;         /* the payload follows */
};

struct ring {
    char *base;
    size_t stride;
    uint64_t nslots;
    uint64_t pos; /* this process's next position; private after fork */
};

struct raw_priv {
    void *map;
    size_t maplen;
    struct ring ring[2]; /* [0]: initiator -> responder */
    struct ring *out, *in;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Spins until *seq == want. After a long spin it also yields between polls:
 * when the peer shares this CPU (more runnable processes than CPUs), a pure
 * spinner would burn its whole time slice before the peer could answer. Two
 * processes on two idle CPUs never get that far. */
static void wait_seq(_Atomic uint64_t *seq, uint64_t want)
{
    for (unsigned spins = 0; atomic_load_explicit(seq, memory_order_acquire) != want; spins++) {
        if (spins < SPINS_BEFORE_YIELD)
            cpu_relax();
        else
            sched_yield();
    }
}

static void raw_teardown(struct chan *c)
{
    struct raw_priv *s = c->priv;
    if (!s)
        return;
    if (s->map)
        munmap(s->map, s->maplen);
    free(s);
    c->priv = NULL;
}

static int raw_setup(struct chan *c, char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    struct raw_priv *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    c->priv = s;
    size_t stride = (sizeof(struct slot) + c->p.size + 63) & ~(size_t)63;
    size_t nslots = RING_BYTES / stride;
    nslots = nslots < 2 ? 2 : nslots > QUEUE_DEPTH ? QUEUE_DEPTH : nslots;
    int nrings = c->p.pattern == PATTERN_PINGPONG ? 2 : 1;
    s->maplen = stride * nslots * (size_t)nrings;
    s->map = mmap(NULL, s->maplen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s->map == MAP_FAILED) {
        s->map = NULL;
        return -errno;
    }
    for (int r = 0; r < nrings; r++) {
        struct ring *g = &s->ring[r];
        g->base = (char *)s->map + (size_t)r * stride * nslots;
        g->stride = stride;
        g->nslots = nslots;
        for (uint64_t i = 0; i < nslots; i++)
            atomic_init(&((struct slot *)(g->base + i * stride))->seq, i);
    }
    return 0;
}

static int raw_attach(struct chan *c, enum mech_role role, int index)
{
    (void)index;
    struct raw_priv *s = c->priv;
    s->out = role == ROLE_INITIATOR ? &s->ring[0] : &s->ring[1];
    s->in = role == ROLE_INITIATOR ? &s->ring[1] : &s->ring[0];
    return 0;
}

static struct slot *slot_at(struct ring *g)
{
    return (struct slot *)(g->base + (g->pos % g->nslots) * g->stride);
}

static int raw_send(struct chan *c, void *buf, size_t len)
{
    struct raw_priv *s = c->priv;
    struct ring *g = s->out;
    struct slot *sl = slot_at(g);
    wait_seq(&sl->seq, g->pos);
    sl->len = len;
    memcpy(sl + 1, buf, len);
    atomic_store_explicit(&sl->seq, g->pos + 1, memory_order_release);
    g->pos++;
    return 0;
}

static ssize_t raw_recv(struct chan *c, void *buf, size_t len)
{
    struct raw_priv *s = c->priv;
    struct ring *g = s->in;
    struct slot *sl = slot_at(g);
    wait_seq(&sl->seq, g->pos + 1);
    size_t n = sl->len;
    if (n > len)
        return -EMSGSIZE;
    memcpy(buf, sl + 1, n);
    atomic_store_explicit(&sl->seq, g->pos + g->nslots, memory_order_release);
    g->pos++;
    return (ssize_t)n;
}

static int raw_ping(struct chan *c, void *buf, size_t len)
{
    raw_send(c, buf, len);
    ssize_t n = raw_recv(c, buf, len);
    return n < 0 ? (int)n : 0;
}

static int raw_pong(struct chan *c, void *buf, size_t len)
{
    ssize_t n = raw_recv(c, buf, len);
    if (n < 0)
        return (int)n;
    return raw_send(c, buf, (size_t)n);
}

/* The mapping is the parent's to unmap; a child's copy goes when it exits. */
static void raw_detach(struct chan *c)
{
    (void)c;
}

const struct mech mech_shm_raw = {
    .name = "raw",
    .label = "raw limit",
    .about = "raw limit: atomics and spinning on a shared mapping, with mbx's two copies",
    .fanin = FANIN_NO,
    .kernel = false,
    .setup = raw_setup,
    .attach = raw_attach,
    .ping = raw_ping,
    .pong = raw_pong,
    .send = raw_send,
    .recv = raw_recv,
    .detach = raw_detach,
    .teardown = raw_teardown,
};
