/* The fault-injecting proxy of tcp_proxy.h: one thread accepts, one thread
 * per connection moves bytes both ways with poll. */
#include "tcp_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 64

struct tcp_proxy;

struct link {
    struct tcp_proxy *p;
    int a, b; /* client side, target side */
    int cut;
    pthread_t t;
    int used, done;
};

#define CAPTURE (4u << 20)

struct tcp_proxy {
    int lfd, port, target, stop, stalled;
    int oneway;             /* hold gateway->client bytes (atomic) */
    int holdup;             /* hold client->gateway bytes (atomic) */
    unsigned char *capture; /* the first CAPTURE bytes forwarded, under mu */
    size_t captured;
    unsigned long long bytes;
    unsigned accepted;       /* connections taken, under mu */
    unsigned long long rate; /* bytes a second; 0: no limit (atomic) */
    unsigned chunk;          /* bytes moved at a time; 0: as much as came (atomic) */
    pthread_t acceptor;
    pthread_mutex_t mu;
    struct link links[MAX_CONNS];
};

static void reset(int fd)
{
    struct linger l = {1, 0}; /* close with RST, as a broken link would */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    shutdown(fd, SHUT_RDWR);
}

static void *pump(void *arg)
{
    struct link *l = arg;
    char buf[65536];
    for (;;) {
        int ow = __atomic_load_n(&l->p->oneway, __ATOMIC_ACQUIRE);
        int up = __atomic_load_n(&l->p->holdup, __ATOMIC_ACQUIRE);
        struct pollfd f[2] = {{up ? -1 : l->a, POLLIN, 0}, {ow ? -1 : l->b, POLLIN, 0}};
        int r = poll(f, 2, 20);
        if (__atomic_load_n(&l->cut, __ATOMIC_ACQUIRE))
            break;
        if (r <= 0)
            continue;
        if (__atomic_load_n(&l->p->stalled, __ATOMIC_ACQUIRE)) {
            usleep(5000);
            continue;
        }
        int end = 0;
        for (int i = 0; i < 2 && !end; i++) {
            if (!(f[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            unsigned chunk = __atomic_load_n(&l->p->chunk, __ATOMIC_ACQUIRE);
            size_t want = chunk && chunk < sizeof(buf) ? chunk : sizeof(buf);
            ssize_t n = read(f[i].fd, buf, want);
            if (n <= 0) {
                end = 1;
                break;
            }
            int to = i == 0 ? l->b : l->a;
            pthread_mutex_lock(&l->p->mu);
            size_t keep =
                CAPTURE - l->p->captured < (size_t)n ? CAPTURE - l->p->captured : (size_t)n;
            memcpy(l->p->capture + l->p->captured, buf, keep);
            l->p->captured += keep;
            l->p->bytes += (unsigned long long)n;
            pthread_mutex_unlock(&l->p->mu);
            unsigned long long rate = __atomic_load_n(&l->p->rate, __ATOMIC_ACQUIRE);
            if (rate)
                usleep((useconds_t)((unsigned long long)n * 1000000ull / rate));
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(to, buf + off, (size_t)(n - off));
                if (w <= 0) {
                    end = 1;
                    break;
                }
                off += w;
            }
        }
        if (end)
            break;
    }
    reset(l->a);
    reset(l->b);
    __atomic_store_n(&l->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *acceptor(void *arg)
{
    struct tcp_proxy *p = arg;
    for (;;) {
        struct pollfd f = {p->lfd, POLLIN, 0};
        poll(&f, 1, 50);
        if (__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
            break;
        int c = accept(p->lfd, NULL, NULL);
        if (c < 0)
            continue;
        struct sockaddr_in to = {.sin_family = AF_INET};
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        to.sin_port = htons((uint16_t)__atomic_load_n(&p->target, __ATOMIC_ACQUIRE));
        int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (t < 0 || connect(t, (struct sockaddr *)&to, sizeof(to))) {
            if (t >= 0)
                close(t);
            reset(c);
            close(c);
            continue;
        }
        int one = 1;
        setsockopt(t, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        pthread_mutex_lock(&p->mu);
        p->accepted++;
        struct link *l = NULL;
        for (int i = 0; i < MAX_CONNS; i++) {
            struct link *k = &p->links[i];
            if (k->used && __atomic_load_n(&k->done, __ATOMIC_ACQUIRE) == 1) {
                pthread_join(k->t, NULL);
                close(k->a);
                close(k->b);
                k->used = 0;
            }
            if (!k->used && !l)
                l = k;
        }
        if (l) {
            memset(l, 0, sizeof(*l));
            l->a = c;
            l->b = t;
            l->used = 1;
            l->p = p;
            if (pthread_create(&l->t, NULL, pump, l))
                l->used = 0;
        }
        pthread_mutex_unlock(&p->mu);
        if (!l || !l->used) {
            close(c);
            close(t);
        }
    }
    return NULL;
}

void proxy_oneway(struct tcp_proxy *p, int on)
{
    __atomic_store_n(&p->oneway, on, __ATOMIC_RELEASE);
}

void proxy_hold_up(struct tcp_proxy *p, int on)
{
    __atomic_store_n(&p->holdup, on, __ATOMIC_RELEASE);
}

struct tcp_proxy *proxy_start(int target_port)
{
    struct tcp_proxy *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->target = target_port;
    p->capture = malloc(CAPTURE);
    if (!p->capture) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) || listen(p->lfd, 64) ||
        getsockname(p->lfd, (struct sockaddr *)&a, &al) ||
        pthread_create(&p->acceptor, NULL, acceptor, p)) {
        if (p->lfd >= 0)
            close(p->lfd);
        free(p->capture);
        free(p);
        return NULL;
    }
    p->port = ntohs(a.sin_port);
    return p;
}

int proxy_port(const struct tcp_proxy *p)
{
    return p->port;
}

void proxy_retarget(struct tcp_proxy *p, int target_port)
{
    __atomic_store_n(&p->target, target_port, __ATOMIC_RELEASE);
}

int proxy_cut(struct tcp_proxy *p)
{
    int n = 0;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < MAX_CONNS; i++)
        if (p->links[i].used && !__atomic_load_n(&p->links[i].done, __ATOMIC_ACQUIRE)) {
            __atomic_store_n(&p->links[i].cut, 1, __ATOMIC_RELEASE);
            n++;
        }
    pthread_mutex_unlock(&p->mu);
    return n;
}

int proxy_saw(struct tcp_proxy *p, const void *needle, size_t n)
{
    pthread_mutex_lock(&p->mu);
    int r = memmem(p->capture, p->captured, needle, n) != NULL;
    pthread_mutex_unlock(&p->mu);
    return r;
}

void proxy_chunk(struct tcp_proxy *p, unsigned bytes)
{
    __atomic_store_n(&p->chunk, bytes, __ATOMIC_RELEASE);
}

void proxy_rate(struct tcp_proxy *p, unsigned long long bytes_per_s)
{
    __atomic_store_n(&p->rate, bytes_per_s, __ATOMIC_RELEASE);
}

unsigned proxy_accepted(struct tcp_proxy *p)
{
    pthread_mutex_lock(&p->mu);
    unsigned n = p->accepted;
    pthread_mutex_unlock(&p->mu);
    return n;
}

unsigned long long proxy_bytes(struct tcp_proxy *p)
{
    pthread_mutex_lock(&p->mu);
    unsigned long long n = p->bytes;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void proxy_stall(struct tcp_proxy *p, int on)
{
    __atomic_store_n(&p->stalled, on, __ATOMIC_RELEASE);
}

void proxy_stop(struct tcp_proxy *p)
{
    __atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
    pthread_join(p->acceptor, NULL);
    proxy_stall(p, 0);
    proxy_cut(p);
    for (int i = 0; i < MAX_CONNS; i++)
        if (p->links[i].used) {
            pthread_join(p->links[i].t, NULL);
            close(p->links[i].a);
            close(p->links[i].b);
        }
    close(p->lfd);
    pthread_mutex_destroy(&p->mu);
    free(p->capture);
    free(p);
}
