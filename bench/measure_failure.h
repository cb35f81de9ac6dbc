/* Failure detection: how soon a process waiting on a mailbox learns of a
 * death or a removal it depends on. Nobody signals a death, so these are
 * found by polls (an owner every 50 ms, or every 10 ms by a sender waiting
 * on a full ring; a request's taker every 20 ms; a round-robin turn every
 * 50 ms); a removal wakes every waiter at once. Each
 * trial runs in fresh processes on a fresh mailbox: a waiter blocks in the
 * call, the event happens at a random moment up to 60 ms later (so the
 * polls' phases spread evenly), and the time from the event (just before
 * kill -9, or mbx_unlink) to the waiter's return is one sample. */
#ifndef BENCH_MEASURE_FAILURE_H
#define BENCH_MEASURE_FAILURE_H

#include <stdbool.h>

#include "measure.h"

enum fail_kind {
    FAIL_OWNER,      /* owner of an MBX_OWNED mailbox (ring) killed: blocked sender gets -EIDRM */
    FAIL_OWNER_HEAP, /* the same with a heap mailbox */
    FAIL_CALL,       /* process that took an mbx_call request killed: the caller gets -EPIPE */
    FAIL_RR,         /* round-robin receiver killed holding the turn: the next gets the message */
    FAIL_UNLINK,     /* mbx_unlink: a blocked receiver gets -EIDRM */
    N_FAIL
};

extern const char *const fail_names[N_FAIL];  /* for results.csv */
extern const char *const fail_events[N_FAIL]; /* for the table */
extern const char *const fail_waiters[N_FAIL];

struct fail_result {
    bool ok;
    char note[200]; /* why not, when !ok */
    int n;          /* trials */
    double median_ns, p99_ns, max_ns;
};

/* Runs pl->fail_trials trials of kind k. Returns 0 with the outcome in *r,
 * or -EINTR when the user interrupted the run. */
int measure_failure(enum fail_kind k, const struct plan *pl, struct fail_result *r);

#endif
