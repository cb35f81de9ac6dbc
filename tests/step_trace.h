/* Walking a call one instruction at a time in a traced child, for the
 * kill_every_step tests (x86-64: the instruction pointer is read). The
 * child calls PTRACE_TRACEME and stops itself (SIGSTOP); the parent runs
 * it to the entry of the walked function (trace_run_to), steps it k
 * instructions (trace_step) and kills it. */
#ifndef MBX_TEST_STEP_TRACE_H
#define MBX_TEST_STEP_TRACE_H

#include "test_util.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>

/* Waits for the traced child p to stop; returns the stop signal, or -1
 * when it ended. */
static inline int trace_stopped(pid_t p)
{
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    return WIFSTOPPED(st) ? WSTOPSIG(st) : -1;
}

/* Puts a breakpoint at the entry of fn in traced child p (stopped).
 * Returns the word it replaced, for trace_unbreak. */
static inline long trace_break(pid_t p, uintptr_t fn)
{
    errno = 0;
    long orig = ptrace(PTRACE_PEEKTEXT, p, (void *)fn, NULL);
    assert_int_equal(errno, 0);
    long trap = (long)(((unsigned long)orig & ~0xfful) | 0xccul);
    assert_int_equal(ptrace(PTRACE_POKETEXT, p, (void *)fn, (void *)trap), 0);
    return orig;
}

/* Traced child p stopped at the breakpoint at fn: takes the breakpoint
 * out (orig: what trace_break returned) and puts p back at fn's entry.
 * Fills *regs with p's registers there. */
static inline void trace_unbreak(pid_t p, uintptr_t fn, long orig, struct user_regs_struct *regs)
{
    assert_int_equal(ptrace(PTRACE_GETREGS, p, NULL, regs), 0);
    assert_true(regs->rip == fn + 1);
    assert_int_equal(ptrace(PTRACE_POKETEXT, p, (void *)fn, (void *)orig), 0);
    regs->rip = fn;
    assert_int_equal(ptrace(PTRACE_SETREGS, p, NULL, regs), 0);
}

/* Runs traced child p (stopped at its start) to the entry of fn with a
 * breakpoint. Returns the return address and stack pointer at entry. */
static inline void trace_run_to(pid_t p, uintptr_t fn, uintptr_t *ret, uintptr_t *sp)
{
    long orig = trace_break(p, fn);
    assert_int_equal(ptrace(PTRACE_CONT, p, NULL, NULL), 0);
    assert_int_equal(trace_stopped(p), SIGTRAP);
    struct user_regs_struct regs;
    trace_unbreak(p, fn, orig, &regs);
    errno = 0;
    *ret = (uintptr_t)ptrace(PTRACE_PEEKDATA, p, (void *)regs.rsp, NULL);
    assert_int_equal(errno, 0);
    *sp = regs.rsp;
}

/* Steps traced child p up to k instructions from the entry of the
 * walked function. Returns how many it took to return from it, or 0 when it did not
 * within k. */
static inline long trace_step(pid_t p, long k, uintptr_t ret, uintptr_t sp)
{
    for (long i = 0; i < k; i++) {
        assert_int_equal(ptrace(PTRACE_SINGLESTEP, p, NULL, NULL), 0);
        assert_int_equal(trace_stopped(p), SIGTRAP);
        struct user_regs_struct regs;
        assert_int_equal(ptrace(PTRACE_GETREGS, p, NULL, &regs), 0);
        if (regs.rip == ret && regs.rsp == sp + 8)
            return i + 1;
    }
    return 0;
}

/* Traced child p, stopped at its start (SIGSTOP after PTRACE_TRACEME):
 * runs it into fn, steps it until fn returns, and kills it there (before
 * the call that called fn goes on). Reaps it. */
static inline void trace_kill_after(pid_t p, uintptr_t fn)
{
    assert_int_equal(trace_stopped(p), SIGSTOP);
    assert_int_equal(ptrace(PTRACE_SETOPTIONS, p, NULL, (void *)(long)PTRACE_O_EXITKILL), 0);
    uintptr_t ret, sp;
    trace_run_to(p, fn, &ret, &sp);
    assert_true(trace_step(p, 100000, ret, sp) > 0);
    kill(p, SIGKILL);
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

/* Copies n bytes (a multiple of a long) at addr in traced child p into
 * out. */
static inline void trace_peek(pid_t p, const void *addr, void *out, size_t n)
{
    long *to = out;
    for (size_t i = 0; i < n / sizeof(long); i++) {
        errno = 0;
        to[i] = ptrace(PTRACE_PEEKDATA, p, (void *)((const long *)addr + i), NULL);
        assert_int_equal(errno, 0);
    }
}

/* 1 when this process may trace its children (ptrace may be refused:
 * a container's seccomp, Yama). */
static inline int trace_allowed(void)
{
    pid_t p = fork();
    if (p == 0) {
        _exit(ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0 ? 0 : 1);
    }
    int st;
    return p > 0 && waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

#endif
