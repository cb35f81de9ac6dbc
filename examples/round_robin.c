/* Three workers share one mailbox with MBX_RECV_ROUND_ROBIN: while they
 * all wait, jobs go to them in turn. */
#include <mbx.h>

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKERS 3
#define JOBS    30

/* Takes jobs until the stop (-1). In turn means each worker's jobs are
 * WORKERS apart: w, w + 3, w + 6, ... Exits 0 when they were. */
static int work(mbx *box, int w)
{
    mbx_set_spin(box, 0); /* sleep while waiting, so it shows in stat */
    int got = 0, job, last = -1, in_turn = 1;
    while (mbx_recv(box, &job, sizeof(job), NULL, 5000000000) == sizeof(job) && job >= 0) {
        in_turn &= last < 0 ? job < WORKERS : job == last + WORKERS;
        last = job;
        got++;
    }
    printf("worker %d did %d jobs, %s\n", w, got, in_turn ? "each in its turn" : "OUT OF TURN");
    fflush(stdout); /* the worker ends with _exit */
    return in_turn && got == JOBS / WORKERS ? 0 : 1;
}

int main(void)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.recv_policy = MBX_RECV_ROUND_ROBIN;
    mbx *box;
    int r = mbx_open("jobs-rr", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &box);
    if (r < 0) {
        fprintf(stderr, "open: %s\n", mbx_strerror(r));
        return 1;
    }
    for (int w = 0; w < WORKERS; w++)
        if (fork() == 0)
            _exit(work(box, w));
    int ok = 1;
    for (int job = 0; job < JOBS && ok; job++) {
        /* Wait until all three wait, so the policy alone decides (for 5 s
         * at most: a job nobody takes would wait for ever). */
        mbx_stat st;
        for (int i = 0; (ok = i < 50000); i++) {
            mbx_stat_get(box, &st);
            if (st.receivers_waiting >= WORKERS && st.count == 0)
                break;
            usleep(100);
        }
        if (ok)
            mbx_send(box, &job, sizeof(job), 0, MBX_FOREVER);
        else
            printf("job %d: the workers did not all wait\n", job);
    }
    for (int w = 0; w < WORKERS; w++) {
        int stop = -1;
        mbx_send(box, &stop, sizeof(stop), 0, MBX_FOREVER);
    }
    int status;
    while (wait(&status) > 0)
        ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
    mbx_close(box);
    mbx_unlink("jobs-rr");
    return ok ? 0 : 1;
}
