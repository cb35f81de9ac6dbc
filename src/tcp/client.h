/* The client side of tcp:// mailboxes: a handle is a session with a
 * gateway (gateway.c) over one TCP connection, made again after a cut.
 *
 * Sends are pipelined while the far mailbox has room (credit: the room the
 * gateway last reported, at most `window` unacknowledged and
 * WIRE_WINDOW_BYTES of payload in flight): such a send
 * returns 0 once the message is written to the link and kept until the
 * gateway acknowledges it, and is sent again after a reconnect (the
 * gateway drops what it already delivered: sequence numbers). Without
 * credit, or on a rendezvous mailbox, a send waits for the gateway's answer
 * and returns the far mailbox's own result. Receives, calls and stat are
 * requests answered by the gateway; a received message is held by the
 * gateway until the client says it arrived. */
#ifndef MBX_TCP_CLIENT_H
#define MBX_TCP_CLIENT_H

#include "core/handle.h"
#include "tcp/auth.h"
#include "tcp/sock.h"

#include <pthread.h>

/* Heartbeat period while a call waits on the link: silence for
 * TCP_DEAD_TICKS periods means the link is dead. */
#define TCP_TICK_NS     250000000ll
#define TCP_DEAD_TICKS  4
#define TCP_BACKOFF_MIN 10000000ll   /* first reconnect delay */
#define TCP_BACKOFF_MAX 1000000000ll /* longest */

/* Parses "tcp://HOST:PORT/NAME". Returns 0 or -EINVAL (-ENAMETOOLONG for
 * a NAME over the wire's limit). */
int tcp_parse(const char *name, char *host, size_t hostcap, char *port, size_t portcap, char *box,
              size_t boxcap);

#endif
