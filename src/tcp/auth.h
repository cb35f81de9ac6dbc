/* The shared secret of tcp:// gateways and their clients, and the MACs of
 * the handshake (HMAC-SHA-256, OpenSSL's libcrypto).
 *
 * The secret is a file of at least 16 bytes, owned by the user and not
 * readable by group or others (a planted or shared file is refused):
 * $MBX_SECRET_FILE, else ~/.mbx-secret. A gateway makes one (32 random
 * bytes, hex) when there is none at the default path. */
#ifndef MBX_TCP_AUTH_H
#define MBX_TCP_AUTH_H

#include "tcp/wire.h"

#include <stddef.h>
#include <stdint.h>

#define AUTH_SECRET_MAX 256

struct secret {
    uint8_t b[AUTH_SECRET_MAX];
    size_t n;
};

/* Loads the secret from path (NULL: the default), creating it when create
 * is set and it is missing. Returns 0, -ENOENT, -EACCES (owner or mode
 * wrong: the message says which), -EINVAL (shorter than 16 bytes), or
 * -errno. */
int secret_load(const char *path, int create, struct secret *s);

/* The path secret_load(NULL) reads, into buf. Returns 0 or -ENAMETOOLONG. */
int secret_default_path(char *buf, size_t cap);

/* Fresh random bytes. Returns 0 or -errno. */
int auth_random(uint8_t *p, size_t n);

/* mac = HMAC(secret, label | a | b) over two nonces. */
void auth_mac(const struct secret *s, const char *label, const uint8_t *a, const uint8_t *b,
              uint8_t mac[WIRE_MAC]);

/* out = SHA-256 of the n bytes at p. */
void auth_hash(const void *p, size_t n, uint8_t out[32]);

/* A session's key (wire version 4): an X25519 exchange between the
 * client's first OPEN and the gateway's WELCOME, so that a client that
 * learnt only the session's id (in the clear on tcp://), the secret
 * included, cannot take the session up.
 * auth_kx_new makes a fresh key pair, its public key in pub: returns it
 * (free it with auth_kx_free), or NULL (no memory, no randomness).
 * auth_kx_key: the session key of my pair and the peer's public key,
 * HMAC(shared value, "mbx session" | client_pub | gateway_pub). Returns 0,
 * or -EPROTO for a peer key that gives no secret (a low-order point, all
 * zeros) or -ENOMEM. */
void *auth_kx_new(uint8_t pub[WIRE_KX]);
void auth_kx_free(void *kx);
int auth_kx_key(void *mine, const uint8_t peer[WIRE_KX], const uint8_t client_pub[WIRE_KX],
                const uint8_t gateway_pub[WIRE_KX], uint8_t key[WIRE_KX]);

/* A resume's proof that it holds the session's key: HMAC(key, "mbx
 * resume" | HELLO's nonce | OPEN's nonce), fresh at every connection. */
void auth_proof(const uint8_t key[WIRE_KX], const uint8_t *hello_nonce, const uint8_t *open_nonce,
                uint8_t out[WIRE_KX]);

/* Returns 1 when two MACs are equal (in constant time), else 0. */
int auth_equal(const uint8_t *a, const uint8_t *b);

#endif
