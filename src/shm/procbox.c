#include "shm/procbox.h"

#include "core/names.h"
#include "shm/segment.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void label_of(pid_t pid, char *out, size_t cap)
{
    snprintf(out, cap, "mbx.@%d", (int)pid);
}

/* A candidate is the process's current mailbox: a valid one, named for
 * it, owned by it (a forked child also holds its parent's), not removed. */
static int accept(const struct shmfile *f, void *arg)
{
    pid_t pid = *(const pid_t *)arg;
    struct seg s;
    if (seg_attach(&s, f->base, f->size) != 0)
        return 0;
    char want[16];
    snprintf(want, sizeof(want), "@%d", (int)pid);
    return strcmp(s.hdr->name, want) == 0 &&
           (int32_t)(uint32_t)__atomic_load_n(&s.hdr->model.owner, __ATOMIC_ACQUIRE) == pid &&
           !__atomic_load_n(&s.hdr->hot.removed, __ATOMIC_ACQUIRE);
}

int procbox_open(pid_t pid, int readonly, struct shmfile *f)
{
    char label[32];
    label_of(pid, label, sizeof(label));
    return shmfile_open_anon(pid, label, readonly, accept, &pid, f);
}

int procbox_create(uint64_t size, struct shmfile *f)
{
    char label[32];
    label_of(getpid(), label, sizeof(label));
    return shmfile_create_anon(label, size, 0600, f);
}

/* Whether process pid holds a file labelled for its own mailbox. */
static int has_procbox(pid_t pid)
{
    char dir[64], want[32];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    int n = snprintf(want, sizeof(want), "/memfd:mbx.@%d ", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        char link[300], target[64];
        if (e->d_name[0] == '.' ||
            (size_t)snprintf(link, sizeof(link), "%s/%s", dir, e->d_name) >= sizeof(link))
            continue;
        ssize_t len = readlink(link, target, sizeof(target) - 1);
        found = len >= n && memcmp(target, want, (size_t)n) == 0;
    }
    closedir(d);
    return found;
}

int procbox_foreach(int (*fn)(const char *name, void *arg), void *arg)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    int r = 0;
    struct dirent *e;
    while (r == 0 && (e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || !has_procbox((pid_t)pid))
            continue;
        char name[32];
        snprintf(name, sizeof(name), "@%ld", pid);
        r = fn(name, arg);
    }
    closedir(d);
    return r;
}
