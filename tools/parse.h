/* Parsers for the command line's values: sizes, durations, priorities,
 * receive policies, modes and plain counts. They depend on nothing but the
 * C library and the constants of mbx.h, so a fuzz target can drive them.
 *
 * Each returns 0 and stores the value, -EINVAL when the text is malformed,
 * or -ERANGE when it is well formed but out of range. *out is left alone on
 * failure.
 */
#ifndef MBX_TOOLS_PARSE_H
#define MBX_TOOLS_PARSE_H

#include <stdint.h>

/* Decimal bytes with an optional K, M or G suffix (powers of 1024, either
 * case): "512", "64K" = 65536, "1M". */
int parse_size(const char *s, uint64_t *out);

/* A non-negative decimal number, optionally with a fraction, and a unit of
 * ns, us, ms, s or m; a bare number means seconds: "500ms", "2s", "1.5m".
 * "forever" gives MBX_FOREVER. Result in nanoseconds; 0 means no wait. */
int parse_duration(const char *s, int64_t *out_ns);

/* 0 .. MBX_PRIO_MAX-1. */
int parse_priority(const char *s, unsigned *out);

/* "any", "exclusive" or "round-robin". */
int parse_policy(const char *s, uint32_t *out);

/* Octal permission bits, at most 07777: "0660", "600". */
int parse_mode(const char *s, uint32_t *out);

/* A type selection for mbx_recv_select: "T" (exactly T: MBX_SEL_EQ),
 * "<=T" (the lowest type up to T: MBX_SEL_LE) or "!T" (any type but T:
 * MBX_SEL_NE), T a decimal 64-bit number. */
int parse_type_select(const char *s, int *how, uint64_t *type);

/* A plain decimal integer in min .. max. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
