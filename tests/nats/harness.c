/* nats-server and mbx bridge processes for the NATS tests (harness.h). */
#include "harness.h"
#include "port_owner.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dirs[32][256];
static int ndirs;
static char server_path[256];
static const char *log_dir; /* the servers' logs, made with the first */
static char logs[32][320];  /* every log written, for nh_dump_logs */
static int nlogs;
/* Each bridge's standard output, kept open until it is stopped (so that
 * what it prints when it stops goes somewhere). */
static struct {
    pid_t pid;
    int fd;
} outs[64];

int64_t nh_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int nh_have_server(void)
{
    const char *path = getenv("PATH");
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s:/usr/bin:/usr/sbin", path ? path : "");
    for (char *save = NULL, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(server_path, sizeof(server_path), "%s/nats-server", d);
        if (access(server_path, X_OK) == 0)
            return 1;
    }
    server_path[0] = 0;
    return 0;
}

void nh_require(void)
{
    if (!nh_have_server()) {
        printf("SKIP: nats-server is not installed (apt-get install nats-server; make test "
               "installs it)\n");
        exit(77);
    }
    if (!getenv("MBX") || access(getenv("MBX"), X_OK) != 0) {
        printf("SKIP: $MBX does not name the mbx command (ctest sets it)\n");
        exit(77);
    }
    atexit(nh_cleanup);
}

/* The lowest port of the kernel's ephemeral range (32768 by default). */
static int ephemeral_low(void)
{
    int lo = 32768, hi = 0;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%d %d", &lo, &hi) != 2)
            lo = 32768;
        fclose(f);
    }
    return lo;
}

/* A port is chosen below the ephemeral range and checked free: a port the
 * kernel handed out for bind(0) went back to that range once closed, and a
 * connection another test opened meanwhile could take it before the
 * server bound it (a cluster node then exited at start, once in a few
 * hundred sanitizer runs with four tests at a time). */
int nh_free_port(void)
{
    int lo = 10000, hi = ephemeral_low() - 1;
    if (hi <= lo)
        hi = lo + 10000;
    unsigned seed = (unsigned)getpid() ^ (unsigned)nh_now();
    for (int tries = 0; tries < 200; tries++) {
        int port = lo + (int)(rand_r(&seed) % (unsigned)(hi - lo));
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (ok)
            return port;
    }
    return -1;
}

/* In a child about to run a server or a bridge: it dies with the test
 * (SIGKILL when the test's thread that forked it ends), so a test killed
 * at a time limit leaves no process behind. */
static void die_with(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127); /* the test died before the request took hold */
}

const char *nh_tmpdir(const char *tag)
{
    if (ndirs == 32)
        abort();
    char *d = dirs[ndirs];
    /* Under $MBX_TEST_BASE when set (the mutation check removes it, also
     * after a test it killed), else in memory. */
    const char *base = getenv("MBX_TEST_BASE");
    snprintf(d, 256, "%s/mbx-nats-%s-XXXXXX", base && *base ? base : "/dev/shm", tag);
    if (!mkdtemp(d))
        abort();
    ndirs++;
    return d;
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[1024];
            snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
                rm_rf(p);
            else
                unlink(p);
        }
        closedir(d);
    }
    rmdir(path);
}

/* Servers and bridges still running, by pid, stopped by nh_cleanup (a
 * failed test leaves its own; its struct nh_server may be gone with its
 * stack frame, so the pid is what is kept). */
static pid_t servers[32];
static pid_t bridges[64];

static void track(pid_t *v, int n, pid_t pid, int add)
{
    for (int i = 0; i < n; i++)
        if (add ? v[i] == 0 : v[i] == pid) {
            v[i] = add ? pid : 0;
            return;
        }
}

static void track_bridge(pid_t pid, int add)
{
    track(bridges, 64, pid, add);
}

static void track_server(pid_t pid, int add)
{
    track(servers, 32, pid, add);
}

void nh_stop_bridges(void)
{
    for (int i = 0; i < 64; i++)
        if (bridges[i] > 0)
            nh_bridge_stop(bridges[i], SIGKILL);
}

void nh_cleanup(void)
{
    nh_stop_bridges();
    for (int i = 0; i < 32; i++)
        if (servers[i] > 0) {
            kill(servers[i], SIGKILL);
            waitpid(servers[i], NULL, 0);
            servers[i] = 0;
        }
    for (int i = 0; i < ndirs; i++)
        rm_rf(dirs[i]);
    ndirs = 0;
    log_dir = NULL;
    nlogs = 0;
}

void nh_server_init(struct nh_server *s, const char *name, int js)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->port = nh_free_port();
    if (!log_dir)
        log_dir = nh_tmpdir("logs");
    snprintf(s->log, sizeof(s->log), "%s/%s-%d.log", log_dir, name, s->port);
    if (nlogs < 32)
        snprintf(logs[nlogs++], sizeof(logs[0]), "%s", s->log);
    if (js)
        snprintf(s->store, sizeof(s->store), "%s", nh_tmpdir(name));
}

void nh_url(const struct nh_server *s, char *out, size_t cap)
{
    snprintf(out, cap, "nats://127.0.0.1:%d", s->port);
}

/* Prints the last `lines` lines of the file at path to stderr. */
static void print_tail(const char *path, int lines)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    /* Two passes: count the lines, then print the last ones. */
    char buf[1024];
    long total = 0, k = 0;
    while (fgets(buf, sizeof(buf), f))
        total++;
    rewind(f);
    fprintf(stderr, "---- %s (last %d of %ld lines)\n", path, lines, total);
    while (fgets(buf, sizeof(buf), f))
        if (k++ >= total - lines)
            fputs(buf, stderr);
    fclose(f);
}

/* Kills and reaps a server that did not start as it should, and says why. */
static int start_failed(struct nh_server *s, const char *why)
{
    fprintf(stderr, "nats-server %s (ports %d, %d): %s; its log:\n", s->name, s->port, s->cport,
            why);
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    print_tail(s->log, 20);
    track_server(s->pid, 0);
    s->pid = 0;
    return -1;
}

/* Whether s listens on its client port and its cluster port (when it has
 * one), and nobody else does: the ports are on its command line, readable
 * by every user, and one that another process bound first is not s's. */
static enum port_owner ports_owned(const struct nh_server *s)
{
    enum port_owner c = port_owner_check(s->pid, s->port);
    if (c != PORT_OWNED || !s->cport)
        return c;
    return port_owner_check(s->pid, s->cport);
}

int nh_server_start(struct nh_server *s)
{
    char port[16], cluster[64];
    const char *argv[24];
    int n = 0;
    snprintf(port, sizeof(port), "%d", s->port);
    argv[n++] = server_path;
    argv[n++] = "-a";
    argv[n++] = "127.0.0.1";
    argv[n++] = "-p";
    argv[n++] = port;
    argv[n++] = "-n";
    argv[n++] = s->name;
    if (s->store[0]) {
        argv[n++] = "-js";
        argv[n++] = "-sd";
        argv[n++] = s->store;
    }
    if (s->cport) {
        snprintf(cluster, sizeof(cluster), "nats://127.0.0.1:%d", s->cport);
        argv[n++] = "--cluster_name";
        argv[n++] = "mbxtest";
        argv[n++] = "--cluster";
        argv[n++] = cluster;
        argv[n++] = "--routes";
        argv[n++] = s->routes;
    }
    if (s->conf[0]) {
        argv[n++] = "-c";
        argv[n++] = s->conf;
    }
    argv[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        die_with(parent);
        /* Appended: a server started again keeps its first life's lines. */
        int out = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (!getenv("NH_VERBOSE") && out >= 0) {
            dup2(out, 1);
            dup2(out, 2);
        }
        execv(server_path, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    track_server(pid, 1);
    /* Started means: listening on its ports itself. A connect to the port
     * is no proof: another user who bound it first (the server then exits)
     * would take the test's connections. A restarted node must have its
     * old ports back (the others' routes name them), so a port taken in
     * the meantime fails the start instead of trying another. */
    int64_t deadline = nh_now() + 30 * (int64_t)1000000000;
    while (nh_now() < deadline) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "nats-server %s exited at start (status %d); its log:\n", s->name,
                    status);
            print_tail(s->log, 20);
            track_server(pid, 0);
            s->pid = 0;
            return -1;
        }
        enum port_owner o = ports_owned(s);
        if (o == PORT_OWNED)
            return 0;
        if (o == PORT_FOREIGN)
            return start_failed(s, "another process listens on its port");
        usleep(20000);
    }
    return start_failed(s, "not listening on its ports after 30 s");
}

void nh_dump_logs(int lines)
{
    for (int i = 0; i < nlogs; i++)
        print_tail(logs[i], lines);
}

void nh_server_stop(struct nh_server *s, int sig)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, sig);
    waitpid(s->pid, NULL, 0);
    track_server(s->pid, 0);
    s->pid = 0;
}

pid_t nh_bridge(const char *dir, const char *const *args)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC))
        return -1;
    const char *argv[48];
    int n = 0;
    argv[n++] = getenv("MBX");
    argv[n++] = "bridge";
    for (int i = 0; args[i] && n < 47; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        die_with(parent);
        dup2(p[1], 1);
        setenv("MBX_DIR", dir, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    char line[512];
    size_t have = 0;
    int64_t deadline = nh_now() + 30 * (int64_t)1000000000;
    int ok = 0;
    while (!ok && nh_now() < deadline && have < sizeof(line) - 1) {
        struct pollfd pf = {p[0], POLLIN, 0};
        if (poll(&pf, 1, 100) <= 0)
            continue;
        ssize_t k = read(p[0], line + have, sizeof(line) - 1 - have);
        if (k <= 0)
            break;
        have += (size_t)k;
        line[have] = 0;
        ok = strstr(line, "bridging") && strchr(line, '\n');
    }
    if (!ok) {
        close(p[0]);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    track_bridge(pid, 1);
    for (int i = 0; i < 64; i++)
        if (outs[i].pid == 0) {
            outs[i].pid = pid;
            outs[i].fd = p[0];
            return pid;
        }
    close(p[0]);
    return pid;
}

int nh_bridge_stop(pid_t pid, int sig)
{
    int status = 0;
    kill(pid, sig);
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    track_bridge(pid, 0);
    for (int i = 0; i < 64; i++)
        if (outs[i].pid == pid) {
            close(outs[i].fd);
            outs[i].pid = 0;
        }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
