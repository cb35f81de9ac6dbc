/* The README's example: one process sends, another receives. */
#include <mbx.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    mbx *box;
    int r = mbx_open("hello", MBX_SEND | MBX_RECV | MBX_CREATE, NULL, &box);
    if (r < 0) {
        fprintf(stderr, "open: %s\n", mbx_strerror(r));
        return 1;
    }
    pid_t child = fork();
    if (child == 0) { /* the child sends, at priority 0, waiting if full */
        _exit(mbx_send(box, "hello, mailbox", 14, 0, MBX_FOREVER) == 0 ? 0 : 1);
    }
    char buf[64];
    mbx_msginfo info;
    ssize_t n = mbx_recv(box, buf, sizeof(buf), &info, 5000000000); /* 5 s */
    if (n < 0) {
        fprintf(stderr, "recv: %s\n", mbx_strerror((int)n));
        return 1;
    }
    printf("got %zd bytes from pid %d: %.*s\n", n, info.sender_pid, (int)n, buf);
    int status;
    waitpid(child, &status, 0);
    mbx_close(box);
    mbx_unlink("hello");
    /* What was sent arrived, from the child. */
    int ok = n == 14 && memcmp(buf, "hello, mailbox", 14) == 0 && info.sender_pid == child;
    return ok && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
