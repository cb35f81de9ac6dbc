/* Tests src/repair.c: after a crash, everything derived is rebuilt from the
 * arena: queued messages kept in order, half-written ones dropped. */
#include "test_util.h"

#include "mailbox.h"
#include "repair.h"
#include "seg_fixture.h"

#include <errno.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rebuilds_scrambled_derived_state),
        cmocka_unit_test(keeps_sequence_numbers_ahead),
        cmocka_unit_test(broken_arena_is_unclean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
