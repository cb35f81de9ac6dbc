#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "perf.h"
#include "proc.h"

#define EVENTS "raw_syscalls:sys_enter,context-switches"

struct counts {
    double syscalls, ctxsw;
};

/* perf stat -x, writes "value,unit,event,..." per event. */
static int parse(const char *path, struct counts *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char line[512];
    int found = 0;
    while (fgets(line, sizeof(line), f)) {
        char *end;
        double v = strtod(line, &end);
        if (end == line || *end != ',')
            continue;
        if (strstr(line, ",raw_syscalls:sys_enter,")) {
            out->syscalls = v;
            found |= 1;
        } else if (strstr(line, ",context-switches,")) {
            out->ctxsw = v;
            found |= 2;
        }
    }
    fclose(f);
    return found == 3 ? 0 : -ENODATA;
}

/* Runs argv (after "perf stat ... --") under perf and reads its counts. */
static int run_counted(char **cmd, const struct plan *pl, int64_t timeout_ns, bool quiet,
                       struct counts *out)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/perf.out", pl->dir);
    char *argv[24] = {"perf", "stat", "-x,", "-e", EVENTS, "-o", path, "--"};
    int n = 8;
    for (int i = 0; cmd[i] && n < 23; i++)
        argv[n++] = cmd[i];
    argv[n] = NULL;
    struct procs ps = {0};
    int rc = procs_exec(&ps, argv, quiet);
    if (rc == 0)
        rc = procs_wait(&ps, now_ns() + timeout_ns);
    if (rc == 0)
        rc = parse(path, out);
    unlink(path);
    return rc;
}

bool perf_available(const struct plan *pl)
{
    char *cmd[] = {"true", NULL};
    struct counts c;
    return run_counted(cmd, pl, 10 * (int64_t)1000000000, true, &c) == 0;
}

static int count_rtts(const struct mech *m, const struct plan *pl, uint64_t rtts,
                      struct counts *out)
{
    /* This very executable, even if a rebuild replaced the file meanwhile. */
    char self[64];
    snprintf(self, sizeof(self), "/proc/%ld/exe", (long)getpid());
    char n[24];
    snprintf(n, sizeof(n), "%" PRIu64, rtts);
    char *cmd[] = {self, "--internal-run", (char *)m->name, "64", n, pl->pin ? "--pin" : NULL,
                   NULL};
    return run_counted(cmd, pl, 30 * (int64_t)1000000000, false, out);
}

int perf_per_message(const struct mech *m, const struct plan *pl, double *syscalls, double *ctxsw,
                     char *note, size_t notelen)
{
    uint64_t big = pl->perf_rtts, small = pl->perf_rtts / 10;
    struct counts a, b;
    int rc = count_rtts(m, pl, small, &a);
    if (rc == 0)
        rc = count_rtts(m, pl, big, &b);
    if (rc < 0) {
        snprintf(note, notelen, "counted run failed: %s",
                 rc == -ECHILD ? "see stderr" : strerror(-rc));
        return proc_interrupted() ? -EINTR : rc;
    }
    double msgs = 2.0 * (double)(big - small);
    *syscalls = (b.syscalls - a.syscalls) / msgs;
    *ctxsw = (b.ctxsw - a.ctxsw) / msgs;
    if (*syscalls < 0)
        *syscalls = 0;
    if (*ctxsw < 0)
        *ctxsw = 0;
    return 0;
}
