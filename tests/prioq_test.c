/* Tests src/prioq.c: highest priority first, FIFO within one, removal from
 * the middle, lookup by sender, and sorting after a rebuild. */
#include "test_util.h"

#include "shm/heap/prioq.h"
#include "seg_fixture.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>

static uint64_t next_seq = 1;

static struct seg_blk *queue(struct seg *s, uint32_t prio, int32_t pid)
{
    struct seg_blk *b;
    assert_int_equal(alloc_take(s, 8, 0, &b), 0);
    b->prio = prio;
    b->sender_pid = pid;
    b->seq = next_seq++;
    b->state = BLK_QUEUED;
    assert_int_equal(prioq_push(s, b), 0);
    s->hdr->hot.count++;
    return b;
}

static struct seg_blk *pop(struct seg *s)
{
    struct seg_blk *b;
    assert_int_equal(prioq_top(s, &b), 0);
    if (b) {
        assert_int_equal(prioq_remove(s, b), 0);
        s->hdr->hot.count--;
    }
    return b;
}

static void highest_first_fifo_within(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 64, 100);
    uint32_t prios[] = {5, 1, 5, 32767, 0, 1, 5};
    for (unsigned i = 0; i < 7; i++)
        queue(&f.s, prios[i], 1);
    uint32_t want_prio[] = {32767, 5, 5, 5, 1, 1, 0};
    uint64_t want_seq[] = {4, 1, 3, 7, 2, 6, 5};
    for (unsigned i = 0; i < 7; i++) {
        struct seg_blk *b = pop(&f.s);
        assert_non_null(b);
        assert_int_equal(b->prio, want_prio[i]);
        assert_int_equal(b->seq, want_seq[i]);
    }
    assert_null(pop(&f.s));
    assert_int_equal(f.s.hdr->meta.nactive, 0);
    fixture_free(&f);
}

static void remove_middle_and_find_sender(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 64, 100);
    struct seg_blk *a = queue(&f.s, 3, 10);
    struct seg_blk *b = queue(&f.s, 3, 20);
    struct seg_blk *c = queue(&f.s, 3, 10);
    struct seg_blk *d = queue(&f.s, 9, 30);
    struct seg_blk *got;
    assert_int_equal(prioq_find_from(&f.s, 20, &got), 0);
    assert_ptr_equal(got, b);
    assert_int_equal(prioq_remove(&f.s, b), 0);
    assert_int_equal(prioq_find_from(&f.s, 20, &got), 0);
    assert_null(got);
    assert_int_equal(prioq_find_from(&f.s, 10, &got), 0);
    assert_ptr_equal(got, a);
    assert_ptr_equal(pop(&f.s), d);
    assert_ptr_equal(pop(&f.s), a);
    assert_ptr_equal(pop(&f.s), c);
    assert_null(pop(&f.s));
    fixture_free(&f);
}

static void many_priorities_stay_sorted(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 64, 5000);
    srand(3);
    for (int i = 0; i < 3000; i++)
        queue(&f.s, (uint32_t)(rand() % MBX_PRIO_MAX), 1);
    uint32_t last_prio = MBX_PRIO_MAX;
    uint64_t last_seq = 0;
    for (int i = 0; i < 3000; i++) {
        struct seg_blk *b = pop(&f.s);
        assert_non_null(b);
        assert_true(b->prio <= last_prio);
        if (b->prio == last_prio)
            assert_true(b->seq > last_seq);
        last_prio = b->prio;
        last_seq = b->seq;
    }
    assert_null(pop(&f.s));
    fixture_free(&f);
}

static void sort_restores_send_order(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 64, 100);
    struct seg_blk *b[6];
    for (int i = 0; i < 6; i++)
        b[i] = queue(&f.s, 2, 1);
    /* Scramble the sequence numbers as arena order would after a rebuild. */
    uint64_t seqs[] = {50, 10, 40, 20, 60, 30};
    for (int i = 0; i < 6; i++)
        b[i]->seq = seqs[i];
    assert_int_equal(prioq_sort(&f.s, 6), 0);
    uint64_t last = 0;
    for (int i = 0; i < 6; i++) {
        struct seg_blk *x = pop(&f.s);
        assert_true(x->seq > last);
        last = x->seq;
    }
    fixture_free(&f);
}

static void damaged_queue_is_reported(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 64, 100);
    struct seg_blk *a = queue(&f.s, 4, 1);
    struct seg_blk *got;
    a->prio = 5; /* the FIFO of 4 now holds a block claiming priority 5 */
    assert_int_equal(prioq_top(&f.s, &got), -EUCLEAN);
    a->prio = 4;
    f.s.hdr->meta.nactive = MBX_PRIO_MAX + 1;
    assert_int_equal(prioq_top(&f.s, &got), -EUCLEAN);
    f.s.hdr->meta.nactive = 1;
    f.s.heads[4].head = 12345; /* not a block */
    assert_int_equal(prioq_top(&f.s, &got), -EUCLEAN);
    fixture_free(&f);
}

/* A repair sorts FIFOs a peer may have damaged: a cycle, a priority out of
 * range in the active list, more blocks than the rebuild counted. Each is
 * reported, none walked for ever or outside the heads. */
static void sort_refuses_damage(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 64, 100);
    struct seg_blk *b[3];
    for (int i = 0; i < 3; i++)
        b[i] = queue(&f.s, 2, 1);
    assert_int_equal(prioq_sort(&f.s, 2), -EUCLEAN); /* three queued, two counted */
    b[2]->next = seg_off(&f.s, b[1]);                /* b1 -> b2 -> b1 ... */
    assert_int_equal(prioq_sort(&f.s, 100), -EUCLEAN);
    b[2]->next = 0;
    assert_int_equal(prioq_sort(&f.s, 3), 0);
    /* A priority past heads[MBX_PRIO_MAX] whose "head" would land in a
     * payload we watch: refused before anything there is read or written. */
    struct seg_blk *x;
    assert_int_equal(alloc_take(&f.s, 256, 0, &x), 0);
    uintptr_t at = (uintptr_t)seg_payload(x) - (uintptr_t)f.s.heads;
    uint32_t p = (uint32_t)((at + 2 * sizeof(struct seg_qhead) - 1) / sizeof(struct seg_qhead));
    assert_true(p >= MBX_PRIO_MAX && p <= UINT16_MAX);
    struct seg_qhead *watched = &f.s.heads[p];
    assert_true((unsigned char *)(watched + 1) <= seg_payload(x) + 256);
    watched->head = 0;
    watched->tail = 0x1234;
    f.s.active[0] = (uint16_t)p;
    assert_int_equal(prioq_sort(&f.s, 3), -EUCLEAN);
    assert_int_equal(watched->tail, 0x1234);
    fixture_free(&f);
}

struct scribbler {
    struct seg_blk *blk;
    uint64_t self;
    int stop;
};

/* A peer that keeps linking one queued block to itself. */
static void *scribble(void *arg)
{
    struct scribbler *w = arg;
    while (!__atomic_load_n(&w->stop, __ATOMIC_RELAXED))
        __atomic_store_n(&w->blk->next, w->self, __ATOMIC_RELAXED);
    return NULL;
}

/* While a peer writes a cycle into the links, sorting still ends every
 * time (with 0 or -EUCLEAN): before the walks were bounded it could spin
 * for ever, holding the mailbox's lock. */
static void sort_ends_while_a_peer_writes_cycles(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 64, 200);
    struct seg_blk *b[64];
    for (int i = 0; i < 64; i++)
        b[i] = queue(&f.s, 7, 1);
    struct scribbler w = {b[40], seg_off(&f.s, b[40]), 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, scribble, &w), 0);
    int damaged = 0;
    for (int round = 0; round < 2000; round++) {
        /* Relink the FIFO in order as a rebuild would, then sort it. */
        for (int i = 0; i < 64; i++)
            __atomic_store_n(&b[i]->next, i + 1 < 64 ? seg_off(&f.s, b[i + 1]) : 0,
                             __ATOMIC_RELAXED);
        f.s.heads[7].head = seg_off(&f.s, b[0]);
        int r = prioq_sort(&f.s, 64);
        assert_true(r == 0 || r == -EUCLEAN);
        damaged += r != 0;
    }
    __atomic_store_n(&w.stop, 1, __ATOMIC_RELAXED);
    pthread_join(t, NULL);
    print_message("%d of 2000 sorts saw the damage\n", damaged);
    fixture_free(&f);
}

static int never_counting(const struct seg_blk *b, const void *arg)
{
    (void)b;
    uint64_t *steps = (uint64_t *)arg;
    /* Far past any honest walk: stop here rather than spin for 2^32. */
    return ++*steps > (1u << 20);
}

/* A search walks at most as many blocks as the arena can hold, whatever
 * count a peer wrote: a block linked to itself and a count of 2^32 - 1
 * once kept every selective receive (and a call's wait for its reply)
 * under the lock for seconds. */
static void search_is_bounded_by_the_arena(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, 64, 100);
    struct seg_blk *a = queue(&f.s, 3, 1);
    a->next = seg_off(&f.s, a); /* a cycle of one */
    f.s.hdr->hot.count = UINT32_MAX;
    uint64_t steps = 0;
    struct seg_blk *got = NULL;
    int r = prioq_find(&f.s, never_counting, &steps, &got);
    print_message("%llu steps\n", (unsigned long long)steps);
    assert_int_equal(r, -EUCLEAN);
    assert_true(steps <= (f.s.arena_end - f.s.arena_start) / sizeof(struct seg_blk) + 1);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(highest_first_fifo_within),
        cmocka_unit_test(remove_middle_and_find_sender),
        cmocka_unit_test(many_priorities_stay_sorted),
        cmocka_unit_test(sort_restores_send_order),
        cmocka_unit_test(damaged_queue_is_reported),
        cmocka_unit_test(sort_refuses_damage),
        cmocka_unit_test(sort_ends_while_a_peer_writes_cycles),
        cmocka_unit_test(search_is_bounded_by_the_arena),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
