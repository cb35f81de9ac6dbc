/* Processes by identity: pid plus start time, read from /proc, so a pid the
 * kernel reused for a new process is not mistaken for the old one. */
#ifndef MBX_PROC_H
#define MBX_PROC_H

#include <stdint.h>
#include <sys/types.h>

/* Reads /proc/PID/<what> into buf (cap bytes) as a string. Returns 0, or
 * -ESRCH when the process or the file is gone. */
int proc_read(pid_t pid, const char *what, char *buf, size_t cap);

/* Given /proc/PID/stat from its last ')' (after the command name), returns
 * 1 when the process is ending: a zombie or already inside its exit, and
 * no other thread of it runs on; else 0 (also when the line is garbled). */
int proc_stat_ending(const char *paren);

/* Returns 1 when process pid is ending (see proc_stat_ending), 0 when it
 * runs or cannot be read. */
int proc_ending(pid_t pid);

/* Stores the start time of live process pid (one that is ending counts as
 * dead) in *start. Returns 0 or -ESRCH. */
int proc_start(pid_t pid, uint64_t *start);

/* Stores the effective uid of live process pid. Returns 0 or -ESRCH. */
int proc_euid(pid_t pid, uint32_t *uid);

/* This process's start time, cached (renewed in a forked child). */
uint64_t proc_self_start(void);

/* Returns 1 when process pid is alive and started at start (compared on the
 * low 32 bits only when bits32 is set), else 0. pid <= 0 is never alive. */
int proc_alive(int32_t pid, uint64_t start, int bits32);

#endif
