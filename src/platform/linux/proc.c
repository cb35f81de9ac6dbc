#include "platform/linux/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int proc_read(const char *path, char *buf, size_t cap)
{
    char full[96];
    snprintf(full, sizeof(full), "/proc/%s", path);
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -ESRCH;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return -ESRCH;
    buf[n] = 0;
    return 0;
}

int proc_stat_parse(const char *line, struct proc_stat *st)
{
    /* "pid (comm) state ...": comm may hold anything, ')' included. */
    const char *p = strrchr(line, ')');
    if (!p || p[1] != ' ')
        return -ESRCH;
    unsigned long long start;
    /* Fields 3 (state), 9 (flags), 20 (num_threads) and 22 (starttime). */
    if (sscanf(p + 1,
               " %c %*d %*d %*d %*d %*d %u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %ld %*d %llu",
               &st->state, &st->flags, &st->threads, &start) != 4)
        return -ESRCH;
    st->start = start;
    return 0;
}

int proc_stat_of(pid_t id, struct proc_stat *st)
{
    char path[32], buf[1024];
    if (id <= 0)
        return -ESRCH;
    snprintf(path, sizeof(path), "%d/stat", (int)id);
    if (proc_read(path, buf, sizeof(buf)))
        return -ESRCH;
    return proc_stat_parse(buf, st);
}

/* The kernel's flag for a task inside exit (include/linux/sched.h). */
#define PF_EXITING 0x4u

int proc_stat_ending(const struct proc_stat *st, int whole_process)
{
    /* A zombie (state 'Z' or 'X') or, earlier, a task marked exiting: an
     * exit can take long (a large address space to tear down) before the
     * task is a zombie, and it never runs user code again. */
    if (st->state != 'Z' && st->state != 'X' && !(st->flags & PF_EXITING))
        return 0;
    /* The stat line of a process describes its main thread. Calling a live
     * process dead would free what it still uses; calling a dying one
     * alive only keeps its leftovers until a later look. So a process
     * whose main thread ended while others run counts as alive. */
    return !whole_process || st->threads <= 1;
}

int proc_start(pid_t pid, uint64_t *start)
{
    struct proc_stat st;
    if (proc_stat_of(pid, &st) || proc_stat_ending(&st, 1))
        return -ESRCH;
    *start = st.start;
    return 0;
}

int proc_euid(pid_t pid, uint32_t *uid)
{
    char path[32], buf[4096];
    snprintf(path, sizeof(path), "%d/status", (int)pid);
    if (pid <= 0 || proc_read(path, buf, sizeof(buf)))
        return -ESRCH;
    /* /proc also answers for a thread's id, which names no process: a
     * mailbox handed to one could never be claimed (found by a review). */
    const char *t = strstr(buf, "\nTgid:");
    int tgid;
    if (!t || sscanf(t + 6, "%d", &tgid) != 1 || tgid != (int)pid)
        return -ESRCH;
    const char *p = strstr(buf, "\nUid:");
    unsigned real, eff;
    if (!p || sscanf(p + 5, "%u %u", &real, &eff) != 2)
        return -ESRCH;
    *uid = eff;
    return 0;
}

int proc_stopped(pid_t pid)
{
    struct proc_stat st;
    return proc_stat_of(pid, &st) == 0 && (st.state == 'T' || st.state == 't');
}

uint64_t proc_pidns(void)
{
    struct stat st;
    return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}
