/* One epoll loop serves two mailboxes and a TCP socket at once: mbx_fd
 * gives each mailbox a descriptor that is readable while a request waits.
 * Forked clients send requests by mbx_call to "svc-a" and "svc-b" and over
 * TCP (127.0.0.1, a port the kernel picks); the server answers each one
 * (mbx_reply, or a write on the connection) and checks that every request
 * was served exactly once, on the way it was meant to come. */
#include <mbx.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CLIENTS    6
#define REQUESTS   30 /* per client: seq % 3 says the way, svc-a, svc-b or TCP */
#define WAYS       3
#define TAG_LISTEN 2 /* epoll tags: 0 and 1 the mailboxes, 3 + i connection i */
#define TAG_CONN   3

/* A request, and its answer with value squared. */
struct msg {
    int32_t client, seq, way, value;
};

static const char *const box_names[2] = {"svc-a", "svc-b"};

/* Reads or writes exactly len bytes on a blocking socket; 0 when done. */
static int whole(int fd, void *buf, size_t len, int writing)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = writing ? write(fd, p, len) : read(fd, p, len);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A client: REQUESTS requests in turn over the three ways, each answer
 * checked. Returns the exit status (0: every answer was right). */
static int client(int id, uint16_t port)
{
    mbx *box[2];
    for (int i = 0; i < 2; i++)
        if (mbx_open(box_names[i], MBX_SEND, NULL, &box[i]) != 0)
            return 1;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return 1;
    int bad = 0;
    for (int seq = 0; seq < REQUESTS && !bad; seq++) {
        struct msg req = {id, seq, seq % WAYS, id * 1000 + seq}, rep;
        if (req.way < 2)
            bad = mbx_call(box[req.way], &req, sizeof(req), 0, &rep, sizeof(rep), 10000000000) !=
                  sizeof(rep);
        else
            bad = whole(s, &req, sizeof(req), 1) || whole(s, &rep, sizeof(rep), 0);
        bad = bad || rep.client != id || rep.seq != seq || rep.value != req.value * req.value;
        if (bad)
            printf("client %d: request %d got a wrong answer or none\n", id, seq);
    }
    close(s);
    for (int i = 0; i < 2; i++)
        mbx_close(box[i]);
    fflush(stdout); /* the client ends with _exit */
    return bad;
}

/* What the server saw: how often each request came, and by which way. */
struct tally {
    int served[CLIENTS][REQUESTS];
    int by_way[WAYS];
    int total, largest_batch, bad;
};

/* Counts one request and fills in its answer; a request that is
 * malformed, came the wrong way or came twice marks the tally bad. */
static void serve(struct tally *t, const struct msg *req, int way, struct msg *rep)
{
    int ok = req->client >= 0 && req->client < CLIENTS && req->seq >= 0 && req->seq < REQUESTS &&
             req->way == way && req->value == req->client * 1000 + req->seq;
    if (!ok || ++t->served[req->client][req->seq] > 1) {
        printf("request %d/%d %s\n", req->client, req->seq, ok ? "served twice" : "malformed");
        t->bad = 1;
        return;
    }
    t->by_way[way]++;
    t->total++;
    *rep = *req;
    rep->value = req->value * req->value;
}

/* Answers every request queued in mailbox `way` (until -EAGAIN: the
 * descriptor is level-triggered, and stays readable until then). */
static void drain_box(struct tally *t, mbx *box, int way)
{
    int batch = 0;
    for (;;) {
        struct msg req, rep;
        mbx_msginfo info;
        ssize_t n = mbx_recv(box, &req, sizeof(req), &info, MBX_NONBLOCK);
        if (n == -EAGAIN)
            break;
        if (n != sizeof(req) || info.reply_token == 0) {
            printf("%s: recv: %s\n", box_names[way], n < 0 ? mbx_strerror((int)n) : "bad size");
            t->bad = 1;
            return;
        }
        batch++;
        serve(t, &req, way, &rep);
        if (!t->bad && mbx_reply(&info, &rep, sizeof(rep)) != 0)
            t->bad = 1;
    }
    if (batch > t->largest_batch)
        t->largest_batch = batch;
}

/* A TCP connection: requests arrive in pieces, kept until whole. */
struct conn {
    int fd;
    size_t have;
    struct msg req;
};

/* Reads what connection c has; answers each whole request. Returns 1
 * when the client closed it, 0 while it stays open. */
static int serve_conn(struct tally *t, struct conn *c)
{
    for (;;) {
        ssize_t n = read(c->fd, (char *)&c->req + c->have, sizeof(c->req) - c->have);
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0) {
            t->bad |= n < 0 || c->have != 0; /* an error, or a request cut short */
            return 1;
        }
        c->have += (size_t)n;
        if (c->have < sizeof(c->req))
            continue;
        c->have = 0;
        struct msg rep;
        serve(t, &c->req, 2, &rep);
        if (t->bad || write(c->fd, &rep, sizeof(rep)) != sizeof(rep)) {
            t->bad = 1;
            return 1;
        }
    }
}

/* Adds fd to the epoll set with tag as its data. */
static int watch(int ep, int fd, uint64_t tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Milliseconds from now until deadline (CLOCK_MONOTONIC seconds), at least 0. */
static int ms_left(double deadline)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double left = deadline - ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    return left > 0 ? (int)(left * 1000) + 1 : 0;
}

/* The loop: every request served and every connection closed, or 20 s.
 * Returns 0 when the tally is complete and clean. */
static int run_server(mbx *box[2], int lis)
{
    static struct tally t;
    struct conn conns[CLIENTS];
    int nconns = 0, open_conns = 0, ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < 2; i++) {
        int fd = mbx_fd(box[i], MBX_RECV);
        if (fd < 0 || watch(ep, fd, (uint64_t)i) != 0) {
            printf("%s: mbx_fd: %s\n", box_names[i], mbx_strerror(fd));
            return 1;
        }
    }
    if (ep < 0 || watch(ep, lis, TAG_LISTEN) != 0)
        return 1;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double deadline = (double)ts.tv_sec + 20;
    while (!t.bad && (t.total < CLIENTS * REQUESTS || nconns < CLIENTS || open_conns > 0)) {
        struct epoll_event evs[8];
        int n = epoll_wait(ep, evs, 8, ms_left(deadline));
        if (n == 0) {
            printf("timed out: %d of %d requests served\n", t.total, CLIENTS * REQUESTS);
            t.bad = 1;
        }
        for (int i = 0; i < n && !t.bad; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag < 2) {
                drain_box(&t, box[tag], (int)tag);
            } else if (tag == TAG_LISTEN) {
                int fd;
                while ((fd = accept4(lis, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    if (nconns == CLIENTS || watch(ep, fd, TAG_CONN + (uint64_t)nconns) != 0) {
                        t.bad = 1;
                        break;
                    }
                    conns[nconns++] = (struct conn){.fd = fd};
                    open_conns++;
                }
            } else if (serve_conn(&t, &conns[tag - TAG_CONN])) {
                close(conns[tag - TAG_CONN].fd); /* also leaves the epoll set */
                conns[tag - TAG_CONN].fd = -1;
                open_conns--;
            }
        }
    }
    close(ep);
    for (int i = 0; i < nconns; i++) /* any still open: a client waiting on it sees the end */
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    for (int c = 0; c < CLIENTS; c++)
        for (int s = 0; s < REQUESTS; s++)
            t.bad |= t.served[c][s] != 1;
    printf("served %d requests, each once: %d by svc-a, %d by svc-b, %d over TCP; "
           "at most %d drained at one readiness\n",
           t.total, t.by_way[0], t.by_way[1], t.by_way[2], t.largest_batch);
    return t.bad;
}

int main(void)
{
    mbx *box[2];
    for (int i = 0; i < 2; i++) {
        int r = mbx_open(box_names[i], MBX_SEND | MBX_RECV | MBX_CREATE, NULL, &box[i]);
        if (r != 0) {
            fprintf(stderr, "open %s: %s\n", box_names[i], mbx_strerror(r));
            return 1;
        }
    }
    int lis = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t salen = sizeof(sa);
    if (lis < 0 || bind(lis, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(lis, CLIENTS) != 0 || getsockname(lis, (struct sockaddr *)&sa, &salen) != 0) {
        perror("listen");
        return 1;
    }
    for (int c = 0; c < CLIENTS; c++)
        if (fork() == 0) {
            close(lis);
            _exit(client(c, ntohs(sa.sin_port)));
        }
    int bad = run_server(box, lis);
    close(lis);
    for (int i = 0; i < 2; i++) { /* after a failure, a client still calling gets -EIDRM */
        mbx_close(box[i]);
        mbx_unlink(box_names[i]);
    }
    int status;
    while (wait(&status) > 0)
        bad |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    return bad;
}
