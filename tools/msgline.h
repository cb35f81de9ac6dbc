/* One message as one line of JSON, as `mbx dump` writes it and `mbx load`
 * reads it: {"priority":P,"type":T,"payload":"..."} with
 * ,"encoding":"base64" when the payload is not UTF-8. The lines of
 * `mbx recv --json` are read as well (their other fields are skipped).
 * The input is untrusted: the parser is strict and fuzzed. */
#ifndef MBX_TOOLS_MSGLINE_H
#define MBX_TOOLS_MSGLINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct msgline {
    unsigned prio;          /* 0 .. MBX_PRIO_MAX-1; 0 when absent */
    uint64_t type;          /* 0 when absent */
    unsigned char *payload; /* malloc'd (msgline_free), len bytes */
    size_t len;
};

/* Parses the n bytes at s (one line, without its newline) into *out.
 * Returns 0; -EINVAL with *why saying what is wrong (out holds nothing to
 * free); or -ENOMEM. */
int msgline_parse(const char *s, size_t n, struct msgline *out, const char **why);

/* Frees what msgline_parse allocated. */
void msgline_free(struct msgline *m);

/* Writes one message as one line, newline included. */
void msgline_put(FILE *f, unsigned prio, uint64_t type, const void *buf, size_t len);

#endif
