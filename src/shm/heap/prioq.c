#include "shm/heap/prioq.h"

#include "platform/platform.h"
#include "shm/select.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

/* A queued block of priority p at off, or NULL when off is not one. */
static struct seg_blk *queued(struct seg *s, uint64_t off, uint32_t p)
{
    struct seg_blk *b = seg_blk_at(s, off);
    if (!b || b->state != BLK_QUEUED || b->prio != p)
        return NULL;
    return b;
}

static int nactive(struct seg *s, uint32_t *n)
{
    *n = s->hdr->meta.nactive;
    return *n <= MBX_PRIO_MAX ? 0 : -EUCLEAN;
}

/* Index of the first entry >= p in the ascending active[0..n). */
static uint32_t active_find(const uint16_t *a, uint32_t n, uint32_t p)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (a[mid] < p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int active_insert(struct seg *s, uint32_t p)
{
    uint32_t n;
    if (nactive(s, &n) || n == MBX_PRIO_MAX)
        return -EUCLEAN;
    /* New highest priority, the common case, appends without a search. */
    uint32_t i = (n == 0 || s->active[n - 1] < p) ? n : active_find(s->active, n, p);
    if (i < n)
        memmove(&s->active[i + 1], &s->active[i], (n - i) * sizeof(uint16_t));
    s->active[i] = (uint16_t)p;
    s->hdr->meta.nactive = n + 1;
    return 0;
}

static int active_erase(struct seg *s, uint32_t p)
{
    uint32_t n;
    if (nactive(s, &n) || n == 0)
        return -EUCLEAN;
    uint32_t i = s->active[n - 1] == p ? n - 1 : active_find(s->active, n, p);
    if (i >= n || s->active[i] != p)
        return -EUCLEAN;
    memmove(&s->active[i], &s->active[i + 1], (n - i - 1) * sizeof(uint16_t));
    s->hdr->meta.nactive = n - 1;
    return 0;
}

int prioq_push(struct seg *s, struct seg_blk *b)
{
    uint32_t p = b->prio;
    if (p >= MBX_PRIO_MAX)
        return -EUCLEAN;
    struct seg_qhead *q = &s->heads[p];
    uint64_t off = seg_off(s, b);
    b->next = 0;
    if (q->head == 0) {
        b->prev = 0;
        int r = active_insert(s, p);
        if (r)
            return r;
        q->head = q->tail = off;
        return 0;
    }
    struct seg_blk *tail = queued(s, q->tail, p);
    if (!tail)
        return -EUCLEAN;
    b->prev = q->tail;
    tail->next = off;
    q->tail = off;
    return 0;
}

int prioq_top(struct seg *s, struct seg_blk **out)
{
    uint32_t n;
    *out = NULL;
    if (nactive(s, &n))
        return -EUCLEAN;
    if (n == 0)
        return 0;
    uint32_t p = s->active[n - 1];
    if (p >= MBX_PRIO_MAX)
        return -EUCLEAN;
    uint64_t off = s->heads[p].head;
    struct seg_blk *b = seg_blk_at(s, off);
    if (b) /* its payload's line travels while the header's is checked */
        prefetch_write(seg_payload(b));
    if (!(*out = queued(s, off, p)))
        return -EUCLEAN;
    return 0;
}

void prioq_prefetch_top(const struct seg *s)
{
    uint32_t n = __atomic_load_n(&s->hdr->meta.nactive, __ATOMIC_RELAXED);
    if (n == 0 || n > MBX_PRIO_MAX)
        return;
    uint32_t p = __atomic_load_n(&s->active[n - 1], __ATOMIC_RELAXED);
    if (p < MBX_PRIO_MAX)
        seg_prefetch_blk(s, __atomic_load_n(&s->heads[p].head, __ATOMIC_RELAXED));
}

int prioq_find(struct seg *s, int (*match)(const struct seg_blk *b, const void *arg),
               const void *arg, struct seg_blk **out)
{
    uint32_t n;
    *out = NULL;
    if (nactive(s, &n))
        return -EUCLEAN;
    /* Bound the walk by what can be queued, so a cycle cannot hang us: the
     * count, but no more blocks than the arena holds (a peer may write
     * the count too, and 2^32 steps once kept a receive under the lock for
     * seconds, past every timeout). */
    uint64_t budget = __atomic_load_n(&s->hdr->hot.count, __ATOMIC_RELAXED);
    uint64_t most = (s->arena_end - s->arena_start) / sizeof(struct seg_blk);
    budget = (budget < most ? budget : most) + 1;
    for (uint32_t i = n; i-- > 0;) {
        uint32_t p = s->active[i];
        if (p >= MBX_PRIO_MAX)
            return -EUCLEAN;
        for (uint64_t off = s->heads[p].head; off;) {
            struct seg_blk *b = queued(s, off, p);
            if (!b || budget-- == 0)
                return -EUCLEAN;
            if (match(b, arg)) {
                *out = b;
                return 0;
            }
            off = b->next;
        }
    }
    return 0;
}

static int sent_by(const struct seg_blk *b, const void *arg)
{
    return b->sender_pid == *(const pid_t *)arg;
}

int prioq_find_from(struct seg *s, pid_t pid, struct seg_blk **out)
{
    return prioq_find(s, sent_by, &pid, out);
}

static int carries(const struct seg_blk *b, const void *arg)
{
    return b->token == *(const uint64_t *)arg;
}

int prioq_find_token(struct seg *s, uint64_t token, struct seg_blk **out)
{
    return prioq_find(s, carries, &token, out);
}

struct select_args {
    uint32_t how;
    uint64_t type;
    struct seg_blk *lowest; /* MBX_SEL_LE: the first of the lowest type so far */
};

static int selected(const struct seg_blk *b, const void *arg)
{
    const struct select_args *a = arg;
    return sel_match(a->how, a->type, b->type);
}

/* MBX_SEL_LE looks at the whole queue: it notes the first message of the
 * lowest type <= type and never stops the walk. A type MBX_SEL_SYSV rules
 * out is passed over, so that type 0 cannot stand for the lowest. */
static int lowest_so_far(const struct seg_blk *b, const void *arg)
{
    struct select_args *a = (struct select_args *)arg;
    if (sel_excludes(a->how, b->type))
        return 0;
    if (b->type <= a->type && (!a->lowest || b->type < a->lowest->type))
        a->lowest = (struct seg_blk *)b;
    return 0;
}

int prioq_find_select(struct seg *s, uint32_t how, uint64_t type, struct seg_blk **out)
{
    struct select_args a = {how, type, NULL};
    if (sel_mode(how) != MBX_SEL_LE)
        return prioq_find(s, selected, &a, out);
    int r = prioq_find(s, lowest_so_far, &a, out);
    if (r == 0)
        *out = a.lowest;
    return r;
}

int prioq_remove(struct seg *s, struct seg_blk *b)
{
    uint32_t p = b->prio;
    if (p >= MBX_PRIO_MAX)
        return -EUCLEAN;
    struct seg_qhead *q = &s->heads[p];
    struct seg_blk *prev = b->prev ? queued(s, b->prev, p) : NULL;
    struct seg_blk *next = b->next ? queued(s, b->next, p) : NULL;
    if ((b->prev && !prev) || (b->next && !next))
        return -EUCLEAN;
    if (prev)
        prev->next = b->next;
    else
        q->head = b->next;
    if (next)
        next->prev = b->prev;
    else
        q->tail = b->prev;
    b->next = b->prev = 0;
    return q->head == 0 ? active_erase(s, p) : 0;
}

void prioq_clear(struct seg *s)
{
    size_t len = (size_t)MBX_PRIO_MAX * sizeof(struct seg_qhead);
    /* Dropping the pages reads back zeros and frees them; fall back to
     * writing zeros where the file system cannot punch holes. */
    if (plat_give_back(s->heads, len) != 0)
        memset(s->heads, 0, len);
    s->hdr->meta.nactive = 0;
}

/* Merge sort of one singly linked FIFO by seq; next links only. */
static uint64_t sort_list(struct seg *s, uint64_t head, uint32_t p, uint64_t n, int *err)
{
    if (n <= 1 || *err)
        return head;
    uint64_t mid_off = head;
    for (uint64_t i = 1; i < n / 2; i++) {
        struct seg_blk *b = queued(s, mid_off, p);
        if (!b) {
            *err = -EUCLEAN;
            return head;
        }
        mid_off = b->next;
    }
    struct seg_blk *mid = queued(s, mid_off, p);
    if (!mid) {
        *err = -EUCLEAN;
        return head;
    }
    uint64_t right = mid->next;
    mid->next = 0;
    uint64_t a = sort_list(s, head, p, n / 2, err);
    uint64_t c = sort_list(s, right, p, n - n / 2, err);
    uint64_t out = 0, *link = &out;
    /* At most n steps: a peer that links a block to itself meanwhile must
     * not keep the merge (and the lock) going for ever. */
    for (uint64_t steps = 0; !*err && a && c; steps++) {
        struct seg_blk *ba = queued(s, a, p), *bc = queued(s, c, p);
        if (!ba || !bc || steps >= n) {
            *err = -EUCLEAN;
            break;
        }
        if (ba->seq <= bc->seq) {
            *link = a;
            link = &ba->next;
            a = ba->next;
        } else {
            *link = c;
            link = &bc->next;
            c = bc->next;
        }
    }
    *link = a ? a : c;
    return out;
}

int prioq_sort(struct seg *s, uint64_t most)
{
    uint32_t n;
    if (nactive(s, &n))
        return -EUCLEAN;
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t p = s->active[i];
        if (p >= MBX_PRIO_MAX)
            return -EUCLEAN;
        struct seg_qhead *q = &s->heads[p];
        /* Every walk is bounded by what the rebuild counted: a peer may
         * write a cycle into the links while we walk them. */
        uint64_t count = 0;
        for (uint64_t off = q->head; off; count++) {
            struct seg_blk *b = queued(s, off, p);
            if (!b || ++total > most)
                return -EUCLEAN;
            off = b->next;
        }
        int err = 0;
        q->head = sort_list(s, q->head, p, count, &err);
        if (err)
            return err;
        uint64_t prev = 0, off = q->head;
        for (uint64_t k = 0; k < count; k++) {
            struct seg_blk *b = queued(s, off, p);
            if (!b)
                return -EUCLEAN;
            b->prev = prev;
            prev = off;
            off = b->next;
        }
        if (off != 0)
            return -EUCLEAN;
        q->tail = prev;
    }
    return 0;
}
