/* Reading /proc: the few facts mbx needs about other processes. Nothing
 * here is cached; see ident.h for identities built on it. */
#ifndef MBX_PROC_H
#define MBX_PROC_H

#include <stdint.h>
#include <sys/types.h>

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

/* Stores the start time of live process pid (one that is ending counts as
 * dead) in *start. Returns 0 or -ESRCH. */
int proc_start(pid_t pid, uint64_t *start);

/* Stores the effective uid of live process pid. Returns 0 or -ESRCH. */
int proc_euid(pid_t pid, uint32_t *uid);

/* Returns 1 when process pid is stopped (SIGSTOP, or traced and
 * stopped), else 0. */
int proc_stopped(pid_t pid);

/* The inode number of the PID namespace of this process, or 0 if /proc
 * does not say. */
uint64_t proc_pidns(void);

#endif
