/* The three measurements: round-trip latency (ping-pong), one-way throughput
 * with one or many senders, each run in freshly forked processes on a fresh
 * channel. */
#ifndef BENCH_MEASURE_H
#define BENCH_MEASURE_H

#include <stdbool.h>
#include <stdint.h>

#include "mech.h"

/* How long and how much, set by --quick or --full. */
struct plan {
    int64_t warm_ns;    /* ping-pong before timing starts, per size */
    uint64_t warm_min;  /* and at least this many round trips of it */
    int64_t lat_ns;     /* timed ping-pong per size */
    uint64_t lat_max;   /* at most this many timed round trips per size */
    int64_t oneway_ns;  /* per one-way run */
    int64_t fanin_ns;   /* per fan-in run */
    int64_t grace_ns;   /* beyond the expected time, before children are killed */
    uint64_t perf_rtts; /* round trips counted under perf, per mechanism */
    int fail_trials;    /* trials per row of the failure-detection table */
    bool pin;           /* initiators on CPU 0, responders on CPU 1 */
    const char *dir;    /* the private temporary directory */
};

/* ok: measured. Otherwise note says why: na when the mechanism cannot do it
 * here (a system limit, a missing feature), a failure when it broke. */
struct lat_result {
    bool ok, na;
    bool nosys; /* the mechanism said -ENOSYS: the whole row is n/a */
    char note[200];
    uint64_t n; /* timed round trips */
    double median_ns, p99_ns;
    double ctxsw_per_msg; /* both sides, getrusage, per one-way message */
};

struct rate_result {
    bool ok, na;
    bool nosys;
    char note[200];
    uint64_t msgs; /* received, each checked */
    double msgs_per_s, mb_per_s;
    bool lossy;          /* a lossy row (mech.lossy): lost of sent were counted */
    uint64_t sent, lost; /* messages the senders sent, and those that never came */
};

/* Each returns 0 with the outcome (measured or why not) in *r, or -EINTR
 * when the user interrupted the run. */
int measure_latency(const struct mech *m, size_t size, const struct plan *pl, struct lat_result *r);
int measure_oneway(const struct mech *m, size_t size, int senders, int64_t run_ns,
                   const struct plan *pl, struct rate_result *r);

#endif
