/* Death notices (mbx_monitor_*, core/monitor.c): what the fork handlers
 * need of them. */
#ifndef MBX_CORE_MONITOR_H
#define MBX_CORE_MONITOR_H

#include "mbx.h"

/* Keep the monitors' lock consistent across fork (core/process.c): taken
 * before, let go after, in both processes. */
void monitor_fork_prepare(void);
void monitor_fork_parent(void);
void monitor_fork_child(void);

/* mbx_close of handle h: monitors that would send their notice to h send
 * none from now on (their descriptors still fire). Waits for a notice
 * being sent to h. */
void monitor_handle_closing(const mbx *h);

#endif
