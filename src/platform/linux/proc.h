/* Inside the Linux platform: reading /proc (the few facts mbx needs about
 * other processes). Nothing here is cached; ident.c builds identities on
 * it. The functions the layers above use are declared in platform.h. */
#ifndef MBX_PROC_H
#define MBX_PROC_H

#include "platform/platform.h"

/* Reads /proc/<path> into buf (cap bytes) as a string. Returns 0, or
 * -ESRCH when the file (or its process) is gone or empty. */
int proc_read(const char *path, char *buf, size_t cap);

/* What one line of /proc/ID/stat says. */
struct proc_stat {
    char state;     /* field 3: R, S, D, T, t, Z, X, ... */
    unsigned flags; /* field 9: the kernel's PF_* flags */
    long threads;   /* field 20 */
    uint64_t start; /* field 22: start time, clock ticks since boot */
};

/* Parses a /proc/ID/stat line. Returns 0, or -ESRCH when it is garbled. */
int proc_stat_parse(const char *line, struct proc_stat *st);

/* Reads and parses /proc/<id>/stat; id may be a process or any thread of
 * one. Returns 0 or -ESRCH. */
int proc_stat_of(pid_t id, struct proc_stat *st);

/* Returns 1 when the task described is ending: a zombie or already inside
 * its exit. For a whole process (thread 0), a main thread that ended while
 * other threads run on does not count: the process lives. */
int proc_stat_ending(const struct proc_stat *st, int whole_process);

/* The inode number of the PID namespace of this process, or 0 if /proc
 * does not say. */
uint64_t proc_pidns(void);

#endif
