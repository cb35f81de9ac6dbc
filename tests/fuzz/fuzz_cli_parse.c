/* Fuzz target: the command line's value parsers (tools/parse.c).
 *
 * The input, cut at its first NUL, goes to every parser. Each result is
 * checked against a model written here from parse.h's contract: a string the
 * contract calls well formed gets exactly its value or -ERANGE, anything else
 * -EINVAL, and *out is left alone on failure. Accepted values are printed back
 * in canonical form and must parse to the same value.
 *
 * One allowance: a malformed string whose leading run of digits already
 * overflows may answer -ERANGE instead of -EINVAL (the parsers read the
 * digits before they look at what follows).
 */
#include "fuzz_target.h"

#include "mbx.h"
#include "parse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENTINEL 0x5a5a5a5a5a5a5a5aull

static void fail(const char *what, const char *s, long got, long want)
{
    fprintf(stderr, "fuzz_cli_parse: %s(\"%s\") returned %ld, model says %ld\n", what, s, got,
            want);
    abort();
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The leading decimal digits of s: how many, their value, and whether the
 * value overflows 64 bits. */
struct num {
    size_t n;
    unsigned __int128 v;
    int big;
};

static struct num leading(const char *s)
{
    struct num x = {0, 0, 0};
    for (; is_digit(s[x.n]); x.n++) {
        x.v = x.v * 10 + (unsigned)(s[x.n] - '0');
        if (x.v > UINT64_MAX) {
            x.big = 1;
            x.v = (unsigned __int128)UINT64_MAX + 1; /* stays above the limit */
        }
    }
    return x;
}

/* Compares a parser's answer with the model's: want is 0 (value expected in
 * *got == want_v), -ERANGE, or -EINVAL; loose allows -ERANGE for -EINVAL. */
static void expect(const char *what, const char *s, int r, int want, int loose, uint64_t got,
                   uint64_t want_v)
{
    if (r == want && (r != 0 || got == want_v) && (r == 0 || got == SENTINEL))
        return;
    if (r == -ERANGE && want == -EINVAL && loose && got == SENTINEL)
        return;
    fail(what, s, r == 0 ? (long)got : r, want == 0 ? (long)want_v : want);
}

static void fuzz_uint(const char *s, uint64_t min, uint64_t max)
{
    struct num x = leading(s);
    int want = x.n == 0 || s[x.n] ? -EINVAL : x.big || x.v < min || x.v > max ? -ERANGE : 0;
    uint64_t v = SENTINEL;
    int r = parse_uint(s, min, max, &v);
    expect("parse_uint", s, r, want, x.big, v, (uint64_t)x.v);
    if (r == 0) {
        char text[32];
        uint64_t again = SENTINEL;
        snprintf(text, sizeof(text), "%" PRIu64, v);
        if (parse_uint(text, min, max, &again) != 0 || again != v)
            fail("parse_uint round trip", text, (long)again, (long)v);
    }
}

/* "T", "<=T", "!T": the prefix names the selection, the rest is as
 * parse_uint over all of 64 bits; *how and *type stay alone on failure. */
static void fuzz_type_select(const char *s)
{
    int want_how = MBX_SEL_EQ;
    const char *t = s;
    if (strncmp(s, "<=", 2) == 0) {
        want_how = MBX_SEL_LE;
        t += 2;
    } else if (s[0] == '!') {
        want_how = MBX_SEL_NE;
        t++;
    }
    struct num x = leading(t);
    int want = x.n == 0 || t[x.n] ? -EINVAL : x.big ? -ERANGE : 0;
    uint64_t v = SENTINEL;
    int how = -1;
    int r = parse_type_select(s, &how, &v);
    expect("parse_type_select", s, r, want, x.big, v, (uint64_t)x.v);
    if (r == 0 ? how != want_how : how != -1)
        fail("parse_type_select how", s, how, r == 0 ? want_how : -1);
}

static void fuzz_size(const char *s)
{
    struct num x = leading(s);
    unsigned shift = 0;
    int ok = x.n > 0;
    if (ok && s[x.n]) {
        const char *p = strchr("KkMmGg", s[x.n]);
        ok = p && s[x.n + 1] == 0;
        shift = ok ? 10u * (unsigned)(1 + (p - "KkMmGg") / 2) : 0;
    }
    unsigned __int128 val = x.v << shift;
    int want = !ok ? -EINVAL : x.big || val > UINT64_MAX ? -ERANGE : 0;
    uint64_t v = SENTINEL;
    int r = parse_size(s, &v);
    expect("parse_size", s, r, want, x.big, v, (uint64_t)val);
    if (r == 0) {
        /* Printed with the largest suffix that divides it, it reads back. */
        static const char *suffix[] = {"", "K", "M", "G"};
        unsigned k = 0;
        while (k < 3 && v && v % (1ull << (10 * (k + 1))) == 0)
            k++;
        char text[32];
        uint64_t again = SENTINEL;
        snprintf(text, sizeof(text), "%" PRIu64 "%s", v >> (10 * k), suffix[k]);
        if (parse_size(text, &again) != 0 || again != v)
            fail("parse_size round trip", text, (long)again, (long)v);
    }
}

static void fuzz_duration(const char *s)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {{"ns", 1},         {"us", 1000},       {"ms", 1000000},
                 {"s", 1000000000}, {"m", 60000000000}, {"", 1000000000}};
    int want = -EINVAL;
    unsigned __int128 total = 0;
    struct num x = leading(s);
    if (strcmp(s, "forever") == 0) {
        want = 0;
        total = (uint64_t)MBX_FOREVER;
    } else if (x.n > 0) {
        const char *p = s + x.n, *frac = NULL;
        if (*p == '.' && is_digit(p[1])) {
            frac = ++p;
            while (is_digit(*p))
                p++;
        }
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && want == -EINVAL; i++) {
            if (strcmp(p, units[i].name) != 0)
                continue;
            /* Fractional digits count down to whole nanoseconds. */
            total = x.v * units[i].ns;
            uint64_t scale = units[i].ns / 10;
            for (const char *d = frac; d && is_digit(*d) && scale; d++, scale /= 10)
                total += (unsigned)(*d - '0') * scale;
            want = x.big || total > INT64_MAX ? -ERANGE : 0;
        }
    }
    int64_t v = (int64_t)SENTINEL;
    int r = parse_duration(s, &v);
    expect("parse_duration", s, r, want, x.big, (uint64_t)v, (uint64_t)total);
    if (r == 0 && v >= 0) {
        char text[32];
        int64_t again = (int64_t)SENTINEL;
        snprintf(text, sizeof(text), "%" PRId64 "ns", v);
        if (parse_duration(text, &again) != 0 || again != v)
            fail("parse_duration round trip", text, (long)again, (long)v);
    }
}

static void fuzz_priority(const char *s)
{
    struct num x = leading(s);
    int want = x.n == 0 || s[x.n] ? -EINVAL : x.big || x.v >= MBX_PRIO_MAX ? -ERANGE : 0;
    unsigned v = 0x5a5a5a5au;
    int r = parse_priority(s, &v);
    uint64_t got = v == 0x5a5a5a5au ? SENTINEL : v;
    expect("parse_priority", s, r, want, x.big, got, (uint64_t)x.v);
}

static void fuzz_policy(const char *s)
{
    static const char *names[] = {"any", "exclusive", "round-robin", "pair"};
    static const uint32_t values[] = {MBX_RECV_ANY, MBX_RECV_EXCLUSIVE, MBX_RECV_ROUND_ROBIN,
                                      MBX_RECV_PAIR};
    int want = -EINVAL;
    uint64_t want_v = 0;
    for (unsigned i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            want = 0;
            want_v = values[i];
        }
    uint32_t v = 0x5a5a5a5au;
    int r = parse_policy(s, &v);
    expect("parse_policy", s, r, want, 0, v == 0x5a5a5a5au ? SENTINEL : v, want_v);
}

static void fuzz_mode(const char *s)
{
    size_t n = strspn(s, "01234567");
    unsigned __int128 v = 0;
    int big = 0;
    for (size_t i = 0; i < n; i++) {
        v = v * 8 + (unsigned)(s[i] - '0');
        if (v > 07777) {
            big = 1;
            v = 010000;
        }
    }
    int want = n == 0 || s[n] ? -EINVAL : big ? -ERANGE : 0;
    uint32_t got = 0x5a5a5a5au;
    int r = parse_mode(s, &got);
    expect("parse_mode", s, r, want, big, got == 0x5a5a5a5au ? SENTINEL : got, (uint64_t)v);
    if (r == 0) {
        char text[16];
        uint32_t again = 0x5a5a5a5au;
        snprintf(text, sizeof(text), "%04o", got);
        if (parse_mode(text, &again) != 0 || again != got)
            fail("parse_mode round trip", text, (long)again, (long)got);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so a read past the terminator is caught. */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    fuzz_size(s);
    fuzz_duration(s);
    fuzz_priority(s);
    fuzz_policy(s);
    fuzz_mode(s);
    fuzz_type_select(s);
    /* Counts as the commands take them, and a range drawn from the input. */
    fuzz_uint(s, 0, UINT64_MAX);
    fuzz_uint(s, 1, 1u << 31);
    uint64_t ab[2] = {0, 0};
    for (size_t i = 0; i < size; i++)
        ab[i % 2] = ab[i % 2] * 131 + data[i];
    uint64_t a = ab[0], b = ab[1];
    fuzz_uint(s, a < b ? a : b, a < b ? b : a);
    free(s);
    return 0;
}
