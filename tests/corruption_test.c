/* A broken or hostile peer scribbles over a live segment: calls on it give
 * errors (-EUCLEAN), never a crash, a hang or an access outside the mapping.
 * Run under AddressSanitizer by the sanitizer build. */
#include "test_util.h"

#include "shm/ring/ring_impl.h"
#include "shm/shm.h"
#include "mbx.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

static mbx *fresh(void)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 32;
    a.max_msg_size = 300;
    mbx *m;
    mbx_unlink("victim");
    assert_int_equal(mbx_open("victim", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &m), 0);
    assert_int_equal(mbx_set_spin(m, 0), 0);
    char buf[300];
    for (int i = 0; i < 20; i++) {
        memset(buf, i, sizeof(buf));
        assert_int_equal(mbx_send(m, buf, (size_t)(i * 13) % 300, (unsigned)i % 4, 0), 0);
    }
    return m;
}

/* The targeted test pokes the heap queue's structures. */
static mbx *fresh_heap(void)
{
    setenv("MBX_QUEUE", "heap", 1);
    mbx *m = fresh();
    unsetenv("MBX_QUEUE");
    assert_null(shm_box_of(m)->seg.ring);
    return m;
}

static int allowed(ssize_t r)
{
    return r >= 0 || r == -EAGAIN || r == -EUCLEAN || r == -EMSGSIZE || r == -ENOSPC ||
           r == -ETIMEDOUT || r == -EIDRM;
}

static void targeted_damage_is_reported(void **state)
{
    (void)state;
    mbx *m = fresh_heap();
    struct seg_hdr *h = shm_box_of(m)->seg.hdr;
    char buf[300];
    h->meta.nactive = 1u << 30;
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), -EUCLEAN);
    h->meta.nactive = 4;
    uint16_t top = shm_box_of(m)->seg.active[3];
    shm_box_of(m)->seg.heads[top].head = 8; /* points into the header */
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), -EUCLEAN);
    shm_box_of(m)->seg.heads[top].head = shm_box_of(m)->seg.arena_end - 64;
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), -EUCLEAN);
    mbx_close(m);
    m = fresh_heap();
    /* A block claiming a payload past the end of the arena. */
    struct seg_blk *first = seg_blk_at(&shm_box_of(m)->seg, shm_box_of(m)->seg.arena_start);
    first->len = 1ull << 40;
    first->prio = 3;
    int r;
    while ((r = (int)mbx_recv(m, buf, sizeof(buf), NULL, 0)) >= 0)
        ;
    assert_int_equal(r, -EUCLEAN);
    mbx_close(m);
    assert_int_equal(mbx_unlink("victim"), 0);
}

/* A peer writes a priority out of range into each queued ring message;
 * mbx_recv_loan says -EUCLEAN and hands out no pointer. Its slot stayed
 * LENT to the receiver for the process's life: after a ring's worth,
 * every send timed out (found by a review). Now the slot is freed as a
 * copying receive frees it, and honest traffic goes on. */
static void damaged_loan_frees_its_slot(void **state)
{
    (void)state;
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 4;
    a.max_msg_size = 64;
    mbx *m;
    mbx_unlink("lentdamage");
    assert_int_equal(mbx_open("lentdamage", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &m), 0);
    struct seg *s = &shm_box_of(m)->seg;
    assert_non_null(s->ring);
    for (int round = 0; round < 8; round++) {
        assert_int_equal(mbx_send(m, "hello", 5, 0, 1000000000), 0);
        for (uint32_t i = 0; i < s->ring_slots; i++) {
            struct ring_slot *sl = ring_slot_at(s, i);
            if (slot_state_of(__atomic_load_n(&sl->word, __ATOMIC_ACQUIRE)) == SLOT_READY)
                sl->prio = 40000;
        }
        const void *buf = NULL;
        assert_int_equal(mbx_recv_loan(m, &buf, NULL, 0), -EUCLEAN);
        assert_null(buf);
    }
    for (uint32_t i = 0; i < s->ring_slots; i++)
        assert_int_not_equal(slot_state_of(ring_slot_at(s, i)->word), SLOT_LENT);
    for (int i = 0; i < 8; i++) {
        char b[64];
        assert_int_equal(mbx_send(m, "x", 1, 0, 1000000000), 0);
        assert_int_equal(mbx_recv(m, b, sizeof(b), NULL, 0), 1);
    }
    mbx_close(m);
    assert_int_equal(mbx_unlink("lentdamage"), 0);
}

/* Rings of messages over 64 KiB carry layout version 2, which readers of
 * version 1 only refuse: a header claiming the other version for its
 * layout is corrupt, an unknown version is -EPROTO. */
static void layout_versions(void **state)
{
    (void)state;
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 4;
    a.max_msg_size = 1 << 20;
    mbx *m, *again;
    mbx_unlink("big");
    assert_int_equal(mbx_open("big", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &m), 0);
    struct seg_hdr *h = shm_box_of(m)->seg.hdr;
    uint32_t want = SEG_VERSION;
    assert_int_equal(h->version, want);
    /* Layouts of earlier builds (1: small rings and heaps, 2: big rings)
     * and of later ones are another version, not damage. */
    for (uint32_t v = 1; v <= 4; v++) {
        if (v == want)
            continue;
        h->version = v;
        assert_int_equal(mbx_open("big", MBX_SEND, NULL, &again), -EPROTO);
    }
    h->version = want;
    assert_int_equal(mbx_open("big", MBX_SEND, NULL, &again), 0);
    mbx_close(again);
    mbx_close(m);
    assert_int_equal(mbx_unlink("big"), 0);
}

/* Scribbles n random bytes over the segment, sparing the lock word: a peer
 * holding the lock forever is a denial of service any peer (or a stopped
 * process) can cause, not memory corruption. Some land where a hostile
 * peer would aim: call receipts, the slot headers (holders, tokens), the
 * fields that once said which pages had storage. */
static void scribble(mbx *m, int n)
{
    unsigned char *base = shm_box_of(m)->seg.base;
    uint64_t lock_lo = (uint64_t)((unsigned char *)&shm_box_of(m)->seg.hdr->hot.lock - base);
    uint64_t lock_hi = lock_lo + sizeof(shm_box_of(m)->seg.hdr->hot.lock);
    uint64_t heads = (uint64_t)((unsigned char *)shm_box_of(m)->seg.heads - base);
    for (int i = 0; i < n; i++) {
        uint64_t off;
        switch (rand() % 6) {
        case 0: /* header and meta */
            off = (uint64_t)rand() % 4096;
            break;
        case 4: /* call receipts */
            off = (uint64_t)((unsigned char *)shm_box_of(m)->seg.receipts - base) +
                  (uint64_t)rand() % 4096;
            break;
        case 5: /* a slot's header, or a block's */
            if (shm_box_of(m)->seg.ring)
                off = (uint64_t)((unsigned char *)ring_slot_at(&shm_box_of(m)->seg,
                                                               (uint64_t)rand()) -
                                 base) +
                      (uint64_t)rand() % 48;
            else
                off = shm_box_of(m)->seg.arena_start + (uint64_t)(rand() % 8) * 64 +
                      (uint64_t)rand() % 64;
            break;
        case 1: /* the ring, or the queue heads in use */
            if (shm_box_of(m)->seg.ring)
                off = (uint64_t)(shm_box_of(m)->seg.ring - base) +
                      (uint64_t)rand() %
                          (ring_payloads_off(shm_box_of(m)->seg.ring_slots) +
                           shm_box_of(m)->seg.ring_slots * shm_box_of(m)->seg.slot_size);
            else
                off = heads + (uint64_t)(rand() % 4) * 16 + (uint64_t)rand() % 16;
            break;
        default: /* the arena's blocks */
            off =
                shm_box_of(m)->seg.arena_start +
                (uint64_t)rand() % (shm_box_of(m)->seg.arena_end - shm_box_of(m)->seg.arena_start);
        }
        if (off >= lock_lo && off < lock_hi)
            continue;
        base[off] = (unsigned char)rand();
    }
}

static void exercise(mbx *m)
{
    char buf[300];
    mbx_msginfo info;
    mbx_stat st;
    for (int k = 0; k < 40; k++) {
        ssize_t r = mbx_recv(m, buf, sizeof(buf), &info, 0);
        if (!allowed(r))
            _exit(20);
        r = mbx_send(m, buf, (size_t)k * 7, (unsigned)k % 5, 0);
        if (!allowed(r))
            _exit(21);
        r = mbx_recv_from(m, getpid(), buf, sizeof(buf), &info, 0);
        if (!allowed(r))
            _exit(22);
        if (k % 8 == 0) {
            /* A call leaves a receipt, a reply follows a token. */
            r = mbx_call(m, buf, 3, 0, buf, sizeof(buf), 1000000);
            if (!allowed(r) && r != -ESRCH && r != -EPIPE)
                _exit(23);
            r = mbx_recv(m, buf, sizeof(buf), &info, 0);
            if (r >= 0 && info.reply_token) {
                r = mbx_reply(&info, "r", 1);
                if (!allowed(r) && r != -ESRCH && r != -EINVAL && r != -EACCES)
                    _exit(24);
            }
        }
        mbx_stat_get(m, &st);
    }
}

static void random_scribbles_never_crash(void **state)
{
    (void)state;
    for (int round = 0; round < 300; round++) {
        pid_t p = fork();
        if (p == 0) {
            srand((unsigned)round);
            mbx *m = fresh();
            scribble(m, 1 + rand() % 64);
            alarm(20); /* a hang fails the test instead of stalling it */
            exercise(m);
            _exit(0);
        }
        int st;
        assert_int_equal(waitpid(p, &st, 0), p);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("round %d: %s %d", round, WIFSIGNALED(st) ? "signal" : "exit",
                     WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    }
    /* A scribbled-over mailbox can always be removed and made anew. */
    assert_int_equal(mbx_unlink("victim"), 0);
    mbx *m = fresh();
    mbx_close(m);
    assert_int_equal(mbx_unlink("victim"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(targeted_damage_is_reported),
        cmocka_unit_test(layout_versions),
        cmocka_unit_test(damaged_loan_frees_its_slot),
        cmocka_unit_test(random_scribbles_never_crash),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
