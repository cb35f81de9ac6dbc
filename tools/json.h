/* JSON text output: quoted strings and message payloads. */
#ifndef MBX_TOOLS_JSON_H
#define MBX_TOOLS_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Nonzero when buf holds well-formed UTF-8 (no overlong forms, surrogates
 * or code points past U+10FFFF). */
int utf8_valid(const void *buf, size_t len);

/* The length of the well-formed UTF-8 sequence at `at` (before end), or 0
 * when there is none. */
size_t utf8_seq(const void *at, const void *end);

/* The code point of the well-formed n-byte UTF-8 sequence at `at` (n as
 * utf8_seq returned it; 0 for n outside 1..4). */
uint32_t utf8_decode(const void *at, size_t n);

/* Nonzero for a code point a terminal shows as nothing or uses to reorder
 * the text around it (bidirectional controls, zero-width and other
 * default-ignorable characters): escaped wherever text is made safe to
 * show. */
int unicode_hidden(uint32_t cp);

/* Writes len bytes of base64 (RFC 4648, padded, no line breaks). */
void base64_put(FILE *f, const void *buf, size_t len);

/* Writes s (valid UTF-8) as a quoted JSON string; C0 and C1 controls
 * (U+0080..U+009F too, which some terminals act on) and hidden characters
 * (unicode_hidden) as \uXXXX, past U+FFFF as a surrogate pair. */
void json_put_string(FILE *f, const char *s, size_t len);

/* Writes s, bytes of unknown origin (a file another process wrote), as
 * json_put_string does, each byte that begins no well-formed UTF-8
 * sequence as U+FFFD: the JSON stays valid whatever s holds. */
void json_put_text(FILE *f, const char *s, size_t len);

/* Writes "payload":"..." with the bytes as a string when they are UTF-8,
 * else in base64 followed by ,"encoding":"base64". */
void json_put_payload(FILE *f, const void *buf, size_t len);

#endif
