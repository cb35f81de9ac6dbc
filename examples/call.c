/* Request/reply: a client calls a server and waits for its answer. */
#include <mbx.h>

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    mbx *svc;
    int r = mbx_open("upper", MBX_SEND | MBX_RECV | MBX_CREATE, NULL, &svc);
    if (r != 0) {
        fprintf(stderr, "open: %s\n", mbx_strerror(r));
        return 1;
    }
    pid_t server = fork();
    if (server == 0) { /* the server: answers one request in upper case */
        char req[64];
        mbx_msginfo info;
        ssize_t n = mbx_recv(svc, req, sizeof(req), &info, 5000000000);
        for (ssize_t i = 0; i < n; i++)
            if (req[i] >= 'a' && req[i] <= 'z')
                req[i] -= 'a' - 'A';
        _exit(n >= 0 && mbx_reply(&info, req, (size_t)n) == 0 ? 0 : 1);
    }
    char reply[64];
    ssize_t n = mbx_call(svc, "hello", 5, 0, reply, sizeof(reply), 5000000000);
    int status;
    waitpid(server, &status, 0);
    mbx_close(svc);
    mbx_unlink("upper");
    if (n < 0) {
        fprintf(stderr, "call: %s\n", mbx_strerror((int)n));
        return 1;
    }
    printf("reply: %.*s\n", (int)n, reply);
    /* The answer to this very request: "hello" in upper case. */
    int ok = n == 5 && memcmp(reply, "HELLO", 5) == 0;
    return ok && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
