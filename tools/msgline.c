#include "msgline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "mbx.h"

#define MAX_DEPTH 32 /* nesting of skipped values */

struct cursor {
    const char *p, *end;
    const char *why;
};

static int fail(struct cursor *c, const char *why)
{
    if (!c->why)
        c->why = why;
    return -EINVAL;
}

static void skip_ws(struct cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
        c->p++;
}

static int eat(struct cursor *c, char ch, const char *why)
{
    skip_ws(c);
    if (c->p >= c->end || *c->p != ch)
        return fail(c, why);
    c->p++;
    return 0;
}

static int hex4(struct cursor *c, unsigned *out)
{
    unsigned v = 0;
    if (c->end - c->p < 4)
        return fail(c, "a \\u escape needs four hex digits");
    for (int i = 0; i < 4; i++) {
        char h = *c->p++;
        v <<= 4;
        if (h >= '0' && h <= '9')
            v |= (unsigned)(h - '0');
        else if (h >= 'a' && h <= 'f')
            v |= (unsigned)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F')
            v |= (unsigned)(h - 'A' + 10);
        else
            return fail(c, "a \\u escape needs four hex digits");
    }
    *out = v;
    return 0;
}

static size_t put_utf8(unsigned char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 63));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 63));
        o[2] = (unsigned char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 63));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 63));
    o[3] = (unsigned char)(0x80 | (cp & 63));
    return 4;
}

/* A string: into *out (malloc'd, *len bytes) when out is not NULL, else
 * only checked. The decoded form is never longer than the quoted one. */
static int string(struct cursor *c, unsigned char **out, size_t *len)
{
    skip_ws(c);
    if (c->p >= c->end || *c->p != '"')
        return fail(c, "expected a string");
    c->p++;
    unsigned char *o = NULL;
    size_t n = 0;
    if (out) {
        o = malloc((size_t)(c->end - c->p) + 1);
        if (!o)
            return -ENOMEM;
    }
    for (;;) {
        if (c->p >= c->end) {
            free(o);
            return fail(c, "a string does not end");
        }
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') {
            c->p++;
            break;
        }
        if (ch < 0x20) {
            free(o);
            return fail(c, "a control character inside a string");
        }
        if (ch != '\\') {
            size_t k = utf8_seq(c->p, c->end);
            if (k == 0) {
                free(o);
                return fail(c, "a string that is not UTF-8");
            }
            if (o)
                memcpy(o + n, c->p, k);
            n += k;
            c->p += k;
            continue;
        }
        c->p++;
        if (c->p >= c->end) {
            free(o);
            return fail(c, "a string does not end");
        }
        char e = *c->p++;
        unsigned cp;
        unsigned char tmp[4];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char decoded[] = "\"\\/\b\f\n\r\t";
            cp = (unsigned char)decoded[simple - "\"\\/bfnrt"];
        } else if (e == 'u') {
            if (hex4(c, &cp)) {
                free(o);
                return -EINVAL;
            }
            if (cp >= 0xdc00 && cp < 0xe000) {
                free(o);
                return fail(c, "a lone low surrogate in a \\u escape");
            }
            if (cp >= 0xd800 && cp < 0xdc00) {
                unsigned lo;
                if (c->end - c->p < 2 || c->p[0] != '\\' || c->p[1] != 'u') {
                    free(o);
                    return fail(c, "a high surrogate without its low half");
                }
                c->p += 2;
                if (hex4(c, &lo)) {
                    free(o);
                    return -EINVAL;
                }
                if (lo < 0xdc00 || lo >= 0xe000) {
                    free(o);
                    return fail(c, "a high surrogate without its low half");
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
        } else {
            free(o);
            return fail(c, "an unknown escape in a string");
        }
        size_t k = put_utf8(tmp, cp);
        if (o)
            memcpy(o + n, tmp, k);
        n += k;
    }
    if (out) {
        *out = o;
        *len = n;
    }
    return 0;
}

/* A non-negative integer without sign, fraction or exponent, up to max. */
static int integer(struct cursor *c, uint64_t max, uint64_t *out, const char *what)
{
    skip_ws(c);
    const char *s = c->p;
    uint64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        unsigned d = (unsigned)(*c->p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return fail(c, what);
        v = v * 10 + d;
        c->p++;
    }
    if (c->p == s || (c->p - s > 1 && *s == '0'))
        return fail(c, what);
    if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E' || *c->p == '-'))
        return fail(c, what);
    if (v > max)
        return fail(c, what);
    *out = v;
    return 0;
}

/* Any JSON value, checked and skipped. */
static int skip_value(struct cursor *c, int depth)
{
    skip_ws(c);
    if (c->p >= c->end)
        return fail(c, "a value is missing");
    if (depth > MAX_DEPTH)
        return fail(c, "values nested too deep");
    char ch = *c->p;
    if (ch == '"')
        return string(c, NULL, NULL);
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        c->p++;
        skip_ws(c);
        if (c->p < c->end && *c->p == close) {
            c->p++;
            return 0;
        }
        for (;;) {
            if (ch == '{' && (string(c, NULL, NULL) || eat(c, ':', "expected ':'")))
                return -EINVAL;
            if (skip_value(c, depth + 1))
                return -EINVAL;
            skip_ws(c);
            if (c->p < c->end && *c->p == ',') {
                c->p++;
                continue;
            }
            return eat(c, close, "an object or array does not end");
        }
    }
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(words[i]);
        if ((size_t)(c->end - c->p) >= k && memcmp(c->p, words[i], k) == 0) {
            c->p += k;
            return 0;
        }
    }
    /* A number: -? int frac? exp? */
    const char *s = c->p;
    if (c->p < c->end && *c->p == '-')
        c->p++;
    const char *digits = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        c->p++;
    if (c->p == digits || (c->p - digits > 1 && *digits == '0'))
        return fail(c, "an invalid value");
    if (c->p < c->end && *c->p == '.') {
        const char *f = ++c->p;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            c->p++;
        if (c->p == f)
            return fail(c, "an invalid number");
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        const char *x = c->p;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            c->p++;
        if (c->p == x)
            return fail(c, "an invalid number");
    }
    (void)s;
    return 0;
}

static int b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* Decodes padded base64 in place; strict: the length is a multiple of 4,
 * '=' only at the end, unused bits zero. */
static int base64_decode(unsigned char *b, size_t *len)
{
    size_t n = *len, o = 0;
    if (n % 4)
        return -EINVAL;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            if (b[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad || (v[k] = b64_value(b[i + k])) < 0)
                return -EINVAL;
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
            return -EINVAL;
        b[o++] = (unsigned char)(w >> 16);
        if (pad < 2)
            b[o++] = (unsigned char)(w >> 8);
        if (pad < 1)
            b[o++] = (unsigned char)w;
    }
    *len = o;
    return 0;
}

int msgline_parse(const char *s, size_t n, struct msgline *out, const char **why)
{
    struct cursor c = {s, s + n, NULL};
    struct msgline m = {0, 0, NULL, 0};
    unsigned char *enc = NULL;
    size_t enclen = 0;
    int seen_prio = 0, seen_type = 0, seen_payload = 0, seen_enc = 0, r = 0;

    if (eat(&c, '{', "a line must be one JSON object")) {
        r = -EINVAL;
        goto out;
    }
    skip_ws(&c);
    if (c.p < c.end && *c.p == '}') {
        r = fail(&c, "no \"payload\"");
        goto out;
    }
    for (;;) {
        unsigned char *key;
        size_t klen;
        if ((r = string(&c, &key, &klen)))
            goto out;
        if ((r = eat(&c, ':', "expected ':' after a key"))) {
            free(key);
            goto out;
        }
        uint64_t v = 0;
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(key, k, klen) == 0)
        if (KEY("priority")) {
            r = seen_prio++ ? fail(&c, "\"priority\" twice")
                            : integer(&c, MBX_PRIO_MAX - 1, &v, "\"priority\" must be 0 .. 32767");
            m.prio = (unsigned)v;
        } else if (KEY("type")) {
            r = seen_type++ ? fail(&c, "\"type\" twice")
                            : integer(&c, UINT64_MAX, &m.type, "\"type\" must be 0 .. 2^64-1");
        } else if (KEY("payload")) {
            r = seen_payload++ ? fail(&c, "\"payload\" twice") : string(&c, &m.payload, &m.len);
        } else if (KEY("encoding")) {
            r = seen_enc++ ? fail(&c, "\"encoding\" twice") : string(&c, &enc, &enclen);
        } else {
            r = skip_value(&c, 0);
        }
#undef KEY
        free(key);
        if (r)
            goto out;
        skip_ws(&c);
        if (c.p < c.end && *c.p == ',') {
            c.p++;
            continue;
        }
        if ((r = eat(&c, '}', "expected ',' or '}'")))
            goto out;
        break;
    }
    skip_ws(&c);
    if (c.p != c.end) {
        r = fail(&c, "text after the object");
        goto out;
    }
    if (!seen_payload) {
        r = fail(&c, "no \"payload\"");
        goto out;
    }
    if (seen_enc) {
        if (enclen == 6 && memcmp(enc, "base64", 6) == 0) {
            if (base64_decode(m.payload, &m.len)) {
                r = fail(&c, "\"payload\" is not valid base64");
                goto out;
            }
        } else {
            r = fail(&c, "\"encoding\" must be \"base64\"");
            goto out;
        }
    }
out:
    free(enc);
    if (r) {
        free(m.payload);
        *why = r == -EINVAL ? c.why : "out of memory";
        return r;
    }
    *out = m;
    return 0;
}

void msgline_free(struct msgline *m)
{
    free(m->payload);
    m->payload = NULL;
    m->len = 0;
}

void msgline_put(FILE *f, unsigned prio, uint64_t type, const void *buf, size_t len)
{
    fprintf(f, "{\"priority\":%u,\"type\":%" PRIu64 ",", prio, type);
    json_put_payload(f, buf, len);
    fputs("}\n", f);
}
