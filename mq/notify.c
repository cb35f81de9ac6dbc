/* mq_notify: one registration per queue, kept in the side file so every
 * process sees it.
 *
 * The registrant proves it is alive with an owned mailbox (MBX_OWNED: mbx
 * removes it when the process ends in any way, kill -9 included), whose
 * owner must be the registered pid: a registration whose mailbox is gone
 * belongs to a dead process and is free for another.
 *
 * The sender whose message lands in an empty queue while no receiver is
 * blocked marks the registration fired (compare-and-swap of its token to
 * token | MQ_REG_FIRED, its pid and uid written beside it first) and wakes
 * the registrant's thread through a futex in the side file. That thread,
 * started by mq_notify in the registrant's own process, takes the fired
 * registration (swap to none: the slot is free again before the
 * notification, so a handler may register again at once) and delivers:
 * SIGEV_SIGNAL by queueing the signal to its own process (si_code
 * SI_MESGQ, the sender's pid and uid, sigev_value), as the kernel would;
 * SIGEV_THREAD by calling the function. A fired registration stays in the
 * word until its thread takes it, however slow the thread, so none is
 * lost; one whose registrant died is freed by the next mq_notify.
 *
 * Senders never signal anyone. Whoever may use the queue at all may write
 * the side file, so a registration read there proves nothing; had senders
 * signalled the pid it names, a forged one would have made them signal
 * any process they may (SIGKILL included). Now what a forger can do is
 * wake the threads waiting on the queue, and make a registrant of this
 * queue get the notification it asked for (its signal, its value, from
 * its own memory) with a false sender pid and uid: as if a message had
 * come. And, unlike a sender's signal, this works across users, as the
 * kernel's queues do. */
#include "mq_internal.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* What a registration is: the mailbox that proves it lives is named after
 * it. */
struct mq_reg {
    uint64_t token;
    int32_t pid, how, signo;
    uint64_t value;
};

/* The name of the registrant's mailbox for r on the queue whose side file
 * is open on side_fd. Returns 0, or -1 when side_fd cannot be looked at. */
static int box_name(const struct mq_reg *r, int side_fd, char *out, size_t cap)
{
    struct stat st;
    if (fstat(side_fd, &st) < 0)
        return -1;
    int w = snprintf(out, cap, "%s%016llx.%x.%x.%x.%llx.%llx.%llx", MQ_NOTIFY_PREFIX,
                     (unsigned long long)r->token, (unsigned)r->pid, (unsigned)r->how,
                     (unsigned)r->signo, (unsigned long long)r->value,
                     (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    return w > 0 && (size_t)w < cap ? 0 : -1;
}

/* The registration the side file names (its fields as written there). */
static struct mq_reg reg_of(const struct mq_side *s, uint64_t token)
{
    struct mq_reg r = {token, s->reg_pid, s->reg_notify, s->reg_signo, s->reg_value};
    return r;
}

/* Returns 1 when the registrant of r is alive: its owned mailbox exists
 * and is owned by r's pid, and the thread that delivers for it (tid, 0:
 * none or not known) is still there: after an exec the process lives on
 * without it, and its registration would hold the queue's slot for ever
 * (the kernel drops it: exec closes queue descriptors). */
static int registrant_alive(const struct mq_reg *r, int side_fd, int32_t tid)
{
    char name[MQ_MBX_NAME_MAX], task[64];
    mbx_stat st;
    struct stat sb;
    if (r->pid <= 0 || box_name(r, side_fd, name, sizeof(name)) != 0 ||
        mbx_stat_name(name, &st) != 0 || st.owner_pid != r->pid)
        return 0;
    snprintf(task, sizeof(task), "/proc/%d/task/%d", (int)r->pid, (int)tid);
    return tid <= 0 || stat(task, &sb) == 0 || errno != ENOENT;
}

static long futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *t)
{
    return syscall(SYS_futex, (uint32_t *)w, op, val, t, NULL, 0);
}

static void wake_all(struct mq_side *s)
{
    atomic_fetch_add(&s->fire_seq, 1);
    futex(&s->fire_seq, FUTEX_WAKE, INT32_MAX, NULL);
}

/* The token of registration word value v (fired or not). */
static uint64_t token_of(uint64_t v)
{
    return v & ~MQ_REG_FIRED;
}

/* Shared by the thread and the description that registered (two
 * references: whoever lets go last frees it). What it delivers comes from
 * here, the registrant's own memory, never from the side file. */
struct mq_helper {
    _Atomic int refs;
    struct mq_side *side; /* mapped for the thread: the queue may close first */
    int side_fd;
    uint64_t token;
    /* HELPER_WAITING until the thread decides to deliver (DELIVERING, then
     * DONE) or the registration is withdrawn first (CANCELLED): one
     * compare-and-swap each, so a withdrawal either stops the delivery or
     * knows it was decided before (mq_notify_drop). */
    _Atomic uint32_t state;
    pid_t pid;           /* the process the thread runs in (a forked child has none) */
    _Atomic int32_t tid; /* the thread's, once it runs */
    int how;             /* SIGEV_SIGNAL or SIGEV_THREAD */
    int signo;
    void (*fn)(union sigval);
    union sigval value;
};

enum { HELPER_WAITING, HELPER_DELIVERING, HELPER_DONE, HELPER_CANCELLED };

static void helper_put(struct mq_helper *h)
{
    if (atomic_fetch_sub(&h->refs, 1) == 1)
        free(h);
}

/* Delivers h's notification, fired by a sender of pid and uid. */
static void deliver(const struct mq_helper *h, int32_t pid, uint32_t uid)
{
    if (h->how == SIGEV_THREAD) {
        h->fn(h->value);
        return;
    }
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    si.si_signo = h->signo;
    si.si_code = SI_MESGQ;
    si.si_pid = pid;
    si.si_uid = uid;
    si.si_value = h->value;
    /* To this process (any thread that does not block the signal: never
     * this one); a negative si_code is the kernel's word for "not kill". */
    syscall(SYS_rt_sigqueueinfo, getpid(), h->signo, &si);
}

/* The registrant's thread: waits until its registration fires (then takes
 * it and delivers it) or is withdrawn. */
static void *helper_main(void *arg)
{
    struct mq_helper *h = arg;
    /* Which thread delivers, for mq_notify to write beside the
     * registration before it returns (an exec right after must find it
     * gone). */
    atomic_store(&h->tid, (int32_t)syscall(SYS_gettid));
    futex((_Atomic uint32_t *)&h->tid, FUTEX_WAKE, INT32_MAX, NULL);
    uint64_t reg;
    pthread_setname_np(pthread_self(), "mbx-mq-notify"); /* for top -H, perf, gdb */
    for (;;) {
        uint32_t seq = atomic_load(&h->side->fire_seq);
        if (atomic_load(&h->state) == HELPER_CANCELLED)
            break;
        reg = atomic_load(&h->side->reg);
        if (reg == (h->token | MQ_REG_FIRED)) {
            /* The sender wrote these before it marked the word. */
            int32_t pid = h->side->fired_pid;
            uint32_t uid = h->side->fired_uid;
            uint32_t waiting = HELPER_WAITING;
            if (atomic_compare_exchange_strong(&h->side->reg, &reg, MQ_REG_NONE) &&
                atomic_compare_exchange_strong(&h->state, &waiting, HELPER_DELIVERING)) {
                deliver(h, pid, uid);
                atomic_store(&h->state, HELPER_DONE);
                futex(&h->state, FUTEX_WAKE, INT32_MAX, NULL);
            }
            break;
        }
        if (reg != h->token && reg != MQ_REG_WRITING_BY(h->pid))
            break; /* withdrawn (WRITING_BY us: our registration being written) */
        struct timespec t = {0, 100000000}; /* looks again at least every 100 ms */
        futex(&h->side->fire_seq, FUTEX_WAIT, seq, &t);
    }
    mq_side_close(h->side_fd, h->side);
    helper_put(h);
    return NULL;
}

/* Stops h's thread from delivering, unless it decided to first. A signal
 * it decided to send is sent before this returns (as the kernel's
 * notification, it is then pending or handled already: none comes after
 * a withdrawal); a SIGEV_THREAD function it decided to call may still be
 * running, or about to (as glibc's, whose function runs on a thread of its
 * own), and is not waited for: it may be what withdraws, or wait for the
 * withdrawing thread. Nor is anything waited for in a forked child (the
 * thread is the parent's) or on the thread itself. Lets go of h. */
static void helper_cancel(struct mq_helper *h, struct mq_side *side)
{
    uint32_t st = HELPER_WAITING;
    if (atomic_compare_exchange_strong(&h->state, &st, HELPER_CANCELLED)) {
        wake_all(side);
    } else if (h->how == SIGEV_SIGNAL && h->pid == getpid() &&
               atomic_load(&h->tid) != (int32_t)syscall(SYS_gettid)) {
        while ((st = atomic_load(&h->state)) == HELPER_DELIVERING)
            futex(&h->state, FUTEX_WAIT, st, NULL);
    }
    helper_put(h);
}

/* Withdraws the registration d made, if it still holds it, and lets go of
 * what it kept for it. */
void mq_notify_drop(struct mq_desc *d)
{
    if (!d->helper && !d->alive_box && !d->token)
        return; /* nothing registered: no system call (every mq_close comes here) */
    /* Signals held off until the end: the signal a withdrawal waits for
     * (helper_cancel) would otherwise be handled inside it, by this
     * thread, and a handler that registers again (as it may) would find
     * this registration half withdrawn (its helper let go of twice, its
     * own new registration undone when we go on). It runs when we return,
     * as after the kernel's withdrawal. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    struct mq_helper *h = d->helper;
    mbx *alive = d->alive_box;
    uint64_t token = d->token;
    d->helper = NULL;
    d->alive_box = NULL;
    d->token = 0;
    if (token) {
        uint64_t t = token, fired = token | MQ_REG_FIRED;
        if (!atomic_compare_exchange_strong(&d->side->reg, &t, MQ_REG_NONE))
            atomic_compare_exchange_strong(&d->side->reg, &fired, MQ_REG_NONE);
    }
    if (h)
        helper_cancel(h, d->side);
    if (alive)
        mbx_close(alive); /* the owned mailbox goes with it */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* A number of d's queue was closed by this process (mq_close, close,
 * dup2 over it...): as Linux's flush at every close, the process's
 * registration on the queue goes, whichever of its descriptions made it
 * (one that fired already is the thread's to deliver). One load of the
 * side file when nobody is registered. */
void mq_notify_closed(struct mq_desc *d)
{
    struct mq_side *s = d->side;
    uint64_t cur = atomic_load(&s->reg);
    if (cur <= MQ_REG_WRITING_MAX || (cur & MQ_REG_FIRED) || s->reg_pid != (int32_t)getpid())
        return;
    struct mq_desc *r = mq_table_registrant(d, token_of(cur));
    if (r) {
        mq_notify_drop(r);
        mq_put(r);
    }
}

/* Starts the thread that delivers d's registration `token`, with every
 * signal blocked (a process-directed signal, its own included, goes to
 * another thread; glibc's notification threads block them too). Returns
 * 0 or an errno. */
static int start_helper(struct mq_desc *d, const struct sigevent *sev, uint64_t token)
{
    struct mq_helper *h = calloc(1, sizeof(*h));
    if (!h)
        return ENOMEM;
    atomic_store(&h->refs, 2);
    h->token = token;
    h->pid = getpid();
    h->how = sev->sigev_notify;
    h->signo = sev->sigev_signo;
    h->fn = sev->sigev_notify_function;
    h->value = sev->sigev_value;
    /* Its own descriptor and mapping (the queue may close first), not
     * inherited by a program the process executes. */
    h->side_fd = fcntl(d->side_fd, F_DUPFD_CLOEXEC, 0);
    h->side = h->side_fd < 0 ? NULL : mq_side_map(h->side_fd);
    if (!h->side) {
        if (h->side_fd >= 0)
            close(h->side_fd);
        free(h);
        return ENOMEM;
    }
    pthread_attr_t def, *a = NULL;
    if (sev->sigev_notify == SIGEV_THREAD)
        a = sev->sigev_notify_attributes;
    if (!a) {
        pthread_attr_init(&def);
        a = &def;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    d->helper = h;
    int r = pthread_create(&t, a, helper_main, h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r == 0) {
        pthread_detach(t); /* not through the attributes: they are the caller's */
        while (atomic_load(&h->tid) == 0)
            futex((_Atomic uint32_t *)&h->tid, FUTEX_WAIT, 0, NULL);
        atomic_store(&d->side->reg_tid, atomic_load(&h->tid));
    }
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
static int notify_on(struct mq_desc *d, const struct sigevent *sev);

MQ_API int mbxmq_notify(mqd_t q, const struct sigevent *sev)
{
    struct mq_desc *d = mq_lookup(q);
    if (!d)
        return -1;
    int r = notify_on(d, sev);
    mq_put(d);
    return r;
}

static int notify_on(struct mq_desc *d, const struct sigevent *sev)
{
    struct mq_side *s = d->side;
    if (!sev) {
        uint64_t cur = atomic_load(&s->reg);
        if (cur > MQ_REG_WRITING_MAX && s->reg_pid == getpid() && d->token != token_of(cur)) {
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
    /* A registration whose registrant died is free; so is one a process
     * killed while writing it left half written: its writer is gone, or
     * none is named (no mq_notify of this version leaves that). Our own
     * pid there is another thread of ours writing. */
    uint64_t cur = atomic_load(&s->reg);
    struct mq_reg old = reg_of(s, token_of(cur));
    if (cur > MQ_REG_WRITING_MAX && !registrant_alive(&old, d->side_fd, atomic_load(&s->reg_tid)))
        atomic_compare_exchange_strong(&s->reg, &cur, MQ_REG_NONE);
    int32_t writer = MQ_REG_WRITER(cur);
    if (cur != MQ_REG_NONE && cur <= MQ_REG_WRITING_MAX && writer != (int32_t)getpid() &&
        (writer <= 0 || (kill((pid_t)writer, 0) < 0 && errno == ESRCH)))
        atomic_compare_exchange_strong(&s->reg, &cur, MQ_REG_NONE);
    if (atomic_load(&s->reg) != MQ_REG_NONE)
        return mq_fail(EBUSY);
    mq_notify_drop(d); /* what an earlier, fired registration left */
    uint64_t token = 0;
    while (token <= MQ_REG_WRITING_MAX)
        if (getrandom(&token, sizeof(token), 0) != sizeof(token))
            return mq_fail(EAGAIN);
        else
            token &= ~MQ_REG_FIRED;
    uint64_t v = 0;
    memcpy(&v, &sev->sigev_value, sizeof(sev->sigev_value) < 8 ? sizeof(sev->sigev_value) : 8);
    struct mq_reg mine = {token, (int32_t)getpid(), sev->sigev_notify, sev->sigev_signo, v};
    char name[MQ_MBX_NAME_MAX];
    if (box_name(&mine, d->side_fd, name, sizeof(name)) != 0)
        return mq_fail(EBADF);
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 1;
    a.max_msg_size = 1;
    a.mode = 0644 & ~0022u; /* others only look at it */
    int r = mbx_open(name, MBX_CREATE | MBX_EXCL | MBX_OWNED | MBX_RECV, &a, &d->alive_box);
    if (r < 0)
        return mq_fail(r);
    /* The word and who writes it in one step: no kill leaves it taken by
     * nobody known (killed from here on: recoverable). */
    uint64_t none = MQ_REG_NONE;
    if (!atomic_compare_exchange_strong(&s->reg, &none, MQ_REG_WRITING_BY(getpid()))) {
        mbx_close(d->alive_box);
        d->alive_box = NULL;
        return mq_fail(EBUSY);
    }
    atomic_store(&s->reg_tid, 0); /* its thread's, once started (start_helper) */
    s->reg_pid = mine.pid;
    s->reg_notify = mine.how;
    s->reg_signo = mine.signo;
    s->reg_value = v;
    d->token = token;
    int delivered = sev->sigev_notify == SIGEV_THREAD ||
                    (sev->sigev_notify == SIGEV_SIGNAL && sev->sigev_signo != 0);
    if (delivered && (r = start_helper(d, sev, token)) != 0) {
        atomic_store(&s->reg, MQ_REG_NONE);
        mq_notify_drop(d);
        return mq_fail(r == ENOMEM ? ENOMEM : EAGAIN);
    }
    atomic_store(&s->reg, token);
    return 0;
}

/* Before a send on d: when a registration is there, whether the queue is
 * empty now. One load of the side file when nobody is registered. */
void mq_notify_before_send(struct mq_desc *d, struct mq_presend *p)
{
    p->token = atomic_load_explicit(&d->side->reg, memory_order_acquire);
    p->empty = 0;
    mbx_stat st;
    if (p->token > MQ_REG_WRITING_MAX && !(p->token & MQ_REG_FIRED))
        p->empty = mbx_stat_get(d->h, &st) == 0 && st.count == 0;
}

/* After a successful send on d: fires the registration when the message
 * went into an empty queue and no receiver is blocked. Costs one load of
 * the side file when nobody is registered; when somebody is, the mark in
 * the registration word and a futex wake, for the registrant's thread to
 * deliver (this process signals nobody).
 *
 * "Into an empty queue": the queue was empty before this send, under the
 * registration there then (p); or it holds only this message now. The
 * count after the send alone missed senders whose messages landed
 * together in the empty queue (each saw 2): now the one whose message was
 * first saw 0 before it, every sender that did so marks the same
 * registration, and one mark wins. A registration made after our look
 * before the send is not the one that was there when the queue was empty:
 * it fires only from the count after. Nor does a send whose message a
 * receiver took (the count after is 0). */
void mq_notify_after_send(struct mq_desc *d, const struct mq_presend *p)
{
    struct mq_side *s = d->side;
    uint64_t token = atomic_load_explicit(&s->reg, memory_order_acquire);
    if (token <= MQ_REG_WRITING_MAX || (token & MQ_REG_FIRED) || mq_blocked_any(s))
        return;
    mbx_stat st;
    if (mbx_stat_get(d->h, &st) < 0 || st.count == 0)
        return; /* a receiver took it */
    if (st.count != 1 && !(p->empty && p->token == token))
        return; /* the queue was not empty before this message */
    /* Who sent it, beside the word, before the mark that tells the thread
     * to read it (a sender racing us for the mark may overwrite it: the
     * signal then names that sender, who sent a message too). */
    s->fired_pid = (int32_t)getpid();
    s->fired_uid = (uint32_t)getuid();
    int threadless =
        s->reg_notify == SIGEV_NONE || (s->reg_notify == SIGEV_SIGNAL && s->reg_signo == 0);
    uint64_t next = threadless ? MQ_REG_NONE : token | MQ_REG_FIRED;
    if (atomic_compare_exchange_strong(&s->reg, &token, next) && !threadless)
        wake_all(s);
}
