/* System calls and context switches per message, counted by the kernel
 * through `perf stat`, never by our code: perf wraps a separate run of this
 * program (`--internal-run`) doing a fixed number of round trips. */
#ifndef BENCH_PERF_H
#define BENCH_PERF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "measure.h"

/* Whether `perf stat -e raw_syscalls:sys_enter` works here. */
bool perf_available(const struct plan *pl);

/* Counts system calls and context switches per one-way message of m's
 * 64-byte ping-pong. Two runs of different lengths are counted and only the
 * difference is kept, so process start-up and channel setup cancel out.
 * Returns 0, -EINTR, or another negative errno with the reason in note. */
int perf_per_message(const struct mech *m, const struct plan *pl, double *syscalls, double *ctxsw,
                     char *note, size_t notelen);

#endif
