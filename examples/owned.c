/* A process-owned mailbox: a worker owns "jobs"; when it exits, the mailbox
 * goes with it and senders learn so. */
#include <mbx.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    int ready[2];
    if (pipe(ready) != 0)
        return 1;
    pid_t worker = fork();
    if (worker == 0) { /* the owner: the only process that may receive */
        mbx *jobs;
        if (mbx_open("jobs", MBX_RECV | MBX_CREATE | MBX_OWNED, NULL, &jobs) != 0)
            _exit(1);
        (void)!write(ready[1], "r", 1);
        char job[64];
        ssize_t n = mbx_recv(jobs, job, sizeof(job), NULL, 5000000000);
        printf("worker got: %.*s\n", (int)(n > 0 ? n : 0), job);
        fflush(stdout);
        /* exit, crash or kill -9: the mailbox is removed */
        _exit(n == 5 && memcmp(job, "job 1", 5) == 0 ? 0 : 2);
    }
    char c;
    if (read(ready[0], &c, 1) != 1)
        return 1;
    mbx *jobs;
    int r = mbx_open("jobs", MBX_SEND, NULL, &jobs);
    if (r == 0)
        r = mbx_send(jobs, "job 1", 5, 0, MBX_FOREVER);
    int status;
    waitpid(worker, &status, 0);
    /* Sends go on until one looks at the owner (at most every 50 ms) and
     * finds it gone: from then on every call says -EIDRM. */
    int after = 0;
    for (int i = 0; i < 500; i++) {
        after = mbx_send(jobs, "job 2", 5, 0, MBX_NONBLOCK);
        if (after == -EIDRM)
            break;
        usleep(10000);
    }
    printf("send after the owner exited: %s\n", mbx_strerror(after));
    mbx *again;
    int reopen = mbx_open("jobs", MBX_SEND, NULL, &again);
    printf("open after the owner exited: %s\n", mbx_strerror(reopen));
    mbx_close(jobs);
    int worker_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    return r == 0 && worker_ok && after == -EIDRM && reopen == -ENOENT ? 0 : 1;
}
