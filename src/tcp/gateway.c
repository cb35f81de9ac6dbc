/* The gateway: exports this host's mailboxes to tcp:// clients.
 *
 * Two threads per connection take turns (take_turns): one reads the
 * socket, answers heartbeats at once and queues the rest (bounded), the
 * other serves what was read, in order; the one that read a request serves
 * it itself when the other is idle, and the other takes over reading once
 * that serve has lasted 50 ms. So a request is served without a thread
 * waking up for it, and one that waits long (a call) never makes the link
 * look dead.
 * Sessions outlive connections: a client that reconnects resumes its
 * session (sends already delivered are acknowledged, not delivered again;
 * a message received for it and not yet acknowledged is sent again). A
 * session whose client stays away longer than the linger time ends: a
 * message it held goes back to its mailbox. */
#include "mbx.h"

#include "core/cancel.h"
#include "core/handle.h"
#include "shm/hosts.h"
#include "shm/origin.h"
#include "platform/platform.h"
#include "tcp/auth.h"
#include "tcp/client.h"
#include "tcp/held_journal.h"
#include "tcp/sock.h"
#include "tcp/tls.h"

#include <errno.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Frames read ahead of the one being served, at most: twice what a client may send
 * ahead (its window's sends, a request, a few small frames). Their bytes
 * are bounded too (queue_bytes). */
#define QUEUE_MAX(window_max) (2 * (window_max) + 16)
#define CONNS_MAX             256 /* connections at once: two threads each */
/* Connections still in their handshake (nothing proved yet) at once, at
 * most: fewer than CONNS_MAX, so that anyone who can reach the port, with
 * no secret, cannot take every slot (idle connections held for the 5 s the
 * handshake may last kept every real client out). A new one over this
 * ends the oldest such connection: a real handshake takes milliseconds. */
#define HANDSHAKES_MAX 64
/* Sessions at once, live and lingering, unless the options say otherwise
 * (sessions_max): each holds a mailbox open (a descriptor) and a buffer
 * of its largest message. A new one over this ends the oldest lingering
 * session first, and is refused (-EUSERS) when every session has a
 * connection. */
#define SESSIONS_MAX 1024
/* How long the acceptor waits when accept fails for want of descriptors
 * or memory: the connection stays in the backlog, the listening socket
 * readable, and it used to try again at once, for ever (a CPU spinning). */
#define ACCEPT_BACKOFF_MS 100
#define TOKENS_HELD       32
#define TOMBS             1024 /* ended sessions whose last send is remembered */
#define SLICE_NS          TCP_TICK_NS
/* Pipelined sends' failures a session remembers until its client confirms
 * it has them (the newest, when there are more: ACKs arrive in order, so
 * the ones a client may have missed are the newest). */
#define FAILS_KEPT 8

/* A pipelined send that failed (W_SEND without WF_SYNC): its number and
 * result. */
struct failed {
    uint64_t seq;
    int32_t status;
};

struct session {
    struct session *next;
    uint64_t id;
    /* Who may resume it (open_binding): a client that opens the same
     * name with the same flags, showing the same certificate (or none),
     * as the one that opened it. The id alone made a bearer token:
     * another client with the secret, or any certificate of the CA with
     * --no-secret, that learnt it took the session's held messages and
     * reply tokens, and with one send numbered far ahead made the owner's
     * later sends be acknowledged and never delivered (found by an
     * attacker review). */
    uint8_t binding[32];
    /* And, above all, its key (wire version 4; may_resume): only its
     * client and the gateway know it. The binding alone did not do: name
     * and flags travel in the clear with the id, so another client with
     * the secret that saw them took the session anyway (found by an
     * attacker review). A session opened by an older client has none: it
     * is taken up only by its own client certificate. */
    uint8_t key[WIRE_KX];
    int has_key;
    int busy;            /* a connection serves it */
    int64_t detached_at; /* when its last link went */
    mbx *h;
    int can_send; /* the client opened to send (h may send anyway: put_back) */
    uint64_t max_msg;
    uint32_t capacity;
    uint64_t last_seq;
    int32_t last_status;
    /* Pipelined sends that failed and whose client has not confirmed the
     * failure (a W_PING whose id is the send's number: it has every ACK
     * up to that one), oldest first. Its ACK may have died in a cut: a
     * resumed session's WELCOME then names the oldest (its last_seq and
     * last_status), and the ACKs of sends the client sends again carry
     * theirs. WELCOME said only how the last send went, and a failure
     * before it was never reported: mbx_sync returned 0, the message was
     * not delivered (found by a review). */
    struct failed fails[FAILS_KEPT];
    unsigned nfails;
    uint32_t room;      /* free room as last counted, less the sends since */
    uint32_t uncounted; /* sends since room ran low and was last counted */
    uint32_t window;    /* the window its client has on its current link */
    uint64_t last_call; /* request number of the newest call made for it */
    int32_t call_error; /* its error, when it failed (no reply to hold) */
    /* The message received for request held_req, kept until the client
     * has it (or back in the mailbox). */
    uint64_t held_req;
    /* 0 or W_MSG. Set through held_set: mbx_gateway_stop reads it of a
     * session a connection serves (stop_grace). */
    int held;
    /* While the held message's frame goes to the client on the current
     * link: by when the client has it whole and its TAKEN is back, or has
     * given the link up with the frame (msg_due). 0: not on its way.
     * Atomic: mbx_gateway_stop reads it (stop_grace). */
    int64_t held_due;
    struct wire_msg held_msg;
    uint8_t *held_data;
    /* Whether it is in the journal (held_journal.h): a gateway killed
     * meanwhile does not lose it, the next one puts it back. */
    int held_journaled;
    /* The session's journal, open on journal_fd, made before its first
     * receive (held_journal_make): once a message is taken, one write
     * puts it on file. NULL: none. */
    char *journal;
    int journal_fd;
    char name[WIRE_NAME_MAX + 1]; /* the mailbox's */
    /* The reply of call reply_req (0: none), kept until the client asks
     * anything else. Apart from the held message: a call made while a
     * message waits that cannot go back yet (a full mailbox) used to put
     * its reply in that message's place, and the message was gone. */
    uint64_t reply_req;
    uint64_t reply_len;
    uint8_t *reply_data;
    /* The last confirmed send's request and answer (W_CONFIRM). */
    uint64_t confirm_req;
    int64_t confirm_answer;
    /* The last W_REPLY's request and answer: one sent again after a cut
     * (its RESULT lost) is answered, not refused. Its token was used up,
     * and the client said -ESRCH although the reply was delivered. */
    uint64_t replied_req;
    int32_t replied_answer;
    /* Reply tokens of requests handed to this client (W_REPLY). */
    uint64_t tokens[TOKENS_HELD];
    unsigned ntokens;
    /* Where a receive or a call takes its message: as large as the
     * largest its client asked for (session_buf), never more than
     * max_msg, and freed after the request when over SESSION_BUF_KEEP
     * (session_buf_trim). Taken at the open, max_msg bytes, it cost every
     * session on a mailbox of 1 GiB messages 1 GiB, a send-only one too
     * (found in review). */
    uint8_t *buf;
    size_t buf_len;
    size_t asked; /* what the last receive or call asked of it */
};

struct qframe {
    struct qframe *next;
    int64_t at; /* when it was read: a request's timeout counts from then */
    struct wire_hdr h;
    uint8_t body[];
};

/* A large send coming in pieces (W_FRAG): its frame, made to the size of
 * the whole payload when the first piece comes. */
struct assembly {
    struct qframe *q;
    uint64_t total, have;
    uint64_t room; /* payload bytes q has room for, at most total */
};

struct conn {
    struct conn *next;
    struct mbx_gateway *g;
    int fd;
    struct io io;             /* fd, or TLS over it */
    pthread_mutex_t iolock;   /* io's libssl calls: the reader's and the writers' */
    pthread_t worker, second; /* the two threads that take turns (take_turns) */
    int second_started;
    uint32_t origin;    /* the client's host (shm/hosts.h), recorded with what it sends */
    pthread_mutex_t mu; /* the queue, dead, the turns, and writes to fd */
    pthread_cond_t cv;
    struct qframe *head, *tail;
    unsigned queued;       /* frames read and not served yet (atomic: the serving
                              thread counts them down without mu) */
    uint64_t queued_bytes; /* their bodies' bytes (atomic, as queued) */
    unsigned queue_max;    /* bounds on both: more is a client that broke */
    uint64_t queue_bytes;
    /* A version 2 link: its client promised no bound in bytes (only its
     * window in sends), so over queue_bytes it is not cut off: its socket
     * is not read until the queue is below it again (read_paused). It had
     * no bound in bytes at all: 143 sends of 16 MiB behind a call nobody
     * answered took a gateway to 2.9 GB (found by an attacker review). */
    int queue_pause;
    int64_t paused_pong; /* when a PONG last went while reading waits */
    /* The serving thread's own: frames it took from the queue in one go
     * (one lock for a batch, not one per frame), served before it looks
     * again. */
    struct qframe *taken;
    uint64_t call_req; /* the call being made (call_given_up) */
    /* The reading thread's own: what was read ahead, a message in pieces. */
    struct frame_reader fr;
    struct assembly asm_;
    int reading, serving; /* a thread has that turn */
    int64_t serve_began;  /* when the serving turn was last taken (take_turns) */
    int untimed;          /* threads asleep without a deadline (take_turns) */
    int over;             /* both threads stop */
    int bye;              /* the client said goodbye: its session ends */
    int dead, done;
    int64_t dead_at; /* when it was marked dead (client_gone) */
    uint64_t ack_id; /* a pipelined send's acknowledgement not sent yet */
    unsigned ack_n;
    uint64_t max_body;
    struct session *s;
    int proved;      /* past the handshake's proof (under g->mu) */
    int evicted;     /* ended by the acceptor to make room (under g->mu) */
    uint8_t src[16]; /* where it came from (source_of): whose handshakes it counts in */
};

/* What is left of a session that ended because its client stayed away:
 * enough to tell a client that comes back after all which of its sends
 * were delivered, so none is delivered twice. */
struct tomb {
    uint64_t id, last_seq;
    int32_t last_status;
    int claimed;                     /* a resume of it is opening its mailbox (open_session) */
    struct failed fails[FAILS_KEPT]; /* as the session's */
    unsigned nfails;
    uint64_t last_call;  /* the newest call it made: not made again */
    uint8_t binding[32]; /* who may take it up again (struct session) */
    uint8_t key[WIRE_KX];
    int has_key;
};

struct mbx_gateway {
    int lfd, port;
    struct tomb tombs[TOMBS]; /* a ring, under mu */
    unsigned ntombs;
    int wake[2];
    pthread_t acceptor;
    struct secret secret;
    int no_secret; /* MBX_GATEWAY_NO_SECRET: client certificates alone */
    void *tls_ctx; /* NULL: plain TCP */
    char **allow;
    size_t nallow;
    int64_t linger_ns;
    pthread_mutex_t mu; /* sessions, conns, stopping */
    pthread_cond_t cv;
    struct session *sessions;
    unsigned nsessions; /* in sessions, and being opened (handshake) */
    unsigned sessions_max;
    mode_t umask; /* the process's, at start: a remote MBX_CREATE's mode is masked by it */
    struct conn *conns;
    int stopping;
};

/* ---- sessions ---- */

static int allowed(const struct mbx_gateway *g, const char *name)
{
    /* Only plain names: a path would reach outside the mailbox folder. */
    if (strchr(name, '/') || strstr(name, "://") || name[0] == '@')
        return 0;
    for (size_t i = 0; i < g->nallow; i++)
        if (fnmatch(g->allow[i], name, 0) == 0)
            return 1;
    return 0;
}

static void held_set(struct session *s, int v)
{
    __atomic_store_n(&s->held, v, __ATOMIC_RELEASE);
}

/* Lets go of the held message: the client has it, it went back to its
 * mailbox, or it is dropped. Its journal goes with it. */
static void held_drop(struct session *s)
{
    free(s->held_data);
    s->held_data = NULL;
    if (s->held_journaled)
        held_journal_clear(s->journal_fd);
    s->held_journaled = 0;
    held_set(s, 0);
}

/* Gives a message the client never took back to its mailbox, waiting up
 * to timeout_ns for room. Returns 0 when done (or the mailbox is gone),
 * else -EAGAIN or -ETIMEDOUT (full: try later). A send a signal cut short
 * (mbx_gateway_stop runs on the program's thread), or one into an
 * unbounded mailbox at its memory limit, is tried again later too: taken
 * for done, the message was dropped (found by a review). */
static int put_back_within(struct session *s, int64_t timeout_ns)
{
    if (!s->held)
        return 0;
    /* Sent by the gateway, not by this thread's client (whose origin the
     * thread may have): the message's own sender is not known. */
    uint32_t origin = origin_mine;
    origin_set(0);
    int r = mbx_send_typed(s->h, s->held_data, s->held_msg.info.size, s->held_msg.info.priority,
                           s->held_msg.type, timeout_ns);
    origin_set(origin);
    if (r == -EAGAIN || r == -ETIMEDOUT)
        return r;
    if (r == -EINTR || r == -ENOSPC || r == -ENOMEM) {
        if (timeout_ns == MBX_NONBLOCK)
            return -EAGAIN;
        if (r != -EINTR) /* such a send does not wait: the pause is ours */
            nanosleep(&(struct timespec){0, timeout_ns > 0 && timeout_ns < 10000000
                                                ? (long)timeout_ns
                                                : 10000000},
                      NULL);
        return -ETIMEDOUT;
    }
    held_drop(s);
    return 0;
}

static int put_back(struct session *s)
{
    return put_back_within(s, MBX_NONBLOCK);
}

/* Forgets the call's reply the session held. */
static void drop_reply(struct session *s)
{
    free(s->reply_data);
    s->reply_data = NULL;
    s->reply_req = 0;
}

/* The bytes of session buffers (s->buf) this process's gateways hold:
 * internal (not exported), read by tcp_wire_test. */
uint64_t tcp_gateway_buf_bytes;

/* Frees s->buf. */
static void session_buf_free(struct session *s)
{
    __atomic_fetch_sub(&tcp_gateway_buf_bytes, s->buf_len, __ATOMIC_RELAXED);
    free(s->buf);
    s->buf = NULL;
    s->buf_len = 0;
}

/* Frees a session; a message it still holds is lost (mbx_gateway_stop
 * counts those: stop_put_back). Returns 1 when one was. */
static int session_free(struct session *s)
{
    drop_reply(s);
    put_back(s);
    int lost = s->held != 0;
    if (lost) /* still full */
        held_drop(s);
    if (s->journal) {
        close(s->journal_fd);
        held_journal_remove(s->journal);
    }
    if (s->h)
        mbx_close(s->h);
    session_buf_free(s);
    free(s);
    return lost;
}

static void session_unlink(struct mbx_gateway *g, struct session *s)
{
    for (struct session **p = &g->sessions; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            return;
        }
}

/* Ends a lingering session, unlinked already: what it sent is remembered
 * (a tomb). Call with g->mu held. Returns 1 when a message it held was
 * lost (session_free). */
static int session_end(struct mbx_gateway *g, struct session *s)
{
    struct tomb *t = &g->tombs[g->ntombs++ % TOMBS];
    *t = (struct tomb){.id = s->id,
                       .last_seq = s->last_seq,
                       .last_status = s->last_status,
                       .last_call = s->last_call,
                       .nfails = s->nfails};
    memcpy(t->fails, s->fails, sizeof(t->fails));
    memcpy(t->binding, s->binding, sizeof(t->binding));
    memcpy(t->key, s->key, sizeof(t->key));
    t->has_key = s->has_key;
    g->nsessions--;
    return session_free(s);
}

/* A resume that claimed tomb t could not make its session (no room, no
 * memory, the mailbox would not open): the tomb stays, or its memory of
 * what was delivered would be lost and a send made again delivered
 * twice. In its slot if nobody took the slot meanwhile, else as the
 * newest. Call with g->mu held. */
static void tomb_unclaim(struct mbx_gateway *g, const struct tomb *t)
{
    for (unsigned i = 0; i < TOMBS && i < g->ntombs; i++)
        if (g->tombs[i].id == t->id) {
            g->tombs[i].claimed = 0;
            return;
        }
    struct tomb *slot = &g->tombs[g->ntombs++ % TOMBS];
    *slot = *t;
    slot->claimed = 0;
}

/* The session of tomb id is in the list again: the tomb goes. Call with
 * g->mu held. */
static void tomb_forget(struct mbx_gateway *g, uint64_t id)
{
    for (unsigned i = 0; i < TOMBS && i < g->ntombs; i++)
        if (g->tombs[i].id == id)
            g->tombs[i].id = 0;
}

/* Ends sessions whose clients stayed away past the linger time (and, with
 * all set, every idle one). Call with g->mu held. Returns how many held
 * messages were lost (only with all: a session whose message cannot go
 * back yet lingers on otherwise). */
static unsigned expire(struct mbx_gateway *g, int all)
{
    int64_t now = clock_now_ns();
    unsigned lost = 0;
    for (struct session **p = &g->sessions; *p;) {
        struct session *s = *p;
        if (!s->busy && (all || now - s->detached_at > g->linger_ns) && (put_back(s) == 0 || all)) {
            *p = s->next;
            lost += (unsigned)session_end(g, s);
            continue;
        }
        p = &s->next;
    }
    return lost;
}

/* Ends the session that has lingered longest (no connection serves it),
 * to make room for a new one; one holding a message that cannot go back
 * yet (a full mailbox) is passed over. Call with g->mu held. Returns 1
 * when one ended, 0 when none can. */
static int expire_oldest(struct mbx_gateway *g)
{
    for (int pass = 0; pass < 2; pass++) {
        struct session **v = NULL;
        for (struct session **p = &g->sessions; *p; p = &(*p)->next)
            if (!(*p)->busy && (pass == 0 || !(*p)->held) &&
                (!v || (*p)->detached_at < (*v)->detached_at))
                v = p;
        if (v && put_back(*v) == 0) {
            struct session *s = *v;
            *v = s->next;
            session_end(g, s);
            return 1;
        }
    }
    return 0;
}

/* ---- the connection ---- */

/* Marks the link dead. Call with c->mu held. An atomic store: the reading
 * thread looks without the lock between the sends it serves as it reads
 * them (read_batch). */
static void mark_dead(struct conn *c)
{
    if (!c->dead)
        __atomic_store_n(&c->dead_at, clock_now_ns(), __ATOMIC_RELAXED);
    __atomic_store_n(&c->dead, 1, __ATOMIC_RELEASE);
}

/* The cancel hook (cancel.h) of a call or confirmed send made for the
 * client of c: it ends once the gateway stops, or once the client's link
 * has been dead longer than a session lingers (until then its answer is
 * held for a client that comes back). Without it, a call without a
 * timeout whose client had gone kept its connection, a thread and a slot
 * for ever, and mbx_gateway_stop waited for it (found by an attacker
 * review: 256 such calls kept every client out). */
static int client_gone(void *arg)
{
    struct conn *c = arg;
    if (__atomic_load_n(&c->g->stopping, __ATOMIC_RELAXED))
        return 1;
    if (!__atomic_load_n(&c->dead, __ATOMIC_ACQUIRE))
        return 0;
    return clock_now_ns() - __atomic_load_n(&c->dead_at, __ATOMIC_RELAXED) > c->g->linger_ns;
}

static int reply_frame(struct conn *c, uint8_t type, uint8_t flags, uint64_t id, const void *fixed,
                       size_t flen, const void *payload, size_t plen)
{
    pthread_mutex_lock(&c->mu);
    /* Dead when no byte moves for as long as a silent link is dead: a
     * large message on a slow link takes what it takes (a limit on the
     * whole cut such a link every second, and the message, put back,
     * went again for ever). */
    int r = c->dead ? -EPIPE
                    : io_frame_write_stall(&c->io, type, flags, id, fixed, flen, payload, plen,
                                           TCP_TICK_NS * TCP_DEAD_TICKS);
    if (r && !c->dead) {
        mark_dead(c);
        shutdown(c->fd, SHUT_RDWR);
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return r;
}

/* Makes room in a->q for need bytes of payload (need <= a->total),
 * doubling: the memory a message in pieces holds grows with what came,
 * not with the total its first piece announced (a client that announced
 * 1 GiB pieces and sent one held 1 GiB per connection for as long as it
 * stayed; found by an attacker review). Returns 0 or -ENOMEM. */
static int assembly_room(struct assembly *a, uint64_t need)
{
    if (need <= a->room && a->q)
        return 0;
    uint64_t room = a->room ? a->room : WIRE_FRAG_MAX;
    while (room < need)
        room *= 2;
    if (room > a->total)
        room = a->total;
    struct qframe *q = realloc(a->q, sizeof(*q) + WIRE_SEND_LEN + room);
    if (!q)
        return -ENOMEM;
    a->q = q;
    a->room = room;
    return 0;
}

/* Takes a piece. Returns 0, -EPROTO (out of order, another message's,
 * larger than the mailbox takes) or -ENOMEM. */
static int piece_in(struct conn *c, struct assembly *a, const struct wire_hdr *h,
                    const uint8_t *body)
{
    struct wire_frag f;
    if (h->id || wire_frag_get(body, h->len, &f) || f.total > c->s->max_msg ||
        f.total > UINT32_MAX - WIRE_SEND_LEN)
        return -EPROTO;
    if (f.offset == 0) {
        if (a->q)
            return -EPROTO; /* one message in pieces at a time */
        a->total = f.total;
        a->have = 0;
        a->room = 0;
    } else if (!a->q || f.total != a->total || f.offset != a->have) {
        return -EPROTO;
    }
    size_t n = h->len - WIRE_FRAG_LEN;
    if (assembly_room(a, a->have + n)) {
        if (f.offset == 0) {
            free(a->q);
            a->q = NULL;
        }
        return -ENOMEM;
    }
    memcpy(a->q->body + WIRE_SEND_LEN + a->have, body + WIRE_FRAG_LEN, n);
    a->have += n;
    return 0;
}

/* The W_SEND that ends a message in pieces: its frame, whole, as if it had
 * come in one (the caller frees it), or NULL (-EPROTO: no pieces before
 * it, or not the size they said). */
static struct qframe *pieces_done(struct assembly *a, const struct wire_hdr *h, const uint8_t *body)
{
    if (!a->q || h->len < WIRE_SEND_LEN || a->total - a->have != h->len - WIRE_SEND_LEN)
        return NULL;
    if (assembly_room(a, a->total))
        return NULL; /* out of memory: the link ends, the client sends it again */
    struct qframe *q = a->q;
    a->q = NULL;
    memcpy(q->body, body, WIRE_SEND_LEN);
    memcpy(q->body + WIRE_SEND_LEN + a->have, body + WIRE_SEND_LEN, h->len - WIRE_SEND_LEN);
    q->h = *h;
    q->h.flags &= (uint8_t)~WF_FRAGS;
    q->h.len = (uint32_t)(WIRE_SEND_LEN + a->total);
    q->next = NULL;
    return q;
}

static int send_frame(struct conn *c, const struct wire_hdr *h, const uint8_t *body, int may_wait);
static void flush_ack(struct conn *c);

/* The serving turn, for the reading thread, when nobody serves and
 * nothing waits in the queue. Returns 1 when it has it. */
static int inline_begin(struct conn *c)
{
    pthread_mutex_lock(&c->mu);
    int ok = !c->serving && !c->head && !c->dead;
    if (ok)
        c->serving = 1;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

static void inline_end(struct conn *c)
{
    flush_ack(c);
    pthread_mutex_lock(&c->mu);
    c->serving = 0;
    pthread_mutex_unlock(&c->mu);
}

/* The reading turn: reads one batch (every whole frame that one read
 * brought, waiting for the first), answers heartbeats at once, serves the
 * pipelined sends that can go in at once while nobody else serves (see
 * below), and queues the rest under one lock. A link that fails, sends
 * something malformed, or more than a client may send ahead is marked
 * dead. Serving sends where they were read took one-way 64 B through a
 * gateway on 2 CPUs (mailbox of 1024) from 1.8M to 2.4M msg/s: each used
 * to be copied into a frame of its own (malloc, free) and handed to the
 * serving turn. */
#define READ_REFILLS 16

/* At the end of what one read brought, with every frame of it served
 * where it was read (inl 1) and an acknowledgement held back: whether a
 * read that does not wait brought more (at most READ_REFILLS times a
 * batch). The batch goes on with them, and the acknowledgement waits for
 * the next one due, instead of going at the end of every read (a write,
 * and a wake-up and a read for the client, per 60-100 sends of a stream
 * into a deep mailbox). A client that waits for it sends nothing more:
 * the read finds nothing, and the batch ends with it (inline_end). */
static int more_sends_here(struct conn *c, int inl, unsigned *refills)
{
    if (inl != 1 || !c->ack_id || *refills >= READ_REFILLS)
        return 0;
    ++*refills;
    return io_reader_fill(&c->io, &c->fr, c->max_body) == 1;
}

static void read_batch(struct conn *c)
{
    struct qframe *first = NULL, *last = NULL;
    unsigned n = 0;
    uint64_t bytes = 0;
    int r, inl = -1; /* the serving turn: -1 not asked for yet, 0 not held */
    unsigned refills = 0;
    do {
        struct wire_hdr h;
        const uint8_t *body;
        r = io_reader_next(&c->io, &c->fr, &h, &body, c->max_body, -1);
        if (r)
            break;
        /* A PING with an id is no heartbeat: the client confirms the
         * failures up to that send (fails), served in order. */
        if (h.type == W_PING && !h.id) {
            reply_frame(c, W_PONG, 0, 0, NULL, 0, NULL, 0);
            continue;
        }
        if (h.type == W_PONG)
            continue;
        if (h.type == W_FRAG) {
            r = piece_in(c, &c->asm_, &h, body);
            if (r)
                break;
            continue;
        }
        /* Pipelined sends while nothing waits before them are served
         * from the read buffer, as they come: no copy, no queue, no
         * hand-over to the other thread. The first frame that is not (a
         * send that finds the mailbox full, any other frame, anything
         * after the link died: a malformed frame, a failed write, the
         * gateway stopping) ends that for the batch: it and whatever
         * follows wait in the queue, in order, where serve() drops what
         * would act on a dead link, as it always did. */
        if (h.type == W_SEND && !(h.flags & (WF_FRAGS | WF_SYNC)) &&
            !__atomic_load_n(&c->dead, __ATOMIC_ACQUIRE) &&
            !__atomic_load_n(&c->g->stopping, __ATOMIC_RELAXED)) {
            if (inl < 0)
                inl = inline_begin(c);
            if (inl == 1 && send_frame(c, &h, body, 0) == 0)
                continue;
        }
        if (inl) {
            if (inl == 1)
                inline_end(c);
            inl = 0;
        }
        struct qframe *q;
        if (h.type == W_SEND && (h.flags & WF_FRAGS)) {
            q = pieces_done(&c->asm_, &h, body);
            if (!q) {
                r = -EPROTO;
                break;
            }
        } else {
            q = malloc(sizeof(*q) + h.len);
            if (!q) {
                r = -ENOMEM;
                break;
            }
            q->h = h;
            memcpy(q->body, body, h.len);
            q->next = NULL;
        }
        q->at = clock_now_ns();
        if (last)
            last->next = q;
        else
            first = q;
        last = q;
        n++;
        bytes += q->h.len;
    } while (reader_ready(&c->fr) || more_sends_here(c, inl, &refills));
    if (inl == 1)
        inline_end(c);
    pthread_mutex_lock(&c->mu);
    if (first && __atomic_load_n(&c->queued, __ATOMIC_RELAXED) + n <= c->queue_max &&
        (c->queue_pause ||
         __atomic_load_n(&c->queued_bytes, __ATOMIC_RELAXED) + bytes <= c->queue_bytes)) {
        if (c->tail)
            c->tail->next = first;
        else
            c->head = first;
        c->tail = last;
        __atomic_fetch_add(&c->queued, n, __ATOMIC_RELAXED);
        __atomic_fetch_add(&c->queued_bytes, bytes, __ATOMIC_RELAXED);
        first = NULL;
    }
    if (r || first) {
        mark_dead(c); /* closed, malformed, or more than a client may send ahead */
        shutdown(c->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&c->mu);
    while (first) {
        struct qframe *q = first->next;
        free(first);
        first = q;
    }
}

/* The next queued frame, waiting until deadline. Returns it (the caller
 * frees it), or NULL when the link is dead or the time is up. The serving
 * thread takes every queued frame at once and serves them from c->taken. */
static struct qframe *next_frame(struct conn *c, int64_t deadline)
{
    if (!c->taken) {
        pthread_mutex_lock(&c->mu);
        while (!c->head && !c->dead) {
            if (deadline >= 0 && clock_remaining(deadline) == 0)
                break;
            struct timespec ts;
            int64_t until = deadline >= 0 ? deadline : clock_deadline(1000000000ll);
            ts.tv_sec = until / 1000000000;
            ts.tv_nsec = until % 1000000000;
            pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        }
        c->taken = c->head;
        c->head = c->tail = NULL;
        pthread_mutex_unlock(&c->mu);
    }
    struct qframe *q = c->taken;
    if (q) {
        c->taken = q->next;
        __atomic_fetch_sub(&c->queued, 1, __ATOMIC_RELAXED);
        __atomic_fetch_sub(&c->queued_bytes, q->h.len, __ATOMIC_RELAXED);
    }
    return q;
}

static int link_dead(struct conn *c)
{
    pthread_mutex_lock(&c->mu);
    int d = c->dead;
    pthread_mutex_unlock(&c->mu);
    return d;
}

/* The link is dead, or the gateway stops: nothing new is done for the
 * client (waits end, requests are dropped, as on a dead link), but while
 * a stopping gateway lets a link live (stop_grace) its confirmations are
 * still read and served. */
static int link_ending(struct conn *c)
{
    return __atomic_load_n(&c->g->stopping, __ATOMIC_RELAXED) || link_dead(c);
}

/* Counts the free room of the session's mailbox (a system call). */
static uint32_t room_of(struct session *s)
{
    mbx_stat st;
    s->room = 0;
    if (mbx_stat_get(s->h, &st))
        return 0;
    if (st.capacity == MBX_UNBOUNDED)
        s->room = UINT32_MAX / 2;
    else
        s->room = st.count < st.capacity ? st.capacity - st.count : 0;
    return s->room;
}

/* The room after one more send: counted again only when it runs low (it
 * only grows meanwhile, as receivers take messages, so the estimate errs
 * on the side of less credit), and then once per window/16 sends, or when
 * none is left. Counting walks the mailbox's slots: a gateway that
 * counted after every send into a mailbox kept half full spent a tenth of
 * both CPUs on it (1024 slots). */
static uint32_t room_after_send(struct session *s)
{
    if (s->room)
        s->room--;
    if (s->room > s->window / 2)
        return s->room;
    if (s->room && ++s->uncounted < s->window / 16)
        return s->room;
    s->uncounted = 0;
    return room_of(s);
}

/* Whether the client gave up its request req: a later request of its (a
 * receive, call, confirmed send, reply or stat) has been read. A handle
 * makes one request at a time, and the client sends a STAT when a signal
 * ends a receive or a call (client.c request()), so one queued behind the
 * request served says that nobody waits for its answer any more: without
 * this, a receive given up with MBX_FOREVER held the session, and every
 * later frame of the handle (its sends too), for ever. Called by the
 * serving thread (c->taken is its own). */
static int is_request(uint8_t type)
{
    return type == W_RECV || type == W_CALL || type == W_CONFIRM || type == W_REPLY ||
           type == W_STAT;
}

static int moved_on(struct conn *c, uint64_t req)
{
    for (const struct qframe *q = c->taken; q; q = q->next)
        if (is_request(q->h.type) && q->h.id > req)
            return 1;
    int found = 0;
    pthread_mutex_lock(&c->mu);
    for (const struct qframe *q = c->head; q && !found; q = q->next)
        found = is_request(q->h.type) && q->h.id > req;
    pthread_mutex_unlock(&c->mu);
    return found;
}

/* Runs a send or receive in slices of SLICE_NS until it ends or its
 * deadline passes, giving up when the link dies (the client asks again
 * after it reconnects: a send or receive that timed out did nothing), or,
 * for request req (0: a send), when the client gave it up (moved_on):
 * -EINTR then. */
#define SLICED(c, req, timeout_ns, call_with_t)                                                    \
    ({                                                                                             \
        int64_t dl_ = clock_deadline(timeout_ns);                                                  \
        ssize_t r_;                                                                                \
        for (;;) {                                                                                 \
            int64_t left_ = clock_remaining(dl_);                                                  \
            int64_t t = left_ < 0 || left_ > SLICE_NS ? SLICE_NS : left_;                          \
            r_ = (call_with_t);                                                                    \
            if (r_ != -ETIMEDOUT && r_ != -EAGAIN)                                                 \
                break;                                                                             \
            if (r_ == -EAGAIN && (timeout_ns) == MBX_NONBLOCK)                                     \
                break;                                                                             \
            if (clock_remaining(dl_) == 0) {                                                       \
                r_ = (timeout_ns) == MBX_NONBLOCK ? -EAGAIN : -ETIMEDOUT;                          \
                break;                                                                             \
            }                                                                                      \
            if (link_ending(c)) {                                                                  \
                r_ = -EPIPE;                                                                       \
                break;                                                                             \
            }                                                                                      \
            if ((req) && moved_on(c, (req))) {                                                     \
                r_ = -EINTR;                                                                       \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
        r_;                                                                                        \
    })

/* Remembers that pipelined send seq failed (fails). */
static void fail_note(struct session *s, uint64_t seq, int32_t status)
{
    if (s->nfails == FAILS_KEPT) {
        memmove(&s->fails[0], &s->fails[1], (FAILS_KEPT - 1) * sizeof(s->fails[0]));
        s->nfails--;
    }
    s->fails[s->nfails++] = (struct failed){seq, status};
}

/* The client has every acknowledgement up to seq: failures up to it are
 * reported. */
static void fails_confirmed(struct session *s, uint64_t seq)
{
    unsigned k = 0;
    while (k < s->nfails && s->fails[k].seq <= seq)
        k++;
    memmove(&s->fails[0], &s->fails[k], (s->nfails - k) * sizeof(s->fails[0]));
    s->nfails -= k;
}

/* The result to acknowledge again for send seq (done already). */
static int32_t done_status(const struct session *s, uint64_t seq)
{
    if (seq == s->last_seq)
        return s->last_status;
    for (unsigned i = 0; i < s->nfails; i++)
        if (s->fails[i].seq == seq)
            return s->fails[i].status;
    return 0;
}

static void ack(struct conn *c, uint64_t id, int status, uint32_t room)
{
    struct wire_ack a = {status, room};
    uint8_t fixed[WIRE_ACK_LEN];
    reply_frame(c, W_ACK, 0, id, fixed, wire_ack_put(fixed, &a), NULL, 0);
}

/* Sends the acknowledgement held back, if any: it covers every send up to
 * its number. */
static void flush_ack(struct conn *c)
{
    if (c->ack_id)
        ack(c, c->ack_id, 0, c->s->room);
    c->ack_id = 0;
    c->ack_n = 0;
}

/* Whether the next frame to serve is a pipelined send (among the frames
 * the serving thread took; when it has served them all, among those queued
 * since). */
static int pipelined_next(struct conn *c)
{
    const struct qframe *q = c->taken;
    if (!q) {
        pthread_mutex_lock(&c->mu);
        q = c->head;
        int r = q && q->h.type == W_SEND && !(q->h.flags & WF_SYNC);
        pthread_mutex_unlock(&c->mu);
        return r;
    }
    return q->h.type == W_SEND && !(q->h.flags & WF_SYNC);
}

/* Serves a send frame (h, its body). may_wait 0: a pipelined send that
 * finds the mailbox full is left undone (returns 1: the caller queues it
 * for the serving turn, which waits); else returns 0. */
static int send_frame(struct conn *c, const struct wire_hdr *h, const uint8_t *body, int may_wait)
{
    struct session *s = c->s;
    struct wire_send ws;
    /* Numbered far past the last send finished (WIRE_SEQ_AHEAD_MAX): no
     * client's; taken, it would make every later send look done. A new
     * session's first send may have any number (an older client's sends
     * again after it was given a new session keep theirs). */
    if (wire_send_get(body, h->len, &ws) || h->id == 0 ||
        (s->last_seq && h->id > s->last_seq && h->id - s->last_seq > WIRE_SEQ_AHEAD_MAX)) {
        pthread_mutex_lock(&c->mu);
        mark_dead(c);
        shutdown(c->fd, SHUT_RDWR);
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    if (h->id <= s->last_seq) { /* sent again after a cut: done already */
        flush_ack(c);
        ack(c, h->id, done_status(s, h->id), room_of(s));
        return 0;
    }
    const uint8_t *payload = body + WIRE_SEND_LEN;
    size_t len = h->len - WIRE_SEND_LEN;
    /* A pipelined send was reported sent: it waits for room as long as it
     * takes; a waited-for one honours the client's timeout. */
    int sync = h->flags & WF_SYNC;
    int64_t timeout = sync ? ws.timeout_ns : MBX_FOREVER;
    int r;
    if (!s->can_send) {
        r = -EBADF;
    } else if (!may_wait) {
        r = mbx_send_typed(s->h, payload, len, ws.prio, ws.type, MBX_NONBLOCK);
        if (r == -EAGAIN)
            return 1;
    } else {
        r = (int)SLICED(c, 0, timeout, mbx_send_typed(s->h, payload, len, ws.prio, ws.type, t));
    }
    if (r == -EPIPE)
        return 0; /* not sent; the client sends it again */
    s->last_seq = h->id;
    s->last_status = r;
    if (r && !sync)
        fail_note(s, h->id, r); /* until the client confirms it has it */
    uint32_t room = r ? room_of(s) : room_after_send(s);
    if (!r && !sync) {
        /* Pipelined sends that follow each other are acknowledged together
         * (one frame for a quarter of the window, at least 16; and at the
         * end of what was read, more_sends_here): a write and a wake-up
         * saved each. An eighth of a deep window made the gateway's acks
         * three quarters of the link's writes; the client, which looks for
         * them once half its window is out, still has a quarter left when
         * one comes. */
        c->ack_id = h->id;
        if (++c->ack_n >= (s->window / 4 > 16 ? s->window / 4 : 16) ||
            (may_wait && !pipelined_next(c)))
            flush_ack(c);
        return 0;
    }
    flush_ack(c);
    ack(c, h->id, r, room);
    return 0;
}

/* How long a message frame of len bytes may take, from the start of its
 * write, to be in its client's hands with the client's TAKEN back here,
 * on a link that lives: its first bytes reach the client within a
 * dead-link bound, or the client calls the link dead; the rest within one
 * more and FRAME_NS_PER_BYTE a byte (sock.h), or the client drops the
 * link and the frame with it (the message is not its); its TAKEN comes
 * back within one more. */
static int64_t msg_due(uint64_t len)
{
    return 3 * TCP_TICK_NS * TCP_DEAD_TICKS + (int64_t)len * FRAME_NS_PER_BYTE;
}

static void send_held(struct conn *c)
{
    struct session *s = c->s;
    uint8_t fixed[WIRE_MSG_LEN];
    __atomic_store_n(&s->held_due, clock_now_ns() + msg_due(s->held_msg.info.size),
                     __ATOMIC_RELEASE);
    if (reply_frame(c, W_MSG, 0, s->held_req, fixed, wire_msg_put(fixed, &s->held_msg),
                    s->held_data, s->held_msg.info.size))
        __atomic_store_n(&s->held_due, 0, __ATOMIC_RELEASE); /* not whole: not the client's */
}

static void send_reply(struct conn *c)
{
    struct session *s = c->s;
    struct wire_msg m = {0};
    m.info.size = s->reply_len;
    uint8_t fixed[WIRE_MSG_LEN];
    reply_frame(c, W_MSG, 0, s->reply_req, fixed, wire_msg_put(fixed, &m), s->reply_data,
                s->reply_len);
}

static void note_token(struct session *s, uint64_t token)
{
    if (token)
        s->tokens[s->ntokens++ % TOKENS_HELD] = token;
}

static void result(struct conn *c, uint64_t req, int64_t v)
{
    uint8_t fixed[WIRE_RESULT_LEN];
    reply_frame(c, W_RESULT, 0, req, fixed, wire_result_put(fixed, v), NULL, 0);
}

/* An answer already held for this request (asked again after a cut) goes
 * out again; a call's reply held for an older request is dropped (the
 * client asks something else: it has it, or gave up); a message held for
 * an older request the client gave up on goes to this one when it takes
 * any message, else back to the mailbox, or stays held while that is
 * full. Returns 1 when the request is answered. */
static int answer_held(struct conn *c, uint64_t req, int plain, uint64_t cap)
{
    struct session *s = c->s;
    if (s->reply_req && s->reply_req == req) {
        send_reply(c);
        return 1;
    }
    drop_reply(s);
    if (!s->held)
        return 0;
    if (s->held_req == req) {
        send_held(c);
        return 1;
    }
    if (s->held == W_MSG && plain && s->held_msg.info.size <= cap) {
        s->held_req = req;
        send_held(c);
        return 1;
    }
    put_back(s);
    return 0;
}

/* What is left of a request's timeout (MBX_FOREVER and MBX_NONBLOCK as
 * they are), counted from when its frame was read: it may have waited in
 * the queue behind a send that waited for room. TIME_UP: nothing. A
 * request served late had its whole timeout from then, and did what its
 * client had been told was not done: a confirmed send or a call made
 * after the caller's -ETIMEDOUT, a receive that took a message for a
 * client no longer waiting (held from the mailbox's receivers until that
 * client's next receive or its session's end). */
#define TIME_UP INT64_MIN
static int64_t time_left(const struct qframe *q, int64_t timeout_ns)
{
    if (timeout_ns <= 0)
        return timeout_ns;
    int64_t left = timeout_ns - (clock_now_ns() - q->at);
    return left > 0 ? left : TIME_UP;
}

/* s->buf with room for cap bytes (at most max_msg: the caller caps it),
 * grown when a request asks for more than any before. Returns it, or NULL
 * when it cannot grow (the old one stays). */
static uint8_t *session_buf(struct session *s, size_t cap)
{
    if (cap == 0)
        cap = 1;
    s->asked = cap;
    if (cap > s->buf_len) {
        uint8_t *b = malloc(cap); /* its contents need not be kept */
        if (!b)
            return NULL;
        session_buf_free(s);
        s->buf = b;
        s->buf_len = cap;
        __atomic_fetch_add(&tcp_gateway_buf_bytes, cap, __ATOMIC_RELAXED);
    }
    return s->buf;
}

/* The largest session buffer kept between requests. */
#define SESSION_BUF_KEEP (1u << 20)

/* Frees s->buf after a request when it is larger than SESSION_BUF_KEEP
 * and that request asked for no more: what a message or reply taken into
 * it needs is copied out (held_data, reply_data). Kept, the buffer of
 * each session stayed as large as the largest receive its client ever
 * asked for (up to max_msg_size: 16 MiB for a mailbox a client made, more
 * for others), sessions times that. A client whose every receive asks
 * for a large one keeps it: freed after each, it cost a malloc and free
 * of that size (an mmap and munmap) per remote receive. */
static void session_buf_trim(struct session *s)
{
    if (s->buf_len > SESSION_BUF_KEEP && s->asked <= SESSION_BUF_KEEP)
        session_buf_free(s);
}

static void do_recv(struct conn *c, const struct qframe *q)
{
    struct session *s = c->s;
    struct wire_recv wr;
    if (wire_recv_get(q->body, q->h.len, &wr)) {
        result(c, q->h.id, -EPROTO);
        return;
    }
    int plain = wr.from == 0 && wr.how == MBX_SEL_ANY;
    if (answer_held(c, q->h.id, plain, wr.cap))
        return;
    wr.timeout_ns = time_left(q, wr.timeout_ns);
    if (wr.timeout_ns == TIME_UP) {
        result(c, q->h.id, -ETIMEDOUT);
        return;
    }
    if (s->held) {
        /* The mailbox was full: the message cannot go back yet, and this
         * receive cannot take it. One that may wait waits (in slices, as
         * any) for room to put it back, then receives for what is left of
         * its time: it said -EAGAIN at once, a blocking receive too. */
        int64_t dl = clock_deadline(wr.timeout_ns);
        ssize_t r = SLICED(c, q->h.id, wr.timeout_ns, put_back_within(s, t));
        if (r == -EPIPE)
            return;
        if (r < 0) {
            result(c, q->h.id, r);
            return;
        }
        if (wr.timeout_ns > 0) {
            wr.timeout_ns = clock_remaining(dl);
            if (wr.timeout_ns == 0) { /* not MBX_NONBLOCK: its time is up */
                result(c, q->h.id, -ETIMEDOUT);
                return;
            }
        }
    }
    size_t cap = wr.cap < s->max_msg ? (size_t)wr.cap : (size_t)s->max_msg;
    if (!session_buf(s, cap)) {
        result(c, q->h.id, -ENOMEM);
        return;
    }
    if (!s->journal) /* made before a message is taken (held_journal.h) */
        s->journal = held_journal_make(&s->journal_fd);
    mbx_msginfo info;
    uint64_t type = 0;
    ssize_t n;
    if (wr.from)
        n = SLICED(c, q->h.id, wr.timeout_ns, mbx_recv_from(s->h, wr.from, s->buf, cap, &info, t));
    else
        n = SLICED(c, q->h.id, wr.timeout_ns,
                   mbx_recv_select(s->h, (int)wr.how, wr.type, s->buf, cap, &info, &type, t));
    if (n == -EPIPE)
        return;
    if (n == -EMSGSIZE && (q->h.flags & WF_SIZE)) {
        /* The room it needs, as a local receive says in info->size. */
        uint8_t fixed[WIRE_RESULT_SIZE_LEN];
        reply_frame(c, W_RESULT, WF_SIZE, q->h.id, fixed, wire_result_size_put(fixed, n, info.size),
                    NULL, 0);
        return;
    }
    if (n < 0) {
        result(c, q->h.id, n);
        return;
    }
    /* On file first, before its frame goes: a gateway killed from here
     * on leaves it for the next one to put back. */
    s->held_journaled = s->journal && held_journal_fill(s->journal_fd, s->name, info.priority, type,
                                                        s->buf, (uint64_t)n) == 0;
    s->held_data = malloc((size_t)n + 1);
    if (!s->held_data) { /* cannot keep it safe: give it back (as put_back) */
        if (s->held_journaled)
            held_journal_clear(s->journal_fd);
        s->held_journaled = 0;
        origin_set(0);
        mbx_send_typed(s->h, s->buf, (size_t)n, info.priority, type, MBX_NONBLOCK);
        origin_set(c->origin);
        result(c, q->h.id, -ENOMEM);
        return;
    }
    memcpy(s->held_data, s->buf, (size_t)n);
    held_set(s, W_MSG);
    s->held_req = q->h.id;
    s->held_msg.info = info;
    s->held_msg.type = type;
    note_token(s, info.reply_token);
    send_held(c);
}

/* The cancel hook of a call: client_gone, or the client gave the call up
 * (a signal ended its wait: moved_on). Its request, if nobody took it, is
 * then taken back, as after a local mbx_call's -EINTR. */
static int call_given_up(void *arg)
{
    struct conn *c = arg;
    return client_gone(c) || moved_on(c, c->call_req);
}

static void do_call(struct conn *c, const struct qframe *q)
{
    struct session *s = c->s;
    struct wire_call wc;
    if (wire_call_get(q->body, q->h.len, &wc)) {
        result(c, q->h.id, -EPROTO);
        return;
    }
    if (answer_held(c, q->h.id, 0, 0))
        return;
    if (!s->can_send) {
        result(c, q->h.id, -EBADF);
        return;
    }
    /* Asked again, its reply not held: it ended with a session that
     * expired (the reply went with it). It was made: not again, and the
     * caller learns that its outcome is unknown. */
    if (q->h.id <= s->last_call) {
        result(c, q->h.id, q->h.id == s->last_call && s->call_error ? s->call_error : -ENOTCONN);
        return;
    }
    s->last_call = q->h.id;
    s->call_error = 0;
    wc.timeout_ns = time_left(q, wc.timeout_ns);
    if (wc.timeout_ns == TIME_UP) { /* not made: as a call that timed out */
        s->call_error = -ETIMEDOUT;
        result(c, q->h.id, -ETIMEDOUT);
        return;
    }
    size_t cap = wc.cap < s->max_msg ? (size_t)wc.cap : (size_t)s->max_msg;
    if (!session_buf(s, cap)) { /* not made: its outcome is known */
        s->call_error = -ENOMEM;
        result(c, q->h.id, -ENOMEM);
        return;
    }
    c->call_req = q->h.id;
    cancel_set(call_given_up, c);
    ssize_t n = mbx_call(s->h, q->body + WIRE_CALL_LEN, q->h.len - WIRE_CALL_LEN, wc.prio, s->buf,
                         cap, wc.timeout_ns);
    cancel_set(NULL, NULL);
    if (n == -ECANCELED)
        n = -ENOTCONN; /* the request may have been taken: its outcome is unknown */
    if (n < 0) {
        s->call_error = (int32_t)n;
        result(c, q->h.id, n);
        return;
    }
    /* Its own slot: a message still held (answer_held could not put it
     * back) stays the client's. */
    s->reply_data = malloc((size_t)n + 1);
    if (!s->reply_data) {
        s->call_error = -ENOMEM;
        result(c, q->h.id, -ENOMEM);
        return;
    }
    memcpy(s->reply_data, s->buf, (size_t)n);
    s->reply_req = q->h.id;
    s->reply_len = (uint64_t)n;
    send_reply(c);
}

/* A confirmed send on the client's behalf: its answer (the taker, packed,
 * or -errno) is remembered, so the same request sent again after a cut is
 * answered without a second send. */
static void do_confirm(struct conn *c, const struct qframe *q)
{
    struct session *s = c->s;
    struct wire_call wc;
    if (wire_call_get(q->body, q->h.len, &wc)) {
        result(c, q->h.id, -EPROTO);
        return;
    }
    if (q->h.id && q->h.id == s->confirm_req) {
        result(c, q->h.id, s->confirm_answer);
        return;
    }
    if (!s->can_send) { /* the gateway's handle sends (put-backs): the client may not */
        result(c, q->h.id, -EBADF);
        return;
    }
    mbx_receipt who;
    wc.timeout_ns = time_left(q, wc.timeout_ns);
    if (wc.timeout_ns == TIME_UP) { /* not sent: nobody took it in time */
        s->confirm_req = q->h.id;
        s->confirm_answer = -ETIMEDOUT;
        result(c, q->h.id, -ETIMEDOUT);
        return;
    }
    cancel_set(client_gone, c);
    int r = mbx_send_confirmed(s->h, q->body + WIRE_CALL_LEN, q->h.len - WIRE_CALL_LEN, wc.prio,
                               wc.timeout_ns, &who);
    cancel_set(NULL, NULL);
    if (r == -ECANCELED)
        r = -ENOTCONN; /* as a call's */
    s->confirm_req = q->h.id;
    s->confirm_answer = r ? r : wire_receipt_pack(who.taker_pid, who.taker_uid);
    result(c, q->h.id, s->confirm_answer);
}

static void do_reply(struct conn *c, const struct qframe *q)
{
    struct session *s = c->s;
    uint64_t token;
    uint32_t pid;
    if (wire_reply_get(q->body, q->h.len, &token, &pid)) {
        result(c, q->h.id, -EPROTO);
        return;
    }
    if (q->h.id && q->h.id == s->replied_req) { /* asked again after a cut */
        result(c, q->h.id, s->replied_answer);
        return;
    }
    /* Only a request this client was handed may be answered through it. */
    int known = -1;
    for (unsigned i = 0; i < TOKENS_HELD; i++)
        if (s->tokens[i] == token) {
            s->tokens[i] = 0;
            known = (int)i;
        }
    int r = -ESRCH;
    if (known >= 0) {
        mbx_msginfo info = {.reply_token = token, .sender_pid = (int32_t)pid};
        r = mbx_reply(&info, q->body + WIRE_REPLY_LEN, q->h.len - WIRE_REPLY_LEN);
        /* The caller's mailbox stayed full: nothing was sent, and the
         * replier may send it again (mbx.h), so the token stays ours. */
        if (r == -EAGAIN)
            s->tokens[known] = token;
    }
    s->replied_req = q->h.id;
    s->replied_answer = r;
    result(c, q->h.id, r);
}

static void do_stat(struct conn *c, const struct qframe *q)
{
    mbx_stat st;
    int r = mbx_stat_get(c->s->h, &st);
    if (r) {
        result(c, q->h.id, r);
        return;
    }
    uint8_t body[WIRE_STATR_LEN];
    reply_frame(c, W_STATR, 0, q->h.id, body, wire_stat_put(body, &st), NULL, 0);
}

/* The folder this process's local mailbox names stand for, absolute:
 * $MBX_DIR, or /dev/shm (as mbx_open reads them). Returns 0 or -errno. */
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

/* Answers a probe from a client on this machine (WIRE_OPEN_PROBE): where
 * the mailbox's file is, so it can open it itself; the allow-list was
 * checked. With no folder to tell, WELCOME says -ENOTSUP and the client
 * opens through the gateway. */
static void probe_answer(struct conn *c, const struct wire_open *o, const struct wire_hello *hello,
                         struct wire_welcome *w, int64_t dl)
{
    char dir[WIRE_DIR_MAX + 1];
    uint64_t boot[2], dir_id[2];
    uint8_t buf[WIRE_BOOT_ID + 16 + 2 + WIRE_DIR_MAX];
    int r = mailbox_dir(dir, sizeof(dir));
    if (!r)
        r = plat_dir_id(dir, dir_id);
    if (!r && !plat_boot_id(boot))
        r = -ENOTSUP;
    w->status = r ? -ENOTSUP : 0;
    if (!c->g->no_secret)
        auth_mac(&c->g->secret, "mbx gateway", o->nonce, hello->nonce, w->mac);
    if (io_frame_write(&c->io, W_WELCOME, 0, 0, buf, wire_welcome_put(buf, w), NULL, 0, dl) || r)
        return;
    uint8_t id[WIRE_BOOT_ID];
    memcpy(id, boot, sizeof(id));
    io_frame_write(&c->io, W_HERE, 0, 0, buf, wire_here_put(buf, id, dir_id, dir), NULL, 0, dl);
}

/* The binding of a session opened by o on c (struct session): a hash of
 * its flags, the certificate the client showed (or none) and the name.
 * Returns 1 when the client showed a certificate, else 0. */
static int open_binding(const struct conn *c, const struct wire_open *o, uint8_t out[32])
{
    uint8_t b[4 + 1 + 32 + WIRE_NAME_MAX] = {0};
    uint32_t flags = o->flags & ~WIRE_OPEN_PROBE;
    memcpy(b, &flags, 4);
    b[4] = (uint8_t)tls_peer_id(&c->io, b + 5);
    size_t n = strnlen(o->name, WIRE_NAME_MAX);
    memcpy(b + 37, o->name, n);
    auth_hash(b, 37 + n, out);
    return b[4];
}

/* Whether OPEN o (after HELLO's nonce hn; binding and cert of
 * open_binding) may take up a session of binding `was` and key (has_key).
 * Returns 1 when it may; 0 when not (-EACCES); -1 for a session no client
 * can take up again: an older client's (no key) over plain TCP, where
 * nothing but the name and flags, sent in the clear with the id, told its
 * client from another holder of the secret (a new session then: the old
 * client goes on, what it sends again may be delivered twice). */
static int may_resume(const struct wire_open *o, const uint8_t *hn, const uint8_t binding[32],
                      int cert, const uint8_t was[32], const uint8_t key[WIRE_KX], int has_key)
{
    if (has_key) {
        uint8_t want[WIRE_KX];
        if (o->version < 4)
            return 0;
        auth_proof(key, hn, o->nonce, want);
        return auth_equal(want, o->proof) && memcmp(was, binding, 32) == 0;
    }
    if (memcmp(was, binding, 32) != 0)
        return 0;
    return cert ? 1 : -1;
}

/* A new session's key (version 4): agreed with the client's public key in
 * o; the gateway's goes in w. A client key that gives none leaves the
 * session without (taken up again only by its client certificate). */
static void session_key(struct session *s, const struct wire_open *o, struct wire_welcome *w)
{
    void *kx = auth_kx_new(w->kx);
    s->has_key = kx && auth_kx_key(kx, o->kx, o->kx, w->kx, s->key) == 0;
    auth_kx_free(kx);
    if (!s->has_key)
        memset(w->kx, 0, sizeof(w->kx));
}

/* Opens the mailbox of a new session. Out of descriptors, it ends the
 * session that has lingered longest and tries again: sessions whose
 * clients went away without a goodbye no longer keep a new client out
 * until they expire. Returns 0 or -errno. */
static int session_open(struct mbx_gateway *g, struct session *s, struct wire_open *o, int flags)
{
    /* A mailbox a client creates is a file of the gateway's user here: it
     * gets no more rights than the gateway's own files would (a client's
     * 0666 made it every local user's to read, write and forge in). */
    o->opts.attr.mode &= ~(uint32_t)g->umask & 0777;
    /* And no larger than the gateway lets a client make (wire.h): checked
     * whenever MBX_CREATE is asked, as a local open checks attributes. */
    if ((flags & MBX_CREATE) && (o->opts.attr.max_msg_size > WIRE_CREATE_MSG_MAX ||
                                 o->opts.attr.memory_limit > WIRE_CREATE_MEMORY_MAX))
        return -EINVAL;
    for (int tries = 0;; tries++) {
        /* A message taken for a client that never has it goes back to its
         * mailbox: the gateway sends it, so it opens to send too when it
         * may (a receive-only client still cannot). */
        int r =
            mbx_open_opts(o->name, (flags & MBX_RECV) ? flags | MBX_SEND : flags, &o->opts, &s->h);
        if (r == -EACCES && !s->can_send)
            r = mbx_open_opts(o->name, flags, &o->opts, &s->h);
        if ((r != -EMFILE && r != -ENFILE) || tries == 4)
            return r;
        pthread_mutex_lock(&g->mu);
        int ended = expire_oldest(g);
        pthread_mutex_unlock(&g->mu);
        if (!ended)
            return r;
    }
}

/* The handshake. Returns the session to serve (busy), or NULL after
 * telling the client why not. */
static struct session *handshake(struct conn *c)
{
    struct mbx_gateway *g = c->g;
    struct frame_buf fb = {0};
    struct wire_hello hello = {WIRE_VERSION, {0}};
    struct wire_open o;
    struct wire_welcome w = {0};
    struct wire_hdr h;
    struct session *s = NULL;
    int64_t dl = clock_deadline(5000000000ll);
    uint8_t buf[WIRE_OPEN_MAX];
    int resumed = 0, r = 0;
    uint8_t hello_flags = 0;
    if (g->tls_ctx) {
        /* A greeting in the clear says TLS comes next: a client that did
         * not ask for TLS learns it at once, then the client's handshake. */
        r = frame_write(c->fd, W_HELLO, WF_TLS, 0, buf, wire_hello_put(buf, &hello), NULL, 0, dl);
        if (!r)
            r = tls_accept(&c->io, g->tls_ctx, dl);
        if (r)
            goto out; /* not TLS 1.3, or no certificate we take: nothing to say */
        if (g->no_secret)
            hello_flags = WF_CERT_AUTH;
    }
    if (!r)
        r = auth_random(hello.nonce, sizeof(hello.nonce));
    if (!r)
        r = io_frame_write(&c->io, W_HELLO, hello_flags, 0, buf, wire_hello_put(buf, &hello), NULL,
                           0, dl);
    if (!r)
        r = io_frame_read(&c->io, &h, &fb, WIRE_HANDSHAKE, dl);
    if (r)
        goto out; /* gone before a word: nothing to say */
    if (h.type != W_OPEN || wire_open_get(fb.p, h.len, &o)) {
        w.status = -EPROTO;
    } else if (o.version < WIRE_VERSION_MIN || o.version > WIRE_VERSION) {
        w.status = -EPROTONOSUPPORT;
    } else {
        uint8_t want[WIRE_MAC];
        if (!g->no_secret) /* else TLS checked the client's certificate */
            auth_mac(&g->secret, "mbx client", hello.nonce, o.nonce, want);
        if (!g->no_secret && !auth_equal(want, o.mac))
            w.status = -EACCES;
        else if (!allowed(g, o.name))
            w.status = -EACCES;
        else if (o.flags & (MBX_OWNED | MBX_STREAM))
            w.status = -ENOTSUP;
    }
    if (w.status)
        goto answer;
    /* Proved: the acceptor no longer ends it to make room (HANDSHAKES_MAX). */
    pthread_mutex_lock(&g->mu);
    c->proved = 1;
    pthread_mutex_unlock(&g->mu);
    if (o.flags & WIRE_OPEN_PROBE) {
        probe_answer(c, &o, &hello, &w, dl);
        goto out;
    }
    uint8_t binding[32];
    int cert = open_binding(c, &o, binding);
    w.version = o.version; /* the WELCOME's layout */
    pthread_mutex_lock(&g->mu);
    for (s = o.session ? g->sessions : NULL; s; s = s->next)
        if (s->id == o.session)
            break;
    struct tomb tomb = {0};
    int may = s ? may_resume(&o, hello.nonce, binding, cert, s->binding, s->key, s->has_key) : 1;
    if (may < 0) {
        s = NULL;
        o.session = 0; /* nobody takes it up: a new one */
    }
    if (s && !may) {
        s = NULL;
        w.status = -EACCES; /* another client's session */
    } else if (s && s->busy) {
        s = NULL;
        w.status = -EBUSY; /* its old link is still being let go: try again */
    } else if (s) {
        s->busy = 1;
        resumed = 1;
    } else if (o.session) {
        for (unsigned i = 0; i < TOMBS && i < g->ntombs; i++)
            if (g->tombs[i].id == o.session) {
                const struct tomb *t = &g->tombs[i];
                may = may_resume(&o, hello.nonce, binding, cert, t->binding, t->key, t->has_key);
                if (may < 0)
                    break; /* a new session */
                if (!may) {
                    w.status = -EACCES;
                    break;
                }
                if (g->tombs[i].claimed) {
                    w.status = -EBUSY; /* another link is taking it up: try again */
                    break;
                }
                tomb = g->tombs[i];
                g->tombs[i].claimed = 1; /* kept until the session is back */
                break;
            }
    }
    pthread_mutex_unlock(&g->mu);
    if (w.status)
        goto answer;
    /* The client has the held message only when OPEN names its very
     * request: a later one says nothing of it (a receive given up, whose
     * message the gateway still holds, and a later request answered). */
    if (s && s->held && s->held_req == o.last_req)
        held_drop(s); /* the client has it */
    if (s && s->reply_req && s->reply_req <= o.last_req)
        drop_reply(s); /* taken, or given up for a later answer */
    if (!s) {
        /* Room for one more session (sessions_max), taken before its
         * mailbox is opened: the one that lingered longest ends first. */
        pthread_mutex_lock(&g->mu);
        if (g->nsessions >= g->sessions_max && !expire_oldest(g))
            w.status = -EUSERS; /* every session has a connection */
        else
            g->nsessions++;
        pthread_mutex_unlock(&g->mu);
        if (w.status)
            goto answer;
        s = calloc(1, sizeof(*s));
        if (!s) {
            pthread_mutex_lock(&g->mu);
            g->nsessions--;
            pthread_mutex_unlock(&g->mu);
            w.status = -ENOMEM;
            goto answer;
        }
        r = auth_random((uint8_t *)&s->id, sizeof(s->id));
        s->id |= 1;
        snprintf(s->name, sizeof(s->name), "%s", o.name);
        memcpy(s->binding, binding, sizeof(binding));
        if (tomb.id) { /* an ended session comes back: it goes on where it was */
            s->id = tomb.id;
            s->last_seq = tomb.last_seq;
            s->last_status = tomb.last_status;
            s->last_call = tomb.last_call;
            memcpy(s->fails, tomb.fails, sizeof(s->fails));
            s->nfails = tomb.nfails;
            memcpy(s->key, tomb.key, sizeof(s->key));
            s->has_key = tomb.has_key;
            resumed = 1;
        } else if (o.version >= 4) {
            session_key(s, &o, &w);
        }
        int flags = (int)(o.flags & (MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL | MBX_SHARED));
        s->can_send = (flags & MBX_SEND) != 0;
        if (!r)
            r = session_open(g, s, &o, flags);
        mbx_stat st;
        if (!r)
            r = mbx_stat_get(s->h, &st);
        if (!r) {
            s->max_msg = st.max_msg_size;
            s->capacity = st.capacity;
        }
        if (r) {
            if (s->h)
                mbx_close(s->h);
            free(s);
            s = NULL;
            pthread_mutex_lock(&g->mu);
            g->nsessions--;
            pthread_mutex_unlock(&g->mu);
            w.status = r;
            goto answer;
        }
        s->busy = 1;
        pthread_mutex_lock(&g->mu);
        s->next = g->sessions;
        g->sessions = s;
        if (tomb.id)
            tomb_forget(g, tomb.id);
        pthread_mutex_unlock(&g->mu);
        tomb.id = 0;
    }
    if (!g->no_secret)
        auth_mac(&g->secret, "mbx gateway", o.nonce, hello.nonce, w.mac);
    w.session = s->id;
    w.last_seq = s->last_seq;
    w.last_status = s->last_status;
    if (s->nfails && s->fails[0].seq < s->last_seq) {
        /* The oldest failure the client may not have: the client takes
         * the sends up to it as done, learns its result, and sends the
         * rest again; those are acknowledged again with their results
         * (done_status). A client of any version does so. */
        w.last_seq = s->fails[0].seq;
        w.last_status = s->fails[0].status;
    }
    w.capacity = s->capacity;
    /* A version 3 client may have more in flight: a deep mailbox takes a
     * stream of sends without waiting for acknowledgements as often. */
    uint32_t window_max = o.version >= 3 ? WIRE_WINDOW_MAX : WIRE_WINDOW_V2;
    w.window = s->capacity == MBX_RENDEZVOUS ? 0
               : s->capacity < window_max    ? s->capacity
                                             : window_max;
    s->window = w.window;
    w.room = room_of(s);
    w.max_msg = s->max_msg;
    c->max_body = WIRE_FIXED_MAX + s->max_msg;
    c->queue_max = QUEUE_MAX(window_max);
    /* Its payloads in flight, their fixed parts, a send over the bound
     * and a request, twice. */
    c->queue_bytes = 2 * ((uint64_t)WIRE_WINDOW_BYTES + (uint64_t)WIRE_WINDOW_MAX * WIRE_FIXED_MAX +
                          2 * c->max_body);
    c->queue_pause = o.version < 3;
answer:
    if (tomb.id) { /* claimed, and no session made of it */
        pthread_mutex_lock(&g->mu);
        tomb_unclaim(g, &tomb);
        pthread_mutex_unlock(&g->mu);
    }
    r = io_frame_write(&c->io, W_WELCOME, resumed ? WF_RESUMED : 0, 0, buf,
                       wire_welcome_put(buf, &w), NULL, 0, dl);
    if (r && s) { /* the client is gone already: the session waits for it */
        pthread_mutex_lock(&g->mu);
        s->busy = 0;
        s->detached_at = clock_now_ns();
        pthread_mutex_unlock(&g->mu);
        s = NULL;
    }
out:
    free(fb.p);
    return s;
}

/* Serves one frame. Returns 1 when the connection's turns end (a
 * goodbye, c->bye set; or a frame no client sends), else 0. */
static int serve(struct conn *c, struct qframe *q)
{
    /* A link that died still has its queued frames read: a confirmation
     * (W_TAKEN) and a goodbye (W_BYE) that came just before the client
     * closed must end the session, or it would linger with the message it
     * confirmed and put that back when it expired (a second delivery).
     * Frames that would act on the dead link are dropped; their clients
     * ask again. */
    if (link_ending(c) && q->h.type != W_TAKEN && q->h.type != W_BYE)
        return 0;
    switch (q->h.type) {
    case W_SEND:
        send_frame(c, &q->h, q->body, 1);
        return 0;
    case W_RECV:
        do_recv(c, q);
        session_buf_trim(c->s);
        return 0;
    case W_CALL:
        do_call(c, q);
        session_buf_trim(c->s);
        return 0;
    case W_CONFIRM:
        do_confirm(c, q);
        return 0;
    case W_REPLY:
        do_reply(c, q);
        return 0;
    case W_STAT:
        do_stat(c, q);
        return 0;
    case W_PING: /* with an id: read_batch answers heartbeats */
        fails_confirmed(c->s, q->h.id);
        return 0;
    case W_TAKEN:
        if (c->s->held && c->s->held_req == q->h.id)
            held_drop(c->s);
        return 0;
    case W_BYE:
        c->bye = 1;
        return 1;
    default: /* a gateway's frame from a client: not ours to take */
        pthread_mutex_lock(&c->mu);
        mark_dead(c);
        pthread_mutex_unlock(&c->mu);
        return 1;
    }
}

/* The serving turn: serves every queued frame, in order, until none is
 * left. Returns 1 when the connection's turns end. */
static int serve_queued(struct conn *c)
{
    struct qframe *q;
    while ((q = next_frame(c, 0))) {
        int stop = serve(c, q);
        free(q);
        if (stop)
            return 1;
    }
    return 0;
}

/* A connection's two threads take turns: one reads the socket (and answers
 * heartbeats at once) while the other serves what was read, in order.
 * Pipelined sends that find room are served by the reading thread as it
 * reads them (read_batch), while no frame waits in the queue. The thread
 * that read a frame serves it itself when nobody is serving: a request is
 * served without waiting for a second thread to wake up (a wake-up is the
 * dearest step on the path of a call). The other thread takes the reading
 * turn only once a serve has lasted HANDOVER_NS, so a request that waits
 * long (a call) never leaves the link unread long enough to look dead,
 * and a quick one costs no wake-up: it used to be woken at every serve to
 * read meanwhile (a condition variable's wake, its mutex, a read that
 * found nothing and a poll: about five system calls and a second thread's
 * wake-up per call). For that the idle thread sleeps with a deadline
 * while serves come (for STAY_TIMED_NS after the last one began), and is
 * woken at the start of a serve only when it sleeps without one. Returns
 * when the turns end: the link died and what was read is served, or the
 * client said goodbye. */
#define HANDOVER_NS   (50 * 1000000ll)
#define STAY_TIMED_NS (1000 * 1000000ll)

/* Whether reading waits: a version 2 link's frames read ahead hold its
 * bytes' bound (queue_pause). Call with c->mu held. */
static int read_paused(const struct conn *c)
{
    return c->queue_pause && __atomic_load_n(&c->queued_bytes, __ATOMIC_RELAXED) >= c->queue_bytes;
}

static void take_turns(struct conn *c)
{
    origin_set(c->origin); /* what this thread sends is the client's */
    pthread_mutex_lock(&c->mu);
    for (;;) {
        if (c->over)
            break;
        if (!c->serving && c->head) {
            c->serving = 1;
            c->serve_began = clock_now_ns();
            if (!c->reading && !c->dead && c->untimed)
                pthread_cond_broadcast(&c->cv); /* to look again at HANDOVER_NS */
            pthread_mutex_unlock(&c->mu);
            int stop = serve_queued(c);
            pthread_mutex_lock(&c->mu);
            c->serving = 0;
            if (stop) {
                c->over = 1;
                mark_dead(c);
                shutdown(c->fd, SHUT_RDWR); /* the reading thread stops reading */
                pthread_cond_broadcast(&c->cv);
                break;
            }
            continue;
        }
        int64_t now = clock_now_ns();
        if (!c->reading && !c->dead && read_paused(c)) {
            /* Not read until what was read is served; meanwhile a PONG
             * every tick: a client that left makes it fail (no read sees
             * that now), and the link is dead (a send waiting for room
             * for it then gives up, as on any dead link). */
            if (now - c->paused_pong >= TCP_TICK_NS) {
                c->paused_pong = now;
                pthread_mutex_unlock(&c->mu);
                reply_frame(c, W_PONG, 0, 0, NULL, 0, NULL, 0);
                pthread_mutex_lock(&c->mu);
                continue;
            }
            int64_t until = now + HANDOVER_NS;
            struct timespec ts = {until / 1000000000, until % 1000000000};
            pthread_cond_timedwait(&c->cv, &c->mu, &ts);
            continue;
        }
        if (!c->reading && !c->dead && (!c->serving || now - c->serve_began >= HANDOVER_NS)) {
            c->reading = 1;
            pthread_mutex_unlock(&c->mu);
            read_batch(c);
            pthread_mutex_lock(&c->mu);
            c->reading = 0;
            continue; /* to serve what it read, unless the other thread is */
        }
        if (c->dead && !c->reading && !c->serving && !c->head) {
            c->over = 1;
            pthread_cond_broadcast(&c->cv);
            break;
        }
        if (c->serving || now - c->serve_began < STAY_TIMED_NS) {
            /* Serving: look again when it has lasted HANDOVER_NS; else
             * every HANDOVER_NS, in case a serve begins meanwhile. */
            int64_t until = (c->serving ? c->serve_began : now) + HANDOVER_NS;
            struct timespec ts = {until / 1000000000, until % 1000000000};
            pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        } else {
            c->untimed++;
            pthread_cond_wait(&c->cv, &c->mu);
            c->untimed--;
        }
    }
    pthread_mutex_unlock(&c->mu);
}

/* The id of the host of connection fd's peer (shm/hosts.h): the host a
 * remote sender's messages say they came from. */
static uint32_t peer_origin(int fd)
{
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);
    char text[64];
    if (getpeername(fd, (struct sockaddr *)&peer, &len) != 0 ||
        sock_host_text(&peer, text, sizeof(text)) != 0)
        return HOSTS_UNKNOWN;
    return hosts_id(text);
}

static void *second_main(void *arg)
{
    pthread_setname_np(pthread_self(), "mbx-gw-second"); /* for top -H, perf, gdb */
    take_turns(arg);
    return NULL;
}

/* The reading turn has waited a tick inside a frame (a large call, reply
 * or piece on a slow link): tells the client the link lives. Its own
 * heartbeats queue behind the rest of that frame, so without this a
 * client waiting for the answer to a frame that takes longer than its
 * dead-link bound to cross called the link dead, and sent it all again
 * on the next one, for ever. Clients ignore a PONG they did not ask for. */
static void still_reading(void *arg)
{
    reply_frame(arg, W_PONG, 0, 0, NULL, 0, NULL, 0);
}

static void *worker_main(void *arg)
{
    pthread_setname_np(pthread_self(), "mbx-gw-conn"); /* for top -H, perf, gdb */
    struct conn *c = arg;
    struct mbx_gateway *g = c->g;
    c->s = handshake(c);
    /* Only a client that proved the secret takes a place in the table:
     * unproved connections could push everyone else's out. */
    c->origin = c->s ? peer_origin(c->fd) : 0;
    if (c->s) { /* after WELCOME: nothing may come before it */
        c->fr.tick = still_reading;
        c->fr.tick_arg = c;
        c->fr.tick_ns = TCP_TICK_NS;
    }
    if (c->s && pthread_create(&c->second, NULL, second_main, c) == 0) {
        c->second_started = 1;
        take_turns(c);
    }
    pthread_mutex_lock(&c->mu);
    mark_dead(c);
    c->over = 1;
    shutdown(c->fd, SHUT_RDWR);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->second_started)
        pthread_join(c->second, NULL);
    int bye = c->bye;
    for (struct qframe *q = c->head; q;) {
        struct qframe *n = q->next;
        free(q);
        q = n;
    }
    c->head = c->tail = NULL;
    for (struct qframe *q = c->taken; q;) {
        struct qframe *n = q->next;
        free(q);
        q = n;
    }
    c->taken = NULL;
    free(c->asm_.q); /* a message in pieces dies with its connection */
    c->asm_.q = NULL;
    c->asm_.room = 0;
    free(c->fr.p);
    c->fr.p = NULL;
    pthread_mutex_lock(&g->mu);
    if (c->s) {
        c->s->busy = 0;
        c->s->detached_at = clock_now_ns();
        __atomic_store_n(&c->s->held_due, 0, __ATOMIC_RELEASE); /* on no link now */
        /* Done: the session ends, unless a message it held cannot go back
         * to a full mailbox yet; then it waits as if its client had gone
         * (expire tries again), never dropped. */
        if (bye && put_back(c->s) == 0) {
            session_unlink(g, c->s);
            g->nsessions--;
            session_free(c->s);
        } else if (bye) {
            c->s->detached_at = 0;
        }
    }
    c->done = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* Joins connections that ended. Call with g->mu held. */
static void reap(struct mbx_gateway *g)
{
    for (struct conn **p = &g->conns; *p;) {
        struct conn *c = *p;
        if (c->done) {
            *p = c->next;
            pthread_mutex_unlock(&g->mu);
            pthread_join(c->worker, NULL);
            pthread_mutex_lock(&g->mu);
            tls_end(&c->io);
            close(c->fd);
            pthread_mutex_destroy(&c->iolock);
            pthread_mutex_destroy(&c->mu);
            pthread_cond_destroy(&c->cv);
            free(c);
            p = &g->conns;
            continue;
        }
        p = &c->next;
    }
}

static void keepalive(int fd)
{
    /* A client host that vanishes is noticed in about 8 s even when no
     * request is under way. */
    int one = 1, idle = 5, intvl = 1, cnt = 3;
    unsigned user_timeout = 8000;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* The source a connection counts under: an IPv4 address (as IPv4-mapped
 * IPv6), or the /64 of an IPv6 one (a host there may own all of it). */
static void source_of(const struct sockaddr_storage *ss, uint8_t key[16])
{
    memset(key, 0, 16);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &a->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
            memcpy(key, &a->sin6_addr, 16);
        else
            memcpy(key, &a->sin6_addr, 8);
    }
}

/* Unproved connections still in the handshake from src, and the oldest of
 * them in *oldest (the list is newest first). Call with g->mu held. */
static unsigned shaking_from(struct mbx_gateway *g, const uint8_t src[16], struct conn **oldest)
{
    unsigned n = 0;
    *oldest = NULL;
    for (struct conn *k = g->conns; k; k = k->next)
        if (!k->done && !k->evicted && !k->proved && memcmp(k->src, src, 16) == 0) {
            n++;
            *oldest = k;
        }
    return n;
}

/* The handshake to end to make room for a new connection: the oldest of
 * the source (source_of) with the most under way, so that a flood from
 * one place ends its own handshakes, not others' (ending the oldest of
 * all let 1000 idle connections a second keep every client out). NULL:
 * none under way. Call with g->mu held. */
static struct conn *handshake_to_end(struct mbx_gateway *g)
{
    struct conn *pick = NULL;
    unsigned most = 0;
    for (struct conn *k = g->conns; k; k = k->next) {
        if (k->done || k->evicted || k->proved)
            continue;
        struct conn *theirs;
        unsigned n = shaking_from(g, k->src, &theirs);
        if (n > most) {
            most = n;
            pick = theirs;
        }
    }
    return pick;
}

static void *acceptor_main(void *arg)
{
    pthread_setname_np(pthread_self(), "mbx-gw-accept"); /* for top -H, perf, gdb */
    struct mbx_gateway *g = arg;
    int64_t journal_at = 0; /* the last try at dead gateways' journals */
    for (;;) {
        struct pollfd p[2] = {{g->lfd, POLLIN, 0}, {g->wake[0], POLLIN, 0}};
        poll(p, 2, 1000);
        pthread_mutex_lock(&g->mu);
        int stopping = g->stopping;
        reap(g);
        if (!stopping)
            expire(g, 0);
        pthread_mutex_unlock(&g->mu);
        if (stopping)
            break;
        /* A dead gateway's held message whose mailbox was full at our
         * start: put back once there is room (before: it waited for the
         * next start, and tcp_chaos_test, whose sender keeps the mailbox
         * full, counted it lost). */
        if (held_journal_again() && clock_now_ns() - journal_at >= 1000000000ll) {
            journal_at = clock_now_ns();
            held_journal_recover();
        }
        if (!(p[0].revents & POLLIN))
            continue;
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof(peer);
        memset(&peer, 0, sizeof(peer));
        int fd = accept4(g->lfd, (struct sockaddr *)&peer, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                /* Out of descriptors, a session that lingers gives its
                 * own back; else (or out of memory) the connection stays
                 * in the backlog: wait a while (still hearing
                 * mbx_gateway_stop) rather than try again at once. */
                pthread_mutex_lock(&g->mu);
                int ended = (e == EMFILE || e == ENFILE) && !g->stopping && expire_oldest(g);
                pthread_mutex_unlock(&g->mu);
                struct pollfd w = {g->wake[0], POLLIN, 0};
                if (!ended)
                    poll(&w, 1, ACCEPT_BACKOFF_MS);
            }
            continue;
        }
        /* Anyone who can reach the port can connect before proving
         * anything: caps keep a flood from taking every thread, and
         * connections still in their handshake from taking every slot
         * (HANDSHAKES_MAX, HANDSHAKES_PER_SOURCE). Over a cap a handshake
         * ends (handshake_to_end; its socket shut down: its own thread
         * ends it); with none, the new connection is refused. */
        uint8_t src[16];
        source_of(&peer, src);
        unsigned n = 0, all = 0, shaking = 0;
        pthread_mutex_lock(&g->mu);
        for (struct conn *k = g->conns; k; k = k->next) {
            all++;
            if (k->done || k->evicted)
                continue;
            n++;
            shaking += !k->proved;
        }
        int refuse = all >= CONNS_MAX + HANDSHAKES_MAX; /* the ended ones' threads too */
        int over = n >= CONNS_MAX || shaking >= HANDSHAKES_MAX;
        struct conn *oldest = refuse || !over ? NULL : handshake_to_end(g);
        if (!refuse && over) {
            if (oldest) {
                oldest->evicted = 1;
                pthread_mutex_lock(&oldest->mu);
                mark_dead(oldest);
                shutdown(oldest->fd, SHUT_RDWR);
                pthread_cond_broadcast(&oldest->cv);
                pthread_mutex_unlock(&oldest->mu);
            } else {
                refuse = 1;
            }
        }
        pthread_mutex_unlock(&g->mu);
        if (refuse) {
            close(fd);
            continue;
        }
        keepalive(fd);
        struct conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        c->g = g;
        c->fd = fd;
        memcpy(c->src, src, sizeof(c->src));
        c->io = (struct io){fd, NULL, &c->iolock};
        c->max_body = WIRE_HANDSHAKE;
        pthread_mutex_init(&c->mu, NULL);
        pthread_mutex_init(&c->iolock, NULL);
        clock_cond_init(&c->cv);
        pthread_mutex_lock(&g->mu);
        if (pthread_create(&c->worker, NULL, worker_main, c) != 0) {
            pthread_mutex_unlock(&g->mu);
            pthread_mutex_destroy(&c->iolock);
            pthread_mutex_destroy(&c->mu);
            pthread_cond_destroy(&c->cv);
            close(fd);
            free(c);
            continue;
        }
        c->next = g->conns;
        g->conns = c;
        pthread_mutex_unlock(&g->mu);
    }
    return NULL;
}

EXPORT void mbx_gateway_options_init(mbx_gateway_options *o)
{
    if (!o)
        return; /* as mbx_attr_init: a NULL is no crash */
    memset(o, 0, sizeof(*o));
    o->size = sizeof(*o);
    o->linger_ms = 30000;
}

static void free_allow(struct mbx_gateway *g)
{
    for (size_t i = 0; i < g->nallow; i++)
        free(g->allow[i]);
    free(g->allow);
}

/* Starts the acceptor with every signal blocked from its first
 * instruction, as the connections' threads it starts inherit: the
 * program's handlers run on its own threads. A handler that ran on a
 * gateway's thread ended the wait of a client's receive, call or
 * confirmed send there with -EINTR, and the client was told -EINTR
 * though no signal came its way (a call's request taken back, or taken
 * and its reply dropped). Returns 0 or -EAGAIN. */
static int acceptor_start(struct mbx_gateway *g)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = pthread_create(&g->acceptor, NULL, acceptor_main, g) ? -EAGAIN : 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}

/* The size of mbx_gateway_options before TLS: a program built then still
 * starts its gateway. */
#define OPTIONS_V1_SIZE offsetof(mbx_gateway_options, tls_cert)

EXPORT int mbx_gateway_start(const char *listen_addr, const mbx_gateway_options *opts_in,
                             mbx_gateway **out)
{
    if (!listen_addr || !opts_in || !out || opts_in->size < OPTIONS_V1_SIZE)
        return -EINVAL;
    mbx_gateway_options o;
    const mbx_gateway_options *opts = &o;
    mbx_gateway_options_init(&o);
    memcpy(&o, opts_in, opts_in->size < sizeof(o) ? opts_in->size : sizeof(o));
    /* A program built with later fields: refused when it set any of them
     * (a setting this library would silently not honour), taken when not. */
    for (size_t i = sizeof(o); i < opts_in->size; i++)
        if (((const uint8_t *)opts_in)[i])
            return -EINVAL;
    /* Never a listener that takes clients who proved nothing: the secret,
     * or client certificates when it is waived; TLS settings whole. */
    if (!o.allow || !o.allow[0] || !o.tls_cert != !o.tls_key || (o.tls_client_ca && !o.tls_cert) ||
        (o.flags & ~MBX_GATEWAY_NO_SECRET) ||
        ((o.flags & MBX_GATEWAY_NO_SECRET) && !o.tls_client_ca) || o.reserved)
        return -EINVAL;
    struct mbx_gateway *g = calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;
    g->lfd = -1;
    g->wake[0] = g->wake[1] = -1;
    g->linger_ns = (int64_t)(opts->linger_ms ? opts->linger_ms : 30000) * 1000000;
    g->sessions_max = opts->sessions_max ? opts->sessions_max : SESSIONS_MAX;
    /* Read by setting a stricter one for an instant: a file another
     * thread makes meanwhile only gets fewer rights. */
    g->umask = umask(077);
    umask(g->umask);
    size_t n = 0;
    while (opts->allow[n])
        n++;
    g->allow = calloc(n, sizeof(char *));
    int r = g->allow ? 0 : -ENOMEM;
    for (size_t i = 0; !r && i < n; i++) {
        g->allow[i] = strdup(opts->allow[i]);
        if (!g->allow[i])
            r = -ENOMEM;
        g->nallow = i + 1;
    }
    g->no_secret = (opts->flags & MBX_GATEWAY_NO_SECRET) != 0;
    if (!r && !g->no_secret)
        r = secret_load(opts->secret_file, opts->secret_file == NULL, &g->secret);
    if (!r && opts->tls_cert)
        g->tls_ctx = tls_server_ctx(opts->tls_cert, opts->tls_key, opts->tls_client_ca, &r);
    if (!r) {
        g->lfd = sock_listen(listen_addr, &g->port);
        if (g->lfd < 0)
            r = g->lfd;
    }
    if (!r && pipe2(g->wake, O_CLOEXEC))
        r = -errno;
    if (!r) {
        pthread_mutex_init(&g->mu, NULL);
        pthread_cond_init(&g->cv, NULL);
        /* What gateways killed here held goes back before clients come. */
        held_journal_recover();
        r = acceptor_start(g);
    }
    if (r) {
        if (g->lfd >= 0)
            close(g->lfd);
        if (g->wake[0] >= 0) {
            close(g->wake[0]);
            close(g->wake[1]);
        }
        free_allow(g);
        tls_ctx_free(g->tls_ctx);
        explicit_bzero(&g->secret, sizeof(g->secret));
        free(g);
        return r;
    }
    hosts_hold();
    *out = g;
    return 0;
}

EXPORT int mbx_gateway_port(const mbx_gateway *g)
{
    return g ? g->port : -EINVAL;
}

/* Whether a connection serves a session that holds a message (the
 * client may have it, its TAKEN on the way): until grace_end, or, while
 * the message's frame is on its way on that living link, until its
 * client must have it or have given the link up (held_due). Call with
 * g->mu held. */
static int confirmation_awaited(struct mbx_gateway *g, int64_t grace_end)
{
    int64_t now = clock_now_ns();
    for (struct session *s = g->sessions; s; s = s->next) {
        if (!s->busy || !__atomic_load_n(&s->held, __ATOMIC_ACQUIRE))
            continue;
        int64_t due = __atomic_load_n(&s->held_due, __ATOMIC_ACQUIRE);
        if (now < grace_end || (due && now < due))
            return 1;
    }
    return 0;
}

/* A stopping gateway lets the links of sessions that hold a message live
 * up to STOP_GRACE_NS (two dead-link bounds: a message on its way to the
 * client, and its TAKEN back), reading and serving only confirmations and
 * goodbyes (link_ending), before it cuts them and puts what is still held
 * back. It cut them at once: a client that had just taken the message
 * and closed had its TAKEN and BYE still on the way, the message went
 * back, and another receiver had it a second time. A link whose message
 * is still on its way lives longer, as long as its client may take to
 * have it (msg_due): a large one on a slow link, cut after 2 s, went on
 * from the socket's buffers all the same, and was delivered twice too.
 * Call with g->mu held. */
#define STOP_GRACE_NS (2 * TCP_TICK_NS * TCP_DEAD_TICKS)
static void stop_grace(struct mbx_gateway *g)
{
    int64_t dl = clock_deadline(STOP_GRACE_NS);
    while (confirmation_awaited(g, dl)) {
        /* A TAKEN served signals nothing: look again in a while. */
        int64_t until = clock_now_ns() + 20 * 1000000ll;
        struct timespec ts = {until / 1000000000, until % 1000000000};
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    }
}

/* Puts back every message the sessions hold, waiting for room in their
 * full mailboxes up to STOP_PUT_BACK_NS in all (in slices, in turn, so
 * that one full mailbox does not keep the others' messages out), then
 * ends every session. Returns how many held messages could not go back
 * (lost). A session's held message used to go back only when its mailbox
 * had room at that instant, and was dropped otherwise, without a word.
 * Call with g->mu held and no connection left. */
#define STOP_PUT_BACK_NS (10 * 1000000000ll)
static unsigned stop_put_back(struct mbx_gateway *g)
{
    int64_t dl = clock_deadline(STOP_PUT_BACK_NS);
    for (;;) {
        int waiting = 0;
        for (struct session *s = g->sessions; s; s = s->next) {
            int64_t left = clock_remaining(dl);
            waiting |= put_back_within(s, left < SLICE_NS ? left : SLICE_NS) != 0;
        }
        if (!waiting || clock_remaining(dl) == 0)
            break;
    }
    return expire(g, 1);
}

/* Cuts every link and waits for its threads. Call with g->mu held. */
static void stop_links(struct mbx_gateway *g)
{
    for (struct conn *c = g->conns; c; c = c->next) {
        pthread_mutex_lock(&c->mu);
        mark_dead(c);
        shutdown(c->fd, SHUT_RDWR);
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    while (g->conns) {
        reap(g);
        if (g->conns)
            pthread_cond_wait(&g->cv, &g->mu);
    }
}

/* Returns 0, or -ETIMEDOUT when a held message could not go back to its
 * mailbox, full for STOP_PUT_BACK_NS (stop_put_back): it is lost, and the
 * gateway is stopped and freed all the same. */
EXPORT int mbx_gateway_stop(mbx_gateway *g)
{
    if (!g)
        return -EINVAL;
    /* Nothing new is done for any client from now on (link_ending). */
    pthread_mutex_lock(&g->mu);
    __atomic_store_n(&g->stopping, 1, __ATOMIC_RELAXED); /* also read by client_gone */
    pthread_mutex_unlock(&g->mu);
    if (write(g->wake[1], "x", 1) < 0) {
        /* the acceptor looks at stopping within a second anyway */
    }
    pthread_join(g->acceptor, NULL);
    close(g->lfd); /* new clients are refused at once, not left in the backlog */
    g->lfd = -1;
    pthread_mutex_lock(&g->mu);
    stop_grace(g);
    stop_links(g);
    unsigned lost = stop_put_back(g);
    pthread_mutex_unlock(&g->mu);
    close(g->wake[0]);
    close(g->wake[1]);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free_allow(g);
    tls_ctx_free(g->tls_ctx);
    explicit_bzero(&g->secret, sizeof(g->secret));
    free(g);
    hosts_release();
    return lost ? -ETIMEDOUT : 0;
}
