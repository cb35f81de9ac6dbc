#include "segment.h"

#include <errno.h>
#include <string.h>

#define PAGE         4096u
#define ACTIVE_BYTES ((uint64_t)MBX_PRIO_MAX * sizeof(uint16_t))
#define HEADS_BYTES  ((uint64_t)MBX_PRIO_MAX * sizeof(struct seg_qhead))
#define ACTIVE_OFF   ((uint64_t)PAGE)
#define HEADS_OFF    (ACTIVE_OFF + ACTIVE_BYTES)
#define ARENA_OFF    (HEADS_OFF + HEADS_BYTES)

static uint64_t round_up(uint64_t v, uint64_t to)
{
    return (v + to - 1) / to * to;
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

uint64_t seg_size_for(const mbx_attr *attr)
{
    return ARENA_OFF + arena_size_for(attr);
}

/* The glibc mutex kind our attributes produce, to spot a scribbled mutex. */
static int mutex_init_shared(pthread_mutex_t *m)
{
    pthread_mutexattr_t ma;
    int r = pthread_mutexattr_init(&ma);
    if (r)
        return -r;
    r = pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    if (!r)
        r = pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
    if (!r)
        r = pthread_mutex_init(m, &ma);
    pthread_mutexattr_destroy(&ma);
    return -r;
}

int seg_format(unsigned char *base, uint64_t size, const mbx_attr *attr, const char *name,
               uint32_t flags)
{
    struct seg_hdr *h = (struct seg_hdr *)base;
    int r = mutex_init_shared(&h->hot.lock);
    if (r)
        return r;
    h->version = SEG_VERSION;
    h->hdr_size = sizeof(*h);
    h->file_size = size;
    h->active_off = ACTIVE_OFF;
    h->heads_off = HEADS_OFF;
    h->arena_off = ARENA_OFF;
    h->arena_size = size - ARENA_OFF;
    h->max_msg_size = attr->max_msg_size;
    h->memory_limit = attr->memory_limit;
    h->capacity = attr->capacity;
    h->recv_policy = attr->recv_policy;
    h->mode = attr->mode;
    h->flags = flags;
    strncpy(h->name, name, sizeof(h->name) - 1);
    h->meta.seq_next = 1;
    struct seg_blk *b = (struct seg_blk *)(base + ARENA_OFF);
    b->size = h->arena_size;
    b->state = BLK_FREE;
    /* The magic goes last: a header without it is never taken for a mailbox. */
    __atomic_store_n(&h->magic, SEG_MAGIC, __ATOMIC_RELEASE);
    return 0;
}

static int mutex_kind_ok(const pthread_mutex_t *m)
{
    pthread_mutex_t want;
    if (mutex_init_shared(&want))
        return 0;
    return m->__data.__kind == want.__data.__kind;
}

int seg_attach(struct seg *s, unsigned char *base, uint64_t size)
{
    struct seg_hdr *h = (struct seg_hdr *)base;
    if (size < ARENA_OFF + PAGE)
        return -EUCLEAN;
    if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != SEG_MAGIC)
        return -EUCLEAN;
    if (h->version != SEG_VERSION)
        return -EPROTO;
    if (h->hdr_size != sizeof(*h) || h->file_size != size || h->active_off != ACTIVE_OFF ||
        h->heads_off != HEADS_OFF || h->arena_off != ARENA_OFF ||
        h->arena_size != size - ARENA_OFF || h->arena_size % SEG_LINE != 0 ||
        h->arena_size > SEG_MAX_ARENA)
        return -EUCLEAN;
    if (h->max_msg_size == 0 || h->max_msg_size > SEG_MAX_MSG ||
        seg_blk_size(h->max_msg_size) > h->arena_size)
        return -EUCLEAN;
    if (h->recv_policy > MBX_RECV_ROUND_ROBIN || h->mode > 0777 ||
        (h->flags & ~(uint32_t)(MBX_OWNED | MBX_STREAM)))
        return -EUCLEAN;
    if (memchr(h->name, 0, sizeof(h->name)) == NULL || !mutex_kind_ok(&h->hot.lock))
        return -EUCLEAN;
    s->base = base;
    s->size = size;
    s->hdr = h;
    s->active = (uint16_t *)(base + ACTIVE_OFF);
    s->heads = (struct seg_qhead *)(base + HEADS_OFF);
    s->arena_start = ARENA_OFF;
    s->arena_end = size;
    s->max_msg_size = h->max_msg_size;
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
