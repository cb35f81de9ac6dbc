/* Direct communication: every process has a mailbox "@PID"; others send to
 * it by that name, and mbx_recv_from takes one sender's messages only. */
#include <mbx.h>

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A child that sends `text` to the parent's own mailbox `name`. Returns
 * once the child has sent (and exited). */
static pid_t send_from_child(const char *name, const char *text)
{
    pid_t child = fork();
    if (child == 0) {
        mbx *parent;
        if (mbx_open(name, MBX_SEND, NULL, &parent) != 0)
            _exit(1);
        _exit(mbx_send(parent, text, strlen(text), 0, MBX_FOREVER) == 0 ? 0 : 1);
    }
    int status;
    waitpid(child, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? child : -1;
}

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
    pid_t first = send_from_child(name, "hi from the first");
    pid_t second = send_from_child(name, "hi from the second");
    if (first < 0 || second < 0)
        return 1;

    /* The second child's message, though the first one's came earlier. */
    char buf[64];
    mbx_msginfo info;
    ssize_t n = mbx_recv_from(me, second, buf, sizeof(buf), &info, 5000000000);
    if (n < 0) {
        fprintf(stderr, "recv_from: %s\n", mbx_strerror((int)n));
        return 1;
    }
    printf("%s got \"%.*s\" from pid %d (asked for %d)\n", name, (int)n, buf, info.sender_pid,
           (int)second);
    int ok = info.sender_pid == second && n == 18 && memcmp(buf, "hi from the second", 18) == 0;

    /* The first one's stayed queued for an ordinary receive. */
    n = mbx_recv(me, buf, sizeof(buf), &info, MBX_NONBLOCK);
    if (n < 0) {
        fprintf(stderr, "recv: %s\n", mbx_strerror((int)n));
        return 1;
    }
    printf("%s got \"%.*s\" from pid %d\n", name, (int)n, buf, info.sender_pid);
    ok = ok && info.sender_pid == first && n == 17 && memcmp(buf, "hi from the first", 17) == 0;
    return ok ? 0 : 1;
}
