/* The datagrams of udp:// mailboxes (frame.h). */
#include "udp/frame.h"

#include "mbx.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <string.h>

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

int udpf_name_ok(const char *name, size_t n)
{
    if (n == 0 || n > UDPF_NAME_MAX || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

size_t udpf_put(uint8_t *p, const struct udpf *f)
{
    put32(p, UDPF_MAGIC);
    p[4] = UDPF_VERSION;
    p[5] = f->kind;
    p[6] = (uint8_t)f->name_len;
    p[7] = 0;
    put64(p + 8, f->sender);
    put64(p + 16, f->seq);
    put64(p + 24, f->time_ms);
    put64(p + 32, f->type);
    put32(p + 40, f->prio);
    put32(p + 44, (uint32_t)f->status);
    memcpy(p + UDPF_HDR, f->name, f->name_len);
    return UDPF_HDR + f->name_len;
}

int udpf_key_init(struct udpf_key *k, const struct secret *s)
{
    k->ctx = NULL;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac); /* the context holds its own reference */
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (!c || EVP_MAC_init(c, s->b, s->n, params) != 1) {
        EVP_MAC_CTX_free(c);
        return -ENOMEM;
    }
    k->ctx = c;
    return 0;
}

void udpf_key_free(struct udpf_key *k)
{
    EVP_MAC_CTX_free(k->ctx); /* it wipes the key it holds */
    k->ctx = NULL;
}

/* HMAC-SHA-256 of the n bytes at p. They begin with the magic "MBXU" and
 * the version, where the tcp:// handshake's MACs begin with their labels
 * ("mbx client", "mbx gateway"): a MAC made for one never passes for the
 * other's. */
static void mac_of(struct udpf_key *k, const uint8_t *p, size_t n, uint8_t out[UDPF_MAC])
{
    size_t len = 0;
    /* init without a key starts again with the key it has. */
    if (!k->ctx || EVP_MAC_init(k->ctx, NULL, 0, NULL) != 1 || EVP_MAC_update(k->ctx, p, n) != 1 ||
        EVP_MAC_final(k->ctx, out, &len, UDPF_MAC) != 1 || len != UDPF_MAC) {
        memset(out, 0, UDPF_MAC); /* out of memory: a MAC that matches nothing real */
        out[0] = 1;
    }
}

size_t udpf_seal(struct udpf_key *k, uint8_t *p, size_t n)
{
    mac_of(k, p, n, p + n);
    return n + UDPF_MAC;
}

int udpf_verify(struct udpf_key *k, const uint8_t *p, size_t n)
{
    if (n < UDPF_MAC)
        return 0;
    uint8_t want[UDPF_MAC];
    mac_of(k, p, n - UDPF_MAC, want);
    return CRYPTO_memcmp(want, p + n - UDPF_MAC, UDPF_MAC) == 0;
}

int udpf_get(const uint8_t *p, size_t n, struct udpf *f)
{
    if (n < UDPF_HDR + UDPF_MAC || n > UDPF_DGRAM_MAX)
        return -EPROTO;
    if (get32(p) != UDPF_MAGIC || p[4] != UDPF_VERSION || p[7] != 0)
        return -EPROTO;
    f->kind = p[5];
    f->name_len = p[6];
    if (f->kind < UDPF_MSG || f->kind > UDPF_HERE)
        return -EPROTO;
    if (n < UDPF_HDR + f->name_len + UDPF_MAC)
        return -EPROTO;
    f->sender = get64(p + 8);
    f->seq = get64(p + 16);
    f->time_ms = get64(p + 24);
    f->type = get64(p + 32);
    f->prio = get32(p + 40);
    f->status = (int32_t)get32(p + 44);
    f->name = (const char *)p + UDPF_HDR;
    if (!udpf_name_ok(f->name, f->name_len))
        return -EPROTO;
    f->body = p + UDPF_HDR + f->name_len;
    f->body_len = n - UDPF_HDR - f->name_len - UDPF_MAC;
    f->mac = p + n - UDPF_MAC;
    if (f->prio >= MBX_PRIO_MAX || f->seq == 0)
        return -EPROTO;
    switch (f->kind) {
    case UDPF_MSG:
        return f->status == 0 ? 0 : -EPROTO;
    case UDPF_PROBE:
        return f->status == 0 && f->body_len == UDPF_NONCE ? 0 : -EPROTO;
    default: { /* UDPF_HERE */
        uint8_t nonce[UDPF_NONCE], boot[UDPF_BOOT_ID];
        uint64_t dir_id[2];
        char dir[UDPF_DIR_MAX + 1];
        return f->status <= 0 && udpf_here_get(f->body, f->body_len, nonce, boot, dir_id, dir) == 0
                   ? 0
                   : -EPROTO;
    }
    }
}

/* Where the folder's path starts in a HERE body. */
#define HERE_DIR (UDPF_NONCE + UDPF_BOOT_ID + UDPF_DIR_ID)

size_t udpf_here_put(uint8_t *p, const uint8_t nonce[UDPF_NONCE], const uint8_t boot[UDPF_BOOT_ID],
                     const uint64_t dir_id[2], const char *dir)
{
    size_t dn = strlen(dir);
    if (dn > UDPF_DIR_MAX)
        dn = UDPF_DIR_MAX;
    memcpy(p, nonce, UDPF_NONCE);
    memcpy(p + UDPF_NONCE, boot, UDPF_BOOT_ID);
    put64(p + UDPF_NONCE + UDPF_BOOT_ID, dir_id[0]);
    put64(p + UDPF_NONCE + UDPF_BOOT_ID + 8, dir_id[1]);
    memcpy(p + HERE_DIR, dir, dn);
    return HERE_DIR + dn;
}

int udpf_here_get(const uint8_t *p, size_t n, uint8_t nonce[UDPF_NONCE], uint8_t boot[UDPF_BOOT_ID],
                  uint64_t dir_id[2], char *dir)
{
    /* A status other than 0 comes with an empty folder. */
    if (n < HERE_DIR || n - HERE_DIR > UDPF_DIR_MAX)
        return -EPROTO;
    size_t dn = n - HERE_DIR;
    const uint8_t *d = p + HERE_DIR;
    if (memchr(d, 0, dn) || (dn && d[0] != '/'))
        return -EPROTO;
    memcpy(nonce, p, UDPF_NONCE);
    memcpy(boot, p + UDPF_NONCE, UDPF_BOOT_ID);
    dir_id[0] = get64(p + UDPF_NONCE + UDPF_BOOT_ID);
    dir_id[1] = get64(p + UDPF_NONCE + UDPF_BOOT_ID + 8);
    memcpy(dir, d, dn);
    dir[dn] = 0;
    return 0;
}
