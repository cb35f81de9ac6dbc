/* One step of a busy wait on shared memory, lasting about SPIN_STEP_NS.
 *
 * Why not a single pause: a waiter that reads the watched line back to back
 * takes it away from the writer between each of the writer's stores (a send
 * writes its slot, the count and the wake word), and every store then waits
 * for the line to come back. Reading once per step lets a sender finish its
 * stores on a line it holds; the waiter notices a change at most one step
 * later. On a 2-CPU KVM guest (a pause there lasts 10 ns) a 64 B round
 * trip took 0.80 µs with one pause per read and 0.55 µs with 128 ns steps;
 * steps of 40 ns gained less, 640 ns lost it all. How long a pause lasts
 * differs between processors by more than ten times, so the number of
 * pauses per step is measured once per process (a few µs, the first
 * time a wait spins). */
#include "platform/platform.h"

#define SPIN_STEP_NS 128
#define PROBE_PAUSES 256u
#define MAX_PAUSES   64u

static unsigned pauses_per_step; /* 0: not measured yet */

static unsigned measure(void)
{
    int64_t t0 = clock_now_ns();
    for (unsigned i = 0; i < PROBE_PAUSES; i++)
        cpu_relax();
    int64_t took = clock_now_ns() - t0;
    if (took <= 0)
        took = 1;
    uint64_t n = (uint64_t)SPIN_STEP_NS * PROBE_PAUSES / (uint64_t)took;
    return n < 1 ? 1 : n > MAX_PAUSES ? MAX_PAUSES : (unsigned)n;
}

void spin_step(void)
{
    unsigned n = __atomic_load_n(&pauses_per_step, __ATOMIC_RELAXED);
    if (n == 0) {
        n = measure();
        __atomic_store_n(&pauses_per_step, n, __ATOMIC_RELAXED);
    }
    for (unsigned i = 0; i < n; i++)
        cpu_relax();
}
