#include "format.h"

#include <inttypes.h>

#include "json.h"

static void put_escaped(FILE *f, const unsigned char *p, size_t len)
{
    const unsigned char *end = p + len;
    while (p < end) {
        size_t n = utf8_seq(p, end);
        unsigned c = *p;
        /* C1 controls (U+0080..U+009F) are as dangerous as C0 ones. */
        int c1 = n == 2 && c == 0xc2 && p[1] < 0xa0;
        if (n > 1 && !c1) {
            fwrite(p, 1, n, f);
            p += n;
            continue;
        }
        if (c == '\\')
            fputs("\\\\", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (n == 1 && c >= 0x20 && c != 0x7f)
            putc((int)c, f);
        else
            fprintf(f, "\\x%02x", c);
        p++;
    }
}

void format_msg_text(FILE *f, const void *buf, size_t len, int escape)
{
    if (escape)
        put_escaped(f, buf, len);
    else
        fwrite(buf, 1, len, f);
    putc('\n', f);
}

void format_msg_json(FILE *f, const void *buf, size_t len, const mbx_msginfo *info, uint64_t type)
{
    fprintf(f,
            "{\"seq\":%" PRIu64 ",\"size\":%zu,\"priority\":%" PRIu32 ",\"type\":%" PRIu64
            ",\"sender\":%" PRId32 ",\"sender_uid\":%" PRIu32 ",\"reply\":%s,",
            info->seq, len, info->priority, type, info->sender_pid, info->sender_uid,
            info->reply_token ? "true" : "false");
    json_put_payload(f, buf, len);
    fputs("}\n", f);
}
