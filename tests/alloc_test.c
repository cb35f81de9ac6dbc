/* Tests src/alloc.c: blocks tile the arena, bins hold exactly the free ones,
 * and a rebuild merges neighbours. */
#include "test_util.h"

#include "seg_fixture.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

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

struct grower {
    struct seg_blk *blk;
    uint64_t size, bigger;
    int stop;
};

/* A peer that keeps changing one free block's size between its true size
 * and a larger one. */
static void *grow(void *arg)
{
    struct grower *g = arg;
    while (!__atomic_load_n(&g->stop, __ATOMIC_RELAXED)) {
        __atomic_store_n(&g->blk->size, g->bigger, __ATOMIC_RELAXED);
        __atomic_store_n(&g->blk->size, g->size, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* A race whose window is a few instructions wide is tried for about two
 * seconds: whether round r should stop, looked at every 1024 rounds. */
static int tried_long_enough(int r, const struct timespec *t0)
{
    if (r % 1024 != 0)
        return 0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec - t0->tv_sec >= 2;
}

/* A heap segment (1000-byte messages, 16 of them) formatted at the start
 * of a shared mapping that goes on for `after` bytes past its last page:
 * the base, with the segment attached in *s and its pages in *mapped. */
static unsigned char *heap_with_room_after(struct seg *s, uint64_t after, uint64_t *mapped)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.max_msg_size = 1000;
    a.capacity = 16;
    a.memory_limit = 64ull << 20;
    uint64_t size = seg_size_for(&a, &shm_kind_heap);
    *mapped = (size + 4095) / 4096 * 4096;
    unsigned char *base =
        mmap(NULL, *mapped + after, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(base != MAP_FAILED);
    assert_int_equal(seg_format(base, size, &a, "fixture", &shm_kind_heap, 0, -1), 0);
    assert_int_equal(seg_attach(s, base, size), 0);
    alloc_init(s);
    return base;
}

/* Taking the arena's last free block whole while a peer raises its size:
 * the cut never puts a remainder past the arena's end (it read the size
 * again after checking it, and could write a block header past the
 * mapping). Past the arena: a sentinel where the mapping goes on, and an
 * inaccessible page after it. */
static void split_stays_inside_the_arena(void **state)
{
    (void)state;
    struct seg s;
    uint64_t mapped;
    unsigned char *base = heap_with_room_after(&s, 4096, &mapped);
    assert_int_equal(mprotect(base + mapped, 4096, PROT_NONE), 0);
    struct seg_blk *whole = (struct seg_blk *)(base + s.arena_start);
    uint64_t arena = s.arena_end - s.arena_start;
    assert_int_equal(whole->size, arena);
    uint64_t tail = mapped - s.arena_end < 64 ? mapped - s.arena_end : 64;
    memset(base + s.arena_end, 0xa5, tail);
    struct grower g = {whole, arena, arena + 4096, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, grow, &g), 0);
    int taken = 0, round;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (round = 0; !tried_long_enough(round, &t0); round++) {
        struct seg_blk *b = NULL;
        int r = alloc_take(&s, arena - sizeof(struct seg_blk), 0, &b);
        if (r == 0) {
            taken++;
            /* Back to one free block of the whole arena, as formatted. */
            __atomic_store_n(&g.stop, 1, __ATOMIC_RELAXED);
            pthread_join(t, NULL);
            alloc_init(&s);
            whole->size = arena;
            s.hdr->meta.used = 0;
            g.stop = 0;
            assert_int_equal(pthread_create(&t, NULL, grow, &g), 0);
        } else {
            assert_true(r == -ENOMEM || r == -EUCLEAN);
        }
        for (uint64_t i = 0; i < tail; i++)
            assert_int_equal(base[s.arena_end + i], 0xa5);
    }
    __atomic_store_n(&g.stop, 1, __ATOMIC_RELAXED);
    pthread_join(t, NULL);
    print_message("taken whole %d times of %d\n", taken, round);
    munmap(base, mapped + 4096);
}

/* The arena's last free block, 33 lines, while a peer flips its size
 * between that and 63 lines (the same bin): a take of 63 lines may read
 * the small size where it checks the block and the large one where it
 * compares with what it needs. The block it returns must still end inside
 * the arena, or the sender's copy of the payload runs past the mapping. */
static void take_never_returns_a_block_past_the_arena(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 1000, 16);
    uint64_t arena = f.s.arena_end - f.s.arena_start;
    uint64_t small = 33 * SEG_LINE, large = 63 * SEG_LINE;
    struct seg_blk *first;
    assert_int_equal(alloc_take(&f.s, arena - small - sizeof(struct seg_blk), 0, &first), 0);
    struct seg_blk *tail = (struct seg_blk *)((unsigned char *)first + first->size);
    assert_int_equal(tail->size, small);
    assert_int_equal(tail->state, BLK_FREE);
    struct grower g = {tail, small, large, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, grow, &g), 0);
    int outside = 0, unclean = 0, round;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (round = 0; !tried_long_enough(round, &t0); round++) {
        struct seg_blk *b = NULL;
        int r = alloc_take(&f.s, large - sizeof(struct seg_blk), 0, &b);
        if (r == 0) {
            outside = f.s.arena_end - seg_off(&f.s, b) < large;
            break;
        }
        assert_true(r == -ENOMEM || r == -EUCLEAN);
        unclean += r == -EUCLEAN;
        if (r == -EUCLEAN) {
            /* Back to the layout above: a rebuild that met the large
             * size gave up half way. */
            __atomic_store_n(&g.stop, 1, __ATOMIC_RELAXED);
            pthread_join(t, NULL);
            tail->size = small;
            assert_int_equal(alloc_rebuild(&f.s, NULL, NULL), 0);
            g.stop = 0;
            assert_int_equal(pthread_create(&t, NULL, grow, &g), 0);
        }
    }
    __atomic_store_n(&g.stop, 1, __ATOMIC_RELAXED);
    pthread_join(t, NULL);
    print_message("%d takes, %d said -EUCLEAN\n", round, unclean);
    assert_false(outside);
    fixture_free(&f);
}

struct raiser {
    struct seg_blk *run, *at; /* raise run's size when the walk visits at */
    uint64_t size;
};

static int raise_run(struct seg *s, struct seg_blk *b, void *arg)
{
    (void)s;
    struct raiser *r = arg;
    if (b == r->at)
        __atomic_store_n(&r->run->size, r->size, __ATOMIC_RELAXED);
    return 0;
}

/* A rebuild gives the pages of large free runs back. A peer that raises a
 * run's size while the walk is past it (here: while the walk visits the
 * next block) must not make it drop pages after the arena: another
 * mapping's, which the peer may not even be able to open. The segment here
 * is followed, in the same shared mapping, by 1 MiB standing for that. */
static void rebuild_drops_no_pages_past_the_arena(void **state)
{
    (void)state;
    struct seg s;
    uint64_t mapped, after = 1u << 20;
    unsigned char *base = heap_with_room_after(&s, after, &mapped);
    memset(base + mapped, 0xa5, after);
    struct seg_blk *x, *y;
    assert_int_equal(alloc_take(&s, 100, 0, &x), 0);
    assert_int_equal(alloc_take(&s, 100, 0, &y), 0);
    alloc_free(&s, x); /* a free run of one small block, then y in use */
    struct raiser r = {x, y, mapped + after - seg_off(&s, x)};
    assert_int_equal(alloc_rebuild(&s, raise_run, &r), 0);
    uint64_t zeroed = 0;
    for (uint64_t i = 0; i < after; i++)
        zeroed += base[mapped + i] != 0xa5;
    print_message("%llu bytes past the arena changed\n", (unsigned long long)zeroed);
    assert_int_equal(zeroed, 0);
    munmap(base, mapped + after);
}

/* A block whose size a peer scribbled (below one line here) while a
 * receiver had it: freeing it must not index the bins with it (a bin
 * number of 2^32 - 1 wrote 32 GiB past the header). It stays out of the
 * bins, and the next walk finds the tiling broken. */
static void free_of_a_scribbled_size_stays_in_bounds(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 1000, 16);
    struct seg_blk *b, *c;
    assert_int_equal(alloc_take(&f.s, 100, 0, &b), 0);
    assert_int_equal(alloc_take(&f.s, 100, 0, &c), 0);
    uint64_t mask = f.s.hdr->meta.bin_mask, used = f.s.hdr->meta.used;
    for (uint64_t bad = 0; bad < SEG_LINE; bad += 8) {
        b->size = bad;
        alloc_free(&f.s, b);
        assert_int_equal(f.s.hdr->meta.bin_mask, mask);
        assert_int_equal(f.s.hdr->meta.used, used);
        assert_int_equal(b->state, BLK_FREE);
    }
    assert_int_equal(alloc_rebuild(&f.s, NULL, NULL), -EUCLEAN);
    b->size = seg_blk_size(100);
    assert_int_equal(alloc_rebuild(&f.s, NULL, NULL), 0);
    alloc_free(&f.s, c);
    check_heap(&f.s);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(take_and_free),
        cmocka_unit_test(fills_then_rebuild_merges),
        cmocka_unit_test(random_workload_keeps_invariants),
        cmocka_unit_test(rebuild_rejects_broken_tiling),
        cmocka_unit_test(split_stays_inside_the_arena),
        cmocka_unit_test(take_never_returns_a_block_past_the_arena),
        cmocka_unit_test(rebuild_drops_no_pages_past_the_arena),
        cmocka_unit_test(free_of_a_scribbled_size_stays_in_bounds),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
