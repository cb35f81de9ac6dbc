#include "json.h"

/* Writes the UTF-8 sequence at p: as \uXXXX (a surrogate pair past
 * U+FFFF) when it is a C1 control (U+0080..U+009F, which some terminals
 * act on: c2 9b is CSI, c2 9d OSC) or a hidden character (unicode_hidden)
 * for when the JSON is shown on a terminal; escaped, it reads back the
 * same. A byte that begins no sequence goes out as it is, or as U+FFFD
 * when lossy (raw, it would make the JSON invalid). Returns how many bytes
 * of p it wrote. */
static size_t put_wide(FILE *f, const unsigned char *p, const unsigned char *end, int lossy)
{
    size_t n = utf8_seq(p, end);
    if (n == 0 && lossy) {
        fputs("\\ufffd", f);
        return 1;
    }
    if (n == 0) {
        putc(*p, f);
        return 1;
    }
    uint32_t cp = utf8_decode(p, n);
    if (cp >= 0xa0 && !unicode_hidden(cp)) {
        fwrite(p, 1, n, f);
    } else if (cp < 0x10000) {
        fprintf(f, "\\u%04x", (unsigned)cp);
    } else {
        cp -= 0x10000;
        fprintf(f, "\\u%04x\\u%04x", (unsigned)(0xd800 + (cp >> 10)),
                (unsigned)(0xdc00 + (cp & 0x3ff)));
    }
    return n;
}

static void put_string(FILE *f, const char *s, size_t len, int lossy)
{
    putc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\b':
            fputs("\\b", f);
            break;
        case '\f':
            fputs("\\f", f);
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                fprintf(f, "\\u%04x", c);
            } else if (c >= 0x80) {
                i += put_wide(f, (const unsigned char *)s + i, (const unsigned char *)s + len,
                              lossy) -
                     1;
            } else {
                putc(c, f);
            }
        }
    }
    putc('"', f);
}

void json_put_string(FILE *f, const char *s, size_t len)
{
    put_string(f, s, len, 0);
}

void json_put_text(FILE *f, const char *s, size_t len)
{
    put_string(f, s, len, 1);
}

void json_put_payload(FILE *f, const void *buf, size_t len)
{
    fputs("\"payload\":", f);
    if (utf8_valid(buf, len)) {
        json_put_string(f, buf, len);
        return;
    }
    putc('"', f);
    base64_put(f, buf, len);
    fputs("\",\"encoding\":\"base64\"", f);
}
