/* Everything one run measured: one row per mechanism, plus the fan-in test. */
#ifndef BENCH_RESULTS_H
#define BENCH_RESULTS_H

#include <stdbool.h>
#include <stddef.h>

#include "measure.h"
#include "measure_failure.h"
#include "mech.h"
#include "roudi.h"

#define N_LAT   4
#define N_RATE  2
#define N_FANIN 5
#define N_LOAN  4
/* Round trips from the first message: 16 laps of a default ring, so that
 * the first lap (1/16 of them) lands above the 99th percentile when it is
 * slow, and a few hiccups elsewhere do not (128 made the p99 the second
 * largest sample: one scheduler tick moved it). */
#define N_FIRST 1024

/* Memory at this many idle channels (mailboxes made at once, no message). */
#define IDLE_CHANNELS 1000
/* The most publishers Debian's iceoryx 2.0.3 takes (its IOX_MAX_PUBLISHERS,
 * fixed when it was built): fewer than IDLE_CHANNELS. */
#define ICEORYX_MAX_PUBLISHERS 512

extern const size_t lat_sizes[N_LAT];   /* 64 B, 1 KiB, 64 KiB, 1 MiB */
extern const size_t rate_sizes[N_RATE]; /* 64 B, 64 KiB */
extern const int fanin_senders[N_FANIN];
extern const size_t loan_sizes[N_LOAN]; /* 64 B, 1 MiB, 64 MiB, 1 GiB */

struct row {
    const struct mech *mech;
    bool na;        /* the whole row could not be measured here */
    char note[200]; /* why */
    struct lat_result lat[N_LAT];
    struct rate_result rate[N_RATE];
    bool sys_ok; /* perf counted the 64-byte ping-pong */
    double syscalls, perf_ctxsw;
    char sys_note[120];
    bool fanin_ran;
    struct rate_result fanin[N_FANIN];
};

/* Rows a run can hold: more than the mechanisms there are (main.c checks
 * at start; 33 rows overflowed an array of 32 once, which the run found by
 * losing its signal set). */
#define RESULTS_ROWS_MAX 64

struct results {
    const char *mode; /* "quick" or "full" */
    struct plan plan;
    bool perf;
    size_t nrows;
    struct row rows[RESULTS_ROWS_MAX];
    /* Loaned round trips of mbx (loan) by message size, up to the largest
     * message mbx takes: whether zero copy stays flat (issue 6). */
    bool loan_ran;
    struct lat_result loan[N_LOAN];
    /* 1 MiB round trips of mbx from the first message (fresh default
     * mailboxes, no warm-up): as they come, and with MBX_PREFAULT=1. */
    bool first_ran;
    struct lat_result first[2];
    /* How soon mbx's waiters learn of a death or a removal (issue 20). */
    bool fail_ran;
    struct fail_result fail[N_FAIL];
    /* What each side holds before the first message: iceoryx's RouDi (when
     * an iceoryx row ran) and one default mbx mailbox. */
    bool roudi_tried;
    struct roudi_memory roudi;
    char roudi_note[200];
    bool mbx_mem_ok;
    uint64_t mbx_file_bytes, mbx_alloc_bytes;
    bool mbx_idle_ok; /* the same for IDLE_CHANNELS mailboxes at once */
    uint64_t mbx_idle_file_bytes, mbx_idle_alloc_bytes;
    double seconds; /* wall time of all measurements */
    bool preloaded; /* this is the copy that measures a preloaded row */
};

/* The row of mechanism `name`, or NULL when it was not run. */
const struct row *results_row(const struct results *res, const char *name);

#endif
