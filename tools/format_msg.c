#include "format.h"

#include <inttypes.h>
#include <string.h>

#include "json.h"

/* What a terminal would act on (C0 and C1 controls, DEL, bytes that are
 * not UTF-8) as \t, \n, \r, \xNN; characters it would show as nothing or
 * use to reorder the line (unicode_hidden) as \u{XXXX}; a backslash as
 * two, so the text stays unambiguous. Returns the number of bytes
 * written. */
static size_t put_escaped(FILE *f, const unsigned char *p, size_t len, int keep_newlines)
{
    const unsigned char *end = p + len;
    size_t out = 0;
    while (p < end) {
        size_t n = utf8_seq(p, end);
        unsigned c = *p;
        /* C1 controls (U+0080..U+009F) are as dangerous as C0 ones: some
         * terminals take c2 9b for CSI and c2 9d for OSC. */
        int c1 = n == 2 && c == 0xc2 && p[1] < 0xa0;
        if (n > 1 && unicode_hidden(utf8_decode(p, n))) {
            out += (size_t)fprintf(f, "\\u{%x}", (unsigned)utf8_decode(p, n));
            p += n;
            continue;
        }
        if (n > 1 && !c1) {
            fwrite(p, 1, n, f);
            out += n;
            p += n;
            continue;
        }
        if (c == '\\') {
            fputs("\\\\", f);
            out += 2;
        } else if (c == '\t') {
            fputs("\\t", f);
            out += 2;
        } else if (c == '\n' && keep_newlines) {
            putc('\n', f);
            out++;
        } else if (c == '\n') {
            fputs("\\n", f);
            out += 2;
        } else if (c == '\r') {
            fputs("\\r", f);
            out += 2;
        } else if (n == 1 && c >= 0x20 && c != 0x7f) {
            putc((int)c, f);
            out++;
        } else {
            fprintf(f, "\\x%02x", c);
            out += 4;
        }
        p++;
    }
    return out;
}

size_t format_escaped(FILE *f, const void *buf, size_t len)
{
    return put_escaped(f, buf, len, 0);
}

/* How long the UTF-8 sequence that lead byte c starts is (0: c starts
 * none). */
static size_t utf8_want(unsigned c)
{
    if (c >= 0xc2 && c <= 0xdf)
        return 2;
    if (c >= 0xe0 && c <= 0xef)
        return 3;
    if (c >= 0xf0 && c <= 0xf4)
        return 4;
    return 0;
}

static int continuation(unsigned c)
{
    return (c & 0xc0) == 0x80;
}

/* How many bytes at the end of p (at most 3) begin a UTF-8 sequence that
 * the next piece may complete. */
static size_t open_tail(const unsigned char *p, size_t len)
{
    for (size_t i = len; i > 0 && len - i < 3;) {
        i--;
        if (!continuation(p[i]))
            return utf8_want(p[i]) > len - i ? len - i : 0;
    }
    return 0;
}

void format_stream_escaped(FILE *f, struct format_stream *s, const void *buf, size_t len)
{
    const unsigned char *p = buf;

    if (s->held) {
        size_t want = utf8_want(s->hold[0]);
        while (len && s->held < want && continuation(*p)) {
            s->hold[s->held++] = *p++;
            len--;
        }
        if (!len && s->held < want)
            return; /* still cut: this piece was all continuation bytes */
        put_escaped(f, s->hold, s->held, 1);
        s->held = 0;
    }
    size_t tail = open_tail(p, len);
    put_escaped(f, p, len - tail, 1);
    memcpy(s->hold, p + len - tail, tail);
    s->held = tail;
}

void format_stream_end(FILE *f, struct format_stream *s)
{
    put_escaped(f, s->hold, s->held, 1);
    s->held = 0;
}

void format_msg_text(FILE *f, const void *buf, size_t len, int escape)
{
    if (escape)
        put_escaped(f, buf, len, 0);
    else
        fwrite(buf, 1, len, f);
    putc('\n', f);
}

void format_msg_json(FILE *f, const void *buf, size_t len, const mbx_msginfo *info, uint64_t type)
{
    fprintf(f,
            "{\"seq\":%" PRIu64 ",\"size\":%zu,\"priority\":%" PRIu32 ",\"type\":%" PRIu64
            ",\"sender\":%" PRId32 ",\"sender_uid\":%" PRIu32 ",",
            info->seq, len, info->priority, type, info->sender_pid, info->sender_uid);
    if (info->sender_host) {
        /* From another host, through a gateway: named while the gateway
         * runs (mbx_msginfo_host), null when it cannot be. */
        char host[64];
        fputs("\"sender_host\":", f);
        if (mbx_msginfo_host(info, host, sizeof(host)) == 1)
            json_put_string(f, host, strlen(host));
        else
            fputs("null", f);
        putc(',', f);
    }
    fprintf(f, "\"reply\":%s,", info->reply_token ? "true" : "false");
    json_put_payload(f, buf, len);
    fputs("}\n", f);
}
