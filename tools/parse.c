#include "parse.h"

#include <errno.h>
#include <string.h>

#include "mbx.h"

/* Reads the leading decimal digits of s into *out and returns how many there
 * were, or -ERANGE when the value does not fit in 64 bits. */
static int digits(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    int n = 0;

    for (; s[n] >= '0' && s[n] <= '9'; n++) {
        unsigned d = (unsigned)(s[n] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return n;
}

int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v;
    int n = digits(s, &v);

    if (n < 0)
        return n;
    if (n == 0 || s[n] != '\0')
        return -EINVAL;
    if (v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

int parse_type_select(const char *s, int *how, uint64_t *type)
{
    int h = MBX_SEL_EQ;

    if (strncmp(s, "<=", 2) == 0) {
        h = MBX_SEL_LE;
        s += 2;
    } else if (s[0] == '!') {
        h = MBX_SEL_NE;
        s++;
    }
    int err = parse_uint(s, 0, UINT64_MAX, type);
    if (!err)
        *how = h;
    return err;
}

int parse_size(const char *s, uint64_t *out)
{
    uint64_t v;
    unsigned shift = 0;
    int n = digits(s, &v);

    if (n < 0)
        return n;
    if (n == 0)
        return -EINVAL;
    switch (s[n]) {
    case '\0':
        break;
    case 'K':
    case 'k':
        shift = 10;
        break;
    case 'M':
    case 'm':
        shift = 20;
        break;
    case 'G':
    case 'g':
        shift = 30;
        break;
    default:
        return -EINVAL;
    }
    if (shift && s[n + 1] != '\0')
        return -EINVAL;
    if (v > (UINT64_MAX >> shift))
        return -ERANGE;
    *out = v << shift;
    return 0;
}

static const struct {
    const char *name;
    uint64_t ns;
} units[] = {
    {"ns", 1},         {"us", 1000},       {"ms", 1000000},
    {"s", 1000000000}, {"m", 60000000000}, {"", 1000000000},
};

int parse_duration(const char *s, int64_t *out_ns)
{
    uint64_t whole, total, frac = 0, scale;
    const char *p;
    size_t i;
    int n;

    if (strcmp(s, "forever") == 0) {
        *out_ns = MBX_FOREVER;
        return 0;
    }
    n = digits(s, &whole);
    if (n < 0)
        return n;
    if (n == 0)
        return -EINVAL;
    p = s + n;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -EINVAL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strcmp(p, units[i].name) == 0)
            break;
    if (i == sizeof(units) / sizeof(units[0]))
        return -EINVAL;
    if (whole > (uint64_t)INT64_MAX / units[i].ns)
        return -ERANGE;
    total = whole * units[i].ns;
    /* Each fractional digit is worth a tenth of the one before; digits
     * finer than a nanosecond are dropped. */
    if (s[n] == '.')
        for (p = s + n + 1, scale = units[i].ns / 10; scale && *p >= '0' && *p <= '9';
             p++, scale /= 10)
            frac += (uint64_t)(*p - '0') * scale;
    if (frac > (uint64_t)INT64_MAX - total)
        return -ERANGE;
    *out_ns = (int64_t)(total + frac);
    return 0;
}

int parse_priority(const char *s, unsigned *out)
{
    uint64_t v;
    int err = parse_uint(s, 0, MBX_PRIO_MAX - 1, &v);

    if (err)
        return err;
    *out = (unsigned)v;
    return 0;
}

int parse_policy(const char *s, uint32_t *out)
{
    if (strcmp(s, "any") == 0)
        *out = MBX_RECV_ANY;
    else if (strcmp(s, "exclusive") == 0)
        *out = MBX_RECV_EXCLUSIVE;
    else if (strcmp(s, "round-robin") == 0)
        *out = MBX_RECV_ROUND_ROBIN;
    else if (strcmp(s, "pair") == 0)
        *out = MBX_RECV_PAIR;
    else
        return -EINVAL;
    return 0;
}

int parse_mode(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    const char *p;

    if (*s == '\0')
        return -EINVAL;
    for (p = s; *p; p++) {
        if (*p < '0' || *p > '7')
            return -EINVAL;
        v = v * 8 + (uint32_t)(*p - '0');
        if (v > 07777)
            return -ERANGE;
    }
    *out = v;
    return 0;
}
