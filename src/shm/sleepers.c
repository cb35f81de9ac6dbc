#include "shm/sleepers.h"

#include "platform/platform.h"

#define EPOCH_SHIFT 30
#define COUNT_BITS  15
#define COUNT_MAX   ((1u << COUNT_BITS) - 1)
#define COUNTS      SLEEPERS_COUNTS
_Static_assert(SLEEPERS_COUNTS == (1u << EPOCH_SHIFT) - 1, "the counts are below the epoch");

static unsigned epoch_of(uint32_t w)
{
    return w >> EPOCH_SHIFT;
}

static unsigned shift_of(unsigned epoch)
{
    return (epoch & 1) * COUNT_BITS;
}

static uint32_t count_in(uint32_t w, unsigned epoch)
{
    return (w >> shift_of(epoch)) & COUNT_MAX;
}

unsigned sleepers_count(uint32_t w)
{
    return count_in(w, 0) + count_in(w, 1);
}

/* Starts a new epoch once the current one is old enough. Whoever moves
 * `since` on moves the epoch, once, and only from the epoch it read before:
 * a process stopped between the two steps finds the epoch already moved and
 * leaves it. Unsigned differences make the millisecond clock's wrap harmless
 * (at worst an epoch lasts SLEEPERS_EPOCH_MS longer). */
static void next_epoch_when_due(uint32_t *word, uint32_t *since)
{
    /* `since` first, the clock after: read the other way round, another
     * process could move `since` past our clock reading in between, and
     * the unsigned difference would look huge and move the epoch twice. */
    uint32_t was = __atomic_load_n(since, __ATOMIC_ACQUIRE);
    uint32_t now = (uint32_t)(clock_now_ns() / 1000000);
    if (now - was < SLEEPERS_EPOCH_MS)
        return;
    uint32_t w = __atomic_load_n(word, __ATOMIC_SEQ_CST);
    if (!__atomic_compare_exchange_n(since, &was, now, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        return;
    unsigned e = epoch_of(w);
    for (;;) {
        if (epoch_of(w) != e)
            return;
        unsigned next = (e + 1) & 3;
        /* The new epoch's count is the one of the epoch before last. */
        uint32_t nw = ((w & COUNTS) & ~(COUNT_MAX << shift_of(next))) | (next << EPOCH_SHIFT);
        if (__atomic_compare_exchange_n(word, &w, nw, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
            return;
    }
}

void sleepers_age(uint32_t *word, uint32_t *since)
{
    next_epoch_when_due(word, since);
}

int sleepers_enter(uint32_t *word, uint32_t *since)
{
    next_epoch_when_due(word, since);
    uint32_t w = __atomic_load_n(word, __ATOMIC_RELAXED);
    for (;;) {
        unsigned e = epoch_of(w);
        if (count_in(w, e) == COUNT_MAX)
            return -1;
        if (__atomic_compare_exchange_n(word, &w, w + (1u << shift_of(e)), 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED))
            return (int)e;
    }
}

void sleepers_leave(uint32_t *word, int ticket)
{
    if (ticket < 0)
        return;
    unsigned mine = (unsigned)ticket;
    uint32_t w = __atomic_load_n(word, __ATOMIC_RELAXED);
    for (;;) {
        /* Two epochs on, our count was reset: nothing of ours is left. */
        if (((epoch_of(w) - mine) & 3) > 1 || count_in(w, mine) == 0)
            return;
        if (__atomic_compare_exchange_n(word, &w, w - (1u << shift_of(mine)), 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED))
            return;
    }
}
