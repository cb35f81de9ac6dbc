#include "platform/linux/proc.h"

#include "self_id.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int proc_read(pid_t pid, const char *what, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -ESRCH;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return -ESRCH;
    buf[n] = 0;
    return 0;
}

/* The kernel's flag for a task inside exit (include/linux/sched.h). */
#define PF_EXITING 0x4u

int proc_stat_ending(const char *paren)
{
    /* A zombie (state 'Z' or 'X') or, earlier, a task marked exiting (field
     * 9, flags): the kernel hands a robust lock on in the middle of an exit,
     * which can take long (a large address space to tear down), before the
     * process is a zombie. */
    char state = 0;
    unsigned flags = 0;
    long threads = 0;
    /* Fields 3 (state), 9 (flags) and 20 (num_threads), from one read. */
    if (sscanf(paren + 1, " %c %*d %*d %*d %*d %*d %u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %ld",
               &state, &flags, &threads) != 3)
        return 0;
    if (state != 'Z' && state != 'X' && !(flags & PF_EXITING))
        return 0;
    /* The stat line describes the main thread. Calling a live process dead
     * would free what it still uses; calling a dying one alive only keeps
     * its leftovers until a later look. So a process whose main thread
     * ended while others run counts as alive, even while a group kill is
     * still taking those others down. */
    return threads <= 1;
}

int proc_ending(pid_t pid)
{
    char buf[1024];
    if (pid <= 0 || proc_read(pid, "stat", buf, sizeof(buf)))
        return 0;
    const char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && proc_stat_ending(paren);
}

int proc_start(pid_t pid, uint64_t *start)
{
    char buf[1024];
    if (pid <= 0 || proc_read(pid, "stat", buf, sizeof(buf)))
        return -ESRCH;
    /* "pid (comm) state ppid ...": comm may hold anything, ')' included. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return -ESRCH;
    if (proc_stat_ending(p))
        return -ESRCH;
    p += 2;
    /* The state is field 3; skip to field 22. */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return -ESRCH;
        p++;
    }
    char *end;
    *start = strtoull(p, &end, 10);
    return end == p ? -ESRCH : 0;
}

int proc_euid(pid_t pid, uint32_t *uid)
{
    char buf[2048];
    if (pid <= 0 || proc_read(pid, "status", buf, sizeof(buf)))
        return -ESRCH;
    const char *p = strstr(buf, "\nUid:");
    unsigned real, eff;
    if (!p || sscanf(p + 5, "%u %u", &real, &eff) != 2)
        return -ESRCH;
    *uid = eff;
    return 0;
}

static int32_t cached_pid;
static uint64_t cached_start;

uint64_t proc_self_start(void)
{
    int32_t me = self_pid();
    if (__atomic_load_n(&cached_pid, __ATOMIC_ACQUIRE) == me)
        return __atomic_load_n(&cached_start, __ATOMIC_RELAXED);
    uint64_t start = 0;
    proc_start(me, &start);
    __atomic_store_n(&cached_start, start, __ATOMIC_RELAXED);
    __atomic_store_n(&cached_pid, me, __ATOMIC_RELEASE);
    return start;
}

int proc_alive(int32_t pid, uint64_t start, int bits32)
{
    uint64_t now;
    if (pid <= 0 || proc_start(pid, &now))
        return 0;
    return bits32 ? (uint32_t)now == (uint32_t)start : now == start;
}
