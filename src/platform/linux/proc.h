/* Processes by identity: pid plus start time, read from /proc, so a pid the
 * kernel reused for a new process is not mistaken for the old one. */
#ifndef MBX_PROC_H
#define MBX_PROC_H

#include <stdint.h>
#include <sys/types.h>

/* Stores the start time of live process pid (a zombie counts as dead) in
 * *start. Returns 0 or -ESRCH. */
int proc_start(pid_t pid, uint64_t *start);

/* Stores the effective uid of live process pid. Returns 0 or -ESRCH. */
int proc_euid(pid_t pid, uint32_t *uid);

/* This process's start time, cached (renewed in a forked child). */
uint64_t proc_self_start(void);

/* Returns 1 when process pid is alive and started at start (compared on the
 * low 32 bits only when bits32 is set), else 0. pid <= 0 is never alive. */
int proc_alive(int32_t pid, uint64_t start, int bits32);

#endif
