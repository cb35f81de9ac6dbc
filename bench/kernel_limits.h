/* Kernel limits that stop the POSIX and System V queues from carrying large
 * messages. As root the benchmark raises them for the run, so the table
 * compares mechanisms rather than default settings: in an IPC namespace of
 * the run's own (the machine's values untouched, nothing to put back), or,
 * where unshare(CLONE_NEWIPC) is refused, machine-wide and put back at the
 * end (while raised, any user's new queue gets the raised size, and a
 * killed run leaves them raised). */
#ifndef BENCH_KERNEL_LIMITS_H
#define BENCH_KERNEL_LIMITS_H

#include <stddef.h>

#define SYSCTL_MQ_MSGSIZE_MAX "/proc/sys/fs/mqueue/msgsize_max"
#define SYSCTL_MQ_MSG_MAX     "/proc/sys/fs/mqueue/msg_max"
#define SYSCTL_MSGMAX         "/proc/sys/kernel/msgmax"
#define SYSCTL_MSGMNB         "/proc/sys/kernel/msgmnb"

/* Reads the number in a /proc/sys file. Returns 0 or a negative errno. */
int sysctl_get(const char *path, long *out);

/* As root, raises what keeps messages of max_size bytes out, queues of
 * `depth` such messages for System V (and says so on stderr); otherwise does
 * nothing, and those sizes show as n/a with why. RLIMIT_MSGQUEUE can only
 * grow with CAP_SYS_RESOURCE, which a container's root may lack. Called
 * before the run makes any System V or POSIX queue and before it forks the
 * children that use them: they must all be in the new IPC namespace. */
void limits_raise(size_t max_size, size_t depth);

/* Puts back every value limits_raise changed; safe to call more than once. */
void limits_restore(void);

#endif
