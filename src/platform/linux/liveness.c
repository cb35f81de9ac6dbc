#include "platform/linux/liveness.h"

#include "platform/linux/proc.h"

#include <errno.h>
#include <signal.h>

int liveness_pid_alive(int32_t pid)
{
    if (pid <= 0)
        return 0;
    if (kill(pid, 0) != 0 && errno != EPERM)
        return 0;
    /* A process that is ending answers kill() but will never finish what it
     * started. */
    return !proc_ending(pid);
}
