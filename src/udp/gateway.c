/* The UDP gateway: one thread reads datagrams (udp.h, frame.h) and puts
 * each valid one in its local mailbox without waiting; everything else is
 * dropped and counted, in the gateway's statistics and, when the datagram
 * names an exported mailbox that exists, in that mailbox's header
 * (mbx_stat_ext: udp_dropped_full, udp_dropped_bad).
 *
 * Replay protection: each sender (a random 64-bit id per handle) numbers
 * its datagrams; the gateway keeps, for the last SENDERS senders it heard
 * from, the highest number and which of the WINDOW before it came, and
 * refuses a number seen before or older than that window. A sender pushed
 * out of its set (SENDERS in sets of WAYS) leaves its latest time behind
 * there: an unknown sender's datagram no later than the latest so left is
 * refused, so a recording of senders that push each other out is not
 * taken again (it was, at every round: found by a review). A datagram
 * whose sender's clock is more than UDP_SKEW_MS from the gateway's is
 * refused too, so what was recorded before a restart (which forgets the
 * senders) can be replayed only within that time. */
#include "mbx.h"

#include "core/handle.h"
#include "platform/platform.h"
#include "shm/hosts.h"
#include "shm/origin.h"
#include "shm/reboot.h"
#include "tcp/auth.h"
#include "tcp/sock.h"
#include "udp/frame.h"
#include "udp/udp.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <netdb.h>
#include <poll.h>
#include <time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH   8    /* datagrams read per system call */
#define BOXES   64   /* mailboxes held open at once */
#define SENDERS 1024 /* senders whose sequence numbers are remembered */
#define WAYS    4    /* ... in sets of this many (least recently heard goes) */
#define WINDOW  64   /* sequence numbers behind the highest still accepted once */
#define ORIGINS 8    /* hosts whose ids are kept at hand (origin_of) */
/* Opens that cost time (see box_get). */
#define COSTLY        64    /* names whose opens cost time, remembered */
#define OPEN_FREE     5     /* ms an open may take before its time counts */
#define OPEN_DEAR     100   /* ms counted within OPEN_SPAN that pause a name */
#define OPEN_SPAN     10000 /* ms */
#define PAUSE_MIN     1000  /* ms: a name's first pause, doubled at each next */
#define PAUSE_MAX     64000 /* ms: ... up to this */
#define DEBT_MAX      5000  /* ms counted, gateway-wide, that stop all opens */
#define DEBT_PAID     10    /* ... of which one ms is forgiven every this many */
#define TRICKLE_GAP   100   /* ms between opens, while they are stopped, of names never costly */
#define TRICKLE_SHARE 2     /* ... and at least this many times what the last such open took */
_Static_assert(SENDERS / WAYS == 256, "8 bits of a hash choose the set");

struct box {
    char name[UDPF_NAME_MAX + 1];
    mbx *h;
    uint64_t used;
};

/* A name whose opens cost time: how much lately, and until when it is
 * not opened again. */
struct costly {
    char name[UDPF_NAME_MAX + 1]; /* "" for a free entry */
    uint64_t since, spent;        /* ms counted since `since` */
    uint64_t until;               /* not opened before then */
    uint64_t paused;              /* when its last pause began */
    unsigned pauses;              /* how many in a row (each twice the last) */
};

struct peer {
    uint64_t sender, top, bits, used;
    uint64_t last_ms; /* the latest time its accepted datagrams carried */
};

struct mbx_udp_gateway {
    int fd, port, wake[2];
    pthread_t thread;
    struct udpf_key key; /* the secret's */
    char **allow;
    size_t nallow;
    struct box boxes[BOXES];
    struct costly costly[COSTLY];
    uint64_t debt, debt_at; /* open time counted gateway-wide; when last paid */
    uint64_t trickle_at;    /* while opens are stopped: the next of a new name not before */
    struct peer peers[SENDERS];
    uint64_t forgotten_ms[SENDERS / WAYS]; /* per set: see the top */
    uint64_t tick;
    uint32_t kernel_drops; /* SO_RXQ_OVFL: the socket's count */
    mbx_udp_gateway_stats st;
    uint8_t *bufs; /* BATCH x (UDPF_DGRAM_MAX + 1) */
    /* The hosts datagrams came from lately, with their ids (shm/hosts.h):
     * an id costs a scan of the table, a look here a few compares. */
    struct origin {
        uint8_t addr[17]; /* family, then the address */
        uint32_t id;
    } origins[ORIGINS];
    unsigned origins_next;
};

/* The statistics are read by other threads: each counter is one atomic word. */
static void bump(uint64_t *c)
{
    __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* The id of the host datagram `from` came from (HOSTS_UNKNOWN when it
 * cannot be had), as the messages it delivers record it. */
static uint32_t origin_of(struct mbx_udp_gateway *g, const struct sockaddr_storage *from)
{
    uint8_t key[17] = {0};
    char text[64];
    key[0] = (uint8_t)from->ss_family;
    if (from->ss_family == AF_INET)
        memcpy(key + 1, &((const struct sockaddr_in *)from)->sin_addr, 4);
    else if (from->ss_family == AF_INET6)
        memcpy(key + 1, &((const struct sockaddr_in6 *)from)->sin6_addr, 16);
    for (unsigned i = 0; i < ORIGINS; i++)
        if (g->origins[i].id && memcmp(g->origins[i].addr, key, sizeof(key)) == 0)
            return g->origins[i].id;
    uint32_t id = sock_host_text(from, text, sizeof(text)) == 0 ? hosts_id(text) : HOSTS_UNKNOWN;
    /* Not kept: the table may be had later (hosts_id tries again once a
     * second); kept, the address stayed unknown for the gateway's life
     * (found by a review). */
    if (id == HOSTS_UNKNOWN)
        return id;
    struct origin *o = &g->origins[g->origins_next++ % ORIGINS];
    memcpy(o->addr, key, sizeof(key));
    o->id = id;
    return id;
}

static int allowed(const struct mbx_udp_gateway *g, const char *name)
{
    for (size_t i = 0; i < g->nallow; i++)
        if (fnmatch(g->allow[i], name, 0) == 0)
            return 1;
    return 0;
}

/* The handle of mailbox name if the gateway holds it open already, else
 * NULL. Opens nothing; counts as a use (keeps it from being the next
 * closed) only when `use`: not for a datagram anyone could have forged. */
static mbx *box_held(struct mbx_udp_gateway *g, const char *name, int use)
{
    for (int i = 0; i < BOXES; i++) {
        struct box *b = &g->boxes[i];
        if (b->h && strcmp(b->name, name) == 0) {
            if (use)
                b->used = ++g->tick;
            return b->h;
        }
    }
    return NULL;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct costly *costly_find(struct mbx_udp_gateway *g, const char *name)
{
    for (int i = 0; i < COSTLY; i++)
        if (strcmp(g->costly[i].name, name) == 0)
            return &g->costly[i];
    return NULL;
}

/* Counts an open of name that took ms (timed_out: it said -ETIMEDOUT) and
 * pauses the name when its opens cost too much. */
static void costly_count(struct mbx_udp_gateway *g, const char *name, uint64_t now, uint64_t ms,
                         int timed_out)
{
    uint64_t over = ms > OPEN_FREE ? ms - OPEN_FREE : 0;
    g->debt += over;
    if (!over && !timed_out)
        return;
    struct costly *c = costly_find(g, name);
    if (!c) { /* a free entry, else the one whose pause ends first */
        c = &g->costly[0];
        for (int i = 0; i < COSTLY && c->name[0]; i++)
            if (!g->costly[i].name[0] || g->costly[i].until < c->until)
                c = &g->costly[i];
        *c = (struct costly){.since = now};
        snprintf(c->name, sizeof(c->name), "%s", name);
    }
    if (now - c->since > OPEN_SPAN) {
        c->since = now;
        c->spent = 0;
    }
    c->spent += over;
    if (!timed_out && c->spent < OPEN_DEAR)
        return;
    if (now - c->paused > 2 * PAUSE_MAX)
        c->pauses = 0; /* long quiet: from the shortest again */
    uint64_t pause = (uint64_t)PAUSE_MIN << c->pauses;
    if (pause >= PAUSE_MAX)
        pause = PAUSE_MAX;
    else
        c->pauses++;
    c->paused = c->since = now;
    c->spent = 0;
    c->until = now + ms + pause;
}

/* Whether mailboxes may be opened now: not while the time opens cost,
 * gateway-wide, is above DEBT_MAX (paid at one ms in DEBT_PAID). */
static int may_open(struct mbx_udp_gateway *g, uint64_t now)
{
    uint64_t paid = (now - g->debt_at) / DEBT_PAID;
    g->debt = g->debt > paid ? g->debt - paid : 0;
    g->debt_at += paid * DEBT_PAID;
    return g->debt < DEBT_MAX;
}

/* The open handle of mailbox name (a plain, allowed name), opened now if
 * need be. Returns it, or NULL (no such mailbox, not ours to open, a
 * stream, a name whose opens cost time, paused, or opens stopped).
 *
 * One thread serves every mailbox, and an open could take it up to 1 s
 * (shm/reboot.c: a peer who may write the mailbox forges its boot id and
 * holds its file's lock): reopened at every datagram, one such mailbox
 * starved all the others (found by a review). The thread no longer waits
 * for that lock (reboot_nowait: the open times out at once), but what
 * else an open may cost is bounded all the same: the time opens take
 * beyond OPEN_FREE ms is counted: a name whose opens took OPEN_DEAR ms
 * within OPEN_SPAN, or that timed out, is not opened again for PAUSE_MIN
 * ms, twice that after its next costly open, up to PAUSE_MAX; the last
 * COSTLY such names are remembered. And while the time counted for all
 * names is above DEBT_MAX ms (it falls by one ms in DEBT_PAID), no name
 * is opened but a trickle of names with no such history (none of the
 * last COSTLY costly ones): one every TRICKLE_GAP ms, or TRICKLE_SHARE
 * times what the last of them took if more. Many such mailboxes cannot
 * take the thread either, and the names they do not stand for still get
 * in: before, a peer of 7 poisonable mailboxes kept the time counted
 * above DEBT_MAX, its datagrams taking each chance to open that came
 * back, and no other name was ever opened (a regression review). The
 * mailboxes held open are served all the while. */
static mbx *box_get(struct mbx_udp_gateway *g, const char *name)
{
    mbx *held = box_held(g, name, 1);
    if (held)
        return held;
    uint64_t now = mono_ms();
    struct costly *c = costly_find(g, name);
    if (c && now < c->until)
        return NULL;
    int trickle = !may_open(g, now);
    if (trickle && (c || now < g->trickle_at))
        return NULL;
    struct box *oldest = &g->boxes[0];
    for (int i = 0; i < BOXES; i++) {
        struct box *b = &g->boxes[i];
        if (!b->h || (oldest->h && b->used < oldest->used))
            oldest = b;
    }
    mbx *h;
    int r = mbx_open(name, MBX_SEND, NULL, &h);
    uint64_t took = mono_ms() - now;
    costly_count(g, name, now, took, r == -ETIMEDOUT);
    if (trickle)
        g->trickle_at =
            now + took + (took * TRICKLE_SHARE > TRICKLE_GAP ? took * TRICKLE_SHARE : TRICKLE_GAP);
    if (r)
        return NULL;
    mbx_stat st;
    if (mbx_stat_get(h, &st) || (st.flags & MBX_STREAM)) {
        mbx_close(h); /* a stream holds bytes, not messages */
        return NULL;
    }
    if (oldest->h)
        mbx_close(oldest->h);
    snprintf(oldest->name, sizeof(oldest->name), "%s", name);
    oldest->h = h;
    oldest->used = ++g->tick;
    return h;
}

static void box_drop(struct mbx_udp_gateway *g, mbx *h)
{
    for (int i = 0; i < BOXES; i++)
        if (g->boxes[i].h == h) {
            mbx_close(h);
            g->boxes[i].h = NULL;
        }
}

/* Counts a drop in the mailbox behind h (full: no room; else refused). */
static void count_in(mbx *h, int full)
{
    if (h->tp->count_drop)
        h->tp->count_drop(h, full);
}

/* Whether (sender, seq), sent at time_ms, is new; records it when it is.
 * Returns 1 or 0. */
static int fresh(struct mbx_udp_gateway *g, uint64_t sender, uint64_t seq, uint64_t time_ms)
{
    /* The set: the top 8 bits of a multiplicative hash (SENDERS / WAYS = 256
     * sets); a sender chooses its id, but only a sender with the secret gets
     * this far. */
    uint64_t set = (sender * 0x9e3779b97f4a7c15ull) >> 56;
    struct peer *ways = &g->peers[set * WAYS], *p = NULL, *lru = ways;
    for (int i = 0; i < WAYS; i++) {
        if (ways[i].used && ways[i].sender == sender)
            p = &ways[i];
        if (ways[i].used < lru->used)
            lru = &ways[i];
    }
    if (!p) { /* first heard of (or forgotten): starts its window here */
        if (time_ms <= g->forgotten_ms[set])
            return 0;
        p = lru;
        if (p->used && p->last_ms > g->forgotten_ms[set])
            g->forgotten_ms[set] = p->last_ms;
        *p = (struct peer){sender, seq, 1, 0, time_ms};
    } else if (seq > p->top) {
        uint64_t shift = seq - p->top;
        p->bits = shift >= WINDOW ? 1 : (p->bits << shift) | 1;
        p->top = seq;
    } else {
        uint64_t back = p->top - seq;
        if (back >= WINDOW || (p->bits >> back) & 1)
            return 0;
        p->bits |= 1ull << back;
    }
    p->used = ++g->tick;
    if (time_ms > p->last_ms)
        p->last_ms = time_ms;
    return 1;
}

/* The folder local names stand for, absolute: $MBX_DIR or /dev/shm. */
static int mailbox_dir(char *out, size_t cap)
{
    const char *d = getenv("MBX_DIR");
    char *real = realpath(d && *d ? d : "/dev/shm", NULL);
    if (!real)
        return -errno;
    int n = snprintf(out, cap, "%s", real);
    free(real);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Answers an authenticated probe: where the mailbox's file is (or why
 * not), to the address it came from. */
static void answer_probe(struct mbx_udp_gateway *g, const struct udpf *f,
                         const struct sockaddr_storage *from, socklen_t fromlen)
{
    char name[UDPF_NAME_MAX + 1], dir[UDPF_DIR_MAX + 1] = "";
    memcpy(name, f->name, f->name_len);
    name[f->name_len] = 0;
    uint64_t boot[2] = {0, 0}, dir_id[2] = {0, 0};
    int status = allowed(g, name) ? 0 : -EACCES;
    if (!status &&
        (mailbox_dir(dir, sizeof(dir)) || plat_dir_id(dir, dir_id) || !plat_boot_id(boot))) {
        status = -ENOTSUP;
        dir[0] = 0;
    }
    if (status)
        dir[0] = 0;
    struct udpf h = {.kind = UDPF_HERE,
                     .sender = 0,
                     .seq = 1,
                     .time_ms = udp_wall_ms(),
                     .status = status,
                     .name = f->name,
                     .name_len = f->name_len};
    uint8_t out[UDPF_HDR + UDPF_NAME_MAX + UDPF_NONCE + UDPF_BOOT_ID + UDPF_DIR_ID + UDPF_DIR_MAX +
                UDPF_MAC];
    uint8_t id[UDPF_BOOT_ID];
    memcpy(id, boot, sizeof(id));
    size_t n = udpf_put(out, &h);
    n += udpf_here_put(out + n, f->body, id, dir_id, dir);
    n = udpf_seal(&g->key, out, n);
    sendto(g->fd, out, n, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)from, fromlen);
}

/* One datagram of n bytes (truncated: it was longer than any valid one):
 * delivers it, answers it or drops it, and counts what became of it. */
static void handle(struct mbx_udp_gateway *g, const uint8_t *p, size_t n, int truncated,
                   const struct sockaddr_storage *from, socklen_t fromlen)
{
    struct udpf f;
    if (truncated || udpf_get(p, n, &f) || f.kind == UDPF_HERE) {
        bump(&g->st.dropped_bad);
        return;
    }
    char name[UDPF_NAME_MAX + 1];
    memcpy(name, f.name, f.name_len);
    name[f.name_len] = 0;
    int64_t skew = (int64_t)(f.time_ms - udp_wall_ms());
    int in_time = skew <= UDP_SKEW_MS && skew >= -UDP_SKEW_MS;
    if (f.kind == UDPF_PROBE) {
        /* A replayed probe would make the gateway answer whatever address
         * it came from: probes are numbered as messages are. */
        if (!udpf_verify(&g->key, p, n) || !in_time || !fresh(g, f.sender, f.seq, f.time_ms)) {
            bump(&g->st.dropped_bad);
            return;
        }
        bump(&g->st.probes);
        answer_probe(g, &f, from, fromlen);
        return;
    }
    if (!allowed(g, name)) {
        bump(&g->st.dropped_bad);
        return;
    }
    /* The MAC before the mailbox: a datagram anyone can forge must not
     * make the gateway open (map, and evict another from its 64) a
     * mailbox. A forged one is counted in the mailbox only when the
     * gateway holds it open already, where its readers see it. */
    if (!udpf_verify(&g->key, p, n)) {
        bump(&g->st.dropped_bad);
        mbx *held = box_held(g, name, 0);
        if (held)
            count_in(held, 0);
        return;
    }
    mbx *h = box_get(g, name);
    if (!h) {
        bump(&g->st.dropped_missing);
        return;
    }
    /* From here the datagram, authentic, names an exported mailbox: what
     * is refused is also counted there. */
    if (!in_time || !fresh(g, f.sender, f.seq, f.time_ms)) {
        bump(&g->st.dropped_bad);
        count_in(h, 0);
        return;
    }
    origin_set(origin_of(g, from));
    int r = mbx_send_typed(h, f.body, f.body_len, f.prio, f.type, MBX_NONBLOCK);
    if (r == -EIDRM) {
        /* Removed since it was opened, and perhaps made again: the name
         * opened now, once (the datagram was counted missing although the
         * mailbox was there; found by a review), unless box_get will not. */
        box_drop(g, h);
        h = box_get(g, name);
        r = h ? mbx_send_typed(h, f.body, f.body_len, f.prio, f.type, MBX_NONBLOCK) : -EIDRM;
    }
    origin_set(0);
    if (r == 0) {
        bump(&g->st.delivered);
    } else if (r == -EAGAIN || r == -ENOSPC) {
        bump(&g->st.dropped_full);
        count_in(h, 1);
    } else if (r == -EIDRM) {
        bump(&g->st.dropped_missing); /* removed: opened again next time */
        if (h)
            box_drop(g, h);
    } else {
        bump(&g->st.dropped_bad); /* -EMSGSIZE, -EUCLEAN, ... */
        count_in(h, 0);
    }
}

/* handle, then counts the datagram received: after its outcome, so that a
 * reader that sees it received (mbx_udp_gateway_stats_get loads received
 * first) sees its outcome counted too, and received never reads above
 * delivered + probes + the dropped_* counts. A test that waited for a
 * datagram to be received and then read dropped_bad found 0 once, on a
 * loaded machine, with received counted first. */
static void serve(struct mbx_udp_gateway *g, const uint8_t *p, size_t n, int truncated,
                  const struct sockaddr_storage *from, socklen_t fromlen)
{
    handle(g, p, n, truncated, from, fromlen);
    __atomic_fetch_add(&g->st.received, 1, __ATOMIC_RELEASE);
}

static void *gateway_main(void *arg)
{
    pthread_setname_np(pthread_self(), "mbx-udp-gw"); /* for top -H, perf, gdb */
    struct mbx_udp_gateway *g = arg;
    /* An open never waits here for a reset another opener holds (a peer
     * of the mailbox can hold it for as long as it likes): it fails, and
     * box_get pauses the name. Each such open took this thread 1 s. */
    reboot_nowait(1);
    struct mmsghdr mm[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_storage from[BATCH];
    union {
        char buf[CMSG_SPACE(sizeof(uint32_t))];
        struct cmsghdr align;
    } ctl[BATCH];
    for (;;) {
        struct pollfd p[2] = {{g->fd, POLLIN, 0}, {g->wake[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            /* EINTR, or ENOMEM (the only other failure possible here):
             * passing. The thread used to end, silently, and the gateway
             * then took nothing more (found by a review). */
            if (errno != EINTR) {
                struct timespec pause = {0, 10000000};
                nanosleep(&pause, NULL);
            }
            continue;
        }
        if (p[1].revents)
            break;
        for (int i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){g->bufs + (size_t)i * (UDPF_DGRAM_MAX + 1), UDPF_DGRAM_MAX + 1};
            mm[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
                                            .msg_namelen = sizeof(from[i]),
                                            .msg_iov = &iov[i],
                                            .msg_iovlen = 1,
                                            .msg_control = ctl[i].buf,
                                            .msg_controllen = sizeof(ctl[i].buf)};
            mm[i].msg_len = 0;
        }
        int k = recvmmsg(g->fd, mm, BATCH, MSG_DONTWAIT, NULL);
        for (int i = 0; i < k; i++) {
            struct msghdr *h = &mm[i].msg_hdr;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL &&
                    c->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
                    uint32_t v;
                    memcpy(&v, CMSG_DATA(c), sizeof(v));
                    __atomic_fetch_add(&g->st.dropped_kernel, (uint32_t)(v - g->kernel_drops),
                                       __ATOMIC_RELAXED);
                    g->kernel_drops = v;
                }
            serve(g, iov[i].iov_base, mm[i].msg_len > UDPF_DGRAM_MAX ? 0 : mm[i].msg_len,
                  (h->msg_flags & MSG_TRUNC) || mm[i].msg_len > UDPF_DGRAM_MAX, &from[i],
                  h->msg_namelen);
        }
    }
    return NULL;
}

/* A UDP socket bound to "HOST:PORT". Returns it and stores the port, or
 * -errno. */
static int bind_addr(const char *addr, int *port_out)
{
    char host[256], port[8];
    if (sock_split(addr, host, sizeof(host), port, sizeof(port)))
        return -EINVAL;
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int gr = getaddrinfo(host, port, &hints, &res);
    if (gr)
        return gr == EAI_SYSTEM ? -errno : -ENOENT;
    int r = -EADDRNOTAVAIL;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            r = -errno;
            continue;
        }
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0) {
            int one = 1, sz = 8 << 20; /* the kernel caps it at net.core.rmem_max */
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
            setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
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

static void gateway_free(struct mbx_udp_gateway *g)
{
    for (int i = 0; i < BOXES; i++)
        if (g->boxes[i].h)
            mbx_close(g->boxes[i].h);
    for (size_t i = 0; i < g->nallow; i++)
        free(g->allow[i]);
    free(g->allow);
    if (g->fd >= 0)
        close(g->fd);
    for (int i = 0; i < 2; i++)
        if (g->wake[i] >= 0)
            close(g->wake[i]);
    free(g->bufs);
    udpf_key_free(&g->key);
    free(g);
}

EXPORT int mbx_udp_gateway_start(const char *listen_addr, const mbx_gateway_options *opts,
                                 mbx_udp_gateway **out)
{
    /* Only the fields up to the allow-list are read: a later, longer
     * mbx_gateway_options is fine. */
    size_t need = offsetof(mbx_gateway_options, allow) + sizeof(opts->allow);
    if (!listen_addr || !opts || !out || opts->size < need || !opts->allow || !opts->allow[0])
        return -EINVAL;
    struct mbx_udp_gateway *g = calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;
    g->fd = g->wake[0] = g->wake[1] = -1;
    g->st.size = sizeof(g->st);
    size_t n = 0;
    while (opts->allow[n])
        n++;
    g->allow = calloc(n, sizeof(char *));
    g->bufs = malloc((size_t)BATCH * (UDPF_DGRAM_MAX + 1));
    int r = g->allow && g->bufs ? 0 : -ENOMEM;
    for (size_t i = 0; !r && i < n; i++) {
        g->allow[i] = strdup(opts->allow[i]);
        if (!g->allow[i])
            r = -ENOMEM;
        g->nallow = i + 1;
    }
    if (!r) {
        struct secret secret;
        r = secret_load(opts->secret_file, opts->secret_file == NULL, &secret);
        if (!r)
            r = udpf_key_init(&g->key, &secret);
        explicit_bzero(&secret, sizeof(secret));
    }
    if (!r) {
        g->fd = bind_addr(listen_addr, &g->port);
        if (g->fd < 0)
            r = g->fd;
    }
    if (!r && pipe2(g->wake, O_CLOEXEC))
        r = -errno;
    if (!r && pthread_create(&g->thread, NULL, gateway_main, g))
        r = -EAGAIN;
    if (r) {
        gateway_free(g);
        return r;
    }
    hosts_hold();
    *out = g;
    return 0;
}

EXPORT int mbx_udp_gateway_port(const mbx_udp_gateway *g)
{
    return g ? g->port : -EINVAL;
}

EXPORT int mbx_udp_gateway_stats_get(const mbx_udp_gateway *g, mbx_udp_gateway_stats *st)
{
    if (!g || !st || st->size < sizeof(uint32_t))
        return -EINVAL;
    mbx_udp_gateway_stats full;
    memset(&full, 0, sizeof(full));
    full.size = sizeof(full);
#define LOAD(f) full.f = __atomic_load_n(&g->st.f, __ATOMIC_RELAXED)
    /* First, and acquiring: every datagram it counts has its outcome
     * counted in what is loaded after it (serve). */
    full.received = __atomic_load_n(&g->st.received, __ATOMIC_ACQUIRE);
    LOAD(delivered);
    LOAD(probes);
    LOAD(dropped_full);
    LOAD(dropped_bad);
    LOAD(dropped_missing);
    LOAD(dropped_kernel);
#undef LOAD
    uint32_t size = st->size;
    memcpy(st, &full, size < sizeof(full) ? size : sizeof(full));
    st->size = size < sizeof(full) ? size : (uint32_t)sizeof(full);
    return 0;
}

EXPORT int mbx_udp_gateway_stop(mbx_udp_gateway *g)
{
    if (!g)
        return -EINVAL;
    if (write(g->wake[1], "x", 1) < 0) {
        /* a pipe with room: cannot fail */
    }
    pthread_join(g->thread, NULL);
    gateway_free(g);
    hosts_release();
    return 0;
}
