/* The pool of rings of large slots (src/shm/ring/ring_pool.c): which rings
 * get one (layout version 6), large copies reusing the buffer freed last,
 * every message whole whatever mix of pool buffers and slots it went
 * through, loans kept in their slots, and the free list rebuilt after a
 * lock holder died half way. */
#include "test_box.h"

#include "platform/platform.h"
#include "shm/kind.h"
#include "shm/lock.h"
#include "shm/ring/ring_impl.h"
#include "shm/shm.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define BIG   (1u << 20)
#define SLOTS 16u

static unsigned char out[BIG], in[BIG];

static struct seg *seg_of(mbx *m)
{
    return &shm_box_of(m)->seg;
}

/* Where a received loan lies in the segment (it is handed out through
 * the handle's read-only view of the same file). */
static const unsigned char *in_segment(mbx *m, const void *loan)
{
    struct shm_box *b = shm_box_of(m);
    return b->seg.base + ((const unsigned char *)loan - b->lend_view);
}

static uint32_t layout_of(mbx *m)
{
    mbx_stat_ext st = {.size = sizeof(st)};
    assert_int_equal(mbx_stat_ext_get(m, &st), 0);
    return st.layout_version;
}

/* Fills len bytes with a pattern of message id. */
static void fill(unsigned char *p, size_t len, uint32_t id)
{
    for (size_t i = 0; i < len; i += 64)
        memset(p + i, (int)((id * 131u + i / 64) & 0xff), len - i < 64 ? len - i : 64);
    if (len >= sizeof(id))
        memcpy(p, &id, sizeof(id));
}

static int filled(const unsigned char *p, size_t len, uint32_t id)
{
    static unsigned char want[BIG];
    fill(want, len, id);
    return memcmp(p, want, len) == 0;
}

/* The free list and the slots agree: every buffer free or held by one
 * slot, never both, never neither. */
static void check_pool(mbx *m)
{
    struct seg *s = seg_of(m);
    struct ring_ctl *ctl = ring_ctl_of(s);
    unsigned seen[RING_POOL_BUFS] = {0};
    assert_true(ctl->pool_top <= RING_POOL_BUFS);
    for (uint32_t k = 0; k < ctl->pool_top; k++) {
        assert_true(ctl->pool_free[k] < RING_POOL_BUFS);
        seen[ctl->pool_free[k]]++;
    }
    for (uint32_t k = 0; k < s->ring_slots; k++) {
        uint32_t b = ring_slot_at(s, k)->buf;
        assert_true(b <= RING_POOL_BUFS);
        if (b)
            seen[b - 1]++;
    }
    for (uint32_t i = 0; i < RING_POOL_BUFS; i++)
        assert_int_equal(seen[i], 1);
}

/* As a receiver that freed slot `slot` and could not give its buffer
 * back: takes the buffer on top of the free list and leaves it with the
 * slot. Returns the buffer's index. */
static uint32_t leave_buffer(mbx *m, uint32_t slot)
{
    struct ring_ctl *ctl = ring_ctl_of(seg_of(m));
    uint32_t i = ctl->pool_free[ctl->pool_top - 1];
    ring_slot_at(seg_of(m), slot)->buf = i + 1;
    ctl->pool_top--;
    return i;
}

/* n round trips of a large copy through m, messages id, id + 1, ...:
 * each comes back whole. */
static void round_trips(mbx *m, uint32_t id, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++) {
        fill(out, BIG, id + k);
        assert_int_equal(mbx_send(m, out, BIG, 0, MBX_NONBLOCK), 0);
        assert_int_equal(mbx_recv(m, in, BIG, NULL, MBX_NONBLOCK), (ssize_t)BIG);
        assert_true(filled(in, BIG, id + k));
    }
}

/* Rings of large slots, eight or more, whose pool fits in memory_limit;
 * no other mailbox changes its layout. */
static void which_rings_pool(void **state)
{
    (void)state;
    struct {
        uint32_t capacity;
        uint64_t max_msg, limit;
        uint32_t slots, version;
    } cases[] = {
        {SLOTS, BIG, 0, SLOTS, SEG_VERSION_POOL},
        {64, BIG, 0, 64, SEG_VERSION_POOL},
        {8, 128 * 1024, 0, 8, SEG_VERSION_POOL},
        {4, BIG, 0, 4, SEG_VERSION},         /* few slots: a small lap */
        {64, 64 * 1024, 0, 64, SEG_VERSION}, /* small slots */
        {16, 64, 0, 16, SEG_VERSION},        /* four more would fit its last page */
        {1, 128, 0, 1, SEG_VERSION},
        {2, 64, 0, 2, SEG_VERSION},
        /* memory_limit holds fewer large messages than capacity: fewer
         * slots, four fewer still for a pool when eight or more are left */
        {SLOTS, BIG, (SLOTS + 4) * BIG, SLOTS, SEG_VERSION_POOL},
        {SLOTS, BIG, SLOTS * BIG, SLOTS - 4, SEG_VERSION_POOL},
        {SLOTS, BIG, 10 * BIG, 10, SEG_VERSION},
        {64, 64ull << 20, 0, 12, SEG_VERSION_POOL},   /* 16 of 64 MiB in 1 GiB */
        {64, 1ull << 30, 0, 1, SEG_VERSION},          /* one of 1 GiB */
        {64, 3ull << 20, 4ull << 20, 1, SEG_VERSION}, /* always room for one */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mbx *m = test_box("which", cases[i].capacity, cases[i].max_msg, cases[i].limit);
        assert_non_null(seg_of(m)->ring);
        assert_int_equal(seg_of(m)->ring_slots, cases[i].slots);
        assert_int_equal(layout_of(m), cases[i].version);
        assert_int_equal(seg_of(m)->hdr->version, cases[i].version);
        assert_int_equal(seg_of(m)->ring_pool,
                         cases[i].version == SEG_VERSION_POOL ? RING_POOL_BUFS : 0);
        /* The capacity asked for is what mbx_stat reports. */
        mbx_stat st;
        assert_int_equal(mbx_stat_get(m, &st), 0);
        assert_int_equal(st.capacity, cases[i].capacity);
        mbx_close(m);
    }
    mbx_unlink("which");
}

/* A header whose version disagrees with its layout is damage. */
static void version_must_match_the_layout(void **state)
{
    (void)state;
    mbx *m = test_box("ver", SLOTS, BIG, 0), *again;
    struct seg_hdr *h = seg_of(m)->hdr;
    h->version = SEG_VERSION;
    assert_int_equal(mbx_open("ver", MBX_SEND, NULL, &again), -EUCLEAN);
    h->version = 4;
    assert_int_equal(mbx_open("ver", MBX_SEND, NULL, &again), -EPROTO);
    h->version = SEG_VERSION_POOL;
    assert_int_equal(mbx_open("ver", MBX_SEND, NULL, &again), 0);
    mbx_close(again);
    mbx_close(m);
    m = test_box("ver", 4, BIG, 0);
    seg_of(m)->hdr->version = SEG_VERSION_POOL;
    assert_int_equal(mbx_open("ver", MBX_SEND, NULL, &again), -EUCLEAN);
    mbx_close(m);
    m = test_box("ver", 4, 64, 0);
    seg_of(m)->hdr->version = SEG_VERSION_POOL;
    assert_int_equal(mbx_open("ver", MBX_SEND, NULL, &again), -EUCLEAN);
    mbx_close(m);
    mbx_unlink("ver");
}

/* A kind's attach takes the sizes from the snapshot of the header that
 * region_of checked, not from the header, which a peer may have rewritten
 * since (a slot count and size that fit the same region, with slots of
 * 20 KiB, would let a 1 MiB message run past the file). */
static void attach_reads_the_checked_snapshot(void **state)
{
    (void)state;
    mbx *m = test_box("snap", SLOTS, BIG, 0);
    struct seg *s = seg_of(m);
    struct seg_hdr hs, *h = s->hdr;
    memcpy(&hs, h, sizeof(hs));
    h->ring_slots = 1024;
    h->slot_size = 20416;
    h->version = SEG_VERSION;
    struct seg other = *s;
    shm_kind_ring.attach(&other, s->ring, &hs);
    assert_int_equal(other.ring_slots, SLOTS);
    assert_int_equal(other.slot_size, hs.slot_size);
    assert_int_equal(other.ring_pool, RING_POOL_BUFS);
    assert_ptr_equal(other.ring_pool_base, s->ring_pool_base);
    /* Opened now, the rewritten header is refused. */
    mbx *again;
    assert_int_equal(mbx_open("snap", MBX_SEND, NULL, &again), -EUCLEAN);
    memcpy(h, &hs, sizeof(hs));
    assert_int_equal(mbx_open("snap", MBX_SEND, NULL, &again), 0);
    mbx_close(again);
    mbx_close(m);
    mbx_unlink("snap");
}

/* A large copy goes into the buffer freed last: one buffer serves a whole
 * ping-pong, where the ring's slots would take turns. Seen through loans
 * of the received copies, whose addresses are where the messages lie. */
static void large_copies_reuse_the_buffer_freed_last(void **state)
{
    (void)state;
    mbx *m = test_box("hot", SLOTS, BIG, 0);
    const void *first = NULL;
    for (uint32_t i = 0; i < 3 * SLOTS; i++) {
        fill(out, BIG, i);
        assert_int_equal(mbx_send(m, out, BIG, 0, MBX_NONBLOCK), 0);
        const void *at;
        assert_int_equal(mbx_recv_loan(m, &at, NULL, MBX_NONBLOCK), (ssize_t)BIG);
        assert_true(filled(at, BIG, i));
        if (i == 0)
            first = at;
        assert_ptr_equal(at, first);
        assert_int_equal(mbx_release(m, at), 0);
        /* And by copy. */
        assert_int_equal(mbx_send(m, out, BIG, 0, MBX_NONBLOCK), 0);
        assert_int_equal(mbx_recv(m, in, BIG, NULL, MBX_NONBLOCK), (ssize_t)BIG);
        assert_true(filled(in, BIG, i));
    }
    /* Not a slot's own payload: a loan is. */
    void *loan;
    assert_int_equal(mbx_loan(m, 64, &loan), 0);
    assert_true(in_segment(m, first) >= seg_of(m)->ring_pool_base);
    assert_true((unsigned char *)loan < seg_of(m)->ring_pool_base);
    assert_int_equal(mbx_send_loan(m, loan, 64, 0, MBX_NONBLOCK), 0);
    assert_int_equal(mbx_recv(m, in, BIG, NULL, MBX_NONBLOCK), 64);
    /* Small copies stay in their slots: no lock for them. */
    assert_int_equal(mbx_send(m, out, 1000, 0, MBX_NONBLOCK), 0);
    const void *small;
    assert_int_equal(mbx_recv_loan(m, &small, NULL, MBX_NONBLOCK), 1000);
    assert_true(in_segment(m, small) < seg_of(m)->ring_pool_base);
    assert_int_equal(mbx_release(m, small), 0);
    check_pool(m);
    mbx_close(m);
    mbx_unlink("hot");
}

/* Messages queued past the pool's four buffers go in their slots; taken in
 * priority order (not send order), by copy and by loan, each is whole and
 * every buffer comes back. */
static void every_message_whole(void **state)
{
    (void)state;
    mbx *m = test_box("whole", SLOTS, BIG, 0);
    srand(7);
    uint32_t next = 0;
    for (int round = 0; round < 40; round++) {
        unsigned n = 1 + (unsigned)rand() % SLOTS;
        uint32_t ids[SLOTS];
        size_t lens[SLOTS];
        for (unsigned k = 0; k < n; k++) {
            ids[k] = next++;
            lens[k] = 1 + (size_t)rand() % BIG;
            fill(out, lens[k], ids[k]);
            assert_int_equal(mbx_send(m, out, lens[k], (unsigned)rand() % 3, MBX_NONBLOCK), 0);
        }
        for (unsigned k = 0; k < n; k++) {
            mbx_msginfo info;
            uint32_t id;
            if (rand() % 2) {
                ssize_t got = mbx_recv(m, in, BIG, &info, MBX_NONBLOCK);
                assert_true(got > 0);
                memcpy(&id, in, sizeof(id));
                assert_true(id >= ids[0] && id < next);
                assert_int_equal((size_t)got, lens[id - ids[0]]);
                assert_true(filled(in, (size_t)got, id));
            } else {
                const void *at;
                ssize_t got = mbx_recv_loan(m, &at, &info, MBX_NONBLOCK);
                assert_true(got > 0);
                memcpy(&id, at, sizeof(id));
                assert_true(id >= ids[0] && id < next);
                assert_int_equal((size_t)got, lens[id - ids[0]]);
                assert_true(filled(at, (size_t)got, id));
                assert_int_equal(mbx_release(m, at), 0);
            }
        }
        assert_int_equal(mbx_recv(m, in, BIG, NULL, MBX_NONBLOCK), -EAGAIN);
        check_pool(m);
    }
    assert_int_equal(ring_ctl_of(seg_of(m))->pool_top, RING_POOL_BUFS);
    mbx_close(m);
    mbx_unlink("whole");
}

/* Messages larger than a pool's share of memory_limit: a ring of as many
 * slots as memory_limit holds, full once they are; loans of 64 MiB (12
 * slots and a pool in the default 1 GiB) and of 256 MiB (one slot in a
 * limit of 256 MiB, as 1 GiB in the default) go through it whole. */
static void huge_messages_ring_within_the_limit(void **state)
{
    (void)state;
    const uint64_t sizes[] = {64ull << 20, 256ull << 20};
    const uint64_t limits[] = {0, 256ull << 20};
    const uint32_t want[] = {12, 1};
    for (int k = 0; k < 2; k++) {
        uint64_t n = sizes[k];
        mbx *m = test_box("huge", 64, n, limits[k]);
        assert_int_equal(seg_of(m)->ring_slots, want[k]);
        uint32_t slots = seg_of(m)->ring_slots;
        void *buf;
        for (uint32_t i = 0; i < slots; i++) {
            assert_int_equal(mbx_loan(m, n, &buf), 0);
            ((unsigned char *)buf)[0] = (unsigned char)i;
            ((unsigned char *)buf)[n - 1] = (unsigned char)(i + 1);
            assert_int_equal(mbx_send_loan(m, buf, n, 0, MBX_NONBLOCK), 0);
        }
        /* Full at memory_limit's worth, as a heap of these would be. */
        assert_int_equal(mbx_loan(m, n, &buf), -EAGAIN);
        assert_int_equal(mbx_send(m, out, 64, 0, MBX_NONBLOCK), -EAGAIN);
        for (uint32_t i = 0; i < slots; i++) {
            const void *in_loan;
            assert_int_equal(mbx_recv_loan(m, &in_loan, NULL, MBX_NONBLOCK), (ssize_t)n);
            assert_int_equal(((const unsigned char *)in_loan)[0], (unsigned char)i);
            assert_int_equal(((const unsigned char *)in_loan)[n - 1], (unsigned char)(i + 1));
            assert_int_equal(mbx_release(m, in_loan), 0);
        }
        assert_int_equal(mbx_recv(m, in, sizeof(in), NULL, MBX_NONBLOCK), -EAGAIN);
        mbx_close(m);
        mbx_unlink("huge");
    }
}

/* A pool buffer an interrupted holder left with a free slot serves that
 * slot's next large copy; a loan of the slot gives it back. */
static void a_left_buffer_serves_its_slot(void **state)
{
    (void)state;
    mbx *m = test_box("left", SLOTS, BIG, 0);
    struct seg *s = seg_of(m);
    struct ring_ctl *ctl = ring_ctl_of(s);
    /* As a receiver killed after freeing slot 0, before giving back the
     * buffer on top of the list: */
    uint32_t top = ctl->pool_top, i = leave_buffer(m, 0);
    check_pool(m);
    fill(out, BIG, 1);
    assert_int_equal(mbx_send(m, out, BIG, 0, MBX_NONBLOCK), 0);
    assert_int_equal(ring_slot_at(s, 0)->buf, i + 1); /* kept, not a second one */
    assert_int_equal(ctl->pool_top, top - 1);
    assert_int_equal(mbx_recv(m, in, BIG, NULL, MBX_NONBLOCK), (ssize_t)BIG);
    assert_true(filled(in, BIG, 1));
    assert_int_equal(ctl->pool_top, top); /* back after the receive */
    /* Left again on slot 1, the next position: a loan there gives it back. */
    assert_int_equal(leave_buffer(m, 1), i);
    void *loan;
    assert_int_equal(mbx_loan(m, BIG, &loan), 0);
    assert_int_equal(ring_slot_at(s, 1)->buf, 0);
    assert_int_equal(ctl->pool_top, top);
    assert_true((unsigned char *)loan < s->ring_pool_base);
    fill(loan, BIG, 2);
    assert_int_equal(mbx_send_loan(m, loan, BIG, 0, MBX_NONBLOCK), 0);
    assert_int_equal(mbx_recv(m, in, BIG, NULL, MBX_NONBLOCK), (ssize_t)BIG);
    assert_true(filled(in, BIG, 2));
    check_pool(m);
    /* A copy lent from a pool buffer is released there, not at its slot's
     * own payload. */
    fill(out, BIG, 4);
    assert_int_equal(mbx_send(m, out, BIG, 0, MBX_NONBLOCK), 0);
    const void *at;
    assert_int_equal(mbx_recv_loan(m, &at, NULL, MBX_NONBLOCK), (ssize_t)BIG);
    assert_true(in_segment(m, at) >= s->ring_pool_base);
    uint64_t pos = ring_ctl_of(s)->tail - 1;
    const unsigned char *own = s->ring_payloads + (pos % s->ring_slots) * s->slot_size;
    const void *own_view = shm_box_of(m)->lend_view + (own - s->base);
    assert_int_equal(mbx_release(m, own_view), -EINVAL);
    assert_int_equal(mbx_release(m, at), 0);
    check_pool(m);
    /* A pointer into a pool buffer that no slot holds is no loan. */
    const unsigned char *pool_view = shm_box_of(m)->lend_view + (s->ring_pool_base - s->base);
    assert_int_equal(mbx_release(m, pool_view + 2 * s->slot_size), -EINVAL);
    assert_int_equal(mbx_release(m, pool_view + 64), -EINVAL);
    mbx_close(m);
    mbx_unlink("left");
}

/* The receiver that freed a slot gives its buffer back only while the slot
 * is still free at the position it freed it to: a sender that claimed it
 * meanwhile keeps the buffer (it may be copying into it already). */
static void a_claimed_slot_keeps_its_buffer(void **state)
{
    (void)state;
    mbx *m = test_box("claimed", SLOTS, BIG, 0);
    struct seg *s = seg_of(m);
    struct ring_ctl *ctl = ring_ctl_of(s);
    struct ring_slot *sl = ring_slot_at(s, 0);
    uint64_t freed = sl->word; /* FREE for position 0 */
    uint32_t top = ctl->pool_top, i = leave_buffer(m, 0);
    /* Claimed meanwhile: left to its sender. */
    sl->word = slot_word(0, SLOT_CLAIMED, getpid());
    ring_pool_put(s, sl, i + 1, freed);
    assert_int_equal(sl->buf, i + 1);
    assert_int_equal(ctl->pool_top, top - 1);
    /* Still free: back on top. */
    sl->word = freed;
    ring_pool_put(s, sl, i + 1, freed);
    assert_int_equal(sl->buf, 0);
    assert_int_equal(ctl->pool_top, top);
    assert_int_equal(ctl->pool_free[top - 1], i);
    check_pool(m);
    mbx_close(m);
    mbx_unlink("claimed");
}

/* A process stopped holding the lock: large copies go on without the pool
 * (a slot lets go of the buffer it held), and once the holder lets go the
 * next pool step finds that buffer again. */
static void a_stopped_lock_holder_loses_no_buffer(void **state)
{
    (void)state;
    mbx *m = test_box("stopped", SLOTS, BIG, 0);
    struct seg *s = seg_of(m);
    struct ring_ctl *ctl = ring_ctl_of(s);
    leave_buffer(m, 0); /* its receiver could not have the lock */
    pid_t p = fork();
    if (p == 0) {
        test_child();
        seg_lock(s, -1);
        raise(SIGSTOP);
        seg_unlock(s);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(p, &st, WUNTRACED), p);
    assert_true(WIFSTOPPED(st));
    round_trips(m, 20, 4);
    assert_int_equal(ring_slot_at(s, 0)->buf, 0); /* let go, for its own payload */
    kill(p, SIGCONT);
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    round_trips(m, 30, 2 * SLOTS);
    check_pool(m);
    assert_int_equal(ctl->pool_top, RING_POOL_BUFS);
    assert_int_equal(ctl->pool_dirty, 0);
    mbx_close(m);
    mbx_unlink("stopped");
}

/* A small copy into a slot that holds a buffer gives the buffer back: the
 * slot's own payload has storage for it. */
static void a_small_copy_gives_a_held_buffer_back(void **state)
{
    (void)state;
    mbx *m = test_box("small", SLOTS, BIG, 0);
    struct seg *s = seg_of(m);
    struct ring_ctl *ctl = ring_ctl_of(s);
    uint32_t top = ctl->pool_top;
    leave_buffer(m, 0);
    fill(out, 100, 5);
    assert_int_equal(mbx_send(m, out, 100, 0, MBX_NONBLOCK), 0);
    assert_int_equal(ring_slot_at(s, 0)->buf, 0);
    assert_int_equal(ctl->pool_top, top);
    assert_int_equal(mbx_recv(m, in, BIG, NULL, MBX_NONBLOCK), 100);
    assert_true(filled(in, 100, 5));
    check_pool(m);
    mbx_close(m);
    mbx_unlink("small");
}

/* A process killed holding the lock in the middle of handing a buffer out
 * (held by its slot and still on the list): the next lock rebuilds the
 * list from the slots. Two slots naming one buffer is damage. */
static void repair_after_a_death_mid_pool(void **state)
{
    (void)state;
    mbx *m = test_box("mid", SLOTS, BIG, 0);
    struct seg *s = seg_of(m);
    struct ring_ctl *ctl = ring_ctl_of(s);
    pid_t p = fork();
    if (p == 0) {
        seg_lock(s, -1);
        ring_slot_at(s, 5)->buf = ctl->pool_free[ctl->pool_top - 1] + 1;
        raise(SIGKILL);
    }
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFSIGNALED(st));
    /* The next large copy takes the lock over: repaired before it pops. */
    fill(out, BIG, 3);
    assert_int_equal(mbx_send(m, out, BIG, 0, MBX_NONBLOCK), 0);
    check_pool(m);
    assert_int_equal(mbx_recv(m, in, BIG, NULL, MBX_NONBLOCK), (ssize_t)BIG);
    assert_true(filled(in, BIG, 3));
    check_pool(m);
    mbx_stat info;
    assert_int_equal(mbx_stat_get(m, &info), 0);
    /* Slot 5's buffer serves slot 5: the lap of positions reaches it. */
    round_trips(m, 10, SLOTS);
    check_pool(m);
    assert_int_equal(ctl->pool_top, RING_POOL_BUFS);
    /* Damage: two slots naming one buffer. */
    assert_int_equal(seg_lock(s, -1), 0);
    ring_slot_at(s, 2)->buf = 1;
    ring_slot_at(s, 3)->buf = 1;
    assert_int_equal(ring_pool_repair(s), -EUCLEAN);
    ring_slot_at(s, 2)->buf = 0;
    ring_slot_at(s, 3)->buf = 0;
    assert_int_equal(ring_pool_repair(s), 0);
    seg_unlock(s);
    check_pool(m);
    mbx_close(m);
    mbx_unlink("mid");
}

/* Three senders and two receivers on their own processes: large copies (and
 * receives by loan) race for the pool's buffers; a buffer handed to two
 * messages at once would show as a message that is not whole. */
#define PER_SENDER 4000
#define SENDERS    3
#define RECEIVERS  2
#define END_LEN    8

static void race_receiver(mbx *m, uint8_t *got)
{
    for (;;) {
        const unsigned char *p = in;
        const void *at = NULL;
        ssize_t n = rand() % 4 ? mbx_recv(m, in, sizeof(in), NULL, 10 * 1000000000ll)
                               : mbx_recv_loan(m, &at, NULL, 10 * 1000000000ll);
        if (n < 0)
            _exit(2);
        if (at)
            p = at;
        uint32_t id = UINT32_MAX;
        if (n >= (ssize_t)sizeof(id))
            memcpy(&id, p, sizeof(id));
        int end = n == END_LEN;
        if (!end && (id >= SENDERS * PER_SENDER || !filled(p, (size_t)n, id)))
            _exit(3);
        if (!end)
            __atomic_fetch_add(&got[id], 1, __ATOMIC_RELAXED);
        if (at && mbx_release(m, at) != 0)
            _exit(4);
        if (end)
            _exit(0);
    }
}

static void racing_senders_and_receivers(void **state)
{
    (void)state;
    mbx *m = test_box("race", SLOTS, 256 * 1024, 0);
    assert_int_equal(seg_of(m)->ring_pool, RING_POOL_BUFS);
    uint8_t *got =
        mmap(NULL, SENDERS * PER_SENDER, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(got != MAP_FAILED);
    pid_t kids[SENDERS + RECEIVERS];
    for (int k = 0; k < SENDERS + RECEIVERS; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] != 0)
            continue;
        test_child();
        srand((unsigned)k + 1);
        if (k >= SENDERS)
            race_receiver(m, got);
        for (uint32_t n = 0; n < PER_SENDER; n++) {
            uint32_t id = (uint32_t)k * PER_SENDER + n;
            size_t len = 64 * 1024 + (size_t)rand() % (64 * 1024);
            fill(out, len, id);
            if (mbx_send(m, out, len, 0, 10 * 1000000000ll) != 0)
                _exit(1);
        }
        _exit(0);
    }
    int st;
    for (int k = 0; k < SENDERS; k++) {
        assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    for (int k = 0; k < RECEIVERS; k++)
        assert_int_equal(mbx_send(m, out, END_LEN, 0, 10 * 1000000000ll), 0);
    for (int k = SENDERS; k < SENDERS + RECEIVERS; k++) {
        assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("receiver: status %#x (3: a message not whole)", st);
    }
    for (uint32_t id = 0; id < SENDERS * PER_SENDER; id++)
        if (got[id] != 1)
            fail_msg("message %u received %u times (a buffer shared by two?)", id, got[id]);
    check_pool(m);
    assert_int_equal(ring_ctl_of(seg_of(m))->pool_top, RING_POOL_BUFS);
    munmap(got, SENDERS * PER_SENDER);
    mbx_close(m);
    mbx_unlink("race");
}

/* After a reboot (the mailbox kept in a file), the reset that clears what
 * named the old boot's processes rebuilds the pool too: here its free
 * list also lists a buffer a queued message lies in, as a holder of the
 * lock killed by the power loss could have left it. */
static void a_reboot_rebuilds_the_pool(void **state)
{
    (void)state;
    mbx *m = test_box("boot", SLOTS, BIG, 0);
    struct seg *s = seg_of(m);
    struct ring_ctl *ctl = ring_ctl_of(s);
    for (uint32_t id = 0; id < 2; id++) {
        fill(out, BIG, 40 + id);
        assert_int_equal(mbx_send(m, out, BIG, 0, MBX_NONBLOCK), 0);
    }
    uint32_t held = ring_slot_at(s, 0)->buf;
    assert_true(held >= 1 && held <= RING_POOL_BUFS);
    ctl->pool_free[ctl->pool_top] = held - 1;
    ctl->pool_top++;
    s->hdr->boot_id[0] ^= 0xff;
    mbx_close(m);
    assert_int_equal(mbx_open("boot", MBX_SEND | MBX_RECV, NULL, &m), 0);
    check_pool(m);
    for (uint32_t id = 0; id < 2; id++) {
        assert_int_equal(mbx_recv(m, in, BIG, NULL, MBX_NONBLOCK), (ssize_t)BIG);
        assert_true(filled(in, BIG, 40 + id));
    }
    check_pool(m);
    assert_int_equal(ring_ctl_of(seg_of(m))->pool_top, RING_POOL_BUFS);
    mbx_close(m);
    mbx_unlink("boot");
}

/* Senders and receivers of large messages killed at random moments, in or
 * out of the lock: every message left is whole, none is delivered twice,
 * and once the lock was taken again (the repair) the pool adds up. */
#define KILL_SPAN 512
struct kill_board {
    uint8_t recorded[KILL_SPAN];
};

static void killed_sender(mbx *m, uint32_t base)
{
    for (uint32_t id = base; id < base + KILL_SPAN / 2; id++) {
        size_t len = 64 * 1024 + (size_t)rand() % (64 * 1024);
        fill(out, len, id);
        if (mbx_send(m, out, len, 0, 1000000000ll) != 0)
            _exit(1);
    }
    for (;;)
        pause();
}

static void killed_receiver(mbx *m, struct kill_board *b)
{
    for (;;) {
        const void *at = NULL;
        ssize_t n = rand() % 2 ? mbx_recv(m, in, sizeof(in), NULL, 1000000000ll)
                               : mbx_recv_loan(m, &at, NULL, 1000000000ll);
        if (n == -ETIMEDOUT)
            continue;
        const unsigned char *p = at ? at : in;
        uint32_t id;
        if (n < (ssize_t)sizeof(id))
            _exit(2);
        memcpy(&id, p, sizeof(id));
        if (id >= KILL_SPAN || !filled(p, (size_t)n, id))
            _exit(3);
        b->recorded[id]++;
        if (at && mbx_release(m, at) != 0)
            _exit(4);
    }
}

static void random_kills_keep_the_pool(void **state)
{
    (void)state;
    mbx *m = test_box("kills", SLOTS, 128 * 1024, 0);
    assert_int_equal(seg_of(m)->ring_pool, RING_POOL_BUFS);
    struct kill_board *b =
        mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(b != MAP_FAILED);
    srand(99);
    for (unsigned round = 0; round < 60; round++) {
        memset(b, 0, sizeof(*b));
        pid_t kids[2];
        for (int k = 0; k < 2; k++) {
            kids[k] = fork();
            assert_true(kids[k] >= 0);
            if (kids[k] == 0) {
                test_child();
                srand(round * 2 + (unsigned)k);
                if (k == 0)
                    killed_sender(m, round % 2 ? KILL_SPAN / 2 : 0);
                killed_receiver(m, b);
            }
        }
        struct timespec ts = {0, (rand() % 3000) * 1000l};
        nanosleep(&ts, NULL);
        for (int k = 0; k < 2; k++) {
            kill(kids[k], SIGKILL);
            int st;
            assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
            if (!WIFSIGNALED(st))
                fail_msg("round %u: child %d ended with status %#x", round, k, st);
        }
        ssize_t n;
        while ((n = mbx_recv(m, in, sizeof(in), NULL, MBX_NONBLOCK)) >= 0) {
            uint32_t id;
            memcpy(&id, in, sizeof(id));
            assert_true(id < KILL_SPAN && filled(in, (size_t)n, id));
            assert_int_equal(b->recorded[id], 0);
            b->recorded[id]++;
        }
        assert_int_equal(n, -EAGAIN);
        for (uint32_t id = 0; id < KILL_SPAN; id++)
            assert_true(b->recorded[id] <= 1);
        assert_int_equal(seg_lock(seg_of(m), -1), 0); /* repairs a dead holder's work */
        seg_unlock(seg_of(m));
        check_pool(m);
    }
    munmap(b, sizeof(*b));
    mbx_close(m);
    mbx_unlink("kills");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(which_rings_pool),
        cmocka_unit_test(version_must_match_the_layout),
        cmocka_unit_test(attach_reads_the_checked_snapshot),
        cmocka_unit_test(large_copies_reuse_the_buffer_freed_last),
        cmocka_unit_test(every_message_whole),
        cmocka_unit_test(huge_messages_ring_within_the_limit),
        cmocka_unit_test(a_left_buffer_serves_its_slot),
        cmocka_unit_test(a_claimed_slot_keeps_its_buffer),
        cmocka_unit_test(a_stopped_lock_holder_loses_no_buffer),
        cmocka_unit_test(a_small_copy_gives_a_held_buffer_back),
        cmocka_unit_test(repair_after_a_death_mid_pool),
        cmocka_unit_test(racing_senders_and_receivers),
        cmocka_unit_test(a_reboot_rebuilds_the_pool),
        cmocka_unit_test(random_kills_keep_the_pool),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
