/* Tests src/alloc.c: blocks tile the arena, bins hold exactly the free ones,
 * and a rebuild merges neighbours. */
#include "test_util.h"

#include "seg_fixture.h"

#include <errno.h>

/* Walks the arena and checks tiling, the used count and the bins. */
static void check_heap(struct seg *s)
{
    uint64_t off = s->arena_start, used = 0, nfree = 0;
    while (off < s->arena_end) {
        struct seg_blk *b = seg_blk_at(s, off);
        assert_non_null(b);
        if (b->state == BLK_FREE)
            nfree++;
        else
            used += b->size;
        off += b->size;
    }
    assert_int_equal(off, s->arena_end);
    assert_int_equal(used, s->hdr->meta.used);
    uint64_t binned = 0;
    for (unsigned i = 0; i < SEG_NBINS; i++) {
        assert_int_equal(!!(s->hdr->meta.bin_mask & (1ull << i)), s->hdr->bins[i] != 0);
        uint64_t prev = 0;
        for (uint64_t o = s->hdr->bins[i]; o;) {
            struct seg_blk *b = seg_blk_at(s, o);
            assert_non_null(b);
            assert_int_equal(b->state, BLK_FREE);
            assert_int_equal(b->prev, prev);
            binned++;
            prev = o;
            o = b->next;
        }
    }
    assert_int_equal(binned, nfree);
}

static void take_and_free(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 1000, 16);
    struct seg_blk *a, *b;
    assert_int_equal(alloc_take(&f.s, 0, 0, &a), 0);
    assert_int_equal(a->size, sizeof(struct seg_blk)); /* an empty message: the header alone */
    assert_int_equal(a->state, BLK_WRITING);
    assert_int_equal(alloc_take(&f.s, 1000, 0, &b), 0);
    assert_int_equal(b->size, seg_blk_size(1000));
    check_heap(&f.s);
    alloc_free(&f.s, a);
    alloc_free(&f.s, b);
    check_heap(&f.s);
    assert_int_equal(f.s.hdr->meta.used, 0);
    /* A freed block of the same size is reused first (it is warm). */
    struct seg_blk *c;
    assert_int_equal(alloc_take(&f.s, 1000, 0, &c), 0);
    assert_ptr_equal(c, b);
    fixture_free(&f);
}

static void fills_then_rebuild_merges(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 4000, 8);
    struct seg_blk *small[512];
    int n = 0;
    /* Fill the arena with small blocks until it says no. */
    while (n < 512 && alloc_take(&f.s, 100, 0, &small[n]) == 0)
        n++;
    assert_true(n > 8);
    check_heap(&f.s);
    struct seg_blk *big;
    assert_int_equal(alloc_take(&f.s, 4000, 0, &big), -ENOMEM);
    /* Free everything: only merging neighbours makes room for a big one. */
    for (int i = 0; i < n; i++)
        alloc_free(&f.s, small[i]);
    assert_int_equal(alloc_take(&f.s, 4000, 0, &big), 0);
    check_heap(&f.s);
    fixture_free(&f);
}

static void random_workload_keeps_invariants(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 20000, 64);
    struct seg_blk *live[256] = {0};
    srand(7);
    for (int step = 0; step < 20000; step++) {
        int i = rand() % 256;
        if (live[i]) {
            alloc_free(&f.s, live[i]);
            live[i] = NULL;
        } else {
            uint64_t len = (uint64_t)(rand() % 4 == 0 ? rand() % 20000 : rand() % 300);
            int r = alloc_take(&f.s, len, 0, &live[i]);
            assert_true(r == 0 || r == -ENOMEM);
            if (r)
                live[i] = NULL;
            else
                assert_true(live[i]->size >= seg_blk_size(len));
        }
        if (step % 1000 == 0)
            check_heap(&f.s);
    }
    check_heap(&f.s);
    fixture_free(&f);
}

static void rebuild_rejects_broken_tiling(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 100, 8);
    struct seg_blk *a;
    assert_int_equal(alloc_take(&f.s, 10, 0, &a), 0);
    a->size = 8; /* not a multiple of a line */
    assert_int_equal(alloc_rebuild(&f.s, NULL, NULL), -EUCLEAN);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(take_and_free),
        cmocka_unit_test(fills_then_rebuild_merges),
        cmocka_unit_test(random_workload_keeps_invariants),
        cmocka_unit_test(rebuild_rejects_broken_tiling),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
