#include "hang_report.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HANG_GDB_SECONDS 30
#define GDB_PATH         "/usr/bin/gdb"

/* The whole of a small /proc file into buf (NUL-terminated, trailing
 * newline cut); -1 when it cannot be read. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    ssize_t n;
    while (got + 1 < cap && (n = read(fd, buf + got, cap - 1 - got)) > 0)
        got += (size_t)n;
    close(fd);
    buf[got] = '\0';
    while (got && buf[got - 1] == '\n')
        buf[--got] = '\0';
    return (ssize_t)got;
}

/* The state letter of /proc/.../stat: after the last ')' (a thread's name
 * may hold spaces and parentheses). */
static char state_of(const char *stat)
{
    const char *p = strrchr(stat, ')');
    return p && p[1] == ' ' && p[2] ? p[2] : '?';
}

static void one_thread(FILE *f, pid_t pid, const char *tid)
{
    char path[96], comm[64], stat[512], wchan[64], stack[4096];
    snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)pid, tid);
    if (read_small(path, comm, sizeof(comm)) < 0)
        snprintf(comm, sizeof(comm), "?");
    snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid, tid);
    char st = read_small(path, stat, sizeof(stat)) < 0 ? '?' : state_of(stat);
    snprintf(path, sizeof(path), "/proc/%d/task/%s/wchan", (int)pid, tid);
    if (read_small(path, wchan, sizeof(wchan)) <= 0 || strcmp(wchan, "0") == 0)
        snprintf(wchan, sizeof(wchan), "-");
    fprintf(f, "  thread %s (%s): state %c, waiting in %s\n", tid, comm, st, wchan);
    snprintf(path, sizeof(path), "/proc/%d/task/%s/stack", (int)pid, tid);
    if (read_small(path, stack, sizeof(stack)) > 0) {
        /* "[<0>] futex_wait_queue+0x60/0x90" per line: indented under the thread. */
        for (char *line = strtok(stack, "\n"); line; line = strtok(NULL, "\n"))
            fprintf(f, "    kernel: %s\n", line);
    }
}

/* gdb's backtrace of every thread, into f; killed if it takes longer than
 * HANG_GDB_SECONDS. */
static void gdb_backtraces(FILE *f, pid_t pid)
{
    if (access(GDB_PATH, X_OK) != 0) {
        fprintf(f, "  (no user-space backtraces: gdb is not installed)\n");
        return;
    }
    fflush(f);
    char spid[16];
    snprintf(spid, sizeof(spid), "%d", (int)pid);
    pid_t g = fork();
    if (g < 0)
        return;
    if (g == 0) {
        int out = fileno(f);
        if (out >= 0) {
            dup2(out, 1);
            dup2(out, 2);
        }
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        execl(GDB_PATH, GDB_PATH, "-batch", "-nx", "-p", spid, "-ex", "thread apply all bt 30",
              (char *)NULL);
        _exit(127);
    }
    int status;
    for (int waited_ms = 0;; waited_ms += 50) {
        pid_t r = waitpid(g, &status, WNOHANG);
        if (r == g || (r < 0 && errno != EINTR))
            break;
        if (waited_ms >= HANG_GDB_SECONDS * 1000) {
            kill(g, SIGKILL);
            waitpid(g, &status, 0);
            fprintf(f, "  (gdb took over %d s: killed)\n", HANG_GDB_SECONDS);
            break;
        }
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
}

int hang_report(FILE *f, pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    fprintf(f, "hung process %d:\n", (int)pid);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        one_thread(f, pid, e->d_name);
        n++;
    }
    closedir(d);
    gdb_backtraces(f, pid);
    fflush(f);
    return n;
}
