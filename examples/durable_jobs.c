/* A durable job queue: with MBX_DIR on a disk directory a mailbox is an
 * ordinary file. Jobs queued and synced survive every process going away;
 * a later run picks them up.
 *
 *   durable_jobs add "resize photo.jpg"   queue a job
 *   durable_jobs work                     do every queued job
 */
#include <mbx.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "add") && strcmp(argv[1], "work"))) {
        fprintf(stderr, "usage: durable_jobs add JOB... | work\n");
        return 2;
    }
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 1000;
    mbx *q;
    int r = mbx_open("jobs", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &q);
    if (r < 0) {
        fprintf(stderr, "open: %s\n", mbx_strerror(r));
        return 1;
    }
    int failed = 0;
    if (!strcmp(argv[1], "add")) {
        for (int i = 2; i < argc; i++)
            if ((r = mbx_send(q, argv[i], strlen(argv[i]), 0, MBX_NONBLOCK)) < 0) {
                fprintf(stderr, "add: %s\n", mbx_strerror(r));
                failed = 1;
            }
        /* On disk before we say so: survives this process and a crash of
         * the machine's other users (see the README on power loss). */
        r = mbx_sync(q);
        printf("queued %d job(s), sync: %s\n", argc - 2, mbx_strerror(r));
        failed |= r != 0;
    } else {
        char job[8192];
        ssize_t n;
        int done = 0;
        while ((n = mbx_recv(q, job, sizeof(job), NULL, MBX_NONBLOCK)) >= 0) {
            printf("doing: %.*s\n", (int)n, job);
            done++;
        }
        /* Stopped because none is left, and taken off the disk too. */
        failed = n != -EAGAIN || mbx_sync(q) != 0;
        printf("%d job(s) done%s\n", done, failed ? ", then an error" : "");
    }
    mbx_close(q);
    return failed;
}
