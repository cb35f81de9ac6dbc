/* A receive buffer that grows to fit the message waiting for it. */
#ifndef MBX_TOOLS_RECVBUF_H
#define MBX_TOOLS_RECVBUF_H

#include <sys/types.h>

#include "mbx.h"

struct recvbuf {
    void *data;
    size_t cap;
};

/* Which messages a receive takes: from > 0, only those process from sent
 * (mbx_recv_from); else those that how and type select (mbx_recv_select;
 * MBX_SEL_ANY: all). The taken message's type is stored in type_out. */
struct recvbuf_filter {
    pid_t from;
    int how;
    uint64_t type;
    uint64_t type_out;
};

/* Starts with room for cap bytes (at least 1). Returns 0 or -ENOMEM. */
int recvbuf_init(struct recvbuf *rb, size_t cap);
void recvbuf_free(struct recvbuf *rb);

/* Receives one message into rb->data, growing it when the message does not
 * fit; f says which (NULL: any).
 * A wait is spent on the handle's descriptor (mbx_fd), where SIGINT and
 * SIGTERM end it with -EINTR whenever they come (cli_catch_signals).
 * Returns the size or a negative errno of mbx_recv / mbx_recv_from /
 * mbx_recv_select. */
ssize_t recvbuf_recv(struct recvbuf *rb, mbx *m, struct recvbuf_filter *f, mbx_msginfo *info,
                     int64_t timeout_ns);

#endif
