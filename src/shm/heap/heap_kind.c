/* The heap kind's entry in the kind table: messages in arena blocks under
 * the mailbox lock; no region of its own before the arena. */
#include "shm/heap/alloc.h"
#include "shm/heap/heap_queue.h"
#include "shm/heap/repair.h"
#include "shm/kind.h"
#include "shm/lock.h"
#include "platform/platform.h"
#include "shm/sleepers.h"

#define PAGE SEG_PAGE

/* Everything a ring or a stream does not take: any size, any capacity,
 * rendezvous, unbounded, round-robin receivers. */
static int accepts(const mbx_attr *a, int flags)
{
    (void)a;
    return !(flags & MBX_STREAM);
}

static uint64_t none(const mbx_attr *a)
{
    (void)a;
    return 0;
}

/* Message storage: what `capacity` messages of the largest size need,
 * capped by memory_limit (but always room for one largest message). */
static uint64_t arena_bytes(const mbx_attr *a)
{
    uint64_t one = seg_blk_size(a->max_msg_size);
    uint64_t limit = a->memory_limit > one ? a->memory_limit : one;
    uint64_t slots =
        a->capacity == MBX_UNBOUNDED || a->capacity == MBX_RENDEZVOUS ? UINT64_MAX : a->capacity;
    uint64_t want = slots > limit / one ? limit : slots * one;
    return (want + PAGE - 1) / PAGE * PAGE;
}

static int format(struct seg_hdr *h, unsigned char *region, uint64_t region_off, const mbx_attr *a,
                  int fd)
{
    (void)h, (void)region, (void)region_off, (void)a, (void)fd;
    return 0;
}

static uint64_t region_of(const struct seg_hdr *h)
{
    if (h->version != SEG_VERSION || h->ring_slots || h->slot_size || h->stream_size ||
        seg_blk_size(h->max_msg_size) > h->arena_size)
        return UINT64_MAX;
    return 0;
}

static void attach(struct seg *s, unsigned char *region, const struct seg_hdr *hs)
{
    (void)s, (void)region, (void)hs;
}

/* Counts as the header keeps them, read once each, atomically: they may
 * disagree by a message but are never torn. */
static void stat(const struct seg *s, mbx_stat *st)
{
    const struct seg_hdr *h = s->hdr;
    st->count = __atomic_load_n(&h->hot.count, __ATOMIC_RELAXED);
    st->bytes = __atomic_load_n(&h->meta.bytes, __ATOMIC_RELAXED);
    st->sent_total = __atomic_load_n(&h->meta.seq_next, __ATOMIC_RELAXED) - 1;
    st->received_total = __atomic_load_n(&h->meta.received_total, __ATOMIC_RELAXED);
    st->repairs = __atomic_load_n(&h->meta.repairs, __ATOMIC_RELAXED);
}

/* Round robin: a receive without waiting takes a message only when no
 * receiver waits for its turn before it. A holder that left the line
 * (dead, stopped) does not count: the receive passes its turn on. The
 * first present holder, if any, is stored in *first. */
static int nobody_in_line(const struct seg *s, uint64_t *first)
{
    const struct seg_rr *rr = &s->hdr->rr;
    uint64_t serving = __atomic_load_n(&rr->serving, __ATOMIC_ACQUIRE);
    uint64_t next = __atomic_load_n(&rr->next, __ATOMIC_ACQUIRE);
    for (uint64_t t = serving; t != next && next - t <= SEG_RR_WINDOW; t++) {
        uint64_t who = __atomic_load_n(&rr->holder[t % SEG_RR_WINDOW], __ATOMIC_ACQUIRE);
        if (who != 0 && !heap_rr_absent(who)) {
            *first = who;
            return 0;
        }
    }
    return 1;
}

/* A poller of a round-robin mailbox's receives watches the receiver
 * whose turn comes first: its death passes the turn on (heap_rr.c), so a
 * receive that does not wait may then take what is queued. With who ==
 * NULL: whether this mailbox ever names one. */
static int peers(const struct seg *s, unsigned dir, uint64_t who[2])
{
    if (dir != SEG_POLL_RECV || s->recv_policy != MBX_RECV_ROUND_ROBIN)
        return 0;
    if (!who)
        return 1;
    return !nobody_in_line(s, &who[0]);
}

static int ready(const struct seg *s, unsigned dir, uint64_t want)
{
    uint32_t n = __atomic_load_n(&s->hdr->hot.count, __ATOMIC_SEQ_CST);
    uint64_t first;
    if (dir == SEG_POLL_RECV)
        return n > 0 && (s->recv_policy != MBX_RECV_ROUND_ROBIN || nobody_in_line(s, &first));
    if (s->capacity == MBX_RENDEZVOUS) {
        /* Room while a receiver waits. One killed asleep stays counted
         * until the count's epoch moves on twice; nobody may sleep again
         * to move it, so the poller moves it: its descriptor is then
         * readable for about two seconds after such a death (each send
         * saying -EAGAIN), not for ever. */
        sleepers_age(&s->hdr->hot.recv_waiters, &s->hdr->meta.sleep_epoch_ms[0]);
        return sleepers_any(&s->hdr->hot.recv_waiters);
    }
    if (s->capacity != MBX_UNBOUNDED && n >= s->capacity)
        return 0;
    /* A bounded mailbox whose arena is full waits for room too (an
     * unbounded one says -ENOSPC instead). */
    uint64_t used = __atomic_load_n(&s->hdr->meta.used, __ATOMIC_RELAXED);
    uint64_t arena = s->arena_end - s->arena_start;
    return s->capacity == MBX_UNBOUNDED || (used <= arena && arena - used >= seg_blk_size(want));
}

/* Room that only the blocks of dead processes hold back (capacity left,
 * the arena full): given back under the lock. Rare (a poller about to
 * sleep on a mailbox full by bytes), so a walk of the blocks is cheap
 * enough. */
static int settle(struct seg *s, unsigned dir)
{
    if (dir != SEG_POLL_SEND || !heap_bounded(s) ||
        __atomic_load_n(&s->hdr->hot.count, __ATOMIC_ACQUIRE) >= s->capacity)
        return 0;
    uint64_t used = __atomic_load_n(&s->hdr->meta.used, __ATOMIC_RELAXED);
    if (seg_lock(s, clock_deadline(SEG_LOCK_GRACE_NS)) != 0)
        return 0;
    int r = heap_reclaim(s);
    int freed = r == 0 && __atomic_load_n(&s->hdr->meta.used, __ATOMIC_RELAXED) < used;
    if (freed) /* senders asleep and other pollers may now go on too */
        heap_changed(s, SEG_POLL_SEND);
    heap_unlock(s);
    return freed;
}

static int reset(struct seg *s)
{
    return repair_segment(s, 1);
}

static int repair(struct seg *s)
{
    return repair_segment(s, 0);
}

const struct shm_kind shm_kind_heap = {
    .name = "heap",
    .hdr_flag = 0,
    .accepts = accepts,
    .region_bytes = none,
    .reserve_bytes = none,
    .arena_bytes = arena_bytes,
    .format = format,
    .region_of = region_of,
    .attach = attach,
    .init = alloc_init,
    .send = heap_send,
    .recv = heap_recv,
    .loan = heap_loan,
    .send_loan = heap_send_loan,
    .recv_loan = heap_recv_loan,
    .release = heap_release,
    .withdraw = heap_withdraw,
    .ready = ready,
    .peers = peers,
    .settle = settle,
    .stat = stat,
    .reset = reset,
    .repair = repair,
};
