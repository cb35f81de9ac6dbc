#include "recvbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"

int recvbuf_init(struct recvbuf *rb, size_t cap)
{
    rb->cap = cap ? cap : 1;
    rb->data = malloc(rb->cap);
    return rb->data ? 0 : -ENOMEM;
}

void recvbuf_free(struct recvbuf *rb)
{
    free(rb->data);
    rb->data = NULL;
    rb->cap = 0;
}

static ssize_t recv_now(struct recvbuf *rb, mbx *m, struct recvbuf_filter *f, mbx_msginfo *info,
                        int64_t timeout_ns)
{
    static struct recvbuf_filter any;
    if (!f) {
        any = (struct recvbuf_filter){0};
        f = &any;
    }
    for (;;) {
        ssize_t n = f->from > 0 ? mbx_recv_from(m, f->from, rb->data, rb->cap, info, timeout_ns)
                                : mbx_recv_select(m, f->how, f->type, rb->data, rb->cap, info,
                                                  &f->type_out, timeout_ns);
        void *bigger;

        /* The message stays queued when it does not fit; grow and take it. */
        if (n != -EMSGSIZE || info->size <= rb->cap || info->size > SIZE_MAX)
            return n;
        bigger = realloc(rb->data, (size_t)info->size);
        if (!bigger)
            return -ENOMEM;
        rb->data = bigger;
        rb->cap = (size_t)info->size;
    }
}

static int64_t deadline_after(int64_t timeout_ns)
{
    if (timeout_ns < 0)
        return -1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec + timeout_ns;
}

ssize_t recvbuf_recv(struct recvbuf *rb, mbx *m, struct recvbuf_filter *f, mbx_msginfo *info,
                     int64_t timeout_ns)
{
    if (timeout_ns == MBX_NONBLOCK)
        return recv_now(rb, m, f, info, MBX_NONBLOCK);
    /* Wait on the handle's descriptor, where a signal cannot slip in
     * between a look and the sleep (cli_wait_readable). */
    int fd = mbx_fd(m, MBX_RECV);
    if (fd < 0)
        return cli_interrupted ? -EINTR : recv_now(rb, m, f, info, timeout_ns);
    int64_t deadline = deadline_after(timeout_ns);
    for (;;) {
        ssize_t n = recv_now(rb, m, f, info, MBX_NONBLOCK);
        if (n != -EAGAIN)
            return n;
        int r = cli_wait_readable(fd, deadline);
        if (r < 0)
            return r;
        if (r == 0)
            return -ETIMEDOUT;
    }
}
