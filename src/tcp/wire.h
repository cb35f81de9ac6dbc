/* The wire protocol of tcp:// and tls:// mailboxes, version 4: frames and their
 * bodies, encoded and decoded with every length checked. Everything read
 * from the network is untrusted: a decoder returns -EPROTO for anything
 * malformed and never reads or writes past the bytes it was given.
 *
 * A frame is a 16-byte header and a body:
 *   u32 body length, u8 type, u8 flags, u16 zero, u64 id
 * little endian. id is a send's sequence number or a request's number.
 * The body length is capped before the body is read: 512 bytes until the
 * mailbox is open, then its max_msg_size plus the largest fixed part.
 *
 * Version 2 adds W_FRAG (large sends in pieces) and the TLS greeting
 * (WF_TLS). Version 3 lets a gateway give a client a window of up to
 * WIRE_WINDOW_MAX sends (version 2: WIRE_WINDOW_V2), the client keeping
 * at most WIRE_WINDOW_BYTES of payload in flight; its frames are version
 * 2's. Version 4 gives each session a key that only its client and the
 * gateway know (an X25519 exchange in the first OPEN and WELCOME), and a
 * resume proves it (OPEN's proof, a MAC of the fresh nonces under that
 * key): the session id travels in the clear on tcp://, and another client
 * with the secret that learnt it took the session (its held messages, its
 * numbering). HELLO says the gateway's version, OPEN the one the client speaks on
 * this link (the lower of its own and the gateway's), and each side
 * refuses one outside WIRE_VERSION_MIN..WIRE_VERSION.
 *
 * A connection starts with a handshake: the gateway sends HELLO (a nonce),
 * the client OPEN (its nonce, a MAC over both nonces with the shared
 * secret, the session it resumes, the mailbox and how to open it), the
 * gateway WELCOME (its MAC, the result, where the session stands). */
#ifndef MBX_TCP_WIRE_H
#define MBX_TCP_WIRE_H

#include "mbx.h"

#include <stddef.h>
#include <stdint.h>

#define WIRE_VERSION     4           /* the newest spoken here */
#define WIRE_VERSION_MIN 2           /* the oldest still understood */
#define WIRE_MAGIC       0x5458424du /* "MBXT" */
#define WIRE_HDR         16
#define WIRE_NONCE       32
#define WIRE_MAC         32
#define WIRE_HANDSHAKE   512 /* the largest body before the mailbox is open */
#define WIRE_NAME_MAX    255
#define WIRE_KX          32 /* an X25519 public key, a session key, a proof (version 4) */
/* A send's number is at most this far past the last one a session
 * finished (a gap: sends a client gave up before any answer, each costing
 * a dead link): one numbered far ahead made every later send of the
 * session look done already (acknowledged, never delivered). Further is
 * malformed. */
#define WIRE_SEQ_AHEAD_MAX (1ull << 40)

/* A mailbox a client creates through a gateway (OPEN with MBX_CREATE) has
 * messages of at most WIRE_CREATE_MSG_MAX bytes and storage (memory_limit)
 * of at most WIRE_CREATE_MEMORY_MAX, the local default; a gateway answers
 * -EINVAL to more, as a local open does past its own limits (1 GiB, 16
 * TiB). Anyone with the secret may create: without the bound one OPEN made
 * the gateway's host a mailbox of 1 GiB messages and 16 TiB of storage,
 * and every session on it cost the gateway up to 4 times the largest
 * message (what it reads ahead, a message it holds). Larger mailboxes are
 * made on the gateway's host, and clients open them. */
#define WIRE_CREATE_MSG_MAX    (16ull << 20)
#define WIRE_CREATE_MEMORY_MAX (1ull << 30)

/* Pipelined sends a client may have unacknowledged (WELCOME's window, never
 * more than the mailbox's capacity): at most WIRE_WINDOW_V2 on a version 2
 * link, WIRE_WINDOW_MAX on a version 3 one, where the client also keeps
 * their payloads within WIRE_WINDOW_BYTES (one send at a time may be
 * larger). */
#define WIRE_WINDOW_V2    64
#define WIRE_WINDOW_MAX   1024
#define WIRE_WINDOW_BYTES (8u << 20)

enum wire_type {
    W_HELLO = 1,    /* gateway: version, nonce */
    W_OPEN = 2,     /* client: MAC, session, mailbox, flags, options */
    W_WELCOME = 3,  /* gateway: MAC, result, session state, limits */
    W_SEND = 4,     /* client, id = sequence: prio, type, timeout, payload */
    W_ACK = 5,      /* gateway, id = sequence: status, room */
    W_RECV = 6,     /* client, id = request: from, selection, capacity, timeout */
    W_MSG = 7,      /* gateway, id = request: message info, payload */
    W_RESULT = 8,   /* gateway, id = request: a status or size */
    W_TAKEN = 9,    /* client, id = request: the message arrived (not for a call) */
    W_CALL = 10,    /* client, id = request: prio, timeout, reply capacity, payload */
    W_STAT = 11,    /* client, id = request */
    W_STATR = 12,   /* gateway, id = request: mbx_stat */
    W_PING = 13,    /* either side: are you there; client, id = a failed send's: it has it */
    W_PONG = 14,    /* either side: yes */
    W_BYE = 15,     /* client: done, end the session */
    W_REPLY = 16,   /* client, id = request: answer a request taken over the wire */
    W_HERE = 17,    /* gateway, after WELCOME to a probe: its boot id and mailbox folder */
    W_FRAG = 18,    /* client, id 0: a piece of a large send's payload (version 2) */
    W_CONFIRM = 19, /* client, id = request: a confirmed send (W_CALL's fixed part, payload) */
};

/* W_CONFIRM's answer is a W_RESULT: -errno, or the process that took the
 * message, packed into a positive value (uid << 22 | pid; pids are below
 * 2^22, the kernel's PID_MAX_LIMIT). The gateway remembers its last
 * confirmed send's answer per session, so one sent again after a cut is
 * answered, not sent twice. */
static inline int64_t wire_receipt_pack(int32_t pid, uint32_t uid)
{
    return (int64_t)((uint64_t)uid << 22 | ((uint32_t)pid & 0x3fffffu));
}

/* Unpacks a W_CONFIRM answer v > 0. Returns 0, or -1 for a value no
 * gateway makes (pid 0). */
static inline int wire_receipt_unpack(int64_t v, int32_t *pid, uint32_t *uid)
{
    *pid = (int32_t)((uint64_t)v & 0x3fffffu);
    *uid = (uint32_t)((uint64_t)v >> 22);
    return *pid > 0 && ((uint64_t)v >> 54) == 0 ? 0 : -1;
}

/* A send whose payload is larger than WIRE_FRAG_MAX goes in pieces: W_FRAG
 * frames (total, offset, up to WIRE_FRAG_MAX bytes each, offsets from 0
 * and contiguous), then its W_SEND with WF_FRAGS whose payload is the
 * rest. Frames of other requests may come between the pieces, so a large
 * message does not hold back a small one; one message at a time is in
 * pieces on a connection, and a connection that ends drops it (the client
 * sends it again, whole, after the reconnect). The gateway holds at most
 * the far mailbox's max_msg_size of it. */
#define WIRE_FRAG_MAX 65536

/* In W_OPEN's flags: a probe. The client found the gateway on its own
 * machine (a loopback or its own address) and asks where the mailbox's file
 * is, to open it directly (no gateway hop); the gateway opens nothing,
 * answers WELCOME (session 0) and W_HERE, and closes. */
#define WIRE_OPEN_PROBE 0x80000000u
#define WIRE_BOOT_ID    16  /* bytes of the kernel's boot id */
#define WIRE_DIR_MAX    400 /* the longest mailbox folder W_HERE carries */

/* W_SEND flags: the client waits for this send's ACK (rendezvous, or no
 * credit left): the gateway honours the timeout; else it waits for room. */
#define WF_SYNC 0x01
/* W_SEND flags: the W_FRAG pieces before this frame are its payload's
 * start. */
#define WF_FRAGS 0x02
/* W_HELLO flags. WF_TLS: this HELLO is a greeting in the clear, its nonce
 * unused; a TLS handshake follows (the client's), then the real HELLO
 * inside it. WF_CERT_AUTH (inside TLS only): the gateway authenticated the
 * client by its certificate and needs no MAC; a client does not check the
 * gateway's MAC either (its certificate was). */
#define WF_TLS       0x02
#define WF_CERT_AUTH 0x04
/* A W_PING from a client with a nonzero id confirms that it has the
 * acknowledgements up to send id, failures included: the gateway
 * remembers a pipelined send's failure until then, and a resumed
 * session's WELCOME names the oldest one not confirmed as its last_seq
 * (and last_status), so that the client sends the later ones again and
 * learns their results from their ACKs. A gateway before this answers
 * such a PING as a heartbeat, so no new version. */

/* W_RECV flags: WF_SIZE, the client takes the size of a message too large
 * for its cap: the gateway answers such a receive's -EMSGSIZE with a
 * W_RESULT of flag WF_SIZE whose body is the result and the size (u64;
 * WIRE_RESULT_SIZE_LEN), for mbx_recv's info->size. A gateway before this
 * ignores the flag (a frame's flags were read on W_SEND only) and answers
 * the result alone; no client before this sets it: no new version. */
#define WF_SIZE 0x01

/* W_WELCOME flags: the gateway knew the session (a resume). */
#define WF_RESUMED 0x01

struct wire_hdr {
    uint32_t len;
    uint8_t type, flags;
    uint64_t id;
};

struct wire_hello {
    uint32_t version;
    uint8_t nonce[WIRE_NONCE];
};

struct wire_open {
    uint32_t version;
    uint8_t nonce[WIRE_NONCE];
    uint8_t mac[WIRE_MAC];
    uint64_t session;  /* 0: a new one */
    uint64_t last_req; /* the last request whose message (W_MSG) the client took */
    uint32_t flags;    /* mbx_open flags */
    mbx_options opts;  /* kind and attr (read with MBX_CREATE) */
    char name[WIRE_NAME_MAX + 1];
    /* Version 4, after the name: the client's X25519 public key, fresh at
     * every OPEN (a new session's key is agreed with it), and, resuming a
     * session, the proof that it holds that session's key: HMAC(key,
     * "mbx resume" | HELLO's nonce | OPEN's nonce); zeros when new. */
    uint8_t kx[WIRE_KX];
    uint8_t proof[WIRE_KX];
};

struct wire_welcome {
    uint8_t mac[WIRE_MAC];
    int32_t status;      /* 0 or the -errno of the open */
    uint64_t session;    /* the session's number */
    uint64_t last_seq;   /* the last send the gateway finished */
    int32_t last_status; /* and its result */
    uint32_t window;     /* sends a client may have unacknowledged */
    uint32_t room;       /* free room in the mailbox at the open */
    uint32_t capacity;   /* of the mailbox */
    uint64_t max_msg;    /* its max_msg_size */
    /* Version 4 (not on the wire: which layout; 0-3 the 76 bytes of
     * before): then the gateway's X25519 public key, for a new session
     * (zeros when resumed). The session's key is HMAC(X25519 shared
     * value, "mbx session" | client's kx | gateway's kx). */
    uint32_t version;
    uint8_t kx[WIRE_KX];
};

struct wire_send {
    uint32_t prio;
    uint64_t type;
    int64_t timeout_ns;
};

struct wire_ack {
    int32_t status;
    uint32_t room;
};

struct wire_recv {
    int32_t from;
    uint32_t how;
    uint64_t type;
    uint64_t cap;
    int64_t timeout_ns;
};

struct wire_msg {
    mbx_msginfo info;
    uint64_t type;
};

struct wire_frag {
    uint64_t total;  /* the whole payload's size */
    uint64_t offset; /* of this piece */
};

struct wire_call {
    uint32_t prio;
    int64_t timeout_ns;
    uint64_t cap;
};

/* Sizes of the fixed parts of bodies (the payload, if any, follows). */
#define WIRE_HELLO_LEN       40
#define WIRE_OPEN_LEN        126 /* then the name's bytes (and, version 4, kx and proof) */
#define WIRE_OPEN_MAX        (WIRE_OPEN_LEN + WIRE_NAME_MAX + 2 * WIRE_KX) /* 445 */
#define WIRE_WELCOME_LEN     76 /* version 4: and kx (WIRE_WELCOME_LEN_V4) */
#define WIRE_WELCOME_LEN_V4  108
#define WIRE_SEND_LEN        20
#define WIRE_ACK_LEN         8
#define WIRE_RECV_LEN        32
#define WIRE_MSG_LEN         44
#define WIRE_RESULT_LEN      8
#define WIRE_RESULT_SIZE_LEN 16
#define WIRE_CALL_LEN        20
#define WIRE_STATR_LEN       284
#define WIRE_REPLY_LEN       12
#define WIRE_FRAG_LEN        16
#define WIRE_FIXED_MAX       64 /* the largest fixed part of a frame that has a payload */

/* The header. Decoding returns 0, or -EPROTO for a nonzero reserved field,
 * an unknown type, or a body longer than max_body. */
void wire_hdr_put(uint8_t *p, const struct wire_hdr *h);
int wire_hdr_get(const uint8_t *p, uint64_t max_body, struct wire_hdr *h);

/* Bodies: put writes the fixed part to p (the sizes above) and returns its
 * length; get decodes n bytes (the whole body) and returns 0 or -EPROTO. */
size_t wire_hello_put(uint8_t *p, const struct wire_hello *h);
int wire_hello_get(const uint8_t *p, size_t n, struct wire_hello *h);
size_t wire_open_put(uint8_t *p, const struct wire_open *o);
int wire_open_get(const uint8_t *p, size_t n, struct wire_open *o);
size_t wire_welcome_put(uint8_t *p, const struct wire_welcome *w);
int wire_welcome_get(const uint8_t *p, size_t n, struct wire_welcome *w);
size_t wire_send_put(uint8_t *p, const struct wire_send *s);
int wire_send_get(const uint8_t *p, size_t n, struct wire_send *s); /* n >= fixed */
size_t wire_ack_put(uint8_t *p, const struct wire_ack *a);
int wire_ack_get(const uint8_t *p, size_t n, struct wire_ack *a);
size_t wire_recv_put(uint8_t *p, const struct wire_recv *r);
int wire_recv_get(const uint8_t *p, size_t n, struct wire_recv *r);
size_t wire_msg_put(uint8_t *p, const struct wire_msg *m);
int wire_msg_get(const uint8_t *p, size_t n, struct wire_msg *m); /* n >= fixed; size = n - fixed */
size_t wire_result_put(uint8_t *p, int64_t result);
int wire_result_get(const uint8_t *p, size_t n, int64_t *result);
/* A W_RESULT with flag WF_SIZE: the result, then a message's size. */
size_t wire_result_size_put(uint8_t *p, int64_t result, uint64_t size);
int wire_result_size_get(const uint8_t *p, size_t n, int64_t *result, uint64_t *size);
size_t wire_call_put(uint8_t *p, const struct wire_call *c);
int wire_call_get(const uint8_t *p, size_t n, struct wire_call *c); /* n >= fixed */
size_t wire_stat_put(uint8_t *p, const mbx_stat *st);
int wire_stat_get(const uint8_t *p, size_t n, mbx_stat *st);
size_t wire_frag_put(uint8_t *p, const struct wire_frag *f);
/* n >= fixed; the piece is the n - WIRE_FRAG_LEN bytes that follow: 1 to
 * WIRE_FRAG_MAX of them, within total, and total more than one piece. */
int wire_frag_get(const uint8_t *p, size_t n, struct wire_frag *f);
/* W_HERE: the gateway's boot id, the identity of its mailboxes' folder
 * (plat_dir_id) and its path. */
size_t wire_here_put(uint8_t *p, const uint8_t boot_id[WIRE_BOOT_ID], const uint64_t dir_id[2],
                     const char *dir);
/* dir: WIRE_DIR_MAX + 1 bytes; an absolute path without NUL inside. */
int wire_here_get(const uint8_t *p, size_t n, uint8_t boot_id[WIRE_BOOT_ID], uint64_t dir_id[2],
                  char *dir);
size_t wire_reply_put(uint8_t *p, uint64_t token, uint32_t pid);
int wire_reply_get(const uint8_t *p, size_t n, uint64_t *token, uint32_t *pid); /* n >= fixed */

#endif
