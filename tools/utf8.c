#include "json.h"

#include <stdint.h>

size_t utf8_seq(const void *at, const void *end_)
{
    const uint8_t *p = at, *end = end_;
    uint8_t c = *p++;
    uint32_t cp, min;
    size_t more;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        more = 1;
        cp = c & 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        more = 2;
        cp = c & 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        more = 3;
        cp = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < more)
        return 0;
    for (size_t i = 0; i < more; i++, p++) {
        if ((*p & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (*p & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return more + 1;
}

int utf8_valid(const void *buf, size_t len)
{
    const uint8_t *p = buf, *end = p + len;
    while (p < end) {
        size_t n = utf8_seq(p, end);
        if (n == 0)
            return 0;
        p += n;
    }
    return 1;
}
