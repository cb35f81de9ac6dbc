/* A receive buffer that grows to fit the message waiting for it. */
#ifndef MBX_TOOLS_RECVBUF_H
#define MBX_TOOLS_RECVBUF_H

#include <sys/types.h>

#include "mbx.h"

struct recvbuf {
    void *data;
    size_t cap;
};

/* Starts with room for cap bytes (at least 1). Returns 0 or -ENOMEM. */
int recvbuf_init(struct recvbuf *rb, size_t cap);
void recvbuf_free(struct recvbuf *rb);

/* Receives one message into rb->data, growing it when the message does not
 * fit; from > 0 takes only messages sent by that process (mbx_recv_from).
 * A wait is spent on the handle's descriptor (mbx_fd), where SIGINT and
 * SIGTERM end it with -EINTR whenever they come (cli_catch_signals).
 * Returns the size or a negative errno of mbx_recv / mbx_recv_from. */
ssize_t recvbuf_recv(struct recvbuf *rb, mbx *m, pid_t from, mbx_msginfo *info, int64_t timeout_ns);

#endif
