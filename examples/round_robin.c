/* Three workers share one mailbox with MBX_RECV_ROUND_ROBIN: while they
 * all wait, jobs go to them in turn. */
#include <mbx.h>

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

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
    for (int w = 0; w < 3; w++) {
        if (fork() == 0) {
            mbx_set_spin(box, 0); /* sleep while waiting, so it shows in stat */
            int got = 0, job;
            while (mbx_recv(box, &job, sizeof(job), NULL, 5000000000) == sizeof(job) && job >= 0)
                got++;
            printf("worker %d did %d jobs\n", w, got);
            _exit(0);
        }
    }
    for (int job = 0; job < 30; job++) {
        mbx_stat st;
        do /* wait until all three wait, so the policy alone decides */
            mbx_stat_get(box, &st);
        while (st.receivers_waiting < 3 || st.count > 0);
        mbx_send(box, &job, sizeof(job), 0, MBX_FOREVER);
    }
    for (int w = 0; w < 3; w++) {
        int stop = -1;
        mbx_send(box, &stop, sizeof(stop), 0, MBX_FOREVER);
    }
    while (wait(NULL) > 0)
        ;
    mbx_close(box);
    mbx_unlink("jobs-rr");
    return 0;
}
