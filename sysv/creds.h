/* The cached credentials proc.c keeps and perm.c judges by. */
#ifndef MBX_SYSV_CREDS_H
#define MBX_SYSV_CREDS_H

#include <sys/types.h>

#include "internal.h"

#define SYSV_GROUPS_MAX 64 /* supplementary groups looked at; more are ignored */

struct sysv_creds {
    uid_t euid;
    gid_t egid;
    int ngroups;
    gid_t groups[SYSV_GROUPS_MAX];
};

HIDDEN extern struct sysv_creds sysv_creds;
HIDDEN extern _Atomic int sysv_creds_valid;

#endif
