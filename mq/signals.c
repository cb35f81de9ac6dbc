/* Knowing that a signal handler ran during a wait.
 *
 * Linux ends a blocked mq_send or mq_receive with EINTR when a handler
 * installed without SA_RESTART runs at any moment of it. mbx's waits learn
 * of a handler only when it cuts short their futex sleep, not when it runs
 * while they spin or between two sleeps: then the call went on, and a
 * program that signals a blocked sender and waits for EINTR hung.
 *
 * So the shim puts a small handler of its own in front of each handler the
 * program installs through sigaction or signal: it counts, per thread, the
 * handlers without SA_RESTART that ran there, then calls the program's as
 * the kernel would have. A wait notes the count when it begins and looks
 * again whenever one of mbx's waits returns. Every way glibc offers to
 * install a handler is interposed (sigaction, __sigaction, signal,
 * bsd_signal, ssignal, sysv_signal, __sysv_signal, sigset, siginterrupt);
 * a handler installed around them (a raw system call, or before the shim
 * was loaded) is fronted when the next queue is opened (mq_signals_adopt).
 * What it does not see: a handler installed by a raw system call after the
 * last mq_open (for those the old rule stands: mq_restart_after_eintr),
 * and anything on targets other than x86_64, where the shim interposes
 * nothing (MQ_INTERPOSED). */
#include "mq_internal.h"

#if MQ_INTERPOSED

#include <dlfcn.h>
#include <string.h>

/* The program's handler of each signal, as it gave it: a function (with
 * SA_SIGINFO, a sa_sigaction) and its flags. Read by front() at any time:
 * atomics. */
static struct {
    _Atomic(void *) fn;
    _Atomic int flags;
} program[_NSIG];

/* Handlers without SA_RESTART that ran on this thread (initial-exec: a
 * signal handler must not make the first touch allocate). */
static __thread unsigned interrupts __attribute__((tls_model("initial-exec")));

unsigned mq_interrupts(void)
{
    return __atomic_load_n(&interrupts, __ATOMIC_SEQ_CST);
}

/* Signals a thread raises itself by a fault: their handlers are left as
 * they are (sanitizers and test frameworks catch them; no wait is ever
 * interrupted by one). */
static int fault(int sig)
{
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP ||
           sig == SIGSYS;
}

static void front(int sig, siginfo_t *si, void *uc)
{
    int flags = atomic_load(&program[sig].flags);
    void *fn = atomic_load(&program[sig].fn);
    if (!(flags & SA_RESTART))
        __atomic_add_fetch(&interrupts, 1, __ATOMIC_SEQ_CST);
    if (flags & SA_RESETHAND) /* the kernel has set SIG_DFL back already */
        atomic_store(&program[sig].fn, (void *)SIG_DFL);
    if (fn == (void *)SIG_DFL || fn == (void *)SIG_IGN)
        return; /* changed meanwhile by another thread */
    if (flags & SA_SIGINFO)
        ((void (*)(int, siginfo_t *, void *))fn)(sig, si, uc);
    else
        ((void (*)(int))fn)(sig);
}

static void *real_sigaction_fn(void)
{
    static void *cache;
    void *f = __atomic_load_n(&cache, __ATOMIC_ACQUIRE);
    if (!f) {
        f = dlvsym(RTLD_NEXT, "sigaction", "GLIBC_2.2.5");
        if (!f)
            f = dlsym(RTLD_NEXT, "sigaction");
        __atomic_store_n(&cache, f, __ATOMIC_RELEASE);
    }
    return f;
}

/* sigaction(2): as the C library's, with front() installed in place of a
 * program's handler; what it reports as the old action is the program's
 * own. Returns 0, or -1 with errno (EINVAL). */
MQ_API int mbxmq_w_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    int (*real)(int, const struct sigaction *, struct sigaction *) =
        (int (*)(int, const struct sigaction *, struct sigaction *))real_sigaction_fn();
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    if (sig <= 0 || sig >= _NSIG || fault(sig))
        return real(sig, act, old);
    void *prev_fn = atomic_load(&program[sig].fn);
    int prev_flags = atomic_load(&program[sig].flags);
    struct sigaction mine;
    const struct sigaction *pass = act;
    void *fn = NULL;
    if (act) {
        fn = (act->sa_flags & SA_SIGINFO) ? (void *)act->sa_sigaction : (void *)act->sa_handler;
        if (fn != (void *)SIG_DFL && fn != (void *)SIG_IGN) {
            /* Known before it is installed: a signal may come at once. */
            atomic_store(&program[sig].flags, act->sa_flags);
            atomic_store(&program[sig].fn, fn);
            mine = *act;
            mine.sa_sigaction = front;
            mine.sa_flags = act->sa_flags | SA_SIGINFO;
            pass = &mine;
        }
    }
    int r = real(sig, pass, old);
    if (r < 0) {
        atomic_store(&program[sig].fn, prev_fn);
        atomic_store(&program[sig].flags, prev_flags);
        return r;
    }
    if (act && pass == act) /* SIG_DFL or SIG_IGN: nothing of ours in front */
        atomic_store(&program[sig].fn, fn);
    if (old && (old->sa_flags & SA_SIGINFO) && old->sa_sigaction == front) {
        old->sa_flags = prev_flags;
        if (prev_flags & SA_SIGINFO)
            old->sa_sigaction = (void (*)(int, siginfo_t *, void *))prev_fn;
        else
            old->sa_handler = (void (*)(int))prev_fn;
    }
    return 0;
}

/* __sigaction: glibc's other name for sigaction. */
MQ_API int mbxmq_w___sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    return mbxmq_w_sigaction(sig, act, old);
}

typedef void (*handler_fn)(int);

/* The handler of an action as a plain handler pointer (an SA_SIGINFO one
 * is reported as the pointer it is, as glibc does). */
static handler_fn handler_of(const struct sigaction *a)
{
    if (a->sa_flags & SA_SIGINFO) {
        handler_fn h;
        void (*f)(int, siginfo_t *, void *) = a->sa_sigaction;
        memcpy(&h, &f, sizeof(h));
        return h;
    }
    return a->sa_handler;
}

/* Signals siginterrupt(sig, 1) asked to interrupt: signal() installs their
 * handlers without SA_RESTART, as glibc's does. Bit sig - 1. */
static _Atomic unsigned long long interrupting;

static int valid(int sig)
{
    return sig > 0 && sig < _NSIG && sig <= 64;
}

/* Installs handler with flags and, when block_self, the signal blocked
 * while it runs. Returns the previous handler, or SIG_ERR with errno. */
static handler_fn install(int sig, handler_fn handler, int flags, int block_self)
{
    if (!valid(sig) || handler == SIG_ERR) {
        errno = EINVAL;
        return SIG_ERR;
    }
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    if (block_self)
        sigaddset(&sa.sa_mask, sig);
    sa.sa_flags = flags;
    if (mbxmq_w_sigaction(sig, &sa, &old) < 0)
        return SIG_ERR;
    return handler_of(&old);
}

/* signal(3), as glibc's (BSD semantics: SA_RESTART unless siginterrupt
 * said otherwise, the signal blocked while its handler runs), through
 * mbxmq_w_sigaction. Returns the previous handler, or SIG_ERR with errno.
 * bsd_signal and ssignal are the same function in glibc. */
MQ_API handler_fn mbxmq_w_signal(int sig, handler_fn handler)
{
    int intr = valid(sig) && (atomic_load(&interrupting) >> (sig - 1) & 1);
    return install(sig, handler, intr ? 0 : SA_RESTART, 1);
}

MQ_API handler_fn mbxmq_w_bsd_signal(int sig, handler_fn handler)
{
    return mbxmq_w_signal(sig, handler);
}

MQ_API handler_fn mbxmq_w_ssignal(int sig, handler_fn handler)
{
    return mbxmq_w_signal(sig, handler);
}

/* sysv_signal(3) (what signal() is in a strict ISO C program: glibc
 * redirects it to __sysv_signal): the handler runs once (SA_RESETHAND),
 * the signal not blocked meanwhile, no SA_RESTART. Returns the previous
 * handler, or SIG_ERR with errno. */
MQ_API handler_fn mbxmq_w_sysv_signal(int sig, handler_fn handler)
{
    return install(sig, handler, SA_RESETHAND | SA_NODEFER, 0);
}

MQ_API handler_fn mbxmq_w___sysv_signal(int sig, handler_fn handler)
{
    return mbxmq_w_sysv_signal(sig, handler);
}

/* sigset(3) (System V): SIG_HOLD blocks the signal; any other disposition
 * is installed without SA_RESTART and the signal unblocked. Returns
 * SIG_HOLD when the signal was blocked, else the previous disposition;
 * SIG_ERR with errno on failure. */
MQ_API handler_fn mbxmq_w_sigset(int sig, handler_fn disp)
{
    if (!valid(sig)) {
        errno = EINVAL;
        return SIG_ERR;
    }
    sigset_t one, was;
    sigemptyset(&one);
    sigaddset(&one, sig);
    struct sigaction prev;
    if (disp == SIG_HOLD) {
        if (mbxmq_w_sigaction(sig, NULL, &prev) < 0 || sigprocmask(SIG_BLOCK, &one, &was) < 0)
            return SIG_ERR;
        return sigismember(&was, sig) ? SIG_HOLD : handler_of(&prev);
    }
    handler_fn old = install(sig, disp, 0, 0);
    if (old == SIG_ERR || sigprocmask(SIG_UNBLOCK, &one, &was) < 0)
        return SIG_ERR;
    return sigismember(&was, sig) ? SIG_HOLD : old;
}

/* siginterrupt(3): flag 1 takes SA_RESTART off the signal's handler (and
 * off those signal() installs for it later), 0 puts it back. Returns 0,
 * or -1 with errno (EINVAL). */
MQ_API int mbxmq_w_siginterrupt(int sig, int flag)
{
    if (!valid(sig)) {
        errno = EINVAL;
        return -1;
    }
    struct sigaction a;
    if (mbxmq_w_sigaction(sig, NULL, &a) < 0)
        return -1;
    if (flag) {
        atomic_fetch_or(&interrupting, 1ULL << (sig - 1));
        a.sa_flags &= ~SA_RESTART;
    } else {
        atomic_fetch_and(&interrupting, ~(1ULL << (sig - 1)));
        a.sa_flags |= SA_RESTART;
    }
    return mbxmq_w_sigaction(sig, &a, NULL);
}

void mq_signals_adopt(void)
{
    int (*real)(int, const struct sigaction *, struct sigaction *) =
        (int (*)(int, const struct sigaction *, struct sigaction *))real_sigaction_fn();
    if (!real)
        return;
    for (int sig = 1; sig < _NSIG; sig++) {
        if (fault(sig) || sig == SIGKILL || sig == SIGSTOP)
            continue;
        struct sigaction cur;
        if (real(sig, NULL, &cur) < 0)
            continue;
        void *fn = (cur.sa_flags & SA_SIGINFO) ? (void *)cur.sa_sigaction : (void *)cur.sa_handler;
        if (fn == (void *)SIG_DFL || fn == (void *)SIG_IGN || fn == (void *)front)
            continue;
        /* Taken only if no interposed call changed the signal meanwhile
         * (that call installs front() itself). */
        void *seen = atomic_load(&program[sig].fn);
        if (!atomic_compare_exchange_strong(&program[sig].fn, &seen, fn))
            continue;
        atomic_store(&program[sig].flags, cur.sa_flags);
        struct sigaction mine = cur;
        mine.sa_sigaction = front;
        mine.sa_flags = cur.sa_flags | SA_SIGINFO;
        real(sig, &mine, NULL);
    }
}

__asm__(".symver mbxmq_w_sigaction, sigaction@@GLIBC_2.2.5");
__asm__(".symver mbxmq_w___sigaction, __sigaction@@GLIBC_2.2.5");
__asm__(".symver mbxmq_w_signal, signal@@GLIBC_2.2.5");
__asm__(".symver mbxmq_w_bsd_signal, bsd_signal@@GLIBC_2.2.5");
__asm__(".symver mbxmq_w_ssignal, ssignal@@GLIBC_2.2.5");
__asm__(".symver mbxmq_w_sysv_signal, sysv_signal@@GLIBC_2.2.5");
__asm__(".symver mbxmq_w___sysv_signal, __sysv_signal@@GLIBC_2.2.5");
__asm__(".symver mbxmq_w_sigset, sigset@@GLIBC_2.2.5");
__asm__(".symver mbxmq_w_siginterrupt, siginterrupt@@GLIBC_2.2.5");

#else

unsigned mq_interrupts(void)
{
    return 0;
}

void mq_signals_adopt(void)
{
}

#endif
