/* Zero capacity: a send returns only once a receiver has taken that very
 * message, like a handshake. Here a worker acknowledges nothing, yet the
 * boss knows each job was picked up when mbx_send returns. */
#include <mbx.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = MBX_RENDEZVOUS;
    mbx *box;
    int r = mbx_open("handshake", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &box);
    if (r < 0) {
        fprintf(stderr, "open: %s\n", mbx_strerror(r));
        return 1;
    }
    /* Nobody receives yet: the send gives up after 10 ms and withdraws. */
    int early = mbx_send(box, "early", 5, 0, 10000000);
    printf("with no receiver: %s\n", mbx_strerror(early));
    fflush(stdout); /* before fork, or the child prints it again */
    int ok = early == -ETIMEDOUT;
    pid_t worker = fork();
    if (worker == 0) {
        for (int i = 0; i < 3; i++) {
            char job[32], want[32];
            ssize_t n = mbx_recv(box, job, sizeof(job), NULL, 5000000000);
            int len = snprintf(want, sizeof(want), "job-%d", i);
            if (n != len || memcmp(job, want, (size_t)len) != 0)
                _exit(1); /* not the job sent, or the withdrawn one */
            printf("worker took %.*s\n", (int)n, job);
            fflush(stdout);
        }
        _exit(0);
    }
    for (int i = 0; i < 3; i++) {
        char job[32];
        int len = snprintf(job, sizeof(job), "job-%d", i);
        r = mbx_send(box, job, (size_t)len, 0, 5000000000);
        /* Returned: so the worker has taken it, this very moment or before. */
        mbx_stat st;
        mbx_stat_get(box, &st);
        printf("boss: %s %s (%llu taken so far)\n", job, r == 0 ? "was taken" : mbx_strerror(r),
               (unsigned long long)st.received_total);
        fflush(stdout);
        ok = ok && r == 0 && st.received_total == (unsigned long long)i + 1 && st.count == 0;
    }
    int status;
    waitpid(worker, &status, 0);
    mbx_close(box);
    mbx_unlink("handshake");
    return ok && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
