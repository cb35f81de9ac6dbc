#include "platform/linux/liveness.h"

#include <errno.h>
#include <signal.h>

int liveness_pid_alive(int32_t pid)
{
    if (pid <= 0)
        return 0;
    return kill(pid, 0) == 0 || errno == EPERM;
}
