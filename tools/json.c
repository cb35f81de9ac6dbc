#include "json.h"

void json_put_string(FILE *f, const char *s, size_t len)
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
            } else if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
                       (unsigned char)s[i + 1] < 0xa0) {
                /* A C1 control (U+0080..U+009F, c2 80..c2 9f): some
                 * terminals act on it (c2 9b is CSI, c2 9d OSC) when the
                 * JSON is shown on one; escaped, it reads back the same. */
                fprintf(f, "\\u%04x", (unsigned char)s[++i]);
            } else {
                putc(c, f);
            }
        }
    }
    putc('"', f);
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
