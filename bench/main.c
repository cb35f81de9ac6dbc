/* mbx-bench: every IPC mechanism of this machine against mbx, side by side.
 * Table on stdout, progress on stderr, results.csv and plots in --out. */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv.h"
#include "kernel_limits.h"
#include "mech_mbx.h"
#include "mech.h"
#include "options.h"
#include "plot.h"
#include "proc.h"
#include "report.h"
#include "roudi.h"
#include "run.h"
#include "tmpdir.h"

#define SEC ((int64_t)1000000000)
#define MS  ((int64_t)1000000)

/* --quick fits in a minute on two cores (about 1.1 s per mechanism, and a
 * few seconds of failure detection): with 120 ms per round-trip size,
 * 200 ms per one-way size and 150 ms per fan-in cell it took 64-72 s on a
 * 2-CPU VM, as the rows grew to 34. --full takes several times the
 * samples, for numbers worth quoting. */
/* Warm-up lasts at least WARM_LAP round trips: a lap of a default ring
 * (64 slots), so that a 1 MiB cell times what follows the first touch of
 * every slot, in quick runs as in full ones. What comes before is
 * measured apart: round trips from the first message (run.c). */
#define WARM_LAP 64

static const struct plan quick_plan = {
    .warm_ns = 10 * MS,
    .warm_min = WARM_LAP,
    .lat_ns = 80 * MS,
    .lat_max = 300000,
    .oneway_ns = 150 * MS,
    .fanin_ns = 110 * MS,
    /* Only a cell that hangs waits this long; 16 iceoryx senders attaching
     * to RouDi on a loaded machine took more than 3 s (a sanitizer run). */
    .grace_ns = 10 * SEC,
    .perf_rtts = 3000,
    .fail_trials = 15,
};

static const struct plan full_plan = {
    .warm_ns = 100 * MS,
    .warm_min = WARM_LAP,
    .lat_ns = 1 * SEC,
    .lat_max = 2000000,
    .oneway_ns = 1 * SEC,
    .fanin_ns = 1 * SEC,
    .grace_ns = 20 * SEC,
    .perf_rtts = 20000,
    .fail_trials = 100,
};

/* Like mkdir -p. */
static int make_dirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return mkdir(buf, 0777) < 0 && errno != EEXIST ? -errno : 0;
}

/* The mailboxes and other named objects of a run live in a private
 * directory that goes away with the run. */
static int private_dir(char *dir, size_t len)
{
    int rc = tmpdir_make(dir, len);
    if (rc < 0) {
        fprintf(stderr, "mbx-bench: cannot make a temporary directory: %s\n", strerror(-rc));
        return rc;
    }
    setenv("MBX_DIR", dir, 1);
    return 0;
}

/* One ping-pong of fixed length for perf to count; see perf.c. When perf
 * dies (killed at its deadline or on ^C) this run gets SIGTERM, which its
 * wait takes as an interrupt: it kills its children and removes its queues
 * and files before leaving, so nothing is left behind. */
static int internal_run(const struct options *o)
{
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        return 1;
    proc_init();
    char dir[PATH_MAX];
    if (private_dir(dir, sizeof(dir)) < 0)
        return 1;
    struct plan pl = {
        .warm_ns = 0,
        .lat_ns = INT64_MAX / 4,
        .lat_max = o->internal_rtts,
        .grace_ns = 60 * SEC,
        .pin = o->pin,
        .dir = dir,
    };
    /* An iceoryx row uses the parent run's RouDi, or starts its own when
     * run by hand (perf then counts RouDi's start too; run and run/10 still
     * cancel it out). */
    if (o->internal->needs_roudi && !roudi_up())
        roudi_start(dir);
    struct lat_result r;
    measure_latency(o->internal, o->internal_size, &pl, &r);
    roudi_stop();
    tmpdir_remove(dir);
    if (!r.ok)
        fprintf(stderr, "mbx-bench: counted run of %s: %s\n", o->internal->name, r.note);
    return r.ok ? 0 : 1;
}

static void choose(struct results *res, const struct options *o)
{
    res->nrows = 0;
    for (size_t i = 0; i < mech_count; i++) {
        bool wanted = o->nonly == 0;
        for (size_t k = 0; k < o->nonly; k++)
            wanted = wanted || o->only[k] == mech_all[i];
        if (wanted && res->nrows < RESULTS_ROWS_MAX)
            res->rows[res->nrows++].mech = mech_all[i];
    }
}

static bool wants_roudi(const struct results *res)
{
    for (size_t i = 0; i < res->nrows; i++)
        if (res->rows[i].mech->needs_roudi)
            return true;
    return false;
}

/* RouDi must run before any iceoryx process starts: one for the whole run. */
static void progress_roudi_start(const char *dir)
{
    fprintf(stderr, "mbx-bench: starting iox-roudi for the iceoryx rows ... ");
    if (roudi_start(dir) == 0)
        fprintf(stderr, "ready in %.2f s (pid %s)\n", roudi_memory()->start_s, getenv(ROUDI_ENV));
    else
        fprintf(stderr, "failed: %s; the iceoryx rows are n/a\n", roudi_why());
}

static bool pin_possible(void)
{
    cpu_set_t set;
    return sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_ISSET(0, &set) && CPU_ISSET(1, &set);
}

static int write_outputs(const char *out, const struct results *res)
{
    int rc = make_dirs(out);
    if (rc < 0) {
        fprintf(stderr, "mbx-bench: cannot make %s: %s\n", out, strerror(-rc));
        return rc;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/results.csv", out);
    rc = csv_write(path, res);
    if (rc < 0) {
        fprintf(stderr, "mbx-bench: cannot write %s: %s\n", path, strerror(-rc));
        return rc;
    }
    bool scaling;
    bool plotted = plot_write(out, res, &scaling) == 0;
    printf("\nfiles: %s/results.csv", out);
    if (plotted)
        printf(", %s/latency.png%s%s%s", out, scaling ? ", " : "", scaling ? out : "",
               scaling ? "/scaling.png" : "");
    printf(" (plot data and script: %s/plots.gp)\n", out);
    return 0;
}

int main(int argc, char **argv)
{
    if (mech_count > RESULTS_ROWS_MAX) {
        fprintf(stderr, "mbx-bench: %zu mechanisms, room for %d rows (RESULTS_ROWS_MAX)\n",
                mech_count, RESULTS_ROWS_MAX);
        return 2;
    }
    struct options o;
    if (options_parse(argc, argv, &o) < 0)
        return 2;
    if (o.help) {
        options_help(stdout);
        return 0;
    }
    if (o.internal)
        return internal_run(&o);

    static struct results res;
    res.mode = o.full ? "full" : "quick";
    res.plan = o.full ? full_plan : quick_plan;
    res.plan.pin = o.pin;
    if (o.pin && !pin_possible()) {
        fprintf(stderr, "mbx-bench: --pin needs CPUs 0 and 1; running unpinned\n");
        res.plan.pin = false;
    }
    choose(&res, &o);
    if (o.internal_row) {
        /* The copy run_preloaded started: this one row, nothing else. */
        res.nrows = 1;
        res.rows[0].mech = o.internal_row;
        res.preloaded = true;
        prctl(PR_SET_PDEATHSIG, SIGTERM);
    }
    for (size_t i = 0; mech_not_built[i]; i++)
        fprintf(stderr, "mbx-bench: not built: %s\n", mech_not_built[i]);

    proc_init();
    char dir[PATH_MAX];
    if (private_dir(dir, sizeof(dir)) < 0)
        return 1;
    res.plan.dir = dir;
    int rc = 0;
    if (!res.preloaded && wants_roudi(&res)) {
        progress_roudi_start(dir);
        res.roudi_tried = true;
        res.roudi = *roudi_memory();
        snprintf(res.roudi_note, sizeof(res.roudi_note), "%s", roudi_why());
        rc = proc_interrupted() ? -EINTR : 0;
    }
    if (!res.preloaded) {
        res.mbx_mem_ok = mbxb_footprint(1, &res.mbx_file_bytes, &res.mbx_alloc_bytes) == 0;
        if (res.roudi_tried)
            res.mbx_idle_ok = mbxb_footprint(IDLE_CHANNELS, &res.mbx_idle_file_bytes,
                                             &res.mbx_idle_alloc_bytes) == 0;
        limits_raise(lat_sizes[N_LAT - 1], QUEUE_DEPTH);
    }
    if (rc == 0)
        rc = run_all(&res);
    if (!res.preloaded)
        limits_restore();
    roudi_stop(); /* by pid, on every path: finished, failed or interrupted */
    tmpdir_remove(dir);
    if (res.preloaded)
        return rc == 0 && preloaded_child_write(&res.rows[0], o.internal_out) == 0 ? 0 : 1;
    if (rc == -EINTR) {
        fprintf(stderr, "\nmbx-bench: interrupted; children killed, temporary files removed\n");
        return 130;
    }
    report_print(stdout, &res);
    fflush(stdout);
    return write_outputs(o.out, &res) < 0 ? 1 : 0;
}
