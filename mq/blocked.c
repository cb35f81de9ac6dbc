/* Receivers blocked in mq_receive, as the notification rule needs them: a
 * notice goes only when nobody is blocked. A plain count in the side file
 * stays high forever when a blocked receiver is killed, and the queue then
 * never notifies again; so each process counts itself in a slot named by
 * the token of an owned mailbox of its own (MQ_LIVE_PREFIX<token>), which
 * mbx removes when the process dies: a slot whose mailbox is gone, or owned
 * by another pid, belongs to a dead process and is freed by whoever finds
 * it.
 *
 * mbx removes a process's owned mailboxes when it exits, but those of a
 * process that ended without exit handlers (_exit, a signal) only when
 * something looks at them: so whoever makes a liveness mailbox looks first
 * at those already there, which removes the ones of processes gone. */
#include "mq_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t live_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t live_token; /* this process's, 0 before the first blocked receive */
static pid_t live_pid;              /* this process's once it tried to make its mailbox */
static mbx *live_box;

static void live_name(uint64_t token, char *out, size_t cap)
{
    snprintf(out, cap, "%s%016llx", MQ_LIVE_PREFIX, (unsigned long long)token);
}

/* In a forked child: the parent's token and mailbox are the parent's (a
 * handle left to it); the child makes its own on its first blocked
 * receive. */
static void live_forked(void)
{
    pthread_mutex_init(&live_lock, NULL);
    atomic_store(&live_token, 0);
    live_pid = 0;
    live_box = NULL;
}

static void live_install(void)
{
    pthread_atfork(NULL, NULL, live_forked);
}

/* Looks at up to this many liveness mailboxes when making one: enough for
 * as many processes blocked at once, and a bound on the time it costs. */
#define LIVE_SWEEP_MAX 256

static int sweep_one(const char *name, void *arg)
{
    unsigned *left = arg;
    if (strncmp(name, MQ_LIVE_PREFIX, sizeof(MQ_LIVE_PREFIX) - 1) != 0 &&
        strncmp(name, MQ_NOTIFY_PREFIX, sizeof(MQ_NOTIFY_PREFIX) - 1) != 0)
        return 0;
    mbx_stat st;
    (void)mbx_stat_name(name, &st); /* removes it when its owner is gone */
    return --*left == 0;
}

/* Removes the liveness and notification mailboxes whose processes are
 * gone. */
static void live_sweep(void)
{
    unsigned left = LIVE_SWEEP_MAX;
    (void)mbx_foreach(sweep_one, &left);
}

/* This process's token, its owned mailbox made on first use (again in a
 * forked child). 0 when it cannot be made. No system call once made (a
 * blocked receive used to ask getpid() each time). */
static uint64_t my_token(void)
{
    pthread_once(&live_once, live_install);
    uint64_t t = atomic_load(&live_token);
    if (t)
        return t;
    pthread_mutex_lock(&live_lock);
    if (live_pid == 0) {
        live_pid = getpid();
        live_sweep();
        for (int tries = 0; tries < 4 && !atomic_load(&live_token); tries++) {
            uint64_t r = 0;
            /* the low bits of a slot's word are the count */
            if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r) ||
                (r &= ~MQ_BLOCKER_COUNT_MASK) == 0)
                continue;
            char name[64];
            live_name(r, name, sizeof(name));
            mbx_attr a;
            mbx_attr_init(&a);
            a.capacity = 1;
            a.max_msg_size = 1;
            if (mbx_open(name, MBX_CREATE | MBX_EXCL | MBX_OWNED | MBX_RECV, &a, &live_box) == 0)
                atomic_store(&live_token, r);
        }
    }
    t = atomic_load(&live_token);
    pthread_mutex_unlock(&live_lock);
    return t;
}

/* Whether the process of token `token` in slot b lives: its mailbox is
 * there, owned by the pid the slot holds. A pid of 0 is a claim whose
 * pid is not written yet (reapers clear it before they free a slot, so a
 * claim never meets a dead owner's pid): the mailbox alone answers. */
static int slot_alive(struct mq_blocker *b, uint64_t token)
{
    char name[64];
    live_name(token, name, sizeof(name));
    mbx_stat st;
    int32_t pid = atomic_load(&b->pid);
    return mbx_stat_name(name, &st) == 0 && (pid == 0 || st.owner_pid == pid);
}

/* Frees slot b if its process is dead: only if its word is still the one
 * judged (a slot freed and claimed again meanwhile is the new claimer's).
 * Returns 1 when it freed it. */
static int reap_if_dead(struct mq_blocker *b)
{
    uint64_t w = atomic_load(&b->word);
    if (w == 0 || slot_alive(b, w & ~MQ_BLOCKER_COUNT_MASK))
        return 0;
    atomic_store(&b->pid, 0);
    return atomic_compare_exchange_strong(&b->word, &w, 0);
}

struct mq_blocker *mq_blocked_enter(struct mq_side *s)
{
    uint64_t me = my_token();
    if (me) {
        for (unsigned i = 0; i < MQ_BLOCKERS; i++) {
            struct mq_blocker *b = &s->blockers[i];
            uint64_t w = atomic_load(&b->word);
            while ((w & ~MQ_BLOCKER_COUNT_MASK) == me &&
                   (w & MQ_BLOCKER_COUNT_MASK) < MQ_BLOCKER_COUNT_MASK)
                if (atomic_compare_exchange_weak(&b->word, &w, w + 1))
                    return b;
        }
        /* A free slot; failing that, one of a dead process. */
        for (int pass = 0; pass < 2; pass++)
            for (unsigned i = 0; i < MQ_BLOCKERS; i++) {
                struct mq_blocker *b = &s->blockers[i];
                uint64_t none = 0, w = atomic_load(&b->word);
                if (pass == 1 && w != 0 && (w & MQ_BLOCKER_COUNT_MASK) == 0)
                    reap_if_dead(b);
                if (atomic_compare_exchange_strong(&b->word, &none, me | 1)) {
                    atomic_store(&b->pid, (int32_t)live_pid);
                    return b;
                }
            }
    }
    atomic_fetch_add(&s->receivers_blocked, 1);
    return NULL;
}

/* Takes back a count of enter's: only from a slot still this process's
 * (one reaped meanwhile, wrongly, is left to its new claimer). */
void mq_blocked_leave(struct mq_side *s, struct mq_blocker *b)
{
    if (!b) {
        atomic_fetch_sub(&s->receivers_blocked, 1);
        return;
    }
    uint64_t me = atomic_load(&live_token);
    uint64_t w = atomic_load(&b->word);
    while ((w & ~MQ_BLOCKER_COUNT_MASK) == me && (w & MQ_BLOCKER_COUNT_MASK) > 0 &&
           !atomic_compare_exchange_weak(&b->word, &w, w - 1)) {
    }
}

int mq_blocked_any(struct mq_side *s)
{
    if (atomic_load(&s->receivers_blocked) > 0)
        return 1;
    int any = 0;
    for (unsigned i = 0; i < MQ_BLOCKERS && !any; i++) {
        struct mq_blocker *b = &s->blockers[i];
        if ((atomic_load(&b->word) & MQ_BLOCKER_COUNT_MASK) > 0 && !reap_if_dead(b))
            any = 1;
    }
    return any;
}
