#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "results.h"
#include "roudi.h"

static struct procs g_ps;    /* RouDi, when this process started it */
static pid_t g_owner;        /* the process that started it */
static bool g_up;            /* ready for clients */
static char g_log[PATH_MAX]; /* its stdout and stderr */
static char g_why[200] = "iox-roudi was not started";
static struct roudi_memory g_mem;
static char g_seg[4][128]; /* the names of its shared-memory segments */
static int g_nseg;

const char *roudi_why(void)
{
    return g_why;
}

const struct roudi_memory *roudi_memory(void)
{
    return &g_mem;
}

bool roudi_up(void)
{
    if (g_up)
        return true;
    const char *env = getenv(ROUDI_ENV);
    return env && *env;
}

/* Payload bytes of the chunks a cell of this size can hold at once: in a
 * round trip a few; in a one-way run the subscriber's queue (QUEUE_DEPTH, as
 * many as an mbx mailbox holds) plus one loan per sender. Four times that,
 * so chunks of processes that just ended (freed by RouDi when they
 * deregister) never starve the next cell. */
static unsigned pool_count(size_t size)
{
    for (int i = 0; i < N_RATE; i++)
        if (rate_sizes[i] == size)
            return 4 * QUEUE_DEPTH;
    return 16;
}

/* The mempools for every size the iceoryx rows send: iceoryx takes the
 * smallest pool whose chunks fit the payload (the chunk header is added to
 * the configured size). */
static int write_config(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fprintf(f,
            "# written by mbx-bench for its iceoryx rows\n[general]\nversion = 1\n\n[[segment]]\n");
    size_t sizes[N_LAT + N_RATE];
    int n = 0;
    for (int i = 0; i < N_LAT; i++)
        sizes[n++] = lat_sizes[i];
    for (int i = 0; i < N_RATE; i++)
        sizes[n++] = rate_sizes[i];
    /* Ascending, each size once. */
    for (int i = 0; i < n; i++)
        for (int k = i + 1; k < n; k++)
            if (sizes[k] < sizes[i]) {
                size_t t = sizes[i];
                sizes[i] = sizes[k];
                sizes[k] = t;
            }
    for (int i = 0; i < n; i++) {
        if (i > 0 && sizes[i] == sizes[i - 1])
            continue;
        fprintf(f, "\n[[segment.mempool]]\nsize = %zu\ncount = %u\n", sizes[i],
                pool_count(sizes[i]));
    }
    return fclose(f) == 0 ? 0 : -errno;
}

/* Why RouDi stopped, from its log without colour codes: its first fatal
 * message ("Could not acquire lock, is RouDi still running?"), else its
 * first error, else its last line. */
static void log_reason(char *out, size_t outlen)
{
    out[0] = '\0';
    FILE *f = fopen(g_log, "r");
    if (!f)
        return;
    char line[512];
    int rank = 0; /* of what out holds: 1 last line, 2 error, 3 fatal */
    while (fgets(line, sizeof(line), f)) {
        char clean[512];
        size_t k = 0;
        for (size_t i = 0; line[i] && k + 1 < sizeof(clean); i++) {
            if (line[i] == '\033') { /* ESC [ ... m */
                while (line[i] && line[i] != 'm')
                    i++;
                if (!line[i])
                    break;
                continue;
            }
            if (line[i] != '\n')
                clean[k++] = line[i];
        }
        clean[k] = '\0';
        if (k == 0)
            continue;
        const char *fatal = strstr(clean, "Fatal ]: "), *error = strstr(clean, "Error ]: ");
        int r = fatal ? 3 : error ? 2 : 1;
        const char *text = fatal ? fatal + 9 : error ? error + 9 : clean;
        if (r > rank || (r == 1 && rank == 1)) {
            snprintf(out, outlen, "%.*s", (int)(outlen - 1), text);
            rank = r;
        }
    }
    fclose(f);
}

/* Reads what RouDi reserved from its log ("Reserving N bytes in the shared
 * memory [NAME]": the management segment first, then the pools') and its
 * resident memory from /proc. */
static void read_memory(pid_t pid)
{
    memset(&g_mem, 0, sizeof(g_mem));
    g_nseg = 0;
    FILE *f = fopen(g_log, "r");
    if (!f)
        return;
    char line[512];
    int segments = 0;
    while (fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, "Reserving ");
        unsigned long long bytes;
        char name[128], path[160];
        if (!p ||
            sscanf(p, "Reserving %llu bytes in the shared memory [%127[^]]]", &bytes, name) != 2)
            continue;
        if (g_nseg < 4)
            snprintf(g_seg[g_nseg++], sizeof(g_seg[0]), "%s", name);
        struct stat st;
        snprintf(path, sizeof(path), "/dev/shm/%s", name);
        uint64_t alloc = stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
        if (segments++ == 0) {
            g_mem.mgmt_bytes = bytes;
            g_mem.mgmt_alloc = alloc;
        } else {
            g_mem.data_bytes += bytes;
            g_mem.data_alloc += alloc;
        }
    }
    fclose(f);
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    f = fopen(path, "r");
    if (f) {
        while (fgets(line, sizeof(line), f)) {
            unsigned long long kb;
            if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
                g_mem.rss_bytes = kb * 1024;
        }
        fclose(f);
    }
    g_mem.ok = segments >= 2;
}

static bool log_says_ready(void)
{
    FILE *f = fopen(g_log, "r");
    if (!f)
        return false;
    char line[512];
    bool ready = false;
    while (!ready && fgets(line, sizeof(line), f))
        ready = strstr(line, "RouDi is ready for clients") != NULL;
    fclose(f);
    return ready;
}

int roudi_start(const char *dir)
{
    char config[PATH_MAX];
    snprintf(config, sizeof(config), "%s/roudi.toml", dir);
    snprintf(g_log, sizeof(g_log), "%s/roudi.log", dir);
    int rc = write_config(config);
    if (rc < 0) {
        snprintf(g_why, sizeof(g_why), "cannot write the RouDi configuration: %s", strerror(-rc));
        return rc;
    }
    char *argv[] = {"iox-roudi", "-c", config, "-l", "info", NULL};
    int64_t t0 = now_ns();
    memset(&g_ps, 0, sizeof(g_ps));
    rc = procs_exec_log(&g_ps, argv, g_log);
    if (rc < 0) {
        snprintf(g_why, sizeof(g_why), "cannot start iox-roudi: %s", strerror(-rc));
        return rc;
    }
    g_owner = getpid();
    int64_t deadline = t0 + 10 * (int64_t)1000000000;
    while (!log_says_ready()) {
        rc = procs_sleep(&g_ps, now_ns() + 5 * 1000000);
        if (rc == 0 && g_ps.reaped[0])
            rc = -ECHILD; /* gone with status 0 */
        if (rc == 0 && now_ns() > deadline)
            rc = -ETIMEDOUT;
        if (rc < 0)
            break;
    }
    if (rc < 0) {
        int st = g_ps.status[0];
        roudi_stop();
        char last[120];
        log_reason(last, sizeof(last));
        if (rc == -EINTR)
            snprintf(g_why, sizeof(g_why), "interrupted while iox-roudi started");
        else if (rc == -ETIMEDOUT)
            snprintf(g_why, sizeof(g_why), "iox-roudi was not ready in 10 s%s%.120s",
                     last[0] ? ": " : "", last);
        else if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
            snprintf(g_why, sizeof(g_why),
                     "iox-roudi not found (Debian package iceoryx; scripts/deps.sh)");
        else
            snprintf(g_why, sizeof(g_why), "iox-roudi exited at start%s%.120s", last[0] ? ": " : "",
                     last[0] ? last : "");
        return rc;
    }
    g_mem.start_s = (double)(now_ns() - t0) / 1e9;
    double start_s = g_mem.start_s;
    read_memory(g_ps.pid[0]);
    g_mem.start_s = start_s;
    g_up = true;
    g_why[0] = '\0';
    char pid[24];
    snprintf(pid, sizeof(pid), "%ld", (long)g_ps.pid[0]);
    setenv(ROUDI_ENV, pid, 1);
    return 0;
}

/* RouDi removes its shared memory, socket and lock files when it shuts
 * down, unless it dies on the way: iceoryx 2.0.3 aborts at shutdown when a
 * process still registered with it is gone (kill(2) fails), as children the
 * harness killed are (an interrupted run, a hung cell) until RouDi's
 * keep-alive check drops them. Then this removes what it left (its segments
 * by the names it logged, and its socket) while holding RouDi's own lock, so
 * that no other RouDi can be running meanwhile. */
static void remove_leftovers(void)
{
    int fd = open("/tmp/iox-unique-roudi.lock", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return; /* removed at a clean shutdown */
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd); /* another RouDi runs: the segments are its own now */
        return;
    }
    int removed = 0;
    for (int i = 0; i < g_nseg; i++) {
        char path[160];
        snprintf(path, sizeof(path), "/dev/shm/%s", g_seg[i]);
        removed += unlink(path) == 0;
    }
    struct stat st;
    if (lstat("/tmp/roudi", &st) == 0 && S_ISSOCK(st.st_mode))
        unlink("/tmp/roudi");
    flock(fd, LOCK_UN);
    close(fd);
    if (removed)
        fprintf(stderr,
                "mbx-bench: iox-roudi died at shutdown; removed its %d shared-memory "
                "segment(s)\n",
                removed);
}

void roudi_stop(void)
{
    if (g_ps.n == 0 || getpid() != g_owner)
        return;
    g_up = false;
    unsetenv(ROUDI_ENV);
    pid_t pid = g_ps.pid[0];
    if (!g_ps.reaped[0]) {
        /* SIGTERM: RouDi shuts down and removes its shared memory, its
         * socket and its lock files; its clients are all gone by now. */
        kill(pid, SIGTERM);
        int64_t deadline = now_ns() + 5 * (int64_t)1000000000;
        struct timespec ms = {0, 2000000};
        while (now_ns() < deadline) {
            pid_t r = waitpid(pid, &g_ps.status[0], WNOHANG);
            if (r == pid || (r < 0 && errno == ECHILD)) {
                g_ps.reaped[0] = true;
                break;
            }
            nanosleep(&ms, NULL);
        }
        if (!g_ps.reaped[0]) {
            fprintf(stderr, "mbx-bench: iox-roudi (pid %ld) ignored SIGTERM for 5 s: killed\n",
                    (long)pid);
            procs_kill(&g_ps);
        }
    }
    int st = g_ps.status[0];
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        remove_leftovers();
    g_ps.n = 0;
}
