#include <errno.h>
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
    s->old = old;
    s->changed = true;
    fprintf(stderr, "mbx-bench: raised %s from %ld to %ld for this run\n", s->path, old, want);
}

void limits_raise(size_t max_size, size_t depth)
{
    if (geteuid() != 0)
        return;
    g_raiser = getpid();
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
