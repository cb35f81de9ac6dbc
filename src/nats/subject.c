/* Mailbox names to NATS subjects and back (subject.h). */
#include "nats/subject.h"

#include "core/names.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const unsigned band_base[NSUBJ_BANDS] = {0, 1, 16, 256};

unsigned nsubj_band(unsigned prio)
{
    unsigned b = 0;
    while (b + 1 < NSUBJ_BANDS && prio >= band_base[b + 1])
        b++;
    return b;
}

unsigned nsubj_band_base(unsigned band)
{
    return band < NSUBJ_BANDS ? band_base[band] : 0;
}

static int token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* 0 when s[0..len) is one or more dot-separated tokens of token_char. */
static int check_tokens(const char *s, size_t len)
{
    if (len == 0 || s[0] == '.' || s[len - 1] == '.')
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.')
                return -EINVAL;
        } else if (!token_char(s[i])) {
            return -EINVAL;
        }
    }
    return 0;
}

int nsubj_check_prefix(const char *prefix)
{
    if (!prefix)
        return -EINVAL;
    size_t n = strnlen(prefix, NSUBJ_PREFIX_MAX + 1);
    return n > NSUBJ_PREFIX_MAX ? -EINVAL : check_tokens(prefix, n);
}

int nsubj_check_host(const char *host)
{
    if (!host)
        return -EINVAL;
    size_t n = strnlen(host, NSUBJ_HOST_MAX + 1);
    if (n == 0 || n > NSUBJ_HOST_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!token_char(host[i]))
            return -EINVAL;
    return 0;
}

/* Appends s (n bytes) at out[*at], keeping room for the NUL. */
static int put(char *out, size_t cap, size_t *at, const char *s, size_t n)
{
    if (*at + n + 1 > cap)
        return -ENAMETOOLONG;
    memcpy(out + *at, s, n);
    *at += n;
    out[*at] = 0;
    return 0;
}

int nsubj_subject(const char *prefix, int band, const char *name, const char *host, char *out,
                  size_t cap)
{
    size_t at = 0;
    int r;
    if (!name || !out || cap == 0 || band < -1 || band >= NSUBJ_BANDS || nsubj_check_prefix(prefix))
        return -EINVAL;
    if (name_check(name) || name_dir_len(name) > 0 || name[0] == '/')
        return -EINVAL;
    char b[4] = {'p', (char)('0' + (band < 0 ? 0 : band)), 0};
    if (band < 0)
        b[0] = '*', b[1] = 0;
    if ((r = put(out, cap, &at, prefix, strlen(prefix))) || (r = put(out, cap, &at, ".", 1)) ||
        (r = put(out, cap, &at, b, strlen(b))) || (r = put(out, cap, &at, ".", 1)))
        return r;
    pid_t pid = name_pid(name);
    /* Pids the kernel can give (pid_max is at most 2^22), as the parser
     * reads them. */
    if (pid > (1 << 22))
        return -EINVAL;
    if (pid > 0) {
        char num[16];
        int n = snprintf(num, sizeof(num), "%d", (int)pid);
        if (nsubj_check_host(host))
            return -EINVAL;
        if ((r = put(out, cap, &at, "@", 1)) || (r = put(out, cap, &at, host, strlen(host))) ||
            (r = put(out, cap, &at, ".", 1)) || (r = put(out, cap, &at, num, (size_t)n)))
            return r;
        return (int)at;
    }
    for (const char *p = name; *p; p++) {
        if (*p == '.' && (p[1] == '.' || p[1] == 0))
            r = put(out, cap, &at, "%2E", 3);
        else
            r = put(out, cap, &at, p, 1);
        if (r)
            return r;
    }
    return (int)at;
}

int nsubj_parse(const char *prefix, const char *subject, size_t len, unsigned *band, char *name,
                size_t namecap, char *host, size_t hostcap)
{
    if (!prefix || !subject || !band || !name || namecap == 0 || !host || hostcap == 0)
        return -EINVAL;
    name[0] = host[0] = 0;
    size_t pl = strlen(prefix);
    /* PREFIX "." "pB" "." and at least one byte */
    if (len < pl + 5 || memcmp(subject, prefix, pl) != 0 || subject[pl] != '.' ||
        subject[pl + 1] != 'p' || subject[pl + 2] < '0' || subject[pl + 2] >= '0' + NSUBJ_BANDS ||
        subject[pl + 3] != '.')
        return -EINVAL;
    const char *s = subject + pl + 4;
    size_t n = len - (pl + 4);
    if (memchr(s, 0, n))
        return -EINVAL;
    if (s[0] == '@') {
        const char *dot = memchr(s, '.', n);
        if (!dot)
            return -EINVAL;
        size_t hl = (size_t)(dot - s) - 1, dl = n - (size_t)(dot - s) - 1;
        if (hl == 0 || hl > NSUBJ_HOST_MAX || hl + 1 > hostcap || dl == 0 || dl > 7)
            return -EINVAL;
        for (size_t i = 0; i < hl; i++)
            if (!token_char(s[1 + i]))
                return -EINVAL;
        long pid = 0;
        for (size_t i = 0; i < dl; i++) {
            char c = dot[1 + i];
            if (c < '0' || c > '9' || (i == 0 && c == '0'))
                return -EINVAL;
            pid = pid * 10 + (c - '0');
        }
        if (pid <= 0 || pid > (1L << 22) || dl + 2 > namecap)
            return -EINVAL;
        memcpy(host, s + 1, hl);
        host[hl] = 0;
        name[0] = '@';
        memcpy(name + 1, dot + 1, dl);
        name[dl + 1] = 0;
        *band = (unsigned)(subject[pl + 2] - '0');
        return 0;
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 3 > n || s[i + 1] != '2' || s[i + 2] != 'E')
                return -EINVAL;
            /* Only a dot that needed it is escaped: one at the end, or
             * before another dot (a separator or an escaped one). */
            if (!(i + 3 == n || s[i + 3] == '.' || s[i + 3] == '%'))
                return -EINVAL;
            c = '.';
            i += 2;
        } else if (c == '.') {
            /* A separator never starts or ends the name, nor stands
             * before another dot (that dot would have been escaped). */
            if (i == 0 || i + 1 == n || !token_char(s[i + 1]))
                return -EINVAL;
        } else if (!token_char(c)) {
            return -EINVAL;
        }
        if (at + 2 > namecap || at >= NAME_MAX_LEN)
            return -EINVAL;
        name[at++] = c;
    }
    name[at] = 0;
    if (name_check(name) || name[0] == '@' || name[0] == '/') {
        name[0] = 0;
        return -EINVAL;
    }
    *band = (unsigned)(subject[pl + 2] - '0');
    return 0;
}

int nsubj_stream_name(const char *prefix, const char *name, char *out, size_t cap)
{
    uint32_t h = 2166136261u; /* FNV-1a of "PREFIX/NAME" */
    for (const char *p = prefix; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ '/') * 16777619u;
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    size_t at = 0;
    int r = put(out, cap, &at, "MBX_", 4);
    for (const char *p = name; !r && *p; p++)
        r = put(out, cap, &at, *p == '.' || *p == '@' ? "_" : p, 1);
    char tail[16];
    int tn = snprintf(tail, sizeof(tail), "_%08x", h);
    if (!r)
        r = put(out, cap, &at, tail, (size_t)tn);
    return r ? r : (int)at;
}
