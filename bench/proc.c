#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hang_report.h"
#include "proc.h"

static sigset_t g_waited;  /* the signals this process takes with sigtimedwait */
static sigset_t g_oldmask; /* restored in children */
static bool g_interrupted;

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void proc_init(void)
{
    sigemptyset(&g_waited);
    sigaddset(&g_waited, SIGCHLD);
    sigaddset(&g_waited, SIGINT);
    sigaddset(&g_waited, SIGTERM);
    sigaddset(&g_waited, SIGHUP);
    sigprocmask(SIG_BLOCK, &g_waited, &g_oldmask);
}

bool proc_interrupted(void)
{
    return g_interrupted;
}

/* A child must not outlive the benchmark: a parent killed hard would
 * otherwise leave spinning children behind. */
static void child_init(pid_t parent, int cpu)
{
    sigprocmask(SIG_SETMASK, &g_oldmask, NULL);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof(set), &set);
    }
}

static int add(struct procs *ps, pid_t pid)
{
    ps->pid[ps->n] = pid;
    ps->status[ps->n] = 0;
    ps->reaped[ps->n] = false;
    ps->n++;
    return 0;
}

int procs_start(struct procs *ps, int cpu, int (*fn)(void *arg, int index), void *arg, int index)
{
    if (ps->n >= PROCS_MAX)
        return -EMFILE;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        child_init(parent, cpu);
        _exit(fn(arg, index) == 0 ? 0 : 1);
    }
    return add(ps, pid);
}

static int exec_to(struct procs *ps, char *const argv[], const char *out)
{
    if (ps->n >= PROCS_MAX)
        return -EMFILE;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        child_init(parent, -1);
        signal(SIGPIPE, SIG_DFL);
        if (out) {
            int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
            if (fd < 0)
                _exit(126);
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    return add(ps, pid);
}

int procs_exec(struct procs *ps, char *const argv[], bool quiet)
{
    return exec_to(ps, argv, quiet ? "/dev/null" : NULL);
}

int procs_exec_log(struct procs *ps, char *const argv[], const char *log)
{
    return exec_to(ps, argv, log);
}

static bool failed(int status)
{
    return !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

/* Reaps whichever children have exited. Returns true if one failed. */
static bool reap(struct procs *ps)
{
    bool bad = false;
    for (int i = 0; i < ps->n; i++) {
        if (!ps->reaped[i] && waitpid(ps->pid[i], &ps->status[i], WNOHANG) == ps->pid[i])
            ps->reaped[i] = true;
        if (ps->reaped[i] && failed(ps->status[i]))
            bad = true;
    }
    return bad;
}

static bool all_reaped(const struct procs *ps)
{
    for (int i = 0; i < ps->n; i++)
        if (!ps->reaped[i])
            return false;
    return true;
}

/* Waits for a signal of ours until `until`. Returns the signal, 0 at the
 * time. */
static int wait_signal(int64_t until)
{
    for (;;) {
        int64_t left = until - now_ns();
        if (left <= 0)
            return 0;
        struct timespec ts = {left / 1000000000, left % 1000000000};
        int sig = sigtimedwait(&g_waited, NULL, &ts);
        if (sig > 0)
            return sig;
        if (errno != EINTR && errno != EAGAIN)
            return 0;
    }
}

int procs_sleep(struct procs *ps, int64_t until)
{
    for (;;) {
        if (g_interrupted)
            return -EINTR;
        if (reap(ps))
            return -ECHILD;
        int sig = wait_signal(until);
        if (sig == 0)
            return 0;
        if (sig != SIGCHLD)
            g_interrupted = true;
    }
}

int procs_wait(struct procs *ps, int64_t deadline)
{
    int rc;
    for (;;) {
        if (g_interrupted) {
            rc = -EINTR;
            break;
        }
        if (reap(ps)) {
            rc = -ECHILD;
            break;
        }
        if (all_reaped(ps))
            return 0;
        if (now_ns() >= deadline) {
            rc = -ETIMEDOUT;
            /* What each was doing, before it is killed: a cell that hangs
             * once in a hundred runs is otherwise left with no clue. */
            for (int i = 0; i < ps->n; i++)
                if (!ps->reaped[i])
                    hang_report(stderr, ps->pid[i]);
            break;
        }
        int sig = wait_signal(deadline);
        if (sig > 0 && sig != SIGCHLD)
            g_interrupted = true;
    }
    procs_kill(ps);
    return rc;
}

void procs_kill(struct procs *ps)
{
    for (int i = 0; i < ps->n; i++) {
        if (ps->reaped[i])
            continue;
        kill(ps->pid[i], SIGKILL);
        while (waitpid(ps->pid[i], &ps->status[i], 0) < 0 && errno == EINTR)
            ;
        ps->reaped[i] = true;
    }
}

void *shared_alloc(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void shared_free(void *p, size_t len)
{
    if (p)
        munmap(p, len);
}
