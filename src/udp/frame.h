/* The datagrams of udp:// mailboxes, version 1: one message per UDP
 * datagram, authenticated one by one. Everything read from the network is
 * untrusted: the decoder returns -EPROTO for anything malformed and never
 * reads past the bytes it was given.
 *
 * A datagram, little endian:
 *   u32 magic "MBXU", u8 version (1), u8 kind, u8 name length (1..200),
 *   u8 zero, u64 sender (random, per handle), u64 sequence (from 1, per
 *   sender), u64 the sender's wall clock in ms, u64 type tag, u32
 *   priority, i32 status (HERE) or zero,
 *   the name (a plain local name: [A-Za-z0-9._-], not starting with '.'),
 *   the body (MSG: the payload; PROBE: a nonce; HERE: see below),
 *   a 32-byte HMAC-SHA-256, with the shared secret, over every byte
 *   before it.
 *
 * The header is UDPF_HDR bytes; a datagram is at most UDPF_DGRAM_MAX bytes
 * (IPv4's largest UDP payload), so a message's payload is at most
 * UDPF_DGRAM_MAX - UDPF_HDR - UDPF_MAC - name length bytes. */
#ifndef MBX_UDP_FRAME_H
#define MBX_UDP_FRAME_H

#include "tcp/auth.h"

#include <stddef.h>
#include <stdint.h>

#define UDPF_MAGIC     0x5558424du /* "MBXU" */
#define UDPF_VERSION   1
#define UDPF_HDR       48
#define UDPF_MAC       32
#define UDPF_NONCE     32
#define UDPF_BOOT_ID   16
#define UDPF_DIR_MAX   400
#define UDPF_DIR_ID    16 /* the folder's device and inode numbers */
#define UDPF_NAME_MAX  200
#define UDPF_DGRAM_MAX 65507 /* 65535 - 20 (IPv4 header) - 8 (UDP header) */

enum udpf_kind {
    UDPF_MSG = 1,   /* sender to gateway: a message for mailbox `name` */
    UDPF_PROBE = 2, /* sender on the gateway's machine: where is `name`? body: a nonce */
    UDPF_HERE = 3,  /* gateway: the answer; body: the nonce, boot id, mailbox folder */
};

/* A decoded datagram: name and body point into the bytes decoded. */
struct udpf {
    uint8_t kind;
    uint64_t sender, seq, time_ms, type;
    uint32_t prio;
    int32_t status;
    const char *name; /* not NUL-terminated: name_len bytes */
    size_t name_len;
    const uint8_t *body;
    size_t body_len;
    const uint8_t *mac; /* UDPF_MAC bytes: the last of the datagram */
};

/* The largest payload of a message for a name of name_len bytes. */
static inline size_t udpf_payload_max(size_t name_len)
{
    return UDPF_DGRAM_MAX - UDPF_HDR - UDPF_MAC - name_len;
}

/* Returns 1 when the n bytes at name are a plain local mailbox name
 * (1..200 of [A-Za-z0-9._-], not starting with '.'), else 0. */
int udpf_name_ok(const char *name, size_t n);

/* Writes the header and name of f (its kind, sender, seq, time_ms, type,
 * prio, status, name, name_len) to p, which has room for UDPF_HDR +
 * name_len bytes. Returns the bytes written. */
size_t udpf_put(uint8_t *p, const struct udpf *f);

/* The shared secret, keyed into a MAC context once (an HMAC made from the
 * secret on every datagram costs four times as much). One user at a time:
 * its owner serialises seal and verify. */
struct udpf_key {
    void *ctx; /* OpenSSL's EVP_MAC_CTX */
};

/* Keys k with secret s. Returns 0 or -ENOMEM. */
int udpf_key_init(struct udpf_key *k, const struct secret *s);

/* Frees what udpf_key_init made (k zeroed: nothing). Never fails. */
void udpf_key_free(struct udpf_key *k);

/* Appends the MAC of the n bytes at p (header, name and body) at p + n.
 * Returns n + UDPF_MAC. */
size_t udpf_seal(struct udpf_key *k, uint8_t *p, size_t n);

/* Decodes the n bytes of a datagram (MAC not checked: udpf_verify).
 * Returns 0, or -EPROTO: shorter than a header, name and MAC, a wrong magic,
 * version or kind, a nonzero reserved field, a bad name, a priority out of
 * range, a PROBE whose body is not a nonce, a HERE whose body is not a
 * nonce, boot id and absolute folder. */
int udpf_get(const uint8_t *p, size_t n, struct udpf *f);

/* Returns 1 when the last UDPF_MAC of the n bytes at p are their MAC with
 * key k (compared in constant time), else 0. n >= UDPF_MAC. */
int udpf_verify(struct udpf_key *k, const uint8_t *p, size_t n);

/* HERE's body: the probe's nonce, the gateway's boot id, the identity of
 * its mailbox folder (plat_dir_id) and that folder's path (absolute, at
 * most UDPF_DIR_MAX bytes, no NUL). udpf_here_put writes it and returns
 * its length; udpf_here_get decodes a HERE's body into dir (UDPF_DIR_MAX +
 * 1 bytes, NUL-terminated) and returns 0 or -EPROTO. */
size_t udpf_here_put(uint8_t *p, const uint8_t nonce[UDPF_NONCE], const uint8_t boot[UDPF_BOOT_ID],
                     const uint64_t dir_id[2], const char *dir);
int udpf_here_get(const uint8_t *p, size_t n, uint8_t nonce[UDPF_NONCE], uint8_t boot[UDPF_BOOT_ID],
                  uint64_t dir_id[2], char *dir);

#endif
