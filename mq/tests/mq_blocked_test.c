/* The slots of receivers blocked on a queue (mq/blocked.c), against
 * reapers that judged a slot before it changed. The program is built with
 * blocked.c itself, its liveness look-up (mbx_stat_name) replaced by one
 * of the test's: processes are faked (a token and a pid each, alive or
 * dead at the test's word), and a look-up can run other "processes'"
 * steps in the middle of a reaper's, at the very moment a race needs. */
#define mbx_stat_name test_stat_name
#include "../blocked.c"
#undef mbx_stat_name

#include <stdlib.h>

#include "../../tests/test_util.h"

int mbx_stat_name(const char *name, mbx_stat *st);

struct fake {
    uint64_t token;
    int32_t pid;
    int alive;
};

static struct fake fakes[80];
static int nfakes;
/* Run once by the look-up of `hook_token`, before it answers. */
static void (*hook)(void);
static uint64_t hook_token;

/* A new live fake process; its token has the low bits a slot counts in
 * clear, as my_token's. */
static struct fake *fake_new(void)
{
    struct fake *f = &fakes[nfakes++];
    f->token = (uint64_t)(0x5a000 + nfakes) << 32;
    f->pid = 100000 + nfakes;
    f->alive = 1;
    return f;
}

/* Makes fake f the calling process for blocked.c. */
static void become(const struct fake *f)
{
    pthread_once(&live_once, live_install);
    atomic_store(&live_token, f->token);
    live_pid = f->pid;
}

int test_stat_name(const char *name, mbx_stat *st)
{
    for (int i = 0; i < nfakes; i++) {
        char n[64];
        live_name(fakes[i].token, n, sizeof(n));
        if (strcmp(n, name) != 0)
            continue;
        if (hook && fakes[i].token == hook_token) {
            void (*h)(void) = hook;
            hook = NULL;
            h();
        }
        if (!fakes[i].alive)
            return -ENOENT;
        memset(st, 0, sizeof(*st));
        st->owner_pid = fakes[i].pid;
        return 0;
    }
    return mbx_stat_name(name, st);
}

static struct mq_side *side;
static struct fake *late;
static struct mq_blocker *late_slot;

/* Another reaper frees the dead process's slot, and `late` claims it. */
static void free_and_claim(void)
{
    (void)mq_blocked_any(side);
    become(late);
    late_slot = mq_blocked_enter(side);
}

/* A reaper judged a dead process's slot; before it freed it, another
 * reaper did and a live process claimed the slot and blocked. The first
 * reaper must leave the new claim alone: it zeroed the count, the
 * blocked receiver went unseen (a notice went out under it), and its
 * leave drove the count to -1, hiding the next process that blocked. */
static void stale_reaper_keeps_a_new_claim(void **state)
{
    (void)state;
    side = calloc(1, sizeof(*side));
    assert_non_null(side);
    struct fake *dead = fake_new(), *next = fake_new();
    late = fake_new();
    become(dead);
    struct mq_blocker *b = mq_blocked_enter(side);
    assert_ptr_equal(b, &side->blockers[0]);
    dead->alive = 0;
    hook = free_and_claim;
    hook_token = dead->token;
    assert_int_equal(mq_blocked_any(side), 1); /* late is blocked */
    assert_null(hook);
    assert_ptr_equal(late_slot, &side->blockers[0]);
    assert_int_equal(mq_blocked_any(side), 1);
    become(late);
    mq_blocked_leave(side, late_slot);
    assert_int_equal(mq_blocked_any(side), 0);
    /* The slot counts right for whoever comes next. */
    become(next);
    b = mq_blocked_enter(side);
    assert_non_null(b);
    assert_int_equal(mq_blocked_any(side), 1);
    mq_blocked_leave(side, b);
    assert_int_equal(mq_blocked_any(side), 0);
    free(side);
}

/* The first step of a claim of free slot b by the process of `token`,
 * as mq_blocked_enter takes it: its pid is written after. */
static void claim_first_step(struct mq_blocker *b, uint64_t token)
{
#ifdef MQ_BLOCKER_COUNT_BITS
    uint64_t none = 0;
    assert_true(atomic_compare_exchange_strong(&b->word, &none, token | 1));
#else
    uint64_t none = 0;
    assert_true(atomic_compare_exchange_strong(&b->token, &none, token));
#endif
}

/* A slot freed from a dead process and claimed by a live one, which has
 * not yet written its pid: reapers must not take it for the dead owner's
 * (the dead one's pid was left in the slot, so the new claim looked dead
 * and another process took the slot over). */
static void claim_before_its_pid_is_not_reaped(void **state)
{
    (void)state;
    side = calloc(1, sizeof(*side));
    assert_non_null(side);
    struct fake *dead = fake_new(), *claimer = fake_new(), *other = fake_new();
    become(dead);
    struct mq_blocker *b = mq_blocked_enter(side);
    assert_ptr_equal(b, &side->blockers[0]);
    /* Every other slot is a live process's, none blocked now. */
    for (unsigned i = 1; i < MQ_BLOCKERS; i++) {
        become(fake_new());
        struct mq_blocker *o = mq_blocked_enter(side);
        assert_ptr_equal(o, &side->blockers[i]);
        mq_blocked_leave(side, o);
    }
    dead->alive = 0;
    assert_int_equal(mq_blocked_any(side), 0); /* frees the dead one's slot */
    claim_first_step(b, claimer->token);
    (void)mq_blocked_any(side);
    become(other);
    struct mq_blocker *o = mq_blocked_enter(side);
    assert_null(o); /* no slot free: counted apart */
    mq_blocked_leave(side, o);
    free(side);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(stale_reaper_keeps_a_new_claim, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(claim_before_its_pid_is_not_reaped, test_dir_setup,
                                        test_dir_teardown),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
