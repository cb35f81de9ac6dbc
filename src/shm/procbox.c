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
