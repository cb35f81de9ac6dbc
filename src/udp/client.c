/* udp:// handles: a connected UDP socket that sends each message as one
 * authenticated datagram (udp.h, frame.h), or, when the gateway is on this
 * machine and the mailbox's file can be opened, that file itself. */
#include "udp/udp.h"

#include "core/handle.h"
#include "platform/platform.h"
#include "tcp/auth.h"
#include "tcp/sock.h"
#include "udp/frame.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct udp_box {
    struct mbx base;
    pthread_mutex_t mu; /* seq and buf */
    int fd;
    mbx *local; /* the mailbox's own file (same machine), or NULL */
    char box[UDPF_NAME_MAX + 1];
    size_t box_len;
    struct udpf_key key; /* the secret's */
    uint64_t sender, seq;
    uint8_t buf[UDPF_DGRAM_MAX];
};

static struct udp_box *udp_of(struct mbx *m)
{
    return (struct udp_box *)m;
}

int udp_parse(const char *name, char *host, size_t hostcap, char *port, size_t portcap, char *box,
              size_t boxcap)
{
    if (strncmp(name, "udp://", 6) != 0)
        return -EINVAL;
    const char *a = name + 6, *slash = strchr(a, '/');
    if (!slash)
        return -EINVAL;
    char addr[300];
    size_t an = (size_t)(slash - a);
    if (an == 0 || an >= sizeof(addr))
        return -EINVAL;
    memcpy(addr, a, an);
    addr[an] = 0;
    if (sock_split(addr, host, hostcap, port, portcap) || atoi(port) == 0)
        return -EINVAL;
    size_t bn = strlen(slash + 1);
    if (bn > UDPF_NAME_MAX || bn >= boxcap)
        return -ENAMETOOLONG;
    if (!udpf_name_ok(slash + 1, bn))
        return -EINVAL;
    memcpy(box, slash + 1, bn + 1);
    return 0;
}

uint64_t udp_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A connected, non-blocking UDP socket to host:port. Returns it or -errno
 * (-ENOENT: the host does not resolve). */
static int dgram_connect(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
    struct addrinfo *res;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g)
        return g == EAI_SYSTEM ? -errno : -ENOENT;
    int r = -EHOSTUNREACH;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            r = -errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            int sz = 1 << 20; /* a few largest datagrams queued at once */
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
            freeaddrinfo(res);
            return fd;
        }
        r = -errno;
        close(fd);
    }
    freeaddrinfo(res);
    return r;
}

/* Hands n bytes of b->buf to the kernel as one datagram, waiting for room
 * in the socket's buffer until deadline. Returns 0, -EAGAIN (no room,
 * deadline now), -ETIMEDOUT, -EMSGSIZE, -EHOSTUNREACH, -ENETUNREACH, or
 * another -errno. */
static int dgram_send(struct udp_box *b, size_t n, int64_t deadline, int nonblock)
{
    int refused = 0;
    for (;;) {
        if (send(b->fd, b->buf, n, MSG_NOSIGNAL) == (ssize_t)n)
            return 0;
        int e = errno;
        if (e == EINTR)
            continue;
        /* An earlier datagram's ICMP "port unreachable" is reported on
         * this send, which then did not go: no delivery is ever reported
         * on udp://, so it goes again (once). */
        if (e == ECONNREFUSED && !refused++)
            continue;
        if (e == ECONNREFUSED)
            return 0; /* as lost */
        if (e != EAGAIN && e != ENOBUFS)
            return -e;
        if (nonblock)
            return -EAGAIN;
        int64_t left = clock_remaining(deadline);
        if (left == 0)
            return -ETIMEDOUT;
        int ms = left < 0 ? 100 : (int)((left + 999999) / 1000000);
        if (ms > 100)
            ms = 100; /* ENOBUFS does not wake poll: look again */
        struct pollfd p = {b->fd, POLLOUT, 0};
        poll(&p, 1, ms);
        if (__atomic_load_n(&b->base.closing, __ATOMIC_RELAXED))
            return -EBADF;
    }
}

/* Asks a gateway on this machine where the mailbox's file is. Returns 1
 * and the folder in dir (UDPF_DIR_MAX + 1 bytes) when it answered, runs on
 * this boot, exports the name and keeps its mailboxes in the very folder
 * this process sees under that path (not a same-named one of another
 * mount namespace); 0 otherwise (the network path then). */
static int probe(struct udp_box *b, char *dir)
{
    uint8_t nonce[UDPF_NONCE];
    if (auth_random(nonce, sizeof(nonce)))
        return 0;
    struct udpf f = {.kind = UDPF_PROBE,
                     .sender = b->sender,
                     .seq = b->seq++,
                     .time_ms = udp_wall_ms(),
                     .name = b->box,
                     .name_len = b->box_len};
    size_t n = udpf_put(b->buf, &f);
    memcpy(b->buf + n, nonce, UDPF_NONCE);
    n = udpf_seal(&b->key, b->buf, n + UDPF_NONCE);
    uint8_t in[UDPF_HDR + UDPF_NAME_MAX + UDPF_NONCE + UDPF_BOOT_ID + UDPF_DIR_ID + UDPF_DIR_MAX +
               UDPF_MAC + 1];
    for (int t = 0; t < UDP_PROBE_TRIES; t++) {
        if (send(b->fd, b->buf, n, MSG_NOSIGNAL) != (ssize_t)n)
            return 0; /* ECONNREFUSED: nobody listens there */
        int64_t dl = clock_deadline(UDP_PROBE_WAIT_NS);
        for (;;) {
            int64_t left = clock_remaining(dl);
            if (left == 0)
                break;
            struct pollfd p = {b->fd, POLLIN, 0};
            if (poll(&p, 1, (int)((left + 999999) / 1000000)) <= 0)
                continue;
            ssize_t k = recv(b->fd, in, sizeof(in), MSG_TRUNC);
            if (k < 0 && errno == ECONNREFUSED)
                return 0;
            if (k < 0 || (size_t)k > sizeof(in))
                continue;
            struct udpf h;
            uint8_t echo[UDPF_NONCE], boot[UDPF_BOOT_ID];
            uint64_t mine[2], dir_id[2], seen[2];
            if (udpf_get(in, (size_t)k, &h) || h.kind != UDPF_HERE ||
                !udpf_verify(&b->key, in, (size_t)k) ||
                udpf_here_get(h.body, h.body_len, echo, boot, dir_id, dir) ||
                memcmp(echo, nonce, UDPF_NONCE) != 0)
                continue; /* not the answer to this probe */
            if (h.status || !dir[0] || !plat_boot_id(mine) || memcmp(mine, boot, UDPF_BOOT_ID) != 0)
                return 0;
            if (plat_dir_id(dir, seen) || seen[0] != dir_id[0] || seen[1] != dir_id[1])
                return 0;
            return 1;
        }
    }
    return 0;
}

/* Whether this process may skip a gateway on its own machine:
 * MBX_UDP_BYPASS=0 (or MBX_TCP_BYPASS=0) says no. */
static int bypass_wanted(void)
{
    const char *u = getenv("MBX_UDP_BYPASS"), *t = getenv("MBX_TCP_BYPASS");
    return !(u && strcmp(u, "0") == 0) && !(t && strcmp(t, "0") == 0);
}

static void box_free(struct udp_box *b)
{
    if (b->fd >= 0)
        close(b->fd);
    if (b->local)
        mbx_close(b->local);
    pthread_mutex_destroy(&b->mu);
    udpf_key_free(&b->key);
    free(b);
}

static int udp_open(const char *name, int flags, const mbx_options *o, struct mbx **out)
{
    extern const struct mbx_transport mbx__udp_transport;
    (void)o;
    /* Datagrams only go one way, and carry no attributes to create with. */
    if ((flags & ~(MBX_SEND | MBX_SHARED)) || !(flags & MBX_SEND))
        return -ENOTSUP;
    struct udp_box *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    char host[256], port[8];
    b->fd = -1;
    pthread_mutex_init(&b->mu, NULL);
    int r = udp_parse(name, host, sizeof(host), port, sizeof(port), b->box, sizeof(b->box));
    if (!r) {
        struct secret secret;
        r = secret_load(NULL, 0, &secret);
        if (r == -ENOENT)
            r = -EACCES;
        if (!r)
            r = udpf_key_init(&b->key, &secret);
        explicit_bzero(&secret, sizeof(secret));
    }
    if (!r)
        r = plat_random(&b->sender);
    if (!r) {
        b->fd = dgram_connect(host, port);
        if (b->fd < 0)
            r = b->fd;
    }
    if (r) {
        box_free(b);
        return r;
    }
    handle_init(&b->base, &mbx__udp_transport, name, flags);
    b->box_len = strlen(b->box);
    b->seq = 1;
    char dir[UDPF_DIR_MAX + 1];
    if (bypass_wanted() && sock_is_local(b->fd) && probe(b, dir)) {
        /* Same machine, same boot, exported: the mailbox's own file, with
         * this process's own rights; through the gateway when that fails. */
        char local[UDPF_DIR_MAX + UDPF_NAME_MAX + 2];
        snprintf(local, sizeof(local), "%s/%s", dir, b->box);
        mbx_stat st;
        if (mbx_open(local, MBX_SEND | (flags & MBX_SHARED), NULL, &b->local))
            b->local = NULL;
        else if (mbx_stat_get(b->local, &st) || (st.flags & MBX_STREAM)) {
            mbx_close(b->local); /* a stream takes no datagrams: the gateway says so */
            b->local = NULL;
        }
    }
    *out = &b->base;
    return 0;
}

static void udp_close(struct mbx *m)
{
    box_free(udp_of(m));
}

static void udp_wake(struct mbx *m)
{
    (void)m; /* a send waits at most 100 ms between looks at closing */
}

/* On the same machine: what the gateway would do with the datagram,
 * without one. The sender learns nothing of it, as over the network.
 * Returns 0, or -EIDRM when the mailbox opened was removed (the caller
 * then sends through the gateway, which opens what the name is now: every
 * message was lost once the mailbox was made again; found by a review). */
static int send_local(struct udp_box *b, const void *buf, size_t len, unsigned prio, uint64_t type)
{
    int r = mbx_send_typed(b->local, buf, len, prio, type, MBX_NONBLOCK);
    if (r == -EIDRM)
        return r;
    void (*count)(struct mbx *, int) = b->local->tp->count_drop;
    if (count && (r == -EAGAIN || r == -ENOSPC))
        count(b->local, 1);
    else if (count && r == -EMSGSIZE)
        count(b->local, 0);
    return 0;
}

static int udp_send(struct mbx *m, const void *buf, size_t len, unsigned prio, uint64_t type,
                    int64_t timeout_ns)
{
    struct udp_box *b = udp_of(m);
    if (len > udpf_payload_max(b->box_len))
        return -EMSGSIZE;
    if (b->local && send_local(b, buf, len, prio, type) == 0)
        return 0;
    int64_t deadline = clock_deadline(timeout_ns);
    pthread_mutex_lock(&b->mu);
    struct udpf f = {.kind = UDPF_MSG,
                     .sender = b->sender,
                     .seq = b->seq++,
                     .time_ms = udp_wall_ms(),
                     .type = type,
                     .prio = prio,
                     .name = b->box,
                     .name_len = b->box_len};
    size_t n = udpf_put(b->buf, &f);
    if (len)
        memcpy(b->buf + n, buf, len);
    n = udpf_seal(&b->key, b->buf, n + len);
    int r = dgram_send(b, n, deadline, timeout_ns == MBX_NONBLOCK);
    pthread_mutex_unlock(&b->mu);
    return r;
}

static int udp_sync(struct mbx *m)
{
    (void)m;
    return 0; /* nothing is kept: every send was handed to the kernel */
}

static int udp_unlink(const char *name)
{
    (void)name;
    return -ENOTSUP;
}

static int udp_stat_name(const char *name, mbx_stat *st)
{
    (void)name;
    (void)st;
    return -ENOTSUP;
}

static int udp_stat(struct mbx *m, mbx_stat *st)
{
    (void)m;
    (void)st;
    return -ENOTSUP;
}

static int udp_stat_ext(struct mbx *m, mbx_stat_ext *st)
{
    (void)m;
    (void)st;
    return -ENOTSUP;
}

static ssize_t udp_recv(struct mbx *m, pid_t from, const struct mbx_sel *sel, void *buf, size_t cap,
                        mbx_msginfo *info, int64_t timeout_ns)
{
    (void)m, (void)from, (void)sel, (void)buf, (void)cap, (void)info, (void)timeout_ns;
    return -ENOTSUP;
}

static ssize_t udp_call(struct mbx *m, const void *req, size_t len, unsigned prio, void *reply,
                        size_t cap, int64_t timeout_ns)
{
    (void)m, (void)req, (void)len, (void)prio, (void)reply, (void)cap, (void)timeout_ns;
    return -ENOTSUP;
}

static int udp_transfer(struct mbx *m, pid_t new_owner)
{
    (void)m, (void)new_owner;
    return -ENOTSUP;
}

static int udp_loan(struct mbx *m, size_t len, void **buf)
{
    (void)m, (void)len, (void)buf;
    return -ENOTSUP;
}

static int udp_send_loan(struct mbx *m, void *buf, size_t len, unsigned prio, uint64_t type,
                         int64_t timeout_ns)
{
    (void)m, (void)buf, (void)len, (void)prio, (void)type, (void)timeout_ns;
    return -ENOTSUP;
}

static ssize_t udp_recv_loan(struct mbx *m, const struct mbx_sel *sel, const void **buf,
                             mbx_msginfo *info, int64_t timeout_ns)
{
    (void)m, (void)sel, (void)buf, (void)info, (void)timeout_ns;
    return -ENOTSUP;
}

static int udp_release(struct mbx *m, const void *buf)
{
    (void)m, (void)buf;
    return -ENOTSUP;
}

static int udp_check_name(const char *name)
{
    char host[256], port[8], box[UDPF_NAME_MAX + 1];
    return udp_parse(name, host, sizeof(host), port, sizeof(port), box, sizeof(box));
}

const struct mbx_transport mbx__udp_transport = {
    .scheme = "udp",
    .open = udp_open,
    .close = udp_close,
    .wake = udp_wake,
    .unlink = udp_unlink,
    .stat_name = udp_stat_name,
    .stat = udp_stat,
    .stat_ext = udp_stat_ext,
    .sync = udp_sync,
    .send = udp_send,
    .recv = udp_recv,
    .call = udp_call,
    .transfer = udp_transfer,
    .loan = udp_loan,
    .send_loan = udp_send_loan,
    .recv_loan = udp_recv_loan,
    .release = udp_release,
    .check_name = udp_check_name,
};
