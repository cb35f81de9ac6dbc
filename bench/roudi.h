/* The iceoryx daemon, RouDi, that the iceoryx rows need: iceoryx processes
 * register with it and take their shared memory from it, so it must run
 * before any of them starts. The benchmark starts its own (iox-roudi, with a
 * memory-pool configuration for the sizes it measures, written to the run's
 * private directory) and stops it by pid at the end, also after an error or
 * ^C; killed outright, the benchmark takes RouDi with it (PR_SET_PDEATHSIG),
 * and the next RouDi clears what that one left in /dev/shm. */
#ifndef BENCH_ROUDI_H
#define BENCH_ROUDI_H

#include <stdbool.h>
#include <stdint.h>

/* What RouDi holds before the first message, read when it said it was ready. */
struct roudi_memory {
    bool ok;
    uint64_t mgmt_bytes; /* its management segment (ports, queues, pools' bookkeeping) */
    uint64_t data_bytes; /* the memory pools of the chunks, from the configuration */
    uint64_t mgmt_alloc, data_alloc; /* of these, pages of /dev/shm in use */
    uint64_t rss_bytes;              /* RouDi's resident memory (VmRSS) */
    double start_s;                  /* from exec to "ready for clients" */
};

/* The environment variable through which a run tells its --internal-run
 * children (counted by perf) that its RouDi is up: they use it. */
#define ROUDI_ENV "MBX_BENCH_ROUDI"

/* Starts iox-roudi with pools for every size the benchmark sends (config in
 * dir/roudi.toml), logging to dir/roudi.log, and waits until it is ready (at
 * most 10 s). On failure, roudi_why() says why, and the iceoryx rows are n/a
 * with that reason. Returns 0, or a negative errno (-EINTR on an interrupt). */
int roudi_start(const char *dir);

/* Stops the RouDi this process started, if any: SIGTERM, then SIGKILL by pid
 * after 5 s; no-op in any other process (a forked child). */
void roudi_stop(void);

/* Whether a RouDi is up for this process's children: one it started, or
 * its parent's (ROUDI_ENV). */
bool roudi_up(void);
const char *roudi_why(void);
const struct roudi_memory *roudi_memory(void);

#endif
