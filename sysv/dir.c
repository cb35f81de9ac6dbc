/* Where libmbx-sysv's files live: the mailbox directory, the same one mbx
 * uses for plain names, so queues and their mailboxes stay together. */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

int sysv_path(char *buf, size_t cap, const char *prefix, const char *tail)
{
    const char *dir = getenv("MBX_DIR");
    int n = snprintf(buf, cap, "%s/%s%s", dir && *dir ? dir : "/dev/shm", prefix, tail);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

void sysv_box_name(char *buf, size_t cap, int32_t id)
{
    snprintf(buf, cap, SYSV_BOX_PREFIX "%d", (int)id);
}
