#include "shm/lock.h"

#include "platform/platform.h"
#include "shm/kind.h"
#include "shm/wait.h"

/* The holder a thread saw at its last look, and when: a holder seen again
 * a millisecond later may be stuck, and only then is /proc read. */
static MBX_TLS struct {
    const void *lock;
    uint64_t holder;
    int64_t seen_ns;
    int dead;
} last_look;

#define HOLDER_LOOK_NS 1000000ll

int seg_holder_died(const struct seg *s)
{
    const struct shlock *l = &s->hdr->hot.lock;
    uint32_t w = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
    if (w == 0)
        return 0;
    uint64_t h = ((uint64_t)w << 32) ^ __atomic_load_n(&l->holder, __ATOMIC_RELAXED);
    int64_t now = clock_now_ns();
    if (last_look.lock != l || last_look.holder != h) {
        last_look.lock = l;
        last_look.holder = h;
        last_look.seen_ns = now;
        last_look.dead = 0;
        return 0;
    }
    if (last_look.dead || now - last_look.seen_ns < HOLDER_LOOK_NS)
        return last_look.dead;
    last_look.seen_ns = now;
    last_look.dead = shlock_holder_dead(l);
    return last_look.dead;
}

int seg_holder_died_look(void *arg)
{
    return seg_holder_died(arg);
}

int64_t seg_lock_deadline(int64_t call_deadline)
{
    if (call_deadline < 0)
        return -1;
    int64_t grace = clock_deadline(SEG_LOCK_GRACE_NS);
    return call_deadline > grace ? call_deadline : grace;
}

/* After the lock was taken with r (0 or SHLOCK_TOOK_OVER). */
static int locked(struct seg *s, int r)
{
    struct seg_hot *hot = &s->hdr->hot;
    /* The holder died in the middle of a change: rebuild what the lock
     * guards. A repair that fails marks the mailbox broken for good. */
    if (r == SHLOCK_TOOK_OVER && !__atomic_load_n(&hot->broken, __ATOMIC_RELAXED)) {
        if (s->kind->repair && s->kind->repair(s) != 0)
            __atomic_store_n(&hot->broken, 1, __ATOMIC_RELAXED);
        wake_everyone(s);
    }
    if (__atomic_load_n(&hot->broken, __ATOMIC_RELAXED)) {
        shlock_unlock(&hot->lock);
        return -EUCLEAN;
    }
    return 0;
}

int seg_lock(struct seg *s, int64_t deadline)
{
    int r = shlock_lock(&s->hdr->hot.lock, deadline);
    return r < 0 ? r : locked(s, r);
}

int seg_lock_call(struct seg *s, int64_t *deadline, int64_t timeout_ns)
{
    if (shlock_try(&s->hdr->hot.lock) == 0)
        return locked(s, 0);
    return seg_lock(s, seg_lock_deadline(clock_deadline_now(deadline, timeout_ns)));
}

void seg_unlock(struct seg *s)
{
    shlock_unlock(&s->hdr->hot.lock);
}

void seg_settle(struct seg *s)
{
    uint32_t w = __atomic_load_n(&s->hdr->hot.lock.word, __ATOMIC_ACQUIRE);
    if (w == 0 || ident_id_exists((int32_t)(w & SHLOCK_TID_MASK)))
        return;
    if (seg_lock(s, clock_deadline(SEG_LOCK_GRACE_NS)) == 0)
        seg_unlock(s);
}
