#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kernel_limits.h"

/* Bytes of POSIX queues one user may hold: two queues of ten 1 MiB messages
 * with the kernel's per-message overhead fit easily. */
#define MQ_BYTES_NEEDED (64L << 20)

struct saved_sysctl {
    const char *path;
    long old;
    bool changed;
};

static struct saved_sysctl g_sysctl[] = {
    {SYSCTL_MQ_MSGSIZE_MAX, 0, false}, {SYSCTL_MSGMAX, 0, false}, {SYSCTL_MSGMNB, 0, false}};
static struct rlimit g_old_mq;
static bool g_mq_changed;
/* The run has an IPC namespace of its own (limits_raise): the values set
 * there are the run's alone and go with it, and nothing is put back. */
static bool g_private_ipc;
/* The process that raised the limits: a forked child that ends with exit()
 * (the iceoryx rows' do, see mech_iceoryx.c) runs this atexit handler too,
 * and must not put the limits back under the running benchmark. */
static pid_t g_raiser;

int sysctl_get(const char *path, long *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    int ok = fscanf(f, "%ld", out) == 1;
    fclose(f);
    return ok ? 0 : -EIO;
}

static int sysctl_set(const char *path, long v)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    int ok = fprintf(f, "%ld\n", v) > 0;
    ok = (fclose(f) == 0) && ok;
    return ok ? 0 : -EIO;
}

static void raise_sysctl(struct saved_sysctl *s, long want)
{
    long old;
    if (sysctl_get(s->path, &old) < 0 || old >= want)
        return;
    if (sysctl_set(s->path, want) < 0) {
        fprintf(stderr, "mbx-bench: could not raise %s (%ld); large sizes stay n/a\n", s->path,
                old);
        return;
    }
    if (g_private_ipc) {
        fprintf(stderr, "mbx-bench: raised %s from %ld to %ld in the run's own IPC namespace\n",
                s->path, old, want);
        return;
    }
    s->old = old;
    s->changed = true;
    fprintf(stderr, "mbx-bench: raised %s from %ld to %ld for this run\n", s->path, old, want);
}

/* The IPC sysctls a new namespace starts at the kernel's defaults with:
 * copied from the machine's, so that the rows run with its settings and
 * differ only where limits_raise raises them. */
static const char *const g_ipc_sysctls[] = {
    SYSCTL_MQ_MSGSIZE_MAX,
    SYSCTL_MQ_MSG_MAX,
    "/proc/sys/fs/mqueue/msg_default",
    "/proc/sys/fs/mqueue/msgsize_default",
    "/proc/sys/fs/mqueue/queues_max",
    SYSCTL_MSGMAX,
    SYSCTL_MSGMNB,
    "/proc/sys/kernel/msgmni",
};

/* Moves the benchmark into an IPC namespace of its own: these sysctls are
 * per namespace, so raising them there leaves the machine's alone. Raised
 * machine-wide, a queue another user made meanwhile kept the raised size
 * (msg_qbytes is fixed at creation), and a killed benchmark left them
 * raised. Returns whether it moved. */
static bool enter_private_ipc(void)
{
    enum { N = sizeof(g_ipc_sysctls) / sizeof(g_ipc_sysctls[0]) };
    long v[N];
    bool have[N];
    for (int i = 0; i < N; i++)
        have[i] = sysctl_get(g_ipc_sysctls[i], &v[i]) == 0;
    if (unshare(CLONE_NEWIPC) != 0) {
        fprintf(stderr,
                "mbx-bench: no IPC namespace of its own (%s): the machine's queue limits are "
                "raised for the run and put back at its end\n",
                strerror(errno));
        return false;
    }
    for (int i = 0; i < N; i++) {
        long now;
        if (have[i] && sysctl_get(g_ipc_sysctls[i], &now) == 0 && now != v[i] &&
            sysctl_set(g_ipc_sysctls[i], v[i]) < 0)
            fprintf(stderr, "mbx-bench: could not set %s to the machine's %ld\n", g_ipc_sysctls[i],
                    v[i]);
    }
    return true;
}

void limits_raise(size_t max_size, size_t depth)
{
    if (geteuid() != 0)
        return;
    g_raiser = getpid();
    g_private_ipc = enter_private_ipc();
    if (!g_private_ipc)
        atexit(limits_restore);
    raise_sysctl(&g_sysctl[0], (long)max_size);
    raise_sysctl(&g_sysctl[1], (long)max_size);
    raise_sysctl(&g_sysctl[2], (long)(max_size * depth));
    if (getrlimit(RLIMIT_MSGQUEUE, &g_old_mq) < 0 || g_old_mq.rlim_cur == RLIM_INFINITY ||
        g_old_mq.rlim_cur >= MQ_BYTES_NEEDED)
        return;
    struct rlimit r = g_old_mq;
    r.rlim_cur = MQ_BYTES_NEEDED;
    if (r.rlim_max != RLIM_INFINITY && r.rlim_max < MQ_BYTES_NEEDED)
        r.rlim_max = MQ_BYTES_NEEDED;
    g_mq_changed = setrlimit(RLIMIT_MSGQUEUE, &r) == 0;
    if (!g_mq_changed)
        fprintf(stderr, "mbx-bench: could not raise RLIMIT_MSGQUEUE (%llu B): %s\n",
                (unsigned long long)g_old_mq.rlim_cur, strerror(errno));
}

void limits_restore(void)
{
    if (getpid() != g_raiser)
        return;
    for (size_t i = 0; i < sizeof(g_sysctl) / sizeof(g_sysctl[0]); i++) {
        struct saved_sysctl *s = &g_sysctl[i];
        if (!s->changed)
            continue;
        if (sysctl_set(s->path, s->old) < 0)
            fprintf(stderr, "mbx-bench: could not restore %s to %ld\n", s->path, s->old);
        else
            fprintf(stderr, "mbx-bench: restored %s to %ld\n", s->path, s->old);
        s->changed = false;
    }
    if (g_mq_changed)
        setrlimit(RLIMIT_MSGQUEUE, &g_old_mq);
    g_mq_changed = false;
}
