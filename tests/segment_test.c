/* Tests src/segment.c: layout, formatting and the checks made at attach. */
#include "test_util.h"

#include "seg_fixture.h"

#include <errno.h>

static void format_then_attach(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 100, 8);
    assert_int_equal(f.s.max_msg_size, 100);
    assert_int_equal(f.s.capacity, 8);
    assert_true(f.s.arena_start % 4096 == 0);
    assert_int_equal(f.s.arena_end, f.size);
    /* 8 blocks of the largest message fit. */
    assert_true(f.s.arena_end - f.s.arena_start >= 8 * seg_blk_size(100));
    assert_string_equal(f.s.hdr->name, "fixture");
    fixture_free(&f);
}

static void size_follows_attributes(void **state)
{
    (void)state;
    mbx_attr a;
    mbx_attr_init(&a);
    uint64_t small = seg_size_for(&a, &shm_kind_heap);
    a.capacity = 1u << 31; /* capped by memory_limit, not capacity x size */
    uint64_t big = seg_size_for(&a, &shm_kind_heap);
    assert_true(big > small);
    assert_true(big <= small + a.memory_limit + 4096);
    a.max_msg_size = 1ull << 30;
    a.memory_limit = 4096;
    a.capacity = 4;
    /* Always room for one largest message. */
    assert_true(seg_size_for(&a, &shm_kind_heap) >= seg_blk_size(1ull << 30));
}

/* Which attributes get a ring: every bounded capacity up to 1024, of any
 * message size (large ones get fewer slots than capacity where
 * memory_limit says so: ring_pool_test); never round-robin, streams,
 * rendezvous or unbounded mailboxes. */
static void ring_or_heap(void **state)
{
    (void)state;
    mbx_attr a;
    mbx_attr_init(&a);
    assert_true(shm_kind_ring.accepts(&a, 0));
    a.max_msg_size = 64 * 1024;
    a.capacity = 1024;
    assert_true(shm_kind_ring.accepts(&a, 0));
    a.capacity = 1025;
    assert_false(shm_kind_ring.accepts(&a, 0));
    a.max_msg_size = 1 << 20;
    a.capacity = 1024;
    assert_true(shm_kind_ring.accepts(&a, 0));
    a.memory_limit = 32u << 20;
    assert_true(shm_kind_ring.accepts(&a, 0));
    a.memory_limit = 1ull << 30;
    a.max_msg_size = 1ull << 30;
    a.capacity = 64;
    assert_true(shm_kind_ring.accepts(&a, 0));
    a.max_msg_size = 100;
    assert_false(shm_kind_ring.accepts(&a, MBX_STREAM));
    a.recv_policy = MBX_RECV_ROUND_ROBIN;
    assert_false(shm_kind_ring.accepts(&a, 0));
    a.recv_policy = MBX_RECV_ANY;
    a.capacity = MBX_RENDEZVOUS;
    assert_false(shm_kind_ring.accepts(&a, 0));
    a.capacity = MBX_UNBOUNDED;
    assert_false(shm_kind_ring.accepts(&a, 0));
}

static void attach_rejects_damage(void **state)
{
    (void)state;
    struct fixture f;
    struct seg s;
    fixture_make(&f, 100, 8);
    struct seg_hdr *h = f.s.hdr;

    assert_int_equal(seg_attach(&s, f.base, 4096), -EUCLEAN);
    assert_int_equal(seg_attach(&s, f.base, f.size - 64), -EUCLEAN);

    h->version = 99;
    assert_int_equal(seg_attach(&s, f.base, f.size), -EPROTO);
    h->version = SEG_VERSION;

    uint64_t keep = h->arena_size;
    h->arena_size = keep + 64;
    assert_int_equal(seg_attach(&s, f.base, f.size), -EUCLEAN);
    h->arena_size = keep;

    h->max_msg_size = 0;
    assert_int_equal(seg_attach(&s, f.base, f.size), -EUCLEAN);
    h->max_msg_size = 100;

    h->recv_policy = 7;
    assert_int_equal(seg_attach(&s, f.base, f.size), -EUCLEAN);
    h->recv_policy = 0;

    memset(h->name, 'x', sizeof(h->name));
    assert_int_equal(seg_attach(&s, f.base, f.size), -EUCLEAN);
    h->name[0] = 0;

    h->magic ^= 1;
    assert_int_equal(seg_attach(&s, f.base, f.size), -EUCLEAN);
    h->magic ^= 1;

    assert_int_equal(seg_attach(&s, f.base, f.size), 0);
    fixture_free(&f);
}

static void block_offsets_are_checked(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 100, 8);
    struct seg *s = &f.s;
    assert_non_null(seg_blk_at(s, s->arena_start));
    assert_null(seg_blk_at(s, 0));
    assert_null(seg_blk_at(s, s->arena_start + 8));
    assert_null(seg_blk_at(s, s->arena_start - 64));
    assert_null(seg_blk_at(s, s->arena_end));
    assert_null(seg_blk_at(s, UINT64_MAX - 63));
    struct seg_blk *b = seg_blk_at(s, s->arena_start);
    uint64_t keep = b->size;
    b->size = keep + 64; /* would run past the arena */
    assert_null(seg_blk_at(s, s->arena_start));
    b->size = 0;
    assert_null(seg_blk_at(s, s->arena_start));
    b->size = keep;
    assert_true(seg_len_ok(s, b, 100));
    assert_false(seg_len_ok(s, b, 101)); /* past max_msg_size */
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_then_attach),
        cmocka_unit_test(size_follows_attributes),
        cmocka_unit_test(ring_or_heap),
        cmocka_unit_test(attach_rejects_damage),
        cmocka_unit_test(block_offsets_are_checked),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
