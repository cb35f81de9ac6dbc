/* A mailbox in a libuv loop: uv_poll_t watches the descriptor mbx_fd gives,
 * which is readable while a message waits. A forked producer sends N
 * numbered messages (more than the mailbox holds, so it waits for room);
 * the poll callback takes every queued one (until -EAGAIN) and checks they
 * come in order; the loop stops when all N arrived, or fails after 20 s. */
#include <mbx.h>

#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#define N 2000

struct consumer {
    mbx *box;
    uv_poll_t poll;
    uv_timer_t deadline;
    int next, wakeups, bad;
};

/* Stops both watchers, so uv_run returns. */
static void stop(struct consumer *c)
{
    uv_poll_stop(&c->poll);
    uv_timer_stop(&c->deadline);
    uv_close((uv_handle_t *)&c->poll, NULL);
    uv_close((uv_handle_t *)&c->deadline, NULL);
}

/* The mailbox has something: take messages until there are none left. */
static void on_readable(uv_poll_t *p, int status, int events)
{
    struct consumer *c = p->data;
    c->wakeups++;
    if (status < 0 || !(events & UV_READABLE)) {
        printf("poll: %s\n", status < 0 ? uv_strerror(status) : "woken without UV_READABLE");
        c->bad = 1;
        stop(c);
        return;
    }
    for (;;) {
        int got;
        ssize_t n = mbx_recv(c->box, &got, sizeof(got), NULL, MBX_NONBLOCK);
        if (n == -EAGAIN)
            return; /* drained: the descriptor is quiet until the next message */
        if (n != sizeof(got) || got != c->next) {
            printf("expected message %d, got %s %d\n", c->next,
                   n < 0 ? mbx_strerror((int)n) : "number", n < 0 ? 0 : got);
            c->bad = 1;
            stop(c);
            return;
        }
        if (++c->next == N) {
            stop(c);
            return;
        }
    }
}

/* 20 s passed: something is stuck. */
static void on_deadline(uv_timer_t *t)
{
    struct consumer *c = t->data;
    printf("timed out after %d of %d messages\n", c->next, N);
    c->bad = 1;
    stop(c);
}

/* The producer: N numbered messages, each waiting for room up to 10 s. */
static int produce(void)
{
    mbx *box;
    if (mbx_open("uv-demo", MBX_SEND, NULL, &box) != 0)
        return 1;
    for (int i = 0; i < N; i++)
        if (mbx_send(box, &i, sizeof(i), 0, 10000000000) != 0)
            return 1;
    mbx_close(box);
    return 0;
}

int main(void)
{
    struct consumer c = {0};
    int r = mbx_open("uv-demo", MBX_SEND | MBX_RECV | MBX_CREATE, NULL, &c.box);
    if (r != 0) {
        fprintf(stderr, "open: %s\n", mbx_strerror(r));
        return 1;
    }
    pid_t producer = fork();
    if (producer == 0)
        _exit(produce());
    int fd = mbx_fd(c.box, MBX_RECV);
    if (fd < 0) {
        fprintf(stderr, "mbx_fd: %s\n", mbx_strerror(fd));
        return 1;
    }
    uv_loop_t *loop = uv_default_loop();
    c.poll.data = c.deadline.data = &c;
    uv_poll_init(loop, &c.poll, fd);
    uv_poll_start(&c.poll, UV_READABLE, on_readable);
    uv_timer_init(loop, &c.deadline);
    uv_timer_start(&c.deadline, on_deadline, 20000, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);

    mbx_close(c.box);
    mbx_unlink("uv-demo"); /* a producer still sending after a failure gets -EIDRM */
    int status;
    waitpid(producer, &status, 0);
    printf("received %d of %d messages in order, %d wake-ups of the poll callback\n", c.next, N,
           c.wakeups);
    int ok = !c.bad && c.next == N && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    return ok ? 0 : 1;
}
