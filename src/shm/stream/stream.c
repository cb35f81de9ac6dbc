#include "shm/stream/stream.h"

#include "platform/platform.h"
#include "shm/wait.h"

#include <errno.h>
#include <string.h>

/* While a sender is recorded, a waiting receiver wakes this often to see
 * whether it died (nobody signals a death). */
#define SENDER_POLL_NS 20000000ll

static struct stream_ctl *ctl_of(const struct seg *s)
{
    return (struct stream_ctl *)s->stream;
}

static unsigned char *bytes_of(const struct seg *s)
{
    return s->stream + STREAM_CTL_BYTES;
}

uint64_t stream_size_for(const mbx_attr *a)
{
    if (a->capacity == MBX_RENDEZVOUS || a->capacity == MBX_UNBOUNDED)
        return 0;
    uint64_t want = (uint64_t)a->capacity * a->max_msg_size;
    if (want > STREAM_MAX)
        want = STREAM_MAX;
    return (want + 4095) & ~(uint64_t)4095;
}

/* Takes the right in *word for process `who`: free, or held by a dead
 * process, whose claim on the direction's busy word goes with it. Returns
 * 0 or -EBUSY. */
static int take_right(struct stream_ctl *ctl, uint64_t *word, uint64_t *busy, ident_t who)
{
    for (;;) {
        uint64_t cur = __atomic_load_n(word, __ATOMIC_ACQUIRE);
        if (cur != 0 && ident_alive(cur))
            return -EBUSY;
        if (__atomic_compare_exchange_n(word, &cur, who, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
            if (cur != 0) {
                __atomic_store_n(busy, 0, __ATOMIC_RELEASE);
                __atomic_fetch_add(&ctl->repairs, 1, __ATOMIC_RELAXED);
            }
            return 0;
        }
    }
}

/* Clears the right in *word if `who` holds it. */
static void drop_right(uint64_t *word, ident_t who)
{
    __atomic_compare_exchange_n(word, &who, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
}

int stream_open(const struct mb_ctx *c, int flags)
{
    struct stream_ctl *ctl = ctl_of(c->s);
    if (flags & MBX_RECV) {
        int r = take_right(ctl, &ctl->receiver, &ctl->recv_busy, c->who);
        if (r)
            return r;
    }
    if (flags & MBX_SEND) {
        int r = take_right(ctl, &ctl->sender, &ctl->send_busy, c->who);
        if (r) {
            if (flags & MBX_RECV)
                drop_right(&ctl->receiver, c->who);
            return r;
        }
        __atomic_store_n(&ctl->last_pid, c->pid, __ATOMIC_RELAXED);
        __atomic_store_n(&ctl->last_uid, c->uid, __ATOMIC_RELAXED);
        __atomic_store_n(&ctl->had_sender, 1, __ATOMIC_SEQ_CST);
        /* The receiver learns of the new sender, whose death would end the
         * stream, and watches it (one spurious wake-up per opened end):
         * else one that dies before it writes a byte tells nobody. Its
         * pollers, and a receive asleep with no sender, which sleeps in
         * slices of 250 ms (it was told nothing: found by a review). */
        wake_change(c->s, SEG_POLL_RECV);
    }
    return 0;
}

void stream_close(const struct mb_ctx *c, int flags)
{
    struct stream_ctl *ctl = ctl_of(c->s);
    if (flags & MBX_RECV)
        drop_right(&ctl->receiver, c->who);
    if (flags & MBX_SEND) {
        drop_right(&ctl->sender, c->who);
        /* Bumped even with no sleeper: a receiver about to sleep read the
         * futex before it looked at the sender, so it will not sleep. */
        wake_change(c->s, SEG_POLL_RECV);
    }
}

/* One thread at a time per direction: the ring has one writer and one
 * reader. *word holds the identity of the thread inside; a dead one's
 * claim is taken over. Returns 0 or -EBUSY. */
static int enter(uint64_t *word, ident_t me)
{
    uint64_t cur = 0;
    if (__atomic_compare_exchange_n(word, &cur, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return 0;
    if (ident_thread_alive(cur))
        return -EBUSY;
    return __atomic_compare_exchange_n(word, &cur, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)
               ? 0
               : -EBUSY;
}

static void leave(uint64_t *word)
{
    __atomic_store_n(word, 0, __ATOMIC_RELEASE);
}

/* Waits (wait.h) for *watch to move off seen; futex held fseen before
 * the caller looked at its condition. A receiver (look: sender_left)
 * also wakes every cap_ns to look whether the sender died. */
static int wait_move(const struct mb_ctx *c, const uint64_t *watch, uint64_t seen, uint32_t *futex,
                     uint32_t fseen, uint32_t *waiters, int64_t deadline, int64_t cap_ns,
                     int (*look)(void *arg))
{
    struct wait_for w = {
        .watch = watch,
        .seen = seen,
        .futex = futex,
        .fseen = fseen,
        .waiters = waiters,
        .deadline = deadline,
        .cap_ns = cap_ns,
        .look = look,
        .arg = ctl_of(c->s),
    };
    return wait_change(c, &w);
}

/* Copies n bytes in at stream position pos, wrapping at the end. */
static void copy_in(const struct seg *s, uint64_t pos, const unsigned char *src, uint64_t n)
{
    uint64_t off = pos % s->stream_size, first = s->stream_size - off;
    if (first > n)
        first = n;
    memcpy(bytes_of(s) + off, src, first);
    memcpy(bytes_of(s), src + first, n - first);
}

static void copy_out(const struct seg *s, uint64_t pos, unsigned char *dst, uint64_t n)
{
    uint64_t off = pos % s->stream_size, first = s->stream_size - off;
    if (first > n)
        first = n;
    memcpy(dst, bytes_of(s) + off, first);
    memcpy(dst + first, bytes_of(s), n - first);
}

/* Caller is the thread inside send. */
static int send_locked(const struct mb_ctx *c, const unsigned char *buf, uint64_t len,
                       int64_t timeout_ns)
{
    const struct seg *s = c->s;
    struct stream_ctl *ctl = ctl_of(s);
    struct seg_hot *hot = &s->hdr->hot;
    uint64_t size = s->stream_size, done = 0;
    int whole = len <= size;
    int64_t deadline = clock_deadline(timeout_ns);
    while (done < len) {
        if (seg_removed(s))
            return -EIDRM;
        uint32_t f = __atomic_load_n(&hot->send_futex, __ATOMIC_SEQ_CST);
        uint64_t tail = __atomic_load_n(&ctl->tail, __ATOMIC_RELAXED);
        uint64_t head = __atomic_load_n(&ctl->head, __ATOMIC_ACQUIRE);
        if (tail - head > size)
            return -EUCLEAN;
        uint64_t room = size - (tail - head), left = len - done;
        /* A long send waits for half the buffer, not every byte freed. */
        uint64_t want = whole ? len : (left < size / 2 ? left : size / 2);
        if (room >= want) {
            uint64_t n = left < room ? left : room;
            copy_in(s, tail, buf + done, n);
            __atomic_store_n(&ctl->tail, tail + n, __ATOMIC_SEQ_CST);
            wake_all(s, SEG_POLL_RECV);
            done += n;
            continue;
        }
        if (timeout_ns == MBX_NONBLOCK)
            return -EAGAIN;
        int r = wait_move(c, &ctl->head, head, &hot->send_futex, f, &hot->send_waiters, deadline, 0,
                          NULL);
        if (r)
            return r;
    }
    return 0;
}

int stream_send(const struct mb_ctx *c, const void *buf, size_t len, int64_t timeout_ns)
{
    struct stream_ctl *ctl = ctl_of(c->s);
    if (seg_removed(c->s))
        return -EIDRM;
    if (len == 0)
        return 0;
    int r = enter(&ctl->send_busy, ident_thread());
    if (r)
        return r;
    r = send_locked(c, buf, len, timeout_ns);
    leave(&ctl->send_busy);
    return r;
}

/* Returns 1 when no live sender holds the right, after taking it over from
 * a dead holder; *who is the holder left (0: none). */
static int sender_gone(struct stream_ctl *ctl, uint64_t *who)
{
    uint64_t p = __atomic_load_n(&ctl->sender, __ATOMIC_SEQ_CST);
    *who = p;
    if (p == 0)
        return 1;
    if (ident_alive(p))
        return 0;
    if (__atomic_compare_exchange_n(&ctl->sender, &p, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        __atomic_fetch_add(&ctl->repairs, 1, __ATOMIC_RELAXED);
    *who = 0;
    return 1;
}

/* A wait's look hook (arg: the control block): whether the sender is gone. */
static int sender_left(void *arg)
{
    uint64_t who;
    return sender_gone(arg, &who);
}

/* Caller is the thread inside recv. */
static ssize_t recv_locked(const struct mb_ctx *c, unsigned char *buf, size_t cap,
                           mbx_msginfo *info, int64_t timeout_ns)
{
    const struct seg *s = c->s;
    struct stream_ctl *ctl = ctl_of(s);
    struct seg_hot *hot = &s->hdr->hot;
    uint64_t size = s->stream_size;
    int64_t deadline = clock_deadline(timeout_ns);
    for (;;) {
        if (seg_removed(s))
            return -EIDRM;
        uint32_t f = __atomic_load_n(&hot->recv_futex, __ATOMIC_SEQ_CST);
        uint64_t head = __atomic_load_n(&ctl->head, __ATOMIC_RELAXED);
        uint64_t tail = __atomic_load_n(&ctl->tail, __ATOMIC_ACQUIRE);
        if (tail - head > size)
            return -EUCLEAN;
        if (tail != head) {
            uint64_t n = tail - head < cap ? tail - head : cap;
            copy_out(s, head, buf, n);
            __atomic_store_n(&ctl->head, head + n, __ATOMIC_SEQ_CST);
            wake_all(s, SEG_POLL_SEND);
            if (info) {
                memset(info, 0, sizeof(*info));
                info->size = n;
                info->sender_pid = __atomic_load_n(&ctl->last_pid, __ATOMIC_RELAXED);
                info->sender_uid = __atomic_load_n(&ctl->last_uid, __ATOMIC_RELAXED);
            }
            return (ssize_t)n;
        }
        uint64_t sender;
        if (sender_gone(ctl, &sender) && __atomic_load_n(&ctl->had_sender, __ATOMIC_ACQUIRE)) {
            /* The sender wrote tail before it let go: look once more. */
            if (__atomic_load_n(&ctl->tail, __ATOMIC_ACQUIRE) != tail)
                continue;
            if (info)
                memset(info, 0, sizeof(*info));
            return 0;
        }
        if (timeout_ns == MBX_NONBLOCK)
            return -EAGAIN;
        int r = wait_move(c, &ctl->tail, tail, &hot->recv_futex, f, &hot->recv_waiters, deadline,
                          sender ? SENDER_POLL_NS : 0, sender ? sender_left : NULL);
        if (r)
            return r;
    }
}

ssize_t stream_recv(const struct mb_ctx *c, pid_t from, void *buf, size_t cap, mbx_msginfo *info,
                    int64_t timeout_ns)
{
    struct stream_ctl *ctl = ctl_of(c->s);
    if (from > 0 || cap == 0)
        return -EINVAL;
    if (seg_removed(c->s))
        return -EIDRM;
    int r = enter(&ctl->recv_busy, ident_thread());
    if (r)
        return r;
    ssize_t n = recv_locked(c, buf, cap, info, timeout_ns);
    leave(&ctl->recv_busy);
    return n;
}

void stream_stat(const struct seg *s, mbx_stat *st)
{
    const struct stream_ctl *ctl = ctl_of(s);
    uint64_t head = __atomic_load_n(&ctl->head, __ATOMIC_ACQUIRE);
    uint64_t tail = __atomic_load_n(&ctl->tail, __ATOMIC_ACQUIRE);
    uint64_t queued = tail - head <= s->stream_size ? tail - head : 0;
    st->bytes = queued;
    st->count = queued > UINT32_MAX ? UINT32_MAX : (uint32_t)queued;
    st->sent_total = tail;
    st->received_total = head;
    st->repairs = __atomic_load_n(&ctl->repairs, __ATOMIC_RELAXED);
}

int stream_ready(const struct seg *s, unsigned dir, uint64_t want)
{
    const struct stream_ctl *ctl = ctl_of(s);
    uint64_t head = __atomic_load_n(&ctl->head, __ATOMIC_SEQ_CST);
    uint64_t tail = __atomic_load_n(&ctl->tail, __ATOMIC_SEQ_CST);
    if (dir == SEG_POLL_RECV) {
        if (tail != head)
            return 1;
        if (!__atomic_load_n(&ctl->had_sender, __ATOMIC_ACQUIRE))
            return 0;
        /* The end, once the sender left or died (a receive then says 0). */
        uint64_t sender = __atomic_load_n(&ctl->sender, __ATOMIC_SEQ_CST);
        return sender == 0 || !ident_alive(sender);
    }
    /* Like a pipe: ready for writing while half the buffer is free, which
     * a send longer than the buffer finds enough (it goes in pieces of that
     * size); after a send that found no room, once it fits (up to the
     * buffer size, a send is all or nothing). */
    uint64_t size = s->stream_size, room = tail - head <= size ? size - (tail - head) : 0;
    if (want == 0 || want > size)
        want = size / 2;
    return room >= want;
}

int stream_peers(const struct seg *s, unsigned dir, uint64_t who[2])
{
    if (!who)
        return 1; /* its pollers watch both ends' deaths, whichever way */
    if (dir != SEG_POLL_RECV)
        return 0;
    /* As stream_ready: the sender's death ends the stream only once it
     * had opened in full (had_sender); before, its death changes nothing
     * a receive would see, so it must not wake the pollers. */
    if (!__atomic_load_n(&ctl_of(s)->had_sender, __ATOMIC_ACQUIRE))
        return 0;
    who[0] = __atomic_load_n(&ctl_of(s)->sender, __ATOMIC_ACQUIRE);
    return who[0] != 0;
}
