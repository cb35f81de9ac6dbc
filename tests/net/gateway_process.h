/* A gateway in a process of its own, for tests that kill it with SIGKILL
 * and start it again: the test program runs itself again as
 * `PROGRAM gateway PORT FD` (main hands that to gateway_process_main),
 * and the gateway reports its port through FD. */
#ifndef MBX_TEST_GATEWAY_PROCESS_H
#define MBX_TEST_GATEWAY_PROCESS_H

#include "mbx.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

/* The gateway's process: exports the names `allow` matches on
 * 127.0.0.1:port (0: any), sessions lingering linger_ms (0: the default),
 * writes the port it got (or -errno) to fd report, and runs until its
 * parent, the test, is gone (killed). Returns the process's exit
 * status. */
static inline int gateway_process_main(const char *allow, const char *port, int report,
                                       uint32_t linger_ms)
{
    const char *const names[] = {allow, NULL};
    mbx_gateway_options o;
    mbx_gateway_options_init(&o);
    o.allow = names;
    if (linger_ms)
        o.linger_ms = linger_ms;
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%s", port);
    pid_t parent = getppid();
    mbx_gateway *g = NULL;
    int r = -1;
    /* The port of the gateway just killed: free at once (SO_REUSEADDR), a
     * few tries in case it is not. */
    for (int i = 0; i < 100; i++) {
        r = mbx_gateway_start(addr, &o, &g);
        if (r != -EADDRINUSE)
            break;
        usleep(50000);
    }
    int v = r ? r : mbx_gateway_port(g);
    if (write(report, &v, sizeof(v)) != sizeof(v) || r)
        return 1;
    close(report);
    while (getppid() == parent)
        usleep(100000);
    mbx_gateway_stop(g);
    return 0;
}

/* Starts the gateway's process (self_exe run again) on *port (0: any) and
 * waits up to 20 s for its port, which it stores in *port. Returns its
 * pid, or -1 after saying why (no cmocka assertion: a test's own threads
 * call this too). */
static inline pid_t gateway_process_start(const char *self_exe, int *port)
{
    int p[2];
    if (pipe(p))
        return -1;
    char ps[16], fd[16];
    snprintf(ps, sizeof(ps), "%d", *port);
    snprintf(fd, sizeof(fd), "%d", p[1]);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]), close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        execl(self_exe, self_exe, "gateway", ps, fd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    struct pollfd pf = {p[0], POLLIN, 0};
    int v = 0;
    if (poll(&pf, 1, 20000) != 1 || read(p[0], &v, sizeof(v)) != (ssize_t)sizeof(v))
        v = 0;
    close(p[0]);
    if (v <= 0 || (*port && v != *port)) {
        fprintf(stderr, "the gateway did not start on port %d: %d\n", *port, v);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    *port = v;
    return pid;
}

#endif
