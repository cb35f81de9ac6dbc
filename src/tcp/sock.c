/* Sockets and whole frames for tcp:// mailboxes (sock.h). */
#include "tcp/sock.h"

#include "platform/platform.h"
#include "tcp/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

int sock_split(const char *addr, char *host, size_t hostcap, char *port, size_t portcap)
{
    const char *colon, *h = addr;
    size_t hn;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        h = addr + 1;
        hn = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return -EINVAL;
        hn = (size_t)(colon - addr);
    }
    size_t pn = strlen(colon + 1);
    if (hn == 0 || hn >= hostcap || pn == 0 || pn >= portcap)
        return -EINVAL;
    for (const char *p = colon + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return -EINVAL;
    if (atol(colon + 1) > 65535)
        return -EINVAL;
    memcpy(host, h, hn);
    host[hn] = 0;
    memcpy(port, colon + 1, pn + 1);
    return 0;
}

/* Armed (sock_intr_arm) while this thread makes a link for a client's
 * receive or call: a signal handler that cuts a wait short then ends it
 * with -EINTR, and seen remembers it, because the layers above may turn
 * that error into another (libssl's handshake says -EPIPE, a frame read
 * half done -EPIPE) and the client must still know why its try failed. */
static MBX_TLS int intr_armed, intr_seen;

int sock_intr_arm(int on)
{
    int seen = intr_seen;
    intr_armed = on;
    if (on)
        intr_seen = 0;
    return seen;
}

/* Waits for ev on fd until the deadline. A signal handler's run goes
 * unnoticed (the wait goes on), unless intr or this thread armed
 * sock_intr_arm: then it ends the wait with -EINTR. */
static int wait_intr(int fd, short ev, int64_t deadline, int intr)
{
    for (;;) {
        int64_t left = clock_remaining(deadline);
        int ms = left < 0 ? -1 : (int)((left + 999999) / 1000000);
        if (left == 0)
            ms = 0;
        struct pollfd p = {fd, ev, 0};
        int r = poll(&p, 1, ms);
        if (r > 0)
            return 1;
        if (r == 0) {
            if (clock_remaining(deadline) == 0)
                return 0;
            continue;
        }
        if (errno != EINTR || intr)
            return -errno;
        if (intr_armed) {
            intr_seen = 1;
            return -EINTR;
        }
    }
}

static int wait_for(int fd, short ev, int64_t deadline)
{
    return wait_intr(fd, ev, deadline, 0);
}

int sock_wait_readable(int fd, int64_t deadline)
{
    return wait_for(fd, POLLIN, deadline);
}

static void tune(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int sock_connect(const char *host, const char *port, int64_t deadline)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g)
        return g == EAI_SYSTEM ? -errno : -ENOENT;
    int r = -ECONNREFUSED;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            r = -errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            tune(fd);
            freeaddrinfo(res);
            return fd;
        }
        if (errno == EINPROGRESS) {
            int w = wait_for(fd, POLLOUT, deadline);
            int err = 0;
            socklen_t len = sizeof(err);
            if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
                tune(fd);
                freeaddrinfo(res);
                return fd;
            }
            r = w == 0 ? -ETIMEDOUT : w < 0 ? w : -err;
        } else {
            r = -errno;
        }
        close(fd);
        if (r == -ETIMEDOUT || r == -EINTR)
            break;
    }
    freeaddrinfo(res);
    return r;
}

int sock_listen(const char *addr, int *port_out)
{
    char host[256], port[8];
    if (sock_split(addr, host, sizeof(host), port, sizeof(port)))
        return -EINVAL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g)
        return g == EAI_SYSTEM ? -errno : -ENOENT;
    int r = -EADDRNOTAVAIL;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            r = -errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 64) == 0) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof(ss);
            getsockname(fd, (struct sockaddr *)&ss, &sl);
            *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                       : ((struct sockaddr_in *)&ss)->sin_port);
            freeaddrinfo(res);
            return fd;
        }
        r = -errno;
        close(fd);
    }
    freeaddrinfo(res);
    return r;
}

int sock_wait(int fd, short events, int64_t deadline)
{
    return wait_for(fd, events, deadline);
}

/* ---- the stream: plain TCP or TLS ---- */

static void io_lock(struct io *io)
{
    if (io->lock)
        pthread_mutex_lock(io->lock);
}

static void io_unlock(struct io *io)
{
    if (io->lock)
        pthread_mutex_unlock(io->lock);
}

/* What a libssl call's failure means: -EAGAIN with *want set (wait for
 * that and call again), 0 (closed cleanly), or -EPIPE. Call with the lock
 * held, at once after the call. */
static int ssl_verdict(struct io *io, int k, short *want)
{
    switch (SSL_get_error(io->ssl, k)) {
    case SSL_ERROR_WANT_READ:
        *want = POLLIN;
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        *want = POLLOUT;
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (errno == EINTR) {
            *want = POLLIN | POLLOUT;
            return -EAGAIN;
        }
        return -EPIPE;
    default: /* an alert from the peer, or a record that does not verify */
        return tls_cut(ERR_peek_error()) ? -EPIPE : -ECONNABORTED;
    }
}

/* Reads up to n bytes. Returns how many (> 0), 0 (closed), -EAGAIN (wait
 * for *want), -EPIPE, or -ECONNABORTED (TLS: an alert, a bad record). */
static ssize_t io_read(struct io *io, void *buf, size_t n, short *want)
{
    if (!io->ssl) {
        for (;;) {
            ssize_t k = recv(io->fd, buf, n, 0);
            if (k >= 0)
                return k;
            if (errno == EINTR)
                continue;
            *want = POLLIN;
            return errno == EAGAIN ? -EAGAIN : -EPIPE;
        }
    }
    int cap = n > INT_MAX ? INT_MAX : (int)n;
    io_lock(io);
    ERR_clear_error();
    int k = SSL_read(io->ssl, buf, cap);
    ssize_t r = k > 0 ? k : ssl_verdict(io, k, want);
    io_unlock(io);
    return r;
}

/* Writes some of the bytes of iov. Returns how many (> 0), -EAGAIN (wait
 * for *want), or -EPIPE. Over TLS small frames go as one record; a write
 * that must be tried again is tried with the same bytes, as libssl wants
 * (the caller's iov has not moved). */
static ssize_t io_writev(struct io *io, const struct iovec *v, int nv, short *want)
{
    if (!io->ssl) {
        struct msghdr mh = {.msg_iov = (struct iovec *)v, .msg_iovlen = (size_t)nv};
        for (;;) {
            ssize_t k = sendmsg(io->fd, &mh, MSG_NOSIGNAL);
            if (k >= 0)
                return k;
            if (errno == EINTR)
                continue;
            *want = POLLOUT;
            return errno == EAGAIN ? -EAGAIN : -EPIPE;
        }
    }
    uint8_t small[4096];
    size_t total = 0;
    for (int i = 0; i < nv; i++)
        total += v[i].iov_len;
    const void *p = v[0].iov_base;
    size_t len = v[0].iov_len;
    if (nv > 1 && total <= sizeof(small)) {
        size_t off = 0;
        for (int i = 0; i < nv; i++) {
            if (v[i].iov_len)
                memcpy(small + off, v[i].iov_base, v[i].iov_len);
            off += v[i].iov_len;
        }
        p = small;
        len = total;
    }
    if (len > INT_MAX)
        len = INT_MAX;
    io_lock(io);
    ERR_clear_error();
    int k = SSL_write(io->ssl, p, (int)len);
    ssize_t r = k > 0 ? k : ssl_verdict(io, k, want);
    io_unlock(io);
    return r == 0 ? -EPIPE : r;
}

static int io_wait_readable_as(struct io *io, int64_t deadline, int intr)
{
    if (!io->ssl)
        return wait_intr(io->fd, POLLIN, deadline, intr);
    for (;;) {
        uint8_t c;
        short want = POLLIN;
        io_lock(io);
        ERR_clear_error();
        int k = SSL_pending(io->ssl) > 0 ? 1 : SSL_peek(io->ssl, &c, 1);
        int r = k > 0 ? 1 : (int)ssl_verdict(io, k, &want);
        io_unlock(io);
        if (r == 1)
            return 1;
        if (r != -EAGAIN)
            return -EPIPE; /* closed or failed: the next read says so */
        int w = wait_intr(io->fd, want, deadline, intr);
        if (w <= 0)
            return w == 0 ? 0 : w == -EINTR ? -EINTR : -EPIPE;
    }
}

int io_wait_readable(struct io *io, int64_t deadline)
{
    return io_wait_readable_as(io, deadline, 0);
}

int io_wait_readable_intr(struct io *io, int64_t deadline)
{
    return io_wait_readable_as(io, deadline, 1);
}

/* Writes every byte of the nv parts of v (which it moves on) before the
 * deadline; with stall_ns > 0 the deadline moves on to stall_ns after
 * every write that made progress (a large frame on a slow link takes as
 * long as it takes while bytes move). Returns 0, -ETIMEDOUT, -EPIPE. */
static int io_writev_all(struct io *io, struct iovec *v, int nv, int64_t deadline, int64_t stall_ns)
{
    for (;;) {
        while (nv && v->iov_len == 0) {
            v++;
            nv--;
        }
        if (!nv)
            return 0;
        short want = POLLOUT;
        ssize_t n = io_writev(io, v, nv, &want);
        if (n < 0) {
            if (n != -EAGAIN)
                return -EPIPE;
            int w = wait_for(io->fd, want, deadline);
            if (w == 0)
                return -ETIMEDOUT;
            if (w < 0)
                return -EPIPE;
            continue;
        }
        if (stall_ns > 0 && n > 0)
            deadline = clock_deadline(stall_ns);
        while (n > 0) {
            size_t take = (size_t)n < v->iov_len ? (size_t)n : v->iov_len;
            v->iov_base = (uint8_t *)v->iov_base + take;
            v->iov_len -= take;
            n -= (ssize_t)take;
            if (v->iov_len == 0 && n > 0) {
                v++;
                nv--;
            }
        }
    }
}

static int frame_writev(struct io *io, uint8_t type, uint8_t flags, uint64_t id, const void *fixed,
                        size_t flen, const void *payload, size_t plen, int64_t deadline,
                        int64_t stall_ns)
{
    uint8_t hdr[WIRE_HDR];
    struct wire_hdr h = {(uint32_t)(flen + plen), type, flags, id};
    wire_hdr_put(hdr, &h);
    struct iovec iov[3] = {{hdr, sizeof(hdr)}, {(void *)fixed, flen}, {(void *)payload, plen}};
    return io_writev_all(io, iov, 3, deadline, stall_ns);
}

int io_frame_write(struct io *io, uint8_t type, uint8_t flags, uint64_t id, const void *fixed,
                   size_t flen, const void *payload, size_t plen, int64_t deadline)
{
    return frame_writev(io, type, flags, id, fixed, flen, payload, plen, deadline, 0);
}

int io_frame_write_stall(struct io *io, uint8_t type, uint8_t flags, uint64_t id, const void *fixed,
                         size_t flen, const void *payload, size_t plen, int64_t stall_ns)
{
    return frame_writev(io, type, flags, id, fixed, flen, payload, plen, clock_deadline(stall_ns),
                        stall_ns);
}

int io_write_all(struct io *io, const void *p, size_t len, int64_t deadline)
{
    struct iovec v = {(void *)p, len};
    return io_writev_all(io, &v, 1, deadline, 0);
}

int io_write_all_stall(struct io *io, const void *p, size_t len, int64_t stall_ns)
{
    struct iovec v = {(void *)p, len};
    return io_writev_all(io, &v, 1, clock_deadline(stall_ns), stall_ns);
}

int frame_write(int fd, uint8_t type, uint8_t flags, uint64_t id, const void *fixed, size_t flen,
                const void *payload, size_t plen, int64_t deadline)
{
    struct io io = {fd, NULL, NULL};
    return io_frame_write(&io, type, flags, id, fixed, flen, payload, plen, deadline);
}

/* Reads exactly n bytes. Returns 0, -ETIMEDOUT, -EPIPE. */
static int read_full(struct io *io, void *buf, size_t n, int64_t deadline, size_t *got)
{
    uint8_t *p = buf;
    *got = 0;
    while (*got < n) {
        short want = POLLIN;
        ssize_t k = io_read(io, p + *got, n - *got, &want);
        if (k > 0) {
            *got += (size_t)k;
            continue;
        }
        if (k != -EAGAIN)
            return k == -ECONNABORTED ? -ECONNABORTED : -EPIPE;
        int w = wait_for(io->fd, want, deadline);
        if (w == 0)
            return -ETIMEDOUT;
        if (w < 0)
            return -EPIPE;
    }
    return 0;
}

int io_frame_read(struct io *io, struct wire_hdr *h, struct frame_buf *b, uint64_t max_body,
                  int64_t deadline)
{
    uint8_t hdr[WIRE_HDR];
    size_t got;
    int r = read_full(io, hdr, sizeof(hdr), deadline, &got);
    if (r)
        return r == -ETIMEDOUT && got ? -EPIPE : r;
    if (wire_hdr_get(hdr, max_body, h))
        return -EPROTO;
    if (h->len > b->cap) {
        uint8_t *p = realloc(b->p, h->len);
        if (!p)
            return -ENOMEM;
        b->p = p;
        b->cap = h->len;
    }
    /* A frame begun is finished or the link is unusable: a peer that
     * stalls half way through one is treated as gone. */
    r = read_full(io, b->p, h->len, deadline < 0 ? clock_deadline(30000000000ll) : deadline, &got);
    return r == -ETIMEDOUT ? -EPIPE : r;
}

int frame_read(int fd, struct wire_hdr *h, struct frame_buf *b, uint64_t max_body, int64_t deadline)
{
    struct io io = {fd, NULL, NULL};
    return io_frame_read(&io, h, b, max_body, deadline);
}

int reader_ready(const struct frame_reader *r)
{
    size_t have = r->end - r->start;
    if (have < WIRE_HDR)
        return 0;
    const uint8_t *p = r->p + r->start;
    uint32_t len =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return have - WIRE_HDR >= len;
}

/* Makes room in r for at least want more bytes from its end, moving what
 * it holds to the front first. Returns 0 or -ENOMEM. */
static int reader_room(struct frame_reader *r, size_t want)
{
    size_t have = r->end - r->start;
    if (want < 65536)
        want = 65536; /* and read ahead */
    if (r->start && (r->cap - r->start < want)) {
        memmove(r->p, r->p + r->start, have);
        r->start = 0;
        r->end = have;
    }
    if (r->cap - r->start < want) {
        uint8_t *p = realloc(r->p, r->start + want);
        if (!p)
            return -ENOMEM;
        r->p = p;
        r->cap = r->start + want;
    }
    return 0;
}

/* Room for the frame under way in r (its header, or the whole frame when
 * the header is in), checked against max_body. Returns 0, -EPROTO,
 * -ENOMEM. */
static int reader_room_for_frame(struct frame_reader *r, uint64_t max_body)
{
    size_t have = r->end - r->start;
    struct wire_hdr h;
    if (have >= WIRE_HDR && wire_hdr_get(r->p + r->start, max_body, &h))
        return -EPROTO;
    return reader_room(r, have >= WIRE_HDR ? WIRE_HDR + h.len : WIRE_HDR);
}

int io_reader_next_stall(struct io *io, struct frame_reader *r, struct wire_hdr *h,
                         const uint8_t **body, uint64_t max_body, int64_t deadline,
                         int64_t stall_ns)
{
    int64_t frame_by = -1; /* when the frame under way must be in */
    int64_t moved = -1;    /* inside a frame: when bytes last came */
    int64_t ticked = -1;   /* inside a frame: when the hook was last told */
    for (;;) {
        size_t have = r->end - r->start;
        if (have >= WIRE_HDR) {
            if (wire_hdr_get(r->p + r->start, max_body, h))
                return -EPROTO;
            if (have - WIRE_HDR >= h->len) {
                *body = r->p + r->start + WIRE_HDR;
                r->start += WIRE_HDR + h->len;
                return 0;
            }
        }
        int e = reader_room_for_frame(r, max_body);
        if (e)
            return e;
        short ev = POLLIN;
        ssize_t k = io_read(io, r->p + r->end, r->cap - r->end, &ev);
        if (k > 0) {
            r->end += (size_t)k;
            moved = -1;
            continue;
        }
        if (k != -EAGAIN)
            return k == -ECONNABORTED ? -ECONNABORTED : -EPIPE;
        /* Inside a frame a peer that stalls, or drips bytes, is treated
         * as gone (sock.h): the frame's own bound is fixed once, not
         * renewed by every byte. */
        int64_t dl = deadline;
        if (have) {
            if (frame_by < 0) {
                uint64_t len = have >= WIRE_HDR ? h->len : max_body;
                frame_by = clock_deadline(stall_ns + (int64_t)len * FRAME_NS_PER_BYTE);
            }
            if (moved < 0)
                moved = clock_now_ns();
            dl = moved + stall_ns;
            if (frame_by < dl)
                dl = frame_by;
        }
        /* Inside a frame, waited in ticks, each told to the hook: counted
         * from the last tick, not from the last byte, so a link that drips
         * more often than a tick still ticks. */
        int64_t until = dl;
        if (have && r->tick && r->tick_ns > 0) {
            if (ticked < 0)
                ticked = clock_now_ns();
            if (ticked + r->tick_ns < until)
                until = ticked + r->tick_ns;
        }
        int w = wait_for(io->fd, ev, until);
        if (w == 0 && until != dl) {
            r->tick(r->tick_arg);
            ticked = clock_now_ns();
            continue;
        }
        if (w == 0)
            return have ? -EPIPE : -ETIMEDOUT;
        if (w < 0)
            return -EPIPE;
    }
}

int io_reader_next(struct io *io, struct frame_reader *r, struct wire_hdr *h, const uint8_t **body,
                   uint64_t max_body, int64_t deadline)
{
    return io_reader_next_stall(io, r, h, body, max_body, deadline, FRAME_STALL_NS);
}

int io_reader_fill(struct io *io, struct frame_reader *r, uint64_t max_body)
{
    if (reader_ready(r))
        return 1;
    int e = reader_room_for_frame(r, max_body);
    if (e)
        return e == -ENOMEM ? 0 : e; /* -ENOMEM: the next read says so */
    short ev = POLLIN;
    ssize_t k = io_read(io, r->p + r->end, r->cap - r->end, &ev);
    if (k == -EAGAIN)
        return 0;
    if (k <= 0)
        return -EPIPE;
    r->end += (size_t)k;
    struct wire_hdr h;
    if (r->end - r->start >= WIRE_HDR && wire_hdr_get(r->p + r->start, max_body, &h))
        return -EPROTO;
    return reader_ready(r);
}

int reader_next(int fd, struct frame_reader *r, struct wire_hdr *h, const uint8_t **body,
                uint64_t max_body, int64_t deadline)
{
    struct io io = {fd, NULL, NULL};
    return io_reader_next(&io, r, h, body, max_body, deadline);
}

int sock_host_text(const struct sockaddr_storage *a, char *buf, size_t cap)
{
    const void *addr;
    int family = a->ss_family;
    struct in_addr v4;
    if (family == AF_INET) {
        addr = &((const struct sockaddr_in *)a)->sin_addr;
    } else if (family == AF_INET6) {
        const struct in6_addr *v6 = &((const struct sockaddr_in6 *)a)->sin6_addr;
        addr = v6;
        if (IN6_IS_ADDR_V4MAPPED(v6)) {
            memcpy(&v4, v6->s6_addr + 12, sizeof(v4));
            addr = &v4;
            family = AF_INET;
        }
    } else {
        return -EAFNOSUPPORT;
    }
    return inet_ntop(family, addr, buf, (socklen_t)cap) ? 0 : -ERANGE;
}

int sock_is_local(int fd)
{
    struct sockaddr_storage me, peer;
    socklen_t ml = sizeof(me), pl = sizeof(peer);
    if (getsockname(fd, (struct sockaddr *)&me, &ml) ||
        getpeername(fd, (struct sockaddr *)&peer, &pl))
        return 0;
    if (peer.ss_family == AF_INET) {
        const struct sockaddr_in *p = (const struct sockaddr_in *)&peer;
        const struct sockaddr_in *m = (const struct sockaddr_in *)&me;
        return (ntohl(p->sin_addr.s_addr) >> 24) == 127 || p->sin_addr.s_addr == m->sin_addr.s_addr;
    }
    if (peer.ss_family == AF_INET6) {
        const struct sockaddr_in6 *p = (const struct sockaddr_in6 *)&peer;
        const struct sockaddr_in6 *m = (const struct sockaddr_in6 *)&me;
        return IN6_IS_ADDR_LOOPBACK(&p->sin6_addr) ||
               memcmp(&p->sin6_addr, &m->sin6_addr, sizeof(p->sin6_addr)) == 0;
    }
    return 0;
}
