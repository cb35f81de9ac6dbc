/* Is a process still there? For slots a dead process left half done. */
#ifndef MBX_LIVENESS_H
#define MBX_LIVENESS_H

#include <stdint.h>

/* Returns 1 when process pid exists (of any user) and is not exiting, 0
 * when it is gone or pid is not a valid process id. A reused pid reads as
 * alive: what it guards then waits until that process ends too. */
int liveness_pid_alive(int32_t pid);

#endif
