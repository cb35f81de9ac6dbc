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
 * again whenever one of mbx's waits returns. What it does not see: handlers
 * installed by raw system calls, through siginterrupt, sigset,
 * sysv_signal, or before the shim was loaded (for those the old rule
 * stands: mq_restart_after_eintr), and on targets other than x86_64,
 * where the shim interposes nothing (MQ_INTERPOSED). */
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

/* signal(3), as glibc's (BSD semantics: SA_RESTART, the signal blocked
 * while its handler runs), through mbxmq_w_sigaction. Returns the previous
 * handler, or SIG_ERR with errno. */
MQ_API void (*mbxmq_w_signal(int sig, void (*handler)(int)))(int)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    if (sig > 0 && sig < _NSIG)
        sigaddset(&sa.sa_mask, sig);
    sa.sa_flags = SA_RESTART;
    if (mbxmq_w_sigaction(sig, &sa, &old) < 0)
        return SIG_ERR;
    if (old.sa_flags & SA_SIGINFO) { /* reported as the pointer it is */
        void (*h)(int);
        void (*f)(int, siginfo_t *, void *) = old.sa_sigaction;
        memcpy(&h, &f, sizeof(h));
        return h;
    }
    return old.sa_handler;
}

__asm__(".symver mbxmq_w_sigaction, sigaction@@GLIBC_2.2.5");
__asm__(".symver mbxmq_w_signal, signal@@GLIBC_2.2.5");

#else

unsigned mq_interrupts(void)
{
    return 0;
}

#endif
