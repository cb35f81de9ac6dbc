#include "recvbuf.h"

#include <errno.h>
#include <stdlib.h>

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

ssize_t recvbuf_recv(struct recvbuf *rb, mbx *m, pid_t from, mbx_msginfo *info, int64_t timeout_ns)
{
    for (;;) {
        ssize_t n = from > 0 ? mbx_recv_from(m, from, rb->data, rb->cap, info, timeout_ns)
                             : mbx_recv(m, rb->data, rb->cap, info, timeout_ns);
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
