/* MBX_UNBOUNDED: a producer never waits; the mailbox grows with what is
 * queued, up to attr.memory_limit, where a send says -ENOSPC. */
#include <mbx.h>

#include <errno.h>
#include <stdio.h>

int main(void)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = MBX_UNBOUNDED;
    a.max_msg_size = 1024;
    a.memory_limit = 1 << 20; /* 1 MiB of messages at most */
    mbx *box;
    int r = mbx_open("backlog", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &box);
    if (r < 0) {
        fprintf(stderr, "open: %s\n", mbx_strerror(r));
        return 1;
    }
    char line[1024] = "a log line";
    int queued = 0;
    /* Never waits, even told to wait forever: at the limit it says so. */
    while ((r = mbx_send(box, line, sizeof(line), 0, MBX_FOREVER)) == 0)
        queued++;
    printf("queued %d messages of 1 KiB, then: %s\n", queued, mbx_strerror(r));
    int full = r;
    int drained = 0;
    while (mbx_recv(box, line, sizeof(line), NULL, MBX_NONBLOCK) > 0)
        drained++;
    int again = mbx_send(box, line, 10, 0, 0);
    printf("drained %d; sending works again: %s\n", drained, mbx_strerror(again));
    mbx_close(box);
    mbx_unlink("backlog");
    /* Hundreds of messages fit in 1 MiB (each takes its size and a header),
     * not more than the limit holds, all came back, and the room with them. */
    int ok = full == -ENOSPC && queued >= 512 && queued <= 1024 && drained == queued && again == 0;
    return ok ? 0 : 1;
}
