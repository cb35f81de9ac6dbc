/* Death notices (mbx_monitor_*, core/monitor.c): what the fork handlers
 * need of them. */
#ifndef MBX_CORE_MONITOR_H
#define MBX_CORE_MONITOR_H

/* Keep the monitors' lock consistent across fork (core/process.c): taken
 * before, let go after, in both processes. */
void monitor_fork_prepare(void);
void monitor_fork_parent(void);
void monitor_fork_child(void);

#endif
