/* The mapping between mailbox names and NATS subjects (README, "Fleets:
 * NATS"). Pure string work, no NATS client: the parser reads subjects that
 * came from the network and is fuzzed (tests/fuzz/fuzz_subject.c).
 *
 *   PREFIX.pB.NAME        a mailbox NAME, priority band B (0..3)
 *   PREFIX.pB.@HOST.PID   the process mailbox "@PID" of host HOST
 *
 * PREFIX is one or more tokens of [A-Za-z0-9_-] ("mbx" by default). A
 * name's characters ([A-Za-z0-9._-]) are all legal in a subject, and its
 * dots separate tokens there too (so "results.*" matches every
 * "results.X"), except a dot that would leave an empty token (one followed
 * by another dot, or the name's last character): that one is written
 * "%2E". Names never hold '%', so the mapping is reversible. HOST is a
 * token of [A-Za-z0-9_-] naming a machine (its /etc/machine-id by default).
 */
#ifndef MBX_NATS_SUBJECT_H
#define MBX_NATS_SUBJECT_H

#include <stddef.h>

#define NSUBJ_BANDS      4    /* priority bands p0 .. p3 */
#define NSUBJ_MAX        1024 /* room for any subject this mapping makes */
#define NSUBJ_PREFIX_MAX 64
#define NSUBJ_HOST_MAX   64

/* The band of priority prio: 0 for 0, 1 for 1..15, 2 for 16..255, 3 for
 * 256 and above. */
unsigned nsubj_band(unsigned prio);

/* The lowest priority of band b (0, 1, 16, 256): what a message of that
 * band that does not say its priority is delivered with. */
unsigned nsubj_band_base(unsigned band);

/* Returns 0 when prefix is one or more dot-separated tokens of
 * [A-Za-z0-9_-], at most NSUBJ_PREFIX_MAX bytes; else -EINVAL. */
int nsubj_check_prefix(const char *prefix);

/* Returns 0 when host is one token of [A-Za-z0-9_-], 1..NSUBJ_HOST_MAX
 * bytes; else -EINVAL. */
int nsubj_check_host(const char *host);

/* Writes the subject of mailbox `name` ("NAME", or "@PID" of machine
 * `host`) in band `band` (0..3), or with band -1 the subject that matches
 * every band ("PREFIX.*.NAME"), into out (cap bytes). Returns its length,
 * -EINVAL (a name of another form, such as "/DIR/NAME", a bad prefix, host
 * or band) or -ENAMETOOLONG (cap too small). */
int nsubj_subject(const char *prefix, int band, const char *name, const char *host, char *out,
                  size_t cap);

/* Reads subject (len bytes, not NUL-terminated: it came from the network)
 * made by nsubj_subject with `prefix`. Stores its band, the mailbox name
 * (NUL-terminated, "@PID" for a process mailbox) in name (namecap bytes)
 * and for a process mailbox its machine in host (hostcap bytes; "" for a
 * plain name). Returns 0, or -EINVAL when it is not such a subject (other
 * prefix, a wildcard, a bad band, escape or name) or does not fit. */
int nsubj_parse(const char *prefix, const char *subject, size_t len, unsigned *band, char *name,
                size_t namecap, char *host, size_t hostcap);

/* Writes a JetStream stream name for mailbox `name` ("MBX_" and the name
 * with '.' as '_', then '_' and 8 hex digits of a hash of the exact name,
 * so that names differing only there do not meet). Returns its length or
 * -ENAMETOOLONG. */
int nsubj_stream_name(const char *prefix, const char *name, char *out, size_t cap);

#endif
