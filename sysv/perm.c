/* System V's permission rule: the owner's bits for the owner or creator,
 * else the group's for a member of the owner's or creator's group, else
 * the others'; root passes (the kernel's CAP_IPC_OWNER, approximated by
 * euid 0). */
#include <stdatomic.h>

#include "creds.h"
#include "internal.h"

static const struct sysv_creds *creds(void)
{
    if (!atomic_load_explicit(&sysv_creds_valid, memory_order_acquire))
        sysv_creds_refresh();
    return &sysv_creds;
}

static int in_group(const struct sysv_creds *c, uint32_t g)
{
    if (c->egid == g)
        return 1;
    for (int i = 0; i < c->ngroups; i++)
        if (c->groups[i] == g)
            return 1;
    return 0;
}

int sysv_perm_ok(const struct sysv_meta *m, uint32_t want)
{
    uint32_t mode = atomic_load_explicit((_Atomic uint32_t *)&m->mode, memory_order_relaxed);
    want &= 7;
    /* Granted to everyone: no need to know who we are. */
    if ((want & ~((mode >> 6) & (mode >> 3) & mode) & 7) == 0)
        return 1;
    const struct sysv_creds *c = creds();
    if (c->euid == 0)
        return 1;
    uint32_t uid = atomic_load_explicit((_Atomic uint32_t *)&m->uid, memory_order_relaxed);
    uint32_t gid = atomic_load_explicit((_Atomic uint32_t *)&m->gid, memory_order_relaxed);
    uint32_t granted;
    if (c->euid == m->cuid || c->euid == uid)
        granted = mode >> 6;
    else if (in_group(c, m->cgid) || in_group(c, gid))
        granted = mode >> 3;
    else
        granted = mode;
    return (want & ~granted & 7) == 0;
}

int sysv_is_owner(const struct sysv_meta *m)
{
    const struct sysv_creds *c = creds();
    uint32_t uid = atomic_load_explicit((_Atomic uint32_t *)&m->uid, memory_order_relaxed);
    return c->euid == 0 || c->euid == m->cuid || c->euid == uid;
}
