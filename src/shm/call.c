#include "shm/call.h"

#include "core/cancel.h"
#include "platform/platform.h"
#include "shm/owner.h"
#include "shm/recv_right.h"
#include "shm/process.h"
#include "shm/reboot.h"
#include "shm/receipts.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#define CALL_POLL_NS  20000000ll  /* how often a waiting call looks at the taker */
#define REPLY_WAIT_NS 100000000ll /* how long a reply waits for room */
#define SLOT_WAIT_NS  1000000l    /* retry period while all call slots are busy */
#define GRACE_NS      50000000ll  /* how long a receiver in mid-take may take to sign */

/* ---- tokens ---- */

/* SipHash-2-4 of one 64-bit word m under the key (k0, k1): a keyed
 * pseudo-random function, so that outputs seen reveal neither the key nor
 * the next output. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

uint64_t call_siphash(uint64_t k0, uint64_t k1, uint64_t m)
{
    uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
    uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
    v3 ^= m;
    SIPROUND;
    SIPROUND;
    v0 ^= m;
    uint64_t last = 8ull << 56; /* the message's length, 8 bytes, and no tail */
    v3 ^= last;
    SIPROUND;
    SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* The process's token key and counter. A forked child makes its own key
 * (it would otherwise draw its parent's next tokens, in the low bits):
 * key_of names the process the key is of, written after the key. */
static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t key[2];
static ident_t key_of;
static uint64_t counter;

static void key_make(ident_t me)
{
    pthread_mutex_lock(&key_lock);
    if (__atomic_load_n(&key_of, __ATOMIC_ACQUIRE) != me) {
        uint64_t k[2];
        if (getrandom(k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k)) {
            /* No entropy pool yet (early boot): the best at hand. */
            k[0] = (uint64_t)clock_now_ns() ^ (uint64_t)(uintptr_t)&k;
            k[1] = me ^ (uint64_t)(uintptr_t)&key_make;
        }
        key[0] = k[0];
        key[1] = k[1];
        __atomic_store_n(&key_of, me, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&key_lock);
}

static pthread_mutex_t recv_lock = PTHREAD_MUTEX_INITIALIZER;

void call_fork_prepare(void)
{
    pthread_mutex_lock(&key_lock);
    pthread_mutex_lock(&recv_lock);
}

void call_fork_after(void)
{
    pthread_mutex_unlock(&recv_lock);
    pthread_mutex_unlock(&key_lock);
}

/* The caller's pid, and 31 bits that differ from call to call and are
 * hard to guess from outside (a reply is taken only with its call's
 * token): SipHash of a counter under a key drawn once per process. Before,
 * the counter times a constant XORed with a 31-bit key: two tokens seen
 * (by any peer of a shared mailbox) gave away the key and counter, and
 * with them every later token of the process (found by a review). */
uint64_t call_new_token(void)
{
    ident_t me = ident_self();
    if (__builtin_expect(__atomic_load_n(&key_of, __ATOMIC_ACQUIRE) != me, 0))
        key_make(me);
    uint32_t n;
    do {
        uint64_t i = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
        n = (uint32_t)call_siphash(key[0], key[1], i) & 0x7fffffffu;
    } while (n == 0);
    return (uint64_t)(uint32_t)ident_id(me) << 32 | n;
}

/* ---- the mailboxes this process receives from ----
 *
 * A receive hands the user a call's token t XORed, in the bits
 * CALL_MIX_MASK covers, with a keyed hash of t under a key of the mailbox
 * it came through, derived from a secret of this process (mix_key: drawn
 * when the library is loaded, and kept by forked children, so a child may
 * answer what its parent received). mbx_reply finds, among the calls the
 * caller's @PID says it waits for, the one whose token, bound so to the
 * mailbox its slot names, is the token it was handed, through a mailbox
 * this process holds a receive handle on (recv_boxes): so a reply goes
 * only to a call made to the mailbox the request really came through.
 * Found by reviews: a public mix (of the file's device and inode alone)
 * let a peer of the called mailbox, which sees the call's token there,
 * forge a request into another mailbox served by the same process, or by
 * one that answers anyone; and a keyed mix of the mailbox alone, the same
 * for every token, could be learnt once (a forger filling its own @PID's
 * slots learnt whether a guess was right from the replies it got) and then
 * used against every call. Bound to the token, what a forger learns of one
 * token says nothing of another's: each call costs 2^40 guesses, each a
 * request the server answers. */
static uint64_t mix_key[2];
static int mix_key_set;
/* Set once a mailbox's key was derived from mix_key (box_key): from then
 * on the secret may not change (mbx_reply_secret_set), or tokens handed
 * out and handles' keys would be of another secret than replies check. */
static int mix_key_used;

static void mix_key_make(void)
{
    pthread_mutex_lock(&key_lock);
    if (!__atomic_load_n(&mix_key_set, __ATOMIC_ACQUIRE)) {
        uint64_t k[2];
        if (getrandom(k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k)) {
            k[0] = (uint64_t)clock_now_ns() ^ (uint64_t)(uintptr_t)&k;
            k[1] = (uint64_t)ident_self() ^ (uint64_t)(uintptr_t)&mix_key_make;
        }
        mix_key[0] = k[0];
        mix_key[1] = k[1];
        __atomic_store_n(&mix_key_set, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&key_lock);
}

/* At load: a child forked before this process's first call or receive
 * shares the key all the same. */
__attribute__((constructor)) static void mix_key_at_load(void)
{
    mix_key_make();
}

/* The key of the mailbox file (dev, ino), derived from this process's. */
static void box_key(uint64_t dev, uint64_t ino, uint64_t k[2])
{
    if (__builtin_expect(!__atomic_load_n(&mix_key_set, __ATOMIC_ACQUIRE), 0))
        mix_key_make();
    if (__builtin_expect(!__atomic_load_n(&mix_key_used, __ATOMIC_ACQUIRE), 0)) {
        /* Under the lock: a mbx_reply_secret_set now either comes first
         * (and we derive from its secret) or sees this and refuses. */
        pthread_mutex_lock(&key_lock);
        __atomic_store_n(&mix_key_used, 1, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&key_lock);
    }
    k[0] = call_siphash(mix_key[0], mix_key[1], dev);
    k[1] = call_siphash(mix_key[0], mix_key[1], ino ^ 0x9e3779b97f4a7c15ull);
}

#define EXPORT __attribute__((visibility("default")))

/* The secret travels as 16 bytes, little-endian words, so that a program
 * of another build or language passes it on unchanged. */
static void secret_put(unsigned char out[16], const uint64_t k[2])
{
    for (int i = 0; i < 16; i++)
        out[i] = (unsigned char)(k[i / 8] >> (8 * (i % 8)));
}

EXPORT int mbx_reply_secret(unsigned char secret[16])
{
    if (!secret)
        return -EINVAL;
    mix_key_make();
    pthread_mutex_lock(&key_lock);
    secret_put(secret, mix_key);
    pthread_mutex_unlock(&key_lock);
    return 0;
}

EXPORT int mbx_reply_secret_set(const unsigned char secret[16])
{
    if (!secret)
        return -EINVAL;
    uint64_t k[2] = {0, 0};
    for (int i = 0; i < 16; i++)
        k[i / 8] |= (uint64_t)secret[i] << (8 * (i % 8));
    mix_key_make();
    pthread_mutex_lock(&key_lock);
    int r = -EBUSY;
    if (!__atomic_load_n(&mix_key_used, __ATOMIC_RELAXED)) {
        mix_key[0] = k[0];
        mix_key[1] = k[1];
        r = 0;
    }
    pthread_mutex_unlock(&key_lock);
    return r;
}

uint64_t call_bind(uint64_t k0, uint64_t k1, uint64_t token)
{
    return token ^ (call_siphash(k0, k1, token) & CALL_MIX_MASK);
}

/* The distinct mailboxes this process's open MBX_RECV handles are on,
 * with their keys and the number of such handles: added at their open,
 * taken off at their close (recv_lock). */
struct recv_box {
    uint64_t dev, ino, k0, k1;
    unsigned handles;
};
static struct recv_box *recv_boxes;
static size_t recv_n, recv_cap;

int call_box_opened(struct shm_box *b)
{
    if (call_box_known(b))
        return -EIO; /* fstat of its own descriptor failed */
    uint64_t dev = b->call_dev, ino = b->call_ino;
    pthread_mutex_lock(&recv_lock);
    size_t i = 0;
    while (i < recv_n && (recv_boxes[i].dev != dev || recv_boxes[i].ino != ino))
        i++;
    int r = 0;
    if (i == recv_n) {
        if (recv_n == recv_cap) {
            size_t cap = recv_cap ? 2 * recv_cap : 16;
            struct recv_box *nb = realloc(recv_boxes, cap * sizeof(*nb));
            if (!nb) {
                r = -ENOMEM;
                goto out;
            }
            recv_boxes = nb;
            recv_cap = cap;
        }
        recv_boxes[recv_n++] = (struct recv_box){dev, ino, b->call_k0, b->call_k1, 0};
    }
    recv_boxes[i].handles++;
    b->call_recv = 1;
out:
    pthread_mutex_unlock(&recv_lock);
    return r;
}

void call_box_forget(struct shm_box *b)
{
    if (!b->call_recv)
        return;
    b->call_recv = 0;
    pthread_mutex_lock(&recv_lock);
    for (size_t i = 0; i < recv_n; i++)
        if (recv_boxes[i].dev == b->call_dev && recv_boxes[i].ino == b->call_ino) {
            if (--recv_boxes[i].handles == 0)
                recv_boxes[i] = recv_boxes[--recv_n];
            break;
        }
    pthread_mutex_unlock(&recv_lock);
}

/* When the library is unloaded (dlclose) or the process exits: the set
 * goes (unload_test's leak check found it left behind). Handles still
 * open then no longer count; a reply made after this finds none (-ESRCH).
 * The lock is waited for a bounded time (unload_lock). */
__attribute__((destructor)) static void recv_boxes_unload(void)
{
    if (unload_lock(&recv_lock) != 0)
        return;
    free(recv_boxes);
    recv_boxes = NULL;
    recv_n = recv_cap = 0;
    pthread_mutex_unlock(&recv_lock);
}

/* Whether this process holds an open MBX_RECV handle on the mailbox
 * (dev, ino); its key in k. */
static int recv_key(uint64_t dev, uint64_t ino, uint64_t k[2])
{
    int found = 0;
    pthread_mutex_lock(&recv_lock);
    for (size_t i = 0; i < recv_n && !found; i++)
        if (recv_boxes[i].dev == dev && recv_boxes[i].ino == ino) {
            k[0] = recv_boxes[i].k0;
            k[1] = recv_boxes[i].k1;
            found = 1;
        }
    pthread_mutex_unlock(&recv_lock);
    return found;
}

int call_box_known_slow(struct shm_box *b)
{
    struct stat st;
    if (fstat(b->file.fd, &st) != 0)
        return -EIO; /* not kept: the next token looks again */
    uint64_t k[2];
    box_key((uint64_t)st.st_dev, (uint64_t)st.st_ino, k);
    b->call_dev = (uint64_t)st.st_dev;
    b->call_ino = (uint64_t)st.st_ino;
    b->call_k0 = k[0];
    b->call_k1 = k[1];
    __atomic_store_n(&b->call_known, 1, __ATOMIC_RELEASE);
    return 0;
}

/* ---- the caller's own record of its calls, in its mailbox's header ---- */

/* The mailboxes its calls went to, beside calls[] (seg_model.h). */
static struct seg_call_box *slot_boxes(const struct seg *s)
{
    return (struct seg_call_box *)(s->base + SEG_CALL_BOXES_OFF);
}

/* Takes a free call slot for token; waits while all are busy (that many
 * calls of this process are under way). Returns the index, -ETIMEDOUT, or
 * -ECANCELED when the thread's cancel hook asks (cancel.h: the tcp://
 * gateway's, whose clients share its slots, once the client is gone). */
static int slot_claim(struct seg *s, uint64_t token, int64_t deadline)
{
    uint64_t *calls = s->hdr->model.calls;
    for (;;) {
        for (unsigned i = 0; i < SEG_CALLS; i++) {
            uint64_t free_slot = 0;
            if (__atomic_compare_exchange_n(&calls[i], &free_slot, token, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_RELAXED))
                return (int)i;
        }
        if (clock_remaining(deadline) == 0)
            return -ETIMEDOUT;
        if (cancel_asked())
            return -ECANCELED;
        nanosleep(&(struct timespec){0, SLOT_WAIT_NS}, NULL);
    }
}

static void slot_release(struct seg *s, int i, uint64_t token)
{
    __atomic_compare_exchange_n(&s->hdr->model.calls[i], &token, 0, 0, __ATOMIC_ACQ_REL,
                                __ATOMIC_RELAXED);
}

/* Ends the caller's wait for token as far as repliers see it (the slot
 * freed; the caller's own release then finds it so). */
static void slot_forget(struct seg *s, uint64_t token)
{
    for (unsigned i = 0; i < SEG_CALLS; i++) {
        uint64_t t = token;
        if (__atomic_compare_exchange_n(&s->hdr->model.calls[i], &t, 0, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED))
            return;
    }
}

/* Whether the caller whose mailbox is s still waits for token. */
static int slot_waiting(const struct seg *s, uint64_t token)
{
    for (unsigned i = 0; i < SEG_CALLS; i++)
        if (__atomic_load_n(&s->hdr->model.calls[i], __ATOMIC_ACQUIRE) == token)
            return 1;
    return 0;
}

/* The call in the caller's mailbox s that the token `handed` (what a
 * receive of this process handed its user: call.h) answers: one the
 * caller waits for, made to a mailbox this process holds a receive handle
 * on, whose token mixed with that mailbox's keyed mix is `handed` (only
 * the caller's user and root write s, so its slots and the mailboxes they
 * name are trusted). Returns 0 with the call's own token in *token, or
 * -ESRCH ("no such call for this process"). */
static int slot_match(const struct seg *s, uint64_t handed, uint64_t *token)
{
    for (unsigned i = 0; i < SEG_CALLS; i++) {
        uint64_t t = __atomic_load_n(&s->hdr->model.calls[i], __ATOMIC_ACQUIRE);
        if (!t || ((t ^ handed) & ~CALL_MIX_MASK))
            continue; /* free, or another process's or flag's */
        const struct seg_call_box *b = &slot_boxes(s)[i];
        uint64_t dev = __atomic_load_n(&b->dev, __ATOMIC_RELAXED);
        uint64_t ino = __atomic_load_n(&b->ino, __ATOMIC_RELAXED);
        uint64_t k[2];
        if ((dev || ino) && recv_key(dev, ino, k) && call_bind(k[0], k[1], t) == handed) {
            *token = t;
            return 0;
        }
    }
    return -ESRCH;
}

/* ---- the caller's wait ---- */

struct call_wait {
    struct shm_box *target;
    int receipt;
    uint64_t token; /* the call's, as the request and its receipt carry it */
    uint64_t dead;  /* the taker the wait saw dead (-EPIPE) */
};

/* Ends the wait with -EPIPE once the request's taker is gone, -EIDRM when
 * the target mailbox was removed before anyone took it, -EBADF when the
 * target handle is being closed, -ECANCELED when the thread's cancel hook
 * asks (cancel.h). */
static int call_poll(const struct mb_ctx *c)
{
    struct call_wait *w = c->poll_arg;
    if (__atomic_load_n(&w->target->base.closing, __ATOMIC_SEQ_CST))
        return -EBADF;
    if (cancel_asked())
        return -ECANCELED;
    uint64_t taker = receipt_taker(&w->target->seg, w->receipt, w->token);
    if (taker) {
        if (ident_alive(taker))
            return 0;
        w->dead = taker;
        return -EPIPE;
    }
    return seg_removed(&w->target->seg) ? -EIDRM : 0;
}

/* A reply of n bytes and type: an error reply (mbx_reply_error) is its
 * error. */
static ssize_t reply_or_error(ssize_t n, uint64_t type)
{
    if ((type & ~REPLY_ERR_MASK) == REPLY_ERR_TYPE && (type & REPLY_ERR_MASK))
        return -(ssize_t)(type & REPLY_ERR_MASK);
    return n;
}

/* Takes the reply without waiting; one that does not fit is discarded
 * (-EMSGSIZE) so it never lingers in the caller's mailbox. */
static ssize_t take_reply(const struct mb_ctx *c, void *reply, size_t cap)
{
    mbx_msginfo info;
    ssize_t n = mb_recv(c, 0, reply, cap, &info, MBX_NONBLOCK);
    if (n != -EMSGSIZE)
        return n;
    void *tmp = malloc(info.size ? info.size : 1);
    if (tmp) {
        mb_recv(c, 0, tmp, info.size, &info, MBX_NONBLOCK);
        free(tmp);
    }
    return -EMSGSIZE;
}

/* Waits for the reply until the deadline (the call's slot stays claimed). */
static ssize_t await_reply(struct shm_box *me, struct call_wait *w, void *reply, size_t cap,
                           int64_t deadline)
{
    struct mb_ctx c = handle_ctx(me);
    c.poll = call_poll;
    c.poll_arg = w;
    c.wait.poll_ns = CALL_POLL_NS;
    c.want_token = w->token | REPLY_BIT;
    uint64_t type = 0;
    c.type_out = &type;
    int64_t left = clock_remaining(deadline);
    ssize_t n = mb_recv(&c, 0, reply, cap, NULL, left < 0 ? MBX_FOREVER : left);
    return n < 0 ? n : reply_or_error(n, type);
}

/* After the wait: gives the slot up (no reply is sent after that) and
 * takes a reply that came in just as the wait ended (n < 0): it counts. */
static ssize_t end_wait(struct shm_box *me, struct call_wait *w, int slot, void *reply, size_t cap,
                        ssize_t n)
{
    slot_release(&me->seg, slot, w->token);
    if (n >= 0)
        return n;
    struct mb_ctx c = handle_ctx(me);
    c.want_token = w->token | REPLY_BIT;
    uint64_t type = 0;
    c.type_out = &type;
    ssize_t late = take_reply(&c, reply, cap);
    return late == -EAGAIN ? n : late < 0 ? late : reply_or_error(late, type);
}

/* The request's taker died (the wait said -EPIPE). One that died in
 * mid-take, after it signed the receipt, never had the request: the next
 * receive puts it back in the queue. Returns 1 when the request was taken
 * back from there (the caller sends it again), 0 when another receiver
 * took it since (the wait goes on), -EPIPE when the dead taker had it
 * (not queued, and nobody else signed within the grace time that a
 * receiver between its take and its signature needs), or the withdraw's
 * error. The dead taker is the one the wait saw (w->dead): the receipt
 * may name another by now, who took the request since and lives. */
static int taker_died(struct shm_box *b, const struct mb_ctx *c, const struct call_wait *w)
{
    int64_t grace = clock_deadline(GRACE_NS);
    for (;;) {
        uint64_t now = receipt_taker(&b->seg, w->receipt, w->token);
        if (now && now != w->dead && ident_alive(now))
            return 0;
        int r = b->seg.kind->withdraw ? b->seg.kind->withdraw(c, w->token) : -ENOENT;
        if (r != -ENOENT)
            return r ? r : 1;
        if (clock_remaining(grace) == 0)
            return -EPIPE;
        nanosleep(&(struct timespec){0, SLOT_WAIT_NS}, NULL);
    }
}

/* Sends the request (again, after a taker died in mid-take) with the time
 * left; -ETIMEDOUT when that ran out for a call that could wait. */
static ssize_t send_request(struct mb_ctx *c, const void *req, size_t len, unsigned prio,
                            int64_t timeout_ns, int64_t deadline)
{
    int64_t left = clock_remaining(deadline);
    ssize_t n = mb_send(c, req, len, prio,
                        timeout_ns == MBX_NONBLOCK || left == 0 ? MBX_NONBLOCK
                        : left < 0                              ? MBX_FOREVER
                                                                : left);
    return n == -EAGAIN && timeout_ns != MBX_NONBLOCK ? -ETIMEDOUT : n;
}

ssize_t shm_call(struct mbx *m, const void *req, size_t len, unsigned prio, void *reply, size_t cap,
                 int64_t timeout_ns)
{
    struct shm_box *b = shm_box_of(m);
    if (len > b->seg.max_msg_size)
        return -EMSGSIZE;
    int r = owner_send_check(b);
    if (!r)
        r = send_right_check(b);
    struct mbx *self;
    if (!r)
        r = shm_self(&self);
    if (r)
        return r;
    struct shm_box *me = shm_box_of(self);
    int64_t deadline = clock_deadline(timeout_ns);
    /* The slot names the mailbox called (its replier must receive from
     * it: slot_match). A token that another call of this process waits
     * for already (31 random bits may repeat) is drawn again. */
    struct call_wait w = {b, -1, 0, 0};
    if (call_box_known(b))
        return -EIO; /* fstat of its own descriptor failed */
    struct seg_call_box called = {b->call_dev, b->call_ino};
    do
        w.token = call_new_token();
    while (slot_waiting(&me->seg, w.token));
    int slot = slot_claim(&me->seg, w.token, deadline);
    if (slot < 0)
        return slot;
    /* Before the request goes: its taker's reply looks here (the send
     * publishes it). */
    struct seg_call_box *named = &slot_boxes(&me->seg)[slot];
    __atomic_store_n(&named->dev, called.dev, __ATOMIC_RELAXED);
    __atomic_store_n(&named->ino, called.ino, __ATOMIC_RELAXED);
    /* Without a receipt (every entry in use) the call still works, but a
     * taker that dies leaves it to its timeout. */
    w.receipt = receipt_open(&b->seg, w.token, ident_self());
    struct mb_ctx c = handle_ctx(b);
    c.reply_token = w.token;
    ssize_t n = mb_send(&c, req, len, prio, timeout_ns);
    if (n != 0) {
        slot_release(&me->seg, slot, w.token);
        receipt_close(&b->seg, w.receipt, w.token);
        return n;
    }
    for (;;) {
        n = await_reply(me, &w, reply, cap, deadline);
        int t = n == -EPIPE ? taker_died(b, &c, &w) : -EPIPE;
        if (t == 0)
            continue; /* another receiver has it: its reply is awaited */
        if (t == 1) {
            /* Back from a taker that died before it had it: sent again
             * (behind what came meanwhile), for the next receiver. */
            receipt_untake(&b->seg, w.receipt, w.token, w.dead);
            n = send_request(&c, req, len, prio, timeout_ns, deadline);
            if (n == 0)
                continue;
            break;
        }
        if (n == -EPIPE)
            n = t;
        /* The send used up the time (or there was none): the wait for the
         * reply was a look, and its "nothing yet" is the call's timeout. */
        if (n == -EAGAIN)
            n = -ETIMEDOUT;
        /* Given up (time, a signal, a close) before anyone took the
         * request: take it back, so no server answers a caller that has
         * left. A request already taken stays taken. */
        if ((n == -ETIMEDOUT || n == -EINTR || n == -EBADF || n == -ECANCELED) &&
            b->seg.kind->withdraw)
            b->seg.kind->withdraw(&c, w.token);
        break;
    }
    n = end_wait(me, &w, slot, reply, cap, n);
    receipt_close(&b->seg, w.receipt, w.token);
    return n;
}

/* The caller's own mailbox (shm_peer_get), opened without waiting for
 * the flock under which an opener resets a mailbox "of another boot": a
 * process's own mailbox is made in this boot, so only its caller can have
 * written it so, and holding that flock it kept every reply to it waiting
 * SEG_CALL_BOUND_NS (1 s), which a server answering one request at a time
 * (mbx serve) paid per request. Such an open says -ETIMEDOUT at once:
 * -EAGAIN, the caller's mailbox's lock taken (mbx.h); a reply that found
 * another replier resetting it may be sent again. The thread's own setting
 * is put back after (a thread that set it for itself keeps it). */
static int peer_get(pid_t caller, struct shm_box **p)
{
    int was = reboot_nowait(1);
    int r = shm_peer_get(caller, p);
    reboot_nowait(was);
    return r == -ENOENT ? -ESRCH : r == -ETIMEDOUT ? -EAGAIN : r;
}

static int reply_send(const mbx_msginfo *request, const void *buf, size_t len, uint64_t type)
{
    uint64_t handed = request->reply_token, token = 0;
    pid_t caller = call_token_pid(handed);
    if (handed == 0 || (handed & (REPLY_BIT | CONFIRM_BIT)) || caller <= 0)
        return -EINVAL;
    struct shm_box *p;
    int r = peer_get(caller, &p);
    if (r)
        return r;
    /* The cached handle may have outlived the caller: looked at as a send
     * to an owned mailbox looks at its owner, at most every OWNER_POLL_NS
     * (a handle opened now was looked at by its open). Looking every time
     * read /proc per reply, three system calls that were most of a local
     * call's round trip; and a caller can die just after any look, so a
     * reply that returns 0 was never proof that it was read. */
    r = owner_send_check(p);
    if (!r && (r = slot_match(&p->seg, handed, &token)) != 0) {
        /* A cached mailbox that is no longer the caller's although the
         * caller lives: it replaced its program (exec), whose new image
         * made another, and every reply to it went to the old one (found
         * by a review). Looked up again on this failure only, at most once
         * a second for each caller (shm_peer_forget). */
        r = -ESRCH;
        if (shm_peer_forget(p)) {
            shm_peer_put(p);
            r = peer_get(caller, &p);
            if (r)
                return r;
            r = slot_match(&p->seg, handed, &token);
        }
    }
    if (!r && len > p->seg.max_msg_size) {
        /* Larger than the caller's mailbox takes: the caller is told too
         * (its call says -EMSGSIZE at once instead of timing out), and
         * its call is over: a second reply (a smaller one, an error) finds
         * no caller (-ESRCH). Left waiting, the slot let it in, nobody
         * took it, and enough of them stopped the caller's own mailbox:
         * every later call of that process timed out (found by a
         * review). */
        struct mb_ctx c = handle_ctx(p);
        c.reply_token = token | REPLY_BIT;
        c.send_type = REPLY_ERR_TYPE | (uint64_t)EMSGSIZE;
        if (mb_send(&c, NULL, 0, 0, REPLY_WAIT_NS) == 0)
            slot_forget(&p->seg, token);
        r = -EMSGSIZE;
    }
    if (!r) {
        struct mb_ctx c = handle_ctx(p);
        c.reply_token = token | REPLY_BIT;
        c.send_type = type;
        r = mb_send(&c, buf, len, 0, REPLY_WAIT_NS);
        /* The caller's mailbox stayed full (or its lock taken: a heap
         * mailbox's, by a caller's thread the scheduler left off a loaded
         * machine's CPUs) for REPLY_WAIT_NS: -EAGAIN, as mbx.h says; the
         * reply was not sent, and may be sent again while the caller
         * waits. A send's own -ETIMEDOUT said "no link" to a tcp://
         * replier, whose gateway passes this on. */
        if (r == -ETIMEDOUT)
            r = -EAGAIN;
    }
    shm_peer_put(p);
    return r == -EIDRM ? -ESRCH : r;
}

int shm_reply(const mbx_msginfo *request, const void *buf, size_t len)
{
    return reply_send(request, buf, len, 0);
}

int shm_reply_error(const mbx_msginfo *request, int err)
{
    if (err >= 0 || -err > (int)REPLY_ERR_MASK)
        return -EINVAL;
    return reply_send(request, NULL, 0, REPLY_ERR_TYPE | (uint64_t)-err);
}
