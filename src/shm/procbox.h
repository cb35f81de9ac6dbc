/* A process's own mailbox, "@PID" (mbx_self): a file without a name
 * (memfd), which lives as long as the process keeps it open. Others find
 * it in /proc/PID/fd, which the kernel shows only to the process's own
 * user (and root): no other user can plant a file under the name, none is
 * left behind by a crash, and it does not depend on MBX_DIR. */
#ifndef MBX_PROCBOX_H
#define MBX_PROCBOX_H

#include "platform/platform.h"

#include <sys/types.h>

/* Opens the mailbox of process pid (name "@PID"). Returns 0, -ENOENT (no
 * such process or it has no mailbox), -EACCES (another user's), -EUCLEAN,
 * -EPROTO, or another -errno. */
int procbox_open(pid_t pid, int readonly, struct shmfile *f);

/* Creates this process's mailbox file of size bytes (formatted by the
 * caller). Returns 0 or -errno. */
int procbox_create(uint64_t size, struct shmfile *f);

#endif
