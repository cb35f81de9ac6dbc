/* What a hung child was doing when the harness gave up on it: printed
 * before the child is killed, so that a cell that hangs once in a hundred
 * runs (on a loaded CI machine, say) leaves more than "hung" behind. */
#ifndef BENCH_HANG_REPORT_H
#define BENCH_HANG_REPORT_H

#include <stdio.h>
#include <sys/types.h>

/* Writes to f, for process pid: every thread's name, scheduler state and
 * kernel wait channel, its kernel stack where /proc lets us read it (root),
 * and every thread's user-space backtrace from gdb when gdb is installed
 * (attached for at most HANG_GDB_SECONDS; the process is left stopped as
 * it was found, as gdb detaches). Returns the number of threads listed,
 * or -1 when the process is gone or /proc cannot be read. */
int hang_report(FILE *f, pid_t pid);

#endif
