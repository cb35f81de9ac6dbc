/* Zero capacity: a send returns only once a receiver has taken that very
 * message, like a handshake. Here a worker acknowledges nothing, yet the
 * boss knows each job was picked up when mbx_send returns. */
#include <mbx.h>

#include <stdio.h>
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
    r = mbx_send(box, "early", 5, 0, 10000000);
    printf("with no receiver: %s\n", mbx_strerror(r));
    if (fork() == 0) {
        char job[32];
        for (int i = 0; i < 3; i++) {
            ssize_t n = mbx_recv(box, job, sizeof(job), NULL, 5000000000);
            if (n < 0)
                _exit(1);
            printf("worker took %.*s\n", (int)n, job);
            fflush(stdout);
        }
        _exit(0);
    }
    for (int i = 0; i < 3; i++) {
        char job[32];
        int len = snprintf(job, sizeof(job), "job-%d", i);
        r = mbx_send(box, job, (size_t)len, 0, 5000000000);
        printf("boss: %s %s\n", job, r == 0 ? "was taken" : mbx_strerror(r));
        fflush(stdout);
    }
    int st;
    wait(&st);
    mbx_close(box);
    mbx_unlink("handshake");
    return r == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
