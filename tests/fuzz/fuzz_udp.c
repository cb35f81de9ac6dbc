/* Fuzz target: the datagram codec of udp:// mailboxes (src/udp/frame.c),
 * the first code a UDP gateway runs on bytes from anyone.
 *
 * The first byte of the input chooses: bit 0 set, the rest is a datagram
 * whose last 32 bytes are replaced by its true MAC with a fixed secret (so
 * that inputs reach what follows a valid MAC); else the rest as it is. It
 * is decoded from an exact-size copy (a read past it is caught under
 * ASan). udpf_get returns 0 or -EPROTO; on success:
 *   - the name is a valid plain name, the parts add up to the length;
 *   - the header and name encoded again with udpf_put, followed by the
 *     same body and MAC, are the input's bytes exactly;
 *   - udpf_verify says 1 for a sealed input and 0 once a byte changes;
 *   - a HERE's body decodes, and encodes again to the same bytes.
 */
#include "fuzz_target.h"

#include "udp/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

static const struct secret secret = {.b = "0123456789abcdef0123456789abcdef", .n = 32};
static struct udpf_key key;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size - 1 > UDPF_DGRAM_MAX)
        return 0;
    if (!key.ctx)
        CHECK(udpf_key_init(&key, &secret) == 0); /* kept for the whole run */
    int sealed = data[0] & 1;
    size_t n = size - 1;
    uint8_t *p = malloc(n ? n : 1);
    CHECK(p);
    if (n)
        memcpy(p, data + 1, n);
    if (sealed && n >= UDPF_MAC)
        udpf_seal(&key, p, n - UDPF_MAC);
    struct udpf f;
    int r = udpf_get(p, n, &f);
    CHECK(r == 0 || r == -EPROTO);
    if (sealed && n >= UDPF_MAC) {
        CHECK(udpf_verify(&key, p, n) == 1);
        p[n / 2] ^= 0x40;
        CHECK(udpf_verify(&key, p, n) == 0);
        p[n / 2] ^= 0x40;
    }
    if (r == 0) {
        CHECK(f.kind >= UDPF_MSG && f.kind <= UDPF_HERE);
        CHECK(udpf_name_ok(f.name, f.name_len));
        CHECK(UDPF_HDR + f.name_len + f.body_len + UDPF_MAC == n);
        CHECK(f.mac == p + n - UDPF_MAC);
        CHECK(f.prio < 32768 && f.seq != 0);
        uint8_t *q = malloc(n);
        CHECK(q);
        size_t k = udpf_put(q, &f);
        CHECK(k == UDPF_HDR + f.name_len);
        memcpy(q + k, f.body, f.body_len);
        memcpy(q + k + f.body_len, f.mac, UDPF_MAC);
        CHECK(memcmp(p, q, n) == 0);
        if (f.kind == UDPF_HERE) {
            uint8_t nonce[UDPF_NONCE], boot[UDPF_BOOT_ID];
            uint64_t dir_id[2];
            char dir[UDPF_DIR_MAX + 1];
            CHECK(udpf_here_get(f.body, f.body_len, nonce, boot, dir_id, dir) == 0);
            CHECK(strlen(dir) + UDPF_NONCE + UDPF_BOOT_ID + UDPF_DIR_ID == f.body_len);
            size_t hn = udpf_here_put(q, nonce, boot, dir_id, dir);
            CHECK(hn == f.body_len && memcmp(q, f.body, hn) == 0);
        }
        free(q);
    }
    free(p);
    return 0;
}
