#include "platform/linux/liveness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The kernel's flag for a task inside exit (include/linux/sched.h). */
#define PF_EXITING 0x4u

/* A process that is exiting answers kill() but will never finish what it
 * started: a zombie (state 'Z' or 'X' after the command name in
 * /proc/PID/stat) or, earlier, a task already marked exiting (field 9,
 * flags). The second matters because the kernel hands a robust lock on in
 * the middle of the exit, which can take long (a large address space to
 * tear down), before the process is a zombie. */
static int is_ending(int32_t pid)
{
    char path[32], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    const char *paren = strrchr(buf, ')');
    char state = 0;
    unsigned flags = 0;
    if (!paren || sscanf(paren + 1, " %c %*d %*d %*d %*d %*d %u", &state, &flags) != 2)
        return 0;
    return state == 'Z' || state == 'X' || (flags & PF_EXITING) != 0;
}

/* /proc/PID/stat describes the main thread. When only it has ended
 * (pthread_exit in main), the process lives on in its other threads: they
 * are counted in the "Threads:" line of /proc/PID/status. */
static int other_threads_live(int32_t pid)
{
    char path[32], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    const char *line = strstr(buf, "\nThreads:");
    unsigned threads = 0;
    return line && sscanf(line + 9, "%u", &threads) == 1 && threads > 1;
}

int liveness_pid_alive(int32_t pid)
{
    if (pid <= 0)
        return 0;
    if (kill(pid, 0) != 0 && errno != EPERM)
        return 0;
    /* Calling a live process dead would free what it still uses; calling
     * a dying one alive only keeps its leftovers until a later look. So a
     * process whose main thread ended while others run counts as alive,
     * even while a group kill is still taking those others down. */
    return !is_ending(pid) || other_threads_live(pid);
}
