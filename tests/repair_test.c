/* Tests src/repair.c: after a crash, everything derived is rebuilt from the
 * arena: queued messages kept in order, half-written ones dropped. */
#include "test_util.h"

#include "shm/heap/alloc.h"
#include "platform/platform.h"
#include "shm/shm.h"
#include "shm/shm.h"
#include "shm/heap/heap_queue.h"
#include "shm/heap/repair.h"
#include "seg_fixture.h"
#include "shm/lock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>

static struct mb_ctx ctx(struct fixture *f)
{
    struct mb_ctx c = {.s = &f->s, .pid = 42, .uid = 7};
    return c;
}

static void fill(struct fixture *f, int n)
{
    struct mb_ctx c = ctx(f);
    for (int i = 0; i < n; i++) {
        unsigned char msg[200];
        size_t len = (size_t)(i * 7) % sizeof(msg);
        memset(msg, i, len);
        assert_int_equal(mb_send(&c, msg, len, (unsigned)(i % 5) * 1000, MBX_NONBLOCK), 0);
    }
}

/* Receives everything, checking priority order and that each is whole. */
static int drain(struct fixture *f)
{
    struct mb_ctx c = ctx(f);
    unsigned char buf[256];
    mbx_msginfo info;
    uint32_t last_prio = MBX_PRIO_MAX;
    uint64_t last_seq = 0;
    int n = 0;
    ssize_t r;
    while ((r = mb_recv(&c, 0, buf, sizeof(buf), &info, MBX_NONBLOCK)) >= 0) {
        int i = (int)(info.seq - 1) % 60; /* fill() sends 60 a round */
        assert_int_equal((size_t)r, (size_t)(i * 7) % 200);
        for (ssize_t k = 0; k < r; k++)
            assert_int_equal(buf[k], (unsigned char)i);
        assert_true(info.priority < last_prio ||
                    (info.priority == last_prio && info.seq > last_seq));
        last_prio = info.priority;
        last_seq = info.seq;
        n++;
    }
    assert_int_equal(r, -EAGAIN);
    return n;
}

static void rebuilds_scrambled_derived_state(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 200, 100);
    fill(&f, 60);
    struct seg_hdr *h = f.s.hdr;
    uint64_t used_before = h->meta.used;
    /* A sender died between taking a block and publishing it... */
    struct seg_blk *half;
    assert_int_equal(alloc_take(&f.s, 150, 0, &half), 0);
    memset(seg_payload(half), 0xee, 70);
    /* ...in the middle of changing the lists and counters. */
    memset(h->bins, 0xab, sizeof(h->bins));
    h->meta.bin_mask = ~0ull;
    h->meta.nactive = 3;
    f.s.active[0] = 9999;
    f.s.heads[0].head = 77;
    f.s.heads[2000].tail = 0;
    h->hot.count = 5;
    h->meta.bytes = 1;
    h->meta.used = 0;

    assert_int_equal(repair_segment(&f.s, 0), 0);
    assert_int_equal(h->hot.count, 60);
    assert_int_equal(h->meta.used, used_before);
    assert_int_equal(drain(&f), 60);
    assert_int_equal(h->meta.used, 0);
    assert_int_equal(h->meta.bytes, 0);
    /* The mailbox works on: the whole arena is one free block again. */
    fill(&f, 60);
    assert_int_equal(drain(&f), 60);
    fixture_free(&f);
}

static void keeps_sequence_numbers_ahead(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 200, 100);
    fill(&f, 10);
    f.s.hdr->meta.seq_next = 3; /* the increment was lost */
    assert_int_equal(repair_segment(&f.s, 0), 0);
    assert_int_equal(f.s.hdr->meta.seq_next, 11);
    fixture_free(&f);
}

static void broken_arena_is_unclean(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 200, 100);
    fill(&f, 10);
    struct seg_blk *first = seg_blk_at(&f.s, f.s.arena_start);
    first->state = 0x1234;
    assert_int_equal(repair_segment(&f.s, 0), -EUCLEAN);
    first->state = BLK_QUEUED;
    first->prio = MBX_PRIO_MAX;
    assert_int_equal(repair_segment(&f.s, 0), -EUCLEAN);
    first->prio = 0;
    first->len = 1u << 20;
    assert_int_equal(repair_segment(&f.s, 0), -EUCLEAN);
    fixture_free(&f);
}

/* ---- an arena whose blocks were reused: arena order is not send order ---- */

#define ROUND_MSG 40 /* payload bytes: every message takes a block of one size */

/* Whether two queued messages of one priority lie in the arena in the
 * opposite order of their sending: then a rebuild that walks the arena
 * must sort to give them back in order. */
static int arena_out_of_send_order(struct seg *s)
{
    uint64_t last_seq[8] = {0};
    int out = 0;
    for (uint64_t off = s->arena_start; off < s->arena_end;) {
        struct seg_blk *b = seg_blk_at(s, off);
        assert_non_null(b);
        if (b->state == BLK_QUEUED && b->prio < 8) {
            out |= b->seq < last_seq[b->prio];
            last_seq[b->prio] = b->seq;
        }
        off += b->size;
    }
    return out;
}

/* Message `id` at priority id % 3 (three FIFOs interleaved), its id in its
 * first bytes. */
static unsigned id_prio(uint32_t id)
{
    return id % 3;
}

static void make_round_msg(unsigned char *msg, uint32_t id)
{
    memset(msg, (int)(id & 0xff), ROUND_MSG);
    memcpy(msg, &id, sizeof(id));
}

/* Sends ids [0, 12), receives the first 6 that come out (the highest
 * priorities: their blocks go back to the free bin, last freed first),
 * then sends ids [12, 18), which take those blocks again in reverse, in
 * the front of the arena. Returns through got[] which ids were received. */
typedef int (*send_fn)(void *ctx, const unsigned char *msg, size_t len, unsigned prio);
typedef ssize_t (*recv_fn)(void *ctx, unsigned char *buf, size_t cap, mbx_msginfo *info);

static void wrap_arena(void *ctx, send_fn snd, recv_fn rcv, uint8_t got[18])
{
    unsigned char msg[ROUND_MSG];
    mbx_msginfo info;
    memset(got, 0, 18);
    for (uint32_t id = 0; id < 12; id++) {
        make_round_msg(msg, id);
        assert_int_equal(snd(ctx, msg, sizeof(msg), id_prio(id)), 0);
    }
    for (int i = 0; i < 6; i++) {
        assert_int_equal(rcv(ctx, msg, sizeof(msg), &info), ROUND_MSG);
        uint32_t id;
        memcpy(&id, msg, sizeof(id));
        assert_true(id < 12);
        got[id] = 1;
    }
    for (uint32_t id = 12; id < 18; id++) {
        make_round_msg(msg, id);
        assert_int_equal(snd(ctx, msg, sizeof(msg), id_prio(id)), 0);
    }
}

/* Receives everything left: the ids not in got[], each whole, highest
 * priority first and within a priority in the order they were sent. */
static void drain_in_send_order(void *ctx, recv_fn rcv, uint8_t got[18])
{
    unsigned char msg[ROUND_MSG];
    mbx_msginfo info;
    unsigned last_prio = MBX_PRIO_MAX;
    uint32_t last_id = 0;
    ssize_t n;
    char order[200] = "";
    while ((n = rcv(ctx, msg, sizeof(msg), &info)) >= 0) {
        assert_int_equal(n, ROUND_MSG);
        uint32_t id;
        memcpy(&id, msg, sizeof(id));
        assert_true(id < 18);
        unsigned char want[ROUND_MSG];
        make_round_msg(want, id);
        assert_memory_equal(msg, want, ROUND_MSG);
        assert_int_equal(info.priority, id_prio(id));
        size_t len = strlen(order);
        snprintf(order + len, sizeof(order) - len, " %u(%u)", id, info.priority);
        if (info.priority > last_prio || (info.priority == last_prio && id < last_id))
            fail_msg("out of send order:%s", order);
        assert_int_equal(got[id], 0);
        got[id] = 1;
        last_prio = info.priority;
        last_id = id;
    }
    assert_int_equal(n, -EAGAIN);
    for (int id = 0; id < 18; id++)
        assert_int_equal(got[id], 1);
}

static int fx_send(void *ctx, const unsigned char *msg, size_t len, unsigned prio)
{
    struct fixture *f = ctx;
    struct mb_ctx c = {.s = &f->s, .pid = 42, .uid = 7};
    return mb_send(&c, msg, len, prio, MBX_NONBLOCK);
}

static ssize_t fx_recv(void *ctx, unsigned char *buf, size_t cap, mbx_msginfo *info)
{
    struct fixture *f = ctx;
    struct mb_ctx c = {.s = &f->s, .pid = 42, .uid = 7};
    return mb_recv(&c, 0, buf, cap, info, MBX_NONBLOCK);
}

/* The rebuild walks the arena, where reused blocks put later messages
 * before earlier ones: each priority's FIFO must come out in send order. */
static void repair_keeps_send_order_on_reused_blocks(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 200, 100);
    uint8_t got[18];
    wrap_arena(&f, fx_send, fx_recv, got);
    assert_true(arena_out_of_send_order(&f.s));
    /* A holder died mid-change: the FIFOs are garbage. */
    f.s.heads[0].head = f.s.heads[1].tail;
    f.s.heads[2].tail = 0;
    f.s.hdr->meta.nactive = 1;
    assert_int_equal(repair_segment(&f.s, 0), 0);
    assert_int_equal(f.s.hdr->hot.count, 12);
    drain_in_send_order(&f, fx_recv, got);
    fixture_free(&f);
}

static int box_send(void *ctx, const unsigned char *msg, size_t len, unsigned prio)
{
    return mbx_send(ctx, msg, len, prio, MBX_NONBLOCK);
}

static ssize_t box_recv(void *ctx, unsigned char *buf, size_t cap, mbx_msginfo *info)
{
    return mbx_recv(ctx, buf, cap, info, MBX_NONBLOCK);
}

/* The same through the library: a process dies holding a heap mailbox's
 * lock (and a block it was writing) after the arena wrapped; the next call
 * repairs, and the messages still come out in send order. */
static void dead_holder_on_wrapped_arena(void **state)
{
    (void)state;
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 32;
    a.max_msg_size = 200;
    setenv("MBX_QUEUE", "heap", 1);
    mbx *m;
    int r = mbx_open("wrapped", MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL, &a, &m);
    unsetenv("MBX_QUEUE");
    assert_int_equal(r, 0);
    assert_null(shm_box_of(m)->seg.ring);
    uint8_t got[18];
    wrap_arena(m, box_send, box_recv, got);
    assert_true(arena_out_of_send_order(&shm_box_of(m)->seg));
    pid_t p = fork();
    if (p == 0) {
        seg_lock(&shm_box_of(m)->seg, -1);
        struct seg_blk *b;
        alloc_take(&shm_box_of(m)->seg, ROUND_MSG, ident_self(), &b);
        memset(seg_payload(b), 0xee, ROUND_MSG / 2);
        raise(SIGKILL);
        _exit(1);
    }
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_int_equal(shlock_holder_dead(&shm_box_of(m)->seg.hdr->hot.lock), 1);
    drain_in_send_order(m, box_recv, got);
    mbx_stat ms;
    assert_int_equal(mbx_stat_get(m, &ms), 0);
    assert_int_equal(ms.repairs, 1);
    assert_int_equal(ms.count, 0);
    mbx_close(m);
    assert_int_equal(mbx_unlink("wrapped"), 0);
}

/* A peer tiles a full arena with small blocks, every other one "held"
 * (WRITING) by a process of its own that does not exist, each a new one:
 * a send that finds no room walks the arena again only while a walk makes
 * a larger free piece, so it frees the pieces of at most two walks'
 * holders (REPAIR_LOOKUPS each). It walked 16 times (1024 holders here;
 * 8 s under the lock for a 1 GiB arena, past a 1 ms timeout). */
static void reclaim_stops_when_walks_free_only_small_pieces(void **state)
{
    (void)state;
    mbx_options o;
    mbx_options_init(&o);
    o.kind = MBX_KIND_HEAP;
    o.attr.capacity = MBX_UNBOUNDED;
    o.attr.memory_limit = 1 << 20;
    mbx *m;
    assert_int_equal(mbx_open_opts("tiled", MBX_SEND | MBX_RECV | MBX_CREATE, &o, &m), 0);
    struct seg *s = &shm_box_of(m)->seg;
    assert_int_equal(seg_lock(s, -1), 0);
    uint64_t held = 0;
    for (uint64_t off = s->arena_start, k = 0; off + 128 <= s->arena_end; off += 128, k++) {
        struct seg_blk *b = (struct seg_blk *)(s->base + off);
        memset(b, 0, sizeof(*b));
        b->size = 128;
        if (k & 1) {
            b->state = BLK_WRITING;
            b->sender_pid = 0x20000000 + (int32_t)k; /* above any pid_max: dead */
            held++;
        } else {
            b->state = BLK_QUEUED; /* kept by every walk, looked up by none */
        }
    }
    assert_int_equal((s->arena_end - s->arena_start) % 128, 0);
    assert_true(held > 16 * REPAIR_LOOKUPS);
    /* As the peer leaves it: full, nothing free. */
    assert_int_equal(alloc_rebuild(s, NULL, NULL), 0);
    heap_unlock(s);
    char msg[200] = {0};
    assert_int_equal(mbx_send(m, msg, sizeof(msg), 0, MBX_NONBLOCK), -ENOSPC);
    uint64_t still = 0;
    for (uint64_t off = s->arena_start; off < s->arena_end; off += 128)
        still += ((struct seg_blk *)(s->base + off))->state == BLK_WRITING;
    printf("holders' blocks freed by one send: %llu\n", (unsigned long long)(held - still));
    assert_true(held - still <= 2 * REPAIR_LOOKUPS);
    mbx_close(m);
    assert_int_equal(mbx_unlink("tiled"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rebuilds_scrambled_derived_state),
        cmocka_unit_test(keeps_sequence_numbers_ahead),
        cmocka_unit_test(broken_arena_is_unclean),
        cmocka_unit_test(repair_keeps_send_order_on_reused_blocks),
        cmocka_unit_test(dead_holder_on_wrapped_arena),
        cmocka_unit_test(reclaim_stops_when_walks_free_only_small_pieces),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
