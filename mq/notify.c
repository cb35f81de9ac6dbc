/* mq_notify: one registration per queue, kept in the side file so every
 * process sees it.
 *
 * The registrant proves it is alive with an owned mailbox
 * "mq-notify.<token>" (MBX_OWNED: mbx removes it when the process ends in
 * any way, kill -9 included), whose owner must be the registered pid: a
 * registration whose mailbox is gone belongs to a dead process and is
 * free, and no signal goes to a pid another process took over.
 *
 * The sender whose message lands in an empty queue while no receiver is
 * blocked takes the registration (compare-and-swap of its token to none)
 * and delivers it: SIGEV_SIGNAL with sigqueue's information and si_code
 * SI_MESGQ; SIGEV_THREAD by waking the registrant's helper thread through
 * a futex in the side file, which calls the function; SIGEV_NONE by only
 * removing the registration. */
#include "mq_internal.h"

#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

static void box_name(uint64_t token, char *out, size_t cap)
{
    snprintf(out, cap, "%s%016llx", MQ_NOTIFY_PREFIX, (unsigned long long)token);
}

/* Returns 1 when the registrant of token (pid) is alive: its owned
 * mailbox exists and is owned by pid. */
static int registrant_alive(uint64_t token, int32_t pid)
{
    char name[64];
    box_name(token, name, sizeof(name));
    mbx_stat st;
    return mbx_stat_name(name, &st) == 0 && st.owner_pid == pid && pid > 0;
}

static long futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *t)
{
    return syscall(SYS_futex, (uint32_t *)w, op, val, t, NULL, 0);
}

/* Shared by the helper thread and the description that registered (two
 * references: whoever lets go last frees it). */
struct mq_helper {
    _Atomic int refs;
    struct mq_side *side; /* mapped for the helper: the queue may close first */
    int side_fd;
    uint64_t token;
    _Atomic int cancel;
    void (*fn)(union sigval);
    union sigval value;
};

/* The SIGEV_THREAD helper: waits until its registration fires (then runs
 * the function, as the new thread glibc would start) or is withdrawn. */
static void helper_put(struct mq_helper *h)
{
    if (atomic_fetch_sub(&h->refs, 1) == 1)
        free(h);
}

static void *helper_main(void *arg)
{
    struct mq_helper *h = arg;
    for (;;) {
        uint32_t seq = atomic_load(&h->side->fire_seq);
        if (atomic_load(&h->side->fired_token) == h->token) {
            if (!atomic_load(&h->cancel))
                h->fn(h->value);
            break;
        }
        uint64_t reg = atomic_load(&h->side->reg);
        if (atomic_load(&h->cancel) || (reg != h->token && reg != MQ_REG_WRITING))
            break; /* withdrawn (WRITING: our registration being written) */
        struct timespec t = {0, 100000000}; /* looks again at least every 100 ms */
        futex(&h->side->fire_seq, FUTEX_WAIT, seq, &t);
    }
    mq_side_close(h->side_fd, h->side);
    helper_put(h);
    return NULL;
}

static void wake_all(struct mq_side *s)
{
    atomic_fetch_add(&s->fire_seq, 1);
    futex(&s->fire_seq, FUTEX_WAKE, INT32_MAX, NULL);
}

/* Withdraws the registration d made, if it still holds it, and lets go of
 * what it kept for it. */
void mq_notify_drop(struct mq_desc *d)
{
    if (d->token) {
        uint64_t t = d->token;
        atomic_compare_exchange_strong(&d->side->reg, &t, MQ_REG_NONE);
    }
    if (d->helper) {
        atomic_store(&d->helper->cancel, 1);
        wake_all(d->side);
        helper_put(d->helper);
    }
    if (d->alive_box)
        mbx_close(d->alive_box); /* the owned mailbox goes with it */
    d->alive_box = NULL;
    d->helper = NULL;
    d->token = 0;
}

static int start_helper(struct mq_desc *d, const struct sigevent *sev, uint64_t token)
{
    struct mq_helper *h = calloc(1, sizeof(*h));
    if (!h)
        return ENOMEM;
    atomic_store(&h->refs, 2);
    h->token = token;
    h->fn = sev->sigev_notify_function;
    h->value = sev->sigev_value;
    h->side_fd = dup(d->side_fd); /* its own mapping: the queue may close first */
    h->side = h->side_fd < 0 ? NULL : mq_side_map(h->side_fd);
    if (!h->side) {
        if (h->side_fd >= 0)
            close(h->side_fd);
        free(h);
        return ENOMEM;
    }
    pthread_attr_t def, *a = sev->sigev_notify_attributes;
    if (!a) {
        pthread_attr_init(&def);
        a = &def;
    }
    pthread_attr_setdetachstate(a, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    d->helper = h;
    int r = pthread_create(&t, a, helper_main, h);
    if (a == &def)
        pthread_attr_destroy(&def);
    if (r != 0) {
        d->helper = NULL;
        mq_side_close(h->side_fd, h->side);
        free(h);
    }
    return r;
}

/* mq_notify(3): registers this process for one notification when a message
 * arrives in the empty queue (sev NULL: withdraws its registration).
 * Returns 0, or -1 with errno EBADF, EBUSY (another live process, or this
 * one, is registered), EINVAL (sigev_notify, or a signal number outside
 * 0..NSIG-1: 0 registers, as Linux's does, and fires no signal), ENOMEM,
 * EAGAIN (no thread), or an errno of the mailbox that proves it lives. */
MQ_API int mbxmq_notify(mqd_t q, const struct sigevent *sev)
{
    struct mq_desc *d = mq_lookup(q);
    if (!d)
        return -1;
    struct mq_side *s = d->side;
    if (!sev) {
        uint64_t cur = atomic_load(&s->reg);
        if (cur > MQ_REG_WRITING && s->reg_pid == getpid() && d->token != cur) {
            /* registered through another descriptor of this process */
            atomic_compare_exchange_strong(&s->reg, &cur, MQ_REG_NONE);
            wake_all(s);
        }
        mq_notify_drop(d);
        return 0;
    }
    if (sev->sigev_notify != SIGEV_NONE && sev->sigev_notify != SIGEV_SIGNAL &&
        sev->sigev_notify != SIGEV_THREAD)
        return mq_fail(EINVAL);
    if (sev->sigev_notify == SIGEV_SIGNAL && (sev->sigev_signo < 0 || sev->sigev_signo >= NSIG))
        return mq_fail(EINVAL);
    /* A registration whose registrant died is free. */
    uint64_t cur = atomic_load(&s->reg);
    if (cur > MQ_REG_WRITING && !registrant_alive(cur, s->reg_pid))
        atomic_compare_exchange_strong(&s->reg, &cur, MQ_REG_NONE);
    if (atomic_load(&s->reg) != MQ_REG_NONE)
        return mq_fail(EBUSY);
    mq_notify_drop(d); /* what an earlier, fired registration left */
    uint64_t token = 0;
    while (token <= MQ_REG_WRITING)
        if (getrandom(&token, sizeof(token), 0) != sizeof(token))
            return mq_fail(EAGAIN);
    char name[64];
    box_name(token, name, sizeof(name));
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 1;
    a.max_msg_size = 1;
    a.mode = 0644 & ~0022u; /* others only look at it */
    int r = mbx_open(name, MBX_CREATE | MBX_EXCL | MBX_OWNED | MBX_RECV, &a, &d->alive_box);
    if (r < 0)
        return mq_fail(r);
    uint64_t none = MQ_REG_NONE;
    if (!atomic_compare_exchange_strong(&s->reg, &none, MQ_REG_WRITING)) {
        mbx_close(d->alive_box);
        d->alive_box = NULL;
        return mq_fail(EBUSY);
    }
    s->reg_pid = getpid();
    s->reg_notify = sev->sigev_notify;
    s->reg_signo = sev->sigev_signo;
    uint64_t v = 0;
    memcpy(&v, &sev->sigev_value, sizeof(sev->sigev_value) < 8 ? sizeof(sev->sigev_value) : 8);
    s->reg_value = v;
    d->token = token;
    if (sev->sigev_notify == SIGEV_THREAD && (r = start_helper(d, sev, token)) != 0) {
        atomic_store(&s->reg, MQ_REG_NONE);
        mq_notify_drop(d);
        return mq_fail(r == ENOMEM ? ENOMEM : EAGAIN);
    }
    atomic_store(&s->reg, token);
    return 0;
}

/* After a successful send on d: fires the registration when the message
 * went into an empty queue and no receiver is blocked. Costs one load of
 * the side file when nobody is registered. */
void mq_notify_after_send(struct mq_desc *d)
{
    struct mq_side *s = d->side;
    uint64_t token = atomic_load_explicit(&s->reg, memory_order_acquire);
    if (token <= MQ_REG_WRITING || mq_blocked_any(s))
        return;
    mbx_stat st;
    if (mbx_stat_get(d->h, &st) < 0 || st.count != 1)
        return; /* the queue was not empty before this message */
    int32_t pid = s->reg_pid, how = s->reg_notify, signo = s->reg_signo;
    uint64_t value = s->reg_value;
    if (!atomic_compare_exchange_strong(&s->reg, &token, MQ_REG_NONE))
        return; /* someone else fired or withdrew it */
    if (!registrant_alive(token, pid))
        return; /* its process died: the registration just goes */
    if (how == SIGEV_SIGNAL && signo > 0 && signo < NSIG) {
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        si.si_signo = signo;
        si.si_code = SI_MESGQ;
        si.si_pid = getpid();
        si.si_uid = getuid();
        memcpy(&si.si_value, &value, sizeof(si.si_value) < 8 ? sizeof(si.si_value) : 8);
        syscall(SYS_rt_sigqueueinfo, pid, signo, &si);
    } else if (how == SIGEV_THREAD) {
        atomic_store(&s->fired_token, token);
        wake_all(s);
    }
}
