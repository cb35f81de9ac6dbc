/* tcp:// handles: the session with a gateway, its link and what is in
 * flight on it (client.h). */
#include "tcp/client.h"

#include "tcp/tls.h"

#include "platform/platform.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A send the gateway has not acknowledged yet, kept to send again after
 * a reconnect. */
struct pend {
    uint64_t seq;
    uint32_t prio;
    uint64_t type;
    int sync;
    int64_t deadline; /* a waited-for send's, for the timeout sent again */
    size_t len;
    uint8_t *data;
    struct pchunk *chunk; /* where data is (NULL: a malloc of its own) */
};

/* Small payloads of pending sends are kept in 16 KiB chunks, one after
 * the other (sends are acknowledged in order, so a chunk is free again
 * soon after it is full), instead of a malloc each: one-way 64 B spent
 * about a tenth of the sender's time in malloc and free. A chunk lives
 * while it holds a pending payload; the handle keeps one spare. */
struct pchunk {
    unsigned live; /* pending payloads in it */
    size_t used;
    _Alignas(16) uint8_t data[];
};
#define PCHUNK_BYTES (16 * 1024)
#define PCHUNK_SMALL 2048 /* larger payloads get a malloc of their own */

/* pend[] is a ring of this many sends, the oldest at pend_head. */
#define PEND_SLOTS (WIRE_WINDOW_MAX + 1)

/* A buffer mbx_loan or mbx_recv_loan handed out (loans are copies here). */
struct loan {
    struct loan *next;
    int received;
    size_t len;
    _Alignas(16) uint8_t data[];
};

/* Frames waiting to be written. */
struct outbuf {
    uint8_t *p;
    size_t len, cap;
};

/* out holding this much is written by the sender itself, at once. */
#define OUT_BATCH_MAX (64 * 1024)

struct tcp_box {
    struct mbx base;
    pthread_mutex_t mu;    /* the handle: taken with box_lock */
    unsigned waiting;      /* threads in box_lock (atomic) */
    unsigned turns;        /* times mu was taken (atomic) */
    int held_waiting;      /* a call holds mu while it waits (the link, a nap; atomic) */
    pthread_cond_t pieces; /* a send in pieces ended (frag_busy went 0) */
    uint64_t gen;          /* links made and lost: a change means a new link */
    int64_t down_at;       /* when a link the gateway welcomed was last lost */
    int frag_busy;         /* a send is going out in pieces (W_FRAG) */
    unsigned reserved;     /* credit it holds (not in pend yet) */
    char host[256], port[8], box[WIRE_NAME_MAX + 1];
    int flags;
    mbx_options opts;
    struct secret secret;
    int has_secret;   /* 0: tls:// with no secret file, certificates only */
    int tls;          /* a tls:// name */
    void *tls_ctx;    /* its context (tls.h) */
    struct io io;     /* io.fd -1 while the link is down */
    uint64_t session; /* 0 until the first WELCOME */
    /* The session's key (wire version 4), agreed with the gateway when it
     * began: a resume proves it holds it (wire.h), so that another client
     * that learnt the id cannot take the session up. */
    uint8_t skey[WIRE_KX];
    int has_skey;
    uint32_t window, capacity, room;
    uint64_t max_msg;
    /* Sends: sequence numbers from 1; all up to acked are acknowledged;
     * pend holds acked+1 .. next_seq-1, in order, pend_bytes their
     * payloads. */
    uint64_t next_seq, acked;
    struct pend pend[PEND_SLOTS];
    unsigned pend_head, npend;
    struct pchunk *pcur, *pspare; /* the chunk being filled; a free one */
    size_t pend_bytes;
    /* The newest `unsent` of them (unsent_bytes of payload) are not
     * written on this link yet: after a reconnect to a gateway that takes
     * fewer (a smaller window), they go as acknowledgements make room. */
    unsigned unsent;
    size_t unsent_bytes;
    int probe;                   /* ask a gateway on this machine where the file is */
    char here[WIRE_DIR_MAX + 1]; /* its answer: the mailbox's folder */
    /* The first failure of a pipelined send not reported yet: the next
     * mbx_send (which then sends nothing) or mbx_sync returns it, once
     * (take_sticky). It used to stay for the handle's life: one -ENOSPC
     * and every later send and sync failed, the far mailbox empty. */
    int sticky;
    unsigned unlooked; /* sends since acknowledgements were last looked for */
    int draining;      /* mbx_close delivers what was sent, closing or not */
    int last_status;
    /* Requests: numbered from 1; last_req is the last one whose message
     * (a W_MSG: a received message or a call's reply) was taken here, and
     * nothing else: OPEN tells the gateway it may let go of that one. */
    uint64_t next_req, last_req;
    struct frame_buf fb; /* frames of the handshake, read one by one */
    /* Frames after it, read in batches (many acknowledgements, one
     * system call); rx is the body of the frame pump returned last, valid
     * until the next pump. */
    struct frame_reader rd;
    const uint8_t *rx;
    int64_t last_rx, last_tx, backoff;
    int fresh;           /* the link carried no frame from the gateway since WELCOME */
    int64_t welcomed_at; /* when that WELCOME came */
    struct loan *loans;
    /* Pipelined sends are not written one system call each: their frames
     * gather in out, which the flusher thread writes in batches (from
     * spare, swapped in, the handle let go meanwhile: writing). Any other
     * frame, and any wait for an answer, writes out first, so the stream
     * keeps its order. */
    struct outbuf out, spare;
    int writing;
    pthread_cond_t out_cv; /* out has frames, or the flusher must stop */
    pthread_cond_t wrote;  /* writing went 0 */
    pthread_t flusher;
    int32_t flusher_pid; /* the process whose flusher runs (0: none yet) */
    int flusher_stop;
    int flusher_asleep;     /* it waits on out_cv: a send signals it */
    pthread_mutex_t ssl_mu; /* tls://: one libssl call at a time */
    unsigned repliers;      /* mbx_reply calls writing through it (tokens_mu) */
    int32_t proc;           /* the process whose session this is */
};

static struct tcp_box *tcp_of(struct mbx *m)
{
    return (struct tcp_box *)m;
}

static void adopt_inherited(struct tcp_box *b, int32_t me);

/* Takes the handle. A send in pieces lets go of it between pieces and
 * lets a thread waiting here in first. */
static void box_lock(struct tcp_box *b)
{
    int32_t me = ident_id(ident_self());
    if (__atomic_load_n(&b->proc, __ATOMIC_ACQUIRE) != me)
        adopt_inherited(b, me);
    /* Counted as waiting only when it has to wait: a streaming sender
     * takes the handle per send, mostly free. */
    if (pthread_mutex_trylock(&b->mu) != 0) {
        __atomic_fetch_add(&b->waiting, 1, __ATOMIC_SEQ_CST);
        pthread_mutex_lock(&b->mu);
        __atomic_fetch_sub(&b->waiting, 1, __ATOMIC_SEQ_CST);
    }
    __atomic_fetch_add(&b->turns, 1, __ATOMIC_SEQ_CST);
}

/* Takes the handle unless a call holds it while it waits (a receive or a
 * call waiting for its answer, a reconnection's nap): a holder for a
 * moment (the writer thread, a send) is waited for. Returns 1, or 0. */
static int box_lock_unless_waiting(struct tcp_box *b)
{
    int32_t me = ident_id(ident_self());
    if (__atomic_load_n(&b->proc, __ATOMIC_ACQUIRE) != me)
        adopt_inherited(b, me);
    while (pthread_mutex_trylock(&b->mu) != 0) {
        if (__atomic_load_n(&b->held_waiting, __ATOMIC_ACQUIRE))
            return 0;
        sched_yield();
    }
    __atomic_fetch_add(&b->turns, 1, __ATOMIC_SEQ_CST);
    return 1;
}

/* Lets another thread that waits for the handle have it once, then takes
 * it back. */
static void box_yield(struct tcp_box *b)
{
    unsigned turns = __atomic_load_n(&b->turns, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&b->mu);
    while (__atomic_load_n(&b->waiting, __ATOMIC_SEQ_CST) &&
           __atomic_load_n(&b->turns, __ATOMIC_SEQ_CST) == turns)
        sched_yield();
    box_lock(b);
}

/* Waits (the handle let go meanwhile) until no send is in pieces, or the
 * deadline. Returns 0 or -ETIMEDOUT. */
static int pieces_wait(struct tcp_box *b, int64_t deadline)
{
    while (b->frag_busy) {
        if (deadline >= 0 && clock_remaining(deadline) == 0)
            return -ETIMEDOUT;
        int64_t until = deadline >= 0 ? deadline : clock_deadline(TCP_TICK_NS);
        struct timespec ts = {until / 1000000000, until % 1000000000};
        pthread_cond_timedwait(&b->pieces, &b->mu, &ts);
    }
    return 0;
}

int tcp_parse(const char *name, char *host, size_t hostcap, char *port, size_t portcap, char *box,
              size_t boxcap)
{
    if (strncmp(name, "tcp://", 6) != 0 && strncmp(name, "tls://", 6) != 0)
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
    if (bn == 0)
        return -EINVAL;
    if (bn > WIRE_NAME_MAX || bn >= boxcap)
        return -ENAMETOOLONG;
    memcpy(box, slash + 1, bn + 1);
    return 0;
}

/* ---- the link ---- */

/* This thread's call waits so that a signal handler that runs meanwhile
 * ends it with -EINTR, as on a local mailbox: a receive or a call (while
 * it waits for the answer or for the link to be made again), a send
 * before its message is queued (send_intr). Per thread, not per handle:
 * the handler runs on the thread that waits, and a handle's other thread
 * may take the handle while this one waits for the flusher (b->wrote),
 * where a per-handle flag was cleared under it, or leaked into a send
 * that was written and waits for its answer (whose outcome an -EINTR
 * would leave unknown). */
static MBX_TLS int intr_here;

static void link_down(struct tcp_box *b)
{
    /* The flusher may be writing on the descriptor: cut it short, and let
     * it finish before the number can go to another file. */
    if (b->writing && b->io.fd >= 0)
        shutdown(b->io.fd, SHUT_RDWR);
    while (b->writing)
        pthread_cond_wait(&b->wrote, &b->mu);
    /* What was buffered is lost with the link: pending sends go again
     * after the reconnect, requests are asked again by their callers. */
    b->out.len = 0;
    b->rd.start = b->rd.end = 0; /* the rest of the old stream */
    if (b->io.fd >= 0) {
        b->gen++;
        if (b->welcomed_at > b->down_at) /* not a try at a new link that failed */
            b->down_at = clock_now_ns();
    }
    tls_end(&b->io);
    if (b->io.fd >= 0)
        close(b->io.fd);
    b->io.fd = -1;
}

/* Writes what out holds (after the flusher's batch, if it is writing
 * one). Returns 0, or -EPIPE with the link down. */
static int out_flush(struct tcp_box *b)
{
    while (b->writing)
        pthread_cond_wait(&b->wrote, &b->mu);
    if (!b->out.len)
        return 0;
    if (b->io.fd < 0) {
        b->out.len = 0;
        return -EPIPE;
    }
    /* A peer that takes nothing for a whole dead-link period is gone; one
     * that takes a large call or reply slowly is not. */
    int r = io_write_all_stall(&b->io, b->out.p, b->out.len, TCP_TICK_NS * TCP_DEAD_TICKS);
    b->out.len = 0;
    if (r) {
        link_down(b);
        return -EPIPE;
    }
    b->last_tx = clock_now_ns();
    return 0;
}

/* Appends a frame to out. Returns 0 or -ENOMEM. */
static int out_add(struct tcp_box *b, uint8_t type, uint8_t flags, uint64_t id, const void *fixed,
                   size_t flen, const void *payload, size_t plen)
{
    size_t need = b->out.len + WIRE_HDR + flen + plen;
    if (need > b->out.cap) {
        size_t cap = b->out.cap ? b->out.cap : 4096;
        while (cap < need)
            cap *= 2;
        uint8_t *p = realloc(b->out.p, cap);
        if (!p)
            return -ENOMEM;
        b->out.p = p;
        b->out.cap = cap;
    }
    struct wire_hdr h = {(uint32_t)(flen + plen), type, flags, id};
    uint8_t *at = b->out.p + b->out.len;
    wire_hdr_put(at, &h);
    if (flen)
        memcpy(at + WIRE_HDR, fixed, flen);
    if (plen)
        memcpy(at + WIRE_HDR + flen, payload, plen);
    b->out.len = need;
    return 0;
}

/* A batch this large says the sender is streaming; no frame to write for
 * this long says it stopped. */
#define HOT_BATCH_BYTES 1024
#define COOLED_NS       1000000

/* Waits, with b->mu held, until there is a batch to write or the flusher
 * must stop. *gathering: the thread is in gather mode; a wait that finds
 * nothing for COOLED_NS leaves it. */
static void flusher_wait(struct tcp_box *b, int *gathering)
{
    while (!b->flusher_stop && (!b->out.len || b->writing || b->io.fd < 0)) {
        b->flusher_asleep = 1;
        if (!*gathering) {
            pthread_cond_wait(&b->out_cv, &b->mu);
            b->flusher_asleep = 0;
            continue;
        }
        int64_t until = clock_deadline(COOLED_NS);
        struct timespec ts = {until / 1000000000, until % 1000000000};
        /* Nothing written for that long (nothing to write, or the link is
         * down): not streaming. */
        int timed_out = pthread_cond_timedwait(&b->out_cv, &b->mu, &ts) == ETIMEDOUT;
        b->flusher_asleep = 0;
        if (timed_out) {
            pthread_mutex_unlock(&b->mu);
            thread_normal_mode();
            pthread_mutex_lock(&b->mu);
            *gathering = 0;
        }
    }
}

/* Writes the batches of pipelined sends, each with one system call (or a
 * few, for a batch larger than the socket takes at once).
 *
 * While the sender streams, the writer gathers (thread_gather_mode):
 * woken on a busy machine, it waits for the sender's CPU rather than
 * taking it, the sender adds to the batch meanwhile, and batches go out in
 * fewer, larger writes (one-way 64 B through a gateway on 2 CPUs, mailbox
 * of 1024: 2.2-2.3M -> 3.0-3.3M msg/s; of 64: 0.79-0.81M -> 1.0-1.5M).
 * Only while it streams: a writer that always gathered left a lone send
 * unwritten for milliseconds, until a scheduler tick, when the sender
 * went on computing (or polling) with no CPU idle (found in review). So it
 * gathers after a batch of HOT_BATCH_BYTES, and stops after COOLED_NS with
 * nothing to write; a send after a pause is written at once. The sender
 * still writes by itself past OUT_BATCH_MAX, and any call that waits for
 * an answer writes first (out_flush). */
static void *flusher_main(void *arg)
{
    pthread_setname_np(pthread_self(), "mbx-tcp-flush"); /* for top -H, perf, gdb */
    struct tcp_box *b = arg;
    int gathering = 0, can_gather = 1;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        flusher_wait(b, &gathering);
        if (b->flusher_stop)
            break;
        struct outbuf batch = b->out;
        b->out = b->spare;
        b->out.len = 0;
        b->writing = 1;
        uint64_t gen = b->gen;
        struct io io = b->io;
        pthread_mutex_unlock(&b->mu);
        if (!gathering && can_gather && batch.len >= HOT_BATCH_BYTES) {
            gathering = thread_gather_mode() == 0;
            can_gather = gathering; /* refused once (one CPU, a policy of its own): for good */
        }
        int r = io_write_all_stall(&io, batch.p, batch.len, TCP_TICK_NS * TCP_DEAD_TICKS);
        pthread_mutex_lock(&b->mu);
        batch.len = 0;
        b->spare = batch;
        b->writing = 0;
        pthread_cond_broadcast(&b->wrote);
        if (!r)
            b->last_tx = clock_now_ns();
        else if (b->gen == gen)
            link_down(b); /* the next call reconnects and sends again */
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* Hands out to the flusher (started on first use, again in a forked
 * child, which has no thread of its parent's: forked()). Returns 0, or -1
 * when there is no flusher: the caller writes out itself. */
static int flusher_kick(struct tcp_box *b)
{
    int32_t me = ident_id(ident_self());
    if (b->flusher_pid != me) {
        b->flusher_stop = 0;
        if (pthread_create(&b->flusher, NULL, flusher_main, b) != 0)
            return -1;
        b->flusher_pid = me;
    }
    /* Only a flusher that sleeps needs the signal (a signal per send, to
     * a thread busy writing, cost a streaming sender 2-3% of its time). */
    if (b->flusher_asleep) {
        b->flusher_asleep = 0;
        pthread_cond_signal(&b->out_cv);
    }
    return 0;
}

/* When a frame is written. */
enum frame_when {
    FRAME_NOW,    /* at once, after what out holds */
    FRAME_LATER,  /* a pipelined send's: in the flusher's next batch */
    FRAME_GATHER, /* kept in out: the caller writes out itself */
};

/* Writes a frame as when says. Returns 0, -EPIPE (the link is down),
 * -ENOMEM. */
static int put_frame_as(struct tcp_box *b, enum frame_when when, uint8_t type, uint8_t flags,
                        uint64_t id, const void *fixed, size_t flen, const void *payload,
                        size_t plen)
{
    if (b->io.fd < 0)
        return -EPIPE;
    int r = out_add(b, type, flags, id, fixed, flen, payload, plen);
    if (r)
        return r;
    if (when == FRAME_GATHER ||
        (when == FRAME_LATER && b->out.len < OUT_BATCH_MAX && flusher_kick(b) == 0))
        return 0;
    return out_flush(b);
}

static int put_frame(struct tcp_box *b, uint8_t type, uint8_t flags, uint64_t id, const void *fixed,
                     size_t flen, const void *payload, size_t plen)
{
    return put_frame_as(b, FRAME_NOW, type, flags, id, fixed, flen, payload, plen);
}

/* Where a payload of len bytes sent in pieces ends its pieces: the rest
 * (1 to WIRE_FRAG_MAX bytes) goes in the W_SEND. */
static size_t pieces_end(size_t len)
{
    return len <= WIRE_FRAG_MAX ? 0 : (len - 1) / WIRE_FRAG_MAX * WIRE_FRAG_MAX;
}

/* Writes the piece of p's payload at off. */
static int put_piece(struct tcp_box *b, const struct pend *p, size_t off)
{
    struct wire_frag f = {p->len, off};
    uint8_t fixed[WIRE_FRAG_LEN];
    size_t n = p->len - off < WIRE_FRAG_MAX ? p->len - off : WIRE_FRAG_MAX;
    return put_frame(b, W_FRAG, 0, 0, fixed, wire_frag_put(fixed, &f), p->data + off, n);
}

/* Writes p's W_SEND: whole, or (a large payload) its last part after the
 * pieces, which the caller wrote on this same link. */
static int put_send_end(struct tcp_box *b, const struct pend *p, enum frame_when when)
{
    struct wire_send ws = {p->prio, p->type, -1};
    if (p->sync) {
        int64_t left = clock_remaining(p->deadline);
        ws.timeout_ns = left;
    }
    uint8_t fixed[WIRE_SEND_LEN];
    size_t fl = wire_send_put(fixed, &ws), end = pieces_end(p->len);
    uint8_t flags = (uint8_t)((p->sync ? WF_SYNC : 0) | (end ? WF_FRAGS : 0));
    return put_frame_as(b, when, W_SEND, flags, p->seq, fixed, fl, p->data + end, p->len - end);
}

/* Writes a send, its pieces first when it is large, all at once (the
 * handle held throughout: after a reconnect, or when it waits anyway). */
static int put_send(struct tcp_box *b, const struct pend *p, enum frame_when when)
{
    for (size_t off = 0, end = pieces_end(p->len); off < end; off += WIRE_FRAG_MAX)
        if (put_piece(b, p, off))
            return -EPIPE;
    return put_send_end(b, p, when);
}

/* The i-th oldest pending send. */
static struct pend *pend_at(struct tcp_box *b, unsigned i)
{
    return &b->pend[(b->pend_head + i) % PEND_SLOTS];
}

/* Copies len bytes of buf for p (p->data, p->chunk): into the chunk being
 * filled when small. Returns 0 or -ENOMEM. */
static int payload_keep(struct tcp_box *b, struct pend *p, const void *buf, size_t len)
{
    size_t need = (len + 15) & ~(size_t)15;
    p->chunk = NULL;
    if (len <= PCHUNK_SMALL) {
        if (b->pcur && b->pcur->used + need > PCHUNK_BYTES) {
            if (!b->pcur->live) {
                b->pcur->used = 0; /* nothing pending in it: fill it again */
            } else {
                b->pcur = NULL; /* freed by its last payload's payload_free */
            }
        }
        if (!b->pcur) {
            b->pcur = b->pspare ? b->pspare : malloc(sizeof(struct pchunk) + PCHUNK_BYTES);
            b->pspare = NULL;
            if (b->pcur) {
                b->pcur->live = 0;
                b->pcur->used = 0;
            }
        }
        if (b->pcur) {
            p->chunk = b->pcur;
            p->data = b->pcur->data + b->pcur->used;
            b->pcur->used += need;
            b->pcur->live++;
        }
    }
    if (!p->chunk) {
        p->data = malloc(len ? len : 1);
        if (!p->data)
            return -ENOMEM;
    }
    memcpy(p->data, buf, len);
    return 0;
}

/* Lets go of p's payload. */
static void payload_free(struct tcp_box *b, struct pend *p)
{
    struct pchunk *c = p->chunk;
    if (!c) {
        free(p->data);
    } else if (--c->live == 0) {
        if (c == b->pcur)
            c->used = 0;
        else if (!b->pspare)
            b->pspare = c;
        else
            free(c);
    }
    p->data = NULL;
    p->chunk = NULL;
}

/* Forgets the k oldest pending sends (an acknowledgement covers a run of
 * them). */
static void pend_drop(struct tcp_box *b, unsigned k)
{
    for (unsigned i = 0; i < k; i++) {
        struct pend *p = pend_at(b, i);
        b->pend_bytes -= p->len;
        payload_free(b, p);
    }
    b->pend_head = (b->pend_head + k) % PEND_SLOTS;
    b->npend -= k;
}

/* Keeps p as the newest pending send. */
static void pend_push(struct tcp_box *b, const struct pend *p)
{
    *pend_at(b, b->npend++) = *p;
    b->pend_bytes += p->len;
}

/* The handle's conditions, new (at open, and in a forked child, where the
 * copies may hold the parent's waiters). */
static void box_conds_init(struct tcp_box *b)
{
    clock_cond_init(&b->pieces);
    clock_cond_init(&b->out_cv); /* timed waits: flusher_wait */
    pthread_cond_init(&b->wrote, NULL);
}

/* Serializes the adoption of inherited handles in a forked child; made
 * new in every child (tcp_fork_child), since the fork may come while a
 * thread of the parent holds it. */
static pthread_mutex_t inherit_mu = PTHREAD_MUTEX_INITIALIZER;

static void tcp_fork_child(void)
{
    pthread_mutex_init(&inherit_mu, NULL);
}

/* A forked child's first call on an inherited handle: the link and the
 * session are the parent's (one stream, one run of sequence numbers: the
 * gateway would take the child's sends for the parent's, and drop one
 * side's as done already), and so are the sends it has pending. The child
 * lets go of its copies without a word on the link (no BYE, no TLS
 * close; the parent's stream goes on) and opens a session of its own at
 * its next call. A thread of the parent may have held the handle, or been
 * writing through libssl, when the process forked: that thread does not
 * exist here, its locks stay taken in the copies, and what it was changing
 * may be half changed. So the locks are made new, and what such a thread
 * may have been changing is left behind, not freed (a bounded leak in
 * that child: the pending sends, the output buffers, the TLS state).
 * consistent: nobody held the handle at the fork; ssl_ok: nobody was in
 * libssl on it. */
static void forked(struct tcp_box *b, int consistent, int ssl_ok)
{
    if (b->writing || !consistent) /* the flusher was writing spare */
        b->spare = (struct outbuf){NULL, 0, 0};
    b->writing = 0;
    b->flusher_pid = 0;
    b->flusher_asleep = 0;
    b->frag_busy = 0;
    b->reserved = 0;
    box_conds_init(b);
    if (consistent) {
        b->out.len = 0;
        b->rd.start = b->rd.end = 0;
    } else {
        b->out = (struct outbuf){NULL, 0, 0};
        b->rd = (struct frame_reader){.p = NULL};
    }
    if (b->io.fd >= 0) {
        if (ssl_ok)
            tls_end(&b->io); /* frees the copy; sends nothing */
        b->io.ssl = NULL;
        close(b->io.fd);
        b->io.fd = -1;
        b->gen++;
    }
    if (consistent)
        pend_drop(b, b->npend);
    else
        b->pcur = b->pspare = NULL; /* left behind with the sends */
    b->npend = 0;
    b->pend_head = 0;
    b->pend_bytes = 0;
    b->unsent = 0;
    b->unsent_bytes = 0;
    b->session = 0;
    b->has_skey = 0;
    b->next_seq = 1;
    b->acked = 0;
    b->next_req = 1;
    b->last_req = 0;
    b->sticky = 0;
}

/* Makes an inherited handle this (forked) process's: see forked(). */
static void adopt_inherited(struct tcp_box *b, int32_t me)
{
    pthread_mutex_lock(&inherit_mu);
    if (__atomic_load_n(&b->proc, __ATOMIC_ACQUIRE) != me) {
        int consistent = pthread_mutex_trylock(&b->mu) == 0;
        int ssl_ok = !b->tls || pthread_mutex_trylock(&b->ssl_mu) == 0;
        pthread_mutex_init(&b->mu, NULL);
        pthread_mutex_init(&b->ssl_mu, NULL);
        b->waiting = 0;
        forked(b, consistent, ssl_ok);
        __atomic_store_n(&b->proc, me, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&inherit_mu);
}

/* How many of the oldest pending sends have sequence numbers up to seq. */
static unsigned pend_upto(struct tcp_box *b, uint64_t seq)
{
    unsigned k = 0;
    while (k < b->npend && pend_at(b, k)->seq <= seq)
        k++;
    return k;
}

/* Writes the oldest pending sends not written on this link yet, as many as
 * its window and WIRE_WINDOW_BYTES take (at least one). A gateway reads
 * no further ahead than the window it gave: one that gives a smaller
 * window than the sends pending (an older gateway after a restart) would
 * cut the link at each resend, for ever. */
static void write_unsent(struct tcp_box *b, enum frame_when when)
{
    while (b->unsent && b->io.fd >= 0) {
        unsigned written = b->npend - b->unsent;
        const struct pend *p = pend_at(b, written);
        size_t bytes = b->pend_bytes - b->unsent_bytes;
        if (written && (written >= b->window || bytes + p->len > WIRE_WINDOW_BYTES))
            break;
        b->unsent--;
        b->unsent_bytes -= p->len;
        put_send(b, p, when);
    }
}

/* After a WELCOME: forgets what the gateway finished, sends the rest again
 * in order. */
static void resend(struct tcp_box *b, const struct wire_welcome *w, int resumed)
{
    unsigned done = resumed ? pend_upto(b, w->last_seq) : 0;
    if (done) {
        const struct pend *last = pend_at(b, done - 1);
        if (last->seq == w->last_seq) {
            b->last_status = w->last_status;
            /* A pipelined send's failure whose ACK died in the cut: the
             * gateway names the oldest one we may have missed; it is
             * reported as any other (sticky). It only set last_status,
             * which a pipelined send's caller never reads. */
            if (w->last_status && !last->sync && !b->sticky)
                b->sticky = w->last_status;
        }
        b->acked = last->seq;
        pend_drop(b, done);
    }
    /* Gathered in out and written together (the pieces of a large one go
     * at once, after what is gathered before them), as many as this link's
     * window takes: the rest as acknowledgements come. */
    if (resumed && w->last_status) /* have it: the gateway may forget it */
        put_frame_as(b, FRAME_GATHER, W_PING, 0, w->last_seq, NULL, 0, NULL, 0);
    b->unsent = b->npend;
    b->unsent_bytes = b->pend_bytes;
    write_unsent(b, FRAME_GATHER);
    out_flush(b);
}

/* Returned by dial() after a probe: the gateway is on this machine and
 * b->here names the mailbox's folder. */
#define DIAL_HERE 1

/* After a probe's WELCOME: the gateway's W_HERE. Returns DIAL_HERE when
 * the gateway runs on this very boot of this machine and its mailboxes'
 * folder is the very folder this process sees under that path, else
 * -ENOTSUP. A gateway in another mount namespace (a container, unshare
 * -m) shares the boot id, not the files: a folder of the same name here
 * is another one, and messages written there never reached its mailbox
 * (found by an attacker review; the client even created the mailbox
 * there when it opened with MBX_CREATE). */
static int read_here(struct tcp_box *b, int64_t hs)
{
    struct wire_hdr h;
    uint8_t boot[WIRE_BOOT_ID];
    uint64_t mine[2], dir_id[2], seen[2];
    int r = io_frame_read(&b->io, &h, &b->fb, WIRE_HANDSHAKE, hs);
    if (!r && (h.type != W_HERE || wire_here_get(b->fb.p, h.len, boot, dir_id, b->here)))
        r = -EPROTO;
    link_down(b);
    if (r || !plat_boot_id(mine) || memcmp(mine, boot, sizeof(boot)) != 0)
        return -ENOTSUP;
    if (plat_dir_id(b->here, seen) || seen[0] != dir_id[0] || seen[1] != dir_id[1])
        return -ENOTSUP;
    return DIAL_HERE;
}

/* One attempt at the link and the handshake. Returns 0, DIAL_HERE (a
 * probe found the gateway here), or -errno: the gateway's answer to the
 * open, or why the link could not be made. */
static int dial(struct tcp_box *b, int64_t deadline)
{
    int64_t hs = clock_deadline(5000000000ll);
    if (deadline >= 0 && deadline < hs)
        hs = deadline;
    int fd = sock_connect(b->host, b->port, hs);
    if (fd < 0)
        return fd;
    /* Over TLS the flusher writes while a call reads: libssl is told one
     * call at a time. */
    b->io = (struct io){fd, NULL, b->tls ? &b->ssl_mu : NULL};
    struct wire_hdr h;
    struct wire_hello hello;
    int r = io_frame_read(&b->io, &h, &b->fb, WIRE_HANDSHAKE, hs);
    if (!r && (h.type != W_HELLO || wire_hello_get(b->fb.p, h.len, &hello)))
        r = -EPROTO;
    if (!r && hello.version < WIRE_VERSION_MIN)
        r = -EPROTONOSUPPORT;
    /* TLS or not is the name's to say: a gateway that answers otherwise is
     * refused, never followed (no downgrade, no surprise). */
    if (!r && !!(h.flags & WF_TLS) != b->tls)
        r = -EPROTONOSUPPORT;
    if (!r && b->tls) {
        r = tls_connect(&b->io, b->tls_ctx, b->host, hs);
        if (!r)
            r = io_frame_read(&b->io, &h, &b->fb, WIRE_HANDSHAKE, hs);
        /* A gateway that refuses our certificate (or wants one) says so
         * with an alert, read here. */
        if (r == -ECONNABORTED)
            r = -EACCES;
        if (!r &&
            (h.type != W_HELLO || (h.flags & WF_TLS) || wire_hello_get(b->fb.p, h.len, &hello)))
            r = -EPROTO;
        if (!r && hello.version < WIRE_VERSION_MIN)
            r = -EPROTONOSUPPORT;
    }
    /* Without TLS the MACs are the only proof, both ways. */
    int cert_auth = !r && b->tls && (h.flags & WF_CERT_AUTH);
    if (!r && !cert_auth && !b->has_secret)
        r = -EACCES;
    /* The lower of the two versions is spoken on this link. */
    uint32_t version = hello.version < WIRE_VERSION ? hello.version : WIRE_VERSION;
    struct wire_open o = {.version = version,
                          .session = b->session,
                          .last_req = b->last_req,
                          .flags = (uint32_t)b->flags,
                          .opts = b->opts};
    /* A gateway on this machine: ask where the file is, to skip it. */
    int probe = b->probe && !b->session && sock_is_local(fd);
    if (probe)
        o.flags |= WIRE_OPEN_PROBE;
    snprintf(o.name, sizeof(o.name), "%s", b->box);
    if (!r)
        r = auth_random(o.nonce, sizeof(o.nonce));
    /* Version 4: a fresh key pair (a new session's key is agreed with it),
     * and the proof of the session's key for a resume. */
    void *kx = NULL;
    if (!r && version >= 4) {
        kx = auth_kx_new(o.kx);
        if (!kx)
            r = -ENOMEM;
        else if (b->session && b->has_skey)
            auth_proof(b->skey, hello.nonce, o.nonce, o.proof);
    }
    uint8_t body[WIRE_OPEN_MAX];
    if (!r) {
        if (b->has_secret)
            auth_mac(&b->secret, "mbx client", hello.nonce, o.nonce, o.mac);
        size_t n = wire_open_put(body, &o);
        r = io_frame_write(&b->io, W_OPEN, 0, 0, body, n, NULL, 0, hs);
    }
    struct wire_welcome w;
    if (!r)
        r = io_frame_read(&b->io, &h, &b->fb, WIRE_HANDSHAKE, hs);
    if (r == -ECONNABORTED)
        r = -EACCES; /* a client certificate refused after the handshake */
    if (!r && (h.type != W_WELCOME || wire_welcome_get(b->fb.p, h.len, &w)))
        r = -EPROTO;
    if (!r && w.status)
        r = w.status;
    if (!r && !cert_auth) {
        /* The gateway proves it knows the secret too. */
        uint8_t want[WIRE_MAC];
        auth_mac(&b->secret, "mbx gateway", o.nonce, hello.nonce, want);
        if (!auth_equal(want, w.mac))
            r = -EACCES;
    }
    if (!r && probe) {
        auth_kx_free(kx);
        return read_here(b, hs);
    }
    uint32_t window_max = version >= 3 ? WIRE_WINDOW_MAX : WIRE_WINDOW_V2;
    if (!r && (w.window > window_max || w.max_msg == 0 || w.max_msg > (1ull << 30)))
        r = -EPROTO;
    int resumed = !r && (h.flags & WF_RESUMED) && w.session == b->session;
    /* A new session (or one the gateway gave afresh): its key. */
    uint8_t skey[WIRE_KX];
    int has_skey = resumed && b->has_skey;
    if (!r && !resumed && version >= 4) {
        r = w.version >= 4 ? auth_kx_key(kx, w.kx, o.kx, w.kx, skey) : -EPROTO;
        has_skey = !r;
    }
    auth_kx_free(kx);
    if (r) {
        link_down(b);
        return r == -ETIMEDOUT || r == -EPIPE || r == -ECONNABORTED ? -ECONNRESET : r;
    }
    if (!resumed && has_skey)
        memcpy(b->skey, skey, sizeof(skey));
    b->has_skey = has_skey;
    b->session = w.session;
    b->window = w.window;
    b->room = w.room;
    b->capacity = w.capacity;
    b->max_msg = w.max_msg;
    b->last_rx = b->last_tx = clock_now_ns();
    b->fresh = 1; /* until the gateway says something */
    b->welcomed_at = b->last_rx;
    /* The link is made: what it carries now is not cut by a signal (a
     * frame half written). */
    sock_intr_arm(0);
    resend(b, &w, resumed);
    return b->io.fd >= 0 ? 0 : -ECONNRESET;
}

/* Errors of a reconnect that retrying cannot cure. */
static int lasting(int r)
{
    return r == -EACCES || r == -ENOENT || r == -EPROTO || r == -EPROTONOSUPPORT || r == -EINVAL ||
           r == -EPERM || r == -EIDRM || r == -ENOTSUP || r == -EBADF;
}

/* Waits the next, longer, jittered reconnect delay, at most left ns (-1:
 * no limit). */
static int backoff_nap(struct tcp_box *b, int64_t left)
{
    b->backoff = b->backoff ? b->backoff * 2 : TCP_BACKOFF_MIN;
    if (b->backoff > TCP_BACKOFF_MAX)
        b->backoff = TCP_BACKOFF_MAX;
    uint64_t rnd = 0;
    plat_random(&rnd);
    int64_t nap = b->backoff / 2 + (int64_t)(rnd % (uint64_t)(b->backoff / 2 + 1));
    if (left > 0 && nap > left)
        nap = left;
    struct timespec ts = {nap / 1000000000, nap % 1000000000};
    __atomic_store_n(&b->held_waiting, 1, __ATOMIC_RELEASE);
    int r = nanosleep(&ts, NULL) ? -errno : 0;
    __atomic_store_n(&b->held_waiting, 0, __ATOMIC_RELEASE);
    return r;
}

/* Makes the link again, with growing, jittered delays between tries, until
 * the deadline. Returns 0, -ETIMEDOUT, a lasting error, or -EINTR (intr_here:
 * a signal handler cut a delay or a try's wait short; a try the handler
 * ended is given up, one that made the link keeps it for the next call). */
static int reconnect(struct tcp_box *b, int64_t deadline)
{
    /* A link that died at once (within the first delay, before the
     * gateway said a word after WELCOME) counts as a failed try: the next
     * waits too, once, and the delay keeps growing (a gateway that takes
     * the handshake and cuts at once is not dialled in a hot loop). One
     * that lived longer, or carried a frame, starts the delays afresh. */
    int quick_death = b->fresh && clock_now_ns() - b->welcomed_at < TCP_BACKOFF_MIN;
    if (b->fresh && !quick_death)
        b->backoff = 0;
    b->fresh = 0;
    for (int tries = 0;; tries++) {
        if (__atomic_load_n(&b->base.closing, __ATOMIC_RELAXED) && !b->draining)
            return -EBADF;
        if (tries || quick_death) {
            quick_death = 0;
            int64_t left = clock_remaining(deadline);
            if (left == 0)
                return -ETIMEDOUT;
            if (backoff_nap(b, left) == -EINTR && intr_here)
                return -EINTR;
        }
        /* A try waits too (connect, the handshake: up to 5 s against a
         * gateway that hangs or a host that drops the packets): a handler
         * that ran then was lost, and a receive waited on for ever. */
        sock_intr_arm(intr_here);
        int r = dial(b, deadline);
        if (sock_intr_arm(0) && intr_here)
            return -EINTR;
        if (!r || lasting(r))
            return r;
    }
}

#define T_RECONNECTED 1

/* Reads the next frame the caller wants before the deadline, handling on
 * the way acknowledgements (h->type W_ACK is returned after each, so a
 * caller waiting for one looks again) and heartbeats; reconnects after a
 * cut. Returns 0 with *h (body at b->rx), T_RECONNECTED (the caller sends
 * its request again), -ETIMEDOUT, a lasting error, or -EINTR (intr_here set
 * and a signal handler ran while it waited). flush: first write
 * out what out holds (what the answer waits for may be there). */
static int pump_as(struct tcp_box *b, int64_t deadline, struct wire_hdr *h, int flush)
{
    /* Silence counts from when we started listening: a link nobody read
     * for a while (idle, or a send in pieces going out) is not dead for
     * that; one that says nothing (not even PONG) for a period now is. */
    int64_t since = clock_now_ns();
    for (;;) {
        if (__atomic_load_n(&b->base.closing, __ATOMIC_RELAXED) && !b->draining)
            return -EBADF;
        /* What the answer waited for may still be in out. */
        if (flush)
            out_flush(b);
        if (b->io.fd < 0) {
            int r = reconnect(b, deadline);
            return r ? r : T_RECONNECTED;
        }
        int64_t now = clock_now_ns();
        if (b->last_rx < since)
            b->last_rx = since;
        if (now - b->last_rx > TCP_TICK_NS * TCP_DEAD_TICKS) {
            link_down(b); /* silent too long: dead */
            continue;
        }
        if (now - b->last_tx >= TCP_TICK_NS && put_frame(b, W_PING, 0, 0, NULL, 0, NULL, 0))
            continue;
        int64_t until = now + TCP_TICK_NS;
        if (deadline >= 0 && deadline < until)
            until = deadline;
        uint64_t max_body = WIRE_FIXED_MAX + b->max_msg + WIRE_STATR_LEN;
        int w = 1;
        if (!reader_ready(&b->rd)) {
            __atomic_store_n(&b->held_waiting, 1, __ATOMIC_RELEASE);
            w = intr_here ? io_wait_readable_intr(&b->io, until) : io_wait_readable(&b->io, until);
            __atomic_store_n(&b->held_waiting, 0, __ATOMIC_RELEASE);
        }
        if (w == -EINTR)
            return -EINTR;
        if (w == 0) {
            if (deadline >= 0 && clock_remaining(deadline) == 0)
                return -ETIMEDOUT;
            continue;
        }
        /* Inside a frame, the same silence as between frames means a dead
         * link: a gateway that stalls half way through a frame cannot hold
         * this call (and its timeout) for longer. */
        int r = w < 0 ? -EPIPE
                      : io_reader_next_stall(&b->io, &b->rd, h, &b->rx, max_body, -1,
                                             TCP_TICK_NS * TCP_DEAD_TICKS);
        if (r) {
            if (r == -ENOMEM)
                return r;
            link_down(b);
            continue;
        }
        b->last_rx = clock_now_ns();
        b->fresh = 0;
        b->backoff = 0;
        if (h->type == W_PING) {
            put_frame(b, W_PONG, 0, 0, NULL, 0, NULL, 0);
            continue;
        }
        if (h->type == W_PONG)
            continue;
        if (h->type == W_ACK) {
            struct wire_ack a;
            /* An acknowledgement covers every pending send up to its number
             * (the gateway sends one for a run of pipelined sends); its
             * status is that of the last. */
            unsigned written = b->npend - b->unsent;
            if (wire_ack_get(b->rx, h->len, &a) || !written || h->id < pend_at(b, 0)->seq ||
                h->id > pend_at(b, written - 1)->seq) {
                link_down(b);
                continue;
            }
            unsigned k = pend_upto(b, h->id);
            int sync = k ? pend_at(b, k - 1)->sync : 0;
            pend_drop(b, k);
            write_unsent(b, FRAME_LATER); /* room on a link that took fewer */
            if (a.status && !sync) {
                if (!b->sticky)
                    b->sticky = a.status;
                /* Tells the gateway this failure (and every one before)
                 * reached us: it remembers them until then, to tell again
                 * after a cut (a PING with an id; a gateway before this
                 * answers it as a heartbeat). */
                put_frame_as(b, FRAME_LATER, W_PING, 0, h->id, NULL, 0, NULL, 0);
            }
            b->last_status = a.status;
            b->acked = h->id;
            b->room = a.room;
            return 0;
        }
        if (h->type == W_MSG || h->type == W_RESULT || h->type == W_STATR)
            return 0;
        link_down(b); /* nothing else comes from a gateway */
    }
}

static int pump(struct tcp_box *b, int64_t deadline, struct wire_hdr *h)
{
    return pump_as(b, deadline, h, 1);
}

/* How long a reply (which has no timeout) waits for a link that is down
 * to come back: about as long as its whole wait used to be. */
#define REPLY_RELINK_NS 5000000000ll

/* Grace beyond a call's own deadline for the gateway's answer: its wait
 * ends at the same moment, its answer is on the way. */
static int64_t answer_deadline(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    return deadline + TCP_TICK_NS * TCP_DEAD_TICKS;
}

/* Waits until every send is acknowledged. Returns 0, -ETIMEDOUT, or a
 * lasting error. */
static int drain(struct tcp_box *b, int64_t deadline)
{
    while (b->npend) {
        struct wire_hdr h;
        int r = pump(b, deadline, &h);
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- the transport ---- */

/* Frees a handle no thread uses any more. */
static void box_free(struct tcp_box *b)
{
    pthread_cond_destroy(&b->pieces);
    pthread_cond_destroy(&b->out_cv);
    pthread_cond_destroy(&b->wrote);
    pthread_mutex_destroy(&b->ssl_mu);
    pthread_mutex_destroy(&b->mu);
    free(b->out.p);
    free(b->spare.p);
    free(b->fb.p);
    free(b->rd.p);
    free(b->pcur); /* nothing pending in either by now */
    free(b->pspare);
    tls_ctx_free(b->tls_ctx);
    explicit_bzero(&b->secret, sizeof(b->secret));
    free(b);
}

static int tcp_open(const char *name, int flags, const mbx_options *o, struct mbx **out)
{
    extern const struct mbx_transport mbx__tcp_transport, mbx__tls_transport;
    if (flags & (MBX_OWNED | MBX_STREAM))
        return -ENOTSUP; /* see README: local only */
    struct tcp_box *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    int r =
        tcp_parse(name, b->host, sizeof(b->host), b->port, sizeof(b->port), b->box, sizeof(b->box));
    b->tls = strncmp(name, "tls://", 6) == 0;
    if (!r) {
        r = secret_load(NULL, 0, &b->secret);
        b->has_secret = r == 0;
        if (r == -ENOENT && b->tls)
            r = 0; /* a gateway that takes client certificates may need none */
    }
    if (r == -ENOENT)
        r = -EACCES; /* no secret: no way in */
    if (!r && b->tls)
        b->tls_ctx = tls_client_ctx(&r);
    if (r) {
        explicit_bzero(&b->secret, sizeof(b->secret));
        free(b);
        return r;
    }
    handle_init(&b->base, b->tls ? &mbx__tls_transport : &mbx__tcp_transport, name, flags);
    pthread_mutex_init(&b->mu, NULL);
    box_conds_init(b);
    pthread_mutex_init(&b->ssl_mu, NULL);
    b->io.fd = -1;
    b->flags = flags;
    b->opts = *o;
    b->next_seq = 1;
    b->next_req = 1;
    b->proc = ident_id(ident_self());
    /* MBX_TCP_BYPASS=0 forces the network path to a gateway on this
     * machine (tests, benchmarks). */
    const char *bypass = getenv("MBX_TCP_BYPASS");
    b->probe = !(bypass && strcmp(bypass, "0") == 0);
    r = dial(b, clock_deadline(5000000000ll));
    if (r == DIAL_HERE) {
        /* Same machine, same boot: the mailbox's own file, with this
         * process's own rights; through the gateway when that fails. */
        char local[WIRE_DIR_MAX + WIRE_NAME_MAX + 8];
        snprintf(local, sizeof(local), "%s/%s", b->here, b->box);
        r = mbx_open_opts(local, flags, o, out);
        if (r == 0) {
            box_free(b);
            return 0;
        }
        b->probe = 0;
        r = dial(b, clock_deadline(5000000000ll));
    }
    if (r == -ENOTSUP && b->probe) {
        b->probe = 0;
        r = dial(b, clock_deadline(5000000000ll));
    }
    if (r) {
        box_free(b);
        return r;
    }
    *out = &b->base;
    return 0;
}

static void tcp_close(struct mbx *m)
{
    struct tcp_box *b = tcp_of(m);
    box_lock(b);
    /* What was sent is delivered before the session ends, unless the
     * gateway stays out of reach for a while. */
    b->draining = 1;
    if (drain(b, clock_deadline(10000000000ll)) == 0)
        put_frame(b, W_BYE, 0, 0, NULL, 0, NULL, 0);
    link_down(b);
    pend_drop(b, b->npend);
    while (b->loans) {
        struct loan *l = b->loans;
        b->loans = l->next;
        free(l);
    }
    /* This process's flusher ends (a forked child's copy has none). */
    int own = b->flusher_pid && b->flusher_pid == ident_id(ident_self());
    b->flusher_stop = 1;
    pthread_cond_broadcast(&b->out_cv);
    pthread_mutex_unlock(&b->mu);
    if (own)
        pthread_join(b->flusher, NULL);
    box_free(b);
}

static void tcp_wake(struct mbx *m)
{
    (void)m; /* a blocked call looks at closing every tick */
}

static int tcp_unlink(const char *name)
{
    (void)name;
    return -ENOTSUP;
}

static int do_stat(struct tcp_box *b, mbx_stat *st)
{
    uint64_t req = b->next_req++;
    int64_t dl = clock_deadline(5000000000ll);
    int r = put_frame(b, W_STAT, 0, req, NULL, 0, NULL, 0);
    for (;;) {
        struct wire_hdr h;
        r = pump(b, dl, &h);
        if (r == T_RECONNECTED) {
            put_frame(b, W_STAT, 0, req, NULL, 0, NULL, 0);
            continue;
        }
        if (r < 0)
            return r;
        if (h.id != req || h.type == W_ACK)
            continue;
        /* Not last_req: that vouches for messages taken (request()). */
        if (h.type == W_RESULT) {
            int64_t v;
            return wire_result_get(b->rx, h.len, &v) || v >= 0 ? -EPROTO : (int)v;
        }
        if (h.type != W_STATR || wire_stat_get(b->rx, h.len, st))
            return -EPROTO;
        return 0;
    }
}

static int tcp_stat(struct mbx *m, mbx_stat *st)
{
    struct tcp_box *b = tcp_of(m);
    box_lock(b);
    int r = do_stat(b, st);
    pthread_mutex_unlock(&b->mu);
    return r;
}

static int tcp_stat_name(const char *name, mbx_stat *st)
{
    mbx *m;
    int r = mbx_open(name, MBX_SEND, NULL, &m);
    if (r)
        return r;
    r = mbx_stat_get(m, st);
    mbx_close(m);
    return r;
}

static int tcp_stat_ext(struct mbx *m, mbx_stat_ext *st)
{
    (void)m;
    (void)st;
    return -ENOTSUP;
}

/* Reports the pending failure of a pipelined send, once (as fsync and
 * close report a failed write-back): the caller has it, and the handle
 * goes on. */
static int take_sticky(struct tcp_box *b)
{
    int r = b->sticky;
    b->sticky = 0;
    return r;
}

static int tcp_sync(struct mbx *m)
{
    struct tcp_box *b = tcp_of(m);
    box_lock(b);
    int r = drain(b, -1);
    if (!r && b->sticky)
        r = take_sticky(b);
    pthread_mutex_unlock(&b->mu);
    return r;
}

/* A send that waits for the gateway's answer. */
static int send_sync(struct tcp_box *b, struct pend *p)
{
    uint64_t seq = p->seq;
    pend_push(b, p);
    put_send(b, p, FRAME_NOW); /* a cut: dial() sends it again */
    int64_t dl = answer_deadline(p->deadline);
    for (;;) {
        struct wire_hdr h;
        int r = pump(b, dl, &h);
        if (b->acked >= seq)
            return b->last_status;
        if (r < 0 && r != -ETIMEDOUT && !lasting(r))
            continue;
        if (r < 0) {
            /* No answer: it may have been delivered. It is not sent
             * again; ENOTCONN says the outcome is unknown. */
            for (unsigned i = 0; i < b->npend; i++)
                if (pend_at(b, i)->seq == seq) {
                    b->pend_bytes -= pend_at(b, i)->len;
                    payload_free(b, pend_at(b, i));
                    for (unsigned j = i; j + 1 < b->npend; j++)
                        *pend_at(b, j) = *pend_at(b, j + 1);
                    b->npend--;
                    break;
                }
            b->acked = seq;
            return -ENOTCONN;
        }
    }
}

/* Ends this thread's turn at sending in pieces. */
static void pieces_release(struct tcp_box *b)
{
    b->frag_busy = 0;
    pthread_cond_broadcast(&b->pieces);
}

/* A large pipelined send, whose credit is held (b->reserved): its pieces
 * go out one at a time, the handle let go between them so that other
 * threads' calls on it go out between (a small urgent message is not
 * held back), again from the start on a new link after a cut; then its
 * W_SEND, and from then on it is a pending send like any other. Returns
 * 0, or the error of a reconnect that failed (nothing was delivered). */
static int send_pieces(struct tcp_box *b, struct pend *p, int64_t deadline)
{
    int r = 0;
    for (;;) {
        if (__atomic_load_n(&b->base.closing, __ATOMIC_RELAXED) && !b->draining) {
            r = -EBADF;
            break;
        }
        if (b->io.fd < 0) {
            int was = intr_here;
            intr_here = 1; /* send_intr */
            r = reconnect(b, deadline);
            intr_here = was;
            if (r)
                break;
        }
        if (b->unsent) {
            /* Older sends wait to be written on this link (a smaller
             * window after a reconnect): this one's pieces go after them,
             * or its end would overtake them. */
            struct wire_hdr h;
            int was = intr_here;
            intr_here = 1; /* send_intr */
            r = pump(b, deadline, &h);
            intr_here = was;
            if (r < 0)
                break;
            r = 0;
            continue;
        }
        uint64_t gen = b->gen;
        size_t off = 0, end = pieces_end(p->len);
        while (off < end && b->gen == gen) {
            if (put_piece(b, p, off))
                break;
            off += WIRE_FRAG_MAX;
            box_yield(b);
        }
        if (off >= end && b->gen == gen && b->io.fd >= 0)
            break;
    }
    b->reserved = 0;
    pieces_release(b);
    if (r) {
        payload_free(b, p);
        return r;
    }
    p->seq = b->next_seq++;
    pend_push(b, p);
    put_send_end(b, p, FRAME_LATER); /* a cut: sent again, whole, after the reconnect */
    return 0;
}

/* Sends between two looks for acknowledgements while credit is low but
 * not nearly out (ack_look_due): at least ACK_LOOK_EVERY, and a
 * sixteenth of the window (a gateway acknowledges every quarter of it:
 * looking every 16 sends of a window of 1024 found nothing in most
 * looks, a recv each). */
#define ACK_LOOK_EVERY 16
static unsigned ack_look_every(const struct tcp_box *b)
{
    return b->window / 16 > ACK_LOOK_EVERY ? b->window / 16 : ACK_LOOK_EVERY;
}

/* Whether credit runs low: half the window or of its bytes in flight, or
 * the room last heard of nearly used. */
static int credit_low(const struct tcp_box *b)
{
    return b->npend * 2 >= b->window || b->room <= b->npend + 1 ||
           b->pend_bytes * 2 >= WIRE_WINDOW_BYTES;
}

/* Whether a send looks for acknowledgements first. A look that finds none
 * costs a system call (a recv that says EAGAIN), and a gateway
 * acknowledges a deep window's sends in runs of window/4: looking at
 * every send once half a window of 1024 was in flight made one such call
 * per send. So while credit is low but more than ACK_LOOK_EVERY sends of
 * it are left, every ack_look_every()-th send looks; near its end, every
 * one does (each look may save a wait for an acknowledgement). */
static int ack_look_due(struct tcp_box *b)
{
    if (!b->npend || !credit_low(b))
        return 0;
    unsigned inflight = b->npend + b->reserved;
    uint32_t limit = b->window < b->room ? b->window : b->room;
    if (inflight + ACK_LOOK_EVERY >= limit || b->pend_bytes * 8 >= (size_t)WIRE_WINDOW_BYTES * 7 ||
        ++b->unlooked >= ack_look_every(b)) {
        b->unlooked = 0;
        return 1;
    }
    return 0;
}

/* send_intr: a send that waits before its message is queued (for the link
 * to be made again, for credit, to write its pieces) is ended by a signal
 * handler with -EINTR, as a local send that waits for room is: nothing of
 * it was delivered (pieces are sent again from the start). It waited on
 * through every signal, for ever with MBX_FOREVER while the gateway was
 * gone. A send written whole that waits for the gateway's answer (no
 * credit, a rendezvous mailbox) goes on: its outcome would be unknown. */
static int do_send(struct tcp_box *b, const void *buf, size_t len, unsigned prio, uint64_t type,
                   int64_t timeout_ns)
{
    int64_t deadline = clock_deadline(timeout_ns);
    if (b->sticky)
        return take_sticky(b); /* this message is not sent either */
    if (len > b->max_msg)
        return -EMSGSIZE;
    if (b->io.fd < 0) {
        /* A send that may not wait still tries to make the link again, for
         * a short while (else a program that only sends so would never
         * see the link back, or a forked child its own session). */
        int was = intr_here;
        intr_here = timeout_ns != MBX_NONBLOCK; /* send_intr */
        int r = reconnect(b, timeout_ns == MBX_NONBLOCK ? clock_deadline(TCP_TICK_NS) : deadline);
        intr_here = was;
        if (r)
            return r == -ETIMEDOUT && timeout_ns == MBX_NONBLOCK ? -EAGAIN : r;
    }
    /* Acknowledgements that came meanwhile (room and errors), read when
     * credit runs low rather than at every send, without writing out what
     * the flusher is to write: a write here made the sender wait for the
     * flusher's batch and then write its own, one in three sends' time at
     * full speed. */
    struct wire_hdr h;
    if (ack_look_due(b))
        while (b->npend && credit_low(b) && b->io.fd >= 0 &&
               io_reader_fill(&b->io, &b->rd, WIRE_FIXED_MAX + b->max_msg + WIRE_STATR_LEN) == 1 &&
               pump_as(b, 0, &h, 0) == 0)
            ;
    if (b->sticky)
        return take_sticky(b); /* this message is not sent either */
    /* A large payload goes in pieces (wire.h), one such send at a time. */
    int big = len > WIRE_FRAG_MAX && b->capacity != MBX_RENDEZVOUS;
    if (big && pieces_wait(b, deadline))
        return timeout_ns == MBX_NONBLOCK ? -EAGAIN : -ETIMEDOUT;
    b->frag_busy |= big;
    struct pend p = {0, prio, type, 0, deadline, len, NULL, NULL};
    if (payload_keep(b, &p, buf, len)) {
        if (big)
            pieces_release(b);
        return -ENOMEM;
    }
    int r = 0;
    for (;;) {
        unsigned inflight = b->npend + b->reserved;
        /* Whole sends in flight are bounded in bytes too (one at a time
         * may be larger than the bound), so what a gateway reads ahead is
         * bounded by it, not by the window times the largest message. A
         * send in pieces does not count until it is whole: a small send
         * goes out while its pieces do. */
        if (b->capacity != MBX_RENDEZVOUS && inflight < b->window && b->room > inflight &&
            (!b->npend || b->pend_bytes + len <= WIRE_WINDOW_BYTES) && !(big && b->unsent)) {
            if (big) {
                b->reserved = 1;
                r = send_pieces(b, &p, deadline);
                return r == -ETIMEDOUT && timeout_ns == MBX_NONBLOCK ? -EAGAIN : r;
            }
            p.seq = b->next_seq++;
            pend_push(b, &p);
            if (b->unsent) { /* behind older ones not written yet */
                b->unsent++;
                b->unsent_bytes += p.len;
                write_unsent(b, FRAME_LATER);
            } else {
                put_send(b, &p, FRAME_LATER); /* a cut: sent again after the reconnect */
            }
            return 0;
        }
        if (!inflight)
            break;
        if (!b->npend) {
            /* The only credit out is a send in pieces': it comes back
             * when that send is pending. */
            r = pieces_wait(b, deadline);
        } else {
            /* No credit: wait for the sends in flight, which bring news
             * of the room (send_intr). */
            int was = intr_here;
            intr_here = timeout_ns != MBX_NONBLOCK;
            r = pump(b, deadline, &h);
            intr_here = was;
            if (r > 0)
                r = 0;
        }
        if (!r && b->sticky)
            r = take_sticky(b);
        if (r) {
            payload_free(b, &p);
            if (big)
                pieces_release(b);
            if (r == -ETIMEDOUT)
                return timeout_ns == MBX_NONBLOCK ? -EAGAIN : -ETIMEDOUT;
            return r;
        }
    }
    /* Waited for: written whole (pieces included) with the handle held. */
    if (big)
        pieces_release(b);
    p.seq = b->next_seq++;
    p.sync = 1;
    r = send_sync(b, &p);
    /* Sent again after a cut with its time used up, the send went with a
     * zero timeout and the gateway tried it without waiting: for a send
     * that could wait, a full mailbox then is a timeout. */
    if (r == -EAGAIN && timeout_ns != MBX_NONBLOCK)
        r = -ETIMEDOUT;
    return r;
}

static int tcp_send(struct mbx *m, const void *buf, size_t len, unsigned prio, uint64_t type,
                    int64_t timeout_ns)
{
    struct tcp_box *b = tcp_of(m);
    /* A send that may not wait does not wait for the handle either: one
     * waited for another thread's receive to end (for ever with
     * MBX_FOREVER), and a monitor's notice sent to such a handle held
     * every monitor of the process back meanwhile (found by a review). */
    if (timeout_ns == MBX_NONBLOCK) {
        if (!box_lock_unless_waiting(b))
            return -EAGAIN;
    } else {
        box_lock(b);
    }
    int r = do_send(b, buf, len, prio, type, timeout_ns);
    pthread_mutex_unlock(&b->mu);
    return r;
}

/* ---- requests answered by a message ---- */

/* Replies to requests taken over the wire go back the same way: the
 * token the caller sees is the gateway's with the top bit set (local
 * tokens never have it), mapped to the handle here. */
#define REMOTE_TOKEN (1ull << 63)
#define TOKENS       64
static pthread_mutex_t tokens_mu = PTHREAD_MUTEX_INITIALIZER;
/* A handle a reply is being written through is not freed meanwhile: its
 * close waits here until repliers (tcp_box.repliers) is 0. */
static pthread_cond_t tokens_cv = PTHREAD_COND_INITIALIZER;
static struct {
    uint64_t token;
    struct tcp_box *b;
} tokens[TOKENS];
static unsigned tokens_next;

static uint64_t token_remember(struct tcp_box *b, uint64_t token)
{
    if (!token)
        return 0;
    pthread_mutex_lock(&tokens_mu);
    tokens[tokens_next % TOKENS].token = token;
    tokens[tokens_next % TOKENS].b = b;
    tokens_next++;
    pthread_mutex_unlock(&tokens_mu);
    return token | REMOTE_TOKEN;
}

static void tokens_forget(struct tcp_box *b)
{
    pthread_mutex_lock(&tokens_mu);
    for (unsigned i = 0; i < TOKENS; i++)
        if (tokens[i].b == b)
            tokens[i].b = NULL;
    while (b->repliers)
        pthread_cond_wait(&tokens_cv, &tokens_mu);
    /* Again: a replier that got -EAGAIN put its token back while we
     * waited; with none left, nobody can now. */
    for (unsigned i = 0; i < TOKENS; i++)
        if (tokens[i].b == b)
            tokens[i].b = NULL;
    pthread_mutex_unlock(&tokens_mu);
}

/* The timeout a request whose time is up goes with when it is sent again
 * only to learn its answer: a gateway answers it from what it remembers
 * (a call's or a confirmed send's answer, a reply or message it holds for
 * it) and otherwise finds its time gone when it serves it (time_left:
 * TIME_UP, -ETIMEDOUT, not made). It went with 0, MBX_NONBLOCK, and a
 * gateway that had never had it made the call or the confirmed send after
 * the caller's deadline. */
#define TIMEOUT_ASK_ONLY 1

/* The timeout in a request's fixed part (MBX_FOREVER if it has none). */
static int64_t timeout_of(uint8_t type, const uint8_t *fixed, size_t flen)
{
    struct wire_recv wr;
    struct wire_call wc;
    if (type == W_RECV && wire_recv_get(fixed, flen, &wr) == 0)
        return wr.timeout_ns;
    if ((type == W_CALL || type == W_CONFIRM) && wire_call_get(fixed, flen, &wc) == 0)
        return wc.timeout_ns;
    return MBX_FOREVER;
}

/* Whether a receive's, call's or confirmed send's time is up: its
 * deadline passed (a MBX_NONBLOCK one, which never waits, is never late:
 * sent again, it looks once; a reply carries no timeout, and goes on). */
static int time_is_up(uint8_t type, const uint8_t *fixed, size_t flen, int64_t deadline)
{
    int timed = type == W_RECV || type == W_CALL || type == W_CONFIRM;
    return timed && deadline >= 0 && clock_remaining(deadline) == 0 &&
           timeout_of(type, fixed, flen) != MBX_NONBLOCK;
}

/* A request's fixed part to send again after a reconnect: its timeout
 * made what is left of its deadline (it went with the whole timeout, and
 * a gateway that served the copy sent again waited that long again), or
 * TIMEOUT_ASK_ONLY when none is left. MBX_NONBLOCK stays. */
static void timeout_left(uint8_t type, uint8_t *fixed, size_t flen, int64_t deadline)
{
    if (deadline < 0 || timeout_of(type, fixed, flen) == MBX_NONBLOCK)
        return; /* MBX_FOREVER; MBX_NONBLOCK */
    int64_t left = clock_remaining(deadline);
    if (left == 0)
        left = TIMEOUT_ASK_ONLY;
    if (type == W_RECV) {
        struct wire_recv wr;
        if (wire_recv_get(fixed, flen, &wr) == 0) {
            wr.timeout_ns = left;
            wire_recv_put(fixed, &wr);
        }
    } else if (type == W_CALL || type == W_CONFIRM) {
        struct wire_call wc;
        if (wire_call_get(fixed, flen, &wc) == 0) {
            wc.timeout_ns = left;
            wire_call_put(fixed, &wc);
        }
    }
}

static ssize_t request_wait(struct tcp_box *b, uint8_t type, uint64_t req, const uint8_t *fixed,
                            size_t flen, const void *payload, size_t plen, int64_t deadline,
                            void *buf, size_t cap, mbx_msginfo *info, uint64_t *type_out,
                            struct loan **loan);

/* Sends request req (frame type, fixed part, payload) and waits for the
 * message that answers it, copied to buf (cap bytes) or, with loan, to a
 * new loan. Returns its size or -errno.
 * A receive or a call returns -EINTR when a signal handler runs while it
 * waits (as on a local mailbox). Its request is then given up as one whose
 * time ran out: a later answer to it is not taken here (the gateway keeps
 * a message it took for it, held for the handle's next receive, or puts it
 * back). To tell the gateway at once, which otherwise waits on for the
 * request's timeout (for ever with MBX_FOREVER) before it serves the
 * handle's next frames, the client sends a STAT nobody waits for: a
 * gateway that sees a later request of the handle queued stops waiting
 * (a call's request nobody took by then is taken back); an older gateway
 * answers it in turn, and the answer is passed over as any other to a
 * request given up. A confirmed send, a reply and a stat go on through a
 * signal: their outcome would be unknown. */
static ssize_t request(struct tcp_box *b, uint8_t type, uint64_t req, const uint8_t *fixed,
                       size_t flen, const void *payload, size_t plen, int64_t deadline, void *buf,
                       size_t cap, mbx_msginfo *info, uint64_t *type_out, struct loan **loan)
{
    int was = intr_here;
    intr_here = type == W_RECV || type == W_CALL;
    ssize_t n = request_wait(b, type, req, fixed, flen, payload, plen, deadline, buf, cap, info,
                             type_out, loan);
    intr_here = was;
    if (n == -EINTR)
        put_frame(b, W_STAT, 0, b->next_req++, NULL, 0, NULL, 0);
    return n;
}

static ssize_t request_wait(struct tcp_box *b, uint8_t type, uint64_t req, const uint8_t *fixed,
                            size_t flen, const void *payload, size_t plen, int64_t deadline,
                            void *buf, size_t cap, mbx_msginfo *info, uint64_t *type_out,
                            struct loan **loan)
{
    if (b->io.fd < 0) {
        /* A MBX_NONBLOCK one tries to make the link for a while, as a
         * send does: its deadline is now. Nothing went: -EAGAIN, what a
         * local one says when it cannot go at once. */
        int nonblock = timeout_of(type, fixed, flen) == MBX_NONBLOCK;
        int r = reconnect(b, nonblock          ? clock_deadline(TCP_TICK_NS)
                             : type == W_REPLY ? clock_deadline(REPLY_RELINK_NS)
                                               : deadline);
        if (r)
            return r == -ETIMEDOUT && nonblock ? -EAGAIN : r;
    }
    /* The session the request went to, if it went (written whole). */
    uint64_t session = b->session;
    uint8_t again[64]; /* its fixed part as sent again (timeout_left) */
    /* A receive takes a too large message's size with its -EMSGSIZE. */
    uint8_t flags = type == W_RECV ? WF_SIZE : 0;
    int sent = put_frame(b, type, flags, req, fixed, flen, payload, plen) == 0;
    int went = sent; /* some copy may have reached this session's gateway */
    int64_t dl = answer_deadline(deadline);
    int64_t lost_by = -1; /* a reply's: when a link down must be back */
    int64_t began = clock_now_ns();
    for (;;) {
        struct wire_hdr h;
        if (type == W_REPLY) {
            /* A reply has no timeout of its own (a local one never waits
             * for its caller): it waits for as long as its link lives,
             * however long its payload takes to cross (heartbeats and the
             * gateway's least rate for a frame tell a link that stalls),
             * and a link down gets REPLY_RELINK_NS to come back. A
             * deadline of 5 s in all said -ETIMEDOUT, which says not
             * delivered, of a large reply on a slow link still going,
             * and the gateway then delivered it. */
            if (b->io.fd >= 0)
                lost_by = -1;
            else if (lost_by < 0) /* counted from the loss */
                lost_by = (b->down_at > began ? b->down_at : began) + REPLY_RELINK_NS;
            dl = lost_by >= 0 ? lost_by : clock_deadline(REPLY_RELINK_NS);
        }
        int r = pump(b, dl, &h);
        if (type == W_REPLY && r == -ETIMEDOUT &&
            (b->io.fd >= 0 || lost_by < 0 || clock_remaining(lost_by) > 0))
            continue; /* the link lives (the answer is on its way), or may come back */
        if (r == T_RECONNECTED) {
            /* A call or a confirmed send that may have reached a gateway
             * that knows nothing of it now (a new session: the gateway
             * was killed and restarted) is not made again: its outcome
             * is unknown. Asked again, the new gateway made it a second
             * time, and the caller saw one success. A resumed session
             * remembers it (last_call, confirm_req) and answers. */
            if (b->session != session) {
                if (went && (type == W_CALL || type == W_CONFIRM || type == W_REPLY))
                    return -ENOTCONN;
                went = 0; /* the new session never had it */
            }
            session = b->session;
            /* Its time is up and no copy reached this gateway: not made,
             * nothing taken for it. One that may have is asked again for
             * its answer only (TIMEOUT_ASK_ONLY). */
            if (!went && time_is_up(type, fixed, flen, deadline))
                return -ETIMEDOUT;
            if (flen <= sizeof(again)) {
                if (fixed != again)
                    memcpy(again, fixed, flen);
                timeout_left(type, again, flen, deadline);
                fixed = again; /* and for a later reconnect, less again */
            }
            sent = put_frame(b, type, flags, req, fixed, flen, payload, plen) == 0;
            went |= sent;
            continue;
        }
        /* A call or confirmed send that went, whose answer did not come
         * and whose link could not be made again in time, may have been
         * made (the answer lost in a cut): its outcome is unknown. It
         * said -ETIMEDOUT, which says it was not made. */
        if (r == -ETIMEDOUT && went && b->io.fd < 0 &&
            (type == W_CALL || type == W_CONFIRM || type == W_REPLY))
            return -ENOTCONN;
        if (r < 0)
            return r;
        if (h.type == W_ACK || h.id != req)
            continue; /* an answer to a request given up: the gateway keeps it */
        if (h.type == W_RESULT) {
            int64_t v;
            uint64_t size = 0;
            int sized = type == W_RECV && (h.flags & WF_SIZE);
            if ((sized ? wire_result_size_get(b->rx, h.len, &v, &size) || v != -EMSGSIZE
                       : wire_result_get(b->rx, h.len, &v)) ||
                (v > 0 && type != W_REPLY && type != W_CONFIRM)) {
                link_down(b);
                continue;
            }
            if (sized && info)
                info->size = size; /* the room it needs (mbx_recv) */
            /* A result is no message taken: last_req stays. The gateway
             * frees the message it holds for a request up to OPEN's
             * last_req, so counting results (and stats) there freed one
             * held for an earlier receive given up: the client never had
             * it, and it was in no mailbox. */
            return (ssize_t)v;
        }
        struct wire_msg wm;
        if (h.type != W_MSG || wire_msg_get(b->rx, h.len, &wm) || (!loan && wm.info.size > cap)) {
            link_down(b);
            continue;
        }
        const uint8_t *body = b->rx + WIRE_MSG_LEN;
        if (loan) {
            struct loan *l = malloc(sizeof(*l) + wm.info.size + 1);
            if (!l)
                return -ENOMEM; /* the gateway keeps it for the next receive */
            l->received = 1;
            l->len = wm.info.size;
            memcpy(l->data, body, wm.info.size);
            l->next = b->loans;
            b->loans = l;
            *loan = l;
        } else if (wm.info.size) {
            memcpy(buf, body, wm.info.size);
        }
        /* It is ours: the gateway may let go of it. A call's reply needs
         * no word: the gateway drops it at the next request (or at the
         * next connection, whose OPEN says which answers the client has,
         * or at the end of the session); a frame and a wake-up saved. */
        if (type != W_CALL)
            put_frame(b, W_TAKEN, 0, req, NULL, 0, NULL, 0);
        b->last_req = req;
        if (info) {
            *info = wm.info;
            info->reply_token = token_remember(b, wm.info.reply_token);
        }
        if (type_out)
            *type_out = wm.type;
        return (ssize_t)wm.info.size;
    }
}

static ssize_t do_recv(struct tcp_box *b, pid_t from, const struct mbx_sel *sel, void *buf,
                       size_t cap, mbx_msginfo *info, int64_t timeout_ns, struct loan **loan)
{
    /* The wire has no MBX_SEL_SYSV: a gateway refuses an unknown how by
     * dropping the link, and one that ignored it could hand out a type
     * the caller cannot take. */
    if (sel->how & MBX_SEL_SYSV)
        return -ENOTSUP;
    struct wire_recv wr = {from, sel->how, sel->type, loan ? b->max_msg : cap, timeout_ns};
    uint8_t fixed[WIRE_RECV_LEN];
    size_t fl = wire_recv_put(fixed, &wr);
    ssize_t n = request(b, W_RECV, b->next_req++, fixed, fl, NULL, 0, clock_deadline(timeout_ns),
                        buf, cap, info, sel->type_out, loan);
    /* A MBX_NONBLOCK receive that got no answer (the link down, or dead
     * on the way) received nothing: -EAGAIN, as a local one on an empty
     * mailbox (mbx.h: -ETIMEDOUT is for receives that waited). A message
     * the gateway took for it meanwhile is held for the next receive. */
    if (n == -ETIMEDOUT && timeout_ns == MBX_NONBLOCK)
        n = -EAGAIN;
    return n;
}

static ssize_t tcp_recv(struct mbx *m, pid_t from, const struct mbx_sel *sel, void *buf, size_t cap,
                        mbx_msginfo *info, int64_t timeout_ns)
{
    struct tcp_box *b = tcp_of(m);
    box_lock(b);
    ssize_t n = do_recv(b, from, sel, buf, cap, info, timeout_ns, NULL);
    pthread_mutex_unlock(&b->mu);
    return n;
}

static ssize_t tcp_call(struct mbx *m, const void *req, size_t len, unsigned prio, void *reply,
                        size_t cap, int64_t timeout_ns)
{
    struct tcp_box *b = tcp_of(m);
    box_lock(b);
    ssize_t n = -EMSGSIZE;
    if (len <= b->max_msg) {
        struct wire_call wc = {prio, timeout_ns, cap};
        uint8_t fixed[WIRE_CALL_LEN];
        size_t fl = wire_call_put(fixed, &wc);
        n = request(b, W_CALL, b->next_req++, fixed, fl, req, len, clock_deadline(timeout_ns),
                    reply, cap, NULL, NULL, NULL);
    }
    pthread_mutex_unlock(&b->mu);
    return n;
}

/* mbx_send_confirmed: the gateway makes the confirmed send in the far
 * mailbox and answers with the taker; a request sent again after a cut is
 * answered from the gateway's memory, not sent twice. */
static int tcp_send_confirmed(struct mbx *m, const void *buf, size_t len, unsigned prio,
                              int64_t timeout_ns, mbx_receipt *who)
{
    struct tcp_box *b = tcp_of(m);
    box_lock(b);
    ssize_t n = -EMSGSIZE;
    if (len <= b->max_msg) {
        struct wire_call wc = {prio, timeout_ns, 0};
        uint8_t fixed[WIRE_CALL_LEN];
        size_t fl = wire_call_put(fixed, &wc);
        n = request(b, W_CONFIRM, b->next_req++, fixed, fl, buf, len, clock_deadline(timeout_ns),
                    NULL, 0, NULL, NULL, NULL);
        if (n > 0) {
            if (wire_receipt_unpack(n, &who->taker_pid, &who->taker_uid)) {
                n = -EPROTO;
            } else {
                /* HOST:PORT as the name gave them (a host name past 247
                 * bytes is cut short: DNS names stop at 253). */
                snprintf(who->taker_host, sizeof(who->taker_host), "%.247s:%.7s", b->host, b->port);
                n = 0;
            }
        } else if (n == 0) {
            n = -EPROTO; /* a gateway answers a taker or an error */
        }
    }
    pthread_mutex_unlock(&b->mu);
    return (int)n;
}

/* mbx_reply for a request taken over the wire. Returns -ENOENT when the
 * token is not one of ours (the local transport's then). */
static int tcp_reply(const mbx_msginfo *request_info, const void *buf, size_t len)
{
    uint64_t t = request_info->reply_token;
    if (!(t & REMOTE_TOKEN))
        return -ENOENT;
    t &= ~REMOTE_TOKEN;
    struct tcp_box *b = NULL;
    /* The handle is held by a count, not by keeping tokens_mu while its
     * lock is taken: a call on it holds its lock and takes tokens_mu to
     * remember a token (the other order: a deadlock, found by TSan). */
    pthread_mutex_lock(&tokens_mu);
    for (unsigned i = 0; i < TOKENS; i++)
        if (tokens[i].token == t && tokens[i].b) {
            b = tokens[i].b;
            tokens[i].b = NULL; /* one reply per request */
        }
    if (b)
        b->repliers++;
    pthread_mutex_unlock(&tokens_mu);
    if (!b)
        return -ENOENT; /* not one handed out here: the local transport says */
    box_lock(b);
    ssize_t r = -EMSGSIZE;
    if (len <= b->max_msg) {
        uint8_t fixed[WIRE_REPLY_LEN];
        size_t fl = wire_reply_put(fixed, t, (uint32_t)request_info->sender_pid);
        r = request(b, W_REPLY, b->next_req++, fixed, fl, buf, len, MBX_FOREVER, NULL, 0, NULL,
                    NULL, NULL);
    }
    pthread_mutex_unlock(&b->mu);
    pthread_mutex_lock(&tokens_mu);
    /* Not sent (the caller's mailbox stayed full): it may be sent again
     * while the caller waits (mbx.h), so the token is put back; a close
     * under way clears it again once we are done (tokens_forget). */
    if (r == -EAGAIN)
        for (unsigned i = 0; i < TOKENS; i++)
            if (tokens[i].token == t && !tokens[i].b) {
                tokens[i].b = b;
                break;
            }
    if (--b->repliers == 0)
        pthread_cond_broadcast(&tokens_cv);
    pthread_mutex_unlock(&tokens_mu);
    return (int)r;
}

static int tcp_transfer(struct mbx *m, pid_t new_owner)
{
    (void)m;
    (void)new_owner;
    return -ENOTSUP;
}

/* Loans are copies across the wire: a buffer of the library's. */
static int tcp_loan(struct mbx *m, size_t len, void **buf)
{
    struct tcp_box *b = tcp_of(m);
    if (len > b->max_msg)
        return -EMSGSIZE;
    struct loan *l = malloc(sizeof(*l) + len + 1);
    if (!l)
        return -ENOMEM;
    l->received = 0;
    l->len = len;
    box_lock(b);
    l->next = b->loans;
    b->loans = l;
    pthread_mutex_unlock(&b->mu);
    *buf = l->data;
    return 0;
}

/* Takes loan buf off the handle's list. Returns it, or NULL. */
static struct loan *loan_take(struct tcp_box *b, const void *buf, int received)
{
    for (struct loan **p = &b->loans; *p; p = &(*p)->next)
        if ((*p)->data == buf && (*p)->received == received) {
            struct loan *l = *p;
            *p = l->next;
            return l;
        }
    return NULL;
}

static int tcp_send_loan(struct mbx *m, void *buf, size_t len, unsigned prio, uint64_t type,
                         int64_t timeout_ns)
{
    struct tcp_box *b = tcp_of(m);
    box_lock(b);
    struct loan *l = loan_take(b, buf, 0);
    int r = -EINVAL;
    if (l && len <= l->len) {
        r = do_send(b, buf, len, prio, type, timeout_ns);
        if (r) { /* a failed send leaves the loan the caller's */
            l->next = b->loans;
            b->loans = l;
        } else {
            free(l);
        }
    } else if (l) {
        l->next = b->loans;
        b->loans = l;
    }
    pthread_mutex_unlock(&b->mu);
    return r;
}

static ssize_t tcp_recv_loan(struct mbx *m, const struct mbx_sel *sel, const void **buf,
                             mbx_msginfo *info, int64_t timeout_ns)
{
    struct tcp_box *b = tcp_of(m);
    box_lock(b);
    struct loan *l = NULL;
    ssize_t n = do_recv(b, 0, sel, NULL, 0, info, timeout_ns, &l);
    if (n >= 0)
        *buf = l->data;
    pthread_mutex_unlock(&b->mu);
    return n;
}

static int tcp_release(struct mbx *m, const void *buf)
{
    struct tcp_box *b = tcp_of(m);
    box_lock(b);
    struct loan *l = loan_take(b, buf, 1);
    if (!l)
        l = loan_take(b, buf, 0);
    pthread_mutex_unlock(&b->mu);
    if (!l)
        return -EINVAL;
    free(l);
    return 0;
}

static int tcp_check_name(const char *name)
{
    char host[256], port[8], box[WIRE_NAME_MAX + 1];
    return tcp_parse(name, host, sizeof(host), port, sizeof(port), box, sizeof(box));
}

static void tcp_close_tokens(struct mbx *m)
{
    tokens_forget(tcp_of(m));
    tcp_close(m);
}

#define TCP_TRANSPORT_OPS                                                                          \
    .open = tcp_open, .close = tcp_close_tokens, .wake = tcp_wake, .unlink = tcp_unlink,           \
    .stat_name = tcp_stat_name, .stat = tcp_stat, .stat_ext = tcp_stat_ext, .sync = tcp_sync,      \
    .send = tcp_send, .recv = tcp_recv, .call = tcp_call, .send_confirmed = tcp_send_confirmed,    \
    .transfer = tcp_transfer, .loan = tcp_loan, .send_loan = tcp_send_loan,                        \
    .recv_loan = tcp_recv_loan, .release = tcp_release, .check_name = tcp_check_name

/* tls://HOST:PORT/NAME: the same, over TLS 1.3 (tls.h). Replies to
 * requests taken over either go through mbx__tcp_transport's reply. */
const struct mbx_transport mbx__tls_transport = {
    .scheme = "tls",
    TCP_TRANSPORT_OPS,
};

const struct mbx_transport mbx__tcp_transport = {
    .scheme = "tcp",
    TCP_TRANSPORT_OPS,
    .reply = tcp_reply,
    .fork_child = tcp_fork_child, /* once, for tcp:// and tls:// */
};
