/* TCP sockets for tcp:// mailboxes: connecting and listening, and frames
 * written and read whole before a deadline (absolute CLOCK_MONOTONIC ns;
 * -1: none). Sockets are non-blocking; waits are poll(2). */
#ifndef MBX_TCP_SOCK_H
#define MBX_TCP_SOCK_H

#include "tcp/wire.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A connection's byte stream: a TCP socket, or TLS over it (tls.h). The
 * io_ functions below read and write through it; the ones taking a bare
 * descriptor are the same on plain TCP. */
struct io {
    int fd;
    void *ssl;             /* SSL *, NULL: plain TCP */
    pthread_mutex_t *lock; /* when two threads use one TLS link (one reads,
                              one writes): held around each libssl call */
};

/* Splits "HOST:PORT" or "[V6]:PORT" into host and port. Returns 0 or
 * -EINVAL. */
int sock_split(const char *addr, char *host, size_t hostcap, char *port, size_t portcap);

/* Connects to host:port. Returns the descriptor, or -errno (-ETIMEDOUT,
 * -ECONNREFUSED, -EHOSTUNREACH, -ENOENT for a name that does not resolve). */
int sock_connect(const char *host, const char *port, int64_t deadline);

/* Returns 1 when the peer of connected socket fd is on this machine (a
 * loopback address, or the address of this end), else 0. */
int sock_is_local(int fd);

/* Writes the host part of address a ("10.0.0.5", "fd00::5"; an IPv4
 * address mapped into IPv6 as IPv4) into buf, NUL-terminated. Returns 0,
 * or -EAFNOSUPPORT (not an internet address) or -ERANGE (cap too small:
 * INET6_ADDRSTRLEN always does). */
int sock_host_text(const struct sockaddr_storage *a, char *buf, size_t cap);

/* Listens on "HOST:PORT" (port 0: any free one). Returns the descriptor
 * and stores the port, or -errno. */
int sock_listen(const char *addr, int *port_out);

/* Writes one frame: the header, the fixed part of the body, then the
 * payload. Returns 0, -ETIMEDOUT, -EPIPE (the link is gone). */
int frame_write(int fd, uint8_t type, uint8_t flags, uint64_t id, const void *fixed, size_t flen,
                const void *payload, size_t plen, int64_t deadline);

/* frame_write through io. */
int io_frame_write(struct io *io, uint8_t type, uint8_t flags, uint64_t id, const void *fixed,
                   size_t flen, const void *payload, size_t plen, int64_t deadline);

/* As io_frame_write, but the time limit is on silence, not on the whole:
 * -ETIMEDOUT only when no byte could be written for stall_ns (a large
 * frame on a slow link is not a dead link). */
int io_frame_write_stall(struct io *io, uint8_t type, uint8_t flags, uint64_t id, const void *fixed,
                         size_t flen, const void *payload, size_t plen, int64_t stall_ns);

/* Writes len bytes (frames made with wire_hdr_put) whole through io
 * before the deadline. Returns 0, -ETIMEDOUT, -EPIPE. */
int io_write_all(struct io *io, const void *p, size_t len, int64_t deadline);

/* As io_write_all, with a limit on silence (io_frame_write_stall). */
int io_write_all_stall(struct io *io, const void *p, size_t len, int64_t stall_ns);

/* A growing buffer for frame bodies. */
struct frame_buf {
    uint8_t *p;
    size_t cap;
};

/* Reads one frame whose body is at most max_body bytes into *b. Returns
 * 0, -ETIMEDOUT (nothing or part of a frame came; with part, the link is
 * unusable), -EPIPE (closed or reset), -EPROTO (malformed: close it),
 * -ENOMEM. */
int frame_read(int fd, struct wire_hdr *h, struct frame_buf *b, uint64_t max_body,
               int64_t deadline);

/* frame_read through io; also -ECONNABORTED: a TLS alert from the peer
 * (say, our certificate refused) or a record that does not verify. */
int io_frame_read(struct io *io, struct wire_hdr *h, struct frame_buf *b, uint64_t max_body,
                  int64_t deadline);

/* A buffered reader of frames: one read takes in as many frames as have
 * arrived, so a stream of small frames costs a system call per batch, not
 * two per frame. */
struct frame_reader {
    uint8_t *p;
    size_t cap, start, end;
    /* Optional: called every tick_ns that a read waits inside a frame
     * (a gateway tells the client it is still reading a large frame:
     * nothing else can pass it in that direction). */
    void (*tick)(void *arg);
    void *tick_arg;
    int64_t tick_ns;
};

/* The next frame, whose body is at most max_body bytes: *body points into
 * the reader's buffer until the next call. Reads only when no whole frame
 * is buffered. Returns 0, -EPIPE (closed, reset, or stalled inside a
 * frame), -EPROTO, -ENOMEM, or -ETIMEDOUT (nothing before the deadline). */
int reader_next(int fd, struct frame_reader *r, struct wire_hdr *h, const uint8_t **body,
                uint64_t max_body, int64_t deadline);

/* Inside a frame a read waits at most FRAME_STALL_NS for more bytes, and
 * the whole frame must be in by as long again plus FRAME_NS_PER_BYTE per
 * byte of its body (100 kB/s on average), counted from the call that found
 * it begun: a peer that stalls, or drips a byte now and then, is treated
 * as gone within a bound, never kept waiting on for ever. */
#define FRAME_STALL_NS    30000000000ll
#define FRAME_NS_PER_BYTE 10000ll

/* reader_next through io, with FRAME_STALL_NS. */
int io_reader_next(struct io *io, struct frame_reader *r, struct wire_hdr *h, const uint8_t **body,
                   uint64_t max_body, int64_t deadline);

/* io_reader_next with stall_ns in place of FRAME_STALL_NS (a client
 * passes its dead-link bound: a peer silent that long is dead, inside a
 * frame as between frames). */
int io_reader_next_stall(struct io *io, struct frame_reader *r, struct wire_hdr *h,
                         const uint8_t **body, uint64_t max_body, int64_t deadline,
                         int64_t stall_ns);

/* Reads what has arrived through io into r, without waiting (one read,
 * none when a whole frame is buffered already). Returns 1 when a whole
 * frame is buffered, 0 when not yet, -EPROTO (a header over max_body) or
 * -EPIPE (closed, reset, or a TLS failure): a cheaper test than waiting
 * with a zero deadline and reading after. */
int io_reader_fill(struct io *io, struct frame_reader *r, uint64_t max_body);

/* Whether a whole frame is buffered (the next reader_next needs no read). */
int reader_ready(const struct frame_reader *r);

/* Waits until fd is readable or the deadline. Returns 1, 0 (time's up), or
 * -errno. */
int sock_wait_readable(int fd, int64_t deadline);

/* Waits until at least one byte of the stream can be read (over TLS: of
 * decrypted data, not of a record still incomplete) or the deadline.
 * Returns 1, 0 (time's up), or -EPIPE (the link failed). */
int io_wait_readable(struct io *io, int64_t deadline);

/* io_wait_readable, but a signal handler that runs meanwhile ends the wait
 * with -EINTR (other waits go on after one: a frame is never left half
 * written or read for it). */
int io_wait_readable_intr(struct io *io, int64_t deadline);

/* Waits for fd to be readable (POLLIN) or writable (POLLOUT) until the
 * deadline. Returns 1, 0 (time's up), or -errno. */
int sock_wait(int fd, short events, int64_t deadline);

/* sock_intr_arm(1): from now on a signal handler that cuts one of this
 * thread's socket waits short ends that wait with -EINTR, and is
 * remembered until the next sock_intr_arm(1); sock_intr_arm(0) stops
 * that. Returns whether a handler did so since the last
 * sock_intr_arm(1); cannot fail. A client arms it while it makes its link
 * again for a receive or a call, which a handler ends with -EINTR: that
 * wait is several (connect, handshake), and their errors do not all say
 * EINTR. */
int sock_intr_arm(int on);

#endif
