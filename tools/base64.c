#include "json.h"

#include <stdint.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_put(FILE *f, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    size_t i;

    for (i = 0; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        putc(alphabet[v >> 18], f);
        putc(alphabet[v >> 12 & 63], f);
        putc(alphabet[v >> 6 & 63], f);
        putc(alphabet[v & 63], f);
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        putc(alphabet[v >> 18], f);
        putc(alphabet[v >> 12 & 63], f);
        fputs("==", f);
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        putc(alphabet[v >> 18], f);
        putc(alphabet[v >> 12 & 63], f);
        putc(alphabet[v >> 6 & 63], f);
        putc('=', f);
    }
}
