/* JSON text output: quoted strings and message payloads. */
#ifndef MBX_TOOLS_JSON_H
#define MBX_TOOLS_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Nonzero when buf holds well-formed UTF-8 (no overlong forms, surrogates
 * or code points past U+10FFFF). */
int utf8_valid(const void *buf, size_t len);

/* The length of the well-formed UTF-8 sequence at `at` (before end), or 0
 * when there is none. */
size_t utf8_seq(const void *at, const void *end);

/* Writes len bytes of base64 (RFC 4648, padded, no line breaks). */
void base64_put(FILE *f, const void *buf, size_t len);

/* Writes s (valid UTF-8) as a quoted JSON string; C0 and C1 controls
 * (U+0080..U+009F too, which some terminals act on) as \uXXXX. */
void json_put_string(FILE *f, const char *s, size_t len);

/* Writes "payload":"..." with the bytes as a string when they are UTF-8,
 * else in base64 followed by ,"encoding":"base64". */
void json_put_payload(FILE *f, const void *buf, size_t len);

#endif
