/* Streams (MBX_STREAM): a pipe-like byte ring with one sender and one
 * receiver, placed where a ring mailbox keeps its slots.
 *
 * head and tail count bytes ever read and written; tail - head bytes are
 * queued at offset head % size. Only the sender moves tail (after copying
 * in) and only the receiver moves head (after copying out), so neither takes
 * a lock. The rights are claimed with one compare-and-swap at open and
 * cleared at close (process identities: pid and start time, ident.h); a
 * right whose holder died is taken over by whoever looks:
 * the receiver (which then reports end of stream) or the next opener.
 */
#ifndef MBX_STREAM_H
#define MBX_STREAM_H

#include "shm/shm.h"

/* Bytes in front of the buffer: the control lines, padded to a page so the
 * buffer is page-aligned. */
#define STREAM_CTL_BYTES 4096u
#define STREAM_MAX       (1ull << 30) /* bytes a stream buffers at most */

struct stream_ctl {
    uint64_t tail;      /* bytes ever written; moved by the sender */
    uint64_t send_busy; /* thread ident (ident.h) inside mbx_send, 0 when none */
    uint64_t pad0[6];
    uint64_t head;      /* bytes ever read; moved by the receiver */
    uint64_t recv_busy; /* thread ident inside mbx_recv, 0 when none */
    uint64_t pad1[6];
    uint64_t sender;   /* process ident holding the send right; 0 when none */
    uint64_t receiver; /* process ident holding the receive right; 0 when none */
    int32_t last_pid;  /* the latest sender to open, for mbx_msginfo */
    uint32_t last_uid;
    uint32_t had_sender; /* 1 once a sender opened: from then on, an empty
                            stream without a sender is at its end */
    uint32_t repairs;    /* rights taken over from dead holders */
    uint32_t pad2[8];
};
_Static_assert(sizeof(struct stream_ctl) == 3 * SEG_LINE, "stream control is three lines");

/* Buffer bytes of a stream with these attributes: capacity * max_msg_size
 * rounded up to a page, at most STREAM_MAX. Returns 0 for a capacity a
 * stream cannot have (MBX_RENDEZVOUS, MBX_UNBOUNDED). */
uint64_t stream_size_for(const mbx_attr *attr);

/* Claims the send and/or receive right (flags MBX_SEND, MBX_RECV) for the
 * caller's process. Returns 0, or -EBUSY when a live process holds one. */
int stream_open(const struct mb_ctx *c, int flags);

/* Gives back the rights the caller's process holds (flags as at open); a
 * sender's close wakes the receiver to see the end of the stream. */
void stream_close(const struct mb_ctx *c, int flags);

/* Appends len bytes, waiting for room. len <= the buffer size is written
 * whole or not at all; a longer len is written in pieces as room frees, and
 * on an error midway the pieces written stay queued. Returns 0, -EAGAIN,
 * -ETIMEDOUT, -EINTR, -EIDRM, -EBUSY (another thread is sending on this
 * stream), -EUCLEAN, or the poll hook's error. */
int stream_send(const struct mb_ctx *c, const void *buf, size_t len, int64_t timeout_ns);

/* Takes 1..cap queued bytes in order, waiting while there are none. Returns
 * their number, 0 at the end of the stream (empty, and the sender closed or
 * died), -EINVAL (cap 0, or from > 0), -EAGAIN, -ETIMEDOUT, -EINTR, -EIDRM,
 * -EBUSY (another thread is receiving), -EUCLEAN. */
ssize_t stream_recv(const struct mb_ctx *c, pid_t from, void *buf, size_t cap, mbx_msginfo *info,
                    int64_t timeout_ns);

/* A snapshot: bytes queued (count is the same, saturated), bytes ever
 * written and read, and rights taken over from dead holders. */
void stream_stat(const struct seg *s, mbx_stat *st);

/* As shm_kind.ready and .peers, for a stream: readable while bytes are
 * queued or the sender is gone (the end); writable while half the buffer
 * is free. The peer is the sender, whose death ends the stream. */
int stream_ready(const struct seg *s, unsigned dir, uint64_t want);
int stream_peers(const struct seg *s, unsigned dir, uint64_t who[2]);

#endif
