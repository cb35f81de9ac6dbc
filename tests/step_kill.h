/* Killing a traced child just before each instruction of a call, cheaply
 * (the kill_every_step tests; x86-64). Single-stepping the child k
 * instructions for the kill at k (step_trace.h's trace_step) costs k traps,
 * the walk of a call of n instructions n^2/2 of them, and a single-step
 * trap costs 30-50 us on a guest whose hypervisor takes them. Here a walk
 * records the call once, the instruction pointer and stack pointer before
 * each of its instructions, stepping a child through it; the kill at k is
 * then a breakpoint at the address of instruction k, run to until its c-th
 * hit, c being how many times that address comes in instructions 0..k: c
 * traps instead of k (c is 1 for any instruction outside a loop).
 *
 * A trial whose child leaves the recorded path (a stack pointer at a hit
 * that the recording does not have, the call returning before the c-th
 * hit) is still a kill, and the caller's checks hold for it; then the call
 * is recorded again (a trial stepped through it) and walked on from the
 * first instruction where the new path differs (at k, off the path a
 * second time, the kill is stepped to, as before this header). A walk
 * ends with a trial stepped through the call, whose path must be the one
 * walked, else the walk goes on from their first difference. So every
 * instruction of the path the call takes gets its kill.
 *
 * The vDSO (clock_gettime) is run through at full speed, as one step:
 * single-stepped, its clock reading loops go round again whenever a timer
 * tick updates the clock under them, which at 30-50 us a step is often,
 * so that a stepped path changed from trial to trial after it (in
 * kill_every_step_stream_test, the old walk's kill "at k" was at
 * instruction k of a path shifted by 8-80 instructions in most trials).
 * The vDSO stores nothing but its caller's result: a kill in it is a kill
 * at its call. */
#ifndef MBX_TEST_STEP_KILL_H
#define MBX_TEST_STEP_KILL_H

#include "step_trace.h"

#include <stdlib.h>

/* A call's path: rip[i], rsp[i] before instruction i, for i in 0..n (rip[n]
 * is the return address, rsp[n] the stack pointer after the return). */
struct step_rec {
    long n, cap;
    uintptr_t *rip, *rsp;
};

/* How sk_move brings the child to instruction k. */
enum sk_mode {
    SK_STEP,  /* single steps (and records the path stepped) */
    SK_BREAK, /* a breakpoint at the recorded address of instruction k */
};

/* Where sk_move left the child. */
enum sk_result {
    SK_AT,       /* just before instruction k of the recorded (or stepped) path */
    SK_RETURNED, /* back from the call */
    SK_ELSEWHERE /* off the recorded path, somewhere in the call */
};

/* A walk's state and counts. */
struct step_kill {
    struct step_rec rec;   /* the path walked */
    struct step_rec fresh; /* the path of the last trial stepped (SK_STEP) */
    enum sk_mode mode;     /* for the next sk_move */
    enum sk_result result; /* of the last sk_move */
    long exact;            /* kills just before an instruction of the path walked */
    long by_break;         /* of them, brought there by a breakpoint */
    long off_path;         /* trials that left the recorded path (kills too) */
    long recordings;       /* trials stepped through the call to record it */
    long rewalks;          /* the path after the last kill was another: walked on */
    long walked;           /* instructions of the path walked that got their kill */
    long traps;            /* breakpoint and single-step traps taken */
};

static inline void sk_rec_put(struct step_rec *r, long i, uintptr_t rip, uintptr_t rsp)
{
    if (i >= r->cap) {
        r->cap = r->cap ? 2 * r->cap : 1024;
        while (r->cap <= i)
            r->cap *= 2;
        r->rip = realloc(r->rip, (size_t)r->cap * sizeof(*r->rip));
        r->rsp = realloc(r->rsp, (size_t)r->cap * sizeof(*r->rsp));
        assert_non_null(r->rip);
        assert_non_null(r->rsp);
    }
    r->rip[i] = rip;
    r->rsp[i] = rsp;
}

static inline void sk_rec_copy(struct step_rec *to, const struct step_rec *from)
{
    for (long i = 0; i <= from->n; i++)
        sk_rec_put(to, i, from->rip[i], from->rsp[i]);
    to->n = from->n;
}

/* The first i where paths a and b differ (instruction or stack depth),
 * -1 when they are the same. */
static inline long sk_rec_diff(const struct step_rec *a, const struct step_rec *b)
{
    long n = a->n < b->n ? a->n : b->n;
    for (long i = 0; i <= n; i++)
        if (a->rip[i] != b->rip[i] || a->rsp[i] != b->rsp[i])
            return i;
    return a->n == b->n ? -1 : n;
}

/* This process's vDSO (a fork's is at the same place): [lo, hi). */
static uintptr_t sk_vdso_lo, sk_vdso_hi;

static inline void sk_vdso_find(void)
{
    if (sk_vdso_hi)
        return;
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        if (strstr(line, "[vdso]") && sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
            sk_vdso_lo = lo;
            sk_vdso_hi = hi;
        }
    }
    fclose(f);
    if (!sk_vdso_hi)
        sk_vdso_hi = 1; /* none: looked for once */
}

static inline void sk_free(struct step_kill *s)
{
    free(s->rec.rip);
    free(s->rec.rsp);
    free(s->fresh.rip);
    free(s->fresh.rsp);
    memset(s, 0, sizeof(*s));
}

/* Writes byte v at addr in traced child p (stopped). Returns the byte it
 * replaced. */
static inline unsigned char sk_poke_byte(pid_t p, uintptr_t addr, unsigned char v)
{
    uintptr_t word = addr & ~(uintptr_t)7;
    unsigned shift = (unsigned)(addr - word) * 8;
    errno = 0;
    unsigned long w = (unsigned long)ptrace(PTRACE_PEEKTEXT, p, (void *)word, NULL);
    assert_int_equal(errno, 0);
    unsigned char old = (unsigned char)(w >> shift);
    w = (w & ~(0xfful << shift)) | ((unsigned long)v << shift);
    assert_int_equal(ptrace(PTRACE_POKETEXT, p, (void *)word, (void *)w), 0);
    return old;
}

/* Traced child p has just entered the vDSO (a call or a jump into it:
 * the return address on top of the stack): runs it out of there at full
 * speed, with a breakpoint at the return address. Its clock reading loops
 * go round again when a timer tick updates the clock under them, as they
 * often do when single-stepped (a step is 30-50 us on a guest), so a
 * stepped path would change from trial to trial; the vDSO stores nothing
 * but the caller's result, so a kill in it is a kill at its call. *regs:
 * p's registers, then its registers back from it. */
static inline void sk_run_out(struct step_kill *s, pid_t p, struct user_regs_struct *regs)
{
    uintptr_t back, sp = regs->rsp;
    errno = 0;
    back = (uintptr_t)ptrace(PTRACE_PEEKDATA, p, (void *)sp, NULL);
    assert_int_equal(errno, 0);
    unsigned char orig = sk_poke_byte(p, back, 0xcc);
    for (;;) {
        assert_int_equal(ptrace(PTRACE_CONT, p, NULL, NULL), 0);
        assert_int_equal(trace_stopped(p), SIGTRAP);
        s->traps++;
        assert_int_equal(ptrace(PTRACE_GETREGS, p, NULL, regs), 0);
        assert_true(regs->rip == back + 1);
        regs->rip = back;
        assert_int_equal(ptrace(PTRACE_SETREGS, p, NULL, regs), 0);
        (void)sk_poke_byte(p, back, orig);
        if (regs->rsp == sp + 8)
            return;
        /* There in a deeper frame: one step past it. */
        assert_int_equal(ptrace(PTRACE_SINGLESTEP, p, NULL, NULL), 0);
        assert_int_equal(trace_stopped(p), SIGTRAP);
        (void)sk_poke_byte(p, back, 0xcc);
    }
}

/* Steps traced child p (at the entry of the call: ret, sp as trace_run_to
 * gave) up to k instructions, recording the path into s->fresh. Returns
 * how many it took to return from the call, or 0 when it did not within
 * k (then s->fresh.n is k: a part of the path). */
static inline long sk_step(struct step_kill *s, pid_t p, long k, uintptr_t ret, uintptr_t sp)
{
    struct user_regs_struct regs;
    sk_vdso_find();
    assert_int_equal(ptrace(PTRACE_GETREGS, p, NULL, &regs), 0);
    sk_rec_put(&s->fresh, 0, regs.rip, regs.rsp);
    for (long i = 0; i < k; i++) {
        assert_int_equal(ptrace(PTRACE_SINGLESTEP, p, NULL, NULL), 0);
        assert_int_equal(trace_stopped(p), SIGTRAP);
        s->traps++;
        assert_int_equal(ptrace(PTRACE_GETREGS, p, NULL, &regs), 0);
        if (regs.rip >= sk_vdso_lo && regs.rip < sk_vdso_hi)
            sk_run_out(s, p, &regs);
        sk_rec_put(&s->fresh, i + 1, regs.rip, regs.rsp);
        if (regs.rip == ret && regs.rsp == sp + 8) {
            s->fresh.n = i + 1;
            return i + 1;
        }
    }
    s->fresh.n = k;
    return 0;
}

/* The next i > from, up to k, with rip[i] == a; k + 1 when none. */
static inline long sk_next(const struct step_rec *r, long from, long k, uintptr_t a)
{
    for (long i = from + 1; i <= k; i++)
        if (r->rip[i] == a)
            return i;
    return k + 1;
}

/* Runs traced child p (at the call's entry) to just before instruction k
 * of s->rec (k < s->rec.n) with a breakpoint at its address, a second at
 * the return address. Returns where the child stopped (SK_AT: there, with
 * the recorded stack pointer at every hit on the way), its code as it was. */
static inline enum sk_result sk_break(struct step_kill *s, pid_t p, long k, uintptr_t ret,
                                      uintptr_t sp)
{
    const struct step_rec *r = &s->rec;
    uintptr_t a = r->rip[k];
    struct user_regs_struct regs;
    assert_int_equal(ptrace(PTRACE_GETREGS, p, NULL, &regs), 0);
    long at = sk_next(r, -1, k, a); /* the occurrence the child goes to next */
    if (at == 0) {                  /* the entry: there already */
        if (regs.rip != a || regs.rsp != r->rsp[0])
            return SK_ELSEWHERE;
        if (k == 0)
            return SK_AT;
    }
    int ret_apart = ret != a; /* a is never a return address with rsp sp + 8 (k < n) */
    unsigned char ret_orig = ret_apart ? sk_poke_byte(p, ret, 0xcc) : 0;
    enum sk_result res = SK_ELSEWHERE;
    int at_a = at == 0; /* stopped at a (code there as it was) */
    for (;;) {
        if (at_a) { /* past this occurrence: one step with a's code as it is */
            at_a = 0;
            assert_int_equal(ptrace(PTRACE_SINGLESTEP, p, NULL, NULL), 0);
            if (trace_stopped(p) != SIGTRAP)
                break;
            s->traps++;
            at = sk_next(r, at, k, a);
        }
        unsigned char a_orig = sk_poke_byte(p, a, 0xcc);
        assert_int_equal(ptrace(PTRACE_CONT, p, NULL, NULL), 0);
        int sig = trace_stopped(p);
        if (sig < 0) {
            fail_msg("the traced child ended between two breakpoints (at instruction %ld)", k);
        }
        (void)sk_poke_byte(p, a, a_orig);
        if (sig != SIGTRAP)
            break;
        s->traps++;
        assert_int_equal(ptrace(PTRACE_GETREGS, p, NULL, &regs), 0);
        if (regs.rip != a + 1 && !(ret_apart && regs.rip == ret + 1))
            break;  /* a trap of nobody's breakpoint */
        regs.rip--; /* as before the int3 */
        assert_int_equal(ptrace(PTRACE_SETREGS, p, NULL, &regs), 0);
        if (regs.rip == ret && regs.rsp == sp + 8) {
            res = SK_RETURNED;
            break;
        }
        if (regs.rip != a) { /* the return address, in a deeper frame: step over it */
            (void)sk_poke_byte(p, ret, ret_orig);
            assert_int_equal(ptrace(PTRACE_SINGLESTEP, p, NULL, NULL), 0);
            if (trace_stopped(p) != SIGTRAP)
                break;
            s->traps++;
            (void)sk_poke_byte(p, ret, 0xcc);
            assert_int_equal(ptrace(PTRACE_GETREGS, p, NULL, &regs), 0);
            if (regs.rip == a) { /* a right after: that is a hit too */
                if (at > k || regs.rsp != r->rsp[at])
                    break;
                if (at == k) {
                    res = SK_AT;
                    break;
                }
                at_a = 1;
            }
            continue;
        }
        if (at > k || regs.rsp != r->rsp[at])
            break; /* a hit the recording does not have */
        if (at == k) {
            res = SK_AT;
            break;
        }
        at_a = 1;
    }
    if (ret_apart)
        (void)sk_poke_byte(p, ret, ret_orig);
    return res;
}

/* Brings traced child p, at the entry of the walked call (ret and sp as
 * trace_run_to gave), to just before instruction k: by s->mode, with a
 * breakpoint on the recorded path (k < s->rec.n) or by single steps (and
 * records what it stepped). Sets s->result. Returns, as trace_step does,
 * how many instructions the child took to return from the call when it
 * did before k (-1: it did, off the recorded path, after a number not
 * counted), else 0. */
static inline long sk_move(struct step_kill *s, pid_t p, long k, uintptr_t ret, uintptr_t sp)
{
    if (s->mode == SK_BREAK && k < s->rec.n) {
        s->result = sk_break(s, p, k, ret, sp);
        return s->result == SK_RETURNED ? -1 : 0;
    }
    long end = sk_step(s, p, k, ret, sp);
    s->result = end ? SK_RETURNED : SK_AT;
    return end;
}

/* A trial: forks a child, brings it to instruction k of the walked call
 * with sk_move, kills it and checks what the kill left (failing the test
 * when something broke). Returns what sk_move returned. */
typedef long (*sk_trial_fn)(void *ctx, long k);

/* The first multiple of stride from i. */
static inline long sk_up(long i, long stride)
{
    return (i + stride - 1) / stride * stride;
}

/* s->fresh is a path just stepped through (a trial that got through):
 * makes it the path walked when it is another, its kills from the first
 * difference on forgotten. Returns where the walk goes on from (k, or
 * earlier). */
static inline long sk_adopt(struct step_kill *s, unsigned char *killed, long k, long stride)
{
    long m = sk_rec_diff(&s->rec, &s->fresh);
    if (m < 0)
        return k;
    sk_rec_copy(&s->rec, &s->fresh);
    for (long i = m; i <= s->rec.n; i++)
        killed[i] = 0;
    return sk_up(m, stride) < k ? sk_up(m, stride) : k;
}

/* Walks a call: kills just before instruction 0, stride, 2 stride, ... of
 * its path, and once after it (a trial stepped through it). When a trial
 * shows the path is another (a kill off it, or the last trial's path), the
 * new path is walked from its first difference on. s->fresh holds the path
 * of a trial just stepped through the call; max: a path longer than this
 * is a hang. On return s->rec is the path walked, s->walked how many of
 * its instructions (at the stride) got their kill: all. */
static inline void sk_walk(struct step_kill *s, long stride, long max, sk_trial_fn trial, void *ctx)
{
    assert_true(s->fresh.n > 0);
    sk_rec_copy(&s->rec, &s->fresh);
    unsigned char *killed = calloc((size_t)max + 1, 1);
    assert_non_null(killed);
    long k = 0;
    int off = 0; /* times the trials at k left the path */
    for (;;) {
        if (k >= s->rec.n) { /* after it: stepped through, the path checked */
            s->mode = SK_STEP;
            assert_true(trial(ctx, max) > 0);
            if (sk_rec_diff(&s->rec, &s->fresh) < 0)
                break;
            s->rewalks++;
            if (s->rewalks > 100)
                fail_msg("the walked call's path changed %ld times", s->rewalks);
            k = sk_adopt(s, killed, k, stride);
            continue;
        }
        /* Off the path twice at k: stepped there. */
        s->mode = off < 2 ? SK_BREAK : SK_STEP;
        long end = trial(ctx, k);
        if (s->result == SK_AT && !end) {
            killed[k] = 1;
            s->exact++;
            s->by_break += s->mode == SK_BREAK;
            k += stride;
            off = 0;
            continue;
        }
        if (s->mode == SK_STEP) { /* got through before k: a shorter path */
            s->recordings++;
            k = sk_adopt(s, killed, k, stride);
            continue;
        }
        /* A kill somewhere off the recorded path (its checks held): the path
         * recorded again, and walked on from its first difference. */
        s->off_path++;
        if (off++ == 0) {
            s->mode = SK_STEP;
            assert_true(trial(ctx, max) > 0);
            s->recordings++;
            k = sk_adopt(s, killed, k, stride);
        }
    }
    s->walked = 0;
    for (long i = 0; i < s->rec.n; i += stride)
        s->walked += killed[i];
    free(killed);
}

#endif
