/* The child processes of one measurement: started with fork, waited for
 * against a deadline, killed by pid when they overstay, so a hung mechanism
 * costs one cell of the table and never the run. Also the clock, the memory
 * shared with children, and the signals that stop a run. */
#ifndef BENCH_PROC_H
#define BENCH_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROCS_MAX 32

struct procs {
    int n;
    pid_t pid[PROCS_MAX];
    int status[PROCS_MAX];
    bool reaped[PROCS_MAX];
};

/* CLOCK_MONOTONIC in nanoseconds; the same clock in every process. */
int64_t now_ns(void);

/* Blocks SIGCHLD, SIGINT, SIGTERM and SIGHUP in this process, so waiting is
 * one sigtimedwait that wakes for a child's exit or the user's interrupt and
 * never polls. Call once, before any other function here. */
void proc_init(void);

/* True once SIGINT, SIGTERM or SIGHUP arrived: stop measuring, clean up. */
bool proc_interrupted(void);

/* Runs fn(arg, index) in a new process, pinned to cpu unless cpu < 0; the
 * child exits 0 when fn returns 0, else 1. The child dies with its parent.
 * Returns 0 or a negative errno. */
int procs_start(struct procs *ps, int cpu, int (*fn)(void *arg, int index), void *arg, int index);

/* Like procs_start, for a program: runs argv with stdout and stderr sent to
 * /dev/null when quiet. */
int procs_exec(struct procs *ps, char *const argv[], bool quiet);

/* Like procs_exec, with stdout and stderr appended to the file `log`. */
int procs_exec_log(struct procs *ps, char *const argv[], const char *log);

/* Sleeps until `until`. Returns 0 then, -ECHILD as soon as a child failed,
 * -EINTR on an interrupt. */
int procs_sleep(struct procs *ps, int64_t until);

/* Waits for every child until `deadline`. Returns 0 when all exited with
 * status 0; otherwise kills the rest and returns -ECHILD (one failed),
 * -ETIMEDOUT (after printing what each child still running was doing to
 * stderr: hang_report.h) or -EINTR. */
int procs_wait(struct procs *ps, int64_t deadline);

/* Kills every child not yet reaped (by pid, SIGKILL) and reaps it. */
void procs_kill(struct procs *ps);

/* Memory shared with children forked after this call, zeroed; NULL on
 * failure. */
void *shared_alloc(size_t len);
void shared_free(void *p, size_t len);

#endif
