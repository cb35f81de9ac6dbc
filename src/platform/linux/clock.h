/* Monotonic time and deadlines for timed waits. */
#ifndef MBX_CLOCK_H
#define MBX_CLOCK_H

#include <stdint.h>

/* Nanoseconds on CLOCK_MONOTONIC. */
int64_t clock_now_ns(void);

/* Deadline for a relative timeout: -1 for MBX_FOREVER (timeout < 0), else
 * now + timeout. */
int64_t clock_deadline(int64_t timeout_ns);

/* Nanoseconds left until deadline (-1: no deadline; 0: passed). */
int64_t clock_remaining(int64_t deadline);

#endif
