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

uint32_t utf8_decode(const void *at, size_t n)
{
    const uint8_t *p = at;
    static const uint8_t lead_bits[5] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    if (n < 1 || n > 4)
        return 0;
    uint32_t cp = p[0] & lead_bits[n];
    for (size_t i = 1; i < n; i++)
        cp = cp << 6 | (p[i] & 0x3f);
    return cp;
}

/* Ranges of code points a terminal shows as nothing, or uses to reorder
 * what it shows (Unicode's bidirectional controls and default-ignorable
 * characters): a name or a payload holding them can read as something it
 * is not ("jobs" with a zero-width space; a right-to-left override that
 * turns "txt.exe" around). Sorted, inclusive. */
static const uint32_t hidden_ranges[][2] = {
    {0x00ad, 0x00ad},   /* soft hyphen */
    {0x034f, 0x034f},   /* combining grapheme joiner */
    {0x061c, 0x061c},   /* Arabic letter mark */
    {0x115f, 0x1160},   /* Hangul fillers */
    {0x17b4, 0x17b5},   /* Khmer inherent vowels */
    {0x180b, 0x180f},   /* Mongolian selectors and vowel separator */
    {0x200b, 0x200f},   /* zero-width space, joiners, LRM, RLM */
    {0x2028, 0x202e},   /* line and paragraph separators, embeddings, overrides */
    {0x2060, 0x206f},   /* word joiner, invisible operators, isolates */
    {0x3164, 0x3164},   /* Hangul filler */
    {0xfe00, 0xfe0f},   /* variation selectors */
    {0xfeff, 0xfeff},   /* zero-width no-break space (BOM) */
    {0xffa0, 0xffa0},   /* halfwidth Hangul filler */
    {0xfff0, 0xfffb},   /* interlinear annotation marks */
    {0x1bca0, 0x1bca3}, /* shorthand format controls */
    {0x1d173, 0x1d17a}, /* musical format controls */
    {0xe0000, 0xe0fff}, /* tags, variation selectors supplement */
};

int unicode_hidden(uint32_t cp)
{
    size_t lo = 0, hi = sizeof hidden_ranges / sizeof hidden_ranges[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < hidden_ranges[mid][0])
            hi = mid;
        else if (cp > hidden_ranges[mid][1])
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}
