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
            if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\u%04x", c);
            else
                putc(c, f);
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
