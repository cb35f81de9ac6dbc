/* Opens POSIX queue argv[1] (creating it), runs the command argv[2..]
 * while it is open, then removes the queue: lets a test look at a queue
 * from outside (mbx ls). Exits with the command's status, 1 on error. */
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: mq_hold /NAME COMMAND...\n");
        return 1;
    }
    mqd_t q = mq_open(argv[1], O_CREAT | O_RDWR, 0600, NULL);
    if (q == (mqd_t)-1 || mq_send(q, "x", 1, 0) < 0) {
        perror("mq_hold");
        return 1;
    }
    pid_t c = fork();
    if (c == 0) {
        execvp(argv[2], argv + 2);
        _exit(127);
    }
    int st = 0;
    waitpid(c, &st, 0);
    mq_close(q);
    mq_unlink(argv[1]);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
