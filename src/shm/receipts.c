#include "shm/receipts.h"

#include "platform/platform.h"

#include <errno.h>
#include <limits.h>

/* Entries a call may use, from its home entry on: a receiver looks no
 * further, so a token without a receipt costs it a bounded look. */
#define PROBE 32u

static unsigned home(uint64_t token)
{
    return (unsigned)((token * 0x9e3779b97f4a7c15ull) >> 57) % SEG_RECEIPTS;
}

static int try_claim(struct seg_receipt *e, uint64_t token, uint64_t caller)
{
    uint64_t free_token = 0;
    if (!__atomic_compare_exchange_n(&e->token, &free_token, token, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED))
        return 0;
    __atomic_store_n(&e->caller, caller, __ATOMIC_RELAXED);
    __atomic_store_n(&e->notify, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&e->taker_uid, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&e->taker, 0, __ATOMIC_RELEASE);
    return 1;
}

int receipt_open(const struct seg *s, uint64_t token, uint64_t caller)
{
    unsigned h = home(token);
    for (int round = 0; round < 2; round++) {
        for (unsigned k = 0; k < PROBE; k++) {
            unsigned i = (h + k) % SEG_RECEIPTS;
            struct seg_receipt *e = &s->receipts[i];
            uint64_t t = __atomic_load_n(&e->token, __ATOMIC_ACQUIRE);
            if (t == 0 && try_claim(e, token, caller))
                return (int)i;
            /* Second round: entries of callers that died without closing. */
            if (round == 1 && t != 0) {
                uint64_t who = __atomic_load_n(&e->caller, __ATOMIC_RELAXED);
                if (!ident_alive(who) &&
                    __atomic_compare_exchange_n(&e->token, &t, 0, 0, __ATOMIC_ACQ_REL,
                                                __ATOMIC_RELAXED) &&
                    try_claim(e, token, caller))
                    return (int)i;
            }
        }
    }
    return -1;
}

void receipt_taken(const struct seg *s, uint64_t token, uint64_t taker, uint32_t uid)
{
    unsigned h = home(token);
    for (unsigned k = 0; k < PROBE; k++) {
        struct seg_receipt *e = &s->receipts[(h + k) % SEG_RECEIPTS];
        if (__atomic_load_n(&e->token, __ATOMIC_ACQUIRE) != token)
            continue;
        __atomic_store_n(&e->taker_uid, uid, __ATOMIC_RELAXED);
        __atomic_store_n(&e->taker, taker, __ATOMIC_SEQ_CST);
        /* The call may have ended and its entry gone to another call since
         * we looked: take our word back rather than leave it on theirs. */
        if (__atomic_load_n(&e->token, __ATOMIC_ACQUIRE) != token) {
            __atomic_compare_exchange_n(&e->taker, &taker, 0, 0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED);
            return;
        }
        /* A confirmed sender asleep on the entry (it set notify to 1, then
         * looked at taker: one of us sees the other's store). A system
         * call only while it sleeps. */
        if ((token & CONFIRM_BIT) && __atomic_exchange_n(&e->notify, 2, __ATOMIC_SEQ_CST) == 1)
            futex_wake(&e->notify, INT_MAX);
        return;
    }
}

uint64_t receipt_taker(const struct seg *s, int i, uint64_t token)
{
    if (i < 0 || (unsigned)i >= SEG_RECEIPTS)
        return 0;
    const struct seg_receipt *e = &s->receipts[i];
    uint64_t taker = __atomic_load_n(&e->taker, __ATOMIC_ACQUIRE);
    return __atomic_load_n(&e->token, __ATOMIC_ACQUIRE) == token ? taker : 0;
}

uint32_t receipt_taker_uid(const struct seg *s, int i)
{
    if (i < 0 || (unsigned)i >= SEG_RECEIPTS)
        return 0;
    return __atomic_load_n(&s->receipts[i].taker_uid, __ATOMIC_RELAXED);
}

int receipt_wait(const struct seg *s, int i, uint64_t token, int64_t timeout_ns, uint64_t *taker)
{
    *taker = receipt_taker(s, i, token);
    if (*taker || timeout_ns == 0 || i < 0 || (unsigned)i >= SEG_RECEIPTS)
        return 0;
    struct seg_receipt *e = &s->receipts[i];
    __atomic_store_n(&e->notify, 1, __ATOMIC_SEQ_CST);
    *taker = receipt_taker(s, i, token);
    int r = *taker ? 0 : futex_wait(&e->notify, 1, timeout_ns);
    *taker = receipt_taker(s, i, token);
    return r == -EINTR ? -EINTR : 0;
}

void receipt_untake(const struct seg *s, int i, uint64_t token, uint64_t taker)
{
    if (i < 0 || (unsigned)i >= SEG_RECEIPTS)
        return;
    struct seg_receipt *e = &s->receipts[i];
    if (__atomic_load_n(&e->token, __ATOMIC_ACQUIRE) == token)
        __atomic_compare_exchange_n(&e->taker, &taker, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

void receipt_close(const struct seg *s, int i, uint64_t token)
{
    if (i < 0 || (unsigned)i >= SEG_RECEIPTS)
        return;
    struct seg_receipt *e = &s->receipts[i];
    if (__atomic_load_n(&e->token, __ATOMIC_ACQUIRE) != token)
        return;
    __atomic_store_n(&e->taker, 0, __ATOMIC_RELAXED);
    __atomic_compare_exchange_n(&e->token, &token, 0, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}
