/* Direct communication: every process has a mailbox "@PID"; others send to
 * it by that name. */
#include <mbx.h>

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    mbx *me;
    int r = mbx_self(&me); /* this process's own mailbox, kept by the library */
    if (r != 0) {
        fprintf(stderr, "self: %s\n", mbx_strerror(r));
        return 1;
    }
    char name[16];
    snprintf(name, sizeof(name), "@%d", (int)getpid());
    if (fork() == 0) {
        mbx *parent;
        if (mbx_open(name, MBX_SEND, NULL, &parent) != 0)
            _exit(1);
        mbx_send(parent, "hi, parent", 10, 0, MBX_FOREVER);
        _exit(0);
    }
    char buf[64];
    mbx_msginfo info;
    ssize_t n = mbx_recv(me, buf, sizeof(buf), &info, 5000000000);
    wait(NULL);
    if (n < 0) {
        fprintf(stderr, "recv: %s\n", mbx_strerror((int)n));
        return 1;
    }
    printf("%s got \"%.*s\" from pid %d\n", name, (int)n, buf, info.sender_pid);
    return 0;
}
