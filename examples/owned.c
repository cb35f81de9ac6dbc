/* A process-owned mailbox: a worker owns "jobs"; when it exits, the mailbox
 * goes with it and senders learn so. */
#include <mbx.h>

#include <errno.h>
#include <stdio.h>
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
        _exit(0); /* exit, crash or kill -9: the mailbox is removed */
    }
    char c;
    if (read(ready[0], &c, 1) != 1)
        return 1;
    mbx *jobs;
    int r = mbx_open("jobs", MBX_SEND, NULL, &jobs);
    if (r == 0)
        r = mbx_send(jobs, "job 1", 5, 0, MBX_FOREVER);
    waitpid(worker, NULL, 0);
    usleep(100000); /* owner deaths are noticed within 100 ms */
    int after = mbx_send(jobs, "job 2", 5, 0, MBX_NONBLOCK);
    printf("send after the owner exited: %s\n", mbx_strerror(after));
    mbx_close(jobs);
    return r == 0 && after == -EIDRM ? 0 : 1;
}
