/* The shared secret and the handshake's MACs (auth.h). */
#include "tcp/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int secret_default_path(char *buf, size_t cap)
{
    const char *e = getenv("MBX_SECRET_FILE");
    int n;
    if (e && *e) {
        n = snprintf(buf, cap, "%s", e);
    } else {
        const char *home = getenv("HOME");
        n = snprintf(buf, cap, "%s/.mbx-secret", home && *home ? home : "/");
    }
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int auth_random(uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = getrandom(p, n, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int create_secret(const char *path)
{
    uint8_t raw[32];
    int r = auth_random(raw, sizeof(raw));
    if (r)
        return r;
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return errno == EEXIST ? 0 : -errno; /* another made it first */
    ssize_t w = write(fd, hex, 64);
    int e = errno;
    close(fd);
    if (w != 64) {
        unlink(path);
        return w < 0 ? -e : -EIO;
    }
    return 0;
}

int secret_load(const char *path, int create, struct secret *s)
{
    char def[4096];
    if (!path) {
        int r = secret_default_path(def, sizeof(def));
        if (r)
            return r;
        path = def;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT && create) {
        int r = create_secret(path);
        if (r)
            return r;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0)
        return errno == ELOOP ? -EACCES : -errno;
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EACCES;
    }
    /* Anyone else who can read it, or who wrote it, can pose as us. */
    if (st.st_uid != geteuid() || (st.st_mode & 077)) {
        close(fd);
        return -EACCES;
    }
    ssize_t n = read(fd, s->b, sizeof(s->b));
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    while (n > 0 && (s->b[n - 1] == '\n' || s->b[n - 1] == '\r' || s->b[n - 1] == ' '))
        n--;
    if (n < 16)
        return -EINVAL;
    s->n = (size_t)n;
    return 0;
}

void auth_mac(const struct secret *s, const char *label, const uint8_t *a, const uint8_t *b,
              uint8_t mac[WIRE_MAC])
{
    uint8_t msg[16 + 2 * WIRE_NONCE];
    size_t ln = strlen(label);
    if (ln > 16)
        ln = 16;
    memset(msg, 0, 16);
    memcpy(msg, label, ln);
    memcpy(msg + 16, a, WIRE_NONCE);
    memcpy(msg + 16 + WIRE_NONCE, b, WIRE_NONCE);
    unsigned len = WIRE_MAC;
    HMAC(EVP_sha256(), s->b, (int)s->n, msg, sizeof(msg), mac, &len);
}

void auth_hash(const void *p, size_t n, uint8_t out[32])
{
    SHA256(p, n, out);
}

int auth_equal(const uint8_t *a, const uint8_t *b)
{
    return CRYPTO_memcmp(a, b, WIRE_MAC) == 0;
}

void *auth_kx_new(uint8_t pub[WIRE_KX])
{
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL);
    size_t n = WIRE_KX;
    if (!c || EVP_PKEY_keygen_init(c) != 1 || EVP_PKEY_keygen(c, &k) != 1 ||
        EVP_PKEY_get_raw_public_key(k, pub, &n) != 1 || n != WIRE_KX) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    EVP_PKEY_CTX_free(c);
    return k;
}

void auth_kx_free(void *kx)
{
    EVP_PKEY_free(kx);
}

int auth_kx_key(void *mine, const uint8_t peer[WIRE_KX], const uint8_t client_pub[WIRE_KX],
                const uint8_t gateway_pub[WIRE_KX], uint8_t key[WIRE_KX])
{
    EVP_PKEY *p = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, WIRE_KX);
    EVP_PKEY_CTX *c = p ? EVP_PKEY_CTX_new(mine, NULL) : NULL;
    uint8_t z[WIRE_KX];
    size_t n = sizeof(z);
    int r = !p || !c ? -ENOMEM : 0;
    /* OpenSSL refuses a peer key whose shared value is all zeros. */
    if (!r && (EVP_PKEY_derive_init(c) != 1 || EVP_PKEY_derive_set_peer(c, p) != 1 ||
               EVP_PKEY_derive(c, z, &n) != 1 || n != WIRE_KX))
        r = -EPROTO;
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(p);
    if (!r) {
        struct secret s = {.n = WIRE_KX};
        memcpy(s.b, z, WIRE_KX);
        auth_mac(&s, "mbx session", client_pub, gateway_pub, key);
        OPENSSL_cleanse(&s, sizeof(s));
    }
    OPENSSL_cleanse(z, sizeof(z));
    return r;
}

void auth_proof(const uint8_t key[WIRE_KX], const uint8_t *hello_nonce, const uint8_t *open_nonce,
                uint8_t out[WIRE_KX])
{
    struct secret s = {.n = WIRE_KX};
    memcpy(s.b, key, WIRE_KX);
    auth_mac(&s, "mbx resume", hello_nonce, open_nonce, out);
}
