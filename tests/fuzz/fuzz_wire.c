/* Fuzz target: the frame codec of tcp:// mailboxes (src/tcp/wire.c), the
 * first code to see bytes from the network.
 *
 * The first byte of the input chooses the decoder, the rest is what it is
 * given, in an exact-size copy (so a read past it is caught under ASan).
 * Every decoder returns 0 or -EPROTO; a frame header is also decoded from
 * the first 16 bytes of the rest. On success:
 *   - the decoded fields, encoded again with the matching wire_*_put (and
 *     the same payload), decode to the same values;
 *   - an exact body's encoding is as long as the body it came from;
 *   - wire_msg_get's info.size is the count of payload bytes;
 *   - wire_open_get's name is NUL-terminated, its strlen the encoded length,
 *     and a version 4 OPEN has its key and proof after it (64 bytes);
 *   - a WELCOME is 76 bytes, or 108 with the gateway's key (version 4);
 *   - wire_frag_get's piece is 1 to WIRE_FRAG_MAX bytes inside total.
 */
#include "fuzz_target.h"

#include "tcp/wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

/* A decoder's result: 0 or -EPROTO, nothing else. Returns 1 for 0. */
static int decoded(int r)
{
    CHECK(r == 0 || r == -EPROTO);
    return r == 0;
}

/* A copy of n bytes in a buffer of exactly n (never NULL). */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
    uint8_t *q = malloc(n ? n : 1);
    CHECK(q);
    if (n)
        memcpy(q, p, n);
    return q;
}

/* fixed (flen bytes) followed by payload (plen), in an exact-size buffer. */
static uint8_t *join(const uint8_t *fixed, size_t flen, const uint8_t *payload, size_t plen)
{
    uint8_t *q = malloc(flen + plen ? flen + plen : 1);
    CHECK(q);
    memcpy(q, fixed, flen);
    if (plen)
        memcpy(q + flen, payload, plen);
    return q;
}

static void hdr(const uint8_t *p, size_t n)
{
    if (n < WIRE_HDR)
        return; /* the caller always has the whole header */
    uint8_t *b = dup_exact(p, WIRE_HDR);
    static const uint64_t limits[] = {0, WIRE_HANDSHAKE, UINT32_MAX, UINT64_MAX};
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        struct wire_hdr h, again;
        if (!decoded(wire_hdr_get(b, limits[i], &h)))
            continue;
        CHECK(h.type >= W_HELLO && h.type <= W_CONFIRM && h.len <= limits[i]);
        uint8_t out[WIRE_HDR];
        wire_hdr_put(out, &h);
        CHECK(decoded(wire_hdr_get(out, limits[i], &again)));
        CHECK(again.len == h.len && again.type == h.type && again.flags == h.flags &&
              again.id == h.id);
        CHECK(memcmp(out, b, WIRE_HDR) == 0); /* nothing in a good header is ignored */
    }
    free(b);
}

static void hello(const uint8_t *p, size_t n)
{
    struct wire_hello a, b;
    if (!decoded(wire_hello_get(p, n, &a)))
        return;
    uint8_t out[WIRE_HELLO_LEN];
    size_t len = wire_hello_put(out, &a);
    CHECK(len == n && len == WIRE_HELLO_LEN);
    CHECK(decoded(wire_hello_get(out, len, &b)));
    CHECK(a.version == b.version && memcmp(a.nonce, b.nonce, WIRE_NONCE) == 0);
}

static void open_(const uint8_t *p, size_t n)
{
    struct wire_open a, b;
    if (!decoded(wire_open_get(p, n, &a)))
        return;
    CHECK(n > WIRE_OPEN_LEN);
    size_t enc = (size_t)p[WIRE_OPEN_LEN - 2] | (size_t)p[WIRE_OPEN_LEN - 1] << 8;
    size_t keys = a.version >= 4 ? 2 * WIRE_KX : 0;
    CHECK(enc >= 1 && enc <= WIRE_NAME_MAX && n == WIRE_OPEN_LEN + enc + keys);
    CHECK(a.name[enc] == 0 && strlen(a.name) == enc);
    uint8_t out[WIRE_OPEN_MAX];
    size_t len = wire_open_put(out, &a);
    CHECK(len == n);
    uint8_t *q = dup_exact(out, len);
    CHECK(decoded(wire_open_get(q, len, &b)));
    free(q);
    CHECK(a.version == b.version && memcmp(a.nonce, b.nonce, WIRE_NONCE) == 0 &&
          memcmp(a.mac, b.mac, WIRE_MAC) == 0 && a.session == b.session &&
          a.last_req == b.last_req && a.flags == b.flags && a.opts.size == b.opts.size &&
          a.opts.kind == b.opts.kind && a.opts.attr.max_msg_size == b.opts.attr.max_msg_size &&
          a.opts.attr.capacity == b.opts.attr.capacity &&
          a.opts.attr.recv_policy == b.opts.attr.recv_policy &&
          a.opts.attr.mode == b.opts.attr.mode &&
          a.opts.attr.memory_limit == b.opts.attr.memory_limit && strcmp(a.name, b.name) == 0 &&
          memcmp(a.kx, b.kx, WIRE_KX) == 0 && memcmp(a.proof, b.proof, WIRE_KX) == 0);
}

static void welcome(const uint8_t *p, size_t n)
{
    struct wire_welcome a, b;
    if (!decoded(wire_welcome_get(p, n, &a)))
        return;
    CHECK(a.status <= 0 && a.status >= -4095 && a.last_status <= 0 && a.last_status >= -4095);
    uint8_t out[WIRE_WELCOME_LEN_V4];
    size_t len = wire_welcome_put(out, &a);
    CHECK(len == n && len == (a.version >= 4 ? WIRE_WELCOME_LEN_V4 : WIRE_WELCOME_LEN));
    CHECK(decoded(wire_welcome_get(out, len, &b)));
    CHECK(memcmp(a.mac, b.mac, WIRE_MAC) == 0 && a.status == b.status && a.session == b.session &&
          a.last_seq == b.last_seq && a.last_status == b.last_status && a.window == b.window &&
          a.room == b.room && a.capacity == b.capacity && a.max_msg == b.max_msg &&
          a.version == b.version && memcmp(a.kx, b.kx, WIRE_KX) == 0);
}

static void send_(const uint8_t *p, size_t n)
{
    struct wire_send a, b;
    if (!decoded(wire_send_get(p, n, &a)))
        return;
    CHECK(n >= WIRE_SEND_LEN && a.prio < MBX_PRIO_MAX && a.timeout_ns >= -1);
    uint8_t out[WIRE_SEND_LEN];
    size_t len = wire_send_put(out, &a);
    CHECK(len == WIRE_SEND_LEN);
    uint8_t *q = join(out, len, p + len, n - len);
    CHECK(decoded(wire_send_get(q, n, &b)));
    CHECK(memcmp(q, p, n) == 0);
    free(q);
    CHECK(a.prio == b.prio && a.type == b.type && a.timeout_ns == b.timeout_ns);
}

static void ack(const uint8_t *p, size_t n)
{
    struct wire_ack a, b;
    if (!decoded(wire_ack_get(p, n, &a)))
        return;
    CHECK(a.status <= 0 && a.status >= -4095);
    uint8_t out[WIRE_ACK_LEN];
    size_t len = wire_ack_put(out, &a);
    CHECK(len == n && len == WIRE_ACK_LEN);
    CHECK(decoded(wire_ack_get(out, len, &b)));
    CHECK(a.status == b.status && a.room == b.room);
}

static void recv_(const uint8_t *p, size_t n)
{
    struct wire_recv a, b;
    if (!decoded(wire_recv_get(p, n, &a)))
        return;
    CHECK(a.from >= 0 && a.how <= MBX_SEL_NE && a.timeout_ns >= -1);
    uint8_t out[WIRE_RECV_LEN];
    size_t len = wire_recv_put(out, &a);
    CHECK(len == n && len == WIRE_RECV_LEN);
    CHECK(decoded(wire_recv_get(out, len, &b)));
    CHECK(a.from == b.from && a.how == b.how && a.type == b.type && a.cap == b.cap &&
          a.timeout_ns == b.timeout_ns);
}

static void msg(const uint8_t *p, size_t n)
{
    struct wire_msg a, b;
    if (!decoded(wire_msg_get(p, n, &a)))
        return;
    CHECK(n >= WIRE_MSG_LEN && a.info.size == n - WIRE_MSG_LEN);
    CHECK(a.info.priority < MBX_PRIO_MAX);
    uint8_t out[WIRE_MSG_LEN];
    size_t len = wire_msg_put(out, &a);
    CHECK(len == WIRE_MSG_LEN);
    uint8_t *q = join(out, len, p + len, n - len);
    CHECK(decoded(wire_msg_get(q, n, &b)));
    CHECK(memcmp(q, p, n) == 0);
    free(q);
    CHECK(a.info.size == b.info.size && a.info.priority == b.info.priority &&
          a.info.sender_pid == b.info.sender_pid && a.info.sender_uid == b.info.sender_uid &&
          a.info.seq == b.info.seq && a.info.reply_token == b.info.reply_token && a.type == b.type);
}

static void result(const uint8_t *p, size_t n)
{
    int64_t a, b;
    if (!decoded(wire_result_get(p, n, &a)))
        return;
    CHECK(a >= -4095);
    uint8_t out[WIRE_RESULT_LEN];
    size_t len = wire_result_put(out, a);
    CHECK(len == n && len == WIRE_RESULT_LEN);
    CHECK(decoded(wire_result_get(out, len, &b)));
    CHECK(a == b);
}

static void call(const uint8_t *p, size_t n)
{
    struct wire_call a, b;
    if (!decoded(wire_call_get(p, n, &a)))
        return;
    CHECK(n >= WIRE_CALL_LEN && a.prio < MBX_PRIO_MAX && a.timeout_ns >= -1);
    uint8_t out[WIRE_CALL_LEN];
    size_t len = wire_call_put(out, &a);
    CHECK(len == WIRE_CALL_LEN);
    uint8_t *q = join(out, len, p + len, n - len);
    CHECK(decoded(wire_call_get(q, n, &b)));
    CHECK(memcmp(q, p, n) == 0);
    free(q);
    CHECK(a.prio == b.prio && a.timeout_ns == b.timeout_ns && a.cap == b.cap);
}

static void stat_(const uint8_t *p, size_t n)
{
    mbx_stat a, b;
    if (!decoded(wire_stat_get(p, n, &a)))
        return;
    CHECK(a.name[sizeof(a.name) - 1] == 0);
    uint8_t out[WIRE_STATR_LEN];
    size_t len = wire_stat_put(out, &a);
    CHECK(len == n && len == WIRE_STATR_LEN);
    CHECK(decoded(wire_stat_get(out, len, &b)));
    CHECK(memcmp(a.name, b.name, sizeof(a.name)) == 0 && a.max_msg_size == b.max_msg_size &&
          a.capacity == b.capacity && a.recv_policy == b.recv_policy && a.mode == b.mode &&
          a.flags == b.flags && a.uid == b.uid && a.gid == b.gid && a.owner_pid == b.owner_pid &&
          a.count == b.count && a.bytes == b.bytes && a.senders_waiting == b.senders_waiting &&
          a.receivers_waiting == b.receivers_waiting && a.sent_total == b.sent_total &&
          a.received_total == b.received_total && a.repairs == b.repairs);
}

static void reply(const uint8_t *p, size_t n)
{
    uint64_t ta, tb;
    uint32_t pa, pb;
    if (!decoded(wire_reply_get(p, n, &ta, &pa)))
        return;
    CHECK(n >= WIRE_REPLY_LEN && ta != 0);
    uint8_t out[WIRE_REPLY_LEN];
    size_t len = wire_reply_put(out, ta, pa);
    CHECK(len == WIRE_REPLY_LEN);
    uint8_t *q = join(out, len, p + len, n - len);
    CHECK(decoded(wire_reply_get(q, n, &tb, &pb)));
    CHECK(memcmp(q, p, n) == 0);
    free(q);
    CHECK(ta == tb && pa == pb);
}

static void here(const uint8_t *p, size_t n)
{
    uint8_t ba[WIRE_BOOT_ID], bb[WIRE_BOOT_ID];
    uint64_t ia[2], ib[2];
    char da[WIRE_DIR_MAX + 1], db[WIRE_DIR_MAX + 1];
    if (!decoded(wire_here_get(p, n, ba, ia, da)))
        return;
    CHECK(da[0] == '/' && strlen(da) <= WIRE_DIR_MAX);
    uint8_t out[WIRE_BOOT_ID + 16 + 2 + WIRE_DIR_MAX];
    size_t len = wire_here_put(out, ba, ia, da);
    CHECK(len == n && memcmp(out, p, n) == 0);
    CHECK(decoded(wire_here_get(out, len, bb, ib, db)));
    CHECK(memcmp(ba, bb, sizeof(ba)) == 0 && strcmp(da, db) == 0);
    CHECK(ia[0] == ib[0] && ia[1] == ib[1]);
}

static void frag(const uint8_t *p, size_t n)
{
    struct wire_frag a, b;
    if (!decoded(wire_frag_get(p, n, &a)))
        return;
    size_t piece = n - WIRE_FRAG_LEN;
    CHECK(n > WIRE_FRAG_LEN && piece <= WIRE_FRAG_MAX && a.total > WIRE_FRAG_MAX);
    CHECK(a.offset <= a.total && piece <= a.total - a.offset);
    uint8_t out[WIRE_FRAG_LEN];
    size_t len = wire_frag_put(out, &a);
    CHECK(len == WIRE_FRAG_LEN);
    uint8_t *q = join(out, len, p + len, n - len);
    CHECK(decoded(wire_frag_get(q, n, &b)));
    CHECK(memcmp(q, p, n) == 0);
    free(q);
    CHECK(a.total == b.total && a.offset == b.offset);
}

static void (*const decoders[])(const uint8_t *, size_t) = {
    hdr, hello, open_, welcome, send_, ack, recv_, msg, result, call, stat_, reply, here, frag,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t which = data[0] % (sizeof(decoders) / sizeof(decoders[0]));
    uint8_t *body = dup_exact(data + 1, size - 1);
    decoders[which](body, size - 1);
    free(body);
    return 0;
}
