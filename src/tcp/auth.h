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

/* Returns 1 when two MACs are equal (in constant time), else 0. */
int auth_equal(const uint8_t *a, const uint8_t *b);

#endif
